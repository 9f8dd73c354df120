// linear() splits the work and calls the kernel table chosen at run time (kernels/isa.h). The
// other kernels here are portable code with an AVX2/FMA/F16C path chosen at compile time; norms
// accumulate in double.
#include "glimpse/kernels.h"
#include "glimpse/quant.h"
#include "kernels/isa.h"
#include "kernels/simd_math.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <span>
#include <vector>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define GLIMPSE_KERNELS_AVX2 1
#endif

namespace glimpse::kernels {
namespace {

// Weight rows per job of linear(): 16 for decode-shaped calls; 64 for prefill-shaped calls,
// which the AVX-512 table packs into panels of 64 float rows (a 4096-wide block of 64 widened
// rows is 1 MiB) or 32 int8 rows.
constexpr std::int64_t kWeightRowBlock = 16;
constexpr std::int64_t kPrefillRowBlock = 64;
// Input rows from which f16/bf16 weight rows are widened to float once per block instead of
// being converted inside every dot product.
constexpr std::int64_t kWidenMinRows = 4;

// Returns the tensor's values as floats. Norms and biases widen their weights on every call, so
// f16 and bf16 go through the table's vector conversion instead of convert_to_f32's scalar loop.
std::vector<float> to_f32_vector(const TensorView& tensor) {
  std::vector<float> values(static_cast<std::size_t>(tensor.numel()));
  const auto* bits = static_cast<const std::uint16_t*>(tensor.data);
  if (tensor.dtype == DType::kF16) {
    active_kernels().f16_to_f32(bits, tensor.numel(), values.data());
  } else if (tensor.dtype == DType::kBF16) {
    active_kernels().bf16_to_f32(bits, tensor.numel(), values.data());
  } else {
    convert_to_f32(tensor, 0, tensor.numel(), values.data());
  }
  return values;
}

// Runs body(begin, end) over [0, n) on the pool in ranges sized for cheap elementwise work.
template <typename Body>
void for_elements(ThreadPool& pool, std::int64_t n, Body body) {
  pool.parallel_for(n, 1 << 14, [&](std::int64_t begin, std::int64_t end) { body(begin, end); });
}

// Multiplies the input rows by rows [r0, r0 + rows) of `weight` into columns r0.. of y. With
// several input rows, f16 and bf16 rows are first widened into `widened`, so that the float
// tiles reuse them from cache.
void weight_block(const IsaKernels& isa, const float* x, std::int64_t n_rows, const TensorView& weight,
                  const QuantizedRows& acts, std::int64_t r0, std::int64_t rows, std::vector<float>& widened,
                  float* y) {
  const std::int64_t out = weight.dim(0);
  const std::int64_t in = weight.dim(1);
  const std::uint8_t* w =
      static_cast<const std::uint8_t*>(weight.data) + static_cast<std::size_t>(r0) * dtype_bytes(weight.dtype, in);
  float* y_block = y + r0;
  if (n_rows >= kWidenMinRows && (weight.dtype == DType::kF16 || weight.dtype == DType::kBF16)) {
    widened.resize(static_cast<std::size_t>(rows * in));
    const auto* bits = reinterpret_cast<const std::uint16_t*>(w);
    if (weight.dtype == DType::kF16) {
      isa.f16_to_f32(bits, rows * in, widened.data());
    } else {
      isa.bf16_to_f32(bits, rows * in, widened.data());
    }
    isa.matmul_f32(widened.data(), rows, in, x, n_rows, y_block, out);
    return;
  }
  switch (weight.dtype) {
    case DType::kF32:
      isa.matmul_f32(reinterpret_cast<const float*>(w), rows, in, x, n_rows, y_block, out);
      break;
    case DType::kF16:
      isa.matmul_f16(reinterpret_cast<const std::uint16_t*>(w), rows, in, x, n_rows, y_block, out);
      break;
    case DType::kBF16:
      isa.matmul_bf16(reinterpret_cast<const std::uint16_t*>(w), rows, in, x, n_rows, y_block, out);
      break;
    case DType::kQ8_0:
      isa.matmul_q8_0(reinterpret_cast<const BlockQ8_0*>(w), rows, in, acts, n_rows, y_block, out);
      break;
    case DType::kQ4_0:
      isa.matmul_q4_0(reinterpret_cast<const BlockQ4_0*>(w), rows, in, acts, n_rows, y_block, out);
      break;
    case DType::kQ4_0x16: {
      // Weights repacked for one table stay readable when another is forced later.
      const auto matmul = isa.matmul_q4_0x16 != nullptr ? isa.matmul_q4_0x16 : portable_kernels()->matmul_q4_0x16;
      matmul(reinterpret_cast<const BlockQ4_0x16*>(w), rows, in, acts, n_rows, y_block, out);
      break;
    }
    case DType::kQ8_0x16: {
      const auto matmul = isa.matmul_q8_0x16 != nullptr ? isa.matmul_q8_0x16 : portable_kernels()->matmul_q8_0x16;
      matmul(reinterpret_cast<const BlockQ8_0x16*>(w), rows, in, acts, n_rows, y_block, out);
      break;
    }
    case DType::kQ4_K:
      isa.matmul_q4_K(reinterpret_cast<const BlockQ4_K*>(w), rows, in, acts, n_rows, y_block, out);
      break;
    case DType::kQ6_K:
      isa.matmul_q6_K(reinterpret_cast<const BlockQ6_K*>(w), rows, in, acts, n_rows, y_block, out);
      break;
    case DType::kQ4_Kx16: {
      const auto matmul = isa.matmul_q4_Kx16 != nullptr ? isa.matmul_q4_Kx16 : portable_kernels()->matmul_q4_Kx16;
      matmul(reinterpret_cast<const BlockQ4_Kx16*>(w), rows, in, acts, n_rows, y_block, out);
      break;
    }
  }
}

// Weight rows per job of linear_blocks(): 16 for decode-shaped calls, 64 for prefill-shaped ones.
std::int64_t row_block_for(std::int64_t n_rows) {
  return n_rows >= kWidenMinRows ? kPrefillRowBlock : kWeightRowBlock;
}

// Multiplies the input rows by the weights of every target in one pool job, one block of weight
// rows per work item. Each item reads its rows once and multiplies every input row. All targets
// use x and acts, so their weights have one input width and, when quantized, one dtype.
void linear_blocks(ThreadPool& pool, const IsaKernels& isa, const float* x, std::int64_t n_rows,
                   std::span<const LinearTarget> targets, const QuantizedRows& acts) {
  const std::int64_t row_block = row_block_for(n_rows);
  // first_block[j] is the first work item of target j, and the last entry is the total.
  std::vector<std::int64_t> first_block(targets.size() + 1, 0);
  for (std::size_t j = 0; j < targets.size(); ++j) {
    first_block[j + 1] = first_block[j] + (targets[j].weight->dim(0) + row_block - 1) / row_block;
  }
  pool.parallel_for(first_block.back(), 1, [&](std::int64_t item_begin, std::int64_t item_end) {
    thread_local std::vector<float> widened;
    std::size_t j = 0;
    for (std::int64_t item = item_begin; item < item_end; ++item) {
      while (item >= first_block[j + 1]) ++j;
      const TensorView& weight = *targets[j].weight;
      const std::int64_t r0 = (item - first_block[j]) * row_block;
      const std::int64_t rows = std::min(weight.dim(0), r0 + row_block) - r0;
      weight_block(isa, x, n_rows, weight, acts, r0, rows, widened, targets[j].y);
    }
  });
}

// Input rows quantized for block-type weights: the buffers and the view of them in `rows`.
struct QuantizedInput {
  std::vector<std::int8_t> q;
  std::vector<float> d;
  std::vector<std::int32_t> sum;
  std::vector<std::uint8_t> tiles;
  QuantizedRows rows;
};

// Quantizes the n_rows rows of x for weights of `dtype` into `input`, and rearranges them into
// tiles where the table multiplies whole tiles. Leaves `input` empty for float dtypes.
void quantize_input(ThreadPool& pool, const IsaKernels& isa, const float* x, std::int64_t n_rows, std::int64_t in,
                    DType dtype, QuantizedInput& input) {
  if (!dtype_is_quantized(dtype)) return;
  const std::int64_t nb = in / kQuantBlock;
  input.q.resize(static_cast<std::size_t>(n_rows * in));
  input.d.resize(static_cast<std::size_t>(n_rows * nb));
  input.sum.resize(input.d.size());
  pool.parallel_for(n_rows, 8, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      isa.quantize_row(x + i * in, in, input.q.data() + i * in, input.d.data() + i * nb, input.sum.data() + i * nb);
    }
  });
  input.rows = {input.q.data(), input.d.data(), input.sum.data()};
  // Tables that multiply whole tiles of activation rows rearrange them once here.
  const bool x16 = dtype == DType::kQ8_0x16 || dtype == DType::kQ4_0x16 || dtype == DType::kQ4_Kx16;
  if (x16 && isa.tile_rows != nullptr && isa.tile_rows_bytes(n_rows, in) > 0) {
    input.tiles.resize(isa.tile_rows_bytes(n_rows, in));
    const auto tiles = static_cast<std::int64_t>(input.tiles.size() / isa.tile_rows_bytes(16, in));
    pool.parallel_for(tiles, 1, [&](std::int64_t begin, std::int64_t end) {
      isa.tile_rows(input.rows, in, begin, end, input.tiles.data());
    });
    input.rows.tiles = input.tiles.data();
  }
}

void add_bias(ThreadPool& pool, const TensorView& bias, std::int64_t n_rows, std::int64_t out, float* y) {
  const std::vector<float> bias_f32 = to_f32_vector(bias);
  pool.parallel_for(n_rows, 8, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      for (std::int64_t r = 0; r < out; ++r) y[i * out + r] += bias_f32[static_cast<std::size_t>(r)];
    }
  });
}

}  // namespace

void linear(ThreadPool& pool, const float* x, std::int64_t n_rows, const TensorView& weight,
            const TensorView* bias, float* y) {
  assert(weight.rank == 2);
  const IsaKernels& isa = active_kernels();
  const std::int64_t out = weight.dim(0);
  const std::int64_t in = weight.dim(1);

  // Quantized weights multiply 8-bit activations: quantize every input row once.
  QuantizedInput input;
  quantize_input(pool, isa, x, n_rows, in, weight.dtype, input);

  // Tables with float tiles take f16 and bf16 weights times many input rows. The input rows are
  // rearranged once here, and the kernel converts each block of weight rows once.
  const bool float_weights = weight.dtype == DType::kF16 || weight.dtype == DType::kBF16;
  if (float_weights && n_rows >= kFloatTileMinRows && isa.matmul_float_tiles != nullptr) {
    const std::size_t row_bytes = dtype_bytes(weight.dtype, in);
    const auto* weight_bytes = static_cast<const std::uint8_t*>(weight.data);
    // Kept between calls, because a prompt's rows take megabytes and fresh pages cost page faults.
    thread_local std::vector<std::uint8_t> x_tiles;
    x_tiles.resize(std::max(x_tiles.size(), isa.float_tile_rows_bytes(n_rows, in) + 64));
    void* aligned = x_tiles.data() + (64 - reinterpret_cast<std::uintptr_t>(x_tiles.data()) % 64) % 64;
    pool.parallel_for((n_rows + 31) / 32, 1, [&](std::int64_t begin, std::int64_t end) {
      isa.float_tile_rows(x, n_rows, in, begin, end, aligned);
    });
    const FloatWeights type = weight.dtype == DType::kF16 ? FloatWeights::kF16 : FloatWeights::kBF16;
    // Blocks of 32 to 256 weight rows, about four per thread where the weight has enough rows.
    const std::int64_t per_block = (out + 4 * pool.size() - 1) / (4 * pool.size());
    const std::int64_t row_block = std::clamp<std::int64_t>((per_block + 31) / 32 * 32, 32, 256);
    const std::int64_t n_blocks = (out + row_block - 1) / row_block;
    pool.parallel_for(n_blocks, 1, [&](std::int64_t block_begin, std::int64_t block_end) {
      for (std::int64_t block = block_begin; block < block_end; ++block) {
        const std::int64_t r0 = block * row_block;
        const std::int64_t rows = std::min(out, r0 + row_block) - r0;
        isa.matmul_float_tiles(type, weight_bytes + static_cast<std::size_t>(r0) * row_bytes, rows, in, aligned,
                               n_rows, y + r0, out);
      }
    });
  } else {
    const LinearTarget target{&weight, bias, y};
    linear_blocks(pool, isa, x, n_rows, std::span<const LinearTarget>(&target, 1), input.rows);
  }

  if (bias != nullptr) add_bias(pool, *bias, n_rows, out, y);
}

void linear_many(ThreadPool& pool, const float* x, std::int64_t n_rows, std::span<const LinearTarget> targets) {
  if (targets.empty()) return;
  const TensorView& first = *targets.front().weight;
  bool shared = n_rows < kWidenMinRows;
  for (const LinearTarget& target : targets) {
    assert(target.weight->rank == 2);
    assert(target.weight->dim(1) == first.dim(1));
    shared = shared && target.weight->dtype == first.dtype;
  }
  if (!shared) {
    for (const LinearTarget& target : targets) linear(pool, x, n_rows, *target.weight, target.bias, target.y);
    return;
  }
  const IsaKernels& isa = active_kernels();
  QuantizedInput input;
  quantize_input(pool, isa, x, n_rows, first.dim(1), first.dtype, input);
  linear_blocks(pool, isa, x, n_rows, targets, input.rows);
  for (const LinearTarget& target : targets) {
    if (target.bias != nullptr) add_bias(pool, *target.bias, n_rows, target.weight->dim(0), target.y);
  }
}

bool prefers_q4_0x16() { return active_kernels().matmul_q4_0x16 != nullptr && active_kernels().isa != Isa::kPortable; }

bool prefers_q8_0x16() { return active_kernels().matmul_q8_0x16 != nullptr && active_kernels().isa != Isa::kPortable; }

void repack_q4_0x16(ThreadPool& pool, const TensorView& weight, void* out) {
  const std::int64_t nb = weight.dim(1) / kQuantBlock;
  const auto* in = static_cast<const BlockQ4_0*>(weight.data);
  auto* packed = static_cast<BlockQ4_0x16*>(out);
  pool.parallel_for(weight.dim(0) / 16, 8, [&](std::int64_t begin, std::int64_t end) {
    glimpse::repack_q4_0x16(in + begin * 16 * nb, (end - begin) * 16, nb, packed + begin * nb);
  });
}

void repack_q8_0x16(ThreadPool& pool, const TensorView& weight, void* out) {
  const std::int64_t nb = weight.dim(1) / kQuantBlock;
  const auto* in = static_cast<const BlockQ8_0*>(weight.data);
  auto* packed = static_cast<BlockQ8_0x16*>(out);
  pool.parallel_for(weight.dim(0) / 16, 8, [&](std::int64_t begin, std::int64_t end) {
    glimpse::repack_q8_0x16(in + begin * 16 * nb, (end - begin) * 16, nb, packed + begin * nb);
  });
}

bool prefers_q4_Kx16() {
  return active_kernels().matmul_q4_Kx16 != nullptr && active_kernels().isa != Isa::kPortable;
}

void repack_q4_Kx16(ThreadPool& pool, const TensorView& weight, void* out) {
  const std::int64_t nsb = weight.dim(1) / kSuperBlock;
  const auto* in = static_cast<const BlockQ4_K*>(weight.data);
  auto* packed = static_cast<BlockQ4_Kx16*>(out);
  pool.parallel_for(weight.dim(0) / 16, 8, [&](std::int64_t begin, std::int64_t end) {
    glimpse::repack_q4_Kx16(in + begin * 16 * nsb, (end - begin) * 16, nsb, packed + begin * nsb);
  });
}

void quantize_weight(ThreadPool& pool, const TensorView& weight, DType type, void* out) {
  const std::int64_t in = weight.dim(weight.rank - 1);
  const std::int64_t rows = weight.numel() / in;
  const std::size_t row_bytes = dtype_bytes(type, in);
  pool.parallel_for(rows, 16, [&](std::int64_t begin, std::int64_t end) {
    std::vector<float> row(static_cast<std::size_t>(in));
    for (std::int64_t r = begin; r < end; ++r) {
      convert_to_f32(weight, r * in, in, row.data());
      quantize_row(type, row.data(), in, static_cast<std::uint8_t*>(out) + static_cast<std::size_t>(r) * row_bytes);
    }
  });
}

namespace {

// Returns the sum of x[i]^2 in double precision. The AVX2 path keeps four sums of four doubles,
// so its order of additions differs from the scalar loop's. The results differ far less than a
// float's rounding (each square is exact in double).
double sum_of_squares(const float* x, std::int64_t n) {
  std::int64_t i = 0;
  double total = 0.0;
#ifdef GLIMPSE_KERNELS_AVX2
  __m256d sums[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
  for (; i + 16 <= n; i += 16) {
    for (int k = 0; k < 4; ++k) {
      const __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4 * k));
      sums[k] = _mm256_fmadd_pd(v, v, sums[k]);
    }
  }
  const __m256d sum = _mm256_add_pd(_mm256_add_pd(sums[0], sums[1]), _mm256_add_pd(sums[2], sums[3]));
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, sum);
  total = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
#endif
  for (; i < n; ++i) total += static_cast<double>(x[i]) * x[i];
  return total;
}

}  // namespace

void rms_norm(ThreadPool& pool, const float* x, std::int64_t n_rows, std::int64_t dim,
              const TensorView& weight, float eps, float* y) {
  const std::vector<float> w = to_f32_vector(weight);
  pool.parallel_for(n_rows, 16, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t row = begin; row < end; ++row) {
      const float* in = x + row * dim;
      float* out = y + row * dim;
      const double sum_squares = sum_of_squares(in, dim);
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

// x * sigmoid(k * x) = x / (1 + exp(-k x)); exp8 saturates, so the quotient tends to 0 or x.
static void scaled_silu(float* x, std::int64_t begin, std::int64_t end, float k) {
  std::int64_t i = begin;
#ifdef GLIMPSE_KERNELS_AVX2
  const __m256 minus_k = _mm256_set1_ps(-k);
  const __m256 one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= end; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    _mm256_storeu_ps(x + i, _mm256_div_ps(v, _mm256_add_ps(one, exp8(_mm256_mul_ps(minus_k, v)))));
  }
#endif
  for (; i < end; ++i) x[i] = x[i] / (1.0f + std::exp(-k * x[i]));
}

void quick_gelu(ThreadPool& pool, float* x, std::int64_t n) {
  for_elements(pool, n, [x](std::int64_t begin, std::int64_t end) { scaled_silu(x, begin, end, 1.702f); });
}

void silu_mul(ThreadPool& pool, float* gate, const float* up, std::int64_t n) {
  for_elements(pool, n, [gate, up](std::int64_t begin, std::int64_t end) {
    scaled_silu(gate, begin, end, 1.0f);
    for (std::int64_t i = begin; i < end; ++i) gate[i] *= up[i];
  });
}

void linear_gated(ThreadPool& pool, const float* x, std::int64_t n_rows, const LinearTarget& gate,
                  const LinearTarget& up) {
  const TensorView& gate_weight = *gate.weight;
  const TensorView& up_weight = *up.weight;
  const std::int64_t out = gate_weight.dim(0);
  const bool fused = n_rows < kWidenMinRows && gate.bias == nullptr && up.bias == nullptr &&
                     up_weight.dtype == gate_weight.dtype && up_weight.dim(0) == out &&
                     up_weight.dim(1) == gate_weight.dim(1);
  if (!fused) {
    const LinearTarget targets[] = {gate, up};
    linear_many(pool, x, n_rows, targets);
    silu_mul(pool, gate.y, up.y, n_rows * out);
    return;
  }
  const IsaKernels& isa = active_kernels();
  QuantizedInput input;
  quantize_input(pool, isa, x, n_rows, gate_weight.dim(1), gate_weight.dtype, input);
  const std::int64_t row_block = row_block_for(n_rows);
  pool.parallel_for((out + row_block - 1) / row_block, 1, [&](std::int64_t item_begin, std::int64_t item_end) {
    thread_local std::vector<float> widened;
    for (std::int64_t item = item_begin; item < item_end; ++item) {
      const std::int64_t r0 = item * row_block;
      const std::int64_t rows = std::min(out, r0 + row_block) - r0;
      weight_block(isa, x, n_rows, gate_weight, input.rows, r0, rows, widened, gate.y);
      weight_block(isa, x, n_rows, up_weight, input.rows, r0, rows, widened, up.y);
      for (std::int64_t i = 0; i < n_rows; ++i) {
        float* g = gate.y + i * out;
        scaled_silu(g, r0, r0 + rows, 1.0f);
        for (std::int64_t r = r0; r < r0 + rows; ++r) g[r] *= up.y[i * out + r];
      }
    }
  });
}

void add(ThreadPool& pool, float* x, const float* y, std::int64_t n) {
  for_elements(pool, n, [x, y](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) x[i] += y[i];
  });
}

}  // namespace glimpse::kernels
