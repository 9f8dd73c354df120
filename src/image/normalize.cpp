#include "glimpse/image.h"

#include <string>

namespace glimpse {

Result<std::vector<float>> normalize_rgb_to_chw(std::span<const std::uint8_t> pixels, std::int64_t height,
                                                std::int64_t width, const std::array<float, 3>& mean,
                                                const std::array<float, 3>& std_dev) {
  if (height <= 0 || width <= 0 || height > (1 << 16) || width > (1 << 16) ||
      static_cast<std::int64_t>(pixels.size()) != height * width * 3) {
    return make_error(ErrorCode::kInvalidArgument,
                      "RGB image of " + std::to_string(height) + "x" + std::to_string(width) + " needs " +
                          std::to_string(height * width * 3) + " bytes, got " + std::to_string(pixels.size()));
  }
  const std::int64_t plane = height * width;
  std::vector<float> out(static_cast<std::size_t>(plane * 3));
  for (std::int64_t i = 0; i < plane; ++i) {
    for (std::int64_t c = 0; c < 3; ++c) {
      const auto channel = static_cast<std::size_t>(c);
      // numpy multiplies uint8 by a Python float in float64, then casts to float32.
      const auto scaled = static_cast<float>(static_cast<double>(pixels[static_cast<std::size_t>(i * 3 + c)]) *
                                             (1.0 / 255.0));
      out[static_cast<std::size_t>(c * plane + i)] = (scaled - mean[channel]) / std_dev[channel];
    }
  }
  return out;
}

}  // namespace glimpse
