#include <algorithm>
#include <chrono>
#include <limits>

#include "glimpse/generate.h"

namespace glimpse {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool is_eos(const LlavaConfig& config, std::int32_t id) {
  const auto& eos = config.text.eos_token_ids;
  return std::find(eos.begin(), eos.end(), id) != eos.end();
}

}  // namespace

std::string_view finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::kLength: return "length";
    case FinishReason::kEos: return "eos";
    case FinishReason::kStop: return "stop";
    case FinishReason::kContext: return "context";
    case FinishReason::kCancelled: return "cancelled";
  }
  return "unknown";
}

std::int32_t argmax(std::span<const float> logits) {
  std::int32_t best = 0;
  float best_value = -std::numeric_limits<float>::infinity();
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (logits[i] > best_value) {
      best_value = logits[i];
      best = static_cast<std::int32_t>(i);
    }
  }
  return best;
}

Result<Sequence> Sequence::create(const LlavaModel& model, std::int64_t capacity) {
  GLIMPSE_ASSIGN_OR_RETURN(KvCache cache, model.new_kv_cache(capacity));
  return Sequence(model, std::move(cache));
}

Status Sequence::rewind(std::int64_t n) {
  if (n < 0 || n > position()) {
    return make_error(ErrorCode::kInvalidArgument, "cannot rewind to position " + std::to_string(n) + " of a " +
                                                       std::to_string(position()) + "-position sequence");
  }
  cache_.set_n_valid(n);
  history_.resize(static_cast<std::size_t>(n));
  if (!embeddings_.empty()) {
    embeddings_.resize(static_cast<std::size_t>(n * model_->config().text.hidden_size));
  }
  return {};
}

Result<std::vector<float>> Sequence::feed(std::span<const float> embeddings) {
  return model_->forward(embeddings, position(), cache_, LogitsMode::kLast);
}

Result<GenerateResult> Sequence::generate(std::span<const float> prompt_embeddings,
                                        std::span<const std::int32_t> prompt_ids, const std::vector<bool>& allowed,
                                        const GenerateOptions& options, const StepCallback& on_step) {
  const LlavaConfig& config = model_->config();
  const auto hidden = static_cast<std::size_t>(config.text.hidden_size);
  GLIMPSE_RETURN_IF_ERROR(validate(options.sampling));
  if (options.max_new_tokens < 0) return make_error(ErrorCode::kInvalidArgument, "max_new_tokens must be >= 0");
  if (prompt_ids.empty() || prompt_embeddings.size() != prompt_ids.size() * hidden) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the prompt needs one embedding row per id (" + std::to_string(prompt_ids.size()) + " ids)");
  }
  if (position() + static_cast<std::int64_t>(prompt_ids.size()) > capacity()) {
    return make_error(ErrorCode::kOutOfRange,
                      "the prompt needs " + std::to_string(prompt_ids.size()) + " positions but only " +
                          std::to_string(capacity() - position()) + " of the " + std::to_string(capacity()) +
                          "-token context are left; shorten the prompt or start a new conversation");
  }

  GenerateResult result;
  result.prompt_tokens = static_cast<std::int64_t>(prompt_ids.size());
  Sampler sampler(options.sampling, allowed);

  // Prefill: the whole prompt of this turn in one call at the current position. Without the
  // cache, the full history is re-run from position 0 instead.
  auto start = std::chrono::steady_clock::now();
  std::vector<float> logits;
  if (options.use_kv_cache) {
    if (!embeddings_.empty()) {
      return make_error(ErrorCode::kInvalidArgument, "a sequence started without the KV cache must continue without it");
    }
    GLIMPSE_ASSIGN_OR_RETURN(logits, feed(prompt_embeddings));
  } else {
    if (embeddings_.empty() && position() > 0) {
      return make_error(ErrorCode::kInvalidArgument, "a sequence started with the KV cache must continue with it");
    }
    embeddings_.insert(embeddings_.end(), prompt_embeddings.begin(), prompt_embeddings.end());
    cache_.clear();
    GLIMPSE_ASSIGN_OR_RETURN(logits, model_->forward(embeddings_, 0, cache_, LogitsMode::kLast));
  }
  history_.insert(history_.end(), prompt_ids.begin(), prompt_ids.end());
  result.prefill_seconds = seconds_since(start);

  // Decode: choose a token, report it, then feed it alone at its position.
  start = std::chrono::steady_clock::now();
  result.finish_reason = FinishReason::kLength;
  for (std::int64_t step = 0; step < options.max_new_tokens; ++step) {
    StepEvent event;
    event.id = sampler.sample(logits, history_);
    if (event.id < 0) return make_error(ErrorCode::kInternal, "every logit row is masked");
    event.logprob = Sampler::logprob(logits, event.id);
    if (options.top_logprobs > 0) event.top = sampler.top_logprobs(logits, options.top_logprobs);
    if (options.keep_logits) result.step_logits.push_back(logits);
    result.tokens.push_back(event);

    const StepAction action = on_step ? on_step(event) : StepAction::kContinue;
    if (action == StepAction::kCancel) {
      result.finish_reason = FinishReason::kCancelled;
      break;
    }
    if (action == StepAction::kStop) {
      result.finish_reason = FinishReason::kStop;
      break;
    }
    if (options.stop_at_eos && is_eos(config, event.id)) {
      result.finish_reason = FinishReason::kEos;
      break;
    }
    if (step + 1 == options.max_new_tokens) break;
    if (position() >= capacity()) {
      result.finish_reason = FinishReason::kContext;
      break;
    }

    // A generated image-token id gets its plain embedding row, as in transformers.
    const std::int32_t new_id[1] = {event.id};
    GLIMPSE_ASSIGN_OR_RETURN(const std::vector<float> embedding, model_->embed_tokens(new_id));
    if (options.use_kv_cache) {
      GLIMPSE_ASSIGN_OR_RETURN(logits, feed(embedding));
    } else {
      embeddings_.insert(embeddings_.end(), embedding.begin(), embedding.end());
      cache_.clear();
      GLIMPSE_ASSIGN_OR_RETURN(logits, model_->forward(embeddings_, 0, cache_, LogitsMode::kLast));
    }
    history_.push_back(event.id);
  }
  result.decode_seconds = seconds_since(start);
  return result;
}

Result<GreedyResult> generate_greedy(const LlavaModel& model, std::span<const std::int32_t> prompt_ids,
                                     std::span<const PixelTensor> images, const GreedyOptions& options) {
  if (prompt_ids.empty()) return make_error(ErrorCode::kInvalidArgument, "the prompt has no tokens");
  std::vector<float> features;
  for (const PixelTensor& image : images) {
    GLIMPSE_ASSIGN_OR_RETURN(const std::vector<float> rows, model.encode_image(image));
    features.insert(features.end(), rows.begin(), rows.end());
  }
  GLIMPSE_ASSIGN_OR_RETURN(const std::vector<float> embeddings, model.embed_prompt(prompt_ids, features));
  GLIMPSE_ASSIGN_OR_RETURN(Sequence sequence, Sequence::create(model, options.context_length));

  GenerateOptions decode;
  decode.max_new_tokens = options.max_new_tokens;
  decode.stop_at_eos = options.stop_at_eos;
  decode.use_kv_cache = options.use_kv_cache;
  decode.keep_logits = options.keep_logits;
  GLIMPSE_ASSIGN_OR_RETURN(GenerateResult decoded, sequence.generate(embeddings, prompt_ids, {}, decode));

  GreedyResult result;
  for (const StepEvent& event : decoded.tokens) result.ids.push_back(event.id);
  result.step_logits = std::move(decoded.step_logits);
  result.finish_reason = decoded.finish_reason;
  return result;
}

}  // namespace glimpse
