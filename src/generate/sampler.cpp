#include "glimpse/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <unordered_set>

namespace glimpse {
namespace {

constexpr float kNegativeInfinity = -std::numeric_limits<float>::infinity();

Error invalid_option(const std::string& name, double value, const std::string& expected) {
  return make_error(ErrorCode::kInvalidArgument,
                    name + " is " + std::to_string(value) + "; expected " + expected);
}

// log(sum(exp(row))) over the whole row, in double.
double log_sum_exp(std::span<const float> logits) {
  double max_value = -std::numeric_limits<double>::infinity();
  for (float v : logits) max_value = std::max(max_value, static_cast<double>(v));
  if (!std::isfinite(max_value)) return max_value;
  double sum = 0.0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - max_value);
  return max_value + std::log(sum);
}

}  // namespace

Status validate(const SamplingOptions& options) {
  if (!(options.temperature >= 0.0f) || !std::isfinite(options.temperature)) {
    return invalid_option("temperature", options.temperature, "a finite value >= 0 (0 means greedy)");
  }
  if (options.top_k < 0) return invalid_option("top_k", options.top_k, "a value >= 0 (0 disables it)");
  if (!(options.top_p > 0.0f && options.top_p <= 1.0f)) {
    return invalid_option("top_p", options.top_p, "a value in (0, 1] (1 disables it)");
  }
  if (!(options.min_p >= 0.0f && options.min_p < 1.0f)) {
    return invalid_option("min_p", options.min_p, "a value in [0, 1) (0 disables it)");
  }
  if (!(options.repetition_penalty > 0.0f) || !std::isfinite(options.repetition_penalty)) {
    return invalid_option("repetition_penalty", options.repetition_penalty, "a finite value > 0 (1 disables it)");
  }
  if (options.repetition_window < 0) {
    return invalid_option("repetition_window", options.repetition_window, "a value >= 0 (0 looks at every id)");
  }
  return {};
}

Sampler::Sampler(const SamplingOptions& options, std::vector<bool> allowed)
    : options_(options), allowed_(std::move(allowed)), rng_(options.seed) {}

std::int32_t Sampler::sample(std::span<const float> logits, std::span<const std::int32_t> history) {
  const auto n_rows = static_cast<std::int32_t>(logits.size());
  scratch_.assign(logits.begin(), logits.end());

  // Repetition penalty on the raw logits of each distinct id in the window: divide a positive
  // logit, multiply a negative one (transformers' RepetitionPenaltyLogitsProcessor).
  if (options_.repetition_penalty != 1.0f) {
    const std::size_t window = options_.repetition_window == 0
                                   ? history.size()
                                   : std::min(history.size(), static_cast<std::size_t>(options_.repetition_window));
    std::unordered_set<std::int32_t> seen(history.end() - static_cast<std::ptrdiff_t>(window), history.end());
    for (std::int32_t id : seen) {
      if (id < 0 || id >= n_rows) continue;
      float& value = scratch_[static_cast<std::size_t>(id)];
      value = value > 0.0f ? value / options_.repetition_penalty : value * options_.repetition_penalty;
    }
  }

  // Rows without a token (and any NaN) can never be chosen.
  for (std::int32_t id = 0; id < n_rows; ++id) {
    const auto row = static_cast<std::size_t>(id);
    if ((row < allowed_.size() && !allowed_[row]) || std::isnan(scratch_[row])) scratch_[row] = kNegativeInfinity;
  }

  // Greedy: the largest value, ties to the lowest id.
  if (options_.temperature == 0.0f) {
    std::int32_t best = -1;
    float best_value = kNegativeInfinity;
    for (std::int32_t id = 0; id < n_rows; ++id) {
      if (scratch_[static_cast<std::size_t>(id)] > best_value) {
        best_value = scratch_[static_cast<std::size_t>(id)];
        best = id;
      }
    }
    return best;
  }

  // Candidates sorted by scaled logit, largest first (ties to the lower id), cut to top_k.
  candidates_.clear();
  for (std::int32_t id = 0; id < n_rows; ++id) {
    if (scratch_[static_cast<std::size_t>(id)] != kNegativeInfinity) candidates_.push_back(id);
  }
  if (candidates_.empty()) return -1;
  const auto by_logit = [this](std::int32_t a, std::int32_t b) {
    const float va = scratch_[static_cast<std::size_t>(a)];
    const float vb = scratch_[static_cast<std::size_t>(b)];
    return va > vb || (va == vb && a < b);
  };
  std::size_t n_kept = candidates_.size();
  if (options_.top_k > 0) n_kept = std::min(n_kept, static_cast<std::size_t>(options_.top_k));
  std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(n_kept), candidates_.end(),
                    by_logit);
  candidates_.resize(n_kept);

  // Probabilities after temperature, over the kept candidates.
  std::vector<double> probs(n_kept);
  const double max_scaled = scratch_[static_cast<std::size_t>(candidates_[0])] / options_.temperature;
  double total = 0.0;
  for (std::size_t i = 0; i < n_kept; ++i) {
    probs[i] = std::exp(scratch_[static_cast<std::size_t>(candidates_[i])] / options_.temperature - max_scaled);
    total += probs[i];
  }
  for (double& p : probs) p /= total;

  // top_p: the shortest prefix whose probability reaches top_p (at least one id).
  if (options_.top_p < 1.0f) {
    double cumulative = 0.0;
    std::size_t prefix = 0;
    while (prefix < n_kept && (prefix == 0 || cumulative < options_.top_p)) cumulative += probs[prefix++];
    n_kept = prefix;
  }
  // min_p: drop ids below min_p times the most likely one, renormalizing over what top_p kept.
  if (options_.min_p > 0.0f) {
    double prefix_total = 0.0;
    for (std::size_t i = 0; i < n_kept; ++i) prefix_total += probs[i];
    const double threshold = options_.min_p * probs[0] / prefix_total;
    std::size_t prefix = 1;
    while (prefix < n_kept && probs[prefix] / prefix_total >= threshold) ++prefix;
    n_kept = prefix;
  }

  // Draw from the kept ids with a uniform number built from 53 random bits, so the sequence
  // depends only on the seed and not on the standard library's distributions.
  double kept_total = 0.0;
  for (std::size_t i = 0; i < n_kept; ++i) kept_total += probs[i];
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * kept_total;
  double cumulative = 0.0;
  for (std::size_t i = 0; i < n_kept; ++i) {
    cumulative += probs[i];
    if (u < cumulative) return candidates_[i];
  }
  return candidates_[n_kept - 1];
}

float Sampler::logprob(std::span<const float> logits, std::int32_t id) {
  return static_cast<float>(static_cast<double>(logits[static_cast<std::size_t>(id)]) - log_sum_exp(logits));
}

std::vector<TokenLogprob> Sampler::top_logprobs(std::span<const float> logits, std::int32_t n) const {
  std::vector<std::int32_t> ids;
  for (std::size_t row = 0; row < logits.size(); ++row) {
    if ((row >= allowed_.size() || allowed_[row]) && !std::isnan(logits[row])) ids.push_back(static_cast<std::int32_t>(row));
  }
  const std::size_t count = std::min(ids.size(), static_cast<std::size_t>(std::max(0, n)));
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(count), ids.end(),
                    [&](std::int32_t a, std::int32_t b) {
                      const float va = logits[static_cast<std::size_t>(a)];
                      const float vb = logits[static_cast<std::size_t>(b)];
                      return va > vb || (va == vb && a < b);
                    });
  const double normalizer = log_sum_exp(logits);
  std::vector<TokenLogprob> result;
  for (std::size_t i = 0; i < count; ++i) {
    result.push_back({ids[i], static_cast<float>(logits[static_cast<std::size_t>(ids[i])] - normalizer)});
  }
  return result;
}

}  // namespace glimpse
