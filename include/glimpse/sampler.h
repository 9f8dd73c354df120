// Token selection from a logit row: repetition penalty, masking of ids the tokenizer cannot
// produce, temperature, top-k, top-p and min-p, then a seeded draw (or the argmax when the
// temperature is 0). The order follows transformers' generate(): the repetition penalty acts on
// the raw logits, then temperature, then the top-k, top-p and min-p filters.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "glimpse/status.h"

namespace glimpse {

struct SamplingOptions {
  float temperature = 0.0f;         // 0 selects the argmax (greedy decoding)
  std::int32_t top_k = 0;           // keep the k most likely ids; 0 keeps all
  float top_p = 1.0f;               // keep the smallest set whose probability reaches top_p
  float min_p = 0.0f;               // drop ids whose probability is below min_p * the largest one
  float repetition_penalty = 1.0f;  // > 1 discourages ids seen in the window (transformers' rule)
  std::int32_t repetition_window = 64;  // how many of the latest ids the penalty looks at; 0: all
  std::uint64_t seed = 0;           // the same seed, options and inputs give the same ids
};

// Checks ranges: temperature >= 0, top_k >= 0, top_p in (0, 1], min_p in [0, 1),
// repetition_penalty > 0, repetition_window >= 0; errors name the option.
Status validate(const SamplingOptions& options);

// One alternative of a generated token, with its log-probability from the raw logits.
struct TokenLogprob {
  std::int32_t id = 0;
  float logprob = 0.0f;
};

class Sampler {
 public:
  // `allowed` has one entry per logit row; false rows are never chosen (ids without a token,
  // the image and padding ids). Call validate() on the options first.
  Sampler(const SamplingOptions& options, std::vector<bool> allowed);

  // Chooses the next id from `logits`; `history` is the sequence so far (prompt and generated
  // ids) for the repetition penalty. Returns -1 only when no id is allowed.
  std::int32_t sample(std::span<const float> logits, std::span<const std::int32_t> history);

  // log_softmax of the raw row at `id`, over all rows (allowed or not).
  static float logprob(std::span<const float> logits, std::int32_t id);
  // The `n` allowed ids with the largest raw logits, with their log-probabilities over all rows.
  std::vector<TokenLogprob> top_logprobs(std::span<const float> logits, std::int32_t n) const;

 private:
  SamplingOptions options_;
  std::vector<bool> allowed_;
  std::mt19937_64 rng_;
  std::vector<float> scratch_;
  std::vector<std::int32_t> candidates_;
};

}  // namespace glimpse
