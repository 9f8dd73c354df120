// Image preprocessing steps that turn decoded pixels into the model's input tensor.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "glimpse/status.h"

namespace glimpse {

// OpenAI CLIP's normalization constants, which llava-hf's preprocessor_config.json uses.
inline constexpr std::array<float, 3> kClipMean = {0.48145466f, 0.4578275f, 0.40821073f};
inline constexpr std::array<float, 3> kClipStd = {0.26862954f, 0.26130258f, 0.27577711f};

// Rescales and normalizes an RGB uint8 image [height, width, 3] (HWC) into a float32 tensor
// [3, height, width] (CHW), bit for bit as transformers' CLIPImageProcessor does it with numpy:
// x = float32(u8 * (1/255) computed in double), then (x - mean) / std in float32.
Result<std::vector<float>> normalize_rgb_to_chw(std::span<const std::uint8_t> pixels, std::int64_t height,
                                                std::int64_t width, const std::array<float, 3>& mean,
                                                const std::array<float, 3>& std_dev);

}  // namespace glimpse
