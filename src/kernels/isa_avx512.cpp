// The AVX-512 table (F, BW, VL, DQ, VNNI), all 512-bit: float tiles of 4 x rows by 4 weight rows
// for prefill, one x row by 4 weight rows for decode (f16 and bf16 widened in registers), and
// quantized tiles that take two blocks per vector, so one vpdpbusd does 64 multiply-adds and a
// pair of blocks is scaled with one multiply and one FMA. The 256-bit loops of isa_x86.inc
// remain for the float tiles of fewer than 4 x rows. CMake compiles this file alone with these
// target flags.
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

// Transposes a 16 x 16 float tile: out[c * out_stride + r] = in[r * in_stride + c].
inline void transpose_16x16(const float* in, std::int64_t in_stride, float* out, std::int64_t out_stride) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(in + i * in_stride);
  // Interleave pairs of rows, then pairs of pairs, then 128-bit lanes twice.
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm512_shuffle_f32x4(r[i], r[i + 4], _MM_SHUFFLE(2, 0, 2, 0));
    t[i + 4] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], _MM_SHUFFLE(2, 0, 2, 0));
    t[i + 8] = _mm512_shuffle_f32x4(r[i], r[i + 4], _MM_SHUFFLE(3, 1, 3, 1));
    t[i + 12] = _mm512_shuffle_f32x4(r[i + 8], r[i + 12], _MM_SHUFFLE(3, 1, 3, 1));
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 4], _MM_SHUFFLE(2, 0, 2, 0));
    r[i + 4] = _mm512_shuffle_f32x4(t[i + 8], t[i + 12], _MM_SHUFFLE(2, 0, 2, 0));
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 4], _MM_SHUFFLE(3, 1, 3, 1));
    r[i + 12] = _mm512_shuffle_f32x4(t[i + 8], t[i + 12], _MM_SHUFFLE(3, 1, 3, 1));
  }
  for (int i = 0; i < 16; ++i) _mm512_storeu_ps(out + i * out_stride, r[i]);
}

// Weight rows [0, rows) with rows <= 16, as a panel p[k * 16 + r] (rows past `rows` are zero).
void pack_panel(const float* w, std::int64_t rows, std::int64_t n, float* panel) {
  alignas(64) float tile[16 * 16];
  for (std::int64_t k = 0; k < n; k += 16) {
    const std::int64_t width = n - k < 16 ? n - k : 16;
    if (rows == 16 && width == 16) {
      transpose_16x16(w + k, n, panel + k * 16, 16);
      continue;
    }
    for (std::int64_t r = 0; r < 16; ++r) {
      for (std::int64_t c = 0; c < 16; ++c) tile[r * 16 + c] = r < rows && c < width ? w[r * n + k + c] : 0.0f;
    }
    transpose_16x16(tile, 16, tile, 16);
    for (std::int64_t c = 0; c < width; ++c) _mm512_storeu_ps(panel + (k + c) * 16, _mm512_load_ps(tile + c * 16));
  }
}

// MR x rows times a packed panel of 16 weight rows: each k broadcasts MR activations against
// one vector of 16 weights, so the loop is MR FMAs per weight load.
template <int MR>
void panel_kernel(const float* x, std::int64_t n, const float* panel, std::int64_t rows, float* y, std::int64_t ldy) {
  __m512 acc[MR];
  for (int i = 0; i < MR; ++i) acc[i] = _mm512_setzero_ps();
  for (std::int64_t k = 0; k < n; ++k) {
    const __m512 wv = _mm512_loadu_ps(panel + k * 16);
    for (int i = 0; i < MR; ++i) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(x[i * n + k]), wv, acc[i]);
  }
  const __mmask16 mask = static_cast<__mmask16>((1u << rows) - 1u);
  for (int i = 0; i < MR; ++i) _mm512_mask_storeu_ps(y + i * ldy, mask, acc[i]);
}

// Prefill-shaped products: 16 weight rows at a time are packed k-major once and multiplied by
// 12 x rows per kernel call. Fewer x rows take the 4 x 4 dot-product tiles or the 256-bit loops.
constexpr std::int64_t kPanelMinRows = 12;

void matmul_f32_512(const float* w, std::int64_t rows, std::int64_t n, const float* x, std::int64_t m,
                    float* y, std::int64_t ldy) {
  if (m >= kPanelMinRows) {
    struct PanelBuffer {
      float* data = nullptr;
      std::int64_t size = 0;
      ~PanelBuffer() { _mm_free(data); }
    };
    thread_local PanelBuffer buffer;
    if (buffer.size < n * 16) {
      _mm_free(buffer.data);
      buffer.data = static_cast<float*>(_mm_malloc(static_cast<std::size_t>(n * 16) * sizeof(float), 64));
      buffer.size = n * 16;
    }
    float* panel = buffer.data;
    for (std::int64_t r = 0; r < rows; r += 16) {
      const std::int64_t panel_rows = rows - r < 16 ? rows - r : 16;
      pack_panel(w + r * n, panel_rows, n, panel);
      std::int64_t i = 0;
      for (; i + 12 <= m; i += 12) panel_kernel<12>(x + i * n, n, panel, panel_rows, y + i * ldy + r, ldy);
      for (; i + 4 <= m; i += 4) panel_kernel<4>(x + i * n, n, panel, panel_rows, y + i * ldy + r, ldy);
      for (; i < m; ++i) panel_kernel<1>(x + i * n, n, panel, panel_rows, y + i * ldy + r, ldy);
    }
    return;
  }
  std::int64_t i = 0;
  for (; i + 4 <= m; i += 4) {
    std::int64_t r = 0;
    for (; r + 4 <= rows; r += 4) float_tile_512<4>(x + i * n, w + r * n, n, y + i * ldy + r, ldy);
    for (; r < rows; ++r) float_tile_512<1>(x + i * n, w + r * n, n, y + i * ldy + r, ldy);
  }
  if (i < m) matmul_f32_x86(w, rows, n, x + i * n, m - i, y + i * ldy, ldy);
}

// One x row against NR f16 or bf16 weight rows, 16 elements per step, converted in registers.
template <int NR, bool kBf16>
void half_row_tile_512(const float* x, const std::uint16_t* w, std::int64_t n, float* y) {
  auto widen = [](__m256i bits) {
    if constexpr (kBf16) {
      return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
    } else {
      return _mm512_cvtph_ps(bits);
    }
  };
  __m512 acc[NR];
  for (int j = 0; j < NR; ++j) acc[j] = _mm512_setzero_ps();
  std::int64_t k = 0;
  for (; k + 16 <= n; k += 16) {
    const __m512 xv = _mm512_loadu_ps(x + k);
    for (int j = 0; j < NR; ++j) {
      const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + j * n + k));
      acc[j] = _mm512_fmadd_ps(xv, widen(bits), acc[j]);
    }
  }
  if (k < n) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (n - k)) - 1u);
    const __m512 xv = _mm512_maskz_loadu_ps(mask, x + k);
    for (int j = 0; j < NR; ++j) {
      const __m256i bits = _mm256_maskz_loadu_epi16(mask, w + j * n + k);
      acc[j] = _mm512_fmadd_ps(xv, widen(bits), acc[j]);
    }
  }
  for (int j = 0; j < NR; ++j) y[j] = _mm512_reduce_add_ps(acc[j]);
}

template <bool kBf16>
void half_matmul_512(const std::uint16_t* w, std::int64_t rows, std::int64_t n, const float* x, std::int64_t m,
                     float* y, std::int64_t ldy) {
  for (std::int64_t i = 0; i < m; ++i) {
    std::int64_t r = 0;
    for (; r + 4 <= rows; r += 4) half_row_tile_512<4, kBf16>(x + i * n, w + r * n, n, y + i * ldy + r);
    for (; r < rows; ++r) half_row_tile_512<1, kBf16>(x + i * n, w + r * n, n, y + i * ldy + r);
  }
}

void matmul_f16_512(const std::uint16_t* w, std::int64_t rows, std::int64_t n, const float* x, std::int64_t m,
                    float* y, std::int64_t ldy) {
  half_matmul_512<false>(w, rows, n, x, m, y, ldy);
}
void matmul_bf16_512(const std::uint16_t* w, std::int64_t rows, std::int64_t n, const float* x, std::int64_t m,
                     float* y, std::int64_t ldy) {
  half_matmul_512<true>(w, rows, n, x, m, y, ldy);
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

// MR activation rows by NR weight rows, two blocks per step.
//   Q8_0 with several rows: x + 128 is the unsigned operand, and 128 * (lane sums of w) is taken
//   off again. With one row: |x| is the unsigned operand and w takes the sign of x.
//   Q4_0: the nibbles are the unsigned operand; 8 * (lane sums of x) is taken off.
template <int MR, int NR, bool kQ4, typename Block>
void quant_tile_512(const Block* w, std::int64_t nb, const QuantizedRows& x, std::int64_t x_row, float* y,
                    std::int64_t ldy) {
  constexpr bool kSignTrick = !kQ4 && MR == 1;
  const std::int64_t n = nb * kQuantBlock;
  __m512 acc[MR][NR];
  for (int i = 0; i < MR; ++i)
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
        if constexpr (!kSignTrick) {
          w_offset[j] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(-128), wv[j]));
        }
      }
      ws[j] = pair_scale(half_to_float(block[0].d), single ? 0.0f : half_to_float(block[1].d));
    }
    if constexpr (kSignTrick) {
      const __m512i xv = load_acts(x.q + x_row * n + b * kQuantBlock, single);
      const float* xd = x.d + x_row * nb + b;
      const __m512 xs = pair_scale(xd[0], single ? 0.0f : xd[1]);
      const __m512i magnitude = _mm512_abs_epi8(xv);
      const __mmask64 negative = _mm512_movepi8_mask(xv);
      for (int j = 0; j < NR; ++j) {
        const __m512i signed_w = _mm512_mask_sub_epi8(wv[j], negative, zero, wv[j]);
        const __m512i sums = _mm512_dpbusd_epi32(zero, magnitude, signed_w);
        acc[0][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), _mm512_mul_ps(xs, ws[j]), acc[0][j]);
      }
      continue;
    }
    for (int i = 0; i < MR; ++i) {
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
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) y[i * ldy + j] = _mm512_reduce_add_ps(acc[i][j]);
}

template <bool kQ4, typename Block>
void quant_matmul_512(const Block* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                      std::int64_t m, float* y, std::int64_t ldy) {
  const std::int64_t nb = n / kQuantBlock;
  std::int64_t i = 0;
  for (; i + 4 <= m; i += 4) {
    std::int64_t r = 0;
    for (; r + 4 <= rows; r += 4) quant_tile_512<4, 4, kQ4>(w + r * nb, nb, x, i, y + i * ldy + r, ldy);
    for (; r < rows; ++r) quant_tile_512<4, 1, kQ4>(w + r * nb, nb, x, i, y + i * ldy + r, ldy);
  }
  for (; i < m; ++i) {
    std::int64_t r = 0;
    for (; r + 4 <= rows; r += 4) quant_tile_512<1, 4, kQ4>(w + r * nb, nb, x, i, y + i * ldy + r, ldy);
    for (; r < rows; ++r) quant_tile_512<1, 1, kQ4>(w + r * nb, nb, x, i, y + i * ldy + r, ldy);
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
    Isa::kAvx512,    "avx512",        matmul_f32_512,   matmul_f16_512, matmul_bf16_512,
    matmul_q8_0_512, matmul_q4_0_512, quantize_row_x86, f16_to_f32_x86, bf16_to_f32_x86,
};

}  // namespace

const IsaKernels* avx512_kernels() { return &kAvx512; }

}  // namespace glimpse::kernels
