// `glimpse preprocess`, run as a user runs it: the built executable with a file, a model folder,
// options and bad input. The .npy it writes must hold the library's tensor bit for bit.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <cstring>

#include "glimpse/image.h"
#include "glimpse/image_source.h"
#include "image/image_test_util.h"
#include "support/test_support.h"

namespace glimpse {
namespace {

using image_testing::preprocess_data_dir;

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string quoted(const std::string& text) {
  std::string result = "'";
  for (char c : text) result += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return result + "'";
}

CommandResult run_glimpse(const std::vector<std::string>& args, const testing::TempDir& folder) {
  std::string command = quoted(GLIMPSE_CLI_PATH);
  for (const std::string& arg : args) {
    command += ' ';
    command += quoted(arg);
  }
  const auto out_path = folder.path() / "stdout.txt";
  const auto err_path = folder.path() / "stderr.txt";
  command += " >";
  command += quoted(out_path.string());
  command += " 2>";
  command += quoted(err_path.string());
  const int status = std::system(command.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  const auto out = testing::read_bytes(out_path);
  const auto err = testing::read_bytes(err_path);
  result.out.assign(out.begin(), out.end());
  result.err.assign(err.begin(), err.end());
  return result;
}

struct Npy {
  std::string header;
  std::vector<float> values;
};

Npy read_npy(const std::filesystem::path& path) {
  const std::vector<std::uint8_t> bytes = testing::read_bytes(path);
  Npy npy;
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY\x01\x00", 8) != 0) {
    ADD_FAILURE() << path << " is not a NumPy 1.0 file";
    return npy;
  }
  const std::size_t header_size = bytes[8] | (bytes[9] << 8);
  npy.header.assign(bytes.begin() + 10, bytes.begin() + 10 + static_cast<std::ptrdiff_t>(header_size));
  EXPECT_EQ((10 + header_size) % 64, 0u) << "data should start 64-byte aligned";
  const std::size_t n = (bytes.size() - 10 - header_size) / sizeof(float);
  npy.values.resize(n);
  std::memcpy(npy.values.data(), bytes.data() + 10 + header_size, n * sizeof(float));
  return npy;
}

std::string image_path(const std::string& name) { return (preprocess_data_dir() / "images" / name).string(); }

TEST(ImageCli, WritesLibraryTensor) {
  testing::TempDir folder;
  const auto npy_path = folder.path() / "out.npy";
  const auto u8_path = folder.path() / "out.u8";
  const CommandResult run = run_glimpse({"preprocess", image_path("jpeg_exif_orient6_400x300.jpg"), "-o",
                                         npy_path.string(), "--u8-output", u8_path.string()},
                                        folder);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("[3, 336, 336]"), std::string::npos) << run.out;

  const Npy npy = read_npy(npy_path);
  EXPECT_NE(npy.header.find("'descr': '<f4'"), std::string::npos) << npy.header;
  EXPECT_NE(npy.header.find("'shape': (3, 336, 336, )"), std::string::npos) << npy.header;
  EXPECT_EQ(npy.header.back(), '\n');

  auto image = load_image(ImageSource::from_path(image_path("jpeg_exif_orient6_400x300.jpg")));
  ASSERT_TRUE(image.ok());
  auto expected = preprocess(*image, PreprocessConfig::llava15());
  ASSERT_TRUE(expected.ok());
  ASSERT_EQ(npy.values.size(), expected->pixel_values.size());
  EXPECT_EQ(std::memcmp(npy.values.data(), expected->pixel_values.data(), npy.values.size() * sizeof(float)), 0);
  EXPECT_EQ(testing::read_bytes(u8_path), expected->image.pixels);
}

TEST(ImageCli, OptionsSelectModeSizeAndOrientation) {
  testing::TempDir folder;
  const auto npy_path = folder.path() / "out.npy";
  const auto u8_path = folder.path() / "out.u8";
  const CommandResult run =
      run_glimpse({"preprocess", image_path("jpeg_exif_orient6_400x300.jpg"), "--mode", "pad", "--size", "64",
                   "--no-exif-orientation", "-o", npy_path.string(), "--u8-output", u8_path.string()},
                  folder);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(read_npy(npy_path).header.find("'shape': (3, 64, 64, )"), std::string::npos);

  ImageLoadOptions options;
  options.apply_exif_orientation = false;
  auto image = load_image(ImageSource::from_path(image_path("jpeg_exif_orient6_400x300.jpg")), options);
  ASSERT_TRUE(image.ok());
  PreprocessConfig config = PreprocessConfig::llava15();
  config.mode = PreprocessMode::kPad;
  config.set_square_size(64);
  auto expected = preprocess(*image, config);
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(testing::read_bytes(u8_path), expected->image.pixels);
}

TEST(ImageCli, ModelFolderSuppliesTheConfig) {
  testing::TempDir folder;
  const auto npy_path = folder.path() / "out.npy";
  const auto u8_path = folder.path() / "out.u8";
  const auto model = testing::test_data_dir() / "tiny-llava" / "model-f16";
  const CommandResult run =
      run_glimpse({"preprocess", (testing::test_data_dir() / "tiny-llava" / "images" / "png_rgb_7x500.png").string(),
                   "-m", model.string(), "-o", npy_path.string(), "--u8-output", u8_path.string()},
                  folder);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto expected = testing::read_bytes(testing::test_data_dir() / "tiny-llava" / "pixel_inputs" /
                                            "png_rgb_7x500.crop.u8");
  EXPECT_EQ(testing::read_bytes(u8_path), expected);
}

TEST(ImageCli, BadInputExitsWithCode3) {
  testing::TempDir folder;
  const std::string out = (folder.path() / "out.npy").string();
  const auto garbage = folder.path() / "notes.png";
  testing::write_text(garbage, "these are notes, not pixels");

  struct Case {
    std::vector<std::string> args;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {{"preprocess", "/nonexistent/cat.jpg", "-o", out}, "not found"},
      {{"preprocess", garbage.string(), "-o", out}, "text starting 'these are notes"},
      {{"preprocess", image_path("png_rgb_336x336.png"), "-m", folder.path().string(), "-o", out},
       "preprocessor_config.json"},
      {{"preprocess", image_path("png_rgb_336x336.png"), "--max-pixels", "1000", "-o", out}, "max_pixels"},
      {{"preprocess", "data:image/png;base64,@@@@", "-o", out}, "invalid base64 character '@'"},
  };
  for (const Case& c : cases) {
    const CommandResult run = run_glimpse(c.args, folder);
    EXPECT_EQ(run.exit_code, 3) << c.args[1] << ": " << run.err;
    EXPECT_NE(run.err.find("glimpse: "), std::string::npos) << run.err;
    EXPECT_NE(run.err.find(c.fragment), std::string::npos) << "stderr '" << run.err << "' lacks '" << c.fragment << "'";
    EXPECT_TRUE(run.out.empty()) << run.out;
  }
}

TEST(ImageCli, UsageErrorsExitWithCode2) {
  testing::TempDir folder;
  const std::string out = (folder.path() / "out.npy").string();
  EXPECT_EQ(run_glimpse({"preprocess", image_path("png_rgb_1x1.png"), "--mode", "stretch", "-o", out}, folder).exit_code,
            2);
  EXPECT_EQ(run_glimpse({"preprocess", image_path("png_rgb_1x1.png")}, folder).exit_code, 2);  // no -o
}

}  // namespace
}  // namespace glimpse
