// kernels::attention against a plain two-pass softmax in double, for float32 and f16 caches:
// decode and prefill, causal and not, grouped-query groups of 1, 4 and 8, head_dim 16, 64 and 128.
// An f16 case gives the reference the same f16-rounded keys and values that the kernel reads, so
// both cases measure only the kernel's float32 arithmetic. Rows past the visible range hold NaN,
// so any read of them shows up in the output. Metric: |out - ref| <= kAbs + kRel * sum_r p_r |v_r|,
// the magnitude of the weighted sum behind each output element.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "glimpse/kernels.h"
#include "glimpse/llava.h"

namespace glimpse {
namespace {

constexpr double kAbs = 1e-5;
constexpr double kRel = 1e-5;

std::vector<float> random_values(std::size_t n, std::uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> values(n);
  for (float& v : values) v = dist(rng);
  return values;
}

// Keys and values of `n_kv_heads` heads and `capacity` rows, in the KvLayout order. Rows at and
// past `n_filled` are NaN. `keys` and `values` are the float values the kernel reads: for an f16
// cache, the decoded f16 bits.
struct TestCache {
  std::int64_t capacity = 0;
  std::vector<float> keys;
  std::vector<float> values;
  std::vector<std::uint16_t> key_bits;
  std::vector<std::uint16_t> value_bits;
  kernels::KvLayout layout;
};

TestCache make_cache(DType dtype, std::int64_t n_kv_heads, std::int64_t head_dim, std::int64_t capacity,
                     std::int64_t n_filled, std::uint32_t seed) {
  TestCache cache;
  cache.capacity = capacity;
  const auto count = static_cast<std::size_t>(n_kv_heads * capacity * head_dim);
  cache.keys = random_values(count, seed, 2.0f);
  cache.values = random_values(count, seed + 1, 1.0f);
  for (std::int64_t g = 0; g < n_kv_heads; ++g) {
    for (std::int64_t r = n_filled; r < capacity; ++r) {
      for (std::int64_t d = 0; d < head_dim; ++d) {
        const auto i = static_cast<std::size_t>((g * capacity + r) * head_dim + d);
        cache.keys[i] = std::numeric_limits<float>::quiet_NaN();
        cache.values[i] = std::numeric_limits<float>::quiet_NaN();
      }
    }
  }
  cache.layout.head_stride = capacity * head_dim;
  cache.layout.dtype = dtype;
  if (dtype == DType::kF16) {
    for (std::vector<float>* values : {&cache.keys, &cache.values}) {
      std::vector<std::uint16_t>& bits = values == &cache.keys ? cache.key_bits : cache.value_bits;
      for (float& v : *values) {
        bits.push_back(f32_to_f16(v));
        v = f16_to_f32(bits.back());
      }
    }
    cache.layout.keys = cache.key_bits.data();
    cache.layout.values = cache.value_bits.data();
  } else {
    cache.layout.keys = cache.keys.data();
    cache.layout.values = cache.values.data();
  }
  return cache;
}

struct Reference {
  std::vector<double> out;
  std::vector<double> magnitude;  // sum_r p_r |v_r[d]| per output element
};

// Two passes per query in double: the maximum score, then the softmax weights and the weighted sum.
Reference reference_attention(const std::vector<float>& q, const TestCache& cache, const kernels::AttentionShape& s) {
  Reference ref;
  ref.out.resize(static_cast<std::size_t>(s.n_tokens * s.n_heads * s.head_dim));
  ref.magnitude.resize(ref.out.size());
  const std::int64_t group = s.n_heads / s.n_kv_heads;
  for (std::int64_t t = 0; t < s.n_tokens; ++t) {
    const std::int64_t visible = s.causal ? s.start_pos + t + 1 : s.n_kv_rows;
    for (std::int64_t h = 0; h < s.n_heads; ++h) {
      const std::int64_t g = h / group;
      const std::size_t q_offset = static_cast<std::size_t>((t * s.n_heads + h) * s.head_dim);
      const auto row = [&](std::int64_t r) { return static_cast<std::size_t>((g * cache.capacity + r) * s.head_dim); };

      std::vector<double> scores(static_cast<std::size_t>(visible));
      double max_score = -INFINITY;
      for (std::int64_t r = 0; r < visible; ++r) {
        double dot = 0;
        for (std::int64_t d = 0; d < s.head_dim; ++d) {
          dot += static_cast<double>(q[q_offset + static_cast<std::size_t>(d)]) * cache.keys[row(r) + static_cast<std::size_t>(d)];
        }
        scores[static_cast<std::size_t>(r)] = dot * s.scale;
        max_score = std::max(max_score, dot * s.scale);
      }
      double denominator = 0;
      for (double& score : scores) {
        score = std::exp(score - max_score);
        denominator += score;
      }
      for (std::int64_t d = 0; d < s.head_dim; ++d) {
        double sum = 0;
        double magnitude = 0;
        for (std::int64_t r = 0; r < visible; ++r) {
          const double p = scores[static_cast<std::size_t>(r)] / denominator;
          const double v = cache.values[row(r) + static_cast<std::size_t>(d)];
          sum += p * v;
          magnitude += p * std::abs(v);
        }
        ref.out[q_offset + static_cast<std::size_t>(d)] = sum;
        ref.magnitude[q_offset + static_cast<std::size_t>(d)] = magnitude;
      }
    }
  }
  return ref;
}

struct Case {
  std::int64_t n_tokens;
  std::int64_t n_heads;
  std::int64_t n_kv_heads;
  std::int64_t head_dim;
  std::int64_t start_pos;
  bool causal;
  std::int64_t n_kv_rows;  // non-causal only
};

std::string describe(const Case& c) {
  return "tokens " + std::to_string(c.n_tokens) + ", heads " + std::to_string(c.n_heads) + "/" +
         std::to_string(c.n_kv_heads) + ", head_dim " + std::to_string(c.head_dim) + ", start " +
         std::to_string(c.start_pos) + (c.causal ? ", causal" : ", rows " + std::to_string(c.n_kv_rows));
}

// Runs one case with `spare_rows` NaN rows after the visible ones and compares every output.
void check_case(ThreadPool& pool, DType dtype, const Case& c, std::int64_t spare_rows = 3) {
  SCOPED_TRACE(describe(c) + (dtype == DType::kF16 ? ", f16 cache" : ", f32 cache"));
  kernels::AttentionShape shape;
  shape.n_tokens = c.n_tokens;
  shape.n_heads = c.n_heads;
  shape.n_kv_heads = c.n_kv_heads;
  shape.head_dim = c.head_dim;
  shape.start_pos = c.start_pos;
  shape.causal = c.causal;
  shape.n_kv_rows = c.n_kv_rows;
  shape.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  const std::int64_t n_filled = c.causal ? c.start_pos + c.n_tokens : c.n_kv_rows;
  const auto seed = static_cast<std::uint32_t>(c.n_tokens * 7 + c.head_dim * 13 + c.start_pos);
  const TestCache cache = make_cache(dtype, c.n_kv_heads, c.head_dim, n_filled + spare_rows, n_filled, seed);
  const std::vector<float> q = random_values(static_cast<std::size_t>(c.n_tokens * c.n_heads * c.head_dim), seed + 2, 2.0f);

  std::vector<float> out(q.size(), -1.0f);
  kernels::attention(pool, q.data(), cache.layout, shape, out.data());
  const Reference ref = reference_attention(q, cache, shape);
  for (std::size_t i = 0; i < out.size(); ++i) {
    ASSERT_TRUE(std::isfinite(out[i])) << "output " << i << " is " << out[i];
    ASSERT_NEAR(out[i], ref.out[i], kAbs + kRel * ref.magnitude[i]) << "output " << i;
  }
}

class AttentionByCacheType : public ::testing::TestWithParam<DType> {};

TEST_P(AttentionByCacheType, DecodeMatchesReference) {
  ThreadPool pool(3);
  for (const std::int64_t group : {1, 4, 8}) {
    for (const std::int64_t head_dim : {16, 64, 128}) {
      for (const std::int64_t n_visible : {1, 63, 64, 65, 1000, 4097}) {
        check_case(pool, GetParam(), {1, 2 * group, 2, head_dim, n_visible - 1, true, 0});
        check_case(pool, GetParam(), {1, 2 * group, 2, head_dim, 0, false, n_visible});
      }
    }
  }
}

TEST_P(AttentionByCacheType, PrefillMatchesReference) {
  ThreadPool pool(3);
  for (const std::int64_t group : {1, 4, 8}) {
    for (const std::int64_t head_dim : {16, 64, 128}) {
      // 37 queries after 100 cached rows, causal, and the same queries seeing all 137 rows.
      check_case(pool, GetParam(), {37, 2 * group, 2, head_dim, 100, true, 0});
      check_case(pool, GetParam(), {37, 2 * group, 2, head_dim, 100, false, 137});
    }
  }
  // More queries than one job holds, from an empty cache.
  check_case(pool, GetParam(), {150, 4, 4, 64, 0, true, 0});
  check_case(pool, GetParam(), {150, 32, 4, 64, 0, true, 0});
}

TEST_P(AttentionByCacheType, OddHeadDimsUseScalarTails) {
  ThreadPool pool(2);
  for (const std::int64_t head_dim : {1, 7, 9, 20, 72}) {
    check_case(pool, GetParam(), {5, 6, 2, head_dim, 40, true, 0});
    check_case(pool, GetParam(), {1, 6, 3, head_dim, 300, true, 0});
  }
}

TEST_P(AttentionByCacheType, NeverReadsRowsPastVisibleRange) {
  // Most of the capacity is NaN: decode and prefill must stop at the last visible row.
  ThreadPool pool(2);
  check_case(pool, GetParam(), {1, 8, 1, 64, 99, true, 0}, 500);
  check_case(pool, GetParam(), {12, 8, 2, 64, 30, true, 0}, 500);
  check_case(pool, GetParam(), {3, 8, 2, 64, 0, false, 70}, 500);
}

TEST_P(AttentionByCacheType, RowSplitsMatchReference) {
  // More threads than (kv head, query block) jobs: the rows of each job are split across threads.
  ThreadPool pool(16);
  check_case(pool, GetParam(), {1, 16, 2, 64, 4096, true, 0});
  check_case(pool, GetParam(), {1, 4, 4, 128, 1000, true, 0});
  check_case(pool, GetParam(), {2, 8, 1, 16, 0, false, 3000});
  // Causal: the last range contains rows 256 and 257, which the first token does not see.
  check_case(pool, GetParam(), {3, 4, 1, 64, 255, true, 0});
}

TEST_P(AttentionByCacheType, SingleThreadMatchesReference) {
  ThreadPool pool(1);
  check_case(pool, GetParam(), {37, 32, 4, 64, 100, true, 0});
}

INSTANTIATE_TEST_SUITE_P(CacheType, AttentionByCacheType, ::testing::Values(DType::kF32, DType::kF16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(Attention, NoVisibleRowsGivesZeros) {
  ThreadPool pool(2);
  kernels::AttentionShape shape;
  shape.n_tokens = 2;
  shape.n_heads = 4;
  shape.n_kv_heads = 2;
  shape.head_dim = 16;
  shape.causal = false;
  shape.n_kv_rows = 0;
  const TestCache cache = make_cache(DType::kF32, 2, 16, 4, 0, 5u);
  const std::vector<float> q = random_values(2 * 4 * 16, 6u, 1.0f);
  std::vector<float> out(q.size(), -1.0f);
  kernels::attention(pool, q.data(), cache.layout, shape, out.data());
  for (std::size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], 0.0f) << i;
}

TEST(Attention, RowConversionToF16MatchesScalar) {
  std::vector<float> values = random_values(1000, 9u, 70000.0f);
  // Subnormal halves, ties between two halves, the largest finite half, overflow and infinities.
  for (const float v : {0.0f, -0.0f, 5.96e-8f, 2.98e-8f, 6.1e-5f, -3.0e-6f, 1.00048828125f, 1.00146484375f, 65504.0f,
                        65519.0f, 65520.0f, -1e9f, std::numeric_limits<float>::infinity(),
                        -std::numeric_limits<float>::infinity()}) {
    values.push_back(v);
  }
  for (std::size_t i = 0; i < 300; ++i) values.push_back(static_cast<float>(i) * 1e-7f);
  std::vector<std::uint16_t> bits(values.size() + 1);
  values.push_back(std::numeric_limits<float>::quiet_NaN());
  kernels::f32_row_to_f16(values.data(), static_cast<std::int64_t>(values.size()), bits.data());
  for (std::size_t i = 0; i + 1 < values.size(); ++i) {
    ASSERT_EQ(bits[i], f32_to_f16(values[i])) << "value " << values[i];
  }
  EXPECT_TRUE(std::isnan(f16_to_f32(bits.back())));
}

TEST(KvCacheType, F16HalvesTheBytes) {
  auto f32 = KvCache::create(3, 2, 64, 100);
  auto f16 = KvCache::create(3, 2, 64, 100, DType::kF16);
  ASSERT_TRUE(f32.ok()) << f32.error().to_string();
  ASSERT_TRUE(f16.ok()) << f16.error().to_string();
  EXPECT_EQ(f32->dtype(), DType::kF32);
  EXPECT_EQ(f16->dtype(), DType::kF16);
  EXPECT_EQ(f32->bytes(), 3u * 2 * 2 * 64 * 100 * 4);
  EXPECT_EQ(f16->bytes(), 3u * 2 * 2 * 64 * 100 * 2);
  // Layers sit one after another, keys before values.
  const auto* base = static_cast<const char*>(f16->keys(0));
  EXPECT_EQ(static_cast<const char*>(f16->values(0)) - base, 2 * 64 * 100 * 2);
  EXPECT_EQ(static_cast<const char*>(f16->keys(2)) - base, 2 * 2 * 2 * 64 * 100 * 2);
}

TEST(KvCacheType, Bf16IsRejected) {
  auto cache = KvCache::create(1, 1, 8, 8, DType::kBF16);
  ASSERT_FALSE(cache.ok());
  EXPECT_EQ(cache.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(cache.error().to_string().find("BF16"), std::string::npos) << cache.error().to_string();
}

}  // namespace
}  // namespace glimpse
