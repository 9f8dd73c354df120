// Internal: one decoder per format, the checks they share, and EXIF orientation parsing.
//
// Each decoder reproduces what Pillow 9.4 (Debian 12) produces for Image.open(...).convert("RGB")
// and sets DecodedImage::pillow_mode to the mode Pillow opens the file in.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "glimpse/image_source.h"
#include "glimpse/status.h"

namespace glimpse::image_internal {

Result<DecodedImage> decode_jpeg(std::span<const std::uint8_t> bytes, const ImageLoadOptions& options,
                                 const std::string& name);
Result<DecodedImage> decode_png(std::span<const std::uint8_t> bytes, const ImageLoadOptions& options,
                                const std::string& name);
Result<DecodedImage> decode_webp(std::span<const std::uint8_t> bytes, const ImageLoadOptions& options,
                                 const std::string& name);
Result<DecodedImage> decode_gif(std::span<const std::uint8_t> bytes, const ImageLoadOptions& options,
                                const std::string& name);
Result<DecodedImage> decode_bmp(std::span<const std::uint8_t> bytes, const ImageLoadOptions& options,
                                const std::string& name);

// Checks a decoder-reported size before any pixel memory is allocated: both sides positive and
// width * height within options.max_pixels.
Status check_image_size(std::int64_t width, std::int64_t height, const ImageLoadOptions& options,
                        const std::string& name, std::string_view format);

// An error "<name>: invalid <format> data: <detail>" (kInvalidFormat).
Error invalid_data(const std::string& name, std::string_view format, const std::string& detail);

// Returns the Orientation tag (0x0112) of IFD0 in an EXIF block, which may start with the JPEG
// APP1 signature "Exif\0\0" or directly with the TIFF header. Returns nothing when the block is
// unreadable or its Orientation is absent or not a (signed) SHORT or LONG, the cases where Pillow's
// exif.get(0x0112) gives no integer.
std::optional<int> exif_orientation(std::span<const std::uint8_t> exif);

// Returns the digit after the first `tiff:Orientation="` or `tiff:Orientation>` in XMP text,
// which Pillow 9.4 reads from a PNG when its EXIF has no Orientation.
std::optional<int> xmp_orientation(std::string_view xmp);

}  // namespace glimpse::image_internal
