// Internal: rescale and normalize through a lookup table. Each output value depends only on the
// channel and the uint8 input, so 3 x 256 precomputed floats give every value bit for bit.
#pragma once

#include <array>
#include <cstdint>
#include <span>

namespace glimpse::image_internal {

using NormalizationTable = std::array<std::array<float, 256>, 3>;

// Entry [c][v]: float32(v * rescale_factor computed in double) when rescaling, else float32(v);
// then (x - mean[c]) / std_dev[c] in float32 when normalizing.
NormalizationTable make_normalization_table(bool do_rescale, double rescale_factor, bool do_normalize,
                                            const std::array<float, 3>& mean, const std::array<float, 3>& std_dev);

// Writes the RGB HWC `pixels` (plane_size pixels) through `table` as three planes R, G, B of
// plane_size floats each into `out`.
void hwc_to_chw(std::span<const std::uint8_t> pixels, std::int64_t plane_size, const NormalizationTable& table,
                float* out);

}  // namespace glimpse::image_internal
