// Decoding of format variants beyond the shared fixture: EXIF orientation 1-8 in JPEG, PNG and
// WebP, PNG bit depths, palettes and interlacing, GIF frames, BMP headers, bitfields and RLE,
// WebP without and with alpha and animation. The expected pixels are what Pillow 9.4 decodes from
// the same files (tests/data/preprocess/make_extra_cases.py). Metric: byte equality; tolerance:
// none.
#include <gtest/gtest.h>

#include "glimpse/image.h"
#include "glimpse/image_source.h"
#include "image/image_test_util.h"
#include "support/test_support.h"

namespace glimpse {
namespace {

using image_testing::decode_file;
using image_testing::describe_differences;
using image_testing::preprocess_data_dir;

std::filesystem::path extra_dir() { return preprocess_data_dir() / "extra"; }

const nlohmann::json& extra_manifest() {
  static const nlohmann::json json = testing::read_json(extra_dir() / "extra.json");
  return json;
}

TEST(ImageDecode, ExtraCasesMatchPillow) {
  int n_cases = 0;
  for (const auto& entry : extra_manifest()["decode"]) {
    const std::string file = entry["file"].get<std::string>();
    ImageLoadOptions options;
    options.apply_exif_orientation = false;
    const DecodedImage decoded = decode_file(extra_dir() / file, options);
    EXPECT_EQ(decoded.rgb.width, entry["width"].get<std::int64_t>()) << file;
    EXPECT_EQ(decoded.rgb.height, entry["height"].get<std::int64_t>()) << file;
    EXPECT_EQ(decoded.pillow_mode, entry["pillow_mode"].get<std::string>()) << file;
    EXPECT_EQ(decoded.exif_orientation, entry["exif_orientation"].get<int>()) << file;
    const auto expected = testing::read_bytes(extra_dir() / entry["rgb"].get<std::string>());
    EXPECT_EQ(describe_differences(decoded.rgb.pixels, expected, decoded.rgb.width), "") << file << ": " << entry["note"];
    ++n_cases;
  }
  EXPECT_GE(n_cases, 45);
}

TEST(ImageDecode, LoadImageAppliesExifTranspose) {
  int n_oriented = 0;
  for (const auto& entry : extra_manifest()["decode"]) {
    const std::string file = entry["file"].get<std::string>();
    auto upright = load_image(ImageSource::from_path((extra_dir() / file).string()));
    ASSERT_TRUE(upright.ok()) << upright.error().to_string();
    if (!entry.contains("upright")) {
      const auto expected = testing::read_bytes(extra_dir() / entry["rgb"].get<std::string>());
      EXPECT_EQ(describe_differences(upright->pixels, expected, upright->width), "") << file;
      continue;
    }
    EXPECT_EQ(upright->width, entry["upright_width"].get<std::int64_t>()) << file;
    EXPECT_EQ(upright->height, entry["upright_height"].get<std::int64_t>()) << file;
    const auto expected = testing::read_bytes(extra_dir() / entry["upright"].get<std::string>());
    EXPECT_EQ(describe_differences(upright->pixels, expected, upright->width), "") << file << ": " << entry["note"];
    ++n_oriented;
  }
  // Orientations 2-8 in JPEG, 3/6/8 in PNG and WebP, one XMP and one raw-profile PNG.
  EXPECT_EQ(n_oriented, 15);
}

TEST(ImageDecode, OrientationOffKeepsStoredPixels) {
  ImageLoadOptions options;
  options.apply_exif_orientation = false;
  auto stored = load_image(ImageSource::from_path((extra_dir() / "jpeg_orient6.jpg").string()), options);
  ASSERT_TRUE(stored.ok()) << stored.error().to_string();
  EXPECT_EQ(stored->width, 24);
  EXPECT_EQ(stored->height, 16);
}

TEST(ImageDecode, SniffsFormatFromBytes) {
  const auto bytes = testing::read_bytes(preprocess_data_dir() / "images" / "png_rgb_1x1.png");
  EXPECT_EQ(sniff_image_format(bytes), ImageFormat::kPng);
  auto decoded = decode_image(bytes, {}, "renamed.jpg");
  ASSERT_TRUE(decoded.ok()) << decoded.error().to_string();
  EXPECT_EQ(decoded->format, ImageFormat::kPng);
  EXPECT_EQ(decoded->rgb.width, 1);
}

TEST(ImageDecode, PngLowBitGrayScales) {
  // One row of a 2-bit gray PNG holding the samples 0, 1, 2, 3: Pillow scales them by 85.
  const std::vector<std::uint8_t> rows = {0, 0b00011011};
  const auto file = image_testing::png_file(4, 1, 2, 0, rows);
  auto decoded = decode_image(file, {}, "gray2.png");
  ASSERT_TRUE(decoded.ok()) << decoded.error().to_string();
  const std::vector<std::uint8_t> expected = {0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255};
  EXPECT_EQ(decoded->rgb.pixels, expected);
  EXPECT_EQ(decoded->pillow_mode, "L");
}

TEST(ImageDecode, PngGray16Clips) {
  // Samples 0x0000, 0x00FE, 0x00FF, 0x0100, 0xFFFF: Pillow's mode I clips at 255.
  const std::vector<std::uint8_t> rows = {0, 0x00, 0x00, 0x00, 0xFE, 0x00, 0xFF, 0x01, 0x00, 0xFF, 0xFF};
  const auto file = image_testing::png_file(5, 1, 16, 0, rows);
  auto decoded = decode_image(file, {}, "gray16.png");
  ASSERT_TRUE(decoded.ok()) << decoded.error().to_string();
  const std::vector<std::uint8_t> expected = {0, 0, 0, 254, 254, 254, 255, 255, 255, 255, 255, 255, 255, 255, 255};
  EXPECT_EQ(decoded->rgb.pixels, expected);
  EXPECT_EQ(decoded->pillow_mode, "I");
}

TEST(ImageDecode, PngRgb16KeepsHighByte) {
  const std::vector<std::uint8_t> rows = {0, 0x80, 0xFF, 0x7F, 0x01, 0x00, 0xFF};
  const auto file = image_testing::png_file(1, 1, 16, 2, rows);
  auto decoded = decode_image(file, {}, "rgb16.png");
  ASSERT_TRUE(decoded.ok()) << decoded.error().to_string();
  const std::vector<std::uint8_t> expected = {0x80, 0x7F, 0x00};
  EXPECT_EQ(decoded->rgb.pixels, expected);
}

TEST(ImageDecode, PngWithoutIendKeepsPixels) {
  // Pillow reads the chunks after IDAT leniently; a file cut before IEND still decodes.
  const std::vector<std::uint8_t> rows = {0, 10, 20, 30};
  auto file = image_testing::png_file(1, 1, 8, 2, rows);
  file.resize(file.size() - 12);  // drop IEND
  auto decoded = decode_image(file, {}, "no-iend.png");
  ASSERT_TRUE(decoded.ok()) << decoded.error().to_string();
  const std::vector<std::uint8_t> expected = {10, 20, 30};
  EXPECT_EQ(decoded->rgb.pixels, expected);
}

TEST(ImageDecode, GifWithoutTerminatorDecodes) {
  // Pillow decodes a GIF that stops right after the frame's last data block, without the block
  // terminator and trailer. A GIF that stops inside the pixel data fails in both.
  const DecodedImage full = decode_file(preprocess_data_dir() / "images" / "gif_p_trns_320x200.gif");
  auto bytes = testing::read_bytes(preprocess_data_dir() / "images" / "gif_p_trns_320x200.gif");
  ASSERT_EQ(bytes[bytes.size() - 2], 0);    // block terminator
  ASSERT_EQ(bytes[bytes.size() - 1], ';');  // trailer
  bytes.resize(bytes.size() - 2);
  auto decoded = decode_image(bytes, {}, "no-terminator.gif");
  ASSERT_TRUE(decoded.ok()) << decoded.error().to_string();
  EXPECT_EQ(decoded->rgb.pixels, full.rgb.pixels);
  bytes.resize(bytes.size() - 10);
  EXPECT_FALSE(decode_image(bytes, {}, "cut.gif").ok());
}

TEST(ImageDecode, JpegWithoutEndMarkerFails) {
  // Pillow reports "image file is truncated" when the end marker is missing, even though every
  // row was decodable.
  auto bytes = testing::read_bytes(preprocess_data_dir() / "images" / "jpeg_422_333x251.jpg");
  ASSERT_EQ(bytes[bytes.size() - 2], 0xFF);
  ASSERT_EQ(bytes[bytes.size() - 1], 0xD9);
  bytes.resize(bytes.size() - 2);
  auto decoded = decode_image(bytes, {}, "no-eoi.jpg");
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.error().message.find("truncated"), std::string::npos) << decoded.error().message;
}

// A BMP with a 40-byte header, RLE pixel data and a palette whose entry i is (R, G, B) =
// (0, 0, 10 * i), so that the blue channel reads back 10 * index.
std::vector<std::uint8_t> rle_bmp(std::uint32_t width, std::uint32_t height, std::uint16_t bits,
                                  std::uint32_t compression, const std::vector<std::uint8_t>& rle) {
  std::vector<std::uint8_t> palette;
  for (int i = 0; i < 16; ++i) {
    palette.push_back(static_cast<std::uint8_t>(10 * i));  // entries are B, G, R, 0
    palette.resize(palette.size() + 3, 0);
  }
  std::vector<std::uint8_t> file = {'B', 'M', 0, 0, 0, 0, 0, 0, 0, 0};
  auto put32 = [&file](std::uint32_t v) {
    for (int i = 0; i < 4; ++i) file.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  };
  auto put16 = [&file](std::uint16_t v) {
    file.push_back(static_cast<std::uint8_t>(v));
    file.push_back(static_cast<std::uint8_t>(v >> 8));
  };
  put32(14 + 40 + static_cast<std::uint32_t>(palette.size()));  // pixel data offset (even)
  put32(40);
  put32(width);
  put32(height);
  put16(1);
  put16(bits);
  put32(compression);
  put32(static_cast<std::uint32_t>(rle.size()));
  put32(0);
  put32(0);
  put32(16);  // colours used
  put32(0);
  file.insert(file.end(), palette.begin(), palette.end());
  file.insert(file.end(), rle.begin(), rle.end());
  return file;
}

// The blue channel of every pixel, top row first.
std::vector<int> blue_values(const RgbImage& image) {
  std::vector<int> blue;
  for (std::size_t i = 2; i < image.pixels.size(); i += 3) blue.push_back(image.pixels[i]);
  return blue;
}

TEST(ImageDecode, BmpRleDeltaSkipsPixels) {
  // A 4x2 RLE8 BMP, rows in file order (bottom row first):
  //   bottom: run of 2 x index 1, delta right 1 and up 0, run of 1 x index 2, end of line
  //   top:    absolute run 3, 4, 5 (padded to a 16-bit word), end of bitmap
  // Pillow 9.4 to 12.1 read the delta offsets from the wrong file position. glimpse follows the
  // BMP format and Pillow 12.2 and later, so the skipped pixel keeps index 0. So does the pixel
  // that the early end of bitmap leaves out.
  const std::vector<std::uint8_t> rle = {2, 1, 0, 2, 1, 0, 1, 2, 0, 0, 0, 3, 3, 4, 5, 0, 0, 1};
  auto decoded = decode_image(rle_bmp(4, 2, 8, 1, rle), {}, "delta.bmp");
  ASSERT_TRUE(decoded.ok()) << decoded.error().to_string();
  const std::vector<int> expected = {30, 40, 50, 0, 10, 10, 0, 20};
  EXPECT_EQ(blue_values(decoded->rgb), expected);
}

TEST(ImageDecode, BmpRle4OddRunKeepsLastPixel) {
  // A 5x1 RLE4 BMP: an absolute run of 3 nibbles (1, 2, 3; two bytes, already word-aligned), then
  // an encoded run of 2 alternating nibbles (4, 5), end of bitmap. Pillow 9.4 to 12.2 drop the
  // third pixel of an odd run; Pillow 12.3 and glimpse keep it.
  const std::vector<std::uint8_t> rle = {0, 3, 0x12, 0x30, 2, 0x45, 0, 1};
  auto decoded = decode_image(rle_bmp(5, 1, 4, 2, rle), {}, "odd.bmp");
  ASSERT_TRUE(decoded.ok()) << decoded.error().to_string();
  const std::vector<int> expected = {10, 20, 30, 40, 50};
  EXPECT_EQ(blue_values(decoded->rgb), expected);
}

TEST(ImageDecode, OrientationOutsideRangeIgnored) {
  // apply_exif_orientation leaves the image alone for 0, 1 and anything above 8.
  const RgbImage image = image_testing::noise_image(3, 2, 1);
  for (int orientation : {0, 1, 9, 255, -1}) {
    const RgbImage same = apply_exif_orientation(image, orientation);
    EXPECT_EQ(same.width, 3) << orientation;
    EXPECT_EQ(same.pixels, image.pixels) << orientation;
  }
}

TEST(ImageDecode, ExifOrientationGeometry) {
  // A 3x2 image with pixel values 0..5 in reading order (one channel shown).
  RgbImage image;
  image.width = 3;
  image.height = 2;
  for (std::uint8_t v = 0; v < 6; ++v) image.pixels.resize(image.pixels.size() + 3, v);
  auto first_channel = [](const RgbImage& out) {
    std::vector<int> values;
    for (std::size_t i = 0; i < out.pixels.size(); i += 3) values.push_back(out.pixels[i]);
    return values;
  };
  // Stored:  0 1 2     Expected upright view per orientation, rows top to bottom.
  //          3 4 5
  const std::vector<std::pair<int, std::vector<int>>> cases = {
      {2, {2, 1, 0, 5, 4, 3}},  // mirror left-right
      {3, {5, 4, 3, 2, 1, 0}},  // rotate 180
      {4, {3, 4, 5, 0, 1, 2}},  // mirror top-bottom
      {5, {0, 3, 1, 4, 2, 5}},  // transpose
      {6, {3, 0, 4, 1, 5, 2}},  // rotate 90 clockwise
      {7, {5, 2, 4, 1, 3, 0}},  // transverse
      {8, {2, 5, 1, 4, 0, 3}},  // rotate 90 counter-clockwise
  };
  for (const auto& [orientation, expected] : cases) {
    const RgbImage out = apply_exif_orientation(image, orientation);
    EXPECT_EQ(out.width, orientation >= 5 ? 2 : 3) << orientation;
    EXPECT_EQ(out.height, orientation >= 5 ? 3 : 2) << orientation;
    EXPECT_EQ(first_channel(out), expected) << "orientation " << orientation;
  }
}

}  // namespace
}  // namespace glimpse
