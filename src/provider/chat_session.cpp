// One turn of a conversation: find what the KV cache already holds, feed only the rest, and
// stream the answer through the detokenizer.
#include <algorithm>
#include <chrono>

#include "glimpse/detokenizer.h"
#include "glimpse/log.h"
#include "provider/provider_impl.h"

namespace glimpse {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::int64_t count_id(std::span<const std::int32_t> ids, std::int64_t id) {
  return std::count(ids.begin(), ids.end(), static_cast<std::int32_t>(id));
}

}  // namespace

ChatSession::ChatSession(std::unique_ptr<State> state) : state_(std::move(state)) {}
ChatSession::~ChatSession() = default;

std::int64_t ChatSession::position() const { return state_->sequence->position(); }

Result<PromptCost> ChatSession::cost(std::size_t n_images, std::string_view text) const {
  const std::vector<ChatMessage> messages = state_->messages_with_turn(n_images, text);
  GLIMPSE_ASSIGN_OR_RETURN(const PromptIds prompt, state_->provider->prompts->encode_chat(messages, true));
  const std::int64_t reused = state_->reusable_prefix(prompt.ids);
  PromptCost cost;
  cost.prompt_tokens = static_cast<std::int64_t>(prompt.ids.size()) - reused;
  cost.image_tokens = prompt.image_tokens - count_id(std::span(prompt.ids).first(static_cast<std::size_t>(reused)),
                                                     state_->provider->model->config().image_token_index);
  cost.context_length = state_->sequence->capacity();
  cost.context_left = cost.context_length - static_cast<std::int64_t>(prompt.ids.size());
  return cost;
}

Result<Answer> ChatSession::send(std::span<const ImageSource> images, std::string_view text,
                                  const AskOptions& options) {
  std::vector<ChatMessage> messages = state_->messages_with_turn(images.size(), text);
  GLIMPSE_ASSIGN_OR_RETURN(const PromptIds prompt, state_->provider->prompts->encode_chat(messages, true));
  GLIMPSE_ASSIGN_OR_RETURN(Answer answer, run_turn(prompt, images, options));
  messages.push_back(ChatMessage{ChatRole::kAssistant, {ChatPart::text_part(answer.text)}});
  state_->messages = std::move(messages);
  return answer;
}

std::vector<ChatMessage> ChatSession::State::messages_with_turn(std::size_t n_images, std::string_view text) const {
  std::vector<ChatMessage> result = messages;
  ChatMessage turn;
  turn.role = ChatRole::kUser;
  for (std::size_t i = 0; i < n_images; ++i) turn.parts.push_back(ChatPart::image_part());
  turn.parts.push_back(ChatPart::text_part(std::string(text)));
  result.push_back(std::move(turn));
  return result;
}

std::int64_t ChatSession::State::reusable_prefix(std::span<const std::int32_t> ids) const {
  const std::vector<std::int32_t>& fed = sequence->history();
  std::size_t common = 0;
  while (common < fed.size() && common < ids.size() && fed[common] == ids[common]) ++common;
  // At least one new position must be fed to get the logits of the next token.
  if (common == ids.size() && common > 0) --common;
  return static_cast<std::int64_t>(common);
}

Result<Answer> ChatSession::run_turn(const PromptIds& prompt, std::span<const ImageSource> images,
                                      const AskOptions& options) {
  const Provider::Impl& provider = *state_->provider;
  const LlavaConfig& config = provider.model->config();
  GLIMPSE_RETURN_IF_ERROR(validate(options));

  // The images of this turn are the last ones of the prompt; earlier ones are already encoded.
  const auto n_known = static_cast<std::int64_t>(state_->image_features.size());
  if (prompt.n_images != n_known + static_cast<std::int64_t>(images.size())) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the prompt has " + std::to_string(prompt.n_images - n_known) + " image slots for this turn but " +
                          std::to_string(images.size()) + " images were given");
  }

  // Positions already in the cache are reused; the rest must fit before any work starts.
  const std::int64_t reused = state_->reusable_prefix(prompt.ids);
  const std::int64_t n_new = static_cast<std::int64_t>(prompt.ids.size()) - reused;
  const std::int64_t capacity = state_->sequence->capacity();
  if (reused + n_new > capacity) {
    return make_error(ErrorCode::kOutOfRange,
                      "the prompt needs " + std::to_string(prompt.ids.size()) + " positions (" +
                          std::to_string(prompt.image_tokens) + " for images) but the context holds " +
                          std::to_string(capacity) + "; use fewer images, a shorter text or a larger context length");
  }

  // Read, preprocess and encode this turn's images.
  Answer answer;
  auto start = std::chrono::steady_clock::now();
  std::vector<std::vector<float>> new_features;
  for (const ImageSource& source : images) {
    GLIMPSE_ASSIGN_OR_RETURN(const RgbImage image, load_image(source, provider.options.image));
    auto preprocessed = preprocess(image, provider.preprocess);
    if (!preprocessed.ok()) {
      Error error = preprocessed.take_error();
      error.message = source.description() + ": " + error.message;
      return error;
    }
    GLIMPSE_ASSIGN_OR_RETURN(std::vector<float> features,
                             provider.model->encode_image({preprocessed->pixel_values}));
    new_features.push_back(std::move(features));
  }
  answer.timings.image_seconds = seconds_since(start);

  // Feature rows for the image positions after the reused prefix.
  const std::span<const std::int32_t> all_ids(prompt.ids);
  const std::span<const std::int32_t> new_ids = all_ids.subspan(static_cast<std::size_t>(reused));
  const std::int64_t first_image_row = count_id(all_ids.first(static_cast<std::size_t>(reused)), config.image_token_index);
  const std::int64_t n_image_rows = count_id(new_ids, config.image_token_index);
  const auto hidden = static_cast<std::size_t>(config.text.hidden_size);
  std::vector<float> rows;
  rows.reserve(static_cast<std::size_t>(n_image_rows) * hidden);
  std::int64_t row_index = 0;
  for (const auto* list : {&state_->image_features, &new_features}) {
    for (const std::vector<float>& features : *list) {
      const auto n_rows = static_cast<std::int64_t>(features.size() / hidden);
      for (std::int64_t r = 0; r < n_rows; ++r, ++row_index) {
        if (row_index < first_image_row || row_index >= first_image_row + n_image_rows) continue;
        rows.insert(rows.end(), features.begin() + static_cast<std::ptrdiff_t>(r * hidden),
                    features.begin() + static_cast<std::ptrdiff_t>((r + 1) * hidden));
      }
    }
  }
  GLIMPSE_ASSIGN_OR_RETURN(const std::vector<float> embeddings, provider.model->embed_prompt(new_ids, rows));
  GLIMPSE_RETURN_IF_ERROR(state_->sequence->rewind(reused));
  for (auto& features : new_features) state_->image_features.push_back(std::move(features));

  // Stream the answer: each generated id goes through the detokenizer, which finds stop strings
  // across token boundaries and releases text only at character boundaries.
  DetokenizerOptions detokenizer_options;
  detokenizer_options.skip_special_tokens = true;
  detokenizer_options.stop_strings = options.stop;
  GLIMPSE_ASSIGN_OR_RETURN(StreamingDetokenizer detokenizer,
                           StreamingDetokenizer::create(*provider.tokenizer, detokenizer_options));
  // A second detokenizer without stop strings gives each token its own text, because the first
  // one holds back text that might begin a stop string and releases it with a later token.
  detokenizer_options.stop_strings.clear();
  GLIMPSE_ASSIGN_OR_RETURN(StreamingDetokenizer token_texts,
                           StreamingDetokenizer::create(*provider.tokenizer, detokenizer_options));
  bool cancelled = false;
  const StepCallback on_step = [&](const StepEvent& event) {
    GeneratedToken token;
    token.id = event.id;
    token.logprob = event.logprob;
    token.text = token_texts.push(event.id);
    const std::string piece = detokenizer.push(event.id);
    for (const TokenLogprob& alternative : event.top) {
      const std::int32_t id[1] = {alternative.id};
      token.top_logprobs.push_back({alternative.id, provider.tokenizer->decode(id), alternative.logprob});
    }
    answer.tokens.push_back(std::move(token));
    if (!piece.empty() && options.on_text && !options.on_text(piece)) {
      cancelled = true;
      return StepAction::kCancel;
    }
    return detokenizer.stopped() ? StepAction::kStop : StepAction::kContinue;
  };

  GenerateOptions generate;
  generate.sampling = options.sampling;
  generate.max_new_tokens = options.max_new_tokens;
  generate.stop_at_eos = !options.ignore_eos;
  generate.top_logprobs = options.top_logprobs;
  generate.use_kv_cache = options.use_kv_cache;
  GLIMPSE_ASSIGN_OR_RETURN(const GenerateResult result,
                           state_->sequence->generate(embeddings, new_ids, provider.allowed, generate, on_step));

  // Release what the detokenizer still holds (an incomplete character, a partial stop string).
  const std::string tail = detokenizer.flush();
  if (!tail.empty() && !cancelled && options.on_text) options.on_text(tail);
  if (!answer.tokens.empty()) answer.tokens.back().text += token_texts.flush();
  answer.text = detokenizer.text();
  answer.finish_reason = result.finish_reason;
  answer.usage.prompt_tokens = n_new;
  answer.usage.image_tokens = n_image_rows;
  answer.usage.completion_tokens = static_cast<std::int64_t>(answer.tokens.size());
  answer.timings.load_seconds = provider.load_seconds;
  answer.timings.prefill_seconds = result.prefill_seconds;
  answer.timings.decode_seconds = result.decode_seconds;
  if (result.prefill_seconds > 0) answer.timings.prefill_tokens_per_second = n_new / result.prefill_seconds;
  if (result.decode_seconds > 0 && answer.tokens.size() > 1) {
    answer.timings.decode_tokens_per_second = static_cast<double>(answer.tokens.size() - 1) / result.decode_seconds;
  }
  return answer;
}

}  // namespace glimpse
