// Prompt-shaped products of f16 and bf16 weights on AMX-BF16 tiles, for the amx table.
//
// One tdpbf16ps multiplies a 16 x 32 tile of bf16 values by a 32 x 16 one into 16 x 16 float
// sums: 8192 products, where an AVX-512 FMA does 16. bf16 keeps 8 significant bits, so rounding
// the activations to it would move logits far past the tolerance that float32 arithmetic meets
// (the reference tests in tests/integration). Each value is therefore split into bf16 parts
// that sum to it: an f16 weight into two, exactly (f16 has 11 significant bits), and an
// activation into three, which hold it to within 2^-24 of its size. The products kept are
//   w0 x0 + w0 x1 + w0 x2 + w1 x0 + w1 x1
// (five tile products; bf16 weights have one part and take three). The largest term left out,
// w1 x2, is below 2^-24 of the product, and each product of two bf16 values is exact in float.
// With three parts of the activations the results pass the same reference tests as the float
// kernels. With two parts (and three products) they did not: the image features were off by up
// to 1.45 times the tolerance.
//
// Roles: the weights are the tile product's left operand, a plain row-major tile of 16 weight
// rows of 32 values. The activations are the right operand, which the tile unit wants in pairs:
// tile row j contains values 2j and 2j + 1 of 16 activation rows. linear() rearranges the
// activations once per call (amx_float_tile_rows) for every weight row, and each matmul call
// converts its block of weight rows slab by slab. The sums tile is the transpose of the output
// block, so it is stored through a small buffer.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/isa.h"

namespace glimpse::kernels {
namespace {

constexpr std::int64_t kTileRows = 16;     // weight rows or activation rows per tile
constexpr std::int64_t kStep = 32;         // values of the inner dimension per tile product
constexpr std::int64_t kTileBytes = 1024;  // 16 rows of 64 bytes
constexpr std::int64_t kPair = 2 * kTileRows;
constexpr std::int64_t kXParts = 3;      // bf16 parts of each activation
constexpr std::int64_t kSlabSteps = 16;  // steps of the inner dimension per slab

// Tile configuration: all eight tiles are 16 rows of 64 bytes. Tiles 0-3 contain float sums,
// 4-5 weight tiles and 6-7 activation tiles.
struct alignas(64) TileConfig {
  std::uint8_t palette = 1;
  std::uint8_t start_row = 0;
  std::uint8_t reserved[14] = {};
  std::uint16_t bytes_per_row[16] = {64, 64, 64, 64, 64, 64, 64, 64};
  std::uint8_t rows[16] = {16, 16, 16, 16, 16, 16, 16, 16};
};
static_assert(sizeof(TileConfig) == 64, "the tile configuration is one 64-byte record");

std::int64_t steps_of(std::int64_t n) { return (n + kStep - 1) / kStep; }

inline __m256i to_bf16(__m512 v) { return (__m256i)_mm512_cvtneps_pbh(v); }

inline __m512 from_bf16(__m256i bits) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16)); }

// Splits 16 floats into their high and low bf16 parts (rounded to nearest even).
inline void split(__m512 v, std::uint16_t* high, std::uint16_t* low) {
  const __m256i h = to_bf16(v);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(high), h);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(low), to_bf16(_mm512_sub_ps(v, from_bf16(h))));
}

// Loads `count` (<= 16) values of a weight row as floats; the rest are zero.
inline __m512 load_weights(FloatWeights type, const void* row, std::int64_t at, std::int64_t count) {
  const auto mask = static_cast<__mmask16>(count >= 16 ? 0xffff : (1u << count) - 1u);
  switch (type) {
    case FloatWeights::kF16:
      return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, static_cast<const std::uint16_t*>(row) + at));
    case FloatWeights::kBF16:
      return from_bf16(_mm256_maskz_loadu_epi16(mask, static_cast<const std::uint16_t*>(row) + at));
  }
  return _mm512_setzero_ps();
}

// Writes the weight panel of steps [s_begin, s_end): for each pair of weight tiles and each
// step of 32 values, the high tiles of both, then (unless the weights are bf16) their low tiles,
// each 16 rows of 32 bf16. Rows past `rows` and values past n are zero.
void pack_weights(FloatWeights type, const void* w, std::int64_t rows, std::int64_t n, std::int64_t s_begin,
                  std::int64_t s_end, std::uint16_t* panel) {
  const std::int64_t parts = type == FloatWeights::kBF16 ? 1 : 2;
  const std::int64_t pairs = (rows + kPair - 1) / kPair;
  for (std::int64_t p = 0; p < pairs; ++p) {
    for (std::int64_t s = s_begin; s < s_end; ++s) {
      auto* step = panel + (p * (s_end - s_begin) + s - s_begin) * parts * 2 * (kTileBytes / 2);
      for (std::int64_t a = 0; a < 2; ++a) {
        std::uint16_t* high = step + a * (kTileBytes / 2);
        std::uint16_t* low = step + (2 + a) * (kTileBytes / 2);
        for (std::int64_t r = 0; r < kTileRows; ++r) {
          const std::int64_t row = p * kPair + a * kTileRows + r;
          if (row >= rows) {
            std::memset(high + r * kStep, 0, 64);
            if (parts == 2) std::memset(low + r * kStep, 0, 64);
            continue;
          }
          const void* source = static_cast<const char*>(w) + static_cast<std::size_t>(row * n) * 2;
          for (std::int64_t half = 0; half < 2; ++half) {
            const std::int64_t at = s * kStep + half * 16;
            const __m512 v = load_weights(type, source, at, std::max<std::int64_t>(0, n - at));
            if (parts == 2) {
              split(v, high + r * kStep + half * 16, low + r * kStep + half * 16);
            } else {
              _mm256_storeu_si256(reinterpret_cast<__m256i*>(high + r * kStep + half * 16), to_bf16(v));
            }
          }
        }
      }
    }
  }
}

// A 64-byte aligned buffer per thread, grown as needed.
struct Scratch {
  std::uint16_t* data = nullptr;
  std::int64_t size = 0;
  std::uint16_t* reserve(std::int64_t count) {
    if (size < count) {
      _mm_free(data);
      data = static_cast<std::uint16_t*>(_mm_malloc(static_cast<std::size_t>(count) * sizeof(std::uint16_t), 64));
      size = count;
    }
    return data;
  }
  ~Scratch() { _mm_free(data); }
};

}  // namespace

std::size_t amx_float_tile_rows_bytes(std::int64_t m, std::int64_t n) {
  const std::int64_t pairs = (m + kPair - 1) / kPair;
  return static_cast<std::size_t>(pairs * steps_of(n) * 2 * kXParts * kTileBytes);
}

// Rearranges activation rows [32 pair_begin, 32 pair_end) of x: for each pair of tiles and
// each step, both tiles of the first bf16 part, then of the second and of the third. Row j of a
// tile contains values 2j and 2j + 1 of its 16 activation rows, as 32-bit units. Rows past m and
// values past n are zero.
void amx_float_tile_rows(const float* x, std::int64_t m, std::int64_t n, std::int64_t pair_begin,
                         std::int64_t pair_end, void* out) {
  const std::int64_t steps = steps_of(n);
  alignas(64) std::uint16_t parts[kXParts][kTileRows][kStep];
  for (std::int64_t p = pair_begin; p < pair_end; ++p) {
    for (std::int64_t s = 0; s < steps; ++s) {
      auto* step = static_cast<std::uint32_t*>(out) + (p * steps + s) * 2 * kXParts * (kTileBytes / 4);
      for (std::int64_t b = 0; b < 2; ++b) {
        for (std::int64_t i = 0; i < kTileRows; ++i) {
          const std::int64_t row = p * kPair + b * kTileRows + i;
          for (std::int64_t half = 0; half < 2; ++half) {
            const std::int64_t at = s * kStep + half * 16;
            const std::int64_t count = row < m ? std::clamp<std::int64_t>(n - at, 0, 16) : 0;
            const auto mask = static_cast<__mmask16>(count >= 16 ? 0xffff : (1u << count) - 1u);
            const float* source = count > 0 ? x + row * n + at : x;
            __m512 v = _mm512_maskz_loadu_ps(mask, source);
            for (std::int64_t part = 0; part < kXParts; ++part) {
              const __m256i bits = to_bf16(v);
              _mm256_storeu_si256(reinterpret_cast<__m256i*>(&parts[part][i][half * 16]), bits);
              v = _mm512_sub_ps(v, from_bf16(bits));
            }
          }
        }
        // Transpose each part's 16 x 16 grid of value pairs into the tile layout.
        for (std::int64_t part = 0; part < kXParts; ++part) {
          std::uint32_t* tile = step + (2 * part + b) * (kTileBytes / 4);
          for (std::int64_t i = 0; i < kTileRows; ++i) {
            for (std::int64_t j = 0; j < kTileRows; ++j) std::memcpy(&tile[j * kTileRows + i], &parts[part][i][2 * j], 4);
          }
        }
      }
    }
  }
}

namespace {

// Copies a stored 16 x 16 sums tile (weight rows r0.., activation rows i0..) into y, transposed,
// leaving out rows past `rows` and m.
void store_transposed(const float (&sums)[kTileRows][kTileRows], std::int64_t r0, std::int64_t rows, std::int64_t i0,
                      std::int64_t m, float* y, std::int64_t ldy) {
  const std::int64_t r_end = std::min(rows - r0, kTileRows);
  const std::int64_t i_end = std::min(m - i0, kTileRows);
  for (std::int64_t i = 0; i < i_end; ++i) {
    float* out = y + (i0 + i) * ldy + r0;
    for (std::int64_t r = 0; r < r_end; ++r) out[r] = sums[r][i];
  }
}

// Loads the two activation tiles at `tiles` into tiles 6 and 7 and adds their products with
// weight tiles 4 and 5 to sums tiles 0-3.
inline void multiply_pair(const char* tiles) {
  _tile_loadd(6, tiles, 64);
  _tile_loadd(7, tiles + kTileBytes, 64);
  _tile_dpbf16ps(0, 4, 6);
  _tile_dpbf16ps(1, 4, 7);
  _tile_dpbf16ps(2, 5, 6);
  _tile_dpbf16ps(3, 5, 7);
}

}  // namespace

void matmul_float_tiles_amx(FloatWeights type, const void* w, std::int64_t rows, std::int64_t n, const void* x_tiles,
                            std::int64_t m, float* y, std::int64_t ldy) {
  const std::int64_t steps = steps_of(n);
  const bool low_weights = type != FloatWeights::kBF16;
  const std::int64_t parts = low_weights ? 2 : 1;
  const std::int64_t w_pairs = (rows + kPair - 1) / kPair;
  const std::int64_t x_pairs = (m + kPair - 1) / kPair;

  // The inner dimension goes in slabs of kSlabSteps steps. A slab of the weight panel serves
  // every activation pair, and a slab of an activation pair every weight pair, from cache. The
  // sums of all tiles wait in `sums` between slabs.
  thread_local Scratch panel_scratch;
  thread_local Scratch sums_scratch;
  std::uint16_t* panel = panel_scratch.reserve(w_pairs * kSlabSteps * parts * 2 * (kTileBytes / 2));
  auto* sums = reinterpret_cast<char*>(sums_scratch.reserve(x_pairs * w_pairs * 4 * (kTileBytes / 2)));

  const TileConfig config;
  _tile_loadconfig(&config);
  alignas(64) float buffer[kTileRows][kTileRows];
  const auto* x_bytes = static_cast<const char*>(x_tiles);
  const auto* w_bytes = reinterpret_cast<const char*>(panel);
  for (std::int64_t s0 = 0; s0 < steps; s0 += kSlabSteps) {
    const std::int64_t s1 = std::min(steps, s0 + kSlabSteps);
    const bool first = s0 == 0;
    const bool last = s1 == steps;
    pack_weights(type, w, rows, n, s0, s1, panel);
    for (std::int64_t q = 0; q < x_pairs; ++q) {
      for (std::int64_t p = 0; p < w_pairs; ++p) {
        char* partial = sums + (q * w_pairs + p) * 4 * kTileBytes;
        if (first) {
          _tile_zero(0);
          _tile_zero(1);
          _tile_zero(2);
          _tile_zero(3);
        } else {
          _tile_loadd(0, partial, 64);
          _tile_loadd(1, partial + kTileBytes, 64);
          _tile_loadd(2, partial + 2 * kTileBytes, 64);
          _tile_loadd(3, partial + 3 * kTileBytes, 64);
        }
        const char* wp = w_bytes + p * (s1 - s0) * parts * 2 * kTileBytes;
        const char* xp = x_bytes + (q * steps + s0) * 2 * kXParts * kTileBytes;
        for (std::int64_t s = s0; s < s1; ++s, wp += parts * 2 * kTileBytes, xp += 2 * kXParts * kTileBytes) {
          _tile_loadd(4, wp, 64);
          _tile_loadd(5, wp + kTileBytes, 64);
          for (std::int64_t part = 0; part < kXParts; ++part) multiply_pair(xp + 2 * part * kTileBytes);
          if (low_weights) {
            _tile_loadd(4, wp + 2 * kTileBytes, 64);
            _tile_loadd(5, wp + 3 * kTileBytes, 64);
            multiply_pair(xp + 2 * kTileBytes);
            multiply_pair(xp);
          }
        }
        if (!last) {
          _tile_stored(0, partial, 64);
          _tile_stored(1, partial + kTileBytes, 64);
          _tile_stored(2, partial + 2 * kTileBytes, 64);
          _tile_stored(3, partial + 3 * kTileBytes, 64);
          continue;
        }
        // Sums tile 2a + b: weight tile a of the pair, activation tile b.
        const std::int64_t r0 = p * kPair;
        const std::int64_t i0 = q * kPair;
        _tile_stored(0, buffer, 64);
        store_transposed(buffer, r0, rows, i0, m, y, ldy);
        _tile_stored(1, buffer, 64);
        store_transposed(buffer, r0, rows, i0 + kTileRows, m, y, ldy);
        _tile_stored(2, buffer, 64);
        store_transposed(buffer, r0 + kTileRows, rows, i0, m, y, ldy);
        _tile_stored(3, buffer, 64);
        store_transposed(buffer, r0 + kTileRows, rows, i0 + kTileRows, m, y, ldy);
      }
    }
  }
  _tile_release();
}

}  // namespace glimpse::kernels
