// CLIP ViT vision tower (transformers' CLIPVisionTransformer) and the LLaVA projector.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "glimpse/llava_config.h"
#include "glimpse/status.h"
#include "glimpse/tensor.h"
#include "glimpse/thread_pool.h"
#include "models/weights.h"

namespace glimpse {

struct ClipLayerWeights {
  TensorView layer_norm1_weight, layer_norm1_bias;
  TensorView q_weight, q_bias, k_weight, k_bias, v_weight, v_bias, out_weight, out_bias;
  TensorView layer_norm2_weight, layer_norm2_bias;
  TensorView fc1_weight, fc1_bias, fc2_weight, fc2_bias;
};

class ClipVisionTower {
 public:
  // Loads the embeddings, pre_layrnorm and the encoder layers up to `n_layers_used`; later
  // layers and post_layernorm are not needed by LLaVA and are not read.
  static Result<ClipVisionTower> load(const WeightLoader& weights, const ClipVisionConfig& config,
                                      std::int64_t n_layers_used);

  // pixels: [n_channels, image_size, image_size] CHW. Returns hidden state n_layers_used,
  // [n_patches + 1, hidden_size] with the class token in row 0.
  std::vector<float> forward(ThreadPool& pool, const float* pixels) const;

 private:
  void run_layer(ThreadPool& pool, const ClipLayerWeights& layer, std::vector<float>& hidden) const;

  ClipVisionConfig config_;
  TensorView class_embedding_;
  TensorView patch_embedding_;  // [hidden, n_channels * patch * patch], viewed from 4-D
  TensorView position_embedding_;
  TensorView pre_norm_weight_, pre_norm_bias_;
  std::vector<ClipLayerWeights> layers_;
};

class Projector {
 public:
  static Result<Projector> load(const WeightLoader& weights, const LlavaConfig& config);
  // features: [n_rows, vision hidden] -> [n_rows, text hidden]
  std::vector<float> forward(ThreadPool& pool, const float* features, std::int64_t n_rows) const;

 private:
  Activation activation_ = Activation::kGeluErf;
  TensorView linear1_weight_, linear2_weight_;
  std::optional<TensorView> linear1_bias_, linear2_bias_;
};

// Applies an activation in place.
void apply_activation(ThreadPool& pool, Activation activation, float* x, std::int64_t n);

}  // namespace glimpse
