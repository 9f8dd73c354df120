// Bad image input: truncated, corrupt, unsupported and zero-sized files, decompression bombs and
// byte limits. Each must give an error of the right code whose message names the input and the
// reason; none may crash (the sanitizer build runs these too).
#include <gtest/gtest.h>

#include <cstring>

#include "glimpse/image_source.h"
#include "image/image_test_util.h"
#include "support/test_support.h"

namespace glimpse {
namespace {

using image_testing::preprocess_data_dir;

std::vector<std::uint8_t> fixture_bytes(const std::string& name) {
  return testing::read_bytes(preprocess_data_dir() / "images" / name);
}

void expect_error(const Result<DecodedImage>& result, ErrorCode code, std::initializer_list<std::string> fragments) {
  ASSERT_FALSE(result.ok()) << "decoding succeeded; expected an error containing '" << *fragments.begin() << "'";
  EXPECT_EQ(result.error().code, code) << result.error().to_string();
  for (const std::string& fragment : fragments) {
    EXPECT_NE(result.error().message.find(fragment), std::string::npos)
        << "message '" << result.error().message << "' lacks '" << fragment << "'";
  }
}

const char* const kFixtureImages[] = {
    "jpeg_baseline_420_640x480.jpg", "jpeg_progressive_420_640x480.jpg", "jpeg_cmyk_256x192.jpg",
    "png_rgb_336x336.png",           "png_p_trns_200x150.png",           "png_gray16_300x200.png",
    "webp_lossy_400x300.webp",       "webp_lossless_rgba_300x220.webp",  "gif_p_trns_320x200.gif",
    "bmp_rgb_250x170.bmp",
};

TEST(ImageErrors, TruncatedFilesFail) {
  for (const char* name : kFixtureImages) {
    const auto bytes = fixture_bytes(name);
    for (const double fraction : {0.5, 0.9}) {
      const auto cut = static_cast<std::size_t>(static_cast<double>(bytes.size()) * fraction);
      const std::vector<std::uint8_t> truncated(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
      const std::string input = std::string("truncated ") + name;
      expect_error(decode_image(truncated, {}, input), ErrorCode::kInvalidFormat, {input});
    }
  }
}

TEST(ImageErrors, CutHeadersFail) {
  for (const char* name : kFixtureImages) {
    const auto bytes = fixture_bytes(name);
    for (const std::size_t cut : {4, 12, 20, 40}) {
      const std::vector<std::uint8_t> truncated(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
      const auto result = decode_image(truncated, {}, "header");
      EXPECT_FALSE(result.ok()) << name << " cut at " << cut;
    }
  }
}

TEST(ImageErrors, TruncatedJpegSaysTruncated) {
  const auto bytes = fixture_bytes("jpeg_baseline_420_640x480.jpg");
  const std::vector<std::uint8_t> half(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(bytes.size() / 2));
  expect_error(decode_image(half, {}, "photo.jpg"), ErrorCode::kInvalidFormat, {"photo.jpg", "JPEG", "truncated"});
}

TEST(ImageErrors, PngBadCrcFails) {
  auto bytes = fixture_bytes("png_l_150x100.png");
  // The IHDR CRC sits at bytes 29-32.
  bytes[30] ^= 0x55;
  expect_error(decode_image(bytes, {}, "bad-crc.png"), ErrorCode::kInvalidFormat, {"bad-crc.png", "PNG", "CRC"});
}

TEST(ImageErrors, CorruptJpegDataStillDecodes) {
  // libjpeg recovers from corrupt entropy-coded data with warnings, and Pillow returns the
  // recovered pixels, so glimpse does too.
  auto bytes = fixture_bytes("jpeg_baseline_420_640x480.jpg");
  for (std::size_t i = bytes.size() / 2; i < bytes.size() / 2 + 64; ++i) bytes[i] = static_cast<std::uint8_t>(i * 37);
  for (std::size_t i = 0; i + 1 < bytes.size(); ++i) {
    if (i >= bytes.size() / 2 && bytes[i] == 0xFF) bytes[i] = 0xFE;  // keep the damage free of markers
  }
  bytes[bytes.size() - 2] = 0xFF;
  bytes[bytes.size() - 1] = 0xD9;
  const auto result = decode_image(bytes, {}, "damaged.jpg");
  ASSERT_TRUE(result.ok()) << result.error().to_string();
  EXPECT_EQ(result->rgb.width, 640);
  EXPECT_EQ(result->rgb.height, 480);
}

TEST(ImageErrors, TooManyJpegScansFail) {
  // Repeating the last scan 600 times makes a small file that libjpeg would otherwise decode
  // scan by scan for a long time.
  const auto bytes = fixture_bytes("jpeg_progressive_420_640x480.jpg");
  std::size_t last_scan = 0;
  for (std::size_t i = 0; i + 1 < bytes.size(); ++i) {
    if (bytes[i] == 0xFF && bytes[i + 1] == 0xDA) last_scan = i;
  }
  ASSERT_GT(last_scan, 0u);
  const std::vector<std::uint8_t> scan(bytes.begin() + static_cast<std::ptrdiff_t>(last_scan), bytes.end() - 2);
  std::vector<std::uint8_t> crafted(bytes.begin(), bytes.end() - 2);
  for (int i = 0; i < 600; ++i) crafted.insert(crafted.end(), scan.begin(), scan.end());
  crafted.insert(crafted.end(), {0xFF, 0xD9});
  expect_error(decode_image(crafted, {}, "many-scans.jpg"), ErrorCode::kInvalidFormat, {"many-scans.jpg", "500"});
}

TEST(ImageErrors, UnsupportedFormatsAreNamed) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {std::string("II*\0\x08\0\0\0", 8), "TIFF"},
      {std::string("\0\0\0\x1c" "ftypavif\0\0\0\0", 16), "AVIF"},
      {"<!DOCTYPE html><html><body>Not found</body></html>", "text starting '<!DOCTYPE html>"},
      {std::string("\x01\x02\x03\x04\x05", 5), "01 02 03 04 05"},
  };
  for (const auto& [content, fragment] : cases) {
    const std::vector<std::uint8_t> bytes(content.begin(), content.end());
    expect_error(decode_image(bytes, {}, "upload"), ErrorCode::kUnsupported, {"upload", fragment, "JPEG, PNG"});
  }
}

TEST(ImageErrors, EmptyInputFails) {
  expect_error(decode_image({}, {}, "empty.png"), ErrorCode::kInvalidFormat, {"empty.png", "empty"});
}

TEST(ImageErrors, ZeroSizedImagesFail) {
  // PNG: libpng rejects a zero width in IHDR.
  const auto png = image_testing::png_file(0, 1, 8, 2, std::vector<std::uint8_t>{0});
  EXPECT_FALSE(decode_image(png, {}, "zero.png").ok());

  // GIF: a 0x0 screen with a 0x0 frame.
  const std::vector<std::uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a', 0, 0, 0, 0, 0, 0, 0,
                                         ',', 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 0x4C, 0x01, 0, ';'};
  expect_error(decode_image(gif, {}, "zero.gif"), ErrorCode::kInvalidFormat, {"zero.gif", "0x0"});

  // BMP: a 40-byte header with width 0.
  auto bmp = fixture_bytes("bmp_rgb_250x170.bmp");
  std::memset(bmp.data() + 18, 0, 4);
  expect_error(decode_image(bmp, {}, "zero.bmp"), ErrorCode::kInvalidFormat, {"zero.bmp", "0x170"});
}

TEST(ImageErrors, PixelLimitStopsEveryFormat) {
  ImageLoadOptions options;
  options.max_pixels = 1000;
  for (const char* name : kFixtureImages) {
    expect_error(decode_image(fixture_bytes(name), options, name), ErrorCode::kOutOfRange,
                 {name, "max_pixels", "1000"});
  }
}

TEST(ImageErrors, BombHeadersFailEarly) {
  // Small files whose headers claim 100000 x 100000 pixels (30 GB of RGB).
  const auto png = image_testing::png_file(100000, 100000, 8, 2, std::vector<std::uint8_t>(64, 0));
  expect_error(decode_image(png, {}, "bomb.png"), ErrorCode::kOutOfRange, {"bomb.png", "100000x100000", "max_pixels"});

  auto jpeg = fixture_bytes("jpeg_gray_320x240.jpg");
  for (std::size_t i = 0; i + 8 < jpeg.size(); ++i) {
    if (jpeg[i] == 0xFF && jpeg[i + 1] == 0xC0) {  // SOF0: length(2) precision(1) height(2) width(2)
      jpeg[i + 5] = 0xEA;
      jpeg[i + 6] = 0x60;  // 60000
      jpeg[i + 7] = 0xEA;
      jpeg[i + 8] = 0x60;
      break;
    }
  }
  expect_error(decode_image(jpeg, {}, "bomb.jpg"), ErrorCode::kOutOfRange, {"bomb.jpg", "60000x60000"});

  auto gif = fixture_bytes("gif_p_trns_320x200.gif");
  gif[6] = gif[7] = gif[8] = gif[9] = 0xFF;  // logical screen 65535 x 65535
  expect_error(decode_image(gif, {}, "bomb.gif"), ErrorCode::kOutOfRange, {"bomb.gif", "65535x65535"});

  auto bmp = fixture_bytes("bmp_rgb_250x170.bmp");
  bmp[18] = bmp[22] = 0xA0;
  bmp[19] = bmp[23] = 0x86;
  bmp[20] = bmp[24] = 0x01;  // 100000 x 100000
  expect_error(decode_image(bmp, {}, "bomb.bmp"), ErrorCode::kOutOfRange, {"bomb.bmp", "100000x100000"});
}

TEST(ImageErrors, ByteLimitStopsLargeInput) {
  ImageLoadOptions options;
  options.max_bytes = 1000;
  const auto bytes = fixture_bytes("png_rgb_336x336.png");
  expect_error(decode_image(bytes, options, "large.png"), ErrorCode::kOutOfRange, {"large.png", "max_bytes", "1000"});
}

TEST(ImageErrors, InvalidOptionsAreRejected) {
  ImageLoadOptions options;
  options.max_pixels = 0;
  expect_error(decode_image(fixture_bytes("png_rgb_1x1.png"), options, "x"), ErrorCode::kInvalidArgument,
               {"max_pixels"});
}

TEST(ImageErrors, UnsupportedBmpVariantsAreNamed) {
  const auto original = fixture_bytes("bmp_rgb_250x170.bmp");
  struct Case {
    std::size_t offset;
    std::vector<std::uint8_t> value;
    ErrorCode code;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {14, {52, 0, 0, 0}, ErrorCode::kUnsupported, "header of 52 bytes"},
      {28, {2, 0}, ErrorCode::kUnsupported, "depth of 2 bits"},
      {30, {4, 0, 0, 0}, ErrorCode::kUnsupported, "compression 4"},
      {30, {1, 0, 0, 0}, ErrorCode::kInvalidFormat, "RLE compression with 24 bits"},
      {10, {0xFF, 0xFF, 0xFF, 0x00}, ErrorCode::kInvalidFormat, "truncated"},
  };
  for (const Case& c : cases) {
    auto bytes = original;
    std::copy(c.value.begin(), c.value.end(), bytes.begin() + static_cast<std::ptrdiff_t>(c.offset));
    expect_error(decode_image(bytes, {}, "variant.bmp"), c.code, {"variant.bmp", c.fragment});
  }
  // Bitfields with masks outside Pillow's list.
  auto bytes = fixture_bytes("bmp_rgb_250x170.bmp");
  bytes[30] = 3;  // BI_BITFIELDS on a 40-byte header: masks follow the header
  bytes[28] = 32;
  expect_error(decode_image(bytes, {}, "masks.bmp"), ErrorCode::kUnsupported, {"masks.bmp", "bitfields"});
}

TEST(ImageErrors, GifWithoutImageFails) {
  const std::vector<std::uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a', 4, 0, 4, 0, 0, 0, 0, ';'};
  expect_error(decode_image(gif, {}, "empty.gif"), ErrorCode::kInvalidFormat, {"empty.gif", "no image"});
}

TEST(ImageErrors, CorruptExifIsIgnored) {
  // A JPEG whose APP1 "Exif" block holds no TIFF header decodes with orientation 0, where
  // Pillow's exif_transpose would raise; an unreadable tag should not cost the image.
  const auto original = fixture_bytes("jpeg_gray_320x240.jpg");
  std::vector<std::uint8_t> bytes(original.begin(), original.begin() + 2);
  const std::vector<std::uint8_t> app1 = {0xFF, 0xE1, 0, 14, 'E', 'x', 'i', 'f', 0, 0, 'X', 'X', 1, 2, 3, 4};
  bytes.insert(bytes.end(), app1.begin(), app1.end());
  bytes.insert(bytes.end(), original.begin() + 2, original.end());
  const auto result = decode_image(bytes, {}, "bad-exif.jpg");
  ASSERT_TRUE(result.ok()) << result.error().to_string();
  EXPECT_EQ(result->exif_orientation, 0);
  EXPECT_EQ(result->rgb.width, 320);
}

}  // namespace
}  // namespace glimpse
