// Scalar quantizers in ggml's reference arithmetic: the scale is computed in float32, stored as
// f16 (round to nearest even), and the values are multiplied by the inverse of the unrounded
// scale. CMake compiles this file with -ffp-contract=off: a fused multiply-add in Q4_0's
// `x * id + 8.5f` rounds differently from ggml and changes a nibble now and then.
#include "glimpse/quant.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <string>

namespace glimpse {

void quantize_row_q8_0(const float* x, std::int64_t n, BlockQ8_0* out) {
  for (std::int64_t b = 0; b < n / kQuantBlock; ++b) {
    const float* v = x + b * kQuantBlock;
    float amax = 0.0f;
    for (std::int64_t j = 0; j < kQuantBlock; ++j) amax = std::max(amax, std::fabs(v[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = f32_to_f16(d);
    for (std::int64_t j = 0; j < kQuantBlock; ++j) {
      out[b].qs[j] = static_cast<std::int8_t>(std::round(v[j] * id));
    }
  }
}

void quantize_row_q4_0(const float* x, std::int64_t n, BlockQ4_0* out) {
  for (std::int64_t b = 0; b < n / kQuantBlock; ++b) {
    const float* v = x + b * kQuantBlock;
    // The scale maps the value of largest magnitude, with its sign, to -8.
    float amax = 0.0f;
    float max = 0.0f;
    for (std::int64_t j = 0; j < kQuantBlock; ++j) {
      if (amax < std::fabs(v[j])) {
        amax = std::fabs(v[j]);
        max = v[j];
      }
    }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    out[b].d = f32_to_f16(d);
    for (std::int64_t j = 0; j < kQuantBlock / 2; ++j) {
      // Truncation toward zero of value + 8.5 rounds to the nearest nibble; 15 caps +8.
      const int lo = std::min(15, static_cast<int>(static_cast<std::int8_t>(v[j] * id + 8.5f)));
      const int hi = std::min(15, static_cast<int>(static_cast<std::int8_t>(v[j + 16] * id + 8.5f)));
      out[b].qs[j] = static_cast<std::uint8_t>(lo | (hi << 4));
    }
  }
}

void dequantize_row_q8_0(const BlockQ8_0* blocks, std::int64_t n, float* out) {
  for (std::int64_t b = 0; b < n / kQuantBlock; ++b) {
    const float d = f16_to_f32(blocks[b].d);
    for (std::int64_t j = 0; j < kQuantBlock; ++j) out[b * kQuantBlock + j] = d * blocks[b].qs[j];
  }
}

void dequantize_row_q4_0(const BlockQ4_0* blocks, std::int64_t n, float* out) {
  for (std::int64_t b = 0; b < n / kQuantBlock; ++b) {
    const float d = f16_to_f32(blocks[b].d);
    for (std::int64_t j = 0; j < kQuantBlock / 2; ++j) {
      out[b * kQuantBlock + j] = d * static_cast<float>((blocks[b].qs[j] & 0x0f) - 8);
      out[b * kQuantBlock + j + 16] = d * static_cast<float>((blocks[b].qs[j] >> 4) - 8);
    }
  }
}

void repack_q4_0x16(const BlockQ4_0* in, std::int64_t rows, std::int64_t nb, BlockQ4_0x16* out) {
  for (std::int64_t group = 0; group < rows / 16; ++group) {
    for (std::int64_t b = 0; b < nb; ++b) {
      BlockQ4_0x16& packed = out[group * nb + b];
      for (int r = 0; r < 16; ++r) {
        const BlockQ4_0& block = in[(group * 16 + r) * nb + b];
        packed.d[r] = block.d;
        for (int g = 0; g < 4; ++g) std::memcpy(packed.qs[g][r], block.qs + 4 * g, 4);
      }
    }
  }
}

void repack_q8_0x16(const BlockQ8_0* in, std::int64_t rows, std::int64_t nb, BlockQ8_0x16* out) {
  for (std::int64_t group = 0; group < rows / 16; ++group) {
    for (std::int64_t b = 0; b < nb; ++b) {
      BlockQ8_0x16& packed = out[group * nb + b];
      for (int r = 0; r < 16; ++r) {
        const BlockQ8_0& block = in[(group * 16 + r) * nb + b];
        packed.d[r] = block.d;
        for (int j = 0; j < kQuantBlock; ++j) {
          packed.qs[j / 4][r][j % 4] = static_cast<std::uint8_t>(block.qs[j] + 128);
        }
      }
    }
  }
}

void quantize_row(DType dtype, const float* x, std::int64_t n, void* out) {
  if (dtype == DType::kQ8_0) {
    quantize_row_q8_0(x, n, static_cast<BlockQ8_0*>(out));
  } else if (dtype == DType::kQ4_0) {
    quantize_row_q4_0(x, n, static_cast<BlockQ4_0*>(out));
  }
}

bool parse_quant_type(std::string_view text, DType& dtype) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "q8_0") {
    dtype = DType::kQ8_0;
    return true;
  }
  if (lower == "q4_0") {
    dtype = DType::kQ4_0;
    return true;
  }
  return false;
}

}  // namespace glimpse
