// Image sources: files, bytes, base64 text, data: URIs and URLs, and load_image().
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

#include "glimpse/image_source.h"
#include "glimpse/log.h"
#include "image/fetch_url.h"

namespace glimpse {
namespace {

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    const char a = text[i] >= 'A' && text[i] <= 'Z' ? static_cast<char>(text[i] - 'A' + 'a') : text[i];
    if (a != prefix[i]) return false;
  }
  return true;
}

std::string shorten(std::string_view text, std::size_t max_length) {
  if (text.size() <= max_length) return std::string(text);
  return std::string(text.substr(0, max_length)) + "...";
}

Error too_large(const std::string& input_name, std::uint64_t size, std::int64_t limit) {
  return make_error(ErrorCode::kOutOfRange, input_name + " has " + std::to_string(size) +
                                                " bytes, more than the max_bytes limit of " + std::to_string(limit) +
                                                "; raise max_bytes to read it");
}

Result<std::vector<std::uint8_t>> read_file(const std::string& path, const ImageLoadOptions& options,
                                            const std::string& input_name) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    return make_error(ErrorCode::kNotFound, input_name + " not found");
  }
  if (std::filesystem::is_directory(status)) {
    return make_error(ErrorCode::kInvalidArgument, input_name + " is a directory, not an image file");
  }
  if (std::filesystem::is_regular_file(status)) {
    const std::uintmax_t size = std::filesystem::file_size(path, ec);
    if (!ec && size > static_cast<std::uintmax_t>(options.max_bytes)) return too_large(input_name, size, options.max_bytes);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kIoError, "cannot open " + input_name + ": " + std::strerror(errno));
  // Read in blocks up to the limit, which also covers pipes and other files without a size.
  std::vector<std::uint8_t> bytes;
  constexpr std::size_t kBlock = 1 << 20;
  while (in) {
    const std::size_t old_size = bytes.size();
    bytes.resize(old_size + kBlock);
    in.read(reinterpret_cast<char*>(bytes.data() + old_size), static_cast<std::streamsize>(kBlock));
    bytes.resize(old_size + static_cast<std::size_t>(in.gcount()));
    if (bytes.size() > static_cast<std::size_t>(options.max_bytes)) {
      return too_large(input_name, bytes.size(), options.max_bytes);
    }
  }
  if (in.bad()) return make_error(ErrorCode::kIoError, "cannot read " + input_name + ": " + std::strerror(errno));
  return bytes;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::vector<std::uint8_t>> percent_decode(std::string_view text, std::int64_t max_bytes,
                                                 const std::string& input_name) {
  std::vector<std::uint8_t> bytes;
  bytes.reserve(std::min<std::size_t>(text.size(), static_cast<std::size_t>(max_bytes)));
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      bytes.push_back(static_cast<std::uint8_t>(text[i]));
    } else {
      const int high = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
      const int low = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
      if (high < 0 || low < 0) {
        return make_error(ErrorCode::kInvalidFormat, input_name + ": invalid percent escape at offset " + std::to_string(i) +
                                                         "; expected '%' and two hex digits");
      }
      bytes.push_back(static_cast<std::uint8_t>(high * 16 + low));
      i += 2;
    }
    if (bytes.size() > static_cast<std::size_t>(max_bytes)) return too_large(input_name, bytes.size(), max_bytes);
  }
  return bytes;
}

// Splits "data:[<media type>][;param]*[;base64],<data>" and decodes the data.
Result<std::vector<std::uint8_t>> decode_data_uri(std::string_view uri, std::int64_t max_bytes,
                                                  const std::string& input_name) {
  if (!starts_with_ignoring_case(uri, "data:")) {
    return make_error(ErrorCode::kInvalidArgument, input_name + " does not start with 'data:'");
  }
  const std::size_t comma = uri.find(',');
  if (comma == std::string_view::npos) {
    return make_error(ErrorCode::kInvalidFormat, input_name + " has no ',' between the media type and the data");
  }
  const std::string_view header = uri.substr(5, comma - 5);
  const std::string_view data = uri.substr(comma + 1);

  const std::string_view media_type = header.substr(0, header.find(';'));
  if (!media_type.empty() && !starts_with_ignoring_case(media_type, "image/") &&
      !starts_with_ignoring_case(media_type, "application/octet-stream")) {
    return make_error(ErrorCode::kUnsupported,
                      input_name + " has media type '" + shorten(media_type, 60) + "', not an image type");
  }
  bool base64 = false;
  if (header.size() >= 7) {
    const std::string_view last = header.substr(header.size() - 7);
    base64 = starts_with_ignoring_case(last, ";base64");
  }
  if (base64) return decode_base64(data, max_bytes, input_name);
  return percent_decode(data, max_bytes, input_name);
}

}  // namespace

ImageSource::ImageSource(Kind kind, std::string text, std::vector<std::uint8_t> bytes)
    : kind_(kind), text_(std::move(text)), bytes_(std::move(bytes)) {}

ImageSource ImageSource::from_path(std::string path) { return ImageSource(Kind::kPath, std::move(path), {}); }

ImageSource ImageSource::from_bytes(std::vector<std::uint8_t> bytes, std::string name) {
  return ImageSource(Kind::kBytes, std::move(name), std::move(bytes));
}

ImageSource ImageSource::from_base64(std::string text) { return ImageSource(Kind::kBase64, std::move(text), {}); }

ImageSource ImageSource::from_data_uri(std::string uri) { return ImageSource(Kind::kDataUri, std::move(uri), {}); }

ImageSource ImageSource::from_url(std::string url) { return ImageSource(Kind::kUrl, std::move(url), {}); }

ImageSource ImageSource::from_string(std::string text) {
  if (starts_with_ignoring_case(text, "http://") || starts_with_ignoring_case(text, "https://")) {
    return from_url(std::move(text));
  }
  if (starts_with_ignoring_case(text, "data:")) return from_data_uri(std::move(text));
  return from_path(std::move(text));
}

std::string ImageSource::description() const {
  switch (kind_) {
    case Kind::kPath: return "image file '" + text_ + "'";
    case Kind::kBytes: return text_;
    case Kind::kBase64: return "base64 image (" + std::to_string(text_.size()) + " characters)";
    case Kind::kDataUri: return "data URI '" + shorten(text_, 40) + "' (" + std::to_string(text_.size()) + " characters)";
    case Kind::kUrl: return "image URL '" + shorten(text_, 200) + "'";
  }
  return "image";
}

Result<std::vector<std::uint8_t>> decode_base64(std::string_view text, std::int64_t max_bytes, const std::string& name) {
  // Hand-written because the libraries at hand either accept malformed padding silently
  // (OpenSSL's EVP_DecodeBlock) or do not report where the text is wrong.
  std::size_t n_symbols = 0;
  for (char c : text) n_symbols += (c != '=' && c != ' ' && c != '\n' && c != '\r' && c != '\t' && c != '\f' && c != '\v');
  // Every 4 symbols encode 3 bytes, so the output size is known before decoding.
  const std::uint64_t decoded_size = static_cast<std::uint64_t>(n_symbols) * 3 / 4;
  if (decoded_size > static_cast<std::uint64_t>(max_bytes)) return too_large(name, decoded_size, max_bytes);

  std::vector<std::uint8_t> bytes;
  bytes.reserve(n_symbols / 4 * 3 + 2);
  std::uint32_t group = 0;
  int group_size = 0;
  std::size_t n_data = 0;
  std::size_t n_padding = 0;
  int alphabet = 0;  // 1: standard "+/", 2: URL-safe "-_"
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == '\v') continue;
    if (c == '=') {
      ++n_padding;
      continue;
    }
    int value = -1;
    int kind = 0;
    if (c >= 'A' && c <= 'Z') value = c - 'A';
    else if (c >= 'a' && c <= 'z') value = c - 'a' + 26;
    else if (c >= '0' && c <= '9') value = c - '0' + 52;
    else if (c == '+' || c == '/') { value = c == '+' ? 62 : 63; kind = 1; }
    else if (c == '-' || c == '_') { value = c == '-' ? 62 : 63; kind = 2; }
    if (value < 0) {
      const std::string shown = (c >= 0x20 && c < 0x7f) ? std::string("'") + c + "'" :
                                "byte " + std::to_string(static_cast<unsigned char>(c));
      return make_error(ErrorCode::kInvalidFormat, name + ": invalid base64 character " + shown + " at offset " +
                                                       std::to_string(i));
    }
    if (n_padding > 0) {
      return make_error(ErrorCode::kInvalidFormat, name + ": invalid base64: data after '=' padding at offset " +
                                                       std::to_string(i) + "; '=' may only end the text");
    }
    if (kind != 0 && alphabet != 0 && kind != alphabet) {
      return make_error(ErrorCode::kInvalidFormat, name + ": invalid base64: '" + std::string(1, c) + "' at offset " +
                                                       std::to_string(i) +
                                                       " mixes the standard (+/) and URL-safe (-_) alphabets");
    }
    if (kind != 0) alphabet = kind;
    group = (group << 6) | static_cast<std::uint32_t>(value);
    ++n_data;
    if (++group_size == 4) {
      bytes.push_back(static_cast<std::uint8_t>(group >> 16));
      bytes.push_back(static_cast<std::uint8_t>(group >> 8));
      bytes.push_back(static_cast<std::uint8_t>(group));
      group = 0;
      group_size = 0;
    }
  }
  if (group_size == 1) {
    return make_error(ErrorCode::kInvalidFormat,
                      name + ": invalid base64 length: " + std::to_string(n_data) +
                          " characters leave 1 over a multiple of 4, which encodes no byte (truncated text?)");
  }
  if (n_padding > 0 && (n_padding > 2 || (n_data + n_padding) % 4 != 0)) {
    return make_error(ErrorCode::kInvalidFormat,
                      name + ": invalid base64 padding: " + std::to_string(n_padding) + " '=' after " +
                          std::to_string(n_data) + " characters; expected " +
                          std::to_string((4 - n_data % 4) % 4) + " (or none)");
  }
  if (group_size == 2) bytes.push_back(static_cast<std::uint8_t>(group >> 4));
  if (group_size == 3) {
    bytes.push_back(static_cast<std::uint8_t>(group >> 10));
    bytes.push_back(static_cast<std::uint8_t>(group >> 2));
  }
  if (bytes.size() > static_cast<std::size_t>(max_bytes)) return too_large(name, bytes.size(), max_bytes);
  return bytes;
}

Result<std::vector<std::uint8_t>> read_image_source(const ImageSource& source, const ImageLoadOptions& options) {
  GLIMPSE_RETURN_IF_ERROR(options.validate());
  const std::string input_name = source.description();
  switch (source.kind()) {
    case ImageSource::Kind::kPath: return read_file(source.text(), options, input_name);
    case ImageSource::Kind::kBytes: {
      if (source.bytes().size() > static_cast<std::size_t>(options.max_bytes)) {
        return too_large(input_name, source.bytes().size(), options.max_bytes);
      }
      return std::vector<std::uint8_t>(source.bytes().begin(), source.bytes().end());
    }
    case ImageSource::Kind::kBase64: return decode_base64(source.text(), options.max_bytes, input_name);
    case ImageSource::Kind::kDataUri: return decode_data_uri(source.text(), options.max_bytes, input_name);
    case ImageSource::Kind::kUrl: return image_internal::fetch_url(source.text(), options, input_name);
  }
  return make_error(ErrorCode::kInternal, "unknown image source kind");
}

Result<RgbImage> load_image(const ImageSource& source, const ImageLoadOptions& options) {
  GLIMPSE_RETURN_IF_ERROR(options.validate());
  const std::string input_name = source.description();
  std::vector<std::uint8_t> storage;
  std::span<const std::uint8_t> bytes = source.bytes();
  if (source.kind() != ImageSource::Kind::kBytes) {
    GLIMPSE_ASSIGN_OR_RETURN(storage, read_image_source(source, options));
    bytes = storage;
  }
  GLIMPSE_ASSIGN_OR_RETURN(DecodedImage decoded, decode_image(bytes, options, input_name));
  log_message(LogLevel::kDebug, input_name + ": " + std::string(image_format_name(decoded.format)) + " " +
                                    std::to_string(decoded.rgb.width) + "x" + std::to_string(decoded.rgb.height) +
                                    ", Pillow mode " + std::string(decoded.pillow_mode) + ", EXIF orientation " +
                                    std::to_string(decoded.exif_orientation));
  if (!options.apply_exif_orientation) return std::move(decoded.rgb);
  return apply_exif_orientation(std::move(decoded.rgb), decoded.exif_orientation);
}

}  // namespace glimpse
