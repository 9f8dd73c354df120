// The instruction-set-specific inner loops of the kernels, one table per instruction set, chosen
// once at run time from what the CPU reports (or from GLIMPSE_ISA). kernels.cpp does the
// threading and blocking; the tables only see contiguous rows.
//
// Intrinsics rather than Highway, because the quantized dot products depend on a few x86
// instructions (vpmaddubsw, vpdpbusd) and on the exact byte order of llama.cpp's blocks. The
// matmul tiles are register-allocation work that reads more plainly as intrinsics than through
// an abstraction. Each table is compiled in its own file with its own target flags. The portable
// table is the scalar reference that the tests compare the others with.
#pragma once

#include <cstddef>
#include <cstdint>

#include "glimpse/quant.h"

namespace glimpse::kernels {

enum class Isa : int { kPortable = 0, kAvx2 = 1, kAvx512 = 2, kAmx = 3 };

// The element type of 16-bit float weights, for the kernels that take both.
enum class FloatWeights : int { kF16 = 0, kBF16 = 1 };

// Activation rows quantized for int8 dot products with Q8_0, Q4_0, Q4_K and Q6_K weights. Per block of 32
// values: d = max|x| / 127, q = round-half-even(x * (1 / d)), sum = the sum of the 32 q values
// (Q4_0's nibbles carry an offset of 8, so its dot product subtracts 8 * sum).
struct QuantizedRows {
  const std::int8_t* q = nullptr;     // [m][n]
  const float* d = nullptr;           // [m][n / 32]
  const std::int32_t* sum = nullptr;  // [m][n / 32]
  // The same rows rearranged by the table's tile_rows, or null. Kernels that use it rearrange
  // the rows themselves when it is null.
  const void* tiles = nullptr;
};

struct IsaKernels {
  Isa isa;
  const char* name;

  // y[i * ldy + r] = x_i · w_r for i < m and r < rows, where x has m rows of n floats and w has
  // `rows` rows of n elements in the named type. Float weights of f16/bf16 type are read as
  // stored; tiles of several x rows and weight rows share their loads.
  void (*matmul_f32)(const float* w, std::int64_t rows, std::int64_t n, const float* x, std::int64_t m,
                     float* y, std::int64_t ldy);
  void (*matmul_f16)(const std::uint16_t* w, std::int64_t rows, std::int64_t n, const float* x,
                     std::int64_t m, float* y, std::int64_t ldy);
  void (*matmul_bf16)(const std::uint16_t* w, std::int64_t rows, std::int64_t n, const float* x,
                      std::int64_t m, float* y, std::int64_t ldy);
  // The same with quantized weights and activations; n is a multiple of 32.
  void (*matmul_q8_0)(const BlockQ8_0* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                      std::int64_t m, float* y, std::int64_t ldy);
  void (*matmul_q4_0)(const BlockQ4_0* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                      std::int64_t m, float* y, std::int64_t ldy);
  // Q4_0 weights repacked 16 rows at a time (BlockQ4_0x16; rows a multiple of 16). It is null in
  // tables that do not gain from the layout. Loading repacks only when the table in use has it,
  // and linear() falls back to the portable one when another table was forced later.
  void (*matmul_q4_0x16)(const BlockQ4_0x16* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                        std::int64_t m, float* y, std::int64_t ldy);
  // Q8_0 weights repacked 16 rows at a time (BlockQ8_0x16; rows a multiple of 16), on the same
  // terms as matmul_q4_0x16.
  void (*matmul_q8_0x16)(const BlockQ8_0x16* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                         std::int64_t m, float* y, std::int64_t ldy);
  // Q4_K and Q6_K weights against the same 32-value activation blocks; n is a multiple of 256.
  // Each Q4_K sub-block lines up with one activation block; a Q6_K activation block spans two
  // of its 16-value sub-blocks.
  void (*matmul_q4_K)(const BlockQ4_K* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                      std::int64_t m, float* y, std::int64_t ldy);
  void (*matmul_q6_K)(const BlockQ6_K* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                      std::int64_t m, float* y, std::int64_t ldy);
  // Q4_K weights repacked 16 rows at a time (BlockQ4_Kx16), on the same terms as matmul_q4_0x16.
  void (*matmul_q4_Kx16)(const BlockQ4_Kx16* w, std::int64_t rows, std::int64_t n, const QuantizedRows& x,
                         std::int64_t m, float* y, std::int64_t ldy);

  // One activation row of n floats (n a multiple of 32) into q[n], d[n/32], sum[n/32].
  void (*quantize_row)(const float* x, std::int64_t n, std::int8_t* q, float* d, std::int32_t* sum);

  // Widening conversions of n values.
  void (*f16_to_f32)(const std::uint16_t* in, std::int64_t n, float* out);
  void (*bf16_to_f32)(const std::uint16_t* in, std::int64_t n, float* out);

  // Optional, null in most tables. tile_rows_bytes gives the size of tile_rows' output for m
  // rows of n values, and tile_rows writes tiles [tile_begin, tile_end) of x to `out`. linear()
  // calls them once per call and passes the result to the x16 kernels as QuantizedRows::tiles.
  std::size_t (*tile_rows_bytes)(std::int64_t m, std::int64_t n);
  void (*tile_rows)(const QuantizedRows& x, std::int64_t n, std::int64_t tile_begin, std::int64_t tile_end, void* out);

  // Optional, null in most tables: f16 or bf16 weights times at least kFloatTileMinRows
  // activation rows on tiles. float_tile_rows rearranges rows [32 pair_begin, 32 pair_end) of x
  // (m rows of n floats) into `out`, of float_tile_rows_bytes(m, n) bytes. linear() does that
  // once per call, and matmul_float_tiles then gives y[i * ldy + r] = x_i · w_r for i < m and
  // r < rows.
  std::size_t (*float_tile_rows_bytes)(std::int64_t m, std::int64_t n);
  void (*float_tile_rows)(const float* x, std::int64_t m, std::int64_t n, std::int64_t pair_begin,
                          std::int64_t pair_end, void* out);
  void (*matmul_float_tiles)(FloatWeights type, const void* w, std::int64_t rows, std::int64_t n,
                             const void* x_tiles, std::int64_t m, float* y, std::int64_t ldy);
};

// Minimum number of activation rows for which linear() uses matmul_float_tiles, where a table
// has it.
constexpr std::int64_t kFloatTileMinRows = 16;

// The AMX-BF16 float kernels of the amx table (isa_amx_float.cpp).
std::size_t amx_float_tile_rows_bytes(std::int64_t m, std::int64_t n);
void amx_float_tile_rows(const float* x, std::int64_t m, std::int64_t n, std::int64_t pair_begin,
                         std::int64_t pair_end, void* out);
void matmul_float_tiles_amx(FloatWeights type, const void* w, std::int64_t rows, std::int64_t n,
                            const void* x_tiles, std::int64_t m, float* y, std::int64_t ldy);

// The tables compiled into this build. The x86 ones are null when the compiler cannot target
// them; whether the CPU runs them is a separate question (isa_supported).
const IsaKernels* portable_kernels();
const IsaKernels* avx2_kernels();
const IsaKernels* avx512_kernels();
// The AVX-512 table with prompt-shaped products of the x16 layouts on AMX-INT8 tiles.
const IsaKernels* amx_kernels();

// Whether this CPU and build can run `isa`.
bool isa_supported(Isa isa);

// The table in use: the best supported one, unless the GLIMPSE_ISA environment variable
// (portable, avx2, avx512 or amx) names another. It is chosen on first use.
const IsaKernels& active_kernels();

// Makes `isa` the table in use and returns true, or returns false when it is not supported.
// For tests and benchmarks; not safe while other threads run kernels.
bool set_active_isa(Isa isa);

const char* isa_name(Isa isa);

}  // namespace glimpse::kernels
