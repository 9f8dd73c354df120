// The portable table: plain scalar loops, compiled without target-specific flags beyond the
// build's own. It is the fallback on CPUs without AVX2 and the reference the tests compare the
// SIMD tables with. Float dot products accumulate in float over 8 interleaved partial sums.
// Quantized ones sum each block's products exactly in int32, then scale by d_w * d_x in float.
#include <cmath>

#include "kernels/isa.h"

namespace glimpse::kernels {
namespace {

template <typename Load>
float dot_float(const float* x, std::int64_t n, Load load) {
  float partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  std::int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    for (int j = 0; j < 8; ++j) partial[j] += x[k + j] * load(k + j);
  }
  float total = ((partial[0] + partial[1]) + (partial[2] + partial[3])) +
                ((partial[4] + partial[5]) + (partial[6] + partial[7]));
  for (; k < n; ++k) total += x[k] * load(k);
  return total;
}

void matmul_f32(const float* w, std::int64_t rows, std::int64_t n, const float* x, std::int64_t m,
                float* y, std::int64_t ldy) {
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t r = 0; r < rows; ++r) {
      const float* row = w + r * n;
      y[i * ldy + r] = dot_float(x + i * n, n, [row](std::int64_t k) { return row[k]; });
    }
  }
}

void matmul_f16(const std::uint16_t* w, std::int64_t rows, std::int64_t n, const float* x, std::int64_t m,
                float* y, std::int64_t ldy) {
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::uint16_t* row = w + r * n;
      y[i * ldy + r] = dot_float(x + i * n, n, [row](std::int64_t k) { return f16_to_f32(row[k]); });
    }
  }
}

void matmul_bf16(const std::uint16_t* w, std::int64_t rows, std::int64_t n, const float* x,
                 std::int64_t m, float* y, std::int64_t ldy) {
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::uint16_t* row = w + r * n;
      y[i * ldy + r] = dot_float(x + i * n, n, [row](std::int64_t k) { return bf16_to_f32(row[k]); });
    }
  }
}

void matmul_q8_0(const BlockQ8_0* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                 std::int64_t m, float* y, std::int64_t ldy) {
  const std::int64_t nb = n / kQuantBlock;
  for (std::int64_t i = 0; i < m; ++i) {
    const std::int8_t* xq = x.q + i * n;
    const float* xd = x.d + i * nb;
    for (std::int64_t r = 0; r < rows; ++r) {
      const BlockQ8_0* row = w + r * nb;
      float total = 0.0f;
      for (std::int64_t b = 0; b < nb; ++b) {
        std::int32_t isum = 0;
        for (std::int64_t j = 0; j < kQuantBlock; ++j) isum += row[b].qs[j] * xq[b * kQuantBlock + j];
        total += f16_to_f32(row[b].d) * xd[b] * static_cast<float>(isum);
      }
      y[i * ldy + r] = total;
    }
  }
}

// The int32 dot product of one Q4_0 block's nibbles with 32 activations, offset of 8 included.
std::int32_t q4_block_dot(const std::uint8_t* qs, const std::int8_t* xb, std::int32_t xsum) {
  std::int32_t isum = 0;
  for (std::int64_t j = 0; j < kQuantBlock / 2; ++j) isum += (qs[j] & 0x0f) * xb[j] + (qs[j] >> 4) * xb[j + 16];
  return isum - 8 * xsum;
}

void matmul_q4_0(const BlockQ4_0* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                 std::int64_t m, float* y, std::int64_t ldy) {
  const std::int64_t nb = n / kQuantBlock;
  for (std::int64_t i = 0; i < m; ++i) {
    const std::int8_t* xq = x.q + i * n;
    const float* xd = x.d + i * nb;
    const std::int32_t* xsum = x.sum + i * nb;
    for (std::int64_t r = 0; r < rows; ++r) {
      const BlockQ4_0* row = w + r * nb;
      float total = 0.0f;
      for (std::int64_t b = 0; b < nb; ++b) {
        const std::int32_t isum = q4_block_dot(row[b].qs, xq + b * kQuantBlock, xsum[b]);
        total += f16_to_f32(row[b].d) * xd[b] * static_cast<float>(isum);
      }
      y[i * ldy + r] = total;
    }
  }
}

void matmul_q4_0x16(const BlockQ4_0x16* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                    std::int64_t m, float* y, std::int64_t ldy) {
  const std::int64_t nb = n / kQuantBlock;
  for (std::int64_t i = 0; i < m; ++i) {
    const std::int8_t* xq = x.q + i * n;
    const float* xd = x.d + i * nb;
    const std::int32_t* xsum = x.sum + i * nb;
    for (std::int64_t r = 0; r < rows; ++r) {
      const BlockQ4_0x16* group = w + (r / 16) * nb;
      const int slot = static_cast<int>(r % 16);
      float total = 0.0f;
      for (std::int64_t b = 0; b < nb; ++b) {
        std::uint8_t qs[kQuantBlock / 2];
        for (int j = 0; j < kQuantBlock / 2; ++j) qs[j] = q4_0x16_byte(group[b], slot, j);
        const std::int32_t isum = q4_block_dot(qs, xq + b * kQuantBlock, xsum[b]);
        total += f16_to_f32(group[b].d[slot]) * xd[b] * static_cast<float>(isum);
      }
      y[i * ldy + r] = total;
    }
  }
}

void matmul_q8_0x16(const BlockQ8_0x16* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                    std::int64_t m, float* y, std::int64_t ldy) {
  const std::int64_t nb = n / kQuantBlock;
  for (std::int64_t i = 0; i < m; ++i) {
    const std::int8_t* xq = x.q + i * n;
    const float* xd = x.d + i * nb;
    for (std::int64_t r = 0; r < rows; ++r) {
      const BlockQ8_0x16* group = w + (r / 16) * nb;
      const int slot = static_cast<int>(r % 16);
      float total = 0.0f;
      for (std::int64_t b = 0; b < nb; ++b) {
        std::int32_t isum = 0;
        for (int j = 0; j < kQuantBlock; ++j) isum += q8_0x16_value(group[b], slot, j) * xq[b * kQuantBlock + j];
        total += f16_to_f32(group[b].d[slot]) * xd[b] * static_cast<float>(isum);
      }
      y[i * ldy + r] = total;
    }
  }
}

void quantize_row(const float* x, std::int64_t n, std::int8_t* q, float* d, std::int32_t* sum) {
  for (std::int64_t b = 0; b < n / kQuantBlock; ++b) {
    const float* v = x + b * kQuantBlock;
    float amax = 0.0f;
    for (std::int64_t j = 0; j < kQuantBlock; ++j) amax = std::fmax(amax, std::fabs(v[j]));
    const float scale = amax / 127.0f;
    const float inverse = amax != 0.0f ? 127.0f / amax : 0.0f;
    std::int32_t total = 0;
    for (std::int64_t j = 0; j < kQuantBlock; ++j) {
      const auto value = static_cast<std::int8_t>(std::nearbyint(v[j] * inverse));
      q[b * kQuantBlock + j] = value;
      total += value;
    }
    d[b] = scale;
    sum[b] = total;
  }
}

// One Q4_K super-block with its scales, mins and 4-bit levels unpacked, in value order.
struct Q4KLevels {
  float d = 0.0f;
  float dmin = 0.0f;
  int scale[8] = {};
  int min[8] = {};
  std::uint8_t q[kSuperBlock] = {};
};

Q4KLevels unpack_q4_k(const BlockQ4_K& block) {
  Q4KLevels levels;
  levels.d = f16_to_f32(block.d);
  levels.dmin = f16_to_f32(block.dmin);
  for (int j = 0; j < 8; ++j) {
    q4_k_scale_min(block.scales, j, levels.scale[j], levels.min[j]);
    const std::uint8_t* qs = block.qs + 32 * (j / 2);
    for (int l = 0; l < 32; ++l) levels.q[32 * j + l] = j % 2 == 0 ? (qs[l] & 0x0f) : (qs[l] >> 4);
  }
  return levels;
}

Q4KLevels unpack_q4_kx16(const BlockQ4_Kx16& block, int slot) {
  Q4KLevels levels;
  levels.d = f16_to_f32(block.d[slot]);
  levels.dmin = f16_to_f32(block.dmin[slot]);
  for (int j = 0; j < 8; ++j) {
    levels.scale[j] = block.scales[j][slot];
    levels.min[j] = block.mins[j][slot];
    for (int l = 0; l < 32; ++l) {
      const std::uint8_t byte = block.qs[j / 2][l / 4][slot][l % 4];
      levels.q[32 * j + l] = j % 2 == 0 ? (byte & 0x0f) : (byte >> 4);
    }
  }
  return levels;
}

// Q4_K: sub-block j of super-block b is activation block 8b + j. Its value is
// d * sc * q - dmin * m, so the dot product is d * sc * sum(q * x) - dmin * m * sum(x).
// `unpack(r, b)` returns super-block b of weight row r.
template <typename Unpack>
void q4_k_matmul(std::int64_t rows, std::int64_t n, const QuantizedRows& x, std::int64_t m, float* y,
                 std::int64_t ldy, Unpack unpack) {
  const std::int64_t nsb = n / kSuperBlock;
  const std::int64_t nb = n / kQuantBlock;
  for (std::int64_t i = 0; i < m; ++i) {
    const std::int8_t* xq = x.q + i * n;
    const float* xd = x.d + i * nb;
    const std::int32_t* xsum = x.sum + i * nb;
    for (std::int64_t r = 0; r < rows; ++r) {
      float total = 0.0f;
      for (std::int64_t b = 0; b < nsb; ++b) {
        const Q4KLevels block = unpack(r, b);
        for (int j = 0; j < 8; ++j) {
          const std::int64_t a = b * 8 + j;
          std::int32_t isum = 0;
          for (int l = 0; l < 32; ++l) isum += block.q[32 * j + l] * xq[a * kQuantBlock + l];
          total += xd[a] * (block.d * static_cast<float>(block.scale[j] * isum) -
                            block.dmin * static_cast<float>(block.min[j] * xsum[a]));
        }
      }
      y[i * ldy + r] = total;
    }
  }
}

void matmul_q4_K(const BlockQ4_K* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                 std::int64_t m, float* y, std::int64_t ldy) {
  const std::int64_t nsb = n / kSuperBlock;
  q4_k_matmul(rows, n, x, m, y, ldy, [&](std::int64_t r, std::int64_t b) { return unpack_q4_k(w[r * nsb + b]); });
}

void matmul_q4_Kx16(const BlockQ4_Kx16* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                    std::int64_t m, float* y, std::int64_t ldy) {
  const std::int64_t nsb = n / kSuperBlock;
  q4_k_matmul(rows, n, x, m, y, ldy, [&](std::int64_t r, std::int64_t b) {
    return unpack_q4_kx16(w[(r / 16) * nsb + b], static_cast<int>(r % 16));
  });
}

// Q6_K: activation block 8b + t covers sub-blocks 2t and 2t + 1 of super-block b.
void matmul_q6_K(const BlockQ6_K* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                 std::int64_t m, float* y, std::int64_t ldy) {
  const std::int64_t nsb = n / kSuperBlock;
  const std::int64_t nb = n / kQuantBlock;
  for (std::int64_t i = 0; i < m; ++i) {
    const std::int8_t* xq = x.q + i * n;
    const float* xd = x.d + i * nb;
    for (std::int64_t r = 0; r < rows; ++r) {
      float total = 0.0f;
      for (std::int64_t b = 0; b < nsb; ++b) {
        const BlockQ6_K& block = w[r * nsb + b];
        const float d = f16_to_f32(block.d);
        for (int t = 0; t < 8; ++t) {
          std::int32_t isum = 0;
          for (int half = 0; half < 2; ++half) {
            const int sub = 2 * t + half;
            std::int32_t part = 0;
            for (int l = 0; l < 16; ++l) {
              const int v = 16 * sub + l;
              part += (q6_k_value(block, v) - 32) * xq[b * kSuperBlock + v];
            }
            isum += block.scales[sub] * part;
          }
          total += xd[b * 8 + t] * d * static_cast<float>(isum);
        }
      }
      y[i * ldy + r] = total;
    }
  }
}

void f16_to_f32_row(const std::uint16_t* in, std::int64_t n, float* out) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = f16_to_f32(in[i]);
}

void bf16_to_f32_row(const std::uint16_t* in, std::int64_t n, float* out) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(in[i]);
}

constexpr IsaKernels kPortable = {
    Isa::kPortable, "portable",    matmul_f32,   matmul_f16,     matmul_bf16,     matmul_q8_0,
    matmul_q4_0,    matmul_q4_0x16, matmul_q8_0x16, matmul_q4_K,  matmul_q6_K,    matmul_q4_Kx16,
    quantize_row,   f16_to_f32_row, bf16_to_f32_row, nullptr, nullptr, nullptr, nullptr, nullptr,
};

}  // namespace

const IsaKernels* portable_kernels() { return &kPortable; }

}  // namespace glimpse::kernels
