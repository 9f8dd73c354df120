// Geometric operations on RgbImage: resize, center crop, pad to square, EXIF orientation.
#include <algorithm>
#include <string>
#include <utility>

#include "glimpse/image.h"
#include "image/resample.h"

namespace glimpse {
namespace {

std::string size_text(std::int64_t width, std::int64_t height) {
  return std::to_string(width) + "x" + std::to_string(height);
}

}  // namespace

RgbImage RgbImage::filled(std::int64_t width, std::int64_t height, std::array<std::uint8_t, 3> color) {
  RgbImage image;
  image.width = width;
  image.height = height;
  image.pixels.resize(static_cast<std::size_t>(width * height) * 3);
  for (std::size_t i = 0; i < image.pixels.size(); i += 3) std::copy_n(color.data(), 3, image.pixels.data() + i);
  return image;
}

Status validate_rgb_image(const RgbImage& image, const std::string& name) {
  if (image.width <= 0 || image.height <= 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      name + " has size " + size_text(image.width, image.height) + "; both sides must be positive");
  }
  // Sides up to 2^31 keep width * height * 3 below 2^63.
  constexpr std::int64_t kMaxSide = std::int64_t{1} << 31;
  if (image.width > kMaxSide || image.height > kMaxSide) {
    return make_error(ErrorCode::kInvalidArgument,
                      name + " has size " + size_text(image.width, image.height) + "; sides must be at most 2^31");
  }
  if (image.pixels.size() != static_cast<std::size_t>(image.width * image.height) * 3) {
    return make_error(ErrorCode::kInvalidArgument,
                      name + " of " + size_text(image.width, image.height) + " needs " +
                          std::to_string(image.width * image.height * 3) + " bytes of RGB, found " +
                          std::to_string(image.pixels.size()));
  }
  return {};
}

std::string_view resample_filter_name(ResampleFilter filter) {
  switch (filter) {
    case ResampleFilter::kNearest: return "nearest";
    case ResampleFilter::kLanczos: return "lanczos";
    case ResampleFilter::kBilinear: return "bilinear";
    case ResampleFilter::kBicubic: return "bicubic";
    case ResampleFilter::kBox: return "box";
    case ResampleFilter::kHamming: return "hamming";
  }
  return "unknown";
}

Result<RgbImage> resize_like_pillow(const RgbImage& image, std::int64_t width, std::int64_t height,
                                    ResampleFilter filter) {
  GLIMPSE_RETURN_IF_ERROR(validate_rgb_image(image, "image to resize"));
  if (width <= 0 || height <= 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "cannot resize to " + size_text(width, height) + ": both sides must be positive");
  }
  if (width == image.width && height == image.height) return image;
  const image_internal::ImageRows rows(image);
  return image_internal::resample_window(rows, width, height, filter, {0, 0, width, height});
}

Result<RgbImage> center_crop(const RgbImage& image, std::int64_t width, std::int64_t height) {
  GLIMPSE_RETURN_IF_ERROR(validate_rgb_image(image, "image to crop"));
  if (width <= 0 || height <= 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "cannot crop to " + size_text(width, height) + ": both sides must be positive");
  }
  if (width <= image.width && height <= image.height) {
    const std::int64_t top = (image.height - height) / 2;
    const std::int64_t left = (image.width - width) / 2;
    RgbImage out;
    out.width = width;
    out.height = height;
    out.pixels.resize(static_cast<std::size_t>(width * height) * 3);
    for (std::int64_t y = 0; y < height; ++y) {
      std::copy_n(image.row(top + y) + left * 3, out.row_bytes(), out.row(y));
    }
    return out;
  }

  // transformers pads a too-small image with zeros to max(image, crop) on each axis, centered with
  // ceil offsets, then crops that canvas with floor offsets.
  const std::int64_t canvas_height = std::max(image.height, height);
  const std::int64_t canvas_width = std::max(image.width, width);
  const std::int64_t pad_top = (canvas_height - image.height + 1) / 2;
  const std::int64_t pad_left = (canvas_width - image.width + 1) / 2;
  RgbImage canvas = RgbImage::filled(canvas_width, canvas_height, {0, 0, 0});
  for (std::int64_t y = 0; y < image.height; ++y) {
    std::copy_n(image.row(y), image.row_bytes(), canvas.row(pad_top + y) + pad_left * 3);
  }
  return center_crop(canvas, width, height);
}

RgbImage expand_to_square(const RgbImage& image, std::array<std::uint8_t, 3> background) {
  if (image.width == image.height) return image;
  const std::int64_t side = std::max(image.width, image.height);
  RgbImage square = RgbImage::filled(side, side, background);
  const std::int64_t left = (side - image.width) / 2;
  const std::int64_t top = (side - image.height) / 2;
  for (std::int64_t y = 0; y < image.height; ++y) {
    std::copy_n(image.row(y), image.row_bytes(), square.row(top + y) + left * 3);
  }
  return square;
}

RgbImage apply_exif_orientation(RgbImage image, int orientation) {
  if (orientation < 2 || orientation > 8 || image.pixels.empty()) return image;
  const std::int64_t w = image.width;
  const std::int64_t h = image.height;
  // Orientations 5-8 swap the axes.
  const bool swap_axes = orientation >= 5;
  RgbImage out;
  out.width = swap_axes ? h : w;
  out.height = swap_axes ? w : h;
  out.pixels.resize(image.pixels.size());
  for (std::int64_t y = 0; y < out.height; ++y) {
    std::uint8_t* dst = out.row(y);
    for (std::int64_t x = 0; x < out.width; ++x) {
      // (sx, sy): the stored pixel that appears at (x, y) once the image is upright.
      std::int64_t sx = x;
      std::int64_t sy = y;
      switch (orientation) {
        case 2: sx = w - 1 - x; break;                         // mirror left-right
        case 3: sx = w - 1 - x; sy = h - 1 - y; break;         // rotate 180
        case 4: sy = h - 1 - y; break;                         // mirror top-bottom
        case 5: sx = y; sy = x; break;                         // transpose
        case 6: sx = y; sy = h - 1 - x; break;                 // rotate 90 clockwise
        case 7: sx = w - 1 - y; sy = h - 1 - x; break;         // transverse
        case 8: sx = w - 1 - y; sy = x; break;                 // rotate 90 counter-clockwise
        default: break;
      }
      std::copy_n(image.row(sy) + sx * 3, 3, dst + x * 3);
    }
  }
  return out;
}

}  // namespace glimpse
