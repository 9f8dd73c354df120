#include "models/clip.h"

#include <cmath>
#include <string>

#include "glimpse/kernels.h"

namespace glimpse {
namespace {

std::string vision_name(const std::string& suffix) { return "vision_tower.vision_model." + suffix; }

Result<ClipLayerWeights> load_layer(const WeightLoader& weights, const ClipVisionConfig& config,
                                    std::int64_t index) {
  const std::int64_t hidden = config.hidden_size;
  const std::int64_t inner = config.intermediate_size;
  const std::string prefix = "encoder.layers." + std::to_string(index) + ".";
  auto get = [&](const std::string& name, std::initializer_list<std::int64_t> shape) {
    return weights.get(vision_name(prefix + name), shape);
  };
  ClipLayerWeights layer;
  GLIMPSE_ASSIGN_OR_RETURN(layer.layer_norm1_weight, get("layer_norm1.weight", {hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.layer_norm1_bias, get("layer_norm1.bias", {hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.q_weight, get("self_attn.q_proj.weight", {hidden, hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.q_bias, get("self_attn.q_proj.bias", {hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.k_weight, get("self_attn.k_proj.weight", {hidden, hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.k_bias, get("self_attn.k_proj.bias", {hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.v_weight, get("self_attn.v_proj.weight", {hidden, hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.v_bias, get("self_attn.v_proj.bias", {hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.out_weight, get("self_attn.out_proj.weight", {hidden, hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.out_bias, get("self_attn.out_proj.bias", {hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.layer_norm2_weight, get("layer_norm2.weight", {hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.layer_norm2_bias, get("layer_norm2.bias", {hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.fc1_weight, get("mlp.fc1.weight", {inner, hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.fc1_bias, get("mlp.fc1.bias", {inner}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.fc2_weight, get("mlp.fc2.weight", {hidden, inner}));
  GLIMPSE_ASSIGN_OR_RETURN(layer.fc2_bias, get("mlp.fc2.bias", {hidden}));
  return layer;
}

// Rearranges [rows][heads][head_dim] into [heads][rows][head_dim], the KvLayout order.
void heads_major(const float* in, std::int64_t rows, std::int64_t heads, std::int64_t head_dim,
                 float* out) {
  for (std::int64_t r = 0; r < rows; ++r) {
    for (std::int64_t h = 0; h < heads; ++h) {
      const float* src = in + (r * heads + h) * head_dim;
      std::copy(src, src + head_dim, out + (h * rows + r) * head_dim);
    }
  }
}

}  // namespace

void apply_activation(ThreadPool& pool, Activation activation, float* x, std::int64_t n) {
  switch (activation) {
    case Activation::kGeluErf: kernels::gelu_erf(pool, x, n); return;
    case Activation::kGeluTanh: kernels::gelu_tanh(pool, x, n); return;
    case Activation::kQuickGelu: kernels::quick_gelu(pool, x, n); return;
    case Activation::kSilu: {
      // silu(x) = x * sigmoid(x); silu_mul with a vector of ones would allocate, so inline it.
      pool.parallel_for(n, 1 << 14, [x](std::int64_t begin, std::int64_t end) {
        for (std::int64_t i = begin; i < end; ++i) x[i] = x[i] / (1.0f + std::exp(-x[i]));
      });
      return;
    }
  }
}

Result<ClipVisionTower> ClipVisionTower::load(const WeightLoader& weights, const ClipVisionConfig& config,
                                              std::int64_t n_layers_used) {
  ClipVisionTower tower;
  tower.config_ = config;
  const std::int64_t hidden = config.hidden_size;
  const std::int64_t patch = config.patch_size;
  GLIMPSE_ASSIGN_OR_RETURN(tower.class_embedding_,
                           weights.get(vision_name("embeddings.class_embedding"), {hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(
      tower.patch_embedding_,
      weights.get(vision_name("embeddings.patch_embedding.weight"), {hidden, config.num_channels, patch, patch}));
  // [hidden, C, p, p] is contiguous, so it is also [hidden, C*p*p] with rows in (c, y, x) order.
  tower.patch_embedding_.rank = 2;
  tower.patch_embedding_.shape = {hidden, config.num_channels * patch * patch, 0, 0};
  GLIMPSE_ASSIGN_OR_RETURN(tower.position_embedding_,
                           weights.get(vision_name("embeddings.position_embedding.weight"),
                                       {config.n_patches() + 1, hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(tower.pre_norm_weight_, weights.get(vision_name("pre_layrnorm.weight"), {hidden}));
  GLIMPSE_ASSIGN_OR_RETURN(tower.pre_norm_bias_, weights.get(vision_name("pre_layrnorm.bias"), {hidden}));
  for (std::int64_t i = 0; i < n_layers_used; ++i) {
    GLIMPSE_ASSIGN_OR_RETURN(ClipLayerWeights layer, load_layer(weights, config, i));
    tower.layers_.push_back(layer);
  }
  return tower;
}

std::vector<float> ClipVisionTower::forward(ThreadPool& pool, const float* pixels) const {
  const std::int64_t hidden = config_.hidden_size;
  const std::int64_t patch = config_.patch_size;
  const std::int64_t side = config_.patches_per_side();
  const std::int64_t n_patches = config_.n_patches();
  const std::int64_t n_rows = n_patches + 1;
  const std::int64_t image = config_.image_size;
  const std::int64_t patch_len = config_.num_channels * patch * patch;

  // Patch embedding: a stride-p convolution without bias, as im2col [n_patches, C*p*p] (each
  // row in (c, y, x) order, patches row by row) times the weight [hidden, C*p*p]^T.
  std::vector<float> columns(static_cast<std::size_t>(n_patches * patch_len));
  for (std::int64_t py = 0; py < side; ++py) {
    for (std::int64_t px = 0; px < side; ++px) {
      float* row = columns.data() + (py * side + px) * patch_len;
      for (std::int64_t c = 0; c < config_.num_channels; ++c) {
        for (std::int64_t y = 0; y < patch; ++y) {
          const float* src = pixels + (c * image + py * patch + y) * image + px * patch;
          std::copy(src, src + patch, row + (c * patch + y) * patch);
        }
      }
    }
  }
  std::vector<float> hidden_state(static_cast<std::size_t>(n_rows * hidden));
  kernels::linear(pool, columns.data(), n_patches, patch_embedding_, nullptr, hidden_state.data() + hidden);

  // Class token in row 0, then position embeddings over all rows.
  convert_to_f32(class_embedding_, 0, hidden, hidden_state.data());
  std::vector<float> positions(static_cast<std::size_t>(n_rows * hidden));
  convert_to_f32(position_embedding_, 0, n_rows * hidden, positions.data());
  kernels::add(pool, hidden_state.data(), positions.data(), n_rows * hidden);

  // pre_layrnorm; its output is hidden state 0.
  kernels::layer_norm(pool, hidden_state.data(), n_rows, hidden, pre_norm_weight_, pre_norm_bias_,
                      static_cast<float>(config_.layer_norm_eps), hidden_state.data());

  for (const ClipLayerWeights& layer : layers_) run_layer(pool, layer, hidden_state);
  return hidden_state;
}

void ClipVisionTower::run_layer(ThreadPool& pool, const ClipLayerWeights& layer,
                                std::vector<float>& hidden_state) const {
  const std::int64_t hidden = config_.hidden_size;
  const std::int64_t n_rows = config_.n_patches() + 1;
  const std::int64_t n_heads = config_.num_attention_heads;
  const std::int64_t head_dim = config_.head_dim();
  const float eps = static_cast<float>(config_.layer_norm_eps);
  const auto size = static_cast<std::size_t>(n_rows * hidden);

  // Self-attention block: x = x + out_proj(attention(layer_norm1(x))).
  std::vector<float> normed(size), q(size), k(size), v(size);
  kernels::layer_norm(pool, hidden_state.data(), n_rows, hidden, layer.layer_norm1_weight,
                      layer.layer_norm1_bias, eps, normed.data());
  kernels::linear(pool, normed.data(), n_rows, layer.q_weight, &layer.q_bias, q.data());
  kernels::linear(pool, normed.data(), n_rows, layer.k_weight, &layer.k_bias, k.data());
  kernels::linear(pool, normed.data(), n_rows, layer.v_weight, &layer.v_bias, v.data());

  // Keys and values [n_rows, heads, head_dim] -> [heads, n_rows, head_dim] for the kernel.
  std::vector<float> keys(size), values(size);
  heads_major(k.data(), n_rows, n_heads, head_dim, keys.data());
  heads_major(v.data(), n_rows, n_heads, head_dim, values.data());
  kernels::AttentionShape shape;
  shape.n_tokens = n_rows;
  shape.n_heads = n_heads;
  shape.n_kv_heads = n_heads;
  shape.head_dim = head_dim;
  shape.causal = false;
  shape.n_kv_rows = n_rows;
  shape.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  kernels::attention(pool, q.data(), {keys.data(), values.data(), n_rows * head_dim}, shape, normed.data());
  kernels::linear(pool, normed.data(), n_rows, layer.out_weight, &layer.out_bias, q.data());
  kernels::add(pool, hidden_state.data(), q.data(), n_rows * hidden);

  // MLP block: x = x + fc2(act(fc1(layer_norm2(x)))).
  kernels::layer_norm(pool, hidden_state.data(), n_rows, hidden, layer.layer_norm2_weight,
                      layer.layer_norm2_bias, eps, normed.data());
  std::vector<float> inner(static_cast<std::size_t>(n_rows * config_.intermediate_size));
  kernels::linear(pool, normed.data(), n_rows, layer.fc1_weight, &layer.fc1_bias, inner.data());
  apply_activation(pool, config_.hidden_act, inner.data(), n_rows * config_.intermediate_size);
  kernels::linear(pool, inner.data(), n_rows, layer.fc2_weight, &layer.fc2_bias, q.data());
  kernels::add(pool, hidden_state.data(), q.data(), n_rows * hidden);
}

Result<Projector> Projector::load(const WeightLoader& weights, const LlavaConfig& config) {
  Projector projector;
  projector.activation_ = config.projector_hidden_act;
  const std::int64_t in = config.vision.hidden_size;
  const std::int64_t out = config.text.hidden_size;
  GLIMPSE_ASSIGN_OR_RETURN(projector.linear1_weight_, weights.get("multi_modal_projector.linear_1.weight", {out, in}));
  GLIMPSE_ASSIGN_OR_RETURN(projector.linear2_weight_, weights.get("multi_modal_projector.linear_2.weight", {out, out}));
  if (config.projector_bias) {
    GLIMPSE_ASSIGN_OR_RETURN(projector.linear1_bias_, weights.get("multi_modal_projector.linear_1.bias", {out}));
    GLIMPSE_ASSIGN_OR_RETURN(projector.linear2_bias_, weights.get("multi_modal_projector.linear_2.bias", {out}));
  }
  return projector;
}

std::vector<float> Projector::forward(ThreadPool& pool, const float* features, std::int64_t n_rows) const {
  const std::int64_t out = linear1_weight_.dim(0);
  std::vector<float> inner(static_cast<std::size_t>(n_rows * out));
  std::vector<float> result(static_cast<std::size_t>(n_rows * out));
  kernels::linear(pool, features, n_rows, linear1_weight_, linear1_bias_ ? &*linear1_bias_ : nullptr, inner.data());
  apply_activation(pool, activation_, inner.data(), n_rows * out);
  kernels::linear(pool, inner.data(), n_rows, linear2_weight_, linear2_bias_ ? &*linear2_bias_ : nullptr, result.data());
  return result;
}

}  // namespace glimpse
