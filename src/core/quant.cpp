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

namespace {

// Rounds to the nearest integer, ties to even, as ggml's nearest_int does for |value| < 2^22:
// adding 1.5 * 2^23 leaves the rounded integer in the low mantissa bits.
int nearest_int(float value) {
  const float shifted = value + 12582912.0f;
  std::int32_t bits;
  std::memcpy(&bits, &shifted, sizeof(bits));
  return (bits & 0x007fffff) - 0x00400000;
}

// Below this magnitude a group counts as all zeros (ggml's GROUP_MAX_EPS).
constexpr float kGroupMaxEps = 1e-15f;

// An asymmetric 4-bit fit of n values for Q4_K: finds scale and min so that
// x ~ scale * L + min with L in 0..nmax, minimising the weighted squared error. It starts from
// the range and tries nstep + 1 other scales around nmax / range, each with the least-squares
// scale and min for its rounding. Returns the scale and writes -min to `neg_min`. The order of
// every float operation follows ggml's make_qkx2_quants; the bytes depend on it.
float fit_scale_min(int n, int nmax, const float* x, const float* weights, std::uint8_t* levels, float& neg_min,
                    std::uint8_t* trial, float rmin, float rdelta, int nstep) {
  float min = x[0];
  float max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) levels[i] = 0;
    neg_min = -min;
    return 0.0f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    levels[i] = static_cast<std::uint8_t>(std::max(0, std::min(nmax, l)));
    float diff = scale * levels[i] + min - x[i];
    diff = diff * diff;
    best_error += weights[i] * diff;
  }
  for (int step = 0; step <= nstep; ++step) {
    iscale = (rmin + rdelta * step + nmax) / (max - min);
    float sum_l = 0;
    float sum_l2 = 0;
    float sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::max(0, std::min(nmax, nearest_int(iscale * (x[i] - min))));
      trial[i] = static_cast<std::uint8_t>(l);
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float det = sum_w * sum_l2 - sum_l * sum_l;
    if (det > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * trial[i] + this_min - x[i];
        diff = diff * diff;
        error += weights[i] * diff;
      }
      if (error < best_error) {
        for (int i = 0; i < n; ++i) levels[i] = trial[i];
        best_error = error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  neg_min = -min;
  return scale;
}

// A symmetric fit of n values for Q6_K: levels L in 0..2*nmax-1 stand for L - nmax, weighted by
// x^2. It starts from the scale that maps the value of largest magnitude to -nmax and tries 18
// scales around it, keeping the least-squares scale of the best rounding. The order of the float
// operations follows ggml's make_qx_quants with rmse_type 1.
float fit_symmetric(int n, int nmax, const float* x, std::int8_t* levels) {
  float max = 0;
  float amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) levels[i] = 0;
    return 0.0f;
  }
  auto level = [nmax](float scaled) { return std::max(-nmax, std::min(nmax - 1, nearest_int(scaled))); };

  float iscale = -nmax / max;
  float sum_lx = 0;
  float sum_l2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = level(iscale * x[i]);
    levels[i] = static_cast<std::int8_t>(l + nmax);
    const float w = x[i] * x[i];
    sum_lx += w * x[i] * l;
    sum_l2 += w * l * l;
  }
  float scale = sum_l2 != 0 ? sum_lx / sum_l2 : 0.0f;
  float best = scale * sum_lx;

  for (int step = -9; step <= 9; ++step) {
    if (step == 0) continue;
    iscale = -(nmax + 0.1f * step) / max;
    sum_lx = 0;
    sum_l2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = level(iscale * x[i]);
      const float w = x[i] * x[i];
      sum_lx += w * x[i] * l;
      sum_l2 += w * l * l;
    }
    if (sum_l2 > 0 && sum_lx * sum_lx > best * sum_l2) {
      for (int i = 0; i < n; ++i) levels[i] = static_cast<std::int8_t>(nmax + level(iscale * x[i]));
      scale = sum_lx / sum_l2;
      best = scale * sum_lx;
    }
  }
  return scale;
}

}  // namespace

void quantize_row_q4_K(const float* x, std::int64_t n, BlockQ4_K* out) {
  constexpr int kSubBlocks = kSuperBlock / 32;
  for (std::int64_t b = 0; b < n / kSuperBlock; ++b, x += kSuperBlock) {
    BlockQ4_K& block = out[b];
    std::uint8_t levels[kSuperBlock];
    std::uint8_t trial[32];
    float weights[32];
    float scales[kSubBlocks];
    float mins[kSubBlocks];
    float max_scale = 0;
    float max_min = 0;
    for (int j = 0; j < kSubBlocks; ++j) {
      const float* v = x + 32 * j;
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += v[l] * v[l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(v[l]);
      scales[j] = fit_scale_min(32, 15, v, weights, levels + 32 * j, mins[j], trial, -1.0f, 0.1f, 20);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    std::memset(block.scales, 0, sizeof(block.scales));
    for (int j = 0; j < kSubBlocks; ++j) {
      // ggml stores the rounded value in a byte before capping it at 63.
      const int ls = std::min(63, static_cast<int>(static_cast<std::uint8_t>(nearest_int(inv_scale * scales[j]))));
      const int lm = std::min(63, static_cast<int>(static_cast<std::uint8_t>(nearest_int(inv_min * mins[j]))));
      if (j < 4) {
        block.scales[j] = static_cast<std::uint8_t>(ls);
        block.scales[j + 4] = static_cast<std::uint8_t>(lm);
      } else {
        block.scales[j + 4] = static_cast<std::uint8_t>((ls & 0x0f) | ((lm & 0x0f) << 4));
        block.scales[j - 4] = static_cast<std::uint8_t>(block.scales[j - 4] | ((ls >> 4) << 6));
        block.scales[j] = static_cast<std::uint8_t>(block.scales[j] | ((lm >> 4) << 6));
      }
    }
    block.d = f32_to_f16(max_scale / 63.0f);
    block.dmin = f32_to_f16(max_min / 63.0f);
    // Requantize against the stored 6-bit scales and mins.
    for (int j = 0; j < kSubBlocks; ++j) {
      int sc = 0;
      int m = 0;
      q4_k_scale_min(block.scales, j, sc, m);
      const float d = f16_to_f32(block.d) * sc;
      if (d == 0.0f) continue;
      const float dm = f16_to_f32(block.dmin) * m;
      for (int l = 0; l < 32; ++l) {
        levels[32 * j + l] = static_cast<std::uint8_t>(std::max(0, std::min(15, nearest_int((x[32 * j + l] + dm) / d))));
      }
    }
    for (int p = 0; p < 4; ++p) {
      for (int l = 0; l < 32; ++l) {
        block.qs[32 * p + l] = static_cast<std::uint8_t>(levels[64 * p + l] | (levels[64 * p + 32 + l] << 4));
      }
    }
  }
}

void quantize_row_q6_K(const float* x, std::int64_t n, BlockQ6_K* out) {
  constexpr int kSubBlocks = kSuperBlock / 16;
  for (std::int64_t b = 0; b < n / kSuperBlock; ++b, x += kSuperBlock) {
    BlockQ6_K& block = out[b];
    std::int8_t levels[kSuperBlock];
    float scales[kSubBlocks];
    float max_scale = 0;
    float max_abs_scale = 0;
    for (int j = 0; j < kSubBlocks; ++j) {
      scales[j] = fit_symmetric(16, 32, x + 16 * j, levels + 16 * j);
      const float abs_scale = std::fabs(scales[j]);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scales[j];
      }
    }
    std::memset(&block, 0, sizeof(block));
    if (max_abs_scale < kGroupMaxEps) continue;  // d = 0 and every scale 0
    const float iscale = -128.0f / max_scale;
    block.d = f32_to_f16(1 / iscale);
    for (int j = 0; j < kSubBlocks; ++j) {
      block.scales[j] = static_cast<std::int8_t>(std::min(127, nearest_int(iscale * scales[j])));
    }
    // Requantize against the stored 8-bit scales.
    for (int j = 0; j < kSubBlocks; ++j) {
      const float d = f16_to_f32(block.d) * block.scales[j];
      if (d == 0.0f) continue;
      for (int l = 0; l < 16; ++l) {
        const int q = std::max(-32, std::min(31, nearest_int(x[16 * j + l] / d)));
        levels[16 * j + l] = static_cast<std::int8_t>(q + 32);
      }
    }
    for (int half = 0; half < 2; ++half) {
      const std::int8_t* v = levels + 128 * half;
      std::uint8_t* ql = block.ql + 64 * half;
      std::uint8_t* qh = block.qh + 32 * half;
      for (int l = 0; l < 32; ++l) {
        ql[l] = static_cast<std::uint8_t>((v[l] & 0x0f) | ((v[l + 64] & 0x0f) << 4));
        ql[l + 32] = static_cast<std::uint8_t>((v[l + 32] & 0x0f) | ((v[l + 96] & 0x0f) << 4));
        qh[l] = static_cast<std::uint8_t>((v[l] >> 4) | ((v[l + 32] >> 4) << 2) | ((v[l + 64] >> 4) << 4) |
                                          ((v[l + 96] >> 4) << 6));
      }
    }
  }
}

void dequantize_row_q4_K(const BlockQ4_K* blocks, std::int64_t n, float* out) {
  for (std::int64_t b = 0; b < n / kSuperBlock; ++b) {
    const BlockQ4_K& block = blocks[b];
    const float d = f16_to_f32(block.d);
    const float dmin = f16_to_f32(block.dmin);
    for (int j = 0; j < kSuperBlock / 32; ++j) {
      int sc = 0;
      int m = 0;
      q4_k_scale_min(block.scales, j, sc, m);
      const float scale = d * sc;
      const float min = dmin * m;
      const std::uint8_t* qs = block.qs + 32 * (j / 2);
      for (int l = 0; l < 32; ++l) {
        const int q = j % 2 == 0 ? (qs[l] & 0x0f) : (qs[l] >> 4);
        *out++ = scale * q - min;
      }
    }
  }
}

void repack_q4_Kx16(const BlockQ4_K* in, std::int64_t rows, std::int64_t nsb, BlockQ4_Kx16* out) {
  for (std::int64_t group = 0; group < rows / 16; ++group) {
    for (std::int64_t b = 0; b < nsb; ++b) {
      BlockQ4_Kx16& packed = out[group * nsb + b];
      for (int r = 0; r < 16; ++r) {
        const BlockQ4_K& block = in[(group * 16 + r) * nsb + b];
        packed.d[r] = block.d;
        packed.dmin[r] = block.dmin;
        for (int j = 0; j < 8; ++j) {
          int sc = 0;
          int mn = 0;
          q4_k_scale_min(block.scales, j, sc, mn);
          packed.scales[j][r] = static_cast<std::uint8_t>(sc);
          packed.mins[j][r] = static_cast<std::uint8_t>(mn);
        }
        for (int p = 0; p < 4; ++p) {
          for (int l = 0; l < 32; ++l) packed.qs[p][l / 4][r][l % 4] = block.qs[32 * p + l];
        }
      }
    }
  }
}

void dequantize_q4_Kx16_slot(const BlockQ4_Kx16& block, int row, float* out) {
  const float d = f16_to_f32(block.d[row]);
  const float dmin = f16_to_f32(block.dmin[row]);
  for (int j = 0; j < 8; ++j) {
    const float scale = d * block.scales[j][row];
    const float min = dmin * block.mins[j][row];
    for (int l = 0; l < 32; ++l) {
      const std::uint8_t byte = block.qs[j / 2][l / 4][row][l % 4];
      const int q = j % 2 == 0 ? (byte & 0x0f) : (byte >> 4);
      *out++ = scale * q - min;
    }
  }
}

void dequantize_row_q6_K(const BlockQ6_K* blocks, std::int64_t n, float* out) {
  for (std::int64_t b = 0; b < n / kSuperBlock; ++b) {
    const BlockQ6_K& block = blocks[b];
    const float d = f16_to_f32(block.d);
    for (int v = 0; v < kSuperBlock; ++v) *out++ = d * block.scales[v / 16] * (q6_k_value(block, v) - 32);
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
  } else if (dtype == DType::kQ4_K) {
    quantize_row_q4_K(x, n, static_cast<BlockQ4_K*>(out));
  } else if (dtype == DType::kQ6_K) {
    quantize_row_q6_K(x, n, static_cast<BlockQ6_K*>(out));
  }
}

bool is_file_quant_type(DType dtype) {
  return dtype == DType::kQ8_0 || dtype == DType::kQ4_0 || dtype == DType::kQ4_K || dtype == DType::kQ6_K;
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
  if (lower == "q4_k") {
    dtype = DType::kQ4_K;
    return true;
  }
  if (lower == "q6_k") {
    dtype = DType::kQ6_K;
    return true;
  }
  return false;
}

}  // namespace glimpse
