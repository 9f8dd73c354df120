#include "glimpse/generate.h"

#include <algorithm>
#include <limits>

namespace glimpse {

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

Result<GreedyResult> generate_greedy(const LlavaModel& model, std::span<const std::int32_t> prompt_ids,
                                     std::span<const PixelTensor> images, const GreedyOptions& options) {
  const LlavaConfig& config = model.config();
  if (prompt_ids.empty()) return make_error(ErrorCode::kInvalidArgument, "the prompt has no tokens");
  if (options.max_new_tokens < 0) {
    return make_error(ErrorCode::kInvalidArgument, "max_new_tokens must not be negative");
  }

  // Image features and prompt embeddings, computed once.
  std::vector<float> features;
  for (const PixelTensor& image : images) {
    GLIMPSE_ASSIGN_OR_RETURN(const std::vector<float> rows, model.encode_image(image));
    features.insert(features.end(), rows.begin(), rows.end());
  }
  GLIMPSE_ASSIGN_OR_RETURN(std::vector<float> sequence, model.embed_prompt(prompt_ids, features));
  GLIMPSE_ASSIGN_OR_RETURN(KvCache cache, model.new_kv_cache(options.context_length));
  if (static_cast<std::int64_t>(prompt_ids.size()) > cache.capacity()) {
    return make_error(ErrorCode::kOutOfRange,
                      "the prompt has " + std::to_string(prompt_ids.size()) +
                          " tokens, more than the context window of " + std::to_string(cache.capacity()));
  }

  GreedyResult result;
  // Prefill: every prompt embedding in one call at position 0.
  GLIMPSE_ASSIGN_OR_RETURN(std::vector<float> logits, model.forward(sequence, 0, cache, LogitsMode::kLast));
  auto position = static_cast<std::int64_t>(prompt_ids.size());

  for (std::int64_t step = 0; step < options.max_new_tokens; ++step) {
    const std::int32_t id = argmax(logits);
    result.ids.push_back(id);
    if (options.keep_logits) result.step_logits.push_back(logits);
    const bool is_eos = std::find(config.text.eos_token_ids.begin(), config.text.eos_token_ids.end(), id) !=
                        config.text.eos_token_ids.end();
    if (options.stop_at_eos && is_eos) {
      result.finish_reason = FinishReason::kEos;
      return result;
    }
    if (step + 1 == options.max_new_tokens) break;
    if (position >= cache.capacity()) {
      result.finish_reason = FinishReason::kContext;
      return result;
    }

    // Decode: embed the new token and run it alone at its position, reusing the cache. A
    // generated image token id gets its plain embedding row, as in transformers.
    const std::int32_t new_ids[1] = {id};
    GLIMPSE_ASSIGN_OR_RETURN(const std::vector<float> embedding, model.embed_tokens(new_ids));
    if (options.use_kv_cache) {
      GLIMPSE_ASSIGN_OR_RETURN(logits, model.forward(embedding, position, cache, LogitsMode::kLast));
    } else {
      sequence.insert(sequence.end(), embedding.begin(), embedding.end());
      cache.clear();
      GLIMPSE_ASSIGN_OR_RETURN(logits, model.forward(sequence, 0, cache, LogitsMode::kLast));
    }
    ++position;
  }
  result.finish_reason = FinishReason::kLength;
  return result;
}

}  // namespace glimpse
