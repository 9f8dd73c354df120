// libFuzzer target: image decoding (JPEG, PNG, WebP, GIF, BMP, EXIF orientation) and both
// preprocessing modes on arbitrary bytes. A crash, sanitizer report or hang is a bug; an error
// result is an expected outcome. Invariants of a successful decode are checked with traps.
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "glimpse/image.h"
#include "glimpse/image_source.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace glimpse;
  ImageLoadOptions options;
  // Small images (up to 256 x 256 pixels) keep each run fast; the limit checks themselves are part
  // of what is fuzzed.
  options.max_pixels = 1 << 16;
  auto decoded = decode_image({data, size}, options, "fuzz input");
  if (!decoded.ok()) return 0;
  const RgbImage& rgb = decoded->rgb;
  if (rgb.width <= 0 || rgb.height <= 0 || rgb.width * rgb.height > options.max_pixels ||
      rgb.pixels.size() != static_cast<std::size_t>(rgb.width * rgb.height) * 3) {
    __builtin_trap();
  }

  const RgbImage upright = apply_exif_orientation(rgb, decoded->exif_orientation);
  if (upright.pixels.size() != rgb.pixels.size()) __builtin_trap();

  PreprocessConfig config = PreprocessConfig::llava15();
  config.set_square_size(24);
  config.max_pixels = options.max_pixels;  // also bounds the pad square of a long, thin image
  for (PreprocessMode mode : {PreprocessMode::kCrop, PreprocessMode::kPad}) {
    config.mode = mode;
    auto result = preprocess(upright, config);
    if (!result.ok()) continue;  // the pad square of an extreme aspect ratio may exceed max_pixels
    if (result->image.width != 24 || result->image.height != 24 || result->pixel_values.size() != 3u * 24 * 24) {
      __builtin_trap();
    }
    for (float value : result->pixel_values) {
      if (!std::isfinite(value)) __builtin_trap();
    }
  }
  return 0;
}
