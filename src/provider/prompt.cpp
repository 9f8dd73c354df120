#include "provider/prompt.h"

#include <algorithm>

namespace glimpse {

Result<PromptBuilder> PromptBuilder::create(const std::string& folder, const Tokenizer& tokenizer,
                                            const LlavaConfig& config) {
  GLIMPSE_ASSIGN_OR_RETURN(ChatTemplate chat_template, ChatTemplate::load_from_folder(folder));
  const auto piece = tokenizer.token_to_piece(static_cast<std::int32_t>(config.image_token_index));
  if (!piece || !tokenizer.is_special(static_cast<std::int32_t>(config.image_token_index))) {
    return make_error(ErrorCode::kInvalidFormat,
                      folder + ": config.json's image_token_index " + std::to_string(config.image_token_index) +
                          " is not a special token of tokenizer.json");
  }
  PromptBuilder builder(tokenizer, std::move(chat_template), config);
  builder.image_token_ = std::string(*piece);
  return builder;
}

Result<PromptIds> PromptBuilder::expand(const std::vector<std::int32_t>& ids) const {
  const std::int64_t per_image = config_.image_features_per_image();
  PromptIds prompt;
  for (std::int32_t id : ids) {
    if (id == config_.image_token_index) {
      prompt.ids.insert(prompt.ids.end(), static_cast<std::size_t>(per_image), id);
      ++prompt.n_images;
      prompt.image_tokens += per_image;
    } else {
      prompt.ids.push_back(id);
    }
  }
  return prompt;
}

Result<PromptIds> PromptBuilder::encode_chat(std::span<const ChatMessage> messages, bool add_generation_prompt) const {
  ChatTemplateOptions options;
  options.add_generation_prompt = add_generation_prompt;
  options.image_token = image_token_;
  const Conversation conversation(messages.begin(), messages.end());
  GLIMPSE_ASSIGN_OR_RETURN(const PromptTokens tokens, build_prompt(*tokenizer_, template_, conversation, options));
  return expand(tokens.ids);
}

Result<PromptIds> PromptBuilder::encode_raw(std::string_view prompt, std::size_t n_images) const {
  GLIMPSE_ASSIGN_OR_RETURN(const std::vector<std::int32_t> ids, tokenizer_->encode(prompt));
  const auto n_slots =
      static_cast<std::size_t>(std::count(ids.begin(), ids.end(), static_cast<std::int32_t>(config_.image_token_index)));
  if (n_slots != n_images) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the prompt has " + std::to_string(n_slots) + " " + image_token_ + " markers but " +
                          std::to_string(n_images) + " images were given; put one marker where each image goes");
  }
  return expand(ids);
}

}  // namespace glimpse
