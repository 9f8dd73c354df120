// Internal interface of the Pillow-exact resampler: resizing any window of the output, from an
// image that may be generated row by row (the pad-mode square is never stored whole).
#pragma once

#include <array>
#include <cstdint>

#include "glimpse/image.h"
#include "glimpse/status.h"

namespace glimpse::image_internal {

// An RGB image read one row at a time.
class RowSource {
 public:
  virtual ~RowSource() = default;
  virtual std::int64_t width() const = 0;
  virtual std::int64_t height() const = 0;
  // Returns row `y` (width * 3 bytes). `scratch` has room for one row and may be used to build it;
  // the pointer stays valid until the next call.
  virtual const std::uint8_t* row(std::int64_t y, std::uint8_t* scratch) const = 0;
  // Rows with the same non-negative key hold the same pixels, so their filtered result can be
  // reused; -1 means the row is unique.
  virtual std::int64_t row_key(std::int64_t y) const { return -1; }
};

// The rows of a stored RgbImage.
class ImageRows final : public RowSource {
 public:
  explicit ImageRows(const RgbImage& image) : image_(image) {}
  std::int64_t width() const override { return image_.width; }
  std::int64_t height() const override { return image_.height; }
  const std::uint8_t* row(std::int64_t y, std::uint8_t*) const override { return image_.row(y); }

 private:
  const RgbImage& image_;
};

// The rows of original LLaVA's expand2square result, generated on demand: `image` pasted at
// floor-centered offsets on a square of side max(width, height) filled with `background`.
class SquarePadRows final : public RowSource {
 public:
  SquarePadRows(const RgbImage& image, std::array<std::uint8_t, 3> background);
  std::int64_t width() const override { return side_; }
  std::int64_t height() const override { return side_; }
  const std::uint8_t* row(std::int64_t y, std::uint8_t* scratch) const override;
  std::int64_t row_key(std::int64_t y) const override;

 private:
  const RgbImage& image_;
  std::array<std::uint8_t, 3> background_;
  std::int64_t side_ = 0;
  std::int64_t left_ = 0;  // paste offset
  std::int64_t top_ = 0;
};

// A window of an output image: columns [x, x + width), rows [y, y + height).
struct OutputWindow {
  std::int64_t x = 0;
  std::int64_t y = 0;
  std::int64_t width = 0;
  std::int64_t height = 0;
};

// Resizes `source` to out_width x out_height with Pillow's arithmetic and returns only `window` of
// the result. Every output pixel depends only on its own row and column weights, so the window
// equals the same window cut from a full resize, byte for byte. Sizes up to 2^31 - 1 (Pillow's
// int) are accepted.
Result<RgbImage> resample_window(const RowSource& source, std::int64_t out_width, std::int64_t out_height,
                                 ResampleFilter filter, const OutputWindow& window);

}  // namespace glimpse::image_internal
