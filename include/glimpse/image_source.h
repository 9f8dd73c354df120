// Where images come from and how their bytes become RGB pixels.
//
// load_image() reads a file, bytes in memory, a base64 string, a data: URI or an http(s) URL. It
// decodes JPEG, PNG, WebP, GIF (first frame) or BMP with Debian's codec libraries (BMP with
// glimpse's own reader) and converts to RGB the way Pillow's Image.convert("RGB") does. Then it
// applies the EXIF orientation the way transformers' image_utils.load_image does.
//
// Every size that an input controls is checked against ImageLoadOptions before memory is
// allocated. Bad input returns an error naming the input and never aborts. All functions are
// thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "glimpse/image.h"
#include "glimpse/status.h"

namespace glimpse {

enum class ImageFormat { kUnknown, kJpeg, kPng, kWebp, kGif, kBmp };

// Returns "JPEG", "PNG", "WebP", "GIF", "BMP" or "unknown".
std::string_view image_format_name(ImageFormat format);

// Identifies the format from the first bytes (the file signature); the file name plays no part.
ImageFormat sniff_image_format(std::span<const std::uint8_t> bytes);

// Limits and switches of image loading. Each limit is checked before the memory it guards is
// allocated, and an error that hits one names the field so that a caller with trusted input can
// raise it.
struct ImageLoadOptions {
  // Rotate or mirror by the EXIF Orientation tag, as transformers' load_image does for paths,
  // URLs and base64 (ImageOps.exif_transpose). Off gives the pixels as stored, which is what
  // transformers receives for a PIL image passed in directly and what original LLaVA uses.
  bool apply_exif_orientation = true;
  // Largest encoded image, in bytes, from any source. A URL's download is also bounded by
  // max_url_bytes, which stops the transfer early.
  std::int64_t max_bytes = 64 << 20;
  // Largest decoded image, in pixels (width * height, or the canvas of a GIF or WebP). The default
  // is Pillow's decompression-bomb threshold (PIL.Image.MAX_IMAGE_PIXELS, 89,478,485 pixels).
  std::int64_t max_pixels = 89'478'485;
  // URL downloads: time to establish the connection, time for the whole transfer (redirects
  // included), redirects followed, and the largest response body in bytes.
  std::int64_t url_connect_timeout_ms = 10'000;
  std::int64_t url_timeout_ms = 60'000;
  int url_max_redirects = 5;
  std::int64_t max_url_bytes = 64 << 20;

  // Checks that every limit is positive (url_max_redirects may be 0).
  Status validate() const;
};

// One image input. The factory functions only store their argument; reading, downloading and
// decoding happen in load_image().
class ImageSource {
 public:
  enum class Kind { kPath, kBytes, kBase64, kDataUri, kUrl };

  static ImageSource from_path(std::string path);
  // `name` identifies the bytes in errors, for example a request field.
  static ImageSource from_bytes(std::vector<std::uint8_t> bytes, std::string name = "image bytes");
  // Standard or URL-safe base64 text; ASCII whitespace is ignored and the '=' padding is optional,
  // but padding that is present must be correct.
  static ImageSource from_base64(std::string text);
  // "data:[<media type>][;base64],<data>"; without ";base64" the data is percent-encoded.
  static ImageSource from_data_uri(std::string uri);
  // Only the http and https schemes are accepted, for the URL and for every redirect.
  static ImageSource from_url(std::string url);
  // Interprets a command-line argument: "http://" or "https://" gives a URL, "data:" a data URI,
  // anything else a file path.
  static ImageSource from_string(std::string text);

  Kind kind() const { return kind_; }
  // The path, base64 text, data URI or URL; for kBytes, the name.
  const std::string& text() const { return text_; }
  // The bytes of a kBytes source; empty for the other kinds.
  std::span<const std::uint8_t> bytes() const { return bytes_; }
  // How errors name this input, such as "image file 'cat.jpg'" or "image URL 'https://...'". Long
  // base64 text and data URIs are shortened.
  std::string description() const;

 private:
  ImageSource(Kind kind, std::string text, std::vector<std::uint8_t> bytes);

  Kind kind_ = Kind::kPath;
  std::string text_;
  std::vector<std::uint8_t> bytes_;
};

// A decoded image before orientation is applied.
struct DecodedImage {
  RgbImage rgb;                        // the pixels as stored, converted to RGB
  ImageFormat format = ImageFormat::kUnknown;
  std::string_view pillow_mode;        // the mode Pillow opens the file in: "RGB", "RGBA", "L", "P", "CMYK", ...
                                       // (a static string)
  int exif_orientation = 0;            // the EXIF Orientation tag (1-8), 0 when absent or unreadable
};

// Decodes encoded image bytes to the pixels, byte for byte, that Pillow 9.4's
// Image.open(...).convert("RGB") gives:
//   JPEG  libjpeg-turbo defaults (islow IDCT, smooth chroma upsampling); CMYK and YCCK through
//         Pillow's inverted-CMYK conversion
//   PNG   16-bit RGB keeps the high byte, 16-bit gray is clipped to 0-255, alpha and tRNS are
//         dropped, gAMA and ICC profiles are ignored
//   WebP  the first frame on the canvas
//   GIF   the first frame on its logical screen
//   BMP   as Pillow's BmpImagePlugin reads it
// It also reads the EXIF Orientation but does not apply it. `name` identifies the input in errors.
Result<DecodedImage> decode_image(std::span<const std::uint8_t> bytes, const ImageLoadOptions& options,
                                  const std::string& name);

// Returns the encoded bytes of `source`: the file's content, the bytes, the decoded base64 or data
// URI, or the body of the URL's response.
Result<std::vector<std::uint8_t>> read_image_source(const ImageSource& source, const ImageLoadOptions& options);

// Reads and decodes `source`, then applies its EXIF orientation unless options turn it off.
Result<RgbImage> load_image(const ImageSource& source, const ImageLoadOptions& options = {});

// Decodes base64 text under the rules of ImageSource::from_base64. `name` identifies the input in
// errors, which give the offset of an invalid character or the reason the padding is wrong.
// Output beyond `max_bytes` is an error.
Result<std::vector<std::uint8_t>> decode_base64(std::string_view text, std::int64_t max_bytes, const std::string& name);

}  // namespace glimpse
