// Rescale and normalize: uint8 HWC pixels to the float32 CHW tensor of transformers'
// CLIPImageProcessor.
#include <string>

#include "glimpse/image.h"
#include "image/normalize.h"

namespace glimpse {
namespace image_internal {

NormalizationTable make_normalization_table(bool do_rescale, double rescale_factor, bool do_normalize,
                                            const std::array<float, 3>& mean, const std::array<float, 3>& std_dev) {
  NormalizationTable table{};
  for (std::size_t c = 0; c < 3; ++c) {
    for (int value = 0; value < 256; ++value) {
      // numpy multiplies the uint8 array by a Python float in float64, then casts to float32;
      // normalize then subtracts and divides in float32, as two separate roundings.
      float x = static_cast<float>(value);
      if (do_rescale) x = static_cast<float>(static_cast<double>(value) * rescale_factor);
      if (do_normalize) x = (x - mean[c]) / std_dev[c];
      table[c][static_cast<std::size_t>(value)] = x;
    }
  }
  return table;
}

void hwc_to_chw(std::span<const std::uint8_t> pixels, std::int64_t plane_size, const NormalizationTable& table,
                float* out) {
  const auto plane = static_cast<std::size_t>(plane_size);
  float* red = out;
  float* green = out + plane;
  float* blue = out + 2 * plane;
  for (std::size_t i = 0; i < plane; ++i) {
    red[i] = table[0][pixels[3 * i]];
    green[i] = table[1][pixels[3 * i + 1]];
    blue[i] = table[2][pixels[3 * i + 2]];
  }
}

}  // namespace image_internal

Result<std::vector<float>> normalize_rgb_to_chw(std::span<const std::uint8_t> pixels, std::int64_t height,
                                                std::int64_t width, const std::array<float, 3>& mean,
                                                const std::array<float, 3>& std_dev) {
  if (height <= 0 || width <= 0 || height > (1 << 16) || width > (1 << 16) ||
      static_cast<std::int64_t>(pixels.size()) != height * width * 3) {
    return make_error(ErrorCode::kInvalidArgument,
                      "RGB image of " + std::to_string(height) + "x" + std::to_string(width) + " needs " +
                          std::to_string(height * width * 3) + " bytes, got " + std::to_string(pixels.size()));
  }
  const image_internal::NormalizationTable table =
      image_internal::make_normalization_table(true, 1.0 / 255.0, true, mean, std_dev);
  std::vector<float> out(static_cast<std::size_t>(height * width * 3));
  image_internal::hwc_to_chw(pixels, height * width, table, out.data());
  return out;
}

}  // namespace glimpse
