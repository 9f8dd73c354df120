// JPEG decoding with libjpeg-turbo, configured as Pillow 9.4 configures it.
//
// Pillow leaves libjpeg's defaults in place (islow integer IDCT, smooth "fancy" chroma
// upsampling) and only picks the output colour space: grayscale for 1 component, RGB for 3 and
// CMYK for 4, which it then reads as Adobe-inverted CMYK. A corrupt-data warning does not stop
// Pillow, but running out of data before the end marker does ("image file is truncated"); this
// decoder does the same.
#include <csetjmp>
#include <cstdio>  // jpeglib.h uses FILE and size_t without including their headers

#include <jpeglib.h>
#include <jerror.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "glimpse/log.h"
#include "image/decode.h"

namespace glimpse::image_internal {
namespace {

// libjpeg-turbo's djpeg and TurboJPEG stop progressive images at 500 scans by default; a crafted
// file with more can take minutes to decode while staying small.
constexpr int kMaxScans = 500;

// Holds the libjpeg state, so that nothing with a destructor lives in the function that calls
// setjmp() and no local variable changes between setjmp() and longjmp().
class JpegDecoder {
 public:
  JpegDecoder(std::span<const std::uint8_t> bytes, const ImageLoadOptions& options, const std::string& name)
      : bytes_(bytes), options_(options), name_(name) {
    std::memset(&cinfo_, 0, sizeof(cinfo_));
    std::memset(&errors_, 0, sizeof(errors_));
    std::memset(&progress_, 0, sizeof(progress_));
  }
  ~JpegDecoder() {
    if (created_) jpeg_destroy_decompress(&cinfo_);
  }
  JpegDecoder(const JpegDecoder&) = delete;
  JpegDecoder& operator=(const JpegDecoder&) = delete;

  Result<DecodedImage> run();

 private:
  // The error manager that libjpeg calls; `base` must come first so that libjpeg's pointer to it
  // is also a pointer to the whole struct.
  struct Errors {
    jpeg_error_mgr base;
    std::jmp_buf jump;
    JpegDecoder* decoder;
  };
  struct Progress {
    jpeg_progress_mgr base;
    JpegDecoder* decoder;
  };

  static void on_error_exit(j_common_ptr cinfo);
  static void on_message(j_common_ptr cinfo, int level);
  static void on_progress(j_common_ptr cinfo);
  // Stores `message` and returns to the setjmp() in decode_pixels(). Callers build the message
  // before the call, so that no temporary with a destructor is skipped by the jump.
  [[noreturn]] void fail(const char* message);

  // Everything between setjmp() and the last libjpeg call. Neither it nor the functions it calls
  // with libjpeg calls inside (read_rows) declare a local with a destructor, because a longjmp()
  // would skip it.
  bool decode_pixels();
  bool accept_header();
  void read_orientation();
  void read_rows();
  void convert_rows(const std::uint8_t* samples, std::int64_t first_row, std::int64_t n_rows);

  std::span<const std::uint8_t> bytes_;
  const ImageLoadOptions& options_;
  const std::string& name_;

  jpeg_decompress_struct cinfo_;
  Errors errors_;
  Progress progress_;
  bool created_ = false;

  std::string failure_;       // set before every longjmp
  bool size_rejected_ = false;
  Error size_error_;
  int warnings_ = 0;
  DecodedImage decoded_;
  std::vector<std::uint8_t> samples_;  // grayscale or CMYK rows before their conversion to RGB
  std::optional<int> orientation_;
};

void JpegDecoder::on_error_exit(j_common_ptr cinfo) {
  auto* errors = reinterpret_cast<Errors*>(cinfo->err);
  char text[JMSG_LENGTH_MAX];
  (*cinfo->err->format_message)(cinfo, text);
  errors->decoder->fail(text);
}

void JpegDecoder::on_message(j_common_ptr cinfo, int level) {
  if (level >= 0) return;  // trace messages
  auto* errors = reinterpret_cast<Errors*>(cinfo->err);
  // jpeg_mem_src reports running out of data as a warning and inserts a fake end marker.
  if (cinfo->err->msg_code == JWRN_JPEG_EOF) errors->decoder->fail("the data ends early (truncated file)");
  ++errors->decoder->warnings_;
}

void JpegDecoder::on_progress(j_common_ptr cinfo) {
  auto* progress = reinterpret_cast<Progress*>(cinfo->progress);
  const auto* decompress = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (decompress->input_scan_number > kMaxScans) progress->decoder->fail("more than 500 progressive scans");
}

void JpegDecoder::fail(const char* message) {
  failure_ = message;
  std::longjmp(errors_.jump, 1);
}

Result<DecodedImage> JpegDecoder::run() {
  if (!decode_pixels()) {
    if (size_rejected_) return size_error_;
    return invalid_data(name_, "JPEG", failure_);
  }
  if (warnings_ > 0) {
    log_message(LogLevel::kDebug, name_ + ": libjpeg reported " + std::to_string(warnings_) +
                                      " corrupt-data warnings; decoded anyway, as Pillow does");
  }
  decoded_.format = ImageFormat::kJpeg;
  decoded_.exif_orientation = orientation_.value_or(0);
  return std::move(decoded_);
}

bool JpegDecoder::decode_pixels() {
  cinfo_.err = jpeg_std_error(&errors_.base);
  errors_.base.error_exit = on_error_exit;
  errors_.base.emit_message = on_message;
  errors_.decoder = this;
  if (setjmp(errors_.jump) != 0) return false;

  jpeg_create_decompress(&cinfo_);
  created_ = true;
  progress_.base.progress_monitor = on_progress;
  progress_.decoder = this;
  cinfo_.progress = &progress_.base;
  jpeg_mem_src(&cinfo_, bytes_.data(), static_cast<unsigned long>(bytes_.size()));
  jpeg_save_markers(&cinfo_, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&cinfo_, TRUE);
  if (!accept_header()) return false;
  read_orientation();

  jpeg_start_decompress(&cinfo_);
  read_rows();
  // Reads on to the end marker, so a file cut anywhere before it fails as it does in Pillow.
  jpeg_finish_decompress(&cinfo_);
  return true;
}

bool JpegDecoder::accept_header() {
  const Status size = check_image_size(cinfo_.image_width, cinfo_.image_height, options_, name_, "JPEG");
  if (!size.ok()) {
    size_error_ = size.error();
    size_rejected_ = true;
    return false;
  }
  switch (cinfo_.num_components) {
    case 1: cinfo_.out_color_space = JCS_GRAYSCALE; return true;
    case 3: cinfo_.out_color_space = JCS_RGB; return true;
    case 4: cinfo_.out_color_space = JCS_CMYK; return true;
    default: break;
  }
  failure_ = std::to_string(cinfo_.num_components) + " colour components; Pillow and glimpse read 1, 3 or 4";
  return false;
}

void JpegDecoder::read_orientation() {
  // Pillow reads the first APP1 segment that starts with "Exif\0".
  for (jpeg_saved_marker_ptr marker = cinfo_.marker_list; marker != nullptr; marker = marker->next) {
    if (marker->marker == JPEG_APP0 + 1 && marker->data_length >= 5 && std::memcmp(marker->data, "Exif", 5) == 0) {
      orientation_ = exif_orientation({marker->data, marker->data_length});
      return;
    }
  }
}

void JpegDecoder::read_rows() {
  RgbImage& rgb = decoded_.rgb;
  rgb.width = cinfo_.output_width;
  rgb.height = cinfo_.output_height;
  rgb.pixels.resize(rgb.row_bytes() * static_cast<std::size_t>(rgb.height));
  if (cinfo_.output_components == 3) {
    // RGB rows go straight into the image.
    decoded_.pillow_mode = "RGB";
    while (cinfo_.output_scanline < cinfo_.output_height) {
      JSAMPROW row = rgb.row(cinfo_.output_scanline);
      jpeg_read_scanlines(&cinfo_, &row, 1);
    }
    return;
  }

  // Grayscale and CMYK rows are decoded a batch at a time, then converted.
  decoded_.pillow_mode = cinfo_.output_components == 1 ? "L" : "CMYK";
  constexpr int kBatchRows = 16;
  const std::size_t row_samples = static_cast<std::size_t>(cinfo_.output_width) * cinfo_.output_components;
  samples_.resize(row_samples * kBatchRows);
  JSAMPROW rows[kBatchRows];
  for (int i = 0; i < kBatchRows; ++i) rows[i] = samples_.data() + static_cast<std::size_t>(i) * row_samples;
  while (cinfo_.output_scanline < cinfo_.output_height) {
    const JDIMENSION first_row = cinfo_.output_scanline;
    const JDIMENSION n_rows = jpeg_read_scanlines(&cinfo_, rows, kBatchRows);
    convert_rows(samples_.data(), first_row, n_rows);
  }
}

void JpegDecoder::convert_rows(const std::uint8_t* samples, std::int64_t first_row, std::int64_t n_rows) {
  RgbImage& rgb = decoded_.rgb;
  const auto width = static_cast<std::size_t>(rgb.width);
  for (std::int64_t y = 0; y < n_rows; ++y) {
    std::uint8_t* out = rgb.row(first_row + y);
    if (cinfo_.output_components == 1) {
      const std::uint8_t* in = samples + static_cast<std::size_t>(y) * width;
      for (std::size_t x = 0; x < width; ++x) out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = in[x];
      continue;
    }
    // Pillow opens every 4-component JPEG as Adobe-inverted CMYK ("CMYK;I"), so its C, M, Y, K are
    // 255 minus libjpeg's samples. Its cmyk2rgb then computes R = (255 - K) - C * (255 - K) / 255
    // with a rounded division by 255, likewise G from M and B from Y.
    const std::uint8_t* in = samples + static_cast<std::size_t>(y) * width * 4;
    for (std::size_t x = 0; x < width; ++x) {
      const int not_k = in[4 * x + 3];  // 255 - Pillow's K
      for (std::size_t c = 0; c < 3; ++c) {
        const int t = (255 - in[4 * x + c]) * not_k + 128;
        const int value = not_k - (((t >> 8) + t) >> 8);
        out[3 * x + c] = static_cast<std::uint8_t>(std::clamp(value, 0, 255));
      }
    }
  }
}

}  // namespace

Result<DecodedImage> decode_jpeg(std::span<const std::uint8_t> bytes, const ImageLoadOptions& options,
                                 const std::string& name) {
  JpegDecoder decoder(bytes, options, name);
  return decoder.run();
}

}  // namespace glimpse::image_internal
