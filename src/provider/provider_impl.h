// Internal state of Provider and ChatSession, shared by their source files.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "glimpse/provider.h"
#include "provider/prompt.h"

namespace glimpse {

struct Provider::Impl {
  std::string folder;
  ProviderOptions options;
  std::unique_ptr<LlavaModel> model;
  std::optional<Tokenizer> tokenizer;
  std::optional<PromptBuilder> prompts;
  PreprocessConfig preprocess;
  std::vector<bool> allowed;  // logit rows that may be sampled
  double load_seconds = 0.0;
};

struct ChatSession::State {
  const Provider::Impl* provider = nullptr;
  std::optional<Sequence> sequence;
  std::vector<ChatMessage> messages;  // the turns so far, answers included
  // Every image of the conversation, in prompt order, as projector outputs
  // [image_features_per_image, hidden].
  std::vector<std::vector<float>> image_features;

  // The messages so far plus a user turn of `n_images` images followed by `text`.
  std::vector<ChatMessage> messages_with_turn(std::size_t n_images, std::string_view text) const;
  // How many leading ids of `ids` the KV cache already holds; at least one id is always left
  // to feed.
  std::int64_t reusable_prefix(std::span<const std::int32_t> ids) const;
};


}  // namespace glimpse
