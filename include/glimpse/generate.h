// Greedy decoding over the KV cache: the prompt is one forward call at position 0, and each
// later step feeds only the newest token at its own position.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "glimpse/llava.h"
#include "glimpse/status.h"

namespace glimpse {

enum class FinishReason { kLength, kEos, kContext };

struct GreedyOptions {
  std::int64_t max_new_tokens = 32;
  // false re-runs the whole sequence every step (quadratic); it exists only so that tests and
  // benchmarks can compare against the cached path.
  bool use_kv_cache = true;
  bool stop_at_eos = true;
  std::int64_t context_length = 0;  // KV cache capacity; 0 means max_position_embeddings
  bool keep_logits = false;         // store every step's full logit row in the result
};

struct GreedyResult {
  std::vector<std::int32_t> ids;                 // generated ids, without the prompt
  std::vector<std::vector<float>> step_logits;   // per step, when keep_logits is set
  FinishReason finish_reason = FinishReason::kLength;
};

// Index of the largest value; ties go to the lowest index. NaN never wins.
std::int32_t argmax(std::span<const float> logits);

// Encodes the images, splices them into the prompt and decodes greedily.
Result<GreedyResult> generate_greedy(const LlavaModel& model, std::span<const std::int32_t> prompt_ids,
                                     std::span<const PixelTensor> images, const GreedyOptions& options);

}  // namespace glimpse
