// Portable kernels with an AVX2/FMA/F16C path chosen at compile time. Numerics: dot products
// accumulate in float32 over 8 (scalar) or 32 (AVX2) partial sums; norms accumulate in double.
#include "glimpse/kernels.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define GLIMPSE_KERNELS_AVX2 1
#endif

namespace glimpse::kernels {
namespace {

// Output rows of a weight converted and reused together; 16 rows of a 4096-wide f32 buffer
// (256 KiB) fit a typical L2 cache.
constexpr std::int64_t kWeightRowBlock = 16;

float dot(const float* a, const float* b, std::int64_t n) {
  std::int64_t i = 0;
#ifdef GLIMPSE_KERNELS_AVX2
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
  for (; i + 32 <= n; i += 32) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
    acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
  }
  for (; i + 8 <= n; i += 8) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  }
  const __m256 sum8 = _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));
  const __m128 sum4 = _mm_add_ps(_mm256_castps256_ps128(sum8), _mm256_extractf128_ps(sum8, 1));
  const __m128 sum2 = _mm_add_ps(sum4, _mm_movehl_ps(sum4, sum4));
  float total = _mm_cvtss_f32(_mm_add_ss(sum2, _mm_shuffle_ps(sum2, sum2, 1)));
#else
  float partial[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) partial[j] += a[i + j] * b[i + j];
  }
  float total = ((partial[0] + partial[1]) + (partial[2] + partial[3])) +
                ((partial[4] + partial[5]) + (partial[6] + partial[7]));
#endif
  for (; i < n; ++i) total += a[i] * b[i];
  return total;
}

#ifdef GLIMPSE_KERNELS_AVX2
float horizontal_sum(__m256 v) {
  const __m128 sum4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 sum2 = _mm_add_ps(sum4, _mm_movehl_ps(sum4, sum4));
  return _mm_cvtss_f32(_mm_add_ss(sum2, _mm_shuffle_ps(sum2, sum2, 1)));
}
#endif

// out[i][j] = x_i · w_j for 4 rows of x (stride `x_stride`) and 2 weight rows (stride n). Each
// step loads 6 vectors for 8 FMAs, against 2 loads per FMA in dot().
void dot_4x2(const float* x, std::int64_t x_stride, const float* w, std::int64_t n, float out[4][2]) {
  std::int64_t k = 0;
#ifdef GLIMPSE_KERNELS_AVX2
  __m256 acc[4][2];
  for (auto& row : acc) row[0] = row[1] = _mm256_setzero_ps();
  for (; k + 8 <= n; k += 8) {
    const __m256 w0 = _mm256_loadu_ps(w + k);
    const __m256 w1 = _mm256_loadu_ps(w + n + k);
    for (int i = 0; i < 4; ++i) {
      const __m256 xi = _mm256_loadu_ps(x + i * x_stride + k);
      acc[i][0] = _mm256_fmadd_ps(xi, w0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(xi, w1, acc[i][1]);
    }
  }
  for (int i = 0; i < 4; ++i) {
    out[i][0] = horizontal_sum(acc[i][0]);
    out[i][1] = horizontal_sum(acc[i][1]);
  }
#else
  for (int i = 0; i < 4; ++i) out[i][0] = out[i][1] = 0.0f;
#endif
  for (; k < n; ++k) {
    for (int i = 0; i < 4; ++i) {
      out[i][0] += x[i * x_stride + k] * w[k];
      out[i][1] += x[i * x_stride + k] * w[n + k];
    }
  }
}

void f16_row_to_f32(const std::uint16_t* in, std::int64_t n, float* out) {
  std::int64_t i = 0;
#ifdef GLIMPSE_KERNELS_AVX2
  for (; i + 8 <= n; i += 8) {
    const __m128i half = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(half));
  }
#endif
  for (; i < n; ++i) out[i] = f16_to_f32(in[i]);
}

void bf16_row_to_f32(const std::uint16_t* in, std::int64_t n, float* out) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = bf16_to_f32(in[i]);
}

// Returns rows [row_begin, row_end) of a rank-2 weight as float32, converting into `buffer`
// unless the weight is already float32.
const float* weight_rows_f32(const TensorView& weight, std::int64_t row_begin, std::int64_t row_end,
                             std::vector<float>& buffer) {
  const std::int64_t in = weight.dim(1);
  if (weight.dtype == DType::kF32) return static_cast<const float*>(weight.data) + row_begin * in;
  const std::int64_t count = (row_end - row_begin) * in;
  buffer.resize(static_cast<std::size_t>(count));
  const auto* bits = static_cast<const std::uint16_t*>(weight.data) + row_begin * in;
  if (weight.dtype == DType::kF16) {
    f16_row_to_f32(bits, count, buffer.data());
  } else {
    bf16_row_to_f32(bits, count, buffer.data());
  }
  return buffer.data();
}

std::vector<float> to_f32_vector(const TensorView& tensor) {
  std::vector<float> values(static_cast<std::size_t>(tensor.numel()));
  convert_to_f32(tensor, 0, tensor.numel(), values.data());
  return values;
}

// Runs body(begin, end) over [0, n) on the pool in ranges sized for cheap elementwise work.
template <typename Body>
void for_elements(ThreadPool& pool, std::int64_t n, Body body) {
  pool.parallel_for(n, 1 << 14, [&](std::int64_t begin, std::int64_t end) { body(begin, end); });
}

}  // namespace

void linear(ThreadPool& pool, const float* x, std::int64_t n_rows, const TensorView& weight,
            const TensorView* bias, float* y) {
  assert(weight.rank == 2);
  const std::int64_t out = weight.dim(0);
  const std::int64_t in = weight.dim(1);
  std::vector<float> bias_f32;
  if (bias != nullptr) bias_f32 = to_f32_vector(*bias);

  const std::int64_t n_blocks = (out + kWeightRowBlock - 1) / kWeightRowBlock;
  pool.parallel_for(n_blocks, 1, [&](std::int64_t block_begin, std::int64_t block_end) {
    thread_local std::vector<float> buffer;
    for (std::int64_t block = block_begin; block < block_end; ++block) {
      const std::int64_t row_begin = block * kWeightRowBlock;
      const std::int64_t row_end = std::min(out, row_begin + kWeightRowBlock);
      const float* rows = weight_rows_f32(weight, row_begin, row_end, buffer);

      auto bias_of = [&](std::int64_t r) {
        return bias_f32.empty() ? 0.0f : bias_f32[static_cast<std::size_t>(r)];
      };

      // Register-blocked 4x2 tiles where 4 rows of x remain, then one dot product per output.
      std::int64_t i = 0;
      for (; i + 4 <= n_rows; i += 4) {
        std::int64_t r = row_begin;
        for (; r + 2 <= row_end; r += 2) {
          float tile[4][2];
          dot_4x2(x + i * in, in, rows + (r - row_begin) * in, in, tile);
          for (int t = 0; t < 4; ++t) {
            y[(i + t) * out + r] = tile[t][0] + bias_of(r);
            y[(i + t) * out + r + 1] = tile[t][1] + bias_of(r + 1);
          }
        }
        for (; r < row_end; ++r) {
          for (int t = 0; t < 4; ++t) y[(i + t) * out + r] = dot(x + (i + t) * in, rows + (r - row_begin) * in, in) + bias_of(r);
        }
      }
      for (; i < n_rows; ++i) {
        for (std::int64_t r = row_begin; r < row_end; ++r) {
          y[i * out + r] = dot(x + i * in, rows + (r - row_begin) * in, in) + bias_of(r);
        }
      }
    }
  });
}

void rms_norm(ThreadPool& pool, const float* x, std::int64_t n_rows, std::int64_t dim,
              const TensorView& weight, float eps, float* y) {
  const std::vector<float> w = to_f32_vector(weight);
  pool.parallel_for(n_rows, 16, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t row = begin; row < end; ++row) {
      const float* in = x + row * dim;
      float* out = y + row * dim;
      double sum_squares = 0.0;
      for (std::int64_t i = 0; i < dim; ++i) sum_squares += static_cast<double>(in[i]) * in[i];
      const float inv_rms =
          static_cast<float>(1.0 / std::sqrt(sum_squares / static_cast<double>(dim) + eps));
      for (std::int64_t i = 0; i < dim; ++i) out[i] = in[i] * inv_rms * w[static_cast<std::size_t>(i)];
    }
  });
}

void layer_norm(ThreadPool& pool, const float* x, std::int64_t n_rows, std::int64_t dim,
                const TensorView& weight, const TensorView& bias, float eps, float* y) {
  const std::vector<float> w = to_f32_vector(weight);
  const std::vector<float> b = to_f32_vector(bias);
  pool.parallel_for(n_rows, 16, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t row = begin; row < end; ++row) {
      const float* in = x + row * dim;
      float* out = y + row * dim;
      double sum = 0.0;
      for (std::int64_t i = 0; i < dim; ++i) sum += in[i];
      const double mean = sum / static_cast<double>(dim);
      double sum_squares = 0.0;
      for (std::int64_t i = 0; i < dim; ++i) {
        const double centered = in[i] - mean;
        sum_squares += centered * centered;
      }
      const double inv_std = 1.0 / std::sqrt(sum_squares / static_cast<double>(dim) + eps);
      for (std::int64_t i = 0; i < dim; ++i) {
        const auto k = static_cast<std::size_t>(i);
        out[i] = static_cast<float>((in[i] - mean) * inv_std) * w[k] + b[k];
      }
    }
  });
}

void rope_rotate_half(float* x, std::int64_t n_tokens, std::int64_t n_heads, std::int64_t head_dim,
                      std::int64_t start_pos, const float* cos_table, const float* sin_table) {
  const std::int64_t half = head_dim / 2;
  for (std::int64_t t = 0; t < n_tokens; ++t) {
    const float* cos_row = cos_table + (start_pos + t) * half;
    const float* sin_row = sin_table + (start_pos + t) * half;
    for (std::int64_t h = 0; h < n_heads; ++h) {
      float* head = x + (t * n_heads + h) * head_dim;
      for (std::int64_t i = 0; i < half; ++i) {
        // rotate_half(x) = [-x2, x1], so x1' = x1 cos - x2 sin and x2' = x2 cos + x1 sin.
        const float x1 = head[i];
        const float x2 = head[i + half];
        head[i] = x1 * cos_row[i] - x2 * sin_row[i];
        head[i + half] = x2 * cos_row[i] + x1 * sin_row[i];
      }
    }
  }
}

void softmax(float* x, std::int64_t n) {
  if (n <= 0) return;
  const float max_value = *std::max_element(x, x + n);
  double sum = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max_value);
    sum += x[i];
  }
  const float inv_sum = static_cast<float>(1.0 / sum);
  for (std::int64_t i = 0; i < n; ++i) x[i] *= inv_sum;
}

void gelu_erf(ThreadPool& pool, float* x, std::int64_t n) {
  for_elements(pool, n, [x](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * 0.70710678118654752f));
    }
  });
}

void gelu_tanh(ThreadPool& pool, float* x, std::int64_t n) {
  for_elements(pool, n, [x](std::int64_t begin, std::int64_t end) {
    constexpr float kSqrt2OverPi = 0.79788456080286536f;
    for (std::int64_t i = begin; i < end; ++i) {
      const float v = x[i];
      x[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
    }
  });
}

void quick_gelu(ThreadPool& pool, float* x, std::int64_t n) {
  for_elements(pool, n, [x](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) x[i] = x[i] / (1.0f + std::exp(-1.702f * x[i]));
  });
}

void silu_mul(ThreadPool& pool, float* gate, const float* up, std::int64_t n) {
  for_elements(pool, n, [gate, up](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
  });
}

void add(ThreadPool& pool, float* x, const float* y, std::int64_t n) {
  for_elements(pool, n, [x, y](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) x[i] += y[i];
  });
}

}  // namespace glimpse::kernels
