#include "models/llama.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "formats/mapped_file.h"
#include "glimpse/kernels.h"
#include "glimpse/quant.h"

namespace glimpse {
namespace {

const TensorView* bias_ptr(const std::optional<TensorView>& bias) { return bias ? &*bias : nullptr; }

Result<LlamaLayerWeights> load_layer(const WeightLoader& weights, const LlamaConfig& config,
                                     std::int64_t index) {
  const std::int64_t hidden = config.hidden_size;
  const std::int64_t q_dim = config.num_attention_heads * config.head_dim;
  const std::int64_t kv_dim = config.num_key_value_heads * config.head_dim;
  const std::int64_t inner = config.intermediate_size;
  const std::string prefix = "language_model.model.layers." + std::to_string(index) + ".";
  auto get = [&](const std::string& name, std::initializer_list<std::int64_t> shape) {
    return weights.get(prefix + name, shape);
  };
  LlamaLayerWeights layer;
  GLIMPSE_ASSIGN_OR_RETURN(layer.input_norm, get("input_layernorm.weight", {hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.q_weight, get("self_attn.q_proj.weight", {q_dim, hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.k_weight, get("self_attn.k_proj.weight", {kv_dim, hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.v_weight, get("self_attn.v_proj.weight", {kv_dim, hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.o_weight, get("self_attn.o_proj.weight", {hidden, q_dim}));
  if (config.attention_bias) {
    GLIMPSE_ASSIGN_OR_RETURN(layer.q_bias, get("self_attn.q_proj.bias", {q_dim}));
    GLIMPSE_ASSIGN_OR_RETURN(layer.k_bias, get("self_attn.k_proj.bias", {kv_dim}));
    GLIMPSE_ASSIGN_OR_RETURN(layer.v_bias, get("self_attn.v_proj.bias", {kv_dim}));
    GLIMPSE_ASSIGN_OR_RETURN(layer.o_bias, get("self_attn.o_proj.bias", {hidden}));
  }
  GLIMPSE_ASSIGN_OR_RETURN(layer.post_attention_norm, get("post_attention_layernorm.weight", {hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.gate_weight, get("mlp.gate_proj.weight", {inner, hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.up_weight, get("mlp.up_proj.weight", {inner, hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.down_weight, get("mlp.down_proj.weight", {hidden, inner}));
  if (config.mlp_bias) {
    GLIMPSE_ASSIGN_OR_RETURN(layer.gate_bias, get("mlp.gate_proj.bias", {inner}));
    GLIMPSE_ASSIGN_OR_RETURN(layer.up_bias, get("mlp.up_proj.bias", {inner}));
    GLIMPSE_ASSIGN_OR_RETURN(layer.down_bias, get("mlp.down_proj.bias", {hidden}));
  }
  return layer;
}

}  // namespace

Result<LlamaModel> LlamaModel::load(const WeightLoader& weights, const LlamaConfig& config) {
  LlamaModel model;
  model.config_ = config;
  const std::int64_t hidden = config.hidden_size;
  const std::int64_t vocab = config.vocab_size;
  GLIMPSE_ASSIGN_OR_RETURN(model.embed_tokens_,
                           weights.get("language_model.model.embed_tokens.weight", {vocab, hidden}));
  for (std::int64_t i = 0; i < config.num_hidden_layers; ++i) {
    GLIMPSE_ASSIGN_OR_RETURN(LlamaLayerWeights layer, load_layer(weights, config, i));
    model.layers_.push_back(layer);
  }
  GLIMPSE_ASSIGN_OR_RETURN(model.final_norm_, weights.get("language_model.model.norm.weight", {hidden}));
  if (config.tie_word_embeddings) {
    model.lm_head_ = model.embed_tokens_;
  } else {
    GLIMPSE_ASSIGN_OR_RETURN(model.lm_head_, weights.get("language_model.lm_head.weight", {vocab, hidden}));
  }

  // Rotary inverse frequencies in double; the cos/sin tables built from them per call stay
  // within float rounding of the float64 reference at every position.
  const std::int64_t half = config.head_dim / 2;
  for (std::int64_t i = 0; i < half; ++i) {
    model.inv_freq_.push_back(std::pow(config.rope_theta, -static_cast<double>(2 * i) /
                                                              static_cast<double>(config.head_dim)));
  }
  return model;
}

std::vector<TensorView*> LlamaModel::linear_weights() {
  std::vector<TensorView*> targets;
  for (LlamaLayerWeights& layer : layers_) {
    for (TensorView* view : {&layer.q_weight, &layer.k_weight, &layer.v_weight, &layer.o_weight,
                             &layer.gate_weight, &layer.up_weight, &layer.down_weight}) {
      targets.push_back(view);
    }
  }
  // A tied lm_head shares its view with the embedding table, which stays as stored for the
  // row lookups. A quantized or repacked copy belongs to the lm_head alone.
  targets.push_back(&lm_head_);
  return targets;
}

Status LlamaModel::repack_for_kernels(ThreadPool& pool, LoadReport& report) {
  const bool q4 = kernels::prefers_q4_0x16();
  const bool q8 = kernels::prefers_q8_0x16();
  const bool q4_k = kernels::prefers_q4_Kx16();
  for (TensorView* view : linear_weights()) {
    if (view->rank != 2) continue;
    DType target;
    if (q4 && view->dtype == DType::kQ4_0 && view->dim(0) % 16 == 0) {
      target = DType::kQ4_0x16;
    } else if (q8 && view->dtype == DType::kQ8_0 && view->dim(0) % 16 == 0) {
      target = DType::kQ8_0x16;
    } else if (q4_k && view->dtype == DType::kQ4_K && view->dim(0) % 16 == 0) {
      target = DType::kQ4_Kx16;
    } else {
      continue;
    }
    const std::size_t bytes = dtype_bytes(target, view->numel());
    WeightBuffer buffer = allocate_weight_buffer(bytes);
    if (!buffer) {
      return make_error(ErrorCode::kOutOfRange, "cannot allocate " + std::to_string(bytes >> 20) + " MiB to repack a " +
                                                    std::string(dtype_name(view->dtype)) + " weight; free memory");
    }
    if (target == DType::kQ4_0x16) {
      kernels::repack_q4_0x16(pool, *view, buffer.get());
    } else if (target == DType::kQ8_0x16) {
      kernels::repack_q8_0x16(pool, *view, buffer.get());
    } else {
      kernels::repack_q4_Kx16(pool, *view, buffer.get());
    }
    const auto owned = std::find_if(owned_.begin(), owned_.end(),
                                    [&](const WeightBuffer& p) { return p.get() == view->data; });
    if (owned != owned_.end()) {
      owned->reset();
    } else {
      MappedFile::drop_pages(view->data, view->nbytes());
    }
    view->dtype = target;
    view->data = buffer.get();
    owned_.push_back(std::move(buffer));
    ++report.n_repacked;
  }
  return {};
}

void LlamaModel::advise_huge_pages() {
  for (TensorView* view : linear_weights()) {
    // The embedding table's rows are read one at a time; a tied lm_head shares its pages.
    if (dtype_is_quantized(view->dtype) || view->data == embed_tokens_.data) continue;
    MappedFile::advise_huge_pages(view->data, view->nbytes());
  }
}

Status LlamaModel::copy_float_weights(ThreadPool& pool, LoadReport& report) {
  for (TensorView* view : linear_weights()) {
    if (dtype_is_quantized(view->dtype)) continue;
    const std::size_t bytes = view->nbytes();
    WeightBuffer buffer = allocate_weight_buffer(bytes);
    if (!buffer) {
      return make_error(ErrorCode::kOutOfRange, "cannot allocate " + std::to_string(bytes >> 20) +
                                                    " MiB to copy a weight; free memory or load without copying");
    }
    constexpr std::int64_t kChunk = std::int64_t{1} << 20;
    const auto* source = static_cast<const std::uint8_t*>(view->data);
    std::uint8_t* target = buffer.get();
    const auto n_chunks = static_cast<std::int64_t>((bytes + kChunk - 1) / kChunk);
    pool.parallel_for(n_chunks, 4, [&](std::int64_t begin, std::int64_t end) {
      const std::size_t first = static_cast<std::size_t>(begin * kChunk);
      const std::size_t last = std::min(bytes, static_cast<std::size_t>(end * kChunk));
      std::memcpy(target + first, source + first, last - first);
    });
    // A tied lm_head shares the embedding table's pages, which the row lookups keep reading.
    if (view->data != embed_tokens_.data) MappedFile::drop_pages(view->data, bytes);
    view->data = buffer.get();
    owned_.push_back(std::move(buffer));
    ++report.n_copied;
    report.bytes_copied += bytes;
  }
  return {};
}

Status LlamaModel::quantize(ThreadPool& pool, DType type, LoadReport& report) {
  const std::vector<TensorView*> targets = linear_weights();
  for (TensorView* view : targets) {
    if (dtype_is_quantized(view->dtype)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "the language model's weights are already " + std::string(dtype_name(view->dtype)) +
                            "; quantizing at load time starts from F32, F16 or BF16 weights. Load this "
                            "model without a quantization type.");
    }
  }
  for (TensorView* view : targets) {
    // Rows that do not fill whole blocks (256 values for Q4_K and Q6_K) stay as stored.
    if (view->dim(1) % dtype_info(type).block != 0) {
      ++report.n_kept;
      continue;
    }
    const std::size_t bytes = dtype_bytes(type, view->numel());
    WeightBuffer buffer = allocate_weight_buffer(bytes);
    if (!buffer) {
      return make_error(ErrorCode::kOutOfRange, "cannot allocate " + std::to_string(bytes >> 20) +
                                                    " MiB for a quantized weight; free memory or use the stored weights");
    }
    kernels::quantize_weight(pool, *view, type, buffer.get());
    report.bytes_before += view->nbytes();
    report.bytes_after += bytes;
    ++report.n_quantized;
    if (view->data != embed_tokens_.data) MappedFile::drop_pages(view->data, view->nbytes());
    view->dtype = type;
    view->data = buffer.get();
    owned_.push_back(std::move(buffer));
  }
  return {};
}

std::vector<float> LlamaModel::forward(ThreadPool& pool, std::span<const float> embeddings,
                                       std::int64_t start_pos, KvCache& cache, LogitsMode mode) const {
  const std::int64_t hidden = config_.hidden_size;
  const std::int64_t n_tokens = static_cast<std::int64_t>(embeddings.size()) / hidden;
  const std::int64_t half = config_.head_dim / 2;

  // Rotary tables for this call's positions only: [n_tokens, head_dim/2].
  std::vector<float> cos_table(static_cast<std::size_t>(n_tokens * half));
  std::vector<float> sin_table(cos_table.size());
  for (std::int64_t t = 0; t < n_tokens; ++t) {
    for (std::int64_t i = 0; i < half; ++i) {
      const double angle = static_cast<double>(start_pos + t) * inv_freq_[static_cast<std::size_t>(i)];
      cos_table[static_cast<std::size_t>(t * half + i)] = static_cast<float>(std::cos(angle));
      sin_table[static_cast<std::size_t>(t * half + i)] = static_cast<float>(std::sin(angle));
    }
  }

  std::vector<float> hidden_state(embeddings.begin(), embeddings.end());
  for (std::int64_t layer = 0; layer < config_.num_hidden_layers; ++layer) {
    run_layer(pool, layer, hidden_state, n_tokens, start_pos, cache, cos_table, sin_table);
  }
  cache.set_n_valid(start_pos + n_tokens);
  if (mode == LogitsMode::kNone) return {};

  // Final norm and lm_head over the rows that need logits.
  const std::int64_t first_row = mode == LogitsMode::kLast ? n_tokens - 1 : 0;
  const std::int64_t n_rows = n_tokens - first_row;
  const float* rows = hidden_state.data() + first_row * hidden;
  std::vector<float> normed(static_cast<std::size_t>(n_rows * hidden));
  kernels::rms_norm(pool, rows, n_rows, hidden, final_norm_, static_cast<float>(config_.rms_norm_eps),
                    normed.data());
  std::vector<float> logits(static_cast<std::size_t>(n_rows * config_.vocab_size));
  kernels::linear(pool, normed.data(), n_rows, lm_head_, nullptr, logits.data());
  return logits;
}

void LlamaModel::run_layer(ThreadPool& pool, std::int64_t index, std::vector<float>& hidden_state,
                           std::int64_t n_tokens, std::int64_t start_pos, KvCache& cache,
                           const std::vector<float>& cos_table, const std::vector<float>& sin_table) const {
  const LlamaLayerWeights& layer = layers_[static_cast<std::size_t>(index)];
  const std::int64_t hidden = config_.hidden_size;
  const std::int64_t n_heads = config_.num_attention_heads;
  const std::int64_t n_kv_heads = config_.num_key_value_heads;
  const std::int64_t head_dim = config_.head_dim;
  const std::int64_t q_dim = n_heads * head_dim;
  const std::int64_t kv_dim = n_kv_heads * head_dim;
  const float eps = static_cast<float>(config_.rms_norm_eps);
  const auto rows = static_cast<std::size_t>(n_tokens);

  // Attention block: x = x + o_proj(attention(rope(q), rope(k), v)) over input_layernorm(x).
  std::vector<float> normed(rows * hidden);
  kernels::rms_norm(pool, hidden_state.data(), n_tokens, hidden, layer.input_norm, eps, normed.data());
  std::vector<float> q(rows * q_dim), k(rows * kv_dim), v(rows * kv_dim);
  const kernels::LinearTarget qkv[] = {{&layer.q_weight, bias_ptr(layer.q_bias), q.data()},
                                       {&layer.k_weight, bias_ptr(layer.k_bias), k.data()},
                                       {&layer.v_weight, bias_ptr(layer.v_bias), v.data()}};
  kernels::linear_many(pool, normed.data(), n_tokens, qkv);
  // q is [n_tokens, n_heads, head_dim] and k is [n_tokens, n_kv_heads, head_dim]; the tables'
  // row 0 is position start_pos, so the kernel gets start position 0.
  kernels::rope_rotate_half(q.data(), n_tokens, n_heads, head_dim, 0, cos_table.data(), sin_table.data());
  kernels::rope_rotate_half(k.data(), n_tokens, n_kv_heads, head_dim, 0, cos_table.data(), sin_table.data());

  // Write this call's keys and values to cache rows start_pos.. in [kv_head][position][dim] order,
  // rounded to IEEE half for an f16 cache.
  void* cache_keys = cache.keys(index);
  void* cache_values = cache.values(index);
  const std::int64_t head_stride = cache.capacity() * head_dim;
  for (std::int64_t t = 0; t < n_tokens; ++t) {
    for (std::int64_t g = 0; g < n_kv_heads; ++g) {
      const std::int64_t src = (t * n_kv_heads + g) * head_dim;
      const std::int64_t dst = g * head_stride + (start_pos + t) * head_dim;
      if (cache.dtype() == DType::kF16) {
        kernels::f32_row_to_f16(k.data() + src, head_dim, static_cast<std::uint16_t*>(cache_keys) + dst);
        kernels::f32_row_to_f16(v.data() + src, head_dim, static_cast<std::uint16_t*>(cache_values) + dst);
      } else {
        std::copy(k.begin() + src, k.begin() + src + head_dim, static_cast<float*>(cache_keys) + dst);
        std::copy(v.begin() + src, v.begin() + src + head_dim, static_cast<float*>(cache_values) + dst);
      }
    }
  }

  kernels::AttentionShape shape;
  shape.n_tokens = n_tokens;
  shape.n_heads = n_heads;
  shape.n_kv_heads = n_kv_heads;
  shape.head_dim = head_dim;
  shape.start_pos = start_pos;
  shape.causal = true;
  shape.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)));
  std::vector<float> attended(rows * q_dim);
  kernels::attention(pool, q.data(), {cache_keys, cache_values, head_stride, cache.dtype()}, shape,
                     attended.data());
  kernels::linear(pool, attended.data(), n_tokens, layer.o_weight, bias_ptr(layer.o_bias), normed.data());
  kernels::add(pool, hidden_state.data(), normed.data(), n_tokens * hidden);

  // MLP block: x = x + down(silu(gate(y)) * up(y)) with y = post_attention_layernorm(x).
  kernels::rms_norm(pool, hidden_state.data(), n_tokens, hidden, layer.post_attention_norm, eps, normed.data());
  const std::int64_t inner = config_.intermediate_size;
  std::vector<float> gate(rows * inner), up(rows * inner);
  kernels::linear_gated(pool, normed.data(), n_tokens, {&layer.gate_weight, bias_ptr(layer.gate_bias), gate.data()},
                        {&layer.up_weight, bias_ptr(layer.up_bias), up.data()});
  kernels::linear(pool, gate.data(), n_tokens, layer.down_weight, bias_ptr(layer.down_bias), normed.data());
  kernels::add(pool, hidden_state.data(), normed.data(), n_tokens * hidden);
}

}  // namespace glimpse
