// Token ids of a prompt for the language model: the chat template rendered and tokenized, or a
// raw prompt with "<image>" markers, with every image slot expanded to the number of feature
// rows one image contributes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "glimpse/chat_template.h"
#include "glimpse/llava_config.h"
#include "glimpse/status.h"
#include "glimpse/tokenizer.h"

namespace glimpse {

struct PromptIds {
  std::vector<std::int32_t> ids;  // image slots expanded
  std::int64_t n_images = 0;
  std::int64_t image_tokens = 0;  // positions of image features among ids
};

class PromptBuilder {
 public:
  // Loads the model folder's chat template; `tokenizer` must outlive the builder.
  static Result<PromptBuilder> create(const std::string& folder, const Tokenizer& tokenizer, const LlavaConfig& config);

  // The conversation rendered by the chat template (user text stays text even where it spells a
  // special token), tokenized, with one image slot per image part.
  Result<PromptIds> encode_chat(std::span<const ChatMessage> messages, bool add_generation_prompt) const;

  // A raw prompt tokenized with special-token parsing; each image token is one slot and the slots
  // must number `n_images`.
  Result<PromptIds> encode_raw(std::string_view prompt, std::size_t n_images) const;

 private:
  PromptBuilder(const Tokenizer& tokenizer, ChatTemplate chat_template, const LlavaConfig& config)
      : tokenizer_(&tokenizer), template_(std::move(chat_template)), config_(config) {}
  Result<PromptIds> expand(const std::vector<std::int32_t>& ids) const;

  const Tokenizer* tokenizer_;
  ChatTemplate template_;
  LlavaConfig config_;
  std::string image_token_;  // the image token's string, such as "<image>"
};

}  // namespace glimpse
