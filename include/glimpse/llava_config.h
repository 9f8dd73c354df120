// Typed configuration of a llava-hf checkpoint, parsed once from config.json. Fields that the
// file leaves out take the defaults of transformers 4.45 (LlavaConfig, CLIPVisionConfig,
// LlamaConfig), so a sparse config such as llava-1.5-7b-hf's gets LLaMA-7B's sizes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "glimpse/status.h"

namespace glimpse {

enum class Activation { kGeluErf, kGeluTanh, kQuickGelu, kSilu };

// Returns the transformers name of an activation ("gelu", "gelu_pytorch_tanh", ...).
std::string_view activation_name(Activation activation);

enum class FeatureSelect {
  kDefault,  // drop the class token row
  kFull,     // keep every row
};

struct ClipVisionConfig {
  std::int64_t hidden_size = 768;
  std::int64_t intermediate_size = 3072;
  std::int64_t num_hidden_layers = 12;
  std::int64_t num_attention_heads = 12;
  std::int64_t num_channels = 3;
  std::int64_t image_size = 224;
  std::int64_t patch_size = 32;
  double layer_norm_eps = 1e-5;
  Activation hidden_act = Activation::kQuickGelu;

  std::int64_t head_dim() const { return hidden_size / num_attention_heads; }
  std::int64_t patches_per_side() const { return image_size / patch_size; }
  std::int64_t n_patches() const { return patches_per_side() * patches_per_side(); }
};

struct LlamaConfig {
  std::int64_t vocab_size = 32000;
  std::int64_t hidden_size = 4096;
  std::int64_t intermediate_size = 11008;
  std::int64_t num_hidden_layers = 32;
  std::int64_t num_attention_heads = 32;
  std::int64_t num_key_value_heads = 32;  // transformers: num_attention_heads when absent
  std::int64_t head_dim = 128;            // transformers: hidden_size / num_attention_heads when absent
  std::int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  bool mlp_bias = false;
  Activation hidden_act = Activation::kSilu;
  std::optional<std::int64_t> bos_token_id = 1;
  std::vector<std::int64_t> eos_token_ids = {2};
};

struct LlavaConfig {
  ClipVisionConfig vision;
  LlamaConfig text;
  std::int64_t image_token_index = 32000;
  Activation projector_hidden_act = Activation::kGeluErf;
  bool projector_bias = true;
  // As written in config.json: negative values count from the last hidden state.
  std::int64_t vision_feature_layer = -2;
  FeatureSelect vision_feature_select_strategy = FeatureSelect::kDefault;
  std::optional<std::int64_t> image_seq_length;
  std::optional<std::int64_t> pad_token_id;

  // The CLIP hidden state to take, counted as transformers counts hidden_states: 0 is the
  // embedding output (after pre_layrnorm) and i is the output of encoder layer i.
  std::int64_t selected_hidden_state() const;
  // Rows of image features one image contributes (and <image> tokens it needs in the prompt).
  std::int64_t image_features_per_image() const;
};

// Parses config.json text; `source` names the file in errors.
Result<LlavaConfig> parse_llava_config(std::string_view json_text, const std::string& source);
// Reads and parses a config.json file.
Result<LlavaConfig> load_llava_config(const std::string& path);

}  // namespace glimpse
