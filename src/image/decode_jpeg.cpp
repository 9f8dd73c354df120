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

  // Everything between setjmp() and the last libjpeg call. It declares no local with a
  // destructor, because a longjmp() would skip it.
  bool decode_pixels();
  bool accept_header();
  void read_orientation();
  DecodedImage to_rgb() const;

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
  std::vector<std::uint8_t> samples_;  // decoder output, width * height * components
  int components_ = 0;
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
  return to_rgb();
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
  components_ = cinfo_.output_components;
  const std::size_t row_bytes = static_cast<std::size_t>(cinfo_.output_width) * static_cast<std::size_t>(components_);
  samples_.resize(row_bytes * cinfo_.output_height);
  while (cinfo_.output_scanline < cinfo_.output_height) {
    JSAMPROW row = samples_.data() + static_cast<std::size_t>(cinfo_.output_scanline) * row_bytes;
    jpeg_read_scanlines(&cinfo_, &row, 1);
  }
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

DecodedImage JpegDecoder::to_rgb() const {
  DecodedImage decoded;
  decoded.format = ImageFormat::kJpeg;
  decoded.exif_orientation = orientation_.value_or(0);
  RgbImage& rgb = decoded.rgb;
  rgb.width = cinfo_.output_width;
  rgb.height = cinfo_.output_height;
  const std::size_t n_pixels = static_cast<std::size_t>(rgb.width * rgb.height);
  rgb.pixels.resize(n_pixels * 3);
  std::uint8_t* out = rgb.pixels.data();
  const std::uint8_t* in = samples_.data();

  if (components_ == 1) {
    decoded.pillow_mode = "L";
    for (std::size_t i = 0; i < n_pixels; ++i) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = in[i];
  } else if (components_ == 3) {
    decoded.pillow_mode = "RGB";
    std::memcpy(out, in, n_pixels * 3);
  } else {
    // Pillow opens every 4-component JPEG as Adobe-inverted CMYK ("CMYK;I"), so its C, M, Y, K are
    // 255 minus libjpeg's samples, then converts with cmyk2rgb: R = (255 - K) - C * (255 - K) / 255
    // with its rounded division by 255.
    decoded.pillow_mode = "CMYK";
    auto muldiv255 = [](int a, int b) {
      const int t = a * b + 128;
      return ((t >> 8) + t) >> 8;
    };
    for (std::size_t i = 0; i < n_pixels; ++i) {
      const int not_k = in[4 * i + 3];  // 255 - (255 - stored K)
      for (int c = 0; c < 3; ++c) {
        const int value = not_k - muldiv255(255 - in[4 * i + c], not_k);
        out[3 * i + c] = static_cast<std::uint8_t>(value < 0 ? 0 : (value > 255 ? 255 : value));
      }
    }
  }
  return decoded;
}

}  // namespace

Result<DecodedImage> decode_jpeg(std::span<const std::uint8_t> bytes, const ImageLoadOptions& options,
                                 const std::string& name) {
  JpegDecoder decoder(bytes, options, name);
  return decoder.run();
}

}  // namespace glimpse::image_internal
