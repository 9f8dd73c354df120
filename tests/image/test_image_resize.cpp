// Pillow-exact resizing for every filter glimpse implements, center crop and pad, preprocessing
// with configurations other than LLaVA-1.5's, and preprocessor_config.json parsing. The expected
// images and tensors come from Pillow 9.4 and numpy (tests/data/preprocess/make_extra_cases.py).
// Metric: byte equality of uint8 images and of float32 tensors; tolerance: none.
#include <gtest/gtest.h>

#include <cstring>

#include "glimpse/image.h"
#include "image/image_test_util.h"
#include "support/test_support.h"

namespace glimpse {
namespace {

using image_testing::describe_differences;
using image_testing::preprocess_data_dir;

std::filesystem::path extra_dir() { return preprocess_data_dir() / "extra"; }

const nlohmann::json& extra_manifest() {
  static const nlohmann::json json = testing::read_json(extra_dir() / "extra.json");
  return json;
}

RgbImage read_rgb(const std::string& file, std::int64_t width, std::int64_t height) {
  RgbImage image;
  image.width = width;
  image.height = height;
  image.pixels = testing::read_bytes(extra_dir() / file);
  return image;
}

TEST(ImageResize, EveryFilterMatchesPillow) {
  int n_cases = 0;
  for (const auto& entry : extra_manifest()["resample"]) {
    const RgbImage source = read_rgb(entry["source"].get<std::string>(), entry["source_width"].get<std::int64_t>(),
                                     entry["source_height"].get<std::int64_t>());
    const auto filter = static_cast<ResampleFilter>(entry["resample"].get<int>());
    const std::int64_t width = entry["width"].get<std::int64_t>();
    const std::int64_t height = entry["height"].get<std::int64_t>();
    auto resized = resize_like_pillow(source, width, height, filter);
    ASSERT_TRUE(resized.ok()) << resized.error().to_string();
    EXPECT_EQ(resized->width, width);
    EXPECT_EQ(resized->height, height);
    const auto expected = testing::read_bytes(extra_dir() / entry["expected"].get<std::string>());
    EXPECT_EQ(describe_differences(resized->pixels, expected, width), "")
        << entry["filter"] << " " << width << "x" << height;
    ++n_cases;
  }
  EXPECT_EQ(n_cases, 35);
}

TEST(ImageResize, SameSizeIsACopy) {
  const RgbImage image = image_testing::noise_image(5, 4, 2);
  auto resized = resize_like_pillow(image, 5, 4, ResampleFilter::kLanczos);
  ASSERT_TRUE(resized.ok());
  EXPECT_EQ(resized->pixels, image.pixels);
}

TEST(ImageResize, ConstantImageStaysConstant) {
  // Normalized weights sum to one in fixed point up to rounding, so a flat image must stay flat
  // for up- and downscaling by any factor.
  const RgbImage flat = RgbImage::filled(37, 23, {200, 17, 255});
  for (const auto& [width, height] : std::vector<std::pair<int, int>>{{1, 1}, {300, 7}, {5, 500}, {36, 24}}) {
    auto resized = resize_like_pillow(flat, width, height, ResampleFilter::kBicubic);
    ASSERT_TRUE(resized.ok());
    const RgbImage expected = RgbImage::filled(width, height, {200, 17, 255});
    EXPECT_EQ(describe_differences(resized->pixels, expected.pixels, width), "") << width << "x" << height;
  }
}

TEST(ImageResize, NearestAndBadSizesAreRejected) {
  const RgbImage image = image_testing::noise_image(4, 4, 3);
  auto nearest = resize_like_pillow(image, 2, 2, ResampleFilter::kNearest);
  ASSERT_FALSE(nearest.ok());
  EXPECT_EQ(nearest.error().code, ErrorCode::kUnsupported);
  EXPECT_FALSE(resize_like_pillow(image, 0, 2, ResampleFilter::kBicubic).ok());
  RgbImage broken = image;
  broken.pixels.pop_back();
  auto invalid = resize_like_pillow(broken, 2, 2, ResampleFilter::kBicubic);
  ASSERT_FALSE(invalid.ok());
  EXPECT_NE(invalid.error().message.find("bytes of RGB"), std::string::npos) << invalid.error().message;
}

TEST(ImageCrop, OddRemainderCutBottomRight) {
  // 5x4 image, crop 2x1: left = (5 - 2) // 2 = 1, top = (4 - 1) // 2 = 1.
  const RgbImage image = image_testing::noise_image(5, 4, 4);
  auto crop = center_crop(image, 2, 1);
  ASSERT_TRUE(crop.ok());
  const std::vector<std::uint8_t> expected(image.row(1) + 3, image.row(1) + 9);
  EXPECT_EQ(crop->pixels, expected);
}

TEST(ImageCrop, LargerCropPadsWithZeros) {
  // 1x1 image into a 4x3 crop: transformers pads with ceil offsets, top 1 and left 2, then crops.
  const RgbImage dot = RgbImage::filled(1, 1, {9, 8, 7});
  auto crop = center_crop(dot, 4, 3);
  ASSERT_TRUE(crop.ok());
  RgbImage expected = RgbImage::filled(4, 3, {0, 0, 0});
  std::memcpy(expected.row(1) + 2 * 3, dot.pixels.data(), 3);
  EXPECT_EQ(crop->pixels, expected.pixels);
}

TEST(ImagePad, ExpandCentersWithFloorOffsets) {
  const RgbImage wide = RgbImage::filled(4, 1, {1, 2, 3});
  const RgbImage square = expand_to_square(wide, {122, 116, 104});
  ASSERT_EQ(square.width, 4);
  ASSERT_EQ(square.height, 4);
  // (4 - 1) // 2 = 1 background row above, 2 below.
  for (std::int64_t y = 0; y < 4; ++y) {
    const std::uint8_t expected = y == 1 ? 1 : 122;
    EXPECT_EQ(square.row(y)[0], expected) << "row " << y;
  }
}

TEST(ImagePad, PadModeMatchesExpandThenResize) {
  // preprocess() builds the pad square row by row; it must equal the stored square resized.
  const RgbImage image = image_testing::noise_image(41, 17, 5);
  PreprocessConfig config = PreprocessConfig::llava15();
  config.mode = PreprocessMode::kPad;
  config.set_square_size(24);
  auto result = preprocess(image, config);
  ASSERT_TRUE(result.ok()) << result.error().to_string();
  auto reference = resize_like_pillow(expand_to_square(image, config.pad_color()), 24, 24, ResampleFilter::kBicubic);
  ASSERT_TRUE(reference.ok());
  EXPECT_EQ(describe_differences(result->image.pixels, reference->pixels, 24), "");
}

TEST(ImagePreprocess, CropWindowMatchesFullResize) {
  // preprocess() resizes only the crop window; it must equal resizing everything, then cropping.
  const RgbImage image = image_testing::noise_image(97, 61, 6);
  PreprocessConfig config = PreprocessConfig::llava15();
  config.set_square_size(40);
  auto result = preprocess(image, config);
  ASSERT_TRUE(result.ok()) << result.error().to_string();
  const auto size = shortest_edge_size(97, 61, 40);
  EXPECT_EQ(size[0], 63);  // int(40 * 97 / 61) = int(63.6)
  EXPECT_EQ(size[1], 40);
  auto full = resize_like_pillow(image, size[0], size[1], ResampleFilter::kBicubic);
  ASSERT_TRUE(full.ok());
  auto crop = center_crop(*full, 40, 40);
  ASSERT_TRUE(crop.ok());
  EXPECT_EQ(describe_differences(result->image.pixels, crop->pixels, 40), "");
}

TEST(ImagePreprocess, ConfigVariantsMatchTransformers) {
  int n_cases = 0;
  for (const auto& entry : extra_manifest()["preprocess"]) {
    const std::string name = entry["name"].get<std::string>();
    auto config = PreprocessConfig::parse(entry["config"].dump(), name);
    ASSERT_TRUE(config.ok()) << config.error().to_string();
    const RgbImage source = read_rgb(entry["source"].get<std::string>(), entry["source_width"].get<std::int64_t>(),
                                     entry["source_height"].get<std::int64_t>());
    auto result = preprocess(source, *config);
    ASSERT_TRUE(result.ok()) << name << ": " << result.error().to_string();
    EXPECT_EQ(result->image.width, entry["width"].get<std::int64_t>()) << name;
    EXPECT_EQ(result->image.height, entry["height"].get<std::int64_t>()) << name;
    const auto expected_u8 = testing::read_bytes(extra_dir() / entry["u8"].get<std::string>());
    EXPECT_EQ(describe_differences(result->image.pixels, expected_u8, result->image.width), "") << name;
    const std::vector<float> expected_f32 = testing::read_f32(extra_dir() / entry["f32"].get<std::string>());
    ASSERT_EQ(result->pixel_values.size(), expected_f32.size()) << name;
    std::size_t n_differing = 0;
    for (std::size_t i = 0; i < expected_f32.size(); ++i) {
      n_differing += std::memcmp(&result->pixel_values[i], &expected_f32[i], sizeof(float)) != 0;
    }
    EXPECT_EQ(n_differing, 0u) << name << ": float32 values differ bitwise";
    ++n_cases;
  }
  EXPECT_EQ(n_cases, 5);
}

TEST(ImagePreprocess, OutputIsChwFloat32) {
  const RgbImage image = image_testing::noise_image(50, 70, 7);
  auto result = preprocess(image, PreprocessConfig::llava15());
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->pixel_values.size(), 3u * 336 * 336);
  // Channel-major: the first plane is red. The top-left output pixel's red value sits at 0.
  const float red = (static_cast<float>(static_cast<double>(result->image.pixels[0]) * (1.0 / 255.0)) - kClipMean[0]) /
                    kClipStd[0];
  EXPECT_EQ(result->pixel_values[0], red);
  const float green = (static_cast<float>(static_cast<double>(result->image.pixels[1]) * (1.0 / 255.0)) - kClipMean[1]) /
                      kClipStd[1];
  EXPECT_EQ(result->pixel_values[336 * 336], green);
}

TEST(ImagePreprocess, ExtremeAspectRatioHitsPixelLimit) {
  // A 1-pixel-wide, 20000-pixel-tall image: pad mode would need a 20000 x 20000 square.
  const RgbImage strip = RgbImage::filled(1, 20000, {5, 5, 5});
  PreprocessConfig config = PreprocessConfig::llava15();
  config.mode = PreprocessMode::kPad;
  config.max_pixels = 100'000'000;
  auto padded = preprocess(strip, config);
  ASSERT_FALSE(padded.ok());
  EXPECT_EQ(padded.error().code, ErrorCode::kOutOfRange);
  EXPECT_NE(padded.error().message.find("max_pixels"), std::string::npos) << padded.error().message;
  // Crop mode only computes the 336 x 336 window of the 336 x 6720000 resize.
  config.mode = PreprocessMode::kCrop;
  auto cropped = preprocess(strip, config);
  ASSERT_TRUE(cropped.ok()) << cropped.error().to_string();
  EXPECT_EQ(cropped->image.pixels, RgbImage::filled(336, 336, {5, 5, 5}).pixels);
}

TEST(ImagePreprocess, CropSizeHitsPixelLimit) {
  // A crop larger than the resized image is padded to the crop size, which the limit bounds too.
  PreprocessConfig config = PreprocessConfig::llava15();
  config.set_square_size(24);
  config.crop_height = 6000;
  config.crop_width = 6000;
  config.max_pixels = 1 << 20;
  auto result = preprocess(RgbImage::filled(7, 3, {1, 2, 3}), config);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kOutOfRange);
  EXPECT_NE(result.error().message.find("the center crop would be 6000x6000"), std::string::npos)
      << result.error().message;
}

TEST(ImagePreprocess, PadColorTruncates) {
  EXPECT_EQ(PreprocessConfig::llava15().pad_color(), (std::array<std::uint8_t, 3>{122, 116, 104}));
}

// preprocessor_config.json parsing.

TEST(PreprocessConfigParse, LlavaHfConfigParses) {
  const auto path = testing::test_data_dir() / "tiny-llava" / "model-f16" / "preprocessor_config.json";
  const std::vector<std::uint8_t> bytes = testing::read_bytes(path);
  auto config = PreprocessConfig::parse(std::string(bytes.begin(), bytes.end()), "preprocessor_config.json");
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  const PreprocessConfig llava = PreprocessConfig::llava15();
  EXPECT_EQ(config->mode, PreprocessMode::kCrop);
  EXPECT_EQ(config->shortest_edge, 336);
  EXPECT_EQ(config->crop_height, 336);
  EXPECT_EQ(config->crop_width, 336);
  EXPECT_EQ(config->resample, ResampleFilter::kBicubic);
  EXPECT_EQ(config->rescale_factor, llava.rescale_factor);
  EXPECT_EQ(config->image_mean, llava.image_mean);
  EXPECT_EQ(config->image_std, llava.image_std);
}

TEST(PreprocessConfigParse, MissingFieldsTakeClipDefaults) {
  auto config = PreprocessConfig::parse(R"({"image_processor_type": "CLIPImageProcessor"})", "sparse.json");
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_EQ(config->shortest_edge, 224);
  EXPECT_EQ(config->crop_height, 224);
  EXPECT_TRUE(config->do_center_crop);
  EXPECT_EQ(config->mode, PreprocessMode::kCrop);
}

TEST(PreprocessConfigParse, AcceptsOlderForms) {
  auto old = PreprocessConfig::parse(
      R"({"feature_extractor_type": "CLIPFeatureExtractor", "size": 336, "crop_size": 336, "image_mean": 0.5})",
      "old.json");
  ASSERT_TRUE(old.ok()) << old.error().to_string();
  EXPECT_EQ(old->shortest_edge, 336);
  EXPECT_EQ(old->crop_width, 336);
  EXPECT_EQ(old->image_mean, (std::array<double, 3>{0.5, 0.5, 0.5}));
  auto pad = PreprocessConfig::parse(R"({"image_processor_type": "LlavaImageProcessor", "do_pad": true})", "pad.json");
  ASSERT_TRUE(pad.ok()) << pad.error().to_string();
  EXPECT_EQ(pad->mode, PreprocessMode::kPad);
  auto exact = PreprocessConfig::parse(R"({"size": {"height": 384, "width": 384}, "do_center_crop": false})", "x.json");
  ASSERT_TRUE(exact.ok()) << exact.error().to_string();
  EXPECT_EQ(exact->shortest_edge, 0);
  EXPECT_EQ(exact->resize_height, 384);
}

TEST(PreprocessConfigParse, ErrorsNameFileAndField) {
  const std::vector<std::tuple<std::string, ErrorCode, std::string>> cases = {
      {R"({"image_processor_type": "LlavaNextImageProcessor"})", ErrorCode::kUnsupported, "LlavaNextImageProcessor"},
      {R"({"size": {"shortest_edge": 0}})", ErrorCode::kInvalidFormat, "size.shortest_edge"},
      {R"({"size": {"longest_edge": 336}})", ErrorCode::kUnsupported, "size.longest_edge"},
      {R"({"size": "336"})", ErrorCode::kInvalidFormat, "'size'"},
      {R"({"crop_size": {"height": 336}})", ErrorCode::kInvalidFormat, "crop_size.width"},
      {R"({"image_mean": [0.5, 0.5]})", ErrorCode::kInvalidFormat, "image_mean"},
      {R"({"image_std": [0.5, 0, 0.5]})", ErrorCode::kInvalidArgument, "image_std"},
      {R"({"resample": 9})", ErrorCode::kInvalidFormat, "resample"},
      {R"({"resample": 0})", ErrorCode::kUnsupported, "nearest"},
      {R"({"do_resize": "yes"})", ErrorCode::kInvalidFormat, "do_resize"},
      {R"({"rescale_factor": -1})", ErrorCode::kInvalidArgument, "rescale_factor"},
      {R"([1, 2])", ErrorCode::kInvalidFormat, "expected a JSON object"},
      {R"({"size": )", ErrorCode::kInvalidFormat, "invalid JSON"},
  };
  for (const auto& [text, code, fragment] : cases) {
    auto config = PreprocessConfig::parse(text, "cfg.json");
    ASSERT_FALSE(config.ok()) << text;
    EXPECT_EQ(config.error().code, code) << text << ": " << config.error().to_string();
    EXPECT_NE(config.error().message.find("cfg.json"), std::string::npos) << config.error().message;
    EXPECT_NE(config.error().message.find(fragment), std::string::npos)
        << text << ": message '" << config.error().message << "' lacks '" << fragment << "'";
  }
}

TEST(PreprocessConfigParse, MissingModelFileIsNamed) {
  testing::TempDir folder;
  auto config = PreprocessConfig::from_model_folder(folder.path().string());
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code, ErrorCode::kNotFound);
  EXPECT_NE(config.error().message.find("preprocessor_config.json"), std::string::npos);
}

}  // namespace
}  // namespace glimpse
