// Each kernel against a plain double-precision scalar reference, on odd sizes that exercise the
// vector tails and the tiling. Metric: |x - ref| <= kAbs + kRel * scale, where scale is |ref| or,
// for sums, the sum of the magnitudes of the terms (float32 accumulation error grows with it).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "glimpse/kernels.h"

namespace glimpse {
namespace {

constexpr double kAbs = 1e-5;
constexpr double kRel = 1e-5;

std::vector<float> random_values(std::size_t n, std::uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> values(n);
  for (float& v : values) v = dist(rng);
  return values;
}

// A weight stored in `dtype`, plus the exact float values the stored bits decode to; `cols` 0
// makes a vector of `rows` elements.
struct StoredWeight {
  std::vector<float> f32;
  std::vector<std::uint16_t> bits;
  std::vector<float> decoded;
  TensorView view;
};

StoredWeight make_weight(DType dtype, std::int64_t rows, std::int64_t cols, std::uint32_t seed) {
  StoredWeight weight;
  weight.f32 = random_values(static_cast<std::size_t>(cols > 0 ? rows * cols : rows), seed);
  weight.decoded = weight.f32;
  if (dtype != DType::kF32) {
    for (std::size_t i = 0; i < weight.f32.size(); ++i) {
      const std::uint16_t bits = dtype == DType::kF16 ? f32_to_f16(weight.f32[i]) : f32_to_bf16(weight.f32[i]);
      weight.bits.push_back(bits);
      weight.decoded[i] = dtype == DType::kF16 ? f16_to_f32(bits) : bf16_to_f32(bits);
    }
  }
  weight.view.dtype = dtype;
  weight.view.rank = cols > 0 ? 2 : 1;
  weight.view.shape = {rows, cols, 0, 0};
  weight.view.data = dtype == DType::kF32 ? static_cast<const void*>(weight.f32.data())
                                          : static_cast<const void*>(weight.bits.data());
  return weight;
}

class KernelsByDType : public ::testing::TestWithParam<DType> {};

TEST_P(KernelsByDType, LinearMatchesScalarReference) {
  ThreadPool pool(3);
  for (const auto [n_rows, out, in] : {std::tuple{1, 37, 53}, {5, 16, 8}, {9, 33, 100}, {2, 1, 7}, {17, 70, 257}}) {
    const StoredWeight weight = make_weight(GetParam(), out, in, 11u + static_cast<std::uint32_t>(out));
    const StoredWeight bias = make_weight(GetParam(), out, 0, 5u);
    const std::vector<float> x = random_values(static_cast<std::size_t>(n_rows * in), 7u);
    for (const bool with_bias : {false, true}) {
      std::vector<float> y(static_cast<std::size_t>(n_rows * out));
      kernels::linear(pool, x.data(), n_rows, weight.view, with_bias ? &bias.view : nullptr, y.data());
      for (int i = 0; i < n_rows; ++i) {
        for (int r = 0; r < out; ++r) {
          double ref = with_bias ? bias.decoded[static_cast<std::size_t>(r)] : 0.0;
          double magnitude = std::abs(ref);
          for (int k = 0; k < in; ++k) {
            const double term = static_cast<double>(x[static_cast<std::size_t>(i * in + k)]) *
                                weight.decoded[static_cast<std::size_t>(r * in + k)];
            ref += term;
            magnitude += std::abs(term);
          }
          ASSERT_NEAR(y[static_cast<std::size_t>(i * out + r)], ref, kAbs + kRel * magnitude)
              << "rows " << n_rows << " out " << out << " in " << in << " at (" << i << ", " << r << ")";
        }
      }
    }
  }
}

TEST_P(KernelsByDType, RmsNormMatchesScalarReference) {
  ThreadPool pool(2);
  const std::int64_t n_rows = 3, dim = 45;
  const StoredWeight weight = make_weight(GetParam(), dim, 0, 3u);
  const std::vector<float> x = random_values(static_cast<std::size_t>(n_rows * dim), 9u, 4.0f);
  std::vector<float> y(x.size());
  kernels::rms_norm(pool, x.data(), n_rows, dim, weight.view, 1e-5f, y.data());
  for (std::int64_t row = 0; row < n_rows; ++row) {
    double sum_squares = 0;
    for (std::int64_t i = 0; i < dim; ++i) sum_squares += std::pow(x[static_cast<std::size_t>(row * dim + i)], 2);
    const double inv = 1.0 / std::sqrt(sum_squares / dim + 1e-5);
    for (std::int64_t i = 0; i < dim; ++i) {
      const auto k = static_cast<std::size_t>(row * dim + i);
      const double ref = x[k] * inv * weight.decoded[static_cast<std::size_t>(i)];
      ASSERT_NEAR(y[k], ref, kAbs + kRel * std::abs(ref)) << row << "," << i;
    }
  }
}

TEST_P(KernelsByDType, LayerNormMatchesScalarReference) {
  ThreadPool pool(2);
  const std::int64_t n_rows = 4, dim = 29;
  const StoredWeight weight = make_weight(GetParam(), dim, 0, 4u);
  const StoredWeight bias = make_weight(GetParam(), dim, 0, 6u);
  std::vector<float> x = random_values(static_cast<std::size_t>(n_rows * dim), 10u, 3.0f);
  for (float& v : x) v += 5.0f;  // a large mean checks the centred variance
  std::vector<float> y(x.size());
  kernels::layer_norm(pool, x.data(), n_rows, dim, weight.view, bias.view, 1e-6f, y.data());
  for (std::int64_t row = 0; row < n_rows; ++row) {
    double mean = 0, var = 0;
    for (std::int64_t i = 0; i < dim; ++i) mean += x[static_cast<std::size_t>(row * dim + i)];
    mean /= dim;
    for (std::int64_t i = 0; i < dim; ++i) var += std::pow(x[static_cast<std::size_t>(row * dim + i)] - mean, 2);
    var /= dim;
    for (std::int64_t i = 0; i < dim; ++i) {
      const auto k = static_cast<std::size_t>(row * dim + i);
      const double ref = (x[k] - mean) / std::sqrt(var + 1e-6) * weight.decoded[static_cast<std::size_t>(i)] +
                         bias.decoded[static_cast<std::size_t>(i)];
      ASSERT_NEAR(y[k], ref, kAbs + kRel * std::abs(ref)) << row << "," << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllStorage, KernelsByDType, ::testing::Values(DType::kF32, DType::kF16, DType::kBF16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(Kernels, RopeRotateHalfMatchesComplexRotation) {
  const std::int64_t n_tokens = 3, n_heads = 2, head_dim = 10, start_pos = 7;
  const std::int64_t half = head_dim / 2;
  const double theta = 10000.0;
  std::vector<float> cos_table, sin_table;
  for (std::int64_t pos = 0; pos < start_pos + n_tokens; ++pos) {
    for (std::int64_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(pos) * std::pow(theta, -2.0 * i / head_dim);
      cos_table.push_back(static_cast<float>(std::cos(angle)));
      sin_table.push_back(static_cast<float>(std::sin(angle)));
    }
  }
  const std::vector<float> x = random_values(static_cast<std::size_t>(n_tokens * n_heads * head_dim), 12u);
  std::vector<float> y = x;
  kernels::rope_rotate_half(y.data(), n_tokens, n_heads, head_dim, start_pos, cos_table.data(), sin_table.data());
  for (std::int64_t t = 0; t < n_tokens; ++t) {
    for (std::int64_t h = 0; h < n_heads; ++h) {
      for (std::int64_t i = 0; i < half; ++i) {
        // Pair (i, i + half) is the complex number x_i + j x_{i+half}, rotated by the angle.
        const double angle = static_cast<double>(start_pos + t) * std::pow(theta, -2.0 * i / head_dim);
        const std::size_t base = static_cast<std::size_t>((t * n_heads + h) * head_dim);
        const double re = x[base + i], im = x[base + i + half];
        ASSERT_NEAR(y[base + i], re * std::cos(angle) - im * std::sin(angle), 1e-6);
        ASSERT_NEAR(y[base + i + half], im * std::cos(angle) + re * std::sin(angle), 1e-6);
      }
    }
  }
}

TEST(Kernels, SoftmaxSumsToOneAndSurvivesLargeInputs) {
  std::vector<float> x = {1000.0f, 999.0f, -1000.0f, 998.5f, 1000.0f};
  std::vector<double> ref(x.size());
  double denom = 0;
  for (std::size_t i = 0; i < x.size(); ++i) denom += std::exp(static_cast<double>(x[i]) - 1000.0);
  for (std::size_t i = 0; i < x.size(); ++i) ref[i] = std::exp(static_cast<double>(x[i]) - 1000.0) / denom;
  kernels::softmax(x.data(), static_cast<std::int64_t>(x.size()));
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i], ref[i], 1e-7) << i;
}

// Scalar attention: for each query, softmax(scale q·k) over the visible rows, times v.
std::vector<double> reference_attention(const std::vector<float>& q, const std::vector<float>& keys,
                                        const std::vector<float>& values, const kernels::AttentionShape& s,
                                        std::int64_t capacity) {
  std::vector<double> out(static_cast<std::size_t>(s.n_tokens * s.n_heads * s.head_dim));
  const std::int64_t group = s.n_heads / s.n_kv_heads;
  for (std::int64_t t = 0; t < s.n_tokens; ++t) {
    for (std::int64_t h = 0; h < s.n_heads; ++h) {
      const std::int64_t g = h / group;
      const std::int64_t visible = s.causal ? s.start_pos + t + 1 : s.n_kv_rows;
      std::vector<double> scores(static_cast<std::size_t>(visible));
      double max_score = -INFINITY;
      for (std::int64_t r = 0; r < visible; ++r) {
        double dot = 0;
        for (std::int64_t d = 0; d < s.head_dim; ++d) {
          dot += static_cast<double>(q[static_cast<std::size_t>((t * s.n_heads + h) * s.head_dim + d)]) *
                 keys[static_cast<std::size_t>((g * capacity + r) * s.head_dim + d)];
        }
        scores[static_cast<std::size_t>(r)] = dot * s.scale;
        max_score = std::max(max_score, dot * s.scale);
      }
      double denom = 0;
      for (double& score : scores) denom += (score = std::exp(score - max_score));
      for (std::int64_t d = 0; d < s.head_dim; ++d) {
        double acc = 0;
        for (std::int64_t r = 0; r < visible; ++r) {
          acc += scores[static_cast<std::size_t>(r)] / denom *
                 values[static_cast<std::size_t>((g * capacity + r) * s.head_dim + d)];
        }
        out[static_cast<std::size_t>((t * s.n_heads + h) * s.head_dim + d)] = acc;
      }
    }
  }
  return out;
}

TEST(Kernels, AttentionMatchesScalarReference) {
  ThreadPool pool(3);
  const std::int64_t capacity = 23;
  struct Case {
    std::int64_t n_tokens, n_heads, n_kv_heads, head_dim, start_pos;
    bool causal;
  };
  for (const Case& c : {Case{4, 6, 2, 7, 5, true}, Case{1, 4, 1, 9, 20, true}, Case{6, 3, 3, 5, 0, false},
                        Case{7, 8, 4, 16, 0, true}}) {
    kernels::AttentionShape shape;
    shape.n_tokens = c.n_tokens;
    shape.n_heads = c.n_heads;
    shape.n_kv_heads = c.n_kv_heads;
    shape.head_dim = c.head_dim;
    shape.start_pos = c.start_pos;
    shape.causal = c.causal;
    shape.n_kv_rows = c.causal ? 0 : c.n_tokens;
    shape.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
    const auto q = random_values(static_cast<std::size_t>(c.n_tokens * c.n_heads * c.head_dim), 21u, 2.0f);
    const auto keys = random_values(static_cast<std::size_t>(c.n_kv_heads * capacity * c.head_dim), 22u, 2.0f);
    const auto values = random_values(keys.size(), 23u);
    std::vector<float> out(q.size());
    kernels::attention(pool, q.data(), {keys.data(), values.data(), capacity * c.head_dim}, shape, out.data());
    const std::vector<double> ref = reference_attention(q, keys, values, shape, capacity);
    for (std::size_t i = 0; i < ref.size(); ++i) {
      ASSERT_NEAR(out[i], ref[i], kAbs + kRel * std::abs(ref[i])) << "heads " << c.n_heads << " index " << i;
    }
  }
}

TEST(Kernels, ActivationsMatchFormulas) {
  ThreadPool pool(2);
  const std::vector<float> x = random_values(1001, 30u, 6.0f);
  auto check = [&](auto apply, auto formula, const char* name) {
    std::vector<float> y = x;
    apply(y.data(), static_cast<std::int64_t>(y.size()));
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double ref = formula(static_cast<double>(x[i]));
      ASSERT_NEAR(y[i], ref, 1e-6 + 1e-6 * std::abs(ref)) << name << " at x = " << x[i];
    }
  };
  check([&](float* p, std::int64_t n) { kernels::gelu_erf(pool, p, n); },
        [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }, "gelu_erf");
  check([&](float* p, std::int64_t n) { kernels::gelu_tanh(pool, p, n); },
        [](double v) { return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))); },
        "gelu_tanh");
  check([&](float* p, std::int64_t n) { kernels::quick_gelu(pool, p, n); },
        [](double v) { return v / (1 + std::exp(-1.702 * v)); }, "quick_gelu");
}

TEST(Kernels, SiluMulAndAdd) {
  ThreadPool pool(2);
  const std::vector<float> gate = random_values(333, 40u, 5.0f);
  const std::vector<float> up = random_values(333, 41u, 2.0f);
  std::vector<float> y = gate;
  kernels::silu_mul(pool, y.data(), up.data(), static_cast<std::int64_t>(y.size()));
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double ref = gate[i] / (1 + std::exp(-static_cast<double>(gate[i]))) * up[i];
    ASSERT_NEAR(y[i], ref, 1e-6 + 1e-6 * std::abs(ref)) << i;
  }
  std::vector<float> sum = gate;
  kernels::add(pool, sum.data(), up.data(), static_cast<std::int64_t>(sum.size()));
  for (std::size_t i = 0; i < sum.size(); ++i) ASSERT_EQ(sum[i], gate[i] + up[i]) << i;
}

}  // namespace
}  // namespace glimpse
