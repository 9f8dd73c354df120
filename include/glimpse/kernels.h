// Numeric kernels that the models call. Activations are float32, row-major; weights are read in
// their stored dtype (f32, f16, bf16, or the Q8_0, Q4_0, Q4_K and Q6_K block types) without a
// widened copy of the whole tensor. The matmul inner loops come from a table chosen at run time
// for the CPU: AMX-INT8, AVX-512 with VNNI, AVX2 with FMA and F16C, or portable code
// (src/kernels/isa.h).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "glimpse/tensor.h"
#include "glimpse/thread_pool.h"

namespace glimpse::kernels {

// y[n_rows, out] = x[n_rows, in] @ weight[out, in]^T (+ bias[out] when bias is not null).
// `weight` must be rank 2; `bias` may be any dtype and has `out` elements. With block-type
// weights, each row of x is first quantized to 8 bits per block of 32 (as llama.cpp does for
// Q8_0 and Q4_0) and the products are int8 dot products. For Q4_K and Q6_K, llama.cpp uses one
// activation scale per 256 values. The blocks of 32 here are finer, so the products differ from
// llama.cpp's by rounding.
void linear(ThreadPool& pool, const float* x, std::int64_t n_rows, const TensorView& weight,
            const TensorView* bias, float* y);

// One weight of linear_many(): y[n_rows, out] = x @ weight^T (+ bias).
struct LinearTarget {
  const TensorView* weight = nullptr;
  const TensorView* bias = nullptr;
  float* y = nullptr;
};

// Runs linear() for several weights of the same input width over one input, with the same
// results. Decode-shaped calls (fewer than 4 rows) whose weights share a dtype quantize x once
// and split all the weights' rows among the threads in one job, so the threads wait for each
// other once instead of once per weight. Other calls run linear() for each target in turn.
void linear_many(ThreadPool& pool, const float* x, std::int64_t n_rows, std::span<const LinearTarget> targets);

// Computes the gated input of a Llama-style MLP into gate.y[n_rows, out]:
// silu(x @ gate^T + gate bias) * (x @ up^T + up bias), with the up projection left in up.y.
// The results equal linear_many() over the two weights followed by silu_mul(). With several rows
// and `out` not a multiple of 8, SiLU may round a few values differently in the last bits.
// The fused path takes decode-shaped calls (fewer than 4 rows) without biases, with two weights
// of one dtype and shape. Each work item multiplies a block of gate rows and the same block of
// up rows, then applies the gate to them, so the gate needs no pass of its own.
void linear_gated(ThreadPool& pool, const float* x, std::int64_t n_rows, const LinearTarget& gate,
                  const LinearTarget& up);

// Quantizes every row of `weight` (last dimension a multiple of the block size of `type`: 32 for
// Q8_0 and Q4_0, 256 for Q4_K and Q6_K) into `type` at `out`, which has room for
// dtype_bytes(type, weight.numel()) bytes. The bytes are those of llama.cpp's reference
// quantizer.
void quantize_weight(ThreadPool& pool, const TensorView& weight, DType type, void* out);

// Whether the kernel table in use multiplies Q4_0 weights faster in the Q4_0x16 layout (the
// blocks of 16 rows interleaved, k-major), which loading then makes.
bool prefers_q4_0x16();

// Copies a rank-2 Q4_0 weight whose row count is a multiple of 16 into the Q4_0x16 layout at
// `out` (the same number of bytes).
void repack_q4_0x16(ThreadPool& pool, const TensorView& weight, void* out);

// The same for Q8_0 and the Q8_0x16 layout.
bool prefers_q8_0x16();
void repack_q8_0x16(ThreadPool& pool, const TensorView& weight, void* out);

// The same for Q4_K and the Q4_Kx16 layout, except that `out` needs
// dtype_bytes(DType::kQ4_Kx16, weight.numel()) bytes, 64 more per 16 rows and super-block.
bool prefers_q4_Kx16();
void repack_q4_Kx16(ThreadPool& pool, const TensorView& weight, void* out);

// The name of the kernel table in use: "avx512", "avx2" or "portable".
std::string_view active_isa();

// Per row of x[n_rows, dim]: y = x / sqrt(mean(x^2) + eps) * weight. y may alias x.
void rms_norm(ThreadPool& pool, const float* x, std::int64_t n_rows, std::int64_t dim,
              const TensorView& weight, float eps, float* y);

// Per row of x[n_rows, dim]: y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased
// variance as torch.nn.LayerNorm computes it. y may alias x.
void layer_norm(ThreadPool& pool, const float* x, std::int64_t n_rows, std::int64_t dim,
                const TensorView& weight, const TensorView& bias, float eps, float* y);

// Rotary position embedding in the rotate-half convention of Hugging Face LLaMA checkpoints:
// for each head, dimension i < head_dim/2 pairs with i + head_dim/2 and is rotated by the angle
// position * inv_freq[i]. x is [n_tokens, n_heads, head_dim]; token t has position
// start_pos + t. cos_table and sin_table are [n_positions, head_dim/2].
void rope_rotate_half(float* x, std::int64_t n_tokens, std::int64_t n_heads, std::int64_t head_dim,
                      std::int64_t start_pos, const float* cos_table, const float* sin_table);

// In-place softmax over x[n], subtracting the maximum first.
void softmax(float* x, std::int64_t n);

// Layout of keys and values for attention(): element (head h, row r, dim d) sits at
// base[h * head_stride + r * head_dim + d], i.e. [n_kv_heads][capacity][head_dim]. Elements are
// float (DType::kF32) or IEEE half bits in std::uint16_t (DType::kF16); other dtypes are invalid.
struct KvLayout {
  const void* keys = nullptr;
  const void* values = nullptr;
  std::int64_t head_stride = 0;  // capacity * head_dim, in elements
  DType dtype = DType::kF32;
};

struct AttentionShape {
  std::int64_t n_tokens = 0;    // queries in this call
  std::int64_t n_heads = 0;     // query heads
  std::int64_t n_kv_heads = 0;  // key/value heads; n_heads must be a multiple of it
  std::int64_t head_dim = 0;
  std::int64_t start_pos = 0;   // position of the first query; rows before it are cached
  bool causal = true;           // causal: query t sees rows 0..start_pos+t; else all n_kv_rows
  std::int64_t n_kv_rows = 0;   // rows visible to a non-causal query
  float scale = 1.0f;           // applied to q·k
};

// out[t, h*head_dim + d] = sum_r softmax_r(scale * q_t,h · k_r,g) v_r,g[d], where the kv head
// is g = h / (n_heads / n_kv_heads). q is [n_tokens, n_heads, head_dim]. Rows that no query of
// the call can see are never read, and scratch memory does not grow with the number of rows.
// A non-causal query with n_kv_rows 0 gets zeros.
void attention(ThreadPool& pool, const float* q, const KvLayout& kv, const AttentionShape& shape,
               float* out);

// Converts n floats to IEEE half bits, rounding to nearest even as f32_to_f16 does (NaN stays
// NaN, but its payload bits may differ). Used to store rows of an f16 KV cache.
void f32_row_to_f16(const float* in, std::int64_t n, std::uint16_t* out);

// Elementwise activations, in place over x[n].
void gelu_erf(ThreadPool& pool, float* x, std::int64_t n);    // 0.5 x (1 + erf(x / sqrt 2))
void gelu_tanh(ThreadPool& pool, float* x, std::int64_t n);   // the tanh approximation
void quick_gelu(ThreadPool& pool, float* x, std::int64_t n);  // x * sigmoid(1.702 x)

// gate[i] = silu(gate[i]) * up[i] over n elements: the gated MLP of LLaMA.
void silu_mul(ThreadPool& pool, float* gate, const float* up, std::int64_t n);

// x[i] += y[i].
void add(ThreadPool& pool, float* x, const float* y, std::int64_t n);

}  // namespace glimpse::kernels
