// Helpers shared by the image tests: SHA-256 digests, byte comparisons that explain the first
// difference, and writers for crafted PNG files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "glimpse/image.h"
#include "glimpse/image_source.h"

namespace glimpse::image_testing {

// tests/data/preprocess: the copied fixture images and manifest, and the extra/ cases.
std::filesystem::path preprocess_data_dir();

// Lowercase hex SHA-256 of raw bytes, or of float32 values as their little-endian bytes.
std::string sha256_hex(std::span<const std::uint8_t> bytes);
std::string sha256_hex(std::span<const float> values);

// Compares two byte buffers. An empty string means equal; otherwise it states the sizes, or the
// number of differing values and the first one as pixel (x, y) and channel of an RGB image
// `width` pixels wide.
std::string describe_differences(std::span<const std::uint8_t> got, std::span<const std::uint8_t> expected,
                                 std::int64_t width);

// Decodes a file with decode_image(), which reports the EXIF orientation without applying it. A
// failure throws with the error text, so that a test reads as one line.
DecodedImage decode_file(const std::filesystem::path& path, const ImageLoadOptions& options = {});

// The bytes of a PNG chunk with its length and CRC.
std::vector<std::uint8_t> png_chunk(const std::string& type, std::span<const std::uint8_t> data);

// A complete PNG: signature, IHDR, the `extra` chunks, one IDAT holding `rows` (each with its filter
// byte) compressed with zlib, IEND.
std::vector<std::uint8_t> png_file(std::uint32_t width, std::uint32_t height, int bit_depth, int color_type,
                                   std::span<const std::uint8_t> rows,
                                   const std::vector<std::vector<std::uint8_t>>& extra = {});

// An RGB image whose pixels follow a fixed pseudo-random sequence.
RgbImage noise_image(std::int64_t width, std::int64_t height, std::uint32_t seed);

}  // namespace glimpse::image_testing
