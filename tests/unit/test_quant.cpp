// Quantized block formats and the runtime-dispatched matmul tables. Every table this CPU can run
// (portable, AVX2, AVX-512, AMX) is checked against plain double-precision loops written here, on
// shapes that exercise the 4x2 and 1x4 tiles and their remainders.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "glimpse/kernels.h"
#include "glimpse/quant.h"
#include "glimpse/safetensors.h"
#include "glimpse/thread_pool.h"
#include "kernels/isa.h"
#include "support/test_support.h"

namespace glimpse {
namespace {

using kernels::Isa;
using kernels::IsaKernels;

std::vector<float> random_values(std::size_t n, std::uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> values(n);
  for (float& v : values) v = dist(rng);
  return values;
}

constexpr Isa kAllIsas[] = {Isa::kPortable, Isa::kAvx2, Isa::kAvx512, Isa::kAmx};

std::vector<const IsaKernels*> runnable_tables() {
  std::vector<const IsaKernels*> tables;
  for (Isa isa : kAllIsas) {
    if (!kernels::isa_supported(isa)) continue;
    switch (isa) {
      case Isa::kPortable: tables.push_back(kernels::portable_kernels()); break;
      case Isa::kAvx2: tables.push_back(kernels::avx2_kernels()); break;
      case Isa::kAvx512: tables.push_back(kernels::avx512_kernels()); break;
      case Isa::kAmx: tables.push_back(kernels::amx_kernels()); break;
    }
  }
  return tables;
}

// Restores the automatically chosen table when a test that forces one ends.
class ForcedIsa {
 public:
  explicit ForcedIsa(Isa isa) : previous_(kernels::active_kernels().isa) { ok_ = kernels::set_active_isa(isa); }
  ~ForcedIsa() { kernels::set_active_isa(previous_); }
  bool ok() const { return ok_; }

 private:
  Isa previous_;
  bool ok_ = false;
};

TEST(Quant, Q8_0BlockMatchesGgmlReferenceArithmetic) {
  // Block 0: -16..15, so max |x| = 16, d = 16/127 and q = round(x * 127 / 16), halves away from 0.
  std::vector<float> x(64);
  for (int j = 0; j < 32; ++j) x[static_cast<std::size_t>(j)] = static_cast<float>(j - 16);
  // Block 1: all zeros gives d = 0 and q = 0.
  BlockQ8_0 blocks[2];
  quantize_row_q8_0(x.data(), 64, blocks);
  EXPECT_EQ(blocks[0].d, f32_to_f16(16.0f / 127.0f));
  for (int j = 0; j < 32; ++j) {
    const float id = 1.0f / (16.0f / 127.0f);
    EXPECT_EQ(blocks[0].qs[j], static_cast<std::int8_t>(std::round(static_cast<float>(j - 16) * id))) << j;
  }
  EXPECT_EQ(blocks[0].qs[0], -127);
  EXPECT_EQ(blocks[1].d, 0);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(blocks[1].qs[j], 0);
}

TEST(Quant, Q4_0BlockMapsSignedExtremeToMinusEight) {
  std::vector<float> x(32);
  for (int j = 0; j < 32; ++j) x[static_cast<std::size_t>(j)] = static_cast<float>(j) * 0.2f - 3.0f;  // -3 .. 3.2
  x[5] = 4.0f;  // the largest magnitude, positive: d = 4 / -8 = -0.5, so 4.0 becomes nibble 0
  BlockQ4_0 block;
  quantize_row_q4_0(x.data(), 32, &block);
  EXPECT_EQ(block.d, f32_to_f16(-0.5f));
  EXPECT_EQ(block.qs[5] & 0x0f, 0);
  std::vector<float> back(32);
  dequantize_row_q4_0(&block, 32, back.data());
  for (int j = 0; j < 32; ++j) {
    // Every value lies within half a step (|d| / 2) of its reconstruction; 4.0 is exact.
    EXPECT_LE(std::fabs(back[static_cast<std::size_t>(j)] - x[static_cast<std::size_t>(j)]), 0.25f + 1e-6f) << j;
  }
  EXPECT_EQ(back[5], 4.0f);
  // Low nibble j stores element j, and high nibble j stores element j + 16.
  const int lo = block.qs[2] & 0x0f, hi = block.qs[2] >> 4;
  EXPECT_EQ(lo, std::min(15, static_cast<int>(static_cast<std::int8_t>(x[2] / -0.5f + 8.5f))));
  EXPECT_EQ(hi, std::min(15, static_cast<int>(static_cast<std::int8_t>(x[18] / -0.5f + 8.5f))));
}

TEST(Quant, RoundTripErrorIsWithinHalfAStep) {
  const std::vector<float> x = random_values(32 * 40, 3u, 2.0f);
  std::vector<BlockQ8_0> q8(40);
  std::vector<BlockQ4_0> q4(40);
  quantize_row_q8_0(x.data(), 32 * 40, q8.data());
  quantize_row_q4_0(x.data(), 32 * 40, q4.data());
  std::vector<float> back8(x.size()), back4(x.size());
  dequantize_row_q8_0(q8.data(), 32 * 40, back8.data());
  dequantize_row_q4_0(q4.data(), 32 * 40, back4.data());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::size_t b = i / 32;
    const std::size_t j = i % 32;
    // The f16 rounding of d adds a relative 2^-11 per step on top of the half step.
    const float step8 = std::fabs(f16_to_f32(q8[b].d));
    const float step4 = std::fabs(f16_to_f32(q4[b].d));
    EXPECT_LE(std::fabs(back8[i] - x[i]), 0.5f * step8 + 127.0f * step8 / 2048.0f + 1e-7f) << i;
    // Q4_0 has 8 steps on the side of the extreme and 7 on the other: a value beyond 7.5 steps
    // there is capped at nibble 15 and can be off by up to one step.
    const int nibble = j < 16 ? q4[b].qs[j] & 0x0f : q4[b].qs[j - 16] >> 4;
    const float allowed = nibble == 15 ? 1.0f : 0.5f;
    EXPECT_LE(std::fabs(back4[i] - x[i]), allowed * step4 + 8.0f * step4 / 2048.0f + 1e-7f) << i;
  }
}

// The bytes llama.cpp's quantizer wrote for the same F16 rows (tests/data/quant-llama-cpp).
TEST(Quant, MatchesLlamaCppQuantizerBytes) {
  const auto folder = testing::test_data_dir() / "quant-llama-cpp";
  const nlohmann::json manifest = testing::read_json(folder / "manifest.json");
  ASSERT_FALSE(manifest.empty());
  for (const auto& entry : manifest) {
    const std::int64_t rows = entry["rows"].get<std::int64_t>();
    const std::int64_t width = entry["width"].get<std::int64_t>();
    const std::vector<std::uint8_t> f16 = testing::read_bytes(folder / entry["f16"].get<std::string>());
    ASSERT_EQ(f16.size(), static_cast<std::size_t>(rows * width * 2));
    std::vector<float> values(static_cast<std::size_t>(rows * width));
    const TensorView view{DType::kF16, 2, {rows, width, 0, 0}, f16.data()};
    convert_to_f32(view, 0, rows * width, values.data());
    for (DType type : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K}) {
      std::string label(dtype_name(type));
      std::transform(label.begin(), label.end(), label.begin(), [](unsigned char c) { return std::tolower(c); });
      ASSERT_TRUE(entry.contains(label)) << entry["tensor"] << ": the manifest has no " << label << " file";
      const std::vector<std::uint8_t> expected = testing::read_bytes(folder / entry[label].get<std::string>());
      std::vector<std::uint8_t> ours(dtype_bytes(type, rows * width));
      ASSERT_EQ(ours.size(), expected.size()) << entry["tensor"] << " " << label;
      for (std::int64_t r = 0; r < rows; ++r) {
        quantize_row(type, values.data() + r * width, width, ours.data() + static_cast<std::size_t>(r) * dtype_bytes(type, width));
      }
      std::size_t first_difference = ours.size();
      for (std::size_t i = 0; i < ours.size() && first_difference == ours.size(); ++i) {
        if (ours[i] != expected[i]) first_difference = i;
      }
      EXPECT_EQ(first_difference, ours.size()) << entry["tensor"] << " " << label << ": first differing byte";
    }
  }
}

TEST(Quant, ParsesTypeNames) {
  DType type = DType::kF32;
  EXPECT_TRUE(parse_quant_type("Q8_0", type));
  EXPECT_EQ(type, DType::kQ8_0);
  EXPECT_TRUE(parse_quant_type("q4_0", type));
  EXPECT_EQ(type, DType::kQ4_0);
  EXPECT_TRUE(parse_quant_type("q4_k", type));
  EXPECT_EQ(type, DType::kQ4_K);
  EXPECT_TRUE(parse_quant_type("Q6_K", type));
  EXPECT_EQ(type, DType::kQ6_K);
  EXPECT_FALSE(parse_quant_type("q4_1", type));
  EXPECT_FALSE(parse_quant_type("q4_0x16", type));
  EXPECT_FALSE(parse_quant_type("", type));
  EXPECT_EQ(dtype_bytes(DType::kQ8_0, 64), 68u);
  EXPECT_EQ(dtype_bytes(DType::kQ4_0, 64), 36u);
  EXPECT_EQ(dtype_bytes(DType::kQ4_K, 512), 288u);
  EXPECT_EQ(dtype_bytes(DType::kQ6_K, 512), 420u);
}

// Root-mean-square error of quantizing `x` into `type` and decoding it again.
double round_trip_rms(DType type, const std::vector<float>& x) {
  const auto n = static_cast<std::int64_t>(x.size());
  std::vector<std::uint8_t> bytes(dtype_bytes(type, n));
  quantize_row(type, x.data(), n, bytes.data());
  std::vector<float> decoded(x.size());
  convert_to_f32(TensorView{type, 1, {n, 0, 0, 0}, bytes.data()}, 0, n, decoded.data());
  double sum = 0;
  for (std::size_t i = 0; i < x.size(); ++i) sum += (decoded[i] - x[i]) * static_cast<double>(decoded[i] - x[i]);
  return std::sqrt(sum / static_cast<double>(x.size()));
}

// The K types decode to the values they were fitted to: on normally distributed values the
// error of each type sits where its bits put it, and the 6-bit and the 4-bit K types beat
// Q4_0. A value read from the wrong place of a block would give an error near the values' own
// RMS of 1.
TEST(Quant, KTypesRoundTripWithinTheirPrecision) {
  std::mt19937 rng(77u);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(256 * 64);
  for (float& v : x) v = normal(rng);
  const double q8 = round_trip_rms(DType::kQ8_0, x);
  const double q6k = round_trip_rms(DType::kQ6_K, x);
  const double q4k = round_trip_rms(DType::kQ4_K, x);
  const double q4 = round_trip_rms(DType::kQ4_0, x);
  std::printf("round-trip RMS error on N(0, 1): Q8_0 %.4f, Q6_K %.4f, Q4_K %.4f, Q4_0 %.4f\n", q8, q6k, q4k, q4);
  EXPECT_LT(q8, q6k);
  EXPECT_LT(q6k, 0.05);
  EXPECT_LT(q6k, q4k);
  EXPECT_LT(q4k, 0.15);
  EXPECT_LT(q4k, q4);
}

TEST(Quant, KTypesKeepZerosAndSignsOfSmallBlocks) {
  // An all-zero super-block is all zero bytes in Q6_K and decodes to zeros in both types.
  std::vector<float> zeros(256, 0.0f);
  BlockQ6_K q6;
  std::memset(&q6, 0xab, sizeof(q6));
  quantize_row_q6_K(zeros.data(), 256, &q6);
  const auto* raw = reinterpret_cast<const std::uint8_t*>(&q6);
  EXPECT_TRUE(std::all_of(raw, raw + sizeof(q6), [](std::uint8_t b) { return b == 0; }));
  BlockQ4_K q4;
  quantize_row_q4_K(zeros.data(), 256, &q4);
  std::vector<float> decoded(256, 1.0f);
  dequantize_row_q4_K(&q4, 256, decoded.data());
  EXPECT_TRUE(std::all_of(decoded.begin(), decoded.end(), [](float v) { return v == 0.0f; }));

  // Values of one sign: Q4_K's min is 0 for non-negative values, so they decode non-negative,
  // and Q6_K keeps every sign of values well away from zero.
  std::vector<float> ramp(256);
  for (int i = 0; i < 256; ++i) ramp[static_cast<std::size_t>(i)] = 0.5f + static_cast<float>(i % 37) / 8.0f;
  quantize_row_q4_K(ramp.data(), 256, &q4);
  dequantize_row_q4_K(&q4, 256, decoded.data());
  for (int i = 0; i < 256; ++i) {
    EXPECT_GE(decoded[static_cast<std::size_t>(i)], 0.0f) << i;
    EXPECT_NEAR(decoded[static_cast<std::size_t>(i)], ramp[static_cast<std::size_t>(i)], 0.3f) << i;
  }
  for (int i = 0; i < 256; i += 2) ramp[static_cast<std::size_t>(i)] = -ramp[static_cast<std::size_t>(i)];
  quantize_row_q6_K(ramp.data(), 256, &q6);
  dequantize_row_q6_K(&q6, 256, decoded.data());
  for (int i = 0; i < 256; ++i) {
    EXPECT_EQ(decoded[static_cast<std::size_t>(i)] < 0.0f, ramp[static_cast<std::size_t>(i)] < 0.0f) << i;
    EXPECT_NEAR(decoded[static_cast<std::size_t>(i)], ramp[static_cast<std::size_t>(i)], 0.1f) << i;
  }
}

TEST(KernelTables, PortableIsAlwaysRunnable) {
  EXPECT_TRUE(kernels::isa_supported(Isa::kPortable));
  EXPECT_FALSE(kernels::active_isa().empty());
  // Print the tables this machine checks, so a run on a CPU without AVX-512 shows it.
  std::string names;
  for (const IsaKernels* table : runnable_tables()) names += std::string(table->name) + " ";
  RecordProperty("tables", names);
  std::printf("kernel tables checked on this CPU: %s\n", names.c_str());
}

TEST(KernelTables, ActivationQuantizationIsIdenticalInEveryTable) {
  const std::int64_t n = 32 * 9;
  std::vector<float> x = random_values(static_cast<std::size_t>(n), 8u, 3.0f);
  x[40] = 0.0f;
  for (int j = 64; j < 96; ++j) x[static_cast<std::size_t>(j)] = 0.0f;  // an all-zero block
  x[100] = 1e-30f;
  std::vector<std::int8_t> ref_q(static_cast<std::size_t>(n));
  std::vector<float> ref_d(9);
  std::vector<std::int32_t> ref_sum(9);
  kernels::portable_kernels()->quantize_row(x.data(), n, ref_q.data(), ref_d.data(), ref_sum.data());
  for (std::int64_t b = 0; b < 9; ++b) {
    float amax = 0.0f;
    std::int32_t sum = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[static_cast<std::size_t>(b * 32 + j)]));
    for (int j = 0; j < 32; ++j) {
      const std::size_t k = static_cast<std::size_t>(b * 32 + j);
      const float expected = amax == 0.0f ? 0.0f : std::nearbyint(x[k] * (127.0f / amax));
      ASSERT_EQ(ref_q[k], static_cast<std::int8_t>(expected)) << k;
      sum += ref_q[k];
    }
    EXPECT_EQ(ref_sum[static_cast<std::size_t>(b)], sum);
    EXPECT_EQ(ref_d[static_cast<std::size_t>(b)], amax / 127.0f);
  }
  for (const IsaKernels* table : runnable_tables()) {
    std::vector<std::int8_t> q(ref_q.size());
    std::vector<float> d(9);
    std::vector<std::int32_t> sum(9);
    table->quantize_row(x.data(), n, q.data(), d.data(), sum.data());
    EXPECT_EQ(q, ref_q) << table->name;
    EXPECT_EQ(d, ref_d) << table->name;
    EXPECT_EQ(sum, ref_sum) << table->name;
  }
}

// Weights of one type plus the exact float values they decode to.
struct TypedWeight {
  std::vector<std::uint8_t> bytes;
  std::vector<float> decoded;
};

TypedWeight make_typed_weight(DType type, std::int64_t rows, std::int64_t n, std::uint32_t seed) {
  const std::vector<float> values = random_values(static_cast<std::size_t>(rows * n), seed);
  TypedWeight weight;
  weight.bytes.resize(dtype_bytes(type, rows * n));
  weight.decoded.resize(values.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* row = values.data() + r * n;
    std::uint8_t* out = weight.bytes.data() + static_cast<std::size_t>(r) * dtype_bytes(type, n);
    switch (type) {
      case DType::kF32: std::memcpy(out, row, static_cast<std::size_t>(n) * 4); break;
      case DType::kF16:
      case DType::kBF16:
        for (std::int64_t k = 0; k < n; ++k) {
          const std::uint16_t bits = type == DType::kF16 ? f32_to_f16(row[k]) : f32_to_bf16(row[k]);
          std::memcpy(out + 2 * k, &bits, 2);
        }
        break;
      case DType::kQ8_0:
      case DType::kQ4_0:
      case DType::kQ4_K:
      case DType::kQ6_K: quantize_row(type, row, n, out); break;
      default: ADD_FAILURE() << "no test weights for " << dtype_name(type);
    }
  }
  TensorView view{type, 2, {rows, n, 0, 0}, weight.bytes.data()};
  convert_to_f32(view, 0, rows * n, weight.decoded.data());
  return weight;
}

// Checks y against double-precision dot products of `x_used` (the activations as the kernel
// reads them: exact floats, or the dequantized 8-bit values) with the decoded weights.
void expect_matmul_close(const std::vector<float>& y, const std::vector<double>& x_used, const TypedWeight& w,
                         std::int64_t m, std::int64_t rows, std::int64_t n, const std::string& what) {
  for (std::int64_t i = 0; i < m; ++i) {
    for (std::int64_t r = 0; r < rows; ++r) {
      double ref = 0.0, magnitude = 0.0;
      for (std::int64_t k = 0; k < n; ++k) {
        const double term = x_used[static_cast<std::size_t>(i * n + k)] * w.decoded[static_cast<std::size_t>(r * n + k)];
        ref += term;
        magnitude += std::fabs(term);
      }
      ASSERT_NEAR(y[static_cast<std::size_t>(i * rows + r)], ref, 1e-6 + 2e-6 * magnitude)
          << what << " at x row " << i << ", weight row " << r;
    }
  }
}

TEST(KernelTables, FloatMatmulMatchesScalarReferenceInEveryTable) {
  for (const IsaKernels* table : runnable_tables()) {
    for (DType type : {DType::kF32, DType::kF16, DType::kBF16}) {
      for (const auto [m, rows, n] : {std::tuple{1, 7, 40}, {1, 16, 8}, {3, 5, 33}, {4, 2, 64}, {5, 9, 100}, {9, 3, 7}, {17, 6, 129},
                                            {13, 16, 64}, {24, 33, 48}, {40, 16, 16},
                                            // Rows over 8192 values, which some tables take four at a time.
                                            {1, 6, 8210}, {2, 9, 8193}}) {
        const TypedWeight w = make_typed_weight(type, rows, n, 100u + static_cast<std::uint32_t>(rows * n));
        const std::vector<float> x = random_values(static_cast<std::size_t>(m * n), 7u + static_cast<std::uint32_t>(m));
        std::vector<float> y(static_cast<std::size_t>(m * rows), NAN);
        const auto* data = w.bytes.data();
        if (type == DType::kF32) table->matmul_f32(reinterpret_cast<const float*>(data), rows, n, x.data(), m, y.data(), rows);
        if (type == DType::kF16) table->matmul_f16(reinterpret_cast<const std::uint16_t*>(data), rows, n, x.data(), m, y.data(), rows);
        if (type == DType::kBF16) table->matmul_bf16(reinterpret_cast<const std::uint16_t*>(data), rows, n, x.data(), m, y.data(), rows);
        expect_matmul_close(y, std::vector<double>(x.begin(), x.end()), w, m, rows, n,
                            std::string(table->name) + " " + std::string(dtype_name(type)) + " m=" + std::to_string(m) +
                                " rows=" + std::to_string(rows) + " n=" + std::to_string(n));
      }
    }
  }
}

// The float tile kernels (the amx table's, on AMX-BF16) split every value into bf16 parts, and
// the float bound of the other kernels applies to them. The shapes have partial tiles, rows past
// a tile pair, inner sizes that are not whole 32-value steps, and more than one slab.
TEST(KernelTables, FloatTilesMatchScalarReference) {
  int tables = 0;
  for (const IsaKernels* table : runnable_tables()) {
    if (table->matmul_float_tiles == nullptr) continue;
    ++tables;
    for (DType type : {DType::kF16, DType::kBF16}) {
      for (const auto [m, rows, n] : {std::tuple{16, 32, 32}, {17, 6, 129}, {33, 70, 100}, {40, 16, 16}, {64, 96, 544},
                                      {20, 256, 1000}, {47, 33, 1056}}) {
        const TypedWeight w = make_typed_weight(type, rows, n, 300u + static_cast<std::uint32_t>(rows * n));
        const std::vector<float> x = random_values(static_cast<std::size_t>(m * n), 9u + static_cast<std::uint32_t>(m));
        std::vector<std::uint8_t> tiles(table->float_tile_rows_bytes(m, n) + 64);
        void* aligned = tiles.data() + (64 - reinterpret_cast<std::uintptr_t>(tiles.data()) % 64) % 64;
        table->float_tile_rows(x.data(), m, n, 0, (m + 31) / 32, aligned);
        std::vector<float> y(static_cast<std::size_t>(m * rows), NAN);
        const auto kind = type == DType::kF16 ? kernels::FloatWeights::kF16 : kernels::FloatWeights::kBF16;
        table->matmul_float_tiles(kind, w.bytes.data(), rows, n, aligned, m, y.data(), rows);
        expect_matmul_close(y, std::vector<double>(x.begin(), x.end()), w, m, rows, n,
                            std::string(table->name) + " tiles " + std::string(dtype_name(type)) + " m=" +
                                std::to_string(m) + " rows=" + std::to_string(rows) + " n=" + std::to_string(n));
      }
    }
  }
  if (tables == 0) GTEST_SKIP() << "no kernel table with float tiles runs on this CPU";
}

TEST(KernelTables, QuantizedMatmulMatchesScalarReferenceInEveryTable) {
  using Shape = std::tuple<std::int64_t, std::int64_t, std::int64_t>;
  const std::vector<Shape> block_shapes = {{1, 7, 32},  {1, 16, 64}, {2, 5, 96}, {4, 2, 32},   {5, 9, 256},
                                           {9, 3, 128}, {17, 6, 160}, {8, 32, 64}, {13, 37, 96}, {24, 70, 32}};
  // The K types need rows of whole 256-value super-blocks.
  const std::vector<Shape> super_block_shapes = {{1, 7, 256}, {1, 16, 512}, {2, 5, 768}, {4, 3, 256},
                                                 {5, 9, 512}, {9, 2, 256},  {13, 5, 1024}, {24, 37, 512},
                                                 {8, 33, 256}};
  for (const IsaKernels* table : runnable_tables()) {
    for (DType type : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K}) {
      const bool k_type = type == DType::kQ4_K || type == DType::kQ6_K;
      for (const auto& [m, rows, n] : k_type ? super_block_shapes : block_shapes) {
        const TypedWeight w = make_typed_weight(type, rows, n, 300u + static_cast<std::uint32_t>(rows * n));
        std::vector<float> x = random_values(static_cast<std::size_t>(m * n), 9u + static_cast<std::uint32_t>(m), 4.0f);
        const std::int64_t nb = n / 32;
        std::vector<std::int8_t> q(x.size());
        std::vector<float> d(static_cast<std::size_t>(m * nb));
        std::vector<std::int32_t> sum(d.size());
        for (std::int64_t i = 0; i < m; ++i) {
          table->quantize_row(x.data() + i * n, n, q.data() + i * n, d.data() + i * nb, sum.data() + i * nb);
        }
        std::vector<double> x_used(x.size());
        for (std::size_t k = 0; k < x.size(); ++k) x_used[k] = static_cast<double>(q[k]) * d[k / 32];
        std::vector<float> y(static_cast<std::size_t>(m * rows), NAN);
        const kernels::QuantizedRows acts{q.data(), d.data(), sum.data()};
        const auto* data = w.bytes.data();
        if (type == DType::kQ8_0) {
          table->matmul_q8_0(reinterpret_cast<const BlockQ8_0*>(data), rows, n, acts, m, y.data(), rows);
        } else if (type == DType::kQ4_0) {
          table->matmul_q4_0(reinterpret_cast<const BlockQ4_0*>(data), rows, n, acts, m, y.data(), rows);
        } else if (type == DType::kQ4_K) {
          table->matmul_q4_K(reinterpret_cast<const BlockQ4_K*>(data), rows, n, acts, m, y.data(), rows);
        } else {
          table->matmul_q6_K(reinterpret_cast<const BlockQ6_K*>(data), rows, n, acts, m, y.data(), rows);
        }
        expect_matmul_close(y, x_used, w, m, rows, n,
                            std::string(table->name) + " " + std::string(dtype_name(type)) + " m=" + std::to_string(m) +
                                " rows=" + std::to_string(rows) + " n=" + std::to_string(n));
      }
    }
  }
}

// Repacks a random `stored` weight (Q4_0 or Q8_0) into its x16 layout and checks that it decodes
// to the same values and multiplies to the same results as the plain layout, in every table.
// `seed` seeds the weight and `seed + 100` the activations.
void check_interleaved(DType stored, std::int64_t m, std::int64_t rows, std::int64_t n, std::uint32_t seed) {
  DType packed_type = DType::kQ4_Kx16;
  if (stored == DType::kQ4_0) packed_type = DType::kQ4_0x16;
  if (stored == DType::kQ8_0) packed_type = DType::kQ8_0x16;
  const std::string what = std::string(dtype_name(packed_type)) + " m=" + std::to_string(m) + " rows=" + std::to_string(rows);
  const TypedWeight plain = make_typed_weight(stored, rows, n, seed + static_cast<std::uint32_t>(rows * n));
  const std::int64_t nb = n / 32;
  std::vector<std::uint8_t> packed(dtype_bytes(packed_type, rows * n));
  if (packed_type == DType::kQ4_0x16) {
    repack_q4_0x16(reinterpret_cast<const BlockQ4_0*>(plain.bytes.data()), rows, nb,
                   reinterpret_cast<BlockQ4_0x16*>(packed.data()));
  } else if (packed_type == DType::kQ8_0x16) {
    repack_q8_0x16(reinterpret_cast<const BlockQ8_0*>(plain.bytes.data()), rows, nb,
                   reinterpret_cast<BlockQ8_0x16*>(packed.data()));
  } else {
    repack_q4_Kx16(reinterpret_cast<const BlockQ4_K*>(plain.bytes.data()), rows, n / 256,
                   reinterpret_cast<BlockQ4_Kx16*>(packed.data()));
  }

  std::vector<float> decoded(static_cast<std::size_t>(rows * n));
  const TensorView view{packed_type, 2, {rows, n, 0, 0}, packed.data()};
  convert_to_f32(view, 0, rows * n, decoded.data());
  ASSERT_EQ(decoded, plain.decoded) << what << " n=" << n;
  // A range that starts inside the weight decodes the same values too.
  std::vector<float> tail(static_cast<std::size_t>(n));
  convert_to_f32(view, (rows - 1) * n, n, tail.data());
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), plain.decoded.end() - n)) << what;

  std::vector<float> x = random_values(static_cast<std::size_t>(m * n), seed + 100u + static_cast<std::uint32_t>(m), 3.0f);
  std::vector<std::int8_t> q(x.size());
  std::vector<float> d(static_cast<std::size_t>(m * nb));
  std::vector<std::int32_t> sum(d.size());
  for (std::int64_t i = 0; i < m; ++i) {
    kernels::portable_kernels()->quantize_row(x.data() + i * n, n, q.data() + i * n, d.data() + i * nb, sum.data() + i * nb);
  }
  std::vector<double> x_used(x.size());
  for (std::size_t k = 0; k < x.size(); ++k) x_used[k] = static_cast<double>(q[k]) * d[k / 32];
  const kernels::QuantizedRows acts{q.data(), d.data(), sum.data()};
  int checked = 0;
  for (const IsaKernels* table : runnable_tables()) {
    std::vector<float> y(static_cast<std::size_t>(m * rows), NAN);
    if (packed_type == DType::kQ4_0x16) {
      if (table->matmul_q4_0x16 == nullptr) continue;
      table->matmul_q4_0x16(reinterpret_cast<const BlockQ4_0x16*>(packed.data()), rows, n, acts, m, y.data(), rows);
    } else if (packed_type == DType::kQ8_0x16) {
      if (table->matmul_q8_0x16 == nullptr) continue;
      table->matmul_q8_0x16(reinterpret_cast<const BlockQ8_0x16*>(packed.data()), rows, n, acts, m, y.data(), rows);
    } else {
      if (table->matmul_q4_Kx16 == nullptr) continue;
      table->matmul_q4_Kx16(reinterpret_cast<const BlockQ4_Kx16*>(packed.data()), rows, n, acts, m, y.data(), rows);
    }
    expect_matmul_close(y, x_used, plain, m, rows, n, std::string(table->name) + " " + what);
    ++checked;
  }
  EXPECT_GE(checked, 1) << what;

  // linear() under each table, with its row blocks and, in tables that have it, the activation
  // tiles that it prepares once per call.
  ThreadPool pool(3);
  for (Isa isa : kAllIsas) {
    ForcedIsa forced(isa);
    if (!forced.ok()) continue;
    std::vector<float> y(static_cast<std::size_t>(m * rows), NAN);
    kernels::linear(pool, x.data(), m, view, nullptr, y.data());
    expect_matmul_close(y, x_used, plain, m, rows, n, std::string(kernels::isa_name(isa)) + " linear " + what);
  }
}

TEST(KernelTables, InterleavedQ4MatchesScalarReference) {
  for (const auto [m, rows, n] : {std::tuple{1, 16, 32}, {1, 48, 96}, {3, 16, 64}, {4, 32, 160}, {6, 32, 256}, {9, 48, 64},
                                      {13, 80, 96}, {7, 16, 32}, {16, 32, 96}, {35, 48, 160}}) {
    check_interleaved(DType::kQ4_0, m, rows, n, 500u);
  }
}

TEST(KernelTables, InterleavedQ8MatchesScalarReference) {
  for (const auto [m, rows, n] : {std::tuple{1, 16, 32}, {1, 48, 96}, {3, 32, 64}, {6, 16, 160}, {7, 48, 256}, {13, 64, 64},
                                  {16, 16, 32}, {33, 32, 96}, {48, 64, 160}}) {
    check_interleaved(DType::kQ8_0, m, rows, n, 700u);
  }
}

TEST(KernelTables, InterleavedQ4KMatchesScalarReference) {
  for (const auto [m, rows, n] : {std::tuple{1, 16, 256}, {1, 48, 512}, {3, 32, 256}, {6, 16, 768}, {7, 48, 256},
                                  {13, 64, 512}, {16, 16, 256}, {37, 48, 768}}) {
    check_interleaved(DType::kQ4_K, m, rows, n, 900u);
  }
}

// linear() with quantized weights, through the thread pool, the row blocking and the bias, under
// each table; the reference quantizes the activations the documented way.
TEST(KernelTables, QuantizedLinearMatchesReferenceUnderEveryTable) {
  ThreadPool pool(3);
  const std::int64_t m = 6, rows = 45;
  const std::vector<float> bias = random_values(static_cast<std::size_t>(rows), 22u);
  const TensorView bias_view{DType::kF32, 1, {rows, 0, 0, 0}, bias.data()};
  for (const auto [type, n] : {std::pair{DType::kQ8_0, std::int64_t{96}}, {DType::kQ4_0, 96}, {DType::kQ4_K, 512},
                               {DType::kQ6_K, 256}}) {
    const std::vector<float> x = random_values(static_cast<std::size_t>(m * n), 21u, 2.0f);
    const std::vector<float> source = random_values(static_cast<std::size_t>(rows * n), 23u);
    const TensorView source_view{DType::kF32, 2, {rows, n, 0, 0}, source.data()};
    std::vector<std::uint8_t> bytes(dtype_bytes(type, rows * n));
    kernels::quantize_weight(pool, source_view, type, bytes.data());
    TypedWeight w;
    w.bytes = bytes;
    w.decoded.resize(source.size());
    const TensorView view{type, 2, {rows, n, 0, 0}, w.bytes.data()};
    convert_to_f32(view, 0, rows * n, w.decoded.data());
    // The quantized weight has the reference quantizer's bytes.
    std::vector<std::uint8_t> expected(bytes.size());
    for (std::int64_t r = 0; r < rows; ++r) {
      quantize_row(type, source.data() + r * n, n, expected.data() + static_cast<std::size_t>(r) * dtype_bytes(type, n));
    }
    ASSERT_EQ(bytes, expected);

    std::vector<double> x_used(x.size());
    for (std::int64_t i = 0; i < m; ++i) {
      for (std::int64_t b = 0; b < n / 32; ++b) {
        float amax = 0.0f;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[static_cast<std::size_t>(i * n + b * 32 + j)]));
        for (int j = 0; j < 32; ++j) {
          const std::size_t k = static_cast<std::size_t>(i * n + b * 32 + j);
          x_used[k] = amax == 0.0f ? 0.0 : std::nearbyint(x[k] * (127.0f / amax)) * static_cast<double>(amax / 127.0f);
        }
      }
    }
    for (Isa isa : kAllIsas) {
      ForcedIsa forced(isa);
      if (!forced.ok()) continue;
      for (std::int64_t n_rows : {std::int64_t{1}, m}) {
        std::vector<float> y(static_cast<std::size_t>(n_rows * rows), NAN);
        kernels::linear(pool, x.data(), n_rows, view, &bias_view, y.data());
        std::vector<float> without_bias(y.size());
        for (std::size_t k = 0; k < y.size(); ++k) without_bias[k] = y[k] - bias[k % static_cast<std::size_t>(rows)];
        expect_matmul_close(without_bias, x_used, w, n_rows, rows, n,
                            std::string(kernels::isa_name(isa)) + " linear " + std::string(dtype_name(type)));
      }
    }
  }
}

// f16 weights with many input rows take the widening path; one row reads f16 directly.
TEST(KernelTables, HalfLinearAgreesBetweenDirectAndWidenedPaths) {
  ThreadPool pool(2);
  const std::int64_t m = 7, rows = 37, n = 70;
  const TypedWeight w = make_typed_weight(DType::kF16, rows, n, 31u);
  const TensorView view{DType::kF16, 2, {rows, n, 0, 0}, w.bytes.data()};
  const std::vector<float> x = random_values(static_cast<std::size_t>(m * n), 32u);
  for (Isa isa : kAllIsas) {
    ForcedIsa forced(isa);
    if (!forced.ok()) continue;
    std::vector<float> all(static_cast<std::size_t>(m * rows));
    kernels::linear(pool, x.data(), m, view, nullptr, all.data());
    expect_matmul_close(all, std::vector<double>(x.begin(), x.end()), w, m, rows, n, kernels::isa_name(isa));
    for (std::int64_t i = 0; i < m; ++i) {
      std::vector<float> one(static_cast<std::size_t>(rows));
      kernels::linear(pool, x.data() + i * n, 1, view, nullptr, one.data());
      for (std::int64_t r = 0; r < rows; ++r) {
        EXPECT_NEAR(one[static_cast<std::size_t>(r)], all[static_cast<std::size_t>(i * rows + r)], 1e-4)
            << kernels::isa_name(isa) << " row " << i << ", output " << r;
      }
    }
  }
}

// linear_many() gives exactly what linear() gives for each of its weights. With one input row
// the weights share the quantized input and one job, and with five rows it calls linear().
// Makes a weight of `type` as loading leaves it, repacking Q4_0 weights for Q4_0x16.
TypedWeight make_loaded_weight(DType type, std::int64_t out, std::int64_t n, std::uint32_t seed) {
  if (type != DType::kQ4_0x16) return make_typed_weight(type, out, n, seed);
  const TypedWeight plain = make_typed_weight(DType::kQ4_0, out, n, seed);
  TypedWeight packed = plain;
  repack_q4_0x16(reinterpret_cast<const BlockQ4_0*>(plain.bytes.data()), out, n / 32,
                 reinterpret_cast<BlockQ4_0x16*>(packed.bytes.data()));
  return packed;
}

TEST(KernelTables, LinearManyEqualsLinearPerWeight) {
  ThreadPool pool(3);
  const std::int64_t n = 96;
  const std::vector<float> x = random_values(static_cast<std::size_t>(5 * n), 41u, 2.0f);
  const std::vector<float> bias = random_values(48, 42u);
  const TensorView bias_view{DType::kF32, 1, {48, 0, 0, 0}, bias.data()};
  // Three weights of one dtype (48, 16 and 32 rows, as q, k and v), then three of mixed dtypes.
  const std::vector<std::vector<DType>> groups = {{DType::kF16, DType::kF16, DType::kF16},
                                                  {DType::kQ8_0, DType::kQ8_0, DType::kQ8_0},
                                                  {DType::kQ4_0, DType::kQ4_0, DType::kQ4_0},
                                                  {DType::kQ4_0x16, DType::kQ4_0x16, DType::kQ4_0x16},
                                                  {DType::kQ4_0, DType::kF16, DType::kQ8_0}};
  const std::int64_t out_rows[] = {48, 16, 32};
  for (const auto& types : groups) {
    std::vector<TypedWeight> weights;
    std::vector<TensorView> views;
    for (std::size_t j = 0; j < types.size(); ++j) {
      weights.push_back(make_loaded_weight(types[j], out_rows[j], n, 43u + static_cast<std::uint32_t>(j)));
    }
    for (std::size_t j = 0; j < types.size(); ++j) {
      views.push_back(TensorView{types[j], 2, {out_rows[j], n, 0, 0}, weights[j].bytes.data()});
    }
    for (Isa isa : kAllIsas) {
      ForcedIsa forced(isa);
      if (!forced.ok()) continue;
      for (std::int64_t n_rows : {std::int64_t{1}, std::int64_t{5}}) {
        std::vector<std::vector<float>> fused(types.size()), separate(types.size());
        std::vector<kernels::LinearTarget> targets;
        for (std::size_t j = 0; j < types.size(); ++j) {
          fused[j].assign(static_cast<std::size_t>(n_rows * out_rows[j]), NAN);
          separate[j].assign(fused[j].size(), NAN);
          const TensorView* bias_ptr = j == 0 ? &bias_view : nullptr;
          targets.push_back({&views[j], bias_ptr, fused[j].data()});
          kernels::linear(pool, x.data(), n_rows, views[j], bias_ptr, separate[j].data());
        }
        kernels::linear_many(pool, x.data(), n_rows, targets);
        for (std::size_t j = 0; j < types.size(); ++j) {
          EXPECT_EQ(fused[j], separate[j]) << kernels::isa_name(isa) << ", " << n_rows << " rows, weight " << j << " ("
                                           << dtype_name(types[j]) << ")";
        }
      }
    }
  }
}

TEST(KernelTables, LinearGatedMatchesTwoStepPath) {
  ThreadPool pool(3);
  const std::int64_t n = 96;
  const std::vector<float> x = random_values(static_cast<std::size_t>(5 * n), 51u, 2.0f);
  const std::vector<float> bias = random_values(48, 52u);
  const TensorView bias_view{DType::kF32, 1, {48, 0, 0, 0}, bias.data()};
  struct Case {
    DType gate_type;
    DType up_type;
    std::int64_t out;
    bool with_bias;  // a gate bias, which takes the unfused path as mixed dtypes do
  };
  const Case cases[] = {{DType::kF16, DType::kF16, 48, false},       {DType::kQ8_0, DType::kQ8_0, 48, false},
                        {DType::kQ4_0x16, DType::kQ4_0x16, 48, false}, {DType::kQ8_0, DType::kQ8_0, 44, false},
                        {DType::kF16, DType::kF16, 48, true},        {DType::kQ4_0, DType::kQ8_0, 48, false}};
  for (const Case& c : cases) {
    const TypedWeight gate_weight = make_loaded_weight(c.gate_type, c.out, n, 53u);
    const TypedWeight up_weight = make_loaded_weight(c.up_type, c.out, n, 54u);
    const TensorView gate{c.gate_type, 2, {c.out, n, 0, 0}, gate_weight.bytes.data()};
    const TensorView up{c.up_type, 2, {c.out, n, 0, 0}, up_weight.bytes.data()};
    const TensorView* gate_bias = c.with_bias ? &bias_view : nullptr;
    for (Isa isa : kAllIsas) {
      ForcedIsa forced(isa);
      if (!forced.ok()) continue;
      for (std::int64_t n_rows : {std::int64_t{1}, std::int64_t{2}, std::int64_t{5}}) {
        const auto size = static_cast<std::size_t>(n_rows * c.out);
        std::vector<float> gated(size, NAN), gated_up(size, NAN), expected(size, NAN), expected_up(size, NAN);
        kernels::linear_gated(pool, x.data(), n_rows, {&gate, gate_bias, gated.data()}, {&up, nullptr, gated_up.data()});
        const kernels::LinearTarget targets[] = {{&gate, gate_bias, expected.data()}, {&up, nullptr, expected_up.data()}};
        kernels::linear_many(pool, x.data(), n_rows, targets);
        EXPECT_EQ(gated_up, expected_up) << kernels::isa_name(isa) << ", " << n_rows << " rows";
        kernels::silu_mul(pool, expected.data(), expected_up.data(), n_rows * c.out);
        // With rows whose length is not a multiple of 8, the two paths may split SiLU's vector and
        // scalar exp differently, so only those cases may differ, by at most 1e-6 relative.
        for (std::size_t i = 0; i < size; ++i) {
          ASSERT_NEAR(gated[i], expected[i], 1e-6f * (1.0f + std::fabs(expected[i])))
              << kernels::isa_name(isa) << ", " << dtype_name(c.gate_type) << ", " << n_rows << " rows, value " << i;
        }
        if (c.out % 8 == 0) {
          EXPECT_EQ(gated, expected) << kernels::isa_name(isa) << ", " << n_rows << " rows";
        }
      }
    }
  }
}

// ---- safetensors files written by `glimpse quantize` ------------------------------------------

std::vector<std::uint8_t> quantized_file(const std::string& metadata, std::size_t stored_bytes) {
  std::vector<std::uint8_t> data(stored_bytes, 0x11);
  const std::string header = R"({"__metadata__":{"glimpse.quantized":)" + metadata +
                             R"(},"w":{"dtype":"U8","shape":[)" + std::to_string(stored_bytes) +
                             R"(],"data_offsets":[0,)" + std::to_string(stored_bytes) + "]}}";
  return testing::safetensors_bytes_raw(header, data);
}

Result<SafetensorsHeader> parse_bytes(const std::vector<std::uint8_t>& bytes) {
  return parse_safetensors_header(bytes.data(), bytes.size(), "q.safetensors");
}

TEST(QuantizedSafetensors, MetadataGivesBlockTypeAndShape) {
  auto header = parse_bytes(quantized_file(R"("{\"w\": {\"dtype\": \"Q4_0\", \"shape\": [3, 64]}}")", 3 * 36));
  ASSERT_TRUE(header.ok()) << header.error().to_string();
  ASSERT_EQ(header->entries.size(), 1u);
  EXPECT_EQ(header->entries[0].dtype, DType::kQ4_0);
  EXPECT_EQ(header->entries[0].dtype_name, "Q4_0");
  EXPECT_EQ(header->entries[0].shape, (std::vector<std::int64_t>{3, 64}));
}

TEST(QuantizedSafetensors, RejectsInconsistentMetadata) {
  struct Case {
    std::string metadata;
    std::size_t bytes;
    std::string fragment;
  };
  const std::vector<Case> cases = {
      {R"("{\"w\": {\"dtype\": \"Q8_0\", \"shape\": [3, 64]}}")", 3 * 36, "needs 204"},
      {R"("{\"w\": {\"dtype\": \"Q5_1\", \"shape\": [1, 32]}}")", 24, "Q5_1"},
      {R"("{\"w\": {\"dtype\": \"Q8_0\", \"shape\": [1, 48]}}")", 51, "not a multiple of the 32-element block"},
      {R"("{\"v\": {\"dtype\": \"Q8_0\", \"shape\": [1, 32]}}")", 34, "'v' is not in the file"},
      {R"("{\"w\": {\"dtype\": \"Q8_0\", \"shape\": [-1, 32]}}")", 34, "invalid extent"},
      {R"("{\"w\": {\"dtype\": \"Q8_0\"}}")", 34, "needs a string 'dtype' and an array 'shape'"},
      {R"("[1, 2]")", 34, "must hold a JSON object"},
      {R"("{not json")", 34, "q.safetensors"},
  };
  for (const Case& c : cases) {
    auto header = parse_bytes(quantized_file(c.metadata, c.bytes));
    ASSERT_FALSE(header.ok()) << c.metadata;
    EXPECT_NE(header.error().message.find(c.fragment), std::string::npos)
        << c.metadata << " gave: " << header.error().message;
  }
}

}  // namespace
}  // namespace glimpse
