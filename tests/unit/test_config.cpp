// config.json parsing: transformers 4.45 defaults for absent fields, and errors that name the
// field for unsupported or malformed values.
#include <gtest/gtest.h>

#include "glimpse/llava_config.h"
#include "support/test_support.h"

namespace glimpse {
namespace {

// llava-hf/llava-1.5-7b-hf's config.json as published (its text_config leaves LLaMA-7B's sizes
// to the defaults).
constexpr const char* kLlava15Config = R"({
  "architectures": ["LlavaForConditionalGeneration"],
  "ignore_index": -100,
  "image_token_index": 32000,
  "model_type": "llava",
  "pad_token_id": 32001,
  "projector_hidden_act": "gelu",
  "text_config": {
    "_name_or_path": "lmsys/vicuna-7b-v1.5",
    "architectures": ["LlamaForCausalLM"],
    "max_position_embeddings": 4096,
    "model_type": "llama",
    "rms_norm_eps": 1e-05,
    "torch_dtype": "float16",
    "vocab_size": 32064
  },
  "tie_word_embeddings": false,
  "torch_dtype": "float16",
  "transformers_version": "4.36.0.dev0",
  "vision_config": {
    "hidden_size": 1024,
    "image_size": 336,
    "intermediate_size": 4096,
    "model_type": "clip_vision_model",
    "num_attention_heads": 16,
    "num_hidden_layers": 24,
    "patch_size": 14,
    "projection_dim": 768,
    "vocab_size": 32000
  },
  "vision_feature_layer": -2,
  "vision_feature_select_strategy": "default",
  "vocab_size": 32064
})";

Result<LlavaConfig> parse(const std::string& text) { return parse_llava_config(text, "config.json"); }

void expect_error(const Result<LlavaConfig>& result, ErrorCode code, std::initializer_list<std::string> fragments) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, code) << result.error().to_string();
  for (const std::string& fragment : fragments) {
    EXPECT_NE(result.error().message.find(fragment), std::string::npos)
        << "message '" << result.error().message << "' lacks '" << fragment << "'";
  }
}

TEST(LlavaConfig, SparseLlava15GetsLlama7bSizes) {
  auto config = parse(kLlava15Config);
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  const LlamaConfig& text = config->text;
  EXPECT_EQ(text.hidden_size, 4096);
  EXPECT_EQ(text.intermediate_size, 11008);
  EXPECT_EQ(text.num_hidden_layers, 32);
  EXPECT_EQ(text.num_attention_heads, 32);
  EXPECT_EQ(text.num_key_value_heads, 32);
  EXPECT_EQ(text.head_dim, 128);
  EXPECT_EQ(text.vocab_size, 32064);
  EXPECT_EQ(text.max_position_embeddings, 4096);
  EXPECT_DOUBLE_EQ(text.rms_norm_eps, 1e-5);
  EXPECT_DOUBLE_EQ(text.rope_theta, 10000.0);
  EXPECT_FALSE(text.tie_word_embeddings);
  EXPECT_EQ(text.bos_token_id, 1);
  EXPECT_EQ(text.eos_token_ids, std::vector<std::int64_t>{2});

  const ClipVisionConfig& vision = config->vision;
  EXPECT_EQ(vision.hidden_size, 1024);
  EXPECT_EQ(vision.num_hidden_layers, 24);
  EXPECT_EQ(vision.n_patches(), 576);
  EXPECT_EQ(vision.hidden_act, Activation::kQuickGelu);
  EXPECT_DOUBLE_EQ(vision.layer_norm_eps, 1e-5);
  EXPECT_EQ(config->selected_hidden_state(), 23);
  EXPECT_EQ(config->image_features_per_image(), 576);
  EXPECT_EQ(config->projector_hidden_act, Activation::kGeluErf);
  EXPECT_EQ(config->pad_token_id, 32001);
}

TEST(LlavaConfig, FixtureConfigParses) {
  auto config = load_llava_config((testing::test_data_dir() / "tiny-llava" / "model-f16" / "config.json").string());
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_EQ(config->text.num_key_value_heads, 2);
  EXPECT_EQ(config->text.head_dim, 16);
  EXPECT_EQ(config->vision.hidden_size, 64);
  EXPECT_EQ(config->image_seq_length, 576);
}

TEST(LlavaConfig, AbsentSubconfigsTakeLlavaDefaults) {
  auto config = parse(R"({"model_type": "llava"})");
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  // LlavaConfig's own vision defaults (CLIP ViT-L/14 at 336), not CLIPVisionConfig's.
  EXPECT_EQ(config->vision.hidden_size, 1024);
  EXPECT_EQ(config->vision.intermediate_size, 4096);
  EXPECT_EQ(config->vision.num_hidden_layers, 24);
  EXPECT_EQ(config->vision.image_size, 336);
  EXPECT_EQ(config->vision.patch_size, 14);
  // LlamaConfig()'s defaults.
  EXPECT_EQ(config->text.vocab_size, 32000);
  EXPECT_EQ(config->text.max_position_embeddings, 2048);
  EXPECT_DOUBLE_EQ(config->text.rms_norm_eps, 1e-6);
  EXPECT_EQ(config->image_token_index, 32000);
  EXPECT_EQ(config->vision_feature_layer, -2);
}

TEST(LlavaConfig, VisionConfigDictTakesClipDefaults) {
  auto config = parse(R"({"model_type": "llava", "vision_config": {}})");
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_EQ(config->vision.hidden_size, 768);
  EXPECT_EQ(config->vision.image_size, 224);
  EXPECT_EQ(config->vision.patch_size, 32);
  EXPECT_EQ(config->vision.num_hidden_layers, 12);
}

TEST(LlavaConfig, OptionalFieldsAndVariants) {
  auto config = parse(R"({"model_type": "llava", "vision_feature_layer": 5, "vision_feature_select_strategy": "full",
    "vision_config": {"num_hidden_layers": 6, "image_size": 28, "patch_size": 14},
    "text_config": {"hidden_size": 64, "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 32,
                    "eos_token_id": [2, 7], "bos_token_id": null, "tie_word_embeddings": true}})");
  ASSERT_TRUE(config.ok()) << config.error().to_string();
  EXPECT_EQ(config->selected_hidden_state(), 5);
  EXPECT_EQ(config->image_features_per_image(), 5);
  EXPECT_EQ(config->text.head_dim, 32);
  EXPECT_EQ(config->text.eos_token_ids, (std::vector<std::int64_t>{2, 7}));
  EXPECT_FALSE(config->text.bos_token_id.has_value());
  EXPECT_TRUE(config->text.tie_word_embeddings);
}

TEST(LlavaConfig, RejectsUnknownModelTypes) {
  expect_error(parse(R"({"model_type": "llava_next"})"), ErrorCode::kUnsupported, {"model_type", "llava_next"});
  expect_error(parse(R"({"architectures": []})"), ErrorCode::kInvalidFormat, {"model_type", "missing"});
  expect_error(parse(R"({"model_type": "llava", "text_config": {"model_type": "mistral"}})"), ErrorCode::kUnsupported,
               {"text_config.model_type", "mistral"});
  expect_error(parse(R"({"model_type": "llava", "vision_config": {"model_type": "siglip_vision_model"}})"),
               ErrorCode::kUnsupported, {"vision_config.model_type", "siglip_vision_model"});
}

TEST(LlavaConfig, RejectsUnimplementedValues) {
  expect_error(parse(R"({"model_type": "llava", "projector_hidden_act": "relu"})"), ErrorCode::kUnsupported,
               {"projector_hidden_act", "relu"});
  expect_error(parse(R"({"model_type": "llava", "vision_feature_select_strategy": "cls"})"), ErrorCode::kUnsupported,
               {"vision_feature_select_strategy", "cls"});
  expect_error(parse(R"({"model_type": "llava", "text_config": {"hidden_act": "gelu"}})"), ErrorCode::kUnsupported,
               {"text_config.hidden_act"});
  expect_error(parse(R"({"model_type": "llava", "text_config": {"rope_scaling": {"type": "linear", "factor": 2}}})"),
               ErrorCode::kUnsupported, {"text_config.rope_scaling", "linear"});
  expect_error(parse(R"({"model_type": "llava", "vision_feature_layer": [-2, -5]})"), ErrorCode::kUnsupported,
               {"vision_feature_layer", "single feature layer"});
}

TEST(LlavaConfig, RejectsInconsistentSizes) {
  expect_error(parse(R"({"model_type": "llava", "vision_feature_layer": -26})"), ErrorCode::kInvalidFormat,
               {"vision_feature_layer", "-26", "[-25, 24]"});
  expect_error(parse(R"({"model_type": "llava", "text_config": {"num_attention_heads": 32, "num_key_value_heads": 5}})"),
               ErrorCode::kInvalidFormat, {"text_config.num_key_value_heads"});
  expect_error(parse(R"({"model_type": "llava", "vision_config": {"hidden_size": 100, "num_attention_heads": 3}})"),
               ErrorCode::kInvalidFormat, {"vision_config.num_attention_heads"});
  expect_error(parse(R"({"model_type": "llava", "image_seq_length": 577})"), ErrorCode::kInvalidFormat,
               {"image_seq_length", "577", "576"});
  expect_error(parse(R"({"model_type": "llava", "text_config": {"hidden_size": -4}})"), ErrorCode::kInvalidFormat,
               {"text_config.hidden_size", "-4"});
  expect_error(parse(R"({"model_type": "llava", "text_config": {"head_dim": 7}})"), ErrorCode::kInvalidFormat,
               {"text_config.head_dim", "even"});
}

TEST(LlavaConfig, RejectsWrongTypesAndMalformedJson) {
  expect_error(parse(R"({"model_type": "llava", "text_config": {"hidden_size": "4096"}})"), ErrorCode::kInvalidFormat,
               {"config.json", "text_config.hidden_size", "integer", "string"});
  expect_error(parse(R"({"model_type": "llava", "text_config": {"rms_norm_eps": "small"}})"),
               ErrorCode::kInvalidFormat, {"text_config.rms_norm_eps", "number"});
  expect_error(parse(R"({"model_type": "llava", "text_config": 3})"), ErrorCode::kInvalidFormat,
               {"text_config", "object"});
  expect_error(parse(R"({"model_type": "llava", "text_config": {"tie_word_embeddings": "yes"}})"),
               ErrorCode::kInvalidFormat, {"tie_word_embeddings"});
  expect_error(parse(R"({"model_type": "llava",)"), ErrorCode::kInvalidFormat, {"config.json", "invalid JSON"});
  expect_error(parse("[]"), ErrorCode::kInvalidFormat, {"JSON object"});
  expect_error(load_llava_config("/nonexistent/config.json"), ErrorCode::kNotFound, {"/nonexistent/config.json"});
}

}  // namespace
}  // namespace glimpse
