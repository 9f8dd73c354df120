// The generation loop over the KV cache. A turn's prompt is one forward call at the cache's
// current end, which is position 0 for the first turn. Each generated token is then one forward
// call with that token alone at its own position, so cost grows linearly with the tokens generated.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "glimpse/llava.h"
#include "glimpse/sampler.h"
#include "glimpse/status.h"

namespace glimpse {

enum class FinishReason {
  kLength,     // max_new_tokens reached
  kEos,        // the model produced an end-of-sequence id
  kStop,       // the step callback asked to stop (a stop string matched)
  kContext,    // the context window is full
  kCancelled,  // the step callback cancelled generation
};

// "length", "eos", "stop", "context" or "cancelled".
std::string_view finish_reason_name(FinishReason reason);

struct GenerateOptions {
  SamplingOptions sampling;
  std::int64_t max_new_tokens = 256;
  bool stop_at_eos = true;
  std::int32_t top_logprobs = 0;  // alternatives reported per token
  // false re-runs the whole sequence for every token (quadratic); it exists only so that tests
  // and benchmarks can show the difference.
  bool use_kv_cache = true;
  bool keep_logits = false;       // copy every step's raw logit row into the result (tests)
};

struct StepEvent {
  std::int32_t id = 0;
  float logprob = 0.0f;                // from the raw logits, over all rows
  std::vector<TokenLogprob> top;       // top_logprobs alternatives, largest first
};

enum class StepAction { kContinue, kStop, kCancel };

// Called once per generated token, before the token is fed back.
using StepCallback = std::function<StepAction(const StepEvent& event)>;

struct GenerateResult {
  std::vector<StepEvent> tokens;
  std::vector<std::vector<float>> step_logits;  // when keep_logits is set
  FinishReason finish_reason = FinishReason::kLength;
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;
  std::int64_t prompt_tokens = 0;
};

// One sequence in a KV cache: what has been fed so far, so that a later turn feeds only its
// own tokens. Not thread-safe; one conversation per Sequence.
class Sequence {
 public:
  // capacity 0 means max_position_embeddings.
  static Result<Sequence> create(const LlavaModel& model, std::int64_t capacity = 0);

  std::int64_t position() const { return cache_.n_valid(); }
  std::int64_t capacity() const { return cache_.capacity(); }
  const std::vector<std::int32_t>& history() const { return history_; }
  KvCache& cache() { return cache_; }

  // Forgets every position from `n` on, so the next prompt is fed at position n; a later turn
  // whose tokens differ from what was fed rewinds to the common prefix. Needs n <= position().
  Status rewind(std::int64_t n);

  // Feeds a prompt (embeddings [n, hidden] with their ids, image positions included) at the
  // current position, then samples up to max_new_tokens ids, feeding each back alone. `allowed`
  // marks the logit rows that may be chosen; empty allows all. The sequence keeps every fed id.
  Result<GenerateResult> generate(std::span<const float> prompt_embeddings, std::span<const std::int32_t> prompt_ids,
                                const std::vector<bool>& allowed, const GenerateOptions& options,
                                const StepCallback& on_step = {});

 private:
  Sequence(const LlavaModel& model, KvCache cache) : model_(&model), cache_(std::move(cache)) {}
  Result<std::vector<float>> feed(std::span<const float> embeddings);

  const LlavaModel* model_;
  KvCache cache_;
  std::vector<std::int32_t> history_;
  std::vector<float> embeddings_;  // everything fed so far; used only without the KV cache
};

// Index of the largest value; ties go to the lowest index. NaN never wins.
std::int32_t argmax(std::span<const float> logits);

struct GreedyOptions {
  std::int64_t max_new_tokens = 32;
  bool use_kv_cache = true;
  bool stop_at_eos = true;
  std::int64_t context_length = 0;  // KV cache capacity; 0 means max_position_embeddings
  bool keep_logits = false;
};

struct GreedyResult {
  std::vector<std::int32_t> ids;
  std::vector<std::vector<float>> step_logits;
  FinishReason finish_reason = FinishReason::kLength;
};

// The raw argmax over every logit row, no masking: the decoding of the reference fixtures.
// Encodes the images, splices them into the prompt and decodes in a fresh sequence.
Result<GreedyResult> generate_greedy(const LlavaModel& model, std::span<const std::int32_t> prompt_ids,
                                     std::span<const PixelTensor> images, const GreedyOptions& options);

}  // namespace glimpse
