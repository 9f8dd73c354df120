// The sampler's filters and draws, and the generation loop's contract: one prefill call for a
// turn's prompt, then exactly one new position per forward call, with the cache kept between turns.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "glimpse/generate.h"
#include "glimpse/sampler.h"
#include "support/test_support.h"

namespace glimpse {
namespace {

std::vector<float> log_probs(std::initializer_list<double> probs) {
  std::vector<float> logits;
  for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
  return logits;
}

// Frequencies of each id over `n` draws.
std::map<std::int32_t, double> frequencies(Sampler& sampler, const std::vector<float>& logits, int n) {
  std::map<std::int32_t, double> counts;
  for (int i = 0; i < n; ++i) counts[sampler.sample(logits, {})] += 1.0 / n;
  return counts;
}

TEST(Sampler, GreedyTakesLowestIdOnTies) {
  Sampler sampler({}, {});
  EXPECT_EQ(sampler.sample(std::vector<float>{1.0f, 3.0f, 3.0f, -2.0f}, {}), 1);
}

TEST(Sampler, MaskedIdsAreNeverChosen) {
  Sampler greedy({}, {true, false, true});
  EXPECT_EQ(greedy.sample(std::vector<float>{1.0f, 9.0f, 2.0f}, {}), 2);
  SamplingOptions options;
  options.temperature = 5.0f;
  Sampler hot(options, {true, false, true});
  const auto counts = frequencies(hot, {1.0f, 9.0f, 2.0f}, 2000);
  EXPECT_EQ(counts.count(1), 0u);
}

TEST(Sampler, NaNLogitIsNeverChosen) {
  Sampler sampler({}, {});
  EXPECT_EQ(sampler.sample(std::vector<float>{NAN, 1.0f, 0.5f}, {}), 1);
}

TEST(Sampler, RepetitionPenaltyDividesPositiveAndMultipliesNegative) {
  SamplingOptions options;
  options.repetition_penalty = 2.0f;
  Sampler sampler(options, {});
  // Id 0 (logit 3) is penalised to 1.5, below id 1 (2.0); a repeated negative id drops further.
  EXPECT_EQ(sampler.sample(std::vector<float>{3.0f, 2.0f, -1.0f}, std::vector<std::int32_t>{0, 0}), 1);
  EXPECT_EQ(sampler.sample(std::vector<float>{-0.5f, -0.8f}, std::vector<std::int32_t>{0}), 1);
  // Outside a window of 1, the earlier id is not penalised.
  options.repetition_window = 1;
  Sampler windowed(options, {});
  EXPECT_EQ(windowed.sample(std::vector<float>{3.0f, 2.0f, -1.0f}, std::vector<std::int32_t>{0, 2}), 0);
}

TEST(Sampler, TemperatureOneFollowsTheDistribution) {
  SamplingOptions options;
  options.temperature = 1.0f;
  options.seed = 7;
  Sampler sampler(options, {});
  const auto counts = frequencies(sampler, log_probs({0.25, 0.75}), 20000);
  // Binomial standard deviation at n = 20000 is 0.003; allow 5 of them.
  EXPECT_NEAR(counts.at(1), 0.75, 0.015);
}

TEST(Sampler, TopKTopPAndMinPFilter) {
  SamplingOptions options;
  options.temperature = 1.0f;
  options.top_k = 2;
  Sampler top_k(options, {});
  const auto probs = log_probs({0.5, 0.3, 0.2});
  EXPECT_EQ(frequencies(top_k, probs, 3000).count(2), 0u);

  options.top_k = 0;
  options.top_p = 0.6f;  // 0.5 < 0.6, so the second id is needed; the third is not
  Sampler top_p(options, {});
  const auto kept_p = frequencies(top_p, probs, 3000);
  EXPECT_EQ(kept_p.count(2), 0u);
  EXPECT_GT(kept_p.count(1), 0u);

  options.top_p = 0.5f;  // the first id alone reaches 0.5
  Sampler top_p_one(options, {});
  EXPECT_EQ(frequencies(top_p_one, probs, 500).size(), 1u);

  options.top_p = 1.0f;
  options.min_p = 0.5f;  // threshold 0.25: keeps 0.5 and 0.3, drops 0.2
  Sampler min_p(options, {});
  const auto kept_min = frequencies(min_p, probs, 3000);
  EXPECT_EQ(kept_min.count(2), 0u);
  EXPECT_NEAR(kept_min.at(0), 0.5 / 0.8, 0.04);
}

TEST(Sampler, SameSeedSameDraws) {
  SamplingOptions options;
  options.temperature = 1.5f;
  options.seed = 1234;
  Sampler a(options, {}), b(options, {});
  options.seed = 1235;
  Sampler c(options, {});
  const auto logits = log_probs({0.1, 0.2, 0.3, 0.4});
  std::vector<std::int32_t> from_a, from_b, from_c;
  for (int i = 0; i < 64; ++i) {
    from_a.push_back(a.sample(logits, {}));
    from_b.push_back(b.sample(logits, {}));
    from_c.push_back(c.sample(logits, {}));
  }
  EXPECT_EQ(from_a, from_b);
  EXPECT_NE(from_a, from_c);
}

TEST(Sampler, LogprobsUseRawLogitsOverAllRows) {
  const std::vector<float> logits = {2.0f, 1.0f, 0.0f, 3.0f};
  const double normalizer = std::log(std::exp(2.0) + std::exp(1.0) + 1.0 + std::exp(3.0));
  EXPECT_NEAR(Sampler::logprob(logits, 1), 1.0 - normalizer, 1e-6);
  // Row 3 is masked: it counts in the normalizer but is not listed as an alternative.
  Sampler sampler({}, {true, true, true, false});
  const auto top = sampler.top_logprobs(logits, 2);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].id, 0);
  EXPECT_EQ(top[1].id, 1);
  EXPECT_NEAR(top[0].logprob, 2.0 - normalizer, 1e-6);
}

TEST(Sampler, ValidateNamesTheOption) {
  SamplingOptions options;
  options.top_p = 0.0f;
  Status status = validate(options);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find("top_p"), std::string::npos);
  options = {};
  options.temperature = -1.0f;
  EXPECT_FALSE(validate(options).ok());
  options = {};
  options.min_p = 1.0f;
  EXPECT_FALSE(validate(options).ok());
  options = {};
  options.repetition_penalty = 0.0f;
  EXPECT_FALSE(validate(options).ok());
  options = {};
  options.top_k = -3;
  EXPECT_FALSE(validate(options).ok());
}

class SequenceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded = LlavaModel::load((testing::test_data_dir() / "tiny-llava" / "model-f16").string());
    ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
    model_ = std::move(loaded).value().release();
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }

  static std::vector<float> embed(const std::vector<std::int32_t>& ids) {
    auto rows = model_->embed_tokens(ids);
    EXPECT_TRUE(rows.ok());
    return rows.ok() ? std::move(rows).value() : std::vector<float>{};
  }

  static LlavaModel* model_;
};
LlavaModel* SequenceTest::model_ = nullptr;

struct ForwardCall {
  std::int64_t start_pos;
  std::int64_t n_tokens;
  bool operator==(const ForwardCall&) const = default;
};

TEST_F(SequenceTest, OnePrefillThenOnePositionPerToken) {
  auto sequence = Sequence::create(*model_, 128);
  ASSERT_TRUE(sequence.ok());
  std::vector<ForwardCall> calls;
  sequence->cache().on_forward = [&](std::int64_t start, std::int64_t n) { calls.push_back({start, n}); };
  const std::vector<std::int32_t> prompt = {1, 3148, 1001, 29901, 15043, 29892};
  GenerateOptions options;
  options.max_new_tokens = 10;
  options.stop_at_eos = false;
  auto result = sequence->generate(embed(prompt), prompt, {}, options);
  ASSERT_TRUE(result.ok()) << result.error().to_string();
  ASSERT_EQ(result->tokens.size(), 10u);

  // Prefill at 0 with all 6 prompt positions, then 9 calls of one position each (the 10th token
  // is returned but not fed).
  std::vector<ForwardCall> expected = {{0, 6}};
  for (std::int64_t i = 0; i < 9; ++i) expected.push_back({6 + i, 1});
  EXPECT_EQ(calls, expected);
  EXPECT_EQ(sequence->position(), 15);
}

TEST_F(SequenceTest, SecondTurnFeedsOnlyItsOwnTokens) {
  auto sequence = Sequence::create(*model_, 128);
  ASSERT_TRUE(sequence.ok());
  std::vector<ForwardCall> calls;
  sequence->cache().on_forward = [&](std::int64_t start, std::int64_t n) { calls.push_back({start, n}); };
  GenerateOptions options;
  options.max_new_tokens = 4;
  options.stop_at_eos = false;
  options.keep_logits = true;
  const std::vector<std::int32_t> first = {1, 3148, 1001, 29901, 15043};
  ASSERT_TRUE(sequence->generate(embed(first), first, {}, options).ok());
  const std::int64_t after_first = sequence->position();
  calls.clear();

  const std::vector<std::int32_t> second = {3148, 1001, 29901};
  auto turn = sequence->generate(embed(second), second, {}, options);
  ASSERT_TRUE(turn.ok());
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls[0], (ForwardCall{after_first, 3}));

  // The turn's first logits equal a fresh run over everything fed before plus the new prompt.
  std::vector<std::int32_t> all = sequence->history();
  all.resize(static_cast<std::size_t>(after_first + 3));
  auto fresh_cache = model_->new_kv_cache(128);
  ASSERT_TRUE(fresh_cache.ok());
  auto fresh = model_->forward(embed(all), 0, *fresh_cache, LogitsMode::kLast);
  ASSERT_TRUE(fresh.ok());
  for (std::size_t i = 0; i < fresh->size(); ++i) {
    ASSERT_NEAR(turn->step_logits[0][i], (*fresh)[i], testing::float_tolerance((*fresh)[i])) << i;
  }
}

TEST_F(SequenceTest, StopsAtContextAndRejectsOversizedPrompt) {
  auto sequence = Sequence::create(*model_, 8);
  ASSERT_TRUE(sequence.ok());
  GenerateOptions options;
  options.max_new_tokens = 20;
  options.stop_at_eos = false;
  const std::vector<std::int32_t> prompt = {1, 3148, 1001, 29901, 15043};
  auto result = sequence->generate(embed(prompt), prompt, {}, options);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->finish_reason, FinishReason::kContext);
  EXPECT_EQ(sequence->position(), 8);
  EXPECT_EQ(result->tokens.size(), 4u);  // positions 5, 6, 7 fed, then a fourth token with no room

  int forward_calls = 0;
  auto small = Sequence::create(*model_, 4);
  ASSERT_TRUE(small.ok());
  small->cache().on_forward = [&](std::int64_t, std::int64_t) { ++forward_calls; };
  auto rejected = small->generate(embed(prompt), prompt, {}, options);
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.error().code, ErrorCode::kOutOfRange);
  EXPECT_EQ(forward_calls, 0) << "an oversized prompt must be rejected before any work";
}

TEST_F(SequenceTest, CallbackStopsAndCancels) {
  const std::vector<std::int32_t> prompt = {1, 3148, 1001, 29901, 15043};
  GenerateOptions options;
  options.max_new_tokens = 20;
  options.stop_at_eos = false;
  for (const auto& [action, reason] : {std::pair{StepAction::kStop, FinishReason::kStop},
                                      std::pair{StepAction::kCancel, FinishReason::kCancelled}}) {
    auto sequence = Sequence::create(*model_, 64);
    ASSERT_TRUE(sequence.ok());
    int steps = 0;
    auto result = sequence->generate(embed(prompt), prompt, {}, options, [&](const StepEvent&) {
      return ++steps == 3 ? action : StepAction::kContinue;
    });
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result->finish_reason, reason);
    EXPECT_EQ(result->tokens.size(), 3u);
  }
}

TEST_F(SequenceTest, SeededSamplingReproducesAndMaskHolds) {
  const std::vector<std::int32_t> prompt = {1, 3148, 1001, 29901, 15043};
  GenerateOptions options;
  options.max_new_tokens = 16;
  options.stop_at_eos = false;
  options.sampling.temperature = 1.0f;
  options.sampling.seed = 42;
  options.top_logprobs = 3;
  std::vector<bool> allowed(32064, true);
  for (std::size_t id = 32000; id < allowed.size(); ++id) allowed[id] = false;
  std::vector<std::vector<std::int32_t>> runs;
  for (int run = 0; run < 2; ++run) {
    auto sequence = Sequence::create(*model_, 64);
    ASSERT_TRUE(sequence.ok());
    auto result = sequence->generate(embed(prompt), prompt, allowed, options);
    ASSERT_TRUE(result.ok());
    std::vector<std::int32_t> ids;
    for (const auto& event : result->tokens) {
      ids.push_back(event.id);
      EXPECT_LT(event.id, 32000);
      EXPECT_LE(event.logprob, 0.0f);
      ASSERT_EQ(event.top.size(), 3u);
      EXPECT_GE(event.top[0].logprob, event.top[1].logprob);
    }
    runs.push_back(ids);
  }
  EXPECT_EQ(runs[0], runs[1]);
}

}  // namespace
}  // namespace glimpse
