// PNG decoding with libpng, converted to RGB the way Pillow 9.4 opens and converts PNG files.
//
// Pillow decodes PNG itself (on zlib). The samples of a lossless format are the same from any
// conforming decoder, so what must match is Pillow's mode for each colour type and bit depth and
// its conversion to RGB:
//   gray 1/2/4/8 bit   "1"/"L": samples scaled to 0-255 (1 bit: 0 or 255; 2 bit: x 85; 4 bit: x 17)
//   gray 16 bit        "I": the 16-bit value clipped to 0-255 (not scaled)
//   RGB 8/16 bit       "RGB": 16-bit samples keep their high byte
//   palette 1-8 bit    "P": palette colours; an index past the palette reads Pillow's grayscale ramp
//   gray+alpha 8 bit   "LA": the gray value; 16 bit "RGBA": the high byte of the gray value
//   RGBA 8/16 bit      "RGBA": alpha dropped without compositing; 16-bit samples keep their high byte
// tRNS, gAMA, cHRM, sRGB and iCCP are ignored, as Pillow's convert("RGB") ignores them.
// The EXIF orientation comes from an eXIf chunk, else from a "Raw profile type exif" text chunk,
// else from tiff:Orientation in an "XML:com.adobe.xmp" text chunk, the order of Pillow's getexif().
#include <png.h>

#include <algorithm>
#include <array>
#include <csetjmp>
#include <cstring>
#include <string>
#include <vector>

#include "glimpse/log.h"
#include "image/decode.h"

namespace glimpse::image_internal {
namespace {

// Holds the libpng state and every object with a destructor, so that the function calling
// setjmp() declares none and libpng's longjmp() skips no destructor.
class PngDecoder {
 public:
  PngDecoder(std::span<const std::uint8_t> bytes, const ImageLoadOptions& options, const std::string& name)
      : bytes_(bytes), options_(options), name_(name) {}
  ~PngDecoder() {
    if (png_ != nullptr) png_destroy_read_struct(&png_, info_ != nullptr ? &info_ : nullptr,
                                                 end_info_ != nullptr ? &end_info_ : nullptr);
  }
  PngDecoder(const PngDecoder&) = delete;
  PngDecoder& operator=(const PngDecoder&) = delete;

  Result<DecodedImage> run();

 private:
  static void on_read(png_structp png, png_bytep out, size_t length);
  static void on_error(png_structp png, png_const_charp message);
  static void on_warning(png_structp png, png_const_charp message);

  // The steps between setjmp() and the last libpng call. Neither read_pixels() nor the functions
  // it calls with libpng calls inside (read_rows) declare a local with a destructor, because a
  // longjmp() would skip it.
  bool read_pixels();
  bool accept_header();
  void prepare_conversion();
  void read_rows();
  void convert_row(const std::uint8_t* in, std::uint8_t* out) const;

  void read_orientation(png_infop info);
  DecodedImage finish();

  std::span<const std::uint8_t> bytes_;
  const ImageLoadOptions& options_;
  const std::string& name_;
  std::size_t offset_ = 0;
  std::size_t readable_ = 0;  // the bytes up to the end of the last complete chunk

  png_structp png_ = nullptr;
  png_infop info_ = nullptr;
  png_infop end_info_ = nullptr;

  std::string failure_;
  bool size_rejected_ = false;
  Error size_error_;
  bool pixels_done_ = false;
  int warnings_ = 0;

  png_uint_32 width_ = 0;
  png_uint_32 height_ = 0;
  int bit_depth_ = 0;
  int color_type_ = 0;
  std::size_t row_bytes_ = 0;
  std::vector<std::uint8_t> samples_;  // decoded rows: one row, or the whole image when interlaced
  std::vector<png_bytep> row_pointers_;
  DecodedImage decoded_;

  // How convert_row() turns a row of samples into RGB.
  std::size_t channels_ = 1;       // samples per pixel
  std::size_t sample_bytes_ = 1;   // 2 for 16-bit samples (big-endian)
  int gray_scale_ = 1;             // multiplier of 1, 2 and 4-bit gray samples
  std::array<std::array<std::uint8_t, 3>, 256> palette_rgb_{};

  // Orientation sources in Pillow's order of preference.
  std::optional<int> exif_chunk_orientation_;
  bool has_exif_chunk_ = false;
  std::optional<int> raw_profile_orientation_;
  bool has_raw_profile_ = false;
  std::optional<int> xmp_orientation_;
};

// Returns the length of the signature and the complete chunks that follow it. libpng allocates a
// chunk's declared length before reading its data (a too-large length is only a warning), so a
// 100-byte file could make it allocate 2 GB. Therefore libpng is given no chunk that the data
// cannot hold.
// NOTE: a file cut inside its last IDAT chunk after the pixel data (in the zlib checksum or the
// CRC) therefore fails, where Pillow, which needs only the pixel data, decodes it.
std::size_t complete_chunks_length(std::span<const std::uint8_t> bytes) {
  std::size_t offset = 8;
  while (offset + 12 <= bytes.size()) {
    const std::uint64_t length = (std::uint64_t{bytes[offset]} << 24) | (std::uint64_t{bytes[offset + 1]} << 16) |
                                 (std::uint64_t{bytes[offset + 2]} << 8) | bytes[offset + 3];
    if (length > bytes.size() - offset - 12) break;
    const bool end = std::memcmp(bytes.data() + offset + 4, "IEND", 4) == 0;
    offset += 12 + static_cast<std::size_t>(length);
    if (end) break;
  }
  return std::min(offset, bytes.size());
}

void PngDecoder::on_read(png_structp png, png_bytep out, size_t length) {
  auto* self = static_cast<PngDecoder*>(png_get_io_ptr(png));
  if (length > self->readable_ - self->offset_) png_error(png, "the data ends early (truncated file)");
  std::memcpy(out, self->bytes_.data() + self->offset_, length);
  self->offset_ += length;
}

void PngDecoder::on_error(png_structp png, png_const_charp message) {
  auto* self = static_cast<PngDecoder*>(png_get_error_ptr(png));
  self->failure_ = message;
  png_longjmp(png, 1);
}

void PngDecoder::on_warning(png_structp png, png_const_charp) {
  ++static_cast<PngDecoder*>(png_get_error_ptr(png))->warnings_;
}

Result<DecodedImage> PngDecoder::run() {
  readable_ = complete_chunks_length(bytes_);
  png_ = png_create_read_struct(PNG_LIBPNG_VER_STRING, this, on_error, on_warning);
  if (png_ == nullptr) return make_error(ErrorCode::kInternal, name_ + ": libpng could not start");
  info_ = png_create_info_struct(png_);
  end_info_ = png_create_info_struct(png_);
  if (info_ == nullptr || end_info_ == nullptr) return make_error(ErrorCode::kInternal, name_ + ": out of memory");

  if (!read_pixels()) {
    if (size_rejected_) return size_error_;
    return invalid_data(name_, "PNG", failure_);
  }
  if (warnings_ > 0) log_message(LogLevel::kDebug, name_ + ": libpng reported " + std::to_string(warnings_) + " warnings");
  return finish();
}

bool PngDecoder::read_pixels() {
  if (setjmp(png_jmpbuf(png_)) != 0) {
    // Pillow reads the chunks after the image data leniently: a broken or truncated tail keeps
    // the pixels and only loses the metadata there.
    if (!pixels_done_) return false;
    log_message(LogLevel::kDebug, "PNG chunks after the image data are unreadable; using the pixels");
    return true;
  }
  png_set_read_fn(png_, this, on_read);
  // libpng's default limit of 1,000,000 pixels per side is replaced by options.max_pixels.
  png_set_user_limits(png_, 0x7fffffff, 0x7fffffff);
  // Compressed text and ICC chunks that inflate past 8 MB are skipped (Pillow stops text chunks at
  // 1 MB).
  png_set_chunk_malloc_max(png_, std::max<std::size_t>(bytes_.size(), 8 << 20));
  png_read_info(png_, info_);
  if (!accept_header()) return false;

  if (bit_depth_ < 8) png_set_packing(png_);  // one sample per byte, values unchanged
  png_set_interlace_handling(png_);
  png_read_update_info(png_, info_);
  prepare_conversion();
  read_rows();
  pixels_done_ = true;
  read_orientation(info_);
  png_read_end(png_, end_info_);
  read_orientation(end_info_);
  return true;
}

bool PngDecoder::accept_header() {
  width_ = png_get_image_width(png_, info_);
  height_ = png_get_image_height(png_, info_);
  bit_depth_ = png_get_bit_depth(png_, info_);
  color_type_ = png_get_color_type(png_, info_);
  const Status size = check_image_size(width_, height_, options_, name_, "PNG");
  if (!size.ok()) {
    size_error_ = size.error();
    size_rejected_ = true;
    return false;
  }
  if (color_type_ == PNG_COLOR_TYPE_PALETTE) {
    png_colorp palette = nullptr;
    int n_colors = 0;
    if (png_get_PLTE(png_, info_, &palette, &n_colors) == 0) {
      failure_ = "palette image without a PLTE chunk";
      return false;
    }
  }
  return true;
}

void PngDecoder::prepare_conversion() {
  row_bytes_ = png_get_rowbytes(png_, info_);
  decoded_.rgb.width = width_;
  decoded_.rgb.height = height_;
  decoded_.rgb.pixels.resize(decoded_.rgb.row_bytes() * height_);

  const bool wide = bit_depth_ == 16;
  sample_bytes_ = wide ? 2 : 1;
  switch (color_type_) {
    case PNG_COLOR_TYPE_GRAY: decoded_.pillow_mode = bit_depth_ == 1 ? "1" : (wide ? "I" : "L"); break;
    case PNG_COLOR_TYPE_RGB: channels_ = 3; decoded_.pillow_mode = "RGB"; break;
    case PNG_COLOR_TYPE_PALETTE: decoded_.pillow_mode = "P"; break;
    case PNG_COLOR_TYPE_GRAY_ALPHA: channels_ = 2; decoded_.pillow_mode = wide ? "RGBA" : "LA"; break;
    case PNG_COLOR_TYPE_RGB_ALPHA: channels_ = 4; decoded_.pillow_mode = "RGBA"; break;
    default: break;
  }
  if (color_type_ == PNG_COLOR_TYPE_GRAY && bit_depth_ < 8) gray_scale_ = 255 / ((1 << bit_depth_) - 1);
  if (color_type_ == PNG_COLOR_TYPE_PALETTE) {
    // Pillow's palette starts as a grayscale ramp and the PLTE entries overwrite its start.
    for (int i = 0; i < 256; ++i) {
      const auto level = static_cast<std::uint8_t>(i);
      palette_rgb_[static_cast<std::size_t>(i)] = {level, level, level};
    }
    png_colorp palette = nullptr;
    int n_colors = 0;
    png_get_PLTE(png_, info_, &palette, &n_colors);
    for (int i = 0; i < n_colors && i < 256; ++i) {
      palette_rgb_[static_cast<std::size_t>(i)] = {palette[i].red, palette[i].green, palette[i].blue};
    }
  }
}

void PngDecoder::read_rows() {
  RgbImage& rgb = decoded_.rgb;
  if (png_get_interlace_type(png_, info_) == PNG_INTERLACE_NONE) {
    // One row at a time; 8-bit RGB rows go straight into the image.
    const bool direct = color_type_ == PNG_COLOR_TYPE_RGB && bit_depth_ == 8;
    samples_.resize(direct ? 0 : row_bytes_);
    for (png_uint_32 y = 0; y < height_; ++y) {
      if (direct) {
        png_read_row(png_, rgb.row(y), nullptr);
      } else {
        png_read_row(png_, samples_.data(), nullptr);
        convert_row(samples_.data(), rgb.row(y));
      }
    }
    return;
  }
  // Adam7 passes fill every row several times, so the whole image is decoded first.
  samples_.resize(row_bytes_ * height_);
  row_pointers_.resize(height_);
  for (png_uint_32 y = 0; y < height_; ++y) row_pointers_[y] = samples_.data() + y * row_bytes_;
  png_read_image(png_, row_pointers_.data());
  for (png_uint_32 y = 0; y < height_; ++y) convert_row(row_pointers_[y], rgb.row(y));
}

void PngDecoder::convert_row(const std::uint8_t* in, std::uint8_t* out) const {
  for (png_uint_32 x = 0; x < width_; ++x) {
    const std::uint8_t* pixel = in + x * channels_ * sample_bytes_;
    if (color_type_ == PNG_COLOR_TYPE_PALETTE) {
      std::memcpy(out + 3 * x, palette_rgb_[pixel[0]].data(), 3);
    } else if (channels_ <= 2) {
      std::uint8_t gray = 0;
      if (color_type_ == PNG_COLOR_TYPE_GRAY && sample_bytes_ == 2) {
        const int value = (pixel[0] << 8) | pixel[1];  // big-endian
        gray = static_cast<std::uint8_t>(value > 255 ? 255 : value);
      } else {
        gray = static_cast<std::uint8_t>(pixel[0] * gray_scale_);  // the high byte when 16 bit
      }
      out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = gray;
    } else {
      for (std::size_t c = 0; c < 3; ++c) out[3 * x + c] = pixel[c * sample_bytes_];
    }
  }
}

void PngDecoder::read_orientation(png_infop info) {
  png_uint_32 exif_size = 0;
  png_bytep exif = nullptr;
  if (!has_exif_chunk_ && png_get_eXIf_1(png_, info, &exif_size, &exif) != 0 && exif != nullptr) {
    has_exif_chunk_ = true;
    exif_chunk_orientation_ = exif_orientation({exif, exif_size});
  }
  png_textp texts = nullptr;
  int n_texts = 0;
  png_get_text(png_, info, &texts, &n_texts);
  for (int i = 0; i < n_texts; ++i) {
    const std::string_view key = texts[i].key != nullptr ? texts[i].key : "";
    const std::size_t length = texts[i].compression > 0 ? texts[i].itxt_length : texts[i].text_length;
    const std::string_view text(texts[i].text != nullptr ? texts[i].text : "", texts[i].text != nullptr ? length : 0);
    if (key == "Raw profile type exif" && !has_raw_profile_) {
      // ImageMagick's layout: "\nexif\n<length>\n" then the bytes in hex, wrapped; Pillow drops the
      // first three lines and reads the rest as hex, skipping whitespace.
      has_raw_profile_ = true;
      std::size_t start = 0;
      for (int line = 0; line < 3 && start != std::string_view::npos; ++line) {
        start = text.find('\n', start);
        if (start != std::string_view::npos) ++start;
      }
      if (start == std::string_view::npos) continue;
      std::vector<std::uint8_t> bytes;
      int high = -1;
      bool valid = true;
      for (std::size_t j = start; j < text.size() && valid; ++j) {
        const char c = text[j];
        int digit = -1;
        if (c >= '0' && c <= '9') digit = c - '0';
        else if (c >= 'a' && c <= 'f') digit = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') digit = c - 'A' + 10;
        else if (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f') continue;
        else valid = false;
        if (digit < 0) break;
        if (high < 0) {
          high = digit;
        } else {
          bytes.push_back(static_cast<std::uint8_t>(high * 16 + digit));
          high = -1;
        }
      }
      if (valid && high < 0) raw_profile_orientation_ = exif_orientation(bytes);
    } else if (key == "XML:com.adobe.xmp" && !xmp_orientation_) {
      xmp_orientation_ = xmp_orientation(text);
    }
  }
}

DecodedImage PngDecoder::finish() {
  decoded_.format = ImageFormat::kPng;
  if (has_exif_chunk_) {
    decoded_.exif_orientation = exif_chunk_orientation_.value_or(0);
  } else if (has_raw_profile_) {
    decoded_.exif_orientation = raw_profile_orientation_.value_or(0);
  }
  if (decoded_.exif_orientation == 0 && xmp_orientation_) decoded_.exif_orientation = *xmp_orientation_;
  return std::move(decoded_);
}

}  // namespace

Result<DecodedImage> decode_png(std::span<const std::uint8_t> bytes, const ImageLoadOptions& options,
                                const std::string& name) {
  PngDecoder decoder(bytes, options, name);
  return decoder.run();
}

}  // namespace glimpse::image_internal
