// Exactness against Pillow on the preprocessing reference (tests/data/preprocess: 23 images of
// every supported format, copied from the shared fixtures with their manifest) and on the
// tiny-llava pixel inputs. Metric: byte equality of the decoded RGB pixels, of the uint8 image
// after resize and crop or pad, and of the float32 tensor; tolerance: none (0 differing values).
//
// The manifest stores SHA-256 digests of every expected buffer, so these tests need only the
// copied images. The Shared* tests also compare the full expected files of ../shared/fixtures
// value by value, which names the first differing pixel when a digest test fails.
#include <gtest/gtest.h>

#include <cctype>
#include <optional>

#include "glimpse/image.h"
#include "glimpse/image_source.h"
#include "image/image_test_util.h"
#include "support/test_support.h"

namespace glimpse {
namespace {

using image_testing::decode_file;
using image_testing::describe_differences;
using image_testing::preprocess_data_dir;
using image_testing::sha256_hex;

const nlohmann::json& manifest() {
  static const nlohmann::json json = testing::read_json(preprocess_data_dir() / "manifest.json");
  return json;
}

std::string stem_of(const nlohmann::json& entry) {
  return std::filesystem::path(entry["file"].get<std::string>()).stem().string();
}

ImageLoadOptions stored_orientation() {
  ImageLoadOptions options;
  options.apply_exif_orientation = false;
  return options;
}

PreprocessConfig config_for(const std::string& mode) {
  PreprocessConfig config = PreprocessConfig::llava15();
  config.mode = mode == "pad" ? PreprocessMode::kPad : PreprocessMode::kCrop;
  return config;
}

TEST(PreprocessFixture, ManifestListsEveryImage) {
  ASSERT_EQ(manifest()["images"].size(), 23u);
  for (const auto& entry : manifest()["images"]) {
    EXPECT_TRUE(std::filesystem::exists(preprocess_data_dir() / entry["file"].get<std::string>())) << entry["file"];
  }
}

TEST(PreprocessFixture, DecodedPixelsMatchPillow) {
  for (const auto& entry : manifest()["images"]) {
    const std::string stem = stem_of(entry);
    const DecodedImage decoded = decode_file(preprocess_data_dir() / entry["file"].get<std::string>(),
                                             stored_orientation());
    const auto shape = entry["decoded_shape"].get<std::vector<std::int64_t>>();
    EXPECT_EQ(decoded.rgb.height, shape[0]) << stem;
    EXPECT_EQ(decoded.rgb.width, shape[1]) << stem;
    EXPECT_EQ(decoded.pillow_mode, entry["mode"].get<std::string>()) << stem;
    // Pillow spells WebP "WEBP".
    std::string format(image_format_name(decoded.format));
    for (char& c : format) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(format, entry["format"].get<std::string>()) << stem;
    EXPECT_EQ(sha256_hex(decoded.rgb.pixels), entry["details"]["decoded_rgb_sha256"].get<std::string>()) << stem;
    const int orientation = entry["details"].value("exif_orientation", 0);
    EXPECT_EQ(decoded.exif_orientation, orientation) << stem;
  }
}

TEST(PreprocessFixture, CropAndPadMatchPillow) {
  int n_checked = 0;
  for (const auto& entry : manifest()["images"]) {
    const std::string stem = stem_of(entry);
    auto image = load_image(ImageSource::from_path((preprocess_data_dir() / entry["file"].get<std::string>()).string()),
                            stored_orientation());
    ASSERT_TRUE(image.ok()) << image.error().to_string();
    for (const std::string mode : {"crop", "pad"}) {
      auto result = preprocess(*image, config_for(mode));
      ASSERT_TRUE(result.ok()) << stem << " " << mode << ": " << result.error().to_string();
      const nlohmann::json& expected = entry["outputs"][mode];
      EXPECT_EQ(result->image.width, 336) << stem << " " << mode;
      EXPECT_EQ(result->image.height, 336) << stem << " " << mode;
      EXPECT_EQ(sha256_hex(result->image.pixels), expected["cropped_u8_sha256"].get<std::string>())
          << stem << " " << mode << ": uint8 image differs from Pillow's";
      EXPECT_EQ(sha256_hex(result->pixel_values), expected["sha256"].get<std::string>())
          << stem << " " << mode << ": float32 tensor differs";
      ASSERT_EQ(result->pixel_values.size(), 3u * 336 * 336);
      const auto first8 = expected["first8"].get<std::vector<double>>();
      for (std::size_t i = 0; i < first8.size(); ++i) {
        EXPECT_EQ(result->pixel_values[i], static_cast<float>(first8[i])) << stem << " " << mode << " value " << i;
      }
      ++n_checked;
    }
  }
  EXPECT_EQ(n_checked, 46);
}

TEST(PreprocessFixture, ExifTransposedCropMatchesPillow) {
  // load_image applies the orientation by default, as transformers' load_image does.
  const auto path = preprocess_data_dir() / "images" / "jpeg_exif_orient6_400x300.jpg";
  auto image = load_image(ImageSource::from_path(path.string()));
  ASSERT_TRUE(image.ok()) << image.error().to_string();
  EXPECT_EQ(image->width, 300);
  EXPECT_EQ(image->height, 400);
  auto result = preprocess(*image, PreprocessConfig::llava15());
  ASSERT_TRUE(result.ok()) << result.error().to_string();
  const nlohmann::json* expected = nullptr;
  for (const auto& entry : manifest()["images"]) {
    if (stem_of(entry) == "jpeg_exif_orient6_400x300") expected = &entry["outputs"]["crop_exif_transposed"];
  }
  ASSERT_NE(expected, nullptr);
  EXPECT_EQ(sha256_hex(result->image.pixels), (*expected)["cropped_u8_sha256"].get<std::string>());
  EXPECT_EQ(sha256_hex(result->pixel_values), (*expected)["sha256"].get<std::string>());
}

// The full expected files of the shared fixture, compared value by value.
class SharedPreprocessFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string message = testing::missing_fixture_message(shared_dir());
    if (!message.empty()) FAIL() << message;
  }
  static std::filesystem::path shared_dir() { return testing::shared_fixtures_dir() / "preprocess"; }
};

TEST_F(SharedPreprocessFixture, DecodedFilesMatchExactly) {
  int n_compared = 0;
  for (const auto& entry : manifest()["images"]) {
    if (!entry["paths"].contains("decoded_u8")) continue;  // the two large JPEGs store digests only
    const DecodedImage decoded = decode_file(preprocess_data_dir() / entry["file"].get<std::string>(),
                                             stored_orientation());
    const auto expected = testing::read_bytes(shared_dir() / entry["paths"]["decoded_u8"].get<std::string>());
    EXPECT_EQ(describe_differences(decoded.rgb.pixels, expected, decoded.rgb.width), "") << stem_of(entry);
    ++n_compared;
  }
  EXPECT_EQ(n_compared, 21);
}

TEST_F(SharedPreprocessFixture, OutputFilesMatchExactly) {
  int n_compared = 0;
  for (const auto& entry : manifest()["images"]) {
    const std::string stem = stem_of(entry);
    auto image = load_image(ImageSource::from_path((preprocess_data_dir() / entry["file"].get<std::string>()).string()),
                            stored_orientation());
    ASSERT_TRUE(image.ok()) << image.error().to_string();
    for (const std::string mode : {"crop", "pad"}) {
      auto result = preprocess(*image, config_for(mode));
      ASSERT_TRUE(result.ok()) << result.error().to_string();
      const auto expected = testing::read_bytes(shared_dir() / entry["paths"][mode].get<std::string>());
      EXPECT_EQ(describe_differences(result->image.pixels, expected, 336), "") << stem << " " << mode;
      ++n_compared;
    }
  }
  EXPECT_EQ(n_compared, 46);
}

// tiny-llava's pixel inputs: the images of its end-to-end cases, preprocessed from their files.
TEST(TinyLlavaPixels, PreprocessedImagesMatchPixelInputs) {
  const auto folder = testing::test_data_dir() / "tiny-llava";
  const nlohmann::json reference = testing::read_json(folder / "reference.json");
  int n_compared = 0;
  for (const auto& [key, input] : reference["pixel_inputs"].items()) {
    auto image = load_image(ImageSource::from_path((folder / "images" / input["image"].get<std::string>()).string()));
    ASSERT_TRUE(image.ok()) << image.error().to_string();
    const auto input_hw = input["input_hw"].get<std::vector<std::int64_t>>();
    PreprocessConfig config = config_for(input["mode"].get<std::string>());
    if (config.mode == PreprocessMode::kCrop) {
      EXPECT_EQ(image->height, input_hw[0]) << key;
      EXPECT_EQ(image->width, input_hw[1]) << key;
    }
    auto result = preprocess(*image, config);
    ASSERT_TRUE(result.ok()) << key << ": " << result.error().to_string();
    const auto expected = testing::read_bytes(folder / input["u8_file"].get<std::string>());
    EXPECT_EQ(describe_differences(result->image.pixels, expected, 336), "") << key;
    EXPECT_EQ(sha256_hex(result->pixel_values), input["pixel_values_f32_sha256"].get<std::string>()) << key;
    ++n_compared;
  }
  EXPECT_EQ(n_compared, 7);
}

TEST(TinyLlavaPixels, ModelFolderConfigMatches) {
  const auto folder = testing::test_data_dir() / "tiny-llava";
  auto config = PreprocessConfig::from_model_folder((folder / "model-f16").string());
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  auto image = load_image(ImageSource::from_path((folder / "images" / "jpeg_1920x1080.jpg").string()));
  ASSERT_TRUE(image.ok()) << image.error().to_string();
  auto result = preprocess(*image, *config);
  ASSERT_TRUE(result.ok()) << result.error().to_string();
  const auto expected = testing::read_bytes(folder / "pixel_inputs" / "jpeg_1920x1080.crop.u8");
  EXPECT_EQ(describe_differences(result->image.pixels, expected, 336), "");
}

}  // namespace
}  // namespace glimpse
