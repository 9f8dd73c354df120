// llama.cpp's Q8_0, Q4_0, Q4_K and Q6_K block formats, byte for byte, and their plain scalar
// quantizers.
//
// Q8_0: 32 values share an f16 scale d; value j is d * qs[j] with qs in [-127, 127].
// Q4_0: 32 values share an f16 scale d; byte j of qs stores value j in its low nibble and value
// j + 16 in its high nibble, each decoding to d * (nibble - 8).
// Q4_K and Q6_K group 256 values into a super-block (below).
// The quantizers follow ggml's reference functions (quantize_row_q8_0_ref, quantize_row_q4_0_ref,
// quantize_row_q4_K_ref, quantize_row_q6_K_ref), so a tensor quantized here has the same bytes as
// the same tensor quantized by llama-quantize without an importance matrix.
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

inline constexpr std::int64_t kSuperBlock = 256;

// Q4_K: 8 sub-blocks of 32 values, each with a 6-bit scale and a 6-bit min, both scaled by the
// super-block's f16 d and dmin: value = d * sc * q - dmin * m with q in 0..15. `scales` packs the
// 16 six-bit numbers (q4_k_scale_min). qs holds the super-block in 4 runs of 32 bytes: byte l of
// run p stores value 64p + l in its low nibble and value 64p + 32 + l in its high nibble.
struct BlockQ4_K {
  std::uint16_t d;     // f16 bits
  std::uint16_t dmin;  // f16 bits
  std::uint8_t scales[12];
  std::uint8_t qs[kSuperBlock / 2];
};
static_assert(sizeof(BlockQ4_K) == 144, "Q4_K blocks are 144 bytes in GGUF files");

// Sub-block j's (0..7) scale and min from a Q4_K block's packed scales.
inline void q4_k_scale_min(const std::uint8_t* scales, int j, int& scale, int& min) {
  if (j < 4) {
    scale = scales[j] & 63;
    min = scales[j + 4] & 63;
  } else {
    scale = (scales[j + 4] & 0x0f) | ((scales[j - 4] >> 6) << 4);
    min = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
  }
}

// Q6_K: 16 sub-blocks of 16 values, each with a signed 8-bit scale, times the super-block's f16
// d: value = d * scales[v / 16] * (q - 32) with q in 0..63. The low 4 bits of q sit in ql, the
// high 2 in qh (q6_k_value has the exact places).
struct BlockQ6_K {
  std::uint8_t ql[kSuperBlock / 2];
  std::uint8_t qh[kSuperBlock / 4];
  std::int8_t scales[kSuperBlock / 16];
  std::uint16_t d;  // f16 bits
};
static_assert(sizeof(BlockQ6_K) == 210, "Q6_K blocks are 210 bytes in GGUF files");

// The 6-bit q (0..63) of value v (0..255) of a Q6_K block. The block has two halves of 128
// values; in a half, quarter t's value l (0..31) keeps its low bits in ql byte l + 32 * (t % 2)
// (low nibble for t < 2, high for t >= 2) and its high bits in bits 2t, 2t+1 of qh byte l.
inline int q6_k_value(const BlockQ6_K& block, int v) {
  const int half = v / 128;
  const int t = (v % 128) / 32;
  const int l = v % 32;
  const std::uint8_t low = block.ql[64 * half + l + 32 * (t % 2)];
  const int low_bits = t < 2 ? (low & 0x0f) : (low >> 4);
  const int high_bits = (block.qh[32 * half + l] >> (2 * t)) & 3;
  return low_bits | (high_bits << 4);
}

// Q4_K super-blocks of 16 consecutive rows, k-major, made at load time. The block holds the 16
// rows' d and dmin and their 8 sub-block scales and mins as bytes (scales[j][row]). Then, for
// each 32-byte run p of qs (0..3) and each group g (0..7), come the 16 rows' bytes 4g..4g+3. Byte t of a
// group contains value 64p + 4g + t in its low nibble and value 64p + 32 + 4g + t in its high
// nibble, so a mask or a shift of one 64-byte group gives 4 values of 16 rows for vpdpbusd.
// The decoded scales make it 64 bytes larger than the 16 Q4_K blocks it comes from.
struct BlockQ4_Kx16 {
  std::uint16_t d[16];
  std::uint16_t dmin[16];
  std::uint8_t scales[8][16];
  std::uint8_t mins[8][16];
  std::uint8_t qs[4][8][16][4];
};
static_assert(sizeof(BlockQ4_Kx16) == 16 * sizeof(BlockQ4_K) + 64, "Q4_Kx16 adds 4 bytes per row");

// Interleaves a Q4_K weight of `rows` rows (a multiple of 16) and nsb super-blocks per row.
void repack_q4_Kx16(const BlockQ4_K* in, std::int64_t rows, std::int64_t nsb, BlockQ4_Kx16* out);

// Decodes slot `row` (0..15) of a Q4_Kx16 block into its 256 values, as dequantize_row_q4_K
// decodes the block it came from.
void dequantize_q4_Kx16_slot(const BlockQ4_Kx16& block, int row, float* out);

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

// Quantizes x[n] (n a multiple of 32, or of 256 for the K types) into blocks at `out`.
void quantize_row_q8_0(const float* x, std::int64_t n, BlockQ8_0* out);
void quantize_row_q4_0(const float* x, std::int64_t n, BlockQ4_0* out);
void quantize_row_q4_K(const float* x, std::int64_t n, BlockQ4_K* out);
void quantize_row_q6_K(const float* x, std::int64_t n, BlockQ6_K* out);

// Decodes n elements (a multiple of the block size) of blocks into floats.
void dequantize_row_q8_0(const BlockQ8_0* blocks, std::int64_t n, float* out);
void dequantize_row_q4_0(const BlockQ4_0* blocks, std::int64_t n, float* out);
void dequantize_row_q4_K(const BlockQ4_K* blocks, std::int64_t n, float* out);
void dequantize_row_q6_K(const BlockQ6_K* blocks, std::int64_t n, float* out);

// Quantizes one row of `n` floats into `dtype` (Q8_0, Q4_0, Q4_K or Q6_K) at `out`, which has
// dtype_bytes(dtype, n) bytes.
void quantize_row(DType dtype, const float* x, std::int64_t n, void* out);

// Whether `dtype` is a block type that files store and `glimpse quantize` writes (Q8_0, Q4_0,
// Q4_K, Q6_K), as opposed to the in-memory layouts.
bool is_file_quant_type(DType dtype);

// Parses "q8_0", "q4_0", "q4_k" or "q6_k" (any case); anything else returns false.
bool parse_quant_type(std::string_view text, DType& dtype);

}  // namespace glimpse
