// The AVX-512 table (F, BW, VL, DQ, VNNI). Decode-shaped calls (fewer than 4 activation rows)
// use the shared 256-bit loops with vpdpbusd; prefill-shaped calls use 512-bit tiles of 4
// activation rows by 4 weight rows. The quantized tiles take two blocks per 512-bit vector, so
// one vpdpbusd does 64 multiply-adds, and scale each pair of blocks with one multiply and one
// FMA. CMake compiles this file alone with these target flags.
#include <immintrin.h>

#include "kernels/isa.h"

namespace glimpse::kernels {
namespace {

#define GLIMPSE_ISA_VNNI 1
#include "kernels/isa_x86.inc"
#undef GLIMPSE_ISA_VNNI

// ---- float tiles ----------------------------------------------------------------------------

// 4 x rows by 4 float weight rows, 16 elements per step: 8 loads for 16 FMAs.
template <int NR>
void float_tile_512(const float* x, const float* w, std::int64_t n, float* y, std::int64_t ldy) {
  __m512 acc[4][NR];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_ps();
  std::int64_t k = 0;
  for (; k + 16 <= n; k += 16) {
    __m512 wv[NR];
    for (int j = 0; j < NR; ++j) wv[j] = _mm512_loadu_ps(w + j * n + k);
    for (int i = 0; i < 4; ++i) {
      const __m512 xv = _mm512_loadu_ps(x + i * n + k);
      for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  if (k < n) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (n - k)) - 1u);
    __m512 wv[NR];
    for (int j = 0; j < NR; ++j) wv[j] = _mm512_maskz_loadu_ps(mask, w + j * n + k);
    for (int i = 0; i < 4; ++i) {
      const __m512 xv = _mm512_maskz_loadu_ps(mask, x + i * n + k);
      for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < NR; ++j) y[i * ldy + j] = _mm512_reduce_add_ps(acc[i][j]);
}

void matmul_f32_512(const float* w, std::int64_t rows, std::int64_t n, const float* x, std::int64_t m,
                    float* y, std::int64_t ldy) {
  std::int64_t i = 0;
  for (; i + 4 <= m; i += 4) {
    std::int64_t r = 0;
    for (; r + 4 <= rows; r += 4) float_tile_512<4>(x + i * n, w + r * n, n, y + i * ldy + r, ldy);
    for (; r < rows; ++r) float_tile_512<1>(x + i * n, w + r * n, n, y + i * ldy + r, ldy);
  }
  if (i < m) matmul_f32_x86(w, rows, n, x + i * n, m - i, y + i * ldy, ldy);
}

// ---- quantized tiles ------------------------------------------------------------------------

// Lanes 0-7 hold a, lanes 8-15 hold b.
inline __m512 pair_scale(float a, float b) {
  return _mm512_insertf32x8(_mm512_set1_ps(a), _mm256_set1_ps(b), 1);
}

// Blocks b and b + 1 of an activation row as one vector; with `single`, only block b (the upper
// half is zero, so its products vanish).
inline __m512i load_acts(const std::int8_t* q, bool single) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
  if (single) return _mm512_zextsi256_si512(lo);
  return _mm512_loadu_si512(q);
}

inline __m512i load_q8_pair(const BlockQ8_0* block, bool single) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block[0].qs));
  if (single) return _mm512_zextsi256_si512(lo);
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo),
                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block[1].qs)), 1);
}

inline __m512i load_q4_pair(const BlockQ4_0* block, bool single) {
  const __m256i first = unpack_q4(block[0].qs);
  if (single) return _mm512_zextsi256_si512(first);
  return _mm512_inserti64x4(_mm512_castsi256_si512(first), unpack_q4(block[1].qs), 1);
}

// 4 activation rows by NR weight rows, two blocks per step.
//   Q8_0: x + 128 is the unsigned operand; 128 * (lane sums of w) is taken off again.
//   Q4_0: the nibbles are the unsigned operand; 8 * (lane sums of x) is taken off.
template <int NR, bool kQ4, typename Block>
void quant_tile_512(const Block* w, std::int64_t nb, const QuantizedRows& x, std::int64_t x_row, float* y,
                    std::int64_t ldy) {
  const std::int64_t n = nb * kQuantBlock;
  __m512 acc[4][NR];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < NR; ++j) acc[i][j] = _mm512_setzero_ps();
  const __m512i zero = _mm512_setzero_si512();
  for (std::int64_t b = 0; b < nb; b += 2) {
    const bool single = b + 1 == nb;
    __m512i wv[NR];
    __m512 ws[NR];
    __m512i w_offset[NR];
    for (int j = 0; j < NR; ++j) {
      const Block* block = w + j * nb + b;
      if constexpr (kQ4) {
        wv[j] = load_q4_pair(block, single);
      } else {
        wv[j] = load_q8_pair(block, single);
        w_offset[j] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(-128), wv[j]));
      }
      ws[j] = pair_scale(half_to_float(block[0].d), single ? 0.0f : half_to_float(block[1].d));
    }
    for (int i = 0; i < 4; ++i) {
      const std::int64_t row = x_row + i;
      const __m512i xv = load_acts(x.q + row * n + b * kQuantBlock, single);
      const float* xd = x.d + row * nb + b;
      const __m512 xs = pair_scale(xd[0], single ? 0.0f : xd[1]);
      if constexpr (kQ4) {
        const __m512i x_offset = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(8), xv));
        for (int j = 0; j < NR; ++j) {
          const __m512i sums = _mm512_dpbusd_epi32(x_offset, wv[j], xv);
          acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), _mm512_mul_ps(xs, ws[j]), acc[i][j]);
        }
      } else {
        const __m512i xu = _mm512_xor_si512(xv, _mm512_set1_epi8(-128));
        for (int j = 0; j < NR; ++j) {
          const __m512i sums = _mm512_dpbusd_epi32(w_offset[j], xu, wv[j]);
          acc[i][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), _mm512_mul_ps(xs, ws[j]), acc[i][j]);
        }
      }
    }
  }
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < NR; ++j) y[i * ldy + j] = _mm512_reduce_add_ps(acc[i][j]);
}

template <bool kQ4, typename Block>
void quant_matmul_512(const Block* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                      std::int64_t m, float* y, std::int64_t ldy) {
  const std::int64_t nb = n / kQuantBlock;
  std::int64_t i = 0;
  for (; i + 4 <= m; i += 4) {
    std::int64_t r = 0;
    for (; r + 4 <= rows; r += 4) quant_tile_512<4, kQ4>(w + r * nb, nb, x, i, y + i * ldy + r, ldy);
    for (; r < rows; ++r) quant_tile_512<1, kQ4>(w + r * nb, nb, x, i, y + i * ldy + r, ldy);
  }
  if (i == m) return;
  // The remaining 1-3 rows take the 256-bit loops, which start from the activation row pointers.
  const QuantizedRows rest{x.q + i * n, x.d + i * nb, x.sum + i * nb};
  if constexpr (kQ4) {
    quant_matmul<Q4Weights>(w, rows, n, rest, m - i, y + i * ldy, ldy);
  } else {
    quant_matmul<Q8Weights>(w, rows, n, rest, m - i, y + i * ldy, ldy);
  }
}

void matmul_q8_0_512(const BlockQ8_0* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                     std::int64_t m, float* y, std::int64_t ldy) {
  quant_matmul_512<false>(w, rows, n, x, m, y, ldy);
}
void matmul_q4_0_512(const BlockQ4_0* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                     std::int64_t m, float* y, std::int64_t ldy) {
  quant_matmul_512<true>(w, rows, n, x, m, y, ldy);
}

constexpr IsaKernels kAvx512 = {
    Isa::kAvx512,    "avx512",        matmul_f32_512,   matmul_f16_x86, matmul_bf16_x86,
    matmul_q8_0_512, matmul_q4_0_512, quantize_row_x86, f16_to_f32_x86, bf16_to_f32_x86,
};

}  // namespace

const IsaKernels* avx512_kernels() { return &kAvx512; }

}  // namespace glimpse::kernels
