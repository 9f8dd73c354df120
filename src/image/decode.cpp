// Format detection and dispatch to the decoders.
#include <cstring>
#include <string>

#include "image/decode.h"

namespace glimpse {
namespace {

using namespace std::string_view_literals;

bool starts_with(std::span<const std::uint8_t> bytes, std::string_view prefix, std::size_t offset = 0) {
  return bytes.size() >= offset + prefix.size() && std::memcmp(bytes.data() + offset, prefix.data(), prefix.size()) == 0;
}

// Names formats that glimpse recognises but does not decode, for a clearer error.
std::string describe_unknown(std::span<const std::uint8_t> bytes) {
  if (starts_with(bytes, "II*\0"sv) || starts_with(bytes, "MM\0*"sv)) return "a TIFF file";

  if (starts_with(bytes, "ftypavif", 4) || starts_with(bytes, "ftypavis", 4)) return "an AVIF file";
  if (starts_with(bytes, "ftyphei", 4) || starts_with(bytes, "ftypmif1", 4) || starts_with(bytes, "ftypheic", 4)) {
    return "a HEIF/HEIC file";
  }
  if (starts_with(bytes, "\0\0\1\0"sv)) return "an ICO file";
  if (starts_with(bytes, "\xff\x0a") || starts_with(bytes, "\0\0\0\x0cjXL "sv)) {
    return "a JPEG XL file";
  }

  // Text: show its start, which usually identifies an HTML error page or a JSON message.
  std::string text;
  for (std::size_t i = 0; i < bytes.size() && text.size() < 40; ++i) {
    const char c = static_cast<char>(bytes[i]);
    if (c == '\n' || c == '\r' || c == '\t') {
      text += ' ';
    } else if (c >= 0x20 && c < 0x7f) {
      text += c;
    } else {
      text.clear();
      break;
    }
  }
  if (!text.empty()) return "text starting '" + text + "'";

  std::string hex;
  static constexpr char kDigits[] = "0123456789abcdef";
  for (std::size_t i = 0; i < bytes.size() && i < 8; ++i) {
    hex += kDigits[bytes[i] >> 4];
    hex += kDigits[bytes[i] & 15];
    hex += ' ';
  }
  if (!hex.empty()) hex.pop_back();
  return "data starting with bytes " + hex;
}

}  // namespace

std::string_view image_format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg: return "JPEG";
    case ImageFormat::kPng: return "PNG";
    case ImageFormat::kWebp: return "WebP";
    case ImageFormat::kGif: return "GIF";
    case ImageFormat::kBmp: return "BMP";
    case ImageFormat::kUnknown: break;
  }
  return "unknown";
}

ImageFormat sniff_image_format(std::span<const std::uint8_t> bytes) {
  if (starts_with(bytes, "\xff\xd8\xff")) return ImageFormat::kJpeg;
  if (starts_with(bytes, "\x89PNG\r\n\x1a\n")) return ImageFormat::kPng;
  if (starts_with(bytes, "RIFF") && starts_with(bytes, "WEBP", 8)) return ImageFormat::kWebp;
  if (starts_with(bytes, "GIF87a") || starts_with(bytes, "GIF89a")) return ImageFormat::kGif;
  if (starts_with(bytes, "BM")) return ImageFormat::kBmp;
  return ImageFormat::kUnknown;
}

Status ImageLoadOptions::validate() const {
  auto positive = [](std::int64_t value, const char* field) -> Status {
    if (value > 0) return {};
    return make_error(ErrorCode::kInvalidArgument,
                      std::string("ImageLoadOptions::") + field + " must be positive, found " + std::to_string(value));
  };
  GLIMPSE_RETURN_IF_ERROR(positive(max_bytes, "max_bytes"));
  GLIMPSE_RETURN_IF_ERROR(positive(max_pixels, "max_pixels"));
  GLIMPSE_RETURN_IF_ERROR(positive(url_connect_timeout_ms, "url_connect_timeout_ms"));
  GLIMPSE_RETURN_IF_ERROR(positive(url_timeout_ms, "url_timeout_ms"));
  GLIMPSE_RETURN_IF_ERROR(positive(max_url_bytes, "max_url_bytes"));
  if (url_max_redirects < 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "ImageLoadOptions::url_max_redirects must be 0 or more, found " + std::to_string(url_max_redirects));
  }
  return {};
}

namespace image_internal {

Status check_image_size(std::int64_t width, std::int64_t height, const ImageLoadOptions& options,
                        const std::string& name, std::string_view format) {
  const std::string size = std::to_string(width) + "x" + std::to_string(height);
  if (width <= 0 || height <= 0) {
    return make_error(ErrorCode::kInvalidFormat,
                      name + ": the " + std::string(format) + " image has size " + size + "; an image needs pixels");
  }
  // The division keeps the comparison free of overflow for any sides. Decoders pass sides read from
  // header fields of at most 32 bits, so the unsigned product in the message fits in 64 bits.
  if (width > options.max_pixels / height) {
    const std::uint64_t pixels = static_cast<std::uint64_t>(width) * static_cast<std::uint64_t>(height);
    return make_error(ErrorCode::kOutOfRange,
                      name + ": the " + std::string(format) + " image is " + size + " = " +
                          std::to_string(pixels) + " pixels, more than the max_pixels limit of " +
                          std::to_string(options.max_pixels) +
                          " (a guard against decompression bombs); raise max_pixels if the image is trusted");
  }
  return {};
}

Error invalid_data(const std::string& name, std::string_view format, const std::string& detail) {
  return make_error(ErrorCode::kInvalidFormat, name + ": invalid " + std::string(format) + " data: " + detail);
}

}  // namespace image_internal

Result<DecodedImage> decode_image(std::span<const std::uint8_t> bytes, const ImageLoadOptions& options,
                                  const std::string& name) {
  GLIMPSE_RETURN_IF_ERROR(options.validate());
  if (bytes.empty()) return make_error(ErrorCode::kInvalidFormat, name + " is empty (0 bytes)");
  if (static_cast<std::uint64_t>(bytes.size()) > static_cast<std::uint64_t>(options.max_bytes)) {
    return make_error(ErrorCode::kOutOfRange, name + " has " + std::to_string(bytes.size()) +
                                                  " bytes, more than the max_bytes limit of " +
                                                  std::to_string(options.max_bytes) + "; raise max_bytes to read it");
  }
  switch (sniff_image_format(bytes)) {
    case ImageFormat::kJpeg: return image_internal::decode_jpeg(bytes, options, name);
    case ImageFormat::kPng: return image_internal::decode_png(bytes, options, name);
    case ImageFormat::kWebp: return image_internal::decode_webp(bytes, options, name);
    case ImageFormat::kGif: return image_internal::decode_gif(bytes, options, name);
    case ImageFormat::kBmp: return image_internal::decode_bmp(bytes, options, name);
    case ImageFormat::kUnknown: break;
  }
  return make_error(ErrorCode::kUnsupported, name + " is not a supported image: found " + describe_unknown(bytes) +
                                                 "; glimpse reads JPEG, PNG, WebP, GIF and BMP");
}

}  // namespace glimpse
