#include "image/image_test_util.h"

#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <memory>
#include <stdexcept>

#include "support/test_support.h"

namespace glimpse::image_testing {

std::filesystem::path preprocess_data_dir() { return testing::test_data_dir() / "preprocess"; }

std::string sha256_hex(std::span<const std::uint8_t> bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("OpenSSL SHA-256 failed");
  }
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kDigits[digest[i] >> 4];
    hex += kDigits[digest[i] & 15];
  }
  return hex;
}

std::string sha256_hex(std::span<const float> values) {
  return sha256_hex({reinterpret_cast<const std::uint8_t*>(values.data()), values.size() * sizeof(float)});
}

std::string describe_differences(std::span<const std::uint8_t> got, std::span<const std::uint8_t> expected,
                                 std::int64_t width) {
  if (got.size() != expected.size()) {
    return "sizes differ: got " + std::to_string(got.size()) + " bytes, expected " + std::to_string(expected.size());
  }
  std::size_t count = 0;
  std::size_t first = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (got[i] == expected[i]) continue;
    if (count++ == 0) first = i;
  }
  if (count == 0) return "";
  const std::size_t pixel = first / 3;
  const std::size_t w = static_cast<std::size_t>(width > 0 ? width : 1);
  return std::to_string(count) + " differing values; first at pixel (" + std::to_string(pixel % w) + ", " +
         std::to_string(pixel / w) + ") channel " + std::to_string(first % 3) + ": got " +
         std::to_string(got[first]) + ", expected " + std::to_string(expected[first]);
}

DecodedImage decode_file(const std::filesystem::path& path, const ImageLoadOptions& options) {
  const std::vector<std::uint8_t> bytes = testing::read_bytes(path);
  auto decoded = decode_image(bytes, options, path.filename().string());
  if (!decoded.ok()) throw std::runtime_error(decoded.error().to_string());
  return std::move(decoded).value();
}

std::vector<std::uint8_t> png_chunk(const std::string& type, std::span<const std::uint8_t> data) {
  std::vector<std::uint8_t> chunk(8 + data.size());
  const auto length = static_cast<std::uint32_t>(data.size());
  for (int i = 0; i < 4; ++i) chunk[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(length >> (24 - 8 * i));
  for (std::size_t i = 0; i < 4 && i < type.size(); ++i) chunk[4 + i] = static_cast<std::uint8_t>(type[i]);
  std::copy(data.begin(), data.end(), chunk.begin() + 8);
  const uLong crc = crc32(crc32(0L, Z_NULL, 0), chunk.data() + 4, static_cast<uInt>(chunk.size() - 4));
  for (int shift = 24; shift >= 0; shift -= 8) chunk.push_back(static_cast<std::uint8_t>(crc >> shift));
  return chunk;
}

std::vector<std::uint8_t> png_file(std::uint32_t width, std::uint32_t height, int bit_depth, int color_type,
                                   std::span<const std::uint8_t> rows,
                                   const std::vector<std::vector<std::uint8_t>>& extra) {
  std::vector<std::uint8_t> file = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<std::uint8_t> header;
  for (std::uint32_t value : {width, height}) {
    for (int shift = 24; shift >= 0; shift -= 8) header.push_back(static_cast<std::uint8_t>(value >> shift));
  }
  header.insert(header.end(), {static_cast<std::uint8_t>(bit_depth), static_cast<std::uint8_t>(color_type), 0, 0, 0});
  auto append = [&file](const std::vector<std::uint8_t>& chunk) { file.insert(file.end(), chunk.begin(), chunk.end()); };
  append(png_chunk("IHDR", header));
  for (const auto& chunk : extra) append(chunk);
  uLongf compressed_size = compressBound(static_cast<uLong>(rows.size()));
  std::vector<std::uint8_t> compressed(compressed_size);
  if (compress(compressed.data(), &compressed_size, rows.data(), static_cast<uLong>(rows.size())) != Z_OK) {
    throw std::runtime_error("zlib compress failed");
  }
  compressed.resize(compressed_size);
  append(png_chunk("IDAT", compressed));
  append(png_chunk("IEND", {}));
  return file;
}

RgbImage noise_image(std::int64_t width, std::int64_t height, std::uint32_t seed) {
  RgbImage image;
  image.width = width;
  image.height = height;
  image.pixels.resize(static_cast<std::size_t>(width * height) * 3);
  std::uint32_t state = seed * 2654435761u + 1;
  for (auto& value : image.pixels) {
    state = state * 1664525u + 1013904223u;  // Numerical Recipes' linear congruential generator
    value = static_cast<std::uint8_t>(state >> 24);
  }
  return image;
}

}  // namespace glimpse::image_testing
