#include "glimpse/llava_config.h"

#include <fstream>
#include <sstream>

#include "formats/json_fields.h"

namespace glimpse {
namespace {

using json_fields::Object;

struct ActivationName {
  std::string_view name;
  Activation activation;
};

// transformers' ACT2FN names for the activations glimpse implements. "gelu_new" and
// "gelu_pytorch_tanh" are the same tanh approximation.
constexpr ActivationName kActivationNames[] = {
    {"gelu", Activation::kGeluErf},
    {"gelu_pytorch_tanh", Activation::kGeluTanh},
    {"gelu_new", Activation::kGeluTanh},
    {"quick_gelu", Activation::kQuickGelu},
    {"silu", Activation::kSilu},
    {"swish", Activation::kSilu},
};

Error config_error(const Object& object, std::string_view key, const std::string& what) {
  return make_error(ErrorCode::kInvalidFormat,
                    object.source + ": field '" + object.field_name(key) + "' " + what);
}

Error unsupported(const Object& object, std::string_view key, const std::string& what) {
  return make_error(ErrorCode::kUnsupported,
                    object.source + ": field '" + object.field_name(key) + "' " + what);
}

// Reads an activation name and checks that it is one of `allowed`.
Result<Activation> get_activation(const Object& object, std::string_view key, Activation fallback,
                                  std::initializer_list<Activation> allowed) {
  GLIMPSE_ASSIGN_OR_RETURN(const std::string name,
                           json_fields::get_string(object, key, std::string(activation_name(fallback))));
  for (const ActivationName& entry : kActivationNames) {
    if (entry.name != name) continue;
    for (Activation candidate : allowed) {
      if (candidate == entry.activation) return entry.activation;
    }
  }
  std::string accepted;
  for (const ActivationName& entry : kActivationNames) {
    for (Activation candidate : allowed) {
      if (candidate == entry.activation) accepted += (accepted.empty() ? "" : ", ") + std::string(entry.name);
    }
  }
  return unsupported(object, key, "is '" + name + "'; glimpse implements " + accepted + " here");
}

// Reads a size that must lie in [min_value, max_value].
Result<std::int64_t> get_size(const Object& object, std::string_view key, std::int64_t fallback,
                              std::int64_t min_value, std::int64_t max_value) {
  GLIMPSE_ASSIGN_OR_RETURN(const std::int64_t value, json_fields::get_int(object, key, fallback));
  if (value < min_value || value > max_value) {
    return config_error(object, key, "is " + std::to_string(value) + "; expected a value in [" +
                                         std::to_string(min_value) + ", " +
                                         std::to_string(max_value) + "]");
  }
  return value;
}

Result<double> get_positive(const Object& object, std::string_view key, double fallback) {
  GLIMPSE_ASSIGN_OR_RETURN(const double value, json_fields::get_number(object, key, fallback));
  if (!(value > 0.0) || value > 1e12) {
    return config_error(object, key, "is " + std::to_string(value) + "; expected a positive number");
  }
  return value;
}

constexpr std::int64_t kMaxWidth = 1 << 20;
constexpr std::int64_t kMaxLayers = 4096;

Status check_model_type(const Object& object, std::string_view expected) {
  GLIMPSE_ASSIGN_OR_RETURN(const std::string model_type,
                           json_fields::get_string(object, "model_type", std::string(expected)));
  if (model_type != expected) {
    return unsupported(object, "model_type", "is '" + model_type + "'; glimpse supports '" +
                                                 std::string(expected) + "' here");
  }
  return {};
}

Result<ClipVisionConfig> parse_vision(const Object& object) {
  GLIMPSE_RETURN_IF_ERROR(check_model_type(object, "clip_vision_model"));
  ClipVisionConfig config;
  GLIMPSE_ASSIGN_OR_RETURN(config.hidden_size, get_size(object, "hidden_size", config.hidden_size, 1, kMaxWidth));
  GLIMPSE_ASSIGN_OR_RETURN(config.intermediate_size,
                           get_size(object, "intermediate_size", config.intermediate_size, 1, kMaxWidth));
  GLIMPSE_ASSIGN_OR_RETURN(config.num_hidden_layers,
                           get_size(object, "num_hidden_layers", config.num_hidden_layers, 0, kMaxLayers));
  GLIMPSE_ASSIGN_OR_RETURN(config.num_attention_heads,
                           get_size(object, "num_attention_heads", config.num_attention_heads, 1, kMaxWidth));
  GLIMPSE_ASSIGN_OR_RETURN(config.num_channels, get_size(object, "num_channels", config.num_channels, 1, 64));
  GLIMPSE_ASSIGN_OR_RETURN(config.image_size, get_size(object, "image_size", config.image_size, 1, 8192));
  GLIMPSE_ASSIGN_OR_RETURN(config.patch_size, get_size(object, "patch_size", config.patch_size, 1, 8192));
  GLIMPSE_ASSIGN_OR_RETURN(config.layer_norm_eps, get_positive(object, "layer_norm_eps", config.layer_norm_eps));
  GLIMPSE_ASSIGN_OR_RETURN(config.hidden_act,
                           get_activation(object, "hidden_act", config.hidden_act,
                                          {Activation::kQuickGelu, Activation::kGeluErf, Activation::kGeluTanh}));
  if (config.hidden_size % config.num_attention_heads != 0) {
    return config_error(object, "num_attention_heads",
                        "is " + std::to_string(config.num_attention_heads) +
                            ", which does not divide hidden_size " + std::to_string(config.hidden_size));
  }
  if (config.patch_size > config.image_size) {
    return config_error(object, "patch_size", "is " + std::to_string(config.patch_size) +
                                                  ", larger than image_size " +
                                                  std::to_string(config.image_size));
  }
  return config;
}

Result<std::vector<std::int64_t>> get_eos_ids(const Object& object) {
  const auto it = object.json->find("eos_token_id");
  if (it == object.json->end() || it->is_null()) return std::vector<std::int64_t>{2};
  if (it->is_number_integer()) return std::vector<std::int64_t>{it->get<std::int64_t>()};
  if (it->is_array()) {
    std::vector<std::int64_t> ids;
    for (const auto& id : *it) {
      if (!id.is_number_integer()) return config_error(object, "eos_token_id", "must hold integers");
      ids.push_back(id.get<std::int64_t>());
    }
    return ids;
  }
  return config_error(object, "eos_token_id", "must be an integer or a list of integers");
}

Result<LlamaConfig> parse_text(const Object& object) {
  GLIMPSE_RETURN_IF_ERROR(check_model_type(object, "llama"));
  LlamaConfig config;
  GLIMPSE_ASSIGN_OR_RETURN(config.vocab_size, get_size(object, "vocab_size", config.vocab_size, 1, 1 << 24));
  GLIMPSE_ASSIGN_OR_RETURN(config.hidden_size, get_size(object, "hidden_size", config.hidden_size, 1, kMaxWidth));
  GLIMPSE_ASSIGN_OR_RETURN(config.intermediate_size,
                           get_size(object, "intermediate_size", config.intermediate_size, 1, kMaxWidth));
  GLIMPSE_ASSIGN_OR_RETURN(config.num_hidden_layers,
                           get_size(object, "num_hidden_layers", config.num_hidden_layers, 1, kMaxLayers));
  GLIMPSE_ASSIGN_OR_RETURN(config.num_attention_heads,
                           get_size(object, "num_attention_heads", config.num_attention_heads, 1, kMaxWidth));
  GLIMPSE_ASSIGN_OR_RETURN(config.num_key_value_heads,
                           get_size(object, "num_key_value_heads", config.num_attention_heads, 1, kMaxWidth));
  GLIMPSE_ASSIGN_OR_RETURN(config.head_dim,
                           get_size(object, "head_dim", config.hidden_size / config.num_attention_heads, 1, kMaxWidth));
  GLIMPSE_ASSIGN_OR_RETURN(config.max_position_embeddings,
                           get_size(object, "max_position_embeddings", config.max_position_embeddings, 1, 1 << 24));
  GLIMPSE_ASSIGN_OR_RETURN(config.rms_norm_eps, get_positive(object, "rms_norm_eps", config.rms_norm_eps));
  GLIMPSE_ASSIGN_OR_RETURN(config.rope_theta, get_positive(object, "rope_theta", config.rope_theta));
  GLIMPSE_ASSIGN_OR_RETURN(config.tie_word_embeddings,
                           json_fields::get_bool(object, "tie_word_embeddings", config.tie_word_embeddings));
  GLIMPSE_ASSIGN_OR_RETURN(config.attention_bias, json_fields::get_bool(object, "attention_bias", false));
  GLIMPSE_ASSIGN_OR_RETURN(config.mlp_bias, json_fields::get_bool(object, "mlp_bias", false));
  GLIMPSE_ASSIGN_OR_RETURN(config.hidden_act,
                           get_activation(object, "hidden_act", config.hidden_act, {Activation::kSilu}));
  if (object.json->contains("bos_token_id")) {  // an explicit null means "no BOS token"
    GLIMPSE_ASSIGN_OR_RETURN(config.bos_token_id, json_fields::get_optional_int(object, "bos_token_id"));
  }
  GLIMPSE_ASSIGN_OR_RETURN(config.eos_token_ids, get_eos_ids(object));

  if (object.has("rope_scaling")) {
    return unsupported(object, "rope_scaling",
                       "is " + object.json->at("rope_scaling").dump().substr(0, 80) +
                           "; glimpse implements plain RoPE only (rope_scaling null)");
  }
  if (config.num_attention_heads % config.num_key_value_heads != 0) {
    return config_error(object, "num_key_value_heads",
                        "is " + std::to_string(config.num_key_value_heads) +
                            ", which does not divide num_attention_heads " +
                            std::to_string(config.num_attention_heads));
  }
  if (config.head_dim % 2 != 0) {
    return config_error(object, "head_dim", "is " + std::to_string(config.head_dim) +
                                                "; rotary embeddings need an even head_dim");
  }
  return config;
}

// LlavaConfig builds the vision config from these values when vision_config is absent.
ClipVisionConfig llava_default_vision() {
  ClipVisionConfig config;
  config.intermediate_size = 4096;
  config.hidden_size = 1024;
  config.patch_size = 14;
  config.image_size = 336;
  config.num_hidden_layers = 24;
  config.num_attention_heads = 16;
  return config;
}

Status parse_feature_selection(const Object& root, LlavaConfig& config) {
  const auto layer_it = root.json->find("vision_feature_layer");
  if (layer_it != root.json->end() && layer_it->is_array()) {
    return unsupported(root, "vision_feature_layer",
                       "is a list " + layer_it->dump().substr(0, 40) +
                           "; glimpse implements a single feature layer (an integer)");
  }
  GLIMPSE_ASSIGN_OR_RETURN(config.vision_feature_layer,
                           json_fields::get_int(root, "vision_feature_layer", config.vision_feature_layer));
  const std::int64_t n_states = config.vision.num_hidden_layers + 1;
  if (config.vision_feature_layer < -n_states || config.vision_feature_layer >= n_states) {
    return config_error(root, "vision_feature_layer",
                        "is " + std::to_string(config.vision_feature_layer) + "; the vision tower has " +
                            std::to_string(n_states) + " hidden states, so expected a value in [" +
                            std::to_string(-n_states) + ", " + std::to_string(n_states - 1) + "]");
  }
  GLIMPSE_ASSIGN_OR_RETURN(const std::string strategy,
                           json_fields::get_string(root, "vision_feature_select_strategy", "default"));
  if (strategy == "default") {
    config.vision_feature_select_strategy = FeatureSelect::kDefault;
  } else if (strategy == "full") {
    config.vision_feature_select_strategy = FeatureSelect::kFull;
  } else {
    return unsupported(root, "vision_feature_select_strategy",
                       "is '" + strategy + "'; glimpse implements 'default' and 'full'");
  }
  return {};
}

}  // namespace

std::string_view activation_name(Activation activation) {
  switch (activation) {
    case Activation::kGeluErf: return "gelu";
    case Activation::kGeluTanh: return "gelu_pytorch_tanh";
    case Activation::kQuickGelu: return "quick_gelu";
    case Activation::kSilu: return "silu";
  }
  return "unknown";
}

std::int64_t LlavaConfig::selected_hidden_state() const {
  const std::int64_t n_states = vision.num_hidden_layers + 1;
  return vision_feature_layer < 0 ? vision_feature_layer + n_states : vision_feature_layer;
}

std::int64_t LlavaConfig::image_features_per_image() const {
  return vision.n_patches() + (vision_feature_select_strategy == FeatureSelect::kFull ? 1 : 0);
}

Result<LlavaConfig> parse_llava_config(std::string_view json_text, const std::string& source) {
  GLIMPSE_ASSIGN_OR_RETURN(const nlohmann::json json, json_fields::parse(json_text, source));
  if (!json.is_object()) {
    return make_error(ErrorCode::kInvalidFormat, source + ": expected a JSON object at the top level");
  }
  const Object root{&json, source, ""};
  if (!root.has("model_type")) {
    return make_error(ErrorCode::kInvalidFormat,
                      source + ": field 'model_type' is missing; expected \"llava\" for a llava-hf model");
  }
  GLIMPSE_RETURN_IF_ERROR(check_model_type(root, "llava"));

  LlavaConfig config;
  GLIMPSE_ASSIGN_OR_RETURN(const auto vision_object, json_fields::get_object(root, "vision_config"));
  if (vision_object.has_value()) {
    GLIMPSE_ASSIGN_OR_RETURN(config.vision, parse_vision(*vision_object));
  } else {
    config.vision = llava_default_vision();
  }
  GLIMPSE_ASSIGN_OR_RETURN(const auto text_object, json_fields::get_object(root, "text_config"));
  if (text_object.has_value()) {
    GLIMPSE_ASSIGN_OR_RETURN(config.text, parse_text(*text_object));
  } else {
    const nlohmann::json empty = nlohmann::json::object();
    GLIMPSE_ASSIGN_OR_RETURN(config.text, parse_text(Object{&empty, source, "text_config"}));
  }

  GLIMPSE_ASSIGN_OR_RETURN(config.image_token_index,
                           get_size(root, "image_token_index", config.image_token_index, 0, INT32_MAX));
  GLIMPSE_ASSIGN_OR_RETURN(config.projector_hidden_act,
                           get_activation(root, "projector_hidden_act", config.projector_hidden_act,
                                          {Activation::kGeluErf, Activation::kGeluTanh, Activation::kQuickGelu}));
  GLIMPSE_ASSIGN_OR_RETURN(config.projector_bias, json_fields::get_bool(root, "multimodal_projector_bias", true));
  GLIMPSE_RETURN_IF_ERROR(parse_feature_selection(root, config));
  GLIMPSE_ASSIGN_OR_RETURN(config.image_seq_length, json_fields::get_optional_int(root, "image_seq_length"));
  GLIMPSE_ASSIGN_OR_RETURN(config.pad_token_id, json_fields::get_optional_int(root, "pad_token_id"));

  if (config.image_seq_length.has_value() &&
      *config.image_seq_length != config.image_features_per_image()) {
    return config_error(root, "image_seq_length",
                        "is " + std::to_string(*config.image_seq_length) + ", but the vision tower (" +
                            std::to_string(config.vision.n_patches()) +
                            " patches, vision_feature_select_strategy) yields " +
                            std::to_string(config.image_features_per_image()) + " feature rows per image");
  }
  return config;
}

Result<LlavaConfig> load_llava_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kNotFound, "cannot open model config '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return make_error(ErrorCode::kIoError, "cannot read model config '" + path + "'");
  return parse_llava_config(text.str(), path);
}

}  // namespace glimpse
