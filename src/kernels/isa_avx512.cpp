// The AVX-512 table (F, BW, VL, DQ, VNNI). Prefill-shaped calls multiply float weights as packed
// 64-wide panels and quantized weights as k-major int8 panels, where one vpdpbusd takes 4 values
// of 16 rows. Q8_0 and Q4_0 weights are repacked into that form at load (Q8_0x16, Q4_0x16).
// Weights in the plain layouts are packed per call, or multiplied two blocks per vpdpbusd when
// there are only a few activation rows. Decode-shaped calls read one weight row or one group of 16 interleaved rows after
// another, so each thread streams memory sequentially.
// The AMX table at the end of the file is this table with AMX-INT8 tiles for prompts with the
// x16 layouts. CMake compiles this file alone with these target flags and -mamx-tile/-mamx-int8,
// which only the tile intrinsics use: the compiler never emits tile instructions by itself.
#include <immintrin.h>

#include <cstring>

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

// Weight rows per packed panel: four vectors of 16, so each broadcast activation feeds 4 FMAs.
constexpr std::int64_t kPanelWidth = 64;

// Weight rows [0, rows) with rows <= kPanelWidth, as a panel p[k * kPanelWidth + r]; rows past
// `rows` are zero.
void pack_panel(const float* w, std::int64_t rows, std::int64_t n, float* panel) {
  alignas(64) float tile[16 * 16];
  for (std::int64_t group = 0; group < kPanelWidth / 16; ++group) {
    const std::int64_t first = group * 16;
    std::int64_t group_rows = rows - first;
    if (group_rows > 16) group_rows = 16;
    if (group_rows < 0) group_rows = 0;
    for (std::int64_t k = 0; k < n; k += 16) {
      const std::int64_t width = n - k < 16 ? n - k : 16;
      float* out = panel + k * kPanelWidth + first;
      if (group_rows == 16 && width == 16) {
        transpose_16x16(w + first * n + k, n, out, kPanelWidth);
        continue;
      }
      for (std::int64_t r = 0; r < 16; ++r) {
        for (std::int64_t c = 0; c < 16; ++c) {
          tile[r * 16 + c] = r < group_rows && c < width ? w[(first + r) * n + k + c] : 0.0f;
        }
      }
      transpose_16x16(tile, 16, tile, 16);
      for (std::int64_t c = 0; c < width; ++c) _mm512_storeu_ps(out + c * kPanelWidth, _mm512_load_ps(tile + c * 16));
    }
  }
}

// MR x rows times a packed panel: each k loads 4 weight vectors and broadcasts MR activations,
// 4 * MR FMAs for MR + 4 loads.
template <int MR>
void panel_kernel(const float* x, std::int64_t n, const float* panel, std::int64_t rows, float* y, std::int64_t ldy) {
  constexpr int kVectors = kPanelWidth / 16;
  __m512 acc[MR][kVectors];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < kVectors; ++v) acc[i][v] = _mm512_setzero_ps();
  for (std::int64_t k = 0; k < n; ++k) {
    __m512 wv[kVectors];
    for (int v = 0; v < kVectors; ++v) wv[v] = _mm512_load_ps(panel + k * kPanelWidth + 16 * v);
    for (int i = 0; i < MR; ++i) {
      const __m512 xv = _mm512_set1_ps(x[i * n + k]);
      for (int v = 0; v < kVectors; ++v) acc[i][v] = _mm512_fmadd_ps(xv, wv[v], acc[i][v]);
    }
  }
  for (int v = 0; v < kVectors; ++v) {
    const std::int64_t left = rows - 16 * v;
    if (left <= 0) break;
    const __mmask16 mask = left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1u);
    for (int i = 0; i < MR; ++i) _mm512_mask_storeu_ps(y + i * ldy + 16 * v, mask, acc[i][v]);
  }
}

// Prefill-shaped products: kPanelWidth weight rows at a time are packed k-major once and
// multiplied by 6 x rows per kernel call. Fewer x rows take the 4 x 4 dot-product tiles or the
// 256-bit loops.
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
    if (buffer.size < n * kPanelWidth) {
      _mm_free(buffer.data);
      buffer.data = static_cast<float*>(_mm_malloc(static_cast<std::size_t>(n * kPanelWidth) * sizeof(float), 64));
      buffer.size = n * kPanelWidth;
    }
    float* panel = buffer.data;
    for (std::int64_t r = 0; r < rows; r += kPanelWidth) {
      const std::int64_t panel_rows = rows - r < kPanelWidth ? rows - r : kPanelWidth;
      pack_panel(w + r * n, panel_rows, n, panel);
      std::int64_t i = 0;
      for (; i + 6 <= m; i += 6) panel_kernel<6>(x + i * n, n, panel, panel_rows, y + i * ldy + r, ldy);
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

// Decode-shaped products stream each weight once, row after row, and the rows of a weight lie
// one after another. On a 2-core Xeon VM the one-row kernels read well below the measured
// bandwidth, so they also ask for the bytes kPrefetchBytes ahead of those they read. The likely
// cause, not confirmed with counters, is that hardware prefetchers stop at 4 KiB page
// boundaries, and a 2048-wide f16 row is one page. The prefetches go to L2 (hint T1), 3 KiB
// ahead. Compared with L1 at 2 KiB, 4 KiB ahead made Q4_0 decoding 10-20 % faster on the 1.1B
// and 7B shapes and f16 and Q8_0 decoding no slower (docs/PERFORMANCE.md). 3 KiB then beat
// 4 KiB by 2-3 % on Q4_0 and Q8_0 decoding, with f16 unchanged. In a scratch loop over Q4_0x16
// groups, 2 KiB and 3.5-5 KiB were slower than 3 KiB. A likely reason, also unconfirmed: 3 KiB
// is about what one core's share of the bandwidth brings in during one memory latency, and
// further ahead more lines are in flight than L2 keeps track of. Prefetches past the end of a
// weight do not fault, so the last rows need no special case.
constexpr std::size_t kPrefetchBytes = 3072;

// Prefetches the cache lines of [p, p + bytes) shifted kPrefetchBytes ahead.
inline void prefetch_ahead(const void* p, std::size_t bytes) {
  const char* ahead = static_cast<const char*>(p) + kPrefetchBytes;
  for (std::size_t offset = 0; offset < bytes; offset += 64) _mm_prefetch(ahead + offset, _MM_HINT_T1);
}

// Widens 16 f16 or bf16 values to float32.
template <bool kBf16>
__m512 widen_half(__m256i bits) {
  if constexpr (kBf16) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16));
  } else {
    return _mm512_cvtph_ps(bits);
  }
}

// One x row against one f16 or bf16 weight row, 64 elements per step in four independent sums:
// a single sequential stream per weight row, which the hardware prefetcher follows well.
template <bool kBf16>
float half_row_dot_512(const float* x, const std::uint16_t* w, std::int64_t n) {
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  std::int64_t k = 0;
  for (; k + 64 <= n; k += 64) {
    prefetch_ahead(w + k, 64 * sizeof(std::uint16_t));
    for (int u = 0; u < 4; ++u) {
      const __m256i bits = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + k + 16 * u));
      acc[u] = _mm512_fmadd_ps(_mm512_loadu_ps(x + k + 16 * u), widen_half<kBf16>(bits), acc[u]);
    }
  }
  for (; k < n; k += 16) {
    const std::int64_t left = n - k;
    const __mmask16 mask = left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1u);
    const __m256i bits = _mm256_maskz_loadu_epi16(mask, w + k);
    acc[0] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, x + k), widen_half<kBf16>(bits), acc[0]);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3])));
}

// Computes y[r] = x · row r for R consecutive f16 or bf16 weight rows, loading each 16 values of
// x once for all R rows.
template <bool kBf16, int R>
void half_rows_dot_512(const float* x, const std::uint16_t* w, std::int64_t n, float* y) {
  __m512 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  std::int64_t k = 0;
  for (; k + 32 <= n; k += 32) {
    for (int r = 0; r < R; ++r) prefetch_ahead(w + r * n + k, 32 * sizeof(std::uint16_t));
    const __m512 x0 = _mm512_loadu_ps(x + k);
    const __m512 x1 = _mm512_loadu_ps(x + k + 16);
    for (int r = 0; r < R; ++r) {
      const auto* row = reinterpret_cast<const __m256i*>(w + r * n + k);
      acc[r][0] = _mm512_fmadd_ps(x0, widen_half<kBf16>(_mm256_loadu_si256(row)), acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(x1, widen_half<kBf16>(_mm256_loadu_si256(row + 1)), acc[r][1]);
    }
  }
  for (; k < n; k += 16) {
    const std::int64_t left = n - k;
    const __mmask16 mask = left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1u);
    const __m512 xv = _mm512_maskz_loadu_ps(mask, x + k);
    for (int r = 0; r < R; ++r) {
      const __m512 values = widen_half<kBf16>(_mm256_maskz_loadu_epi16(mask, w + r * n + k));
      acc[r][0] = _mm512_fmadd_ps(xv, values, acc[r][0]);
    }
  }
  for (int r = 0; r < R; ++r) y[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]));
}

// Rows longer than kManyRowsWidth values go four at a time, because an x over 32 KiB does not
// stay in a 48 KiB L1 while the weights stream through it. In glimpse_bench_kernels on a 2-core
// Xeon VM, the 7B down projection in f16 (4096 x 11008, weights resident in its 480 MiB L3) then
// read 46-53 GB/s instead of 34-35 GB/s. Shorter rows read faster one at a time there.
constexpr std::int64_t kManyRowsWidth = 8192;

template <bool kBf16>
void half_matmul_512(const std::uint16_t* w, std::int64_t rows, std::int64_t n, const float* x, std::int64_t m,
                     float* y, std::int64_t ldy) {
  for (std::int64_t i = 0; i < m; ++i) {
    std::int64_t r = 0;
    if (n > kManyRowsWidth) {
      for (; r + 4 <= rows; r += 4) half_rows_dot_512<kBf16, 4>(x + i * n, w + r * n, n, y + i * ldy + r);
    }
    for (; r < rows; ++r) y[i * ldy + r] = half_row_dot_512<kBf16>(x + i * n, w + r * n, n);
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

// Two blocks share one 512-bit vector. Q8_0 keeps each block's 32 bytes together, so the int32
// lanes of vpdpbusd belong to blocks [b x 8, b+1 x 8]. Q4_0 puts the low nibbles of both blocks
// first and the high nibbles after ([lo b, lo b+1, hi b, hi b+1], 16 bytes each), which saves
// two shuffles per weight row. Its lanes therefore belong to [b x 4, b+1 x 4, b x 4, b+1 x 4],
// and the activations are reordered the same way.
template <bool kQ4>
inline __m512 spread_pair(__m128 pair) {
  const __m512i index = kQ4 ? _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1)
                            : _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
  return _mm512_permutexvar_ps(index, _mm512_castps128_ps512(pair));
}

// The activation scales of blocks b and b + 1 (b alone when `single`), spread as above.
template <bool kQ4>
inline __m512 act_scales(const float* d, bool single) {
  if (single) return spread_pair<kQ4>(_mm_load_ss(d));
  // _mm_loadl_epi64 reads the 8 bytes without assuming the alignment of a double.
  return spread_pair<kQ4>(_mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(d))));
}

// The f16 scales of two weight blocks, converted together and spread as above.
template <bool kQ4, typename Block>
inline __m512 weight_scales(const Block* block, bool single) {
  const std::uint32_t second = single ? 0u : block[1].d;
  const __m128i bits = _mm_cvtsi32_si128(static_cast<int>(block[0].d | (second << 16)));
  return spread_pair<kQ4>(_mm_cvtph_ps(bits));
}

// Loads blocks b and b + 1 of an activation row as one vector, in Q4_0's nibble order for Q4_0.
// With `single`, only block b is loaded and the rest is zero, so its products vanish.
template <bool kQ4>
inline __m512i load_acts(const std::int8_t* q, bool single) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
  const __m512i both = single ? _mm512_zextsi256_si512(lo) : _mm512_loadu_si512(q);
  if constexpr (kQ4) return _mm512_shuffle_i64x2(both, both, _MM_SHUFFLE(3, 1, 2, 0));
  return both;
}

inline __m512i load_q8_pair(const BlockQ8_0* block, bool single) {
  const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block[0].qs));
  if (single) return _mm512_zextsi256_si512(lo);
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo),
                            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block[1].qs)), 1);
}

// The nibbles of two Q4_0 blocks as bytes [lo b, lo b+1, hi b, hi b+1]: the raw bytes twice,
// the upper copy shifted right by 4, then masked.
inline __m512i load_q4_pair(const BlockQ4_0* block, bool single) {
  const __m128i raw0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block[0].qs));
  const __m128i raw1 = single ? _mm_setzero_si128() : _mm_loadu_si128(reinterpret_cast<const __m128i*>(block[1].qs));
  const __m256i raw = _mm256_set_m128i(raw1, raw0);
  const __m512i twice = _mm512_inserti64x4(_mm512_castsi256_si512(raw), raw, 1);
  const __m512i shifted = _mm512_mask_srli_epi16(twice, static_cast<__mmask32>(0xffff0000u), twice, 4);
  return _mm512_and_si512(shifted, _mm512_set1_epi8(0x0f));
}

// Prefill: MR activation rows by NR weight rows, two blocks per step.
//   Q8_0: x + 128 is the unsigned operand, and 128 * (lane sums of w) is taken off again.
//   Q4_0: the nibbles are the unsigned operand; 8 * (lane sums of x) is taken off.
template <int MR, int NR, bool kQ4, typename Block>
void quant_tile_512(const Block* w, std::int64_t nb, const QuantizedRows& x, std::int64_t x_row, float* y,
                    std::int64_t ldy) {
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
        w_offset[j] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(-128), wv[j]));
      }
      ws[j] = weight_scales<kQ4>(block, single);
    }
    for (int i = 0; i < MR; ++i) {
      const std::int64_t row = x_row + i;
      const __m512i xv = load_acts<kQ4>(x.q + row * n + b * kQuantBlock, single);
      const __m512 xs = act_scales<kQ4>(x.d + row * nb + b, single);
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

// Per-call scratch of the decode loop, for each pair of activation blocks: the activations,
// their spread scales, and for Q4_0 the offset 8 * (lane sums of x) or for Q8_0 |x| and the
// sign mask.
struct DecodeActs {
  __m512i* values = nullptr;
  __m512i* magnitude_or_offset = nullptr;
  __m512* scales = nullptr;
  __mmask64* negative = nullptr;
  std::int64_t capacity = 0;
  void* memory = nullptr;
  ~DecodeActs() { _mm_free(memory); }

  void reserve(std::int64_t pairs) {
    if (pairs <= capacity) return;
    _mm_free(memory);
    const std::size_t bytes = static_cast<std::size_t>(pairs) * (64 + 64 + 64 + 8);
    memory = _mm_malloc(bytes, 64);
    auto* base = static_cast<char*>(memory);
    values = reinterpret_cast<__m512i*>(base);
    magnitude_or_offset = reinterpret_cast<__m512i*>(base + pairs * 64);
    scales = reinterpret_cast<__m512*>(base + pairs * 128);
    negative = reinterpret_cast<__mmask64*>(base + pairs * 192);
    capacity = pairs;
  }
};

// Decode: one activation row against `rows` weight rows, one row at a time so that each thread
// reads one sequential stream (short interleaved rows defeat the hardware prefetcher). Two pairs
// of blocks per step in independent sums.
template <bool kQ4, typename Block>
void quant_decode_512(const Block* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x, std::int64_t x_row,
                      float* y) {
  const std::int64_t nb = n / kQuantBlock;
  const std::int64_t pairs = (nb + 1) / 2;
  thread_local DecodeActs acts;
  acts.reserve(pairs);
  const __m512i zero = _mm512_setzero_si512();
  for (std::int64_t p = 0; p < pairs; ++p) {
    const bool single = 2 * p + 1 == nb;
    const __m512i xv = load_acts<kQ4>(x.q + x_row * n + 2 * p * kQuantBlock, single);
    acts.values[p] = xv;
    acts.scales[p] = act_scales<kQ4>(x.d + x_row * nb + 2 * p, single);
    if constexpr (kQ4) {
      acts.magnitude_or_offset[p] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(8), xv));
    } else {
      acts.magnitude_or_offset[p] = _mm512_abs_epi8(xv);
      acts.negative[p] = _mm512_movepi8_mask(xv);
    }
  }
  auto pair_sum = [&](const Block* block, std::int64_t p) {
    const bool single = 2 * p + 1 == nb;
    __m512i sums;
    if constexpr (kQ4) {
      sums = _mm512_dpbusd_epi32(acts.magnitude_or_offset[p], load_q4_pair(block, single), acts.values[p]);
    } else {
      const __m512i wv = load_q8_pair(block, single);
      const __m512i signed_w = _mm512_mask_sub_epi8(wv, acts.negative[p], zero, wv);
      sums = _mm512_dpbusd_epi32(zero, acts.magnitude_or_offset[p], signed_w);
    }
    return _mm512_mul_ps(_mm512_cvtepi32_ps(sums), _mm512_mul_ps(acts.scales[p], weight_scales<kQ4>(block, single)));
  };
  for (std::int64_t r = 0; r < rows; ++r) {
    const Block* row = w + r * nb;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    std::int64_t p = 0;
    for (; p + 2 <= pairs; p += 2) {
      acc0 = _mm512_add_ps(acc0, pair_sum(row + 2 * p, p));
      acc1 = _mm512_add_ps(acc1, pair_sum(row + 2 * p + 2, p + 1));
    }
    if (p < pairs) acc0 = _mm512_add_ps(acc0, pair_sum(row + 2 * p, p));
    y[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
  }
}

// ---- int8 panels: prefill-shaped products with quantized weights ---------------------------

// Prefill multiplies many activation rows by the same weights, so each kQPanelWidth weight rows
// are unpacked once into a k-major panel of bytes, where one 512-bit load contains 4 consecutive
// values of 16 rows. A broadcast of 4 activation bytes then feeds one vpdpbusd per vector, and
// every int32 lane accumulates one output over a 32-value block before the block's scales are
// applied in float. vpdpbusd multiplies unsigned by signed bytes: the panel holds w + 128 (Q8_0
// values lie in [-127, 127], Q4_0's in [-8, 7]), and each block's sum starts at -128 times the
// activation block's sum, which cancels the offset exactly.
constexpr int kQPanelVectors = 2;
constexpr std::int64_t kQPanelWidth = 16 * kQPanelVectors;
// Per block: 8 groups of [kQPanelWidth rows][4 bytes], then kQPanelWidth float weight scales.
constexpr std::int64_t kQPanelBlockBytes = kQuantBlock * kQPanelWidth + kQPanelWidth * 4;
// Activation rows per kernel call, and the fewest rows for which the plain layouts are packed.
// NOTE: 8 is a guess, not tuned; fewer rows use the two-blocks-per-vpdpbusd tiles.
constexpr int kQPanelRows = 6;
constexpr std::int64_t kQPanelMinRows = 8;

// Readers of row r, block b as 32 bytes w + 128 (in element order) and the f16 scale bits, for
// each weight layout.
struct Q8Reader {
  const BlockQ8_0* w;
  std::int64_t nb;
  __m256i read(std::int64_t r, std::int64_t b, std::uint16_t& d) const {
    const BlockQ8_0& block = w[r * nb + b];
    d = block.d;
    return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.qs)),
                            _mm256_set1_epi8(static_cast<char>(0x80)));
  }
};

// Q4_0 nibbles n hold the values n - 8, so n + 120 is the value plus 128. Low nibbles are
// elements 0-15 and high nibbles elements 16-31.
inline __m256i offset_nibbles(const std::uint8_t* qs) {
  const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i low_mask = _mm_set1_epi8(0x0f);
  const __m256i nibbles = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), low_mask), _mm_and_si128(raw, low_mask));
  return _mm256_add_epi8(nibbles, _mm256_set1_epi8(120));
}

struct Q4Reader {
  const BlockQ4_0* w;
  std::int64_t nb;
  __m256i read(std::int64_t r, std::int64_t b, std::uint16_t& d) const {
    const BlockQ4_0& block = w[r * nb + b];
    d = block.d;
    return offset_nibbles(block.qs);
  }
};

// Packs weight rows [first, first + rows), rows <= kQPanelWidth, into `panel`. Rows past `rows`
// get zero scales, so their outputs are zero, and the kernel does not store them.
template <typename Reader>
void pack_qpanel(const Reader& reader, std::int64_t first, std::int64_t rows, std::uint8_t* panel) {
  for (std::int64_t b = 0; b < reader.nb; ++b) {
    std::uint8_t* bytes = panel + b * kQPanelBlockBytes;
    auto* scales = reinterpret_cast<float*>(bytes + kQuantBlock * kQPanelWidth);
    for (std::int64_t r = 0; r < kQPanelWidth; ++r) {
      if (r >= rows) {
        scales[r] = 0.0f;
        continue;
      }
      std::uint16_t d = 0;
      alignas(32) std::uint32_t quads[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(quads), reader.read(first + r, b, d));
      scales[r] = half_to_float(d);
      auto* column = reinterpret_cast<std::uint32_t*>(bytes) + r;
      for (int g = 0; g < 8; ++g) column[g * kQPanelWidth] = quads[g];
    }
  }
}

// Weight sources of the k-major kernel. Each gives, for block b, the 64 bytes of vector v (16
// rows) for values 4g..4g+3 as value + kOffset, and the 16 float scales of vector v.
struct PackedPanel {
  static constexpr int kOffset = 128;
  const std::uint8_t* panel;
  __m512i load(std::int64_t b, int g, int v) const {
    return _mm512_load_si512(panel + b * kQPanelBlockBytes + (g * kQPanelWidth + 16 * v) * 4);
  }
  __m512 scales(std::int64_t b, int v) const {
    return _mm512_load_ps(reinterpret_cast<const float*>(panel + b * kQPanelBlockBytes + kQuantBlock * kQPanelWidth) +
                          16 * v);
  }
};

// Q8_0x16 and Q4_0x16 groups: vector v is group v, which starts nb blocks after group v - 1.
struct Q8x16Groups {
  static constexpr int kOffset = 128;
  static constexpr std::size_t kBlockBytes = sizeof(BlockQ8_0x16);
  const BlockQ8_0x16* w;
  std::int64_t nb;
  const void* block(std::int64_t b) const { return w + b; }  // of group 0
  __m512i load(std::int64_t b, int g, int v) const { return _mm512_loadu_si512(w[v * nb + b].qs[g][0]); }
  __m512 scales(std::int64_t b, int v) const {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[v * nb + b].d)));
  }
};

// Runs g = 0..3 are the low nibbles of the 4 stored runs and g = 4..7 their high nibbles.
struct Q4x16Groups {
  static constexpr int kOffset = 8;
  static constexpr std::size_t kBlockBytes = sizeof(BlockQ4_0x16);
  const BlockQ4_0x16* w;
  std::int64_t nb;
  const void* block(std::int64_t b) const { return w + b; }
  __m512i load(std::int64_t b, int g, int v) const {
    const __m512i raw = _mm512_loadu_si512(w[v * nb + b].qs[g & 3][0]);
    const __m512i low_mask = _mm512_set1_epi8(0x0f);
    return g < 4 ? _mm512_and_si512(raw, low_mask) : _mm512_and_si512(_mm512_srli_epi16(raw, 4), low_mask);
  }
  __m512 scales(std::int64_t b, int v) const {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w[v * nb + b].d)));
  }
};

// Q4_Kx16 groups: activation block b is sub-block b % 8 of super-block b / 8, whose values are
// the low (even sub-blocks) or high nibbles of run (b % 8) / 2. A value is scale * q - min, so
// the source also gives each row's min, which the kernel takes off with the activation sums.
struct Q4Kx16Groups {
  static constexpr int kOffset = 0;
  static constexpr bool kMins = true;
  const BlockQ4_Kx16* w;
  std::int64_t nsb;
  __m512i load(std::int64_t b, int g, int v) const {
    const int j = static_cast<int>(b % 8);
    const __m512i raw = _mm512_loadu_si512(w[v * nsb + b / 8].qs[j / 2][g][0]);
    const __m512i low_mask = _mm512_set1_epi8(0x0f);
    return j % 2 == 0 ? _mm512_and_si512(raw, low_mask) : _mm512_and_si512(_mm512_srli_epi16(raw, 4), low_mask);
  }
  __m512 scales(std::int64_t b, int v) const {
    const BlockQ4_Kx16& block = w[v * nsb + b / 8];
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.d)));
    return _mm512_mul_ps(d, bytes_to_floats(block.scales[b % 8]));
  }
  __m512 mins(std::int64_t b, int v) const {
    const BlockQ4_Kx16& block = w[v * nsb + b / 8];
    const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.dmin)));
    return _mm512_mul_ps(dmin, bytes_to_floats(block.mins[b % 8]));
  }
  static __m512 bytes_to_floats(const std::uint8_t* bytes) {
    return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes))));
  }
};

// Whether a weight source has mins (Q4_K's affine values) besides its scales.
template <typename Source>
constexpr bool has_mins() {
  if constexpr (requires { Source::kMins; }) {
    return Source::kMins;
  } else {
    return false;
  }
}

// Multiplies MR activation rows by V vectors of 16 weight rows and stores `rows` (<= 16 V)
// outputs per activation row.
template <int MR, int V, typename Source>
void kmajor_kernel(const Source& source, const QuantizedRows& x, std::int64_t x_row, std::int64_t nb,
                   std::int64_t rows, float* y, std::int64_t ldy) {
  const std::int64_t n = nb * kQuantBlock;
  __m512 acc[MR][V];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < V; ++v) acc[i][v] = _mm512_setzero_ps();
  for (std::int64_t b = 0; b < nb; ++b) {
    if constexpr (MR == 1 && V == 1 && requires { source.block(b); }) prefetch_ahead(source.block(b), source.kBlockBytes);
    __m512i sums[MR][V];
    for (int i = 0; i < MR; ++i) {
      const __m512i start = _mm512_set1_epi32(-Source::kOffset * x.sum[(x_row + i) * nb + b]);
      for (int v = 0; v < V; ++v) sums[i][v] = start;
    }
    for (int g = 0; g < 8; ++g) {
      __m512i wv[V];
      for (int v = 0; v < V; ++v) wv[v] = source.load(b, g, v);
      for (int i = 0; i < MR; ++i) {
        std::int32_t quad;
        std::memcpy(&quad, x.q + (x_row + i) * n + b * kQuantBlock + 4 * g, 4);
        const __m512i xv = _mm512_set1_epi32(quad);
        for (int v = 0; v < V; ++v) sums[i][v] = _mm512_dpbusd_epi32(sums[i][v], wv[v], xv);
      }
    }
    __m512 scales[V];
    for (int v = 0; v < V; ++v) scales[v] = source.scales(b, v);
    for (int i = 0; i < MR; ++i) {
      const __m512 xd = _mm512_set1_ps(x.d[(x_row + i) * nb + b]);
      for (int v = 0; v < V; ++v) {
        acc[i][v] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[i][v]), _mm512_mul_ps(xd, scales[v]), acc[i][v]);
      }
    }
    if constexpr (has_mins<Source>()) {
      __m512 mins[V];
      for (int v = 0; v < V; ++v) mins[v] = source.mins(b, v);
      for (int i = 0; i < MR; ++i) {
        const std::int64_t at = (x_row + i) * nb + b;
        const __m512 weight = _mm512_set1_ps(-x.d[at] * static_cast<float>(x.sum[at]));
        for (int v = 0; v < V; ++v) acc[i][v] = _mm512_fmadd_ps(mins[v], weight, acc[i][v]);
      }
    }
  }
  for (int v = 0; v < V; ++v) {
    const std::int64_t left = rows - 16 * v;
    if (left <= 0) break;
    const __mmask16 mask = left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1u);
    for (int i = 0; i < MR; ++i) _mm512_mask_storeu_ps(y + i * ldy + 16 * v, mask, acc[i][v]);
  }
}

template <typename Reader>
void qpanel_matmul(const Reader& reader, std::int64_t rows, const QuantizedRows& x, std::int64_t m, float* y,
                   std::int64_t ldy) {
  struct PanelBuffer {
    std::uint8_t* data = nullptr;
    std::int64_t size = 0;
    ~PanelBuffer() { _mm_free(data); }
  };
  thread_local PanelBuffer buffer;
  const std::int64_t bytes = reader.nb * kQPanelBlockBytes;
  if (buffer.size < bytes) {
    _mm_free(buffer.data);
    buffer.data = static_cast<std::uint8_t*>(_mm_malloc(static_cast<std::size_t>(bytes), 64));
    buffer.size = bytes;
  }
  for (std::int64_t r = 0; r < rows; r += kQPanelWidth) {
    const std::int64_t panel_rows = rows - r < kQPanelWidth ? rows - r : kQPanelWidth;
    pack_qpanel(reader, r, panel_rows, buffer.data);
    std::int64_t i = 0;
    for (; i + kQPanelRows <= m; i += kQPanelRows) {
      kmajor_kernel<kQPanelRows, kQPanelVectors>(PackedPanel{buffer.data}, x, i, reader.nb, panel_rows,
                                                 y + i * ldy + r, ldy);
    }
    for (; i < m; ++i) {
      kmajor_kernel<1, kQPanelVectors>(PackedPanel{buffer.data}, x, i, reader.nb, panel_rows, y + i * ldy + r, ldy);
    }
  }
}

// ---- Q4_K and Q6_K panels ---------------------------------------------------------------------
// The same k-major int8 panels for the super-block types, one 32-value activation block at a
// time. Each block carries two float arrays of kQPanelWidth. For Q4_K they are the scales
// d * sc and the mins dmin * m, and a value is scale * q - min. For Q6_K they are the scales
// d * sc of the block's first and second 16 values. Q4_K's bytes are its levels 0..15, the unsigned operand of vpdpbusd. Q6_K's
// are its signed values q - 32, so the activations become the unsigned operand as x + 128; the
// two int32 arrays that follow hold -128 times each row's sum of values over each half, which
// cancels that offset.
constexpr std::int64_t kKPanelBlockBytes = kQuantBlock * kQPanelWidth + 4 * kQPanelWidth * 4;

// Stores the 32 levels of one weight row's activation block into column `r` of a panel block.
inline void put_column(std::uint8_t* bytes, std::int64_t r, __m256i levels) {
  alignas(32) std::uint32_t quads[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(quads), levels);
  auto* column = reinterpret_cast<std::uint32_t*>(bytes) + r;
  for (int g = 0; g < 8; ++g) column[g * kQPanelWidth] = quads[g];
}

// Float array `index` (0: scales, 1: mins or second scales) of a panel block.
inline float* panel_floats(std::uint8_t* bytes, int index) {
  return reinterpret_cast<float*>(bytes + kQuantBlock * kQPanelWidth) + index * kQPanelWidth;
}

// Q6_K's int32 offsets of the first (half 0) or second 16 values of a panel block.
inline std::int32_t* panel_offsets(std::uint8_t* bytes, int half) {
  return reinterpret_cast<std::int32_t*>(bytes + kQuantBlock * kQPanelWidth) + (2 + half) * kQPanelWidth;
}

// Packs rows [first, first + rows) of a Q4_K weight with nsb super-blocks per row. Rows past
// `rows` get zero scales and mins, so their outputs are zero.
void pack_q4_k_panel(const BlockQ4_K* w, std::int64_t nsb, std::int64_t first, std::int64_t rows, std::uint8_t* panel) {
  const __m256i low_mask = _mm256_set1_epi8(0x0f);
  for (std::int64_t r = 0; r < kQPanelWidth; ++r) {
    for (std::int64_t sb = 0; sb < nsb; ++sb) {
      std::uint8_t* first_block = panel + sb * 8 * kKPanelBlockBytes;
      if (r >= rows) {
        for (int j = 0; j < 8; ++j) {
          panel_floats(first_block + j * kKPanelBlockBytes, 0)[r] = 0.0f;
          panel_floats(first_block + j * kKPanelBlockBytes, 1)[r] = 0.0f;
        }
        continue;
      }
      const BlockQ4_K& block = w[(first + r) * nsb + sb];
      const float d = half_to_float(block.d);
      const float dmin = half_to_float(block.dmin);
      for (int p = 0; p < 4; ++p) {
        const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.qs + 32 * p));
        put_column(first_block + (2 * p) * kKPanelBlockBytes, r, _mm256_and_si256(raw, low_mask));
        put_column(first_block + (2 * p + 1) * kKPanelBlockBytes, r,
                   _mm256_and_si256(_mm256_srli_epi16(raw, 4), low_mask));
      }
      for (int j = 0; j < 8; ++j) {
        int sc = 0;
        int mn = 0;
        q4_k_scale_min(block.scales, j, sc, mn);
        panel_floats(first_block + j * kKPanelBlockBytes, 0)[r] = d * static_cast<float>(sc);
        panel_floats(first_block + j * kKPanelBlockBytes, 1)[r] = dmin * static_cast<float>(mn);
      }
    }
  }
}

// The same for Q6_K: activation block t of a super-block is quarter t % 4 of half t / 4.
void pack_q6_k_panel(const BlockQ6_K* w, std::int64_t nsb, std::int64_t first, std::int64_t rows, std::uint8_t* panel) {
  for (std::int64_t r = 0; r < kQPanelWidth; ++r) {
    for (std::int64_t sb = 0; sb < nsb; ++sb) {
      std::uint8_t* first_block = panel + sb * 8 * kKPanelBlockBytes;
      if (r >= rows) {
        for (int t = 0; t < 8; ++t) {
          panel_floats(first_block + t * kKPanelBlockBytes, 0)[r] = 0.0f;
          panel_floats(first_block + t * kKPanelBlockBytes, 1)[r] = 0.0f;
          panel_offsets(first_block + t * kKPanelBlockBytes, 0)[r] = 0;
          panel_offsets(first_block + t * kKPanelBlockBytes, 1)[r] = 0;
        }
        continue;
      }
      const BlockQ6_K& block = w[(first + r) * nsb + sb];
      const float d = half_to_float(block.d);
      for (int half = 0; half < 2; ++half) {
        __m256i levels[4];
        q6_k_levels(block, half, levels);
        for (int t = 0; t < 4; ++t) {
          std::uint8_t* bytes = first_block + (4 * half + t) * kKPanelBlockBytes;
          const __m256i values = _mm256_sub_epi8(levels[t], _mm256_set1_epi8(32));
          put_column(bytes, r, values);
          // Sums of each 16 values: widen to 16 bits and add in pairs.
          alignas(32) std::int32_t pairs[8];
          const __m256i wide_low = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(values));
          const __m256i wide_high = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(values, 1));
          const __m256i ones = _mm256_set1_epi16(1);
          _mm256_store_si256(reinterpret_cast<__m256i*>(pairs),
                             _mm256_hadd_epi32(_mm256_madd_epi16(wide_low, ones), _mm256_madd_epi16(wide_high, ones)));
          // Each pair entry sums 4 values. Values 0-15 are in entries 0, 1, 4, 5 and values
          // 16-31 in entries 2, 3, 6, 7, the lane order of vphaddd.
          panel_offsets(bytes, 0)[r] = -128 * (pairs[0] + pairs[1] + pairs[4] + pairs[5]);
          panel_offsets(bytes, 1)[r] = -128 * (pairs[2] + pairs[3] + pairs[6] + pairs[7]);
        }
      }
      for (int t = 0; t < 8; ++t) {
        panel_floats(first_block + t * kKPanelBlockBytes, 0)[r] = d * static_cast<float>(block.scales[2 * t]);
        panel_floats(first_block + t * kKPanelBlockBytes, 1)[r] = d * static_cast<float>(block.scales[2 * t + 1]);
      }
    }
  }
}

// MR activation rows times one K-type panel (kQPanelVectors vectors of 16 rows). Q6_K's sums
// start at the panel's int32 offsets and take the first and second 16 values separately.
template <int MR, bool kQ6>
void kpanel_kernel(const std::uint8_t* panel, const QuantizedRows& x, std::int64_t x_row, std::int64_t nb,
                   std::int64_t rows, float* y, std::int64_t ldy) {
  constexpr int V = kQPanelVectors;
  const std::int64_t n = nb * kQuantBlock;
  __m512 acc[MR][V];
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < V; ++v) acc[i][v] = _mm512_setzero_ps();
  for (std::int64_t b = 0; b < nb; ++b) {
    const std::uint8_t* bytes = panel + b * kKPanelBlockBytes;
    const auto* first = reinterpret_cast<const float*>(bytes + kQuantBlock * kQPanelWidth);
    const float* second = first + kQPanelWidth;
    constexpr int kParts = kQ6 ? 2 : 1;
    for (int part = 0; part < kParts; ++part) {
      __m512i sums[MR][V];
      for (int v = 0; v < V; ++v) {
        const __m512i start =
            kQ6 ? _mm512_load_si512(reinterpret_cast<const std::int32_t*>(second + kQPanelWidth) + part * kQPanelWidth + 16 * v)
                : _mm512_setzero_si512();
        for (int i = 0; i < MR; ++i) sums[i][v] = start;
      }
      for (int g = part * 8 / kParts; g < (part + 1) * 8 / kParts; ++g) {
        __m512i wv[V];
        for (int v = 0; v < V; ++v) wv[v] = _mm512_load_si512(bytes + (g * kQPanelWidth + 16 * v) * 4);
        for (int i = 0; i < MR; ++i) {
          std::int32_t quad;
          std::memcpy(&quad, x.q + (x_row + i) * n + b * kQuantBlock + 4 * g, 4);
          const __m512i xv = _mm512_set1_epi32(quad);
          for (int v = 0; v < V; ++v) {
            if constexpr (kQ6) {
              // Signed weights by activations + 128.
              const __m512i unsigned_x = _mm512_xor_si512(xv, _mm512_set1_epi8(static_cast<char>(0x80)));
              sums[i][v] = _mm512_dpbusd_epi32(sums[i][v], unsigned_x, wv[v]);
            } else {
              sums[i][v] = _mm512_dpbusd_epi32(sums[i][v], wv[v], xv);
            }
          }
        }
      }
      const float* scales = part == 0 ? first : second;
      for (int i = 0; i < MR; ++i) {
        const float xd = x.d[(x_row + i) * nb + b];
        for (int v = 0; v < V; ++v) {
          const __m512 scale = _mm512_mul_ps(_mm512_set1_ps(xd), _mm512_load_ps(scales + 16 * v));
          acc[i][v] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[i][v]), scale, acc[i][v]);
        }
      }
    }
    if constexpr (!kQ6) {
      // Q4_K's mins: - dmin * m * xd * (sum of the block's activations).
      for (int i = 0; i < MR; ++i) {
        const std::int64_t at = (x_row + i) * nb + b;
        const __m512 weight = _mm512_set1_ps(-x.d[at] * static_cast<float>(x.sum[at]));
        for (int v = 0; v < V; ++v) acc[i][v] = _mm512_fmadd_ps(_mm512_load_ps(second + 16 * v), weight, acc[i][v]);
      }
    }
  }
  for (int v = 0; v < V; ++v) {
    const std::int64_t left = rows - 16 * v;
    if (left <= 0) break;
    const __mmask16 mask = left >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << left) - 1u);
    for (int i = 0; i < MR; ++i) _mm512_mask_storeu_ps(y + i * ldy + 16 * v, mask, acc[i][v]);
  }
}

template <bool kQ6, typename Block>
void k_panel_matmul(const Block* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x, std::int64_t m, float* y,
                    std::int64_t ldy) {
  struct Buffers {
    std::uint8_t* panel = nullptr;
    std::int64_t panel_size = 0;
    ~Buffers() { _mm_free(panel); }
  };
  thread_local Buffers buffers;
  const std::int64_t nsb = n / kSuperBlock;
  const std::int64_t nb = n / kQuantBlock;
  const std::int64_t bytes = nb * kKPanelBlockBytes;
  if (buffers.panel_size < bytes) {
    _mm_free(buffers.panel);
    buffers.panel = static_cast<std::uint8_t*>(_mm_malloc(static_cast<std::size_t>(bytes), 64));
    buffers.panel_size = bytes;
  }
  for (std::int64_t r = 0; r < rows; r += kQPanelWidth) {
    const std::int64_t panel_rows = rows - r < kQPanelWidth ? rows - r : kQPanelWidth;
    if constexpr (kQ6) {
      pack_q6_k_panel(w, nsb, r, panel_rows, buffers.panel);
    } else {
      pack_q4_k_panel(w, nsb, r, panel_rows, buffers.panel);
    }
    std::int64_t i = 0;
    for (; i + kQPanelRows <= m; i += kQPanelRows) {
      kpanel_kernel<kQPanelRows, kQ6>(buffers.panel, x, i, nb, panel_rows, y + i * ldy + r, ldy);
    }
    for (; i < m; ++i) kpanel_kernel<1, kQ6>(buffers.panel, x, i, nb, panel_rows, y + i * ldy + r, ldy);
  }
}

void matmul_q4_K_512(const BlockQ4_K* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x, std::int64_t m,
                     float* y, std::int64_t ldy) {
  if (m >= kQPanelMinRows) {
    k_panel_matmul<false>(w, rows, n, x, m, y, ldy);
  } else {
    matmul_q4_K_x86(w, rows, n, x, m, y, ldy);
  }
}

void matmul_q6_K_512(const BlockQ6_K* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x, std::int64_t m,
                     float* y, std::int64_t ldy) {
  if (m >= kQPanelMinRows) {
    k_panel_matmul<true>(w, rows, n, x, m, y, ldy);
  } else {
    matmul_q6_K_x86(w, rows, n, x, m, y, ldy);
  }
}

template <bool kQ4, typename Block>
void quant_matmul_512(const Block* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                      std::int64_t m, float* y, std::int64_t ldy) {
  const std::int64_t nb = n / kQuantBlock;
  if (m >= kQPanelMinRows) {
    if constexpr (kQ4) {
      qpanel_matmul(Q4Reader{w, nb}, rows, x, m, y, ldy);
    } else {
      qpanel_matmul(Q8Reader{w, nb}, rows, x, m, y, ldy);
    }
    return;
  }
  std::int64_t i = 0;
  for (; i + 4 <= m; i += 4) {
    std::int64_t r = 0;
    for (; r + 4 <= rows; r += 4) quant_tile_512<4, 4, kQ4>(w + r * nb, nb, x, i, y + i * ldy + r, ldy);
    for (; r < rows; ++r) quant_tile_512<4, 1, kQ4>(w + r * nb, nb, x, i, y + i * ldy + r, ldy);
  }
  for (; i < m; ++i) quant_decode_512<kQ4>(w, rows, n, x, i, y + i * ldy);
}

// The x16 layouts need no packing. Several x rows take two groups (32 rows) per call. A single
// x row takes one group at a time, so that each thread reads one sequential stream.
template <typename Groups, typename Block>
void x16_matmul(const Block* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x, std::int64_t m, float* y,
                std::int64_t ldy) {
  const std::int64_t nb = n / kQuantBlock;
  const std::int64_t groups = rows / 16;
  std::int64_t i = 0;
  for (; i + kQPanelRows <= m; i += kQPanelRows) {
    std::int64_t g = 0;
    for (; g + 2 <= groups; g += 2) {
      kmajor_kernel<kQPanelRows, 2>(Groups{w + g * nb, nb}, x, i, nb, 32, y + i * ldy + g * 16, ldy);
    }
    if (g < groups) kmajor_kernel<kQPanelRows, 1>(Groups{w + g * nb, nb}, x, i, nb, 16, y + i * ldy + g * 16, ldy);
  }
  for (; i < m; ++i) {
    for (std::int64_t g = 0; g < groups; ++g) {
      kmajor_kernel<1, 1>(Groups{w + g * nb, nb}, x, i, nb, 16, y + i * ldy + g * 16, ldy);
    }
  }
}

// One activation row times one Q4_Kx16 group (16 weight rows), for decoding. Each 64-byte load
// feeds both sub-blocks of a run (low and high nibbles), and d and dmin are widened once per
// super-block, which the general k-major kernel does per sub-block.
void q4_kx16_decode(const BlockQ4_Kx16* w, std::int64_t nsb, const QuantizedRows& x, std::int64_t x_row, float* y) {
  const std::int64_t n = nsb * kSuperBlock;
  const std::int64_t nb = n / kQuantBlock;
  const __m512i low_mask = _mm512_set1_epi8(0x0f);
  const std::int8_t* xq = x.q + x_row * n;
  const float* xd = x.d + x_row * nb;
  const std::int32_t* xsum = x.sum + x_row * nb;
  __m512 acc = _mm512_setzero_ps();
  for (std::int64_t sb = 0; sb < nsb; ++sb) {
    prefetch_ahead(w + sb, sizeof(BlockQ4_Kx16));
    const BlockQ4_Kx16& block = w[sb];
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.d)));
    const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.dmin)));
    for (int p = 0; p < 4; ++p) {
      const std::int64_t a = sb * 8 + 2 * p;  // activation block of the low nibbles; a + 1 the high
      __m512i low_sums = _mm512_setzero_si512();
      __m512i high_sums = _mm512_setzero_si512();
      for (int g = 0; g < 8; ++g) {
        const __m512i raw = _mm512_loadu_si512(block.qs[p][g][0]);
        std::int32_t low_quad;
        std::int32_t high_quad;
        std::memcpy(&low_quad, xq + a * kQuantBlock + 4 * g, 4);
        std::memcpy(&high_quad, xq + (a + 1) * kQuantBlock + 4 * g, 4);
        low_sums = _mm512_dpbusd_epi32(low_sums, _mm512_and_si512(raw, low_mask), _mm512_set1_epi32(low_quad));
        high_sums = _mm512_dpbusd_epi32(high_sums, _mm512_and_si512(_mm512_srli_epi16(raw, 4), low_mask),
                                        _mm512_set1_epi32(high_quad));
      }
      for (int half = 0; half < 2; ++half) {
        const int j = 2 * p + half;
        const __m512 scale = _mm512_mul_ps(d, Q4Kx16Groups::bytes_to_floats(block.scales[j]));
        const __m512 min = _mm512_mul_ps(dmin, Q4Kx16Groups::bytes_to_floats(block.mins[j]));
        const float activation_scale = xd[a + half];
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(half == 0 ? low_sums : high_sums),
                              _mm512_mul_ps(scale, _mm512_set1_ps(activation_scale)), acc);
        acc = _mm512_fmadd_ps(min, _mm512_set1_ps(-activation_scale * static_cast<float>(xsum[a + half])), acc);
      }
    }
  }
  _mm512_storeu_ps(y, acc);
}

// Q4_Kx16 in the same two shapes; groups are nsb blocks apart.
void matmul_q4_Kx16_512(const BlockQ4_Kx16* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                        std::int64_t m, float* y, std::int64_t ldy) {
  const std::int64_t nb = n / kQuantBlock;
  const std::int64_t nsb = n / kSuperBlock;
  const std::int64_t groups = rows / 16;
  std::int64_t i = 0;
  for (; i + kQPanelRows <= m; i += kQPanelRows) {
    std::int64_t g = 0;
    for (; g + 2 <= groups; g += 2) {
      kmajor_kernel<kQPanelRows, 2>(Q4Kx16Groups{w + g * nsb, nsb}, x, i, nb, 32, y + i * ldy + g * 16, ldy);
    }
    if (g < groups) kmajor_kernel<kQPanelRows, 1>(Q4Kx16Groups{w + g * nsb, nsb}, x, i, nb, 16, y + i * ldy + g * 16, ldy);
  }
  for (; i < m; ++i) {
    for (std::int64_t g = 0; g < groups; ++g) q4_kx16_decode(w + g * nsb, nsb, x, i, y + i * ldy + g * 16);
  }
}

void matmul_q8_0x16_512(const BlockQ8_0x16* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                        std::int64_t m, float* y, std::int64_t ldy) {
  x16_matmul<Q8x16Groups>(w, rows, n, x, m, y, ldy);
}

void matmul_q4_0x16_512(const BlockQ4_0x16* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                        std::int64_t m, float* y, std::int64_t ldy) {
  x16_matmul<Q4x16Groups>(w, rows, n, x, m, y, ldy);
}

void matmul_q8_0_512(const BlockQ8_0* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                     std::int64_t m, float* y, std::int64_t ldy) {
  quant_matmul_512<false>(w, rows, n, x, m, y, ldy);
}
void matmul_q4_0_512(const BlockQ4_0* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                     std::int64_t m, float* y, std::int64_t ldy) {
  quant_matmul_512<true>(w, rows, n, x, m, y, ldy);
}

// ---- AMX tiles ---------------------------------------------------------------------------------
// Prompt-shaped products of the x16 layouts on AMX tiles, where the CPU has AMX-INT8. One
// tdpbssd multiplies 16 activation rows by 16 weight rows over one 32-value block: 8192 int8
// products into a 16 x 16 tile of int32 sums, which vpdpbusd needs 128 instructions for. The
// block scales differ from block to block, so each block's tile is stored and scaled in float,
// as the k-major kernel scales its vpdpbusd sums. The integer sums are the same as those of the
// other tables; only the order of the float additions differs.
//
// Each call first copies its weight rows into a panel of signed values in the tile layout, with
// float scales and mins. Per block that is 8 rows of 64 bytes, row g holding values 4g..4g+3 of
// 16 weight rows. The panel then serves every 16 activation rows.

struct AmxPanelBlock {
  std::int8_t q[8][16][4];
  float scales[16];
  float mins[16];  // Q4_K's mins, unset for the symmetric types
};
static_assert(sizeof(AmxPanelBlock) % 64 == 0, "panel blocks stay 64-byte aligned");

// Tiles 0-3 hold int32 sums (16 x 16), 4 and 5 activation blocks (16 rows of 32 bytes), 6 and 7
// weight blocks (8 rows of 64 bytes).
struct alignas(64) AmxTileConfig {
  std::uint8_t palette = 1;
  std::uint8_t start_row = 0;
  std::uint8_t reserved[14] = {};
  std::uint16_t bytes_per_row[16] = {64, 64, 64, 64, 32, 32, 64, 64};
  std::uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 8, 8};
};
static_assert(sizeof(AmxTileConfig) == 64, "the tile configuration is one 64-byte record");

constexpr std::int64_t kAmxRows = 16;  // activation rows per tile

template <typename Source>
void pack_amx_panel(const Source& source, std::int64_t nb, std::int64_t groups, AmxPanelBlock* panel) {
  const __m512i offset = _mm512_set1_epi8(static_cast<char>(Source::kOffset));
  for (std::int64_t v = 0; v < groups; ++v) {
    for (std::int64_t b = 0; b < nb; ++b) {
      AmxPanelBlock& out = panel[v * nb + b];
      for (int g = 0; g < 8; ++g) {
        _mm512_store_si512(out.q[g], _mm512_sub_epi8(source.load(b, g, static_cast<int>(v)), offset));
      }
      _mm512_store_ps(out.scales, source.scales(b, static_cast<int>(v)));
      if constexpr (has_mins<Source>()) _mm512_store_ps(out.mins, source.mins(b, static_cast<int>(v)));
    }
  }
}

// 16 activation rows, block by block: the 16 x 32 bytes of the block, each row's scale, and each
// row's -scale * sum (the factor of Q4_K's mins). A tile load then reads 8 whole cache lines
// instead of 16 half lines a row apart, which all map to one L1 set when rows are 4 KiB long.
struct AmxActBlock {
  std::int8_t q[kAmxRows][kQuantBlock];
  float d[kAmxRows];
  float min_factor[kAmxRows];
};
static_assert(sizeof(AmxActBlock) % 64 == 0, "activation blocks keep the alignment of their buffer");

void pack_amx_acts(const QuantizedRows& x, std::int64_t x_row, std::int64_t nb, AmxActBlock* out) {
  const std::int64_t n = nb * kQuantBlock;
  for (std::int64_t b = 0; b < nb; ++b) {
    for (int i = 0; i < kAmxRows; ++i) {
      const std::int64_t at = (x_row + i) * nb + b;
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[b].q[i]),
                         _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.q + (x_row + i) * n + b * kQuantBlock)));
      out[b].d[i] = x.d[at];
      out[b].min_factor[i] = -x.d[at] * static_cast<float>(x.sum[at]);
    }
  }
}

// Adds one block's tile of int32 sums, scaled, to the 16 accumulators (and the Q4_K mins).
template <bool kMins>
inline void scale_tile(const std::int32_t (&sums)[kAmxRows][16], const AmxPanelBlock& w, const AmxActBlock& a,
                       __m512 (&acc)[kAmxRows]) {
  const __m512 scales = _mm512_load_ps(w.scales);
  for (int i = 0; i < kAmxRows; ++i) {
    const __m512 sum = _mm512_cvtepi32_ps(_mm512_load_si512(sums[i]));
    acc[i] = _mm512_fmadd_ps(sum, _mm512_mul_ps(scales, _mm512_set1_ps(a.d[i])), acc[i]);
    if constexpr (kMins) acc[i] = _mm512_fmadd_ps(_mm512_load_ps(w.mins), _mm512_set1_ps(a.min_factor[i]), acc[i]);
  }
}

// Multiplies 16 packed activation rows by one packed group of 16 weight rows into y. The tile
// configuration is loaded.
//
// Tiles 0-3 take the int32 sums of four blocks in turn, 4-5 their activation blocks and 6-7
// their weight blocks. Each step stores block b's sums, issues the product of block b + 3, and
// scales block b's sums while that product runs.
#define GLIMPSE_AMX_ISSUE(sums_tile, act_tile, weight_tile, block)  \
  do {                                                             \
    _tile_zero(sums_tile);                                         \
    _tile_loadd(act_tile, acts[block].q, kQuantBlock);             \
    _tile_loadd(weight_tile, group[block].q, 64);                  \
    _tile_dpbssd(sums_tile, act_tile, weight_tile);                \
  } while (0)
#define GLIMPSE_AMX_STEP(sums_tile, next_sums_tile, next_act_tile, next_weight_tile, block)           \
  do {                                                                                             \
    _tile_stored(sums_tile, sums[(block) % 2], 64);                                                \
    if ((block) + 3 < nb) GLIMPSE_AMX_ISSUE(next_sums_tile, next_act_tile, next_weight_tile, (block) + 3); \
    scale_tile<kMins>(sums[(block) % 2], group[block], acts[block], acc);                         \
  } while (0)

template <bool kMins>
void amx_group(const AmxPanelBlock* group, const AmxActBlock* acts, std::int64_t nb, float* y, std::int64_t ldy) {
  alignas(64) std::int32_t sums[2][kAmxRows][16];
  __m512 acc[kAmxRows];
  for (__m512& a : acc) a = _mm512_setzero_ps();
  GLIMPSE_AMX_ISSUE(0, 4, 6, 0);
  if (nb > 1) GLIMPSE_AMX_ISSUE(1, 5, 7, 1);
  if (nb > 2) GLIMPSE_AMX_ISSUE(2, 4, 6, 2);
  for (std::int64_t b = 0; b < nb; b += 4) {
    // Block b + 3 takes the sums tile after block b's and the other activation and weight tiles.
    GLIMPSE_AMX_STEP(0, 3, 5, 7, b);
    if (b + 1 >= nb) break;
    GLIMPSE_AMX_STEP(1, 0, 4, 6, b + 1);
    if (b + 2 >= nb) break;
    GLIMPSE_AMX_STEP(2, 1, 5, 7, b + 2);
    if (b + 3 >= nb) break;
    GLIMPSE_AMX_STEP(3, 2, 4, 6, b + 3);
  }
  for (int i = 0; i < kAmxRows; ++i) _mm512_storeu_ps(y + i * ldy, acc[i]);
}

#undef GLIMPSE_AMX_ISSUE
#undef GLIMPSE_AMX_STEP

// A 64-byte aligned buffer of T, one per thread and use, grown as needed.
template <typename T>
struct AlignedScratch {
  T* data = nullptr;
  std::int64_t size = 0;
  T* reserve(std::int64_t count) {
    if (size < count) {
      _mm_free(data);
      data = static_cast<T*>(_mm_malloc(static_cast<std::size_t>(count) * sizeof(T), 64));
      size = count;
    }
    return data;
  }
  ~AlignedScratch() { _mm_free(data); }
};

std::size_t amx_tile_rows_bytes(std::int64_t m, std::int64_t n) {
  return static_cast<std::size_t>(m / kAmxRows * (n / kQuantBlock)) * sizeof(AmxActBlock);
}

void amx_tile_rows(const QuantizedRows& x, std::int64_t n, std::int64_t tile_begin, std::int64_t tile_end, void* out) {
  const std::int64_t nb = n / kQuantBlock;
  for (std::int64_t t = tile_begin; t < tile_end; ++t) {
    pack_amx_acts(x, t * kAmxRows, nb, static_cast<AmxActBlock*>(out) + t * nb);
  }
}

// `groups` groups of 16 weight rows given by `source`, times m activation rows. Whole tiles of 16
// activation rows go through AMX; the rows left over take the AVX-512 kernel `rest`.
template <typename Source, typename Rest>
void amx_matmul(const Source& source, std::int64_t groups, std::int64_t nb, const QuantizedRows& x, std::int64_t m,
                float* y, std::int64_t ldy, Rest rest) {
  const std::int64_t tiled = m / kAmxRows * kAmxRows;
  if (tiled > 0) {
    thread_local AlignedScratch<AmxPanelBlock> panel;
    thread_local AlignedScratch<AmxActBlock> own_acts;
    pack_amx_panel(source, nb, groups, panel.reserve(groups * nb));
    const auto* tiles = static_cast<const AmxActBlock*>(x.tiles);
    if (tiles == nullptr) own_acts.reserve(nb);
    const AmxTileConfig config;
    _tile_loadconfig(&config);
    for (std::int64_t i = 0; i < tiled; i += kAmxRows) {
      const AmxActBlock* acts = tiles != nullptr ? tiles + i / kAmxRows * nb : own_acts.data;
      if (tiles == nullptr) pack_amx_acts(x, i, nb, own_acts.data);
      for (std::int64_t v = 0; v < groups; ++v) {
        amx_group<has_mins<Source>()>(panel.data + v * nb, acts, nb, y + i * ldy + v * 16, ldy);
      }
    }
    _tile_release();
  }
  if (tiled < m) {
    const QuantizedRows left{x.q + tiled * nb * kQuantBlock, x.d + tiled * nb, x.sum + tiled * nb, nullptr};
    rest(left, m - tiled, y + tiled * ldy);
  }
}

void matmul_q8_0x16_amx(const BlockQ8_0x16* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                        std::int64_t m, float* y, std::int64_t ldy) {
  const std::int64_t nb = n / kQuantBlock;
  amx_matmul(Q8x16Groups{w, nb}, rows / 16, nb, x, m, y, ldy, [&](const QuantizedRows& left, std::int64_t m_left, float* y_left) {
    matmul_q8_0x16_512(w, rows, n, left, m_left, y_left, ldy);
  });
}

void matmul_q4_0x16_amx(const BlockQ4_0x16* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                        std::int64_t m, float* y, std::int64_t ldy) {
  const std::int64_t nb = n / kQuantBlock;
  amx_matmul(Q4x16Groups{w, nb}, rows / 16, nb, x, m, y, ldy, [&](const QuantizedRows& left, std::int64_t m_left, float* y_left) {
    matmul_q4_0x16_512(w, rows, n, left, m_left, y_left, ldy);
  });
}

void matmul_q4_Kx16_amx(const BlockQ4_Kx16* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                        std::int64_t m, float* y, std::int64_t ldy) {
  const std::int64_t nb = n / kQuantBlock;
  amx_matmul(Q4Kx16Groups{w, n / kSuperBlock}, rows / 16, nb, x, m, y, ldy,
             [&](const QuantizedRows& left, std::int64_t m_left, float* y_left) {
               matmul_q4_Kx16_512(w, rows, n, left, m_left, y_left, ldy);
             });
}

constexpr IsaKernels kAvx512 = {
    Isa::kAvx512,    "avx512",          matmul_f32_512,   matmul_f16_512, matmul_bf16_512, matmul_q8_0_512,
    matmul_q4_0_512, matmul_q4_0x16_512, matmul_q8_0x16_512, matmul_q4_K_512, matmul_q6_K_512, matmul_q4_Kx16_512,
    quantize_row_x86, f16_to_f32_x86, bf16_to_f32_x86, nullptr, nullptr, nullptr, nullptr, nullptr,
};

// The AVX-512 table with the x16 layouts on AMX-INT8 tiles and float weights on AMX-BF16 tiles
// for prompts.
constexpr IsaKernels kAmx = {
    Isa::kAmx,       "amx",             matmul_f32_512,   matmul_f16_512, matmul_bf16_512, matmul_q8_0_512,
    matmul_q4_0_512, matmul_q4_0x16_amx, matmul_q8_0x16_amx, matmul_q4_K_512, matmul_q6_K_512, matmul_q4_Kx16_amx,
    quantize_row_x86, f16_to_f32_x86, bf16_to_f32_x86, amx_tile_rows_bytes, amx_tile_rows,
    amx_float_tile_rows_bytes, amx_float_tile_rows, matmul_float_tiles_amx,
};

}  // namespace

const IsaKernels* avx512_kernels() { return &kAvx512; }
const IsaKernels* amx_kernels() { return &kAmx; }

}  // namespace glimpse::kernels
