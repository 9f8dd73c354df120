// Pillow-exact image resizing, written for glimpse.
//
// transformers' CLIPImageProcessor resizes with Pillow, and LLaVA was trained on Pillow's pixels.
// No C++ imaging library reproduces Pillow's output bit for bit (they differ in kernel support,
// weight precision, rounding or pass order), so this file implements Pillow's arithmetic itself,
// as Pillow 9.4 to 12.x define it in src/libImaging/Resample.c:
//   * per output index i: center = (i + 0.5) * scale with scale = in / out; the kernel is
//     stretched by filterscale = max(scale, 1), which is the antialiasing on downscale;
//   * weights are computed in double, normalized by their sum, then rounded to signed 22-bit
//     fixed point (round half away from zero);
//   * the horizontal pass runs first and its result is rounded to uint8 before the vertical pass;
//     each output is (2^21 + sum(pixel * weight)) >> 22, clamped to 0-255.
// The double-precision steps must be evaluated exactly as written, so src/image/CMakeLists.txt
// compiles this file with -ffp-contract=off (a fused multiply-add rounds differently).
#include "image/resample.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

namespace glimpse::image_internal {
namespace {

constexpr int kPrecisionBits = 22;  // 32 bits minus 8 for the pixel minus 2 for overshoot
constexpr std::int32_t kRoundingHalf = std::int32_t{1} << (kPrecisionBits - 1);
constexpr std::int64_t kMaxPillowSize = std::numeric_limits<std::int32_t>::max();

struct Filter {
  double (*weight)(double x);
  double support;
};

double box_weight(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }

double bilinear_weight(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

double hamming_weight(double x) {
  if (x < 0.0) x = -x;
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * std::numbers::pi;
  // Pillow writes the window constants as float literals; they are promoted to double.
  return std::sin(x) / x * (0.54f + 0.46f * std::cos(x));
}

// Keys' cubic convolution with a = -0.5, in Pillow's order of operations.
double bicubic_weight(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x = x * std::numbers::pi;
  return std::sin(x) / x;
}

double lanczos_weight(double x) {
  if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
  return 0.0;
}

Result<Filter> filter_for(ResampleFilter filter) {
  switch (filter) {
    case ResampleFilter::kBox: return Filter{box_weight, 0.5};
    case ResampleFilter::kBilinear: return Filter{bilinear_weight, 1.0};
    case ResampleFilter::kHamming: return Filter{hamming_weight, 1.0};
    case ResampleFilter::kBicubic: return Filter{bicubic_weight, 2.0};
    case ResampleFilter::kLanczos: return Filter{lanczos_weight, 3.0};
    case ResampleFilter::kNearest: break;
  }
  return make_error(ErrorCode::kUnsupported,
                    "resampling filter '" + std::string(resample_filter_name(filter)) +
                        "' is not implemented; glimpse resizes with bicubic, bilinear, lanczos, box or hamming");
}

// The fixed-point weights of one axis, for the output indices [begin, begin + size).
struct AxisWeights {
  std::int64_t taps = 0;              // weights stored per output index (Pillow's ksize)
  std::vector<std::int64_t> first;    // first input index read by each output index
  std::vector<std::int32_t> count;    // input indices read, first .. first + count - 1
  std::vector<std::int32_t> weights;  // size * taps, zero past count
};

Error weight_overflow_error(std::int64_t in_size, std::int64_t out_size) {
  return make_error(ErrorCode::kInternal, "resampling " + std::to_string(in_size) + " to " + std::to_string(out_size) +
                                              " pixels gives weights too large for 32-bit sums");
}

Result<AxisWeights> compute_axis_weights(std::int64_t in_size, std::int64_t out_size, std::int64_t begin,
                                         std::int64_t size, const Filter& filter) {
  // Pillow passes the source box as float, so the input size is rounded to float first.
  const double scale = static_cast<double>(static_cast<float>(in_size)) / static_cast<double>(out_size);
  const double filterscale = std::max(scale, 1.0);
  const double support = filter.support * filterscale;
  const double inverse_filterscale = 1.0 / filterscale;

  AxisWeights axis;
  axis.taps = static_cast<std::int64_t>(std::ceil(support)) * 2 + 1;
  if (axis.taps > (std::int64_t{1} << 26) || size > (std::int64_t{1} << 40) / axis.taps) {
    return make_error(ErrorCode::kOutOfRange, "resampling " + std::to_string(in_size) + " to " +
                                                  std::to_string(out_size) + " pixels needs too many weights");
  }
  axis.first.resize(static_cast<std::size_t>(size));
  axis.count.resize(static_cast<std::size_t>(size));
  axis.weights.assign(static_cast<std::size_t>(size * axis.taps), 0);

  std::vector<double> row(static_cast<std::size_t>(axis.taps));
  for (std::int64_t i = 0; i < size; ++i) {
    const double center = (static_cast<double>(begin + i) + 0.5) * scale;
    // Pillow rounds the window ends by adding 0.5 and truncating toward zero.
    std::int64_t xmin = static_cast<std::int64_t>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    std::int64_t xmax = static_cast<std::int64_t>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    const std::int64_t n = std::clamp<std::int64_t>(xmax - xmin, 0, axis.taps);

    double sum = 0.0;
    for (std::int64_t x = 0; x < n; ++x) {
      const double w = filter.weight((static_cast<double>(x + xmin) - center + 0.5) * inverse_filterscale);
      row[static_cast<std::size_t>(x)] = w;
      sum += w;
    }
    std::int32_t* fixed = axis.weights.data() + i * axis.taps;
    std::int64_t sum_of_magnitudes = 0;
    for (std::int64_t x = 0; x < n; ++x) {
      double w = row[static_cast<std::size_t>(x)];
      if (sum != 0.0) w /= sum;
      const double scaled = w * static_cast<double>(std::int64_t{1} << kPrecisionBits);
      if (!(std::abs(scaled) < 2147483647.0)) return weight_overflow_error(in_size, out_size);
      fixed[x] = static_cast<std::int32_t>(w < 0 ? -0.5 + scaled : 0.5 + scaled);
      sum_of_magnitudes += std::abs(static_cast<std::int64_t>(fixed[x]));
    }
    // The 32-bit sums of the passes cannot overflow when 255 * sum(|weight|) + 2^21 < 2^31; the
    // filters above stay far below that (about 1.3 * 2^22 at most).
    if (sum_of_magnitudes > (std::int64_t{INT32_MAX} - kRoundingHalf) / 255) {
      return weight_overflow_error(in_size, out_size);
    }
    axis.first[static_cast<std::size_t>(i)] = xmin;
    axis.count[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(n);
  }
  return axis;
}

inline std::uint8_t clip_to_u8(std::int32_t accumulator) {
  // Arithmetic shift, as Pillow's lookup table of (accumulator >> 22) does.
  return static_cast<std::uint8_t>(std::clamp(accumulator >> kPrecisionBits, 0, 255));
}

// Filters one RGB row horizontally into `out` (axis.first.size() pixels). `planes` is scratch
// for the input columns that the weights read, split into R, G and B planes so that each weighted
// sum reads contiguous bytes.
void filter_row(const std::uint8_t* in, const AxisWeights& axis, std::uint8_t* out, std::vector<std::uint8_t>& planes) {
  const auto begin = static_cast<std::size_t>(axis.first.front());
  const auto width = static_cast<std::size_t>(axis.first.back() + axis.count.back()) - begin;
  planes.resize(width * 3);
  std::uint8_t* red = planes.data();
  std::uint8_t* green = red + width;
  std::uint8_t* blue = green + width;
  const std::uint8_t* pixel = in + begin * 3;
  for (std::size_t x = 0; x < width; ++x) {
    red[x] = pixel[3 * x];
    green[x] = pixel[3 * x + 1];
    blue[x] = pixel[3 * x + 2];
  }

  const std::size_t n_out = axis.first.size();
  for (std::size_t i = 0; i < n_out; ++i) {
    const std::int32_t* k = axis.weights.data() + i * static_cast<std::size_t>(axis.taps);
    const std::size_t first = static_cast<std::size_t>(axis.first[i]) - begin;
    const std::uint8_t* r = red + first;
    const std::uint8_t* g = green + first;
    const std::uint8_t* b = blue + first;
    const std::int32_t n = axis.count[i];
    std::int32_t sum_r = kRoundingHalf;
    std::int32_t sum_g = kRoundingHalf;
    std::int32_t sum_b = kRoundingHalf;
    for (std::int32_t j = 0; j < n; ++j) {
      sum_r += r[j] * k[j];
      sum_g += g[j] * k[j];
      sum_b += b[j] * k[j];
    }
    out[3 * i] = clip_to_u8(sum_r);
    out[3 * i + 1] = clip_to_u8(sum_g);
    out[3 * i + 2] = clip_to_u8(sum_b);
  }
}

// The rows the vertical pass reads, [begin, end) of the source, each `row_bytes` long: either the
// horizontally filtered rows or, when the width does not change, the source's own columns.
struct IntermediateRows {
  std::int64_t begin = 0;
  std::int64_t end = 0;
  std::size_t row_bytes = 0;
  std::vector<std::uint8_t> data;

  const std::uint8_t* row(std::int64_t y) const {
    return data.data() + static_cast<std::size_t>(y - begin) * row_bytes;
  }
};

// Runs the horizontal pass (or copies the window's columns when `horizontal` is null) over the
// source rows [begin, end).
IntermediateRows make_intermediate_rows(const RowSource& source, std::int64_t begin, std::int64_t end,
                                        const AxisWeights* horizontal, const OutputWindow& window) {
  IntermediateRows rows;
  rows.begin = begin;
  rows.end = end;
  rows.row_bytes = static_cast<std::size_t>(window.width) * 3;
  rows.data.resize(static_cast<std::size_t>(end - begin) * rows.row_bytes);

  std::vector<std::uint8_t> scratch(static_cast<std::size_t>(source.width()) * 3);
  std::vector<std::uint8_t> planes;
  std::int64_t previous_key = -1;
  for (std::int64_t y = begin; y < end; ++y) {
    std::uint8_t* out = rows.data.data() + static_cast<std::size_t>(y - begin) * rows.row_bytes;
    // Rows with the same key (the pad-mode background) give the same result: copy it.
    const std::int64_t key = source.row_key(y);
    if (key >= 0 && key == previous_key) {
      std::copy_n(out - rows.row_bytes, rows.row_bytes, out);
      continue;
    }
    previous_key = key;
    const std::uint8_t* in = source.row(y, scratch.data());
    if (horizontal != nullptr) {
      filter_row(in, *horizontal, out, planes);
    } else {
      std::copy_n(in + window.x * 3, rows.row_bytes, out);
    }
  }
  return rows;
}

void filter_columns(const IntermediateRows& rows, const AxisWeights& vertical, RgbImage& out) {
  const std::size_t row_bytes = rows.row_bytes;
  std::vector<std::int32_t> sums(row_bytes);
  for (std::size_t i = 0; i < vertical.first.size(); ++i) {
    const std::int32_t* k = vertical.weights.data() + i * static_cast<std::size_t>(vertical.taps);
    std::fill(sums.begin(), sums.end(), kRoundingHalf);
    for (std::int32_t j = 0; j < vertical.count[i]; ++j) {
      const std::uint8_t* in = rows.row(vertical.first[i] + j);
      const std::int32_t weight = k[j];
      for (std::size_t x = 0; x < row_bytes; ++x) sums[x] += in[x] * weight;
    }
    std::uint8_t* dst = out.row(static_cast<std::int64_t>(i));
    for (std::size_t x = 0; x < row_bytes; ++x) dst[x] = clip_to_u8(sums[x]);
  }
}

}  // namespace

SquarePadRows::SquarePadRows(const RgbImage& image, std::array<std::uint8_t, 3> background)
    : image_(image), background_(background), side_(std::max(image.width, image.height)) {
  left_ = (side_ - image.width) / 2;
  top_ = (side_ - image.height) / 2;
}

const std::uint8_t* SquarePadRows::row(std::int64_t y, std::uint8_t* scratch) const {
  const std::int64_t image_y = y - top_;
  const bool inside = image_y >= 0 && image_y < image_.height;
  if (inside && image_.width == side_) return image_.row(image_y);
  for (std::int64_t x = 0; x < side_; ++x) std::copy_n(background_.data(), 3, scratch + x * 3);
  if (inside) std::copy_n(image_.row(image_y), image_.row_bytes(), scratch + left_ * 3);
  return scratch;
}

std::int64_t SquarePadRows::row_key(std::int64_t y) const {
  const std::int64_t image_y = y - top_;
  return (image_y >= 0 && image_y < image_.height) ? -1 : 0;
}

Result<RgbImage> resample_window(const RowSource& source, std::int64_t out_width, std::int64_t out_height,
                                 ResampleFilter filter, const OutputWindow& window) {
  const std::int64_t in_width = source.width();
  const std::int64_t in_height = source.height();
  if (in_width <= 0 || in_height <= 0 || out_width <= 0 || out_height <= 0 || in_width > kMaxPillowSize ||
      in_height > kMaxPillowSize || out_width > kMaxPillowSize || out_height > kMaxPillowSize) {
    return make_error(ErrorCode::kInvalidArgument,
                      "cannot resize " + std::to_string(in_width) + "x" + std::to_string(in_height) + " to " +
                          std::to_string(out_width) + "x" + std::to_string(out_height) +
                          ": sizes must be between 1 and 2147483647");
  }
  if (window.width <= 0 || window.height <= 0 || window.x < 0 || window.y < 0 ||
      window.x > out_width - window.width || window.y > out_height - window.height) {
    return make_error(ErrorCode::kInternal, "resample window lies outside the output image");
  }
  // Pillow runs a pass only when its axis changes size, so an unchanged size is a plain copy.
  const bool need_horizontal = out_width != in_width;
  const bool need_vertical = out_height != in_height;
  Filter kernel{};
  if (need_horizontal || need_vertical) {
    GLIMPSE_ASSIGN_OR_RETURN(kernel, filter_for(filter));
  }

  AxisWeights horizontal;
  if (need_horizontal) {
    GLIMPSE_ASSIGN_OR_RETURN(horizontal, compute_axis_weights(in_width, out_width, window.x, window.width, kernel));
  }
  AxisWeights vertical;
  std::int64_t row_begin = window.y;
  std::int64_t row_end = window.y + window.height;
  if (need_vertical) {
    GLIMPSE_ASSIGN_OR_RETURN(vertical, compute_axis_weights(in_height, out_height, window.y, window.height, kernel));
    // Both window ends move monotonically with the output index, so the first and last output
    // rows bound the source rows that the vertical pass reads.
    row_begin = vertical.first.front();
    row_end = vertical.first.back() + vertical.count.back();
  }

  IntermediateRows rows =
      make_intermediate_rows(source, row_begin, row_end, need_horizontal ? &horizontal : nullptr, window);
  RgbImage out;
  out.width = window.width;
  out.height = window.height;
  if (!need_vertical) {
    out.pixels = std::move(rows.data);
    return out;
  }
  out.pixels.resize(static_cast<std::size_t>(out.width * out.height) * 3);
  filter_columns(rows, vertical, out);
  return out;
}

}  // namespace glimpse::image_internal
