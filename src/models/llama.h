// LLaMA-family decoder (transformers' LlamaForCausalLM) over a preallocated KV cache.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "glimpse/llava.h"
#include "glimpse/llava_config.h"
#include "glimpse/status.h"
#include "glimpse/tensor.h"
#include "glimpse/thread_pool.h"
#include "core/weight_buffer.h"
#include "models/weights.h"

namespace glimpse {

struct LlamaLayerWeights {
  TensorView input_norm;
  TensorView q_weight, k_weight, v_weight, o_weight;
  std::optional<TensorView> q_bias, k_bias, v_bias, o_bias;  // attention_bias
  TensorView post_attention_norm;
  TensorView gate_weight, up_weight, down_weight;
  std::optional<TensorView> gate_bias, up_bias, down_bias;  // mlp_bias
};

class LlamaModel {
 public:
  static Result<LlamaModel> load(const WeightLoader& weights, const LlamaConfig& config);

  const TensorView& token_embedding() const { return embed_tokens_; }

  // Replaces the linear weights (attention, MLP, lm_head) by `type` (Q8_0 or Q4_0) copies owned
  // by this model, and drops the stored pages from the resident set. Fills the counts of
  // `report`. Fails when a weight is already a block type.
  Status quantize(ThreadPool& pool, DType type, LoadReport& report);

  // Moves the linear weights that the kernel table in use multiplies faster in an interleaved
  // layout into owned copies in that layout, and frees or drops the old bytes. Q4_0 and Q8_0
  // weights whose row count is a multiple of 16 become Q4_0x16 and Q8_0x16. Counts them in
  // report.n_repacked.
  Status repack_for_kernels(ThreadPool& pool, LoadReport& report);

  // Copies the linear weights of a float type into owned huge-page buffers and drops the mapped
  // pages (LoadOptions::copy_weights). Counts them in report.n_copied and report.bytes_copied.
  Status copy_float_weights(ThreadPool& pool, LoadReport& report);

  // Advises huge pages (MappedFile::advise_huge_pages) for the mapped linear weights of a float
  // type, before anything reads them.
  void advise_huge_pages();

  // See LlavaModel::forward. Arguments are validated by the caller.
  std::vector<float> forward(ThreadPool& pool, std::span<const float> embeddings,
                             std::int64_t start_pos, KvCache& cache, LogitsMode mode) const;

 private:
  // The linear weights that quantization converts: attention and MLP of every layer, lm_head.
  std::vector<TensorView*> linear_weights();

  void run_layer(ThreadPool& pool, std::int64_t index, std::vector<float>& hidden,
                 std::int64_t n_tokens, std::int64_t start_pos, KvCache& cache,
                 const std::vector<float>& cos_table, const std::vector<float>& sin_table) const;

  LlamaConfig config_;
  TensorView embed_tokens_;
  TensorView final_norm_;
  TensorView lm_head_;
  std::vector<LlamaLayerWeights> layers_;
  std::vector<double> inv_freq_;       // rope_theta^(-2i/head_dim), i < head_dim/2
  std::vector<WeightBuffer> owned_;    // quantized or repacked copies the views point to
};

}  // namespace glimpse
