// llama.cpp's Q8_0 and Q4_0 block formats, byte for byte, and their plain scalar quantizers.
//
// Q8_0: 32 values share an f16 scale d; value j is d * qs[j] with qs in [-127, 127].
// Q4_0: 32 values share an f16 scale d; byte j of qs stores value j in its low nibble and value
// j + 16 in its high nibble, each decoding to d * (nibble - 8).
// The quantizers follow ggml's reference functions (quantize_row_q8_0_ref, quantize_row_q4_0_ref),
// so a tensor quantized here has the same bytes as the same tensor quantized by llama-quantize.
#pragma once

#include <cstdint>
#include <string_view>

#include "glimpse/tensor.h"

namespace glimpse {

inline constexpr std::int64_t kQuantBlock = 32;

struct BlockQ8_0 {
  std::uint16_t d;  // f16 bits
  std::int8_t qs[kQuantBlock];
};
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 blocks are 34 bytes in GGUF files");

struct BlockQ4_0 {
  std::uint16_t d;  // f16 bits
  std::uint8_t qs[kQuantBlock / 2];
};
static_assert(sizeof(BlockQ4_0) == 18, "Q4_0 blocks are 18 bytes in GGUF files");

// Q4_0 blocks of 16 consecutive rows, k-major: the 16 scales, then for each run of 4 bytes
// (g = 0..3) the 16 rows' bytes 4g..4g+3 of their Q4_0 block. Byte t of a run contains values
// 4g + t (low nibble) and 16 + 4g + t (high nibble), each stored as value + 8. Masking or
// shifting one 64-byte run gives what vpdpbusd multiplies by 4 activation bytes, one int32 lane
// per row. A weight of R rows (R a multiple of 16) holds R / 16 groups of nb such blocks, group
// after group, in the same bytes as the Q4_0 weight.
struct BlockQ4_0x16 {
  std::uint16_t d[16];
  std::uint8_t qs[4][16][4];
};
static_assert(sizeof(BlockQ4_0x16) == 16 * sizeof(BlockQ4_0), "Q4_0x16 groups hold 16 Q4_0 blocks");

// Byte j (0..15) of slot `row`'s Q4_0 block: low nibble value j, high nibble value j + 16.
inline std::uint8_t q4_0x16_byte(const BlockQ4_0x16& block, int row, int j) { return block.qs[j / 4][row][j % 4]; }

// Interleaves a Q4_0 weight of `rows` rows (a multiple of 16) and nb blocks per row.
void repack_q4_0x16(const BlockQ4_0* in, std::int64_t rows, std::int64_t nb, BlockQ4_0x16* out);

// Q8_0 blocks of 16 consecutive rows, k-major: the 16 scales, then for each run of 4 values
// (g = 0..7) the 16 rows' 4 values, each stored as value + 128 (0..255). One 64-byte run is
// what vpdpbusd multiplies by 4 activation bytes, one int32 lane per row. A weight of R rows
// (R a multiple of 16) holds R / 16 groups of nb such blocks, group after group, in the same
// bytes as the Q8_0 weight.
struct BlockQ8_0x16 {
  std::uint16_t d[16];
  std::uint8_t qs[8][16][4];
};
static_assert(sizeof(BlockQ8_0x16) == 16 * sizeof(BlockQ8_0), "Q8_0x16 groups hold 16 Q8_0 blocks");

// Interleaves a Q8_0 weight of `rows` rows (a multiple of 16) and nb blocks per row.
void repack_q8_0x16(const BlockQ8_0* in, std::int64_t rows, std::int64_t nb, BlockQ8_0x16* out);

// Value j (0..31) of slot `row` (0..15) of a Q8_0x16 block, as the signed Q8_0 value.
inline std::int8_t q8_0x16_value(const BlockQ8_0x16& block, int row, int j) {
  return static_cast<std::int8_t>(block.qs[j / 4][row][j % 4] - 128);
}

// Quantizes x[n] (n a multiple of 32) into n / 32 blocks at `out`.
void quantize_row_q8_0(const float* x, std::int64_t n, BlockQ8_0* out);
void quantize_row_q4_0(const float* x, std::int64_t n, BlockQ4_0* out);

// Decodes n elements (a multiple of 32) of blocks into floats.
void dequantize_row_q8_0(const BlockQ8_0* blocks, std::int64_t n, float* out);
void dequantize_row_q4_0(const BlockQ4_0* blocks, std::int64_t n, float* out);

// Quantizes one row of `n` floats into `dtype` (Q8_0 or Q4_0) at `out`, which has
// dtype_bytes(dtype, n) bytes.
void quantize_row(DType dtype, const float* x, std::int64_t n, void* out);

// Parses "q8_0" or "q4_0" (any case); anything else gives an empty result.
bool parse_quant_type(std::string_view text, DType& dtype);

}  // namespace glimpse
