// The main job end to end, from image file and question to answer text, on the tiny-llava
// fixture: the chat template, tokenizer, image decoding and preprocessing, the model and the
// detokenizer together must give the reference's greedy ids and text. Ids are compared under
// the fixtures' rule: a differing id is tolerated only where the reference's top-2 margin is
// below 2 * (1e-4 + 1e-3 |top-1 logit|), and comparing stops there.
#include <gtest/gtest.h>

#include <algorithm>

#include "glimpse/provider.h"
#include "support/test_support.h"

namespace glimpse {
namespace {

const std::filesystem::path kFixture = testing::test_data_dir() / "tiny-llava";

const nlohmann::json& reference() {
  static const nlohmann::json json = testing::read_json(kFixture / "reference.json");
  return json;
}

Provider& provider_for(PreprocessMode mode) {
  static std::map<PreprocessMode, std::unique_ptr<Provider>> providers;
  auto& slot = providers[mode];
  if (!slot) {
    ProviderOptions options;
    options.preprocess_mode = mode;
    auto loaded = Provider::load((kFixture / "model-f16").string(), options);
    if (!loaded.ok()) throw std::runtime_error(loaded.error().to_string());
    slot = std::move(loaded).value();
  }
  return *slot;
}

AskOptions greedy(std::int64_t n) {
  AskOptions options;
  options.max_new_tokens = n;
  options.ignore_eos = true;
  return options;
}

// Index of the first id that differs, checking that a difference is one the rule tolerates.
std::size_t compare_ids(const nlohmann::json& ref_case, const Answer& answer) {
  const auto& steps = ref_case["steps"];
  for (std::size_t i = 0; i < answer.tokens.size() && i < steps.size(); ++i) {
    const auto ref_id = steps[i]["id"].get<std::int32_t>();
    if (answer.tokens[i].id == ref_id) continue;
    const double top1 = steps[i]["top5"][0][1].get<double>();
    EXPECT_LT(steps[i]["margin"].get<double>(), 2 * testing::float_tolerance(top1))
        << ref_case["id"] << " step " << i << ": generated " << answer.tokens[i].id << ", reference " << ref_id;
    return i;
  }
  return answer.tokens.size();
}

TEST(Provider, EveryReferenceCaseFromImageFile) {
  for (const auto& ref_case : reference()["cases"]) {
    const std::string id = ref_case["id"].get<std::string>();
    std::vector<ImageSource> images;
    PreprocessMode mode = PreprocessMode::kCrop;
    std::string question = ref_case["question"].is_null() ? "" : ref_case["question"].get<std::string>();
    if (!ref_case["image"].is_null()) {
      images.push_back(ImageSource::from_path((kFixture / "images" / ref_case["image"].get<std::string>()).string()));
      if (ref_case["preprocess"] == "pad") mode = PreprocessMode::kPad;
    } else {
      // The text-only prompt is "USER: {question} ASSISTANT:" rendered by the same template.
      const std::string prompt = ref_case["prompt"].get<std::string>();
      question = prompt.substr(6, prompt.size() - 6 - 11);
    }
    Provider& provider = provider_for(mode);

    auto cost = provider.estimate(images.size(), question);
    ASSERT_TRUE(cost.ok()) << id << ": " << cost.error().to_string();
    EXPECT_EQ(cost->prompt_tokens, ref_case["n_input_ids"].get<std::int64_t>()) << id;
    EXPECT_EQ(cost->image_tokens, ref_case["n_image_tokens"].get<std::int64_t>()) << id;

    auto answer = provider.ask(images, question, greedy(32));
    ASSERT_TRUE(answer.ok()) << id << ": " << answer.error().to_string();
    EXPECT_EQ(answer->usage.prompt_tokens, ref_case["n_input_ids"].get<std::int64_t>()) << id;
    ASSERT_EQ(answer->tokens.size(), 32u) << id;
    EXPECT_EQ(answer->finish_reason, FinishReason::kLength) << id;
    const std::size_t matched = compare_ids(ref_case, *answer);
    if (matched == 32) {
      EXPECT_EQ(answer->text, ref_case["generated_text_skip_special"].get<std::string>()) << id;
    }
    // The token texts concatenate to the answer.
    std::string joined;
    for (const auto& token : answer->tokens) joined += token.text;
    EXPECT_EQ(joined, answer->text) << id;
  }
}

TEST(Provider, LogprobsComeFromRawLogits) {
  const auto& ref_case = reference()["cases"][0];
  const std::vector<ImageSource> images = {
      ImageSource::from_path((kFixture / "images" / ref_case["image"].get<std::string>()).string())};
  AskOptions options = greedy(3);
  options.top_logprobs = 5;
  auto answer = provider_for(PreprocessMode::kCrop).ask(images, ref_case["question"].get<std::string>(), options);
  ASSERT_TRUE(answer.ok()) << answer.error().to_string();
  for (std::size_t step = 0; step < answer->tokens.size(); ++step) {
    const auto& ref_step = ref_case["steps"][step];
    const double ref_logprob = ref_step["top5"][0][1].get<double>() - ref_step["logsumexp"].get<double>();
    EXPECT_NEAR(answer->tokens[step].logprob, ref_logprob, 2 * testing::float_tolerance(ref_logprob)) << step;
    ASSERT_EQ(answer->tokens[step].top_logprobs.size(), 5u);
    for (std::size_t k = 0; k < 5; ++k) {
      EXPECT_EQ(answer->tokens[step].top_logprobs[k].id, ref_step["top5"][k][0].get<std::int32_t>()) << step;
    }
  }
}

TEST(Provider, SameSeedSameText) {
  AskOptions options;
  options.max_new_tokens = 24;
  options.ignore_eos = true;
  options.sampling.temperature = 0.9f;
  options.sampling.top_p = 0.95f;
  options.sampling.seed = 99;
  Provider& provider = provider_for(PreprocessMode::kCrop);
  auto first = provider.ask({}, "Tell me something.", options);
  auto second = provider.ask({}, "Tell me something.", options);
  options.sampling.seed = 100;
  auto third = provider.ask({}, "Tell me something.", options);
  ASSERT_TRUE(first.ok() && second.ok() && third.ok());
  EXPECT_EQ(first->text, second->text);
  EXPECT_NE(first->text, third->text);
}

TEST(Provider, StopStringEndsAnswerWithoutIt) {
  // Greedy text of the text-only case: find a stop string inside it, across token boundaries.
  Provider& provider = provider_for(PreprocessMode::kCrop);
  auto full = provider.ask({}, "Hello, who are you?", greedy(32));
  ASSERT_TRUE(full.ok());
  ASSERT_GT(full->text.size(), 12u);
  const std::string stop = full->text.substr(8, 4);
  AskOptions options = greedy(32);
  options.stop = {stop};
  std::string streamed;
  options.on_text = [&](std::string_view piece) {
    streamed += piece;
    return true;
  };
  auto stopped = provider.ask({}, "Hello, who are you?", options);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->finish_reason, FinishReason::kStop);
  EXPECT_EQ(stopped->text, full->text.substr(0, full->text.find(stop)));
  EXPECT_EQ(streamed, stopped->text);
  EXPECT_LT(stopped->tokens.size(), 32u);
  // Each token keeps its own text: they spell the full answer's beginning, stop string included.
  std::string joined;
  for (const auto& token : stopped->tokens) joined += token.text;
  EXPECT_EQ(joined, full->text.substr(0, joined.size()));
  EXPECT_GE(joined.size(), stopped->text.size() + stop.size());
}

TEST(Provider, CallbackCancels) {
  AskOptions options = greedy(32);
  int pieces = 0;
  options.on_text = [&](std::string_view) { return ++pieces < 3; };
  auto answer = provider_for(PreprocessMode::kCrop).ask({}, "Hello, who are you?", options);
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->finish_reason, FinishReason::kCancelled);
  EXPECT_EQ(pieces, 3);
}

TEST(Provider, ContextLimitRejectsAndStops) {
  ProviderOptions small;
  small.context_length = 600;
  auto provider = Provider::load((kFixture / "model-f16").string(), small);
  ASSERT_TRUE(provider.ok()) << provider.error().to_string();
  const std::vector<ImageSource> one = {ImageSource::from_path((kFixture / "images" / "gradient_336.png").string())};
  // 595 prompt positions leave 5 for the answer: generation stops with finish reason context.
  auto answer = (*provider)->ask(one, "What is shown in this image?", greedy(50));
  ASSERT_TRUE(answer.ok()) << answer.error().to_string();
  EXPECT_EQ(answer->finish_reason, FinishReason::kContext);
  EXPECT_EQ(answer->tokens.size(), 6u);
  // Two images need 1170 positions: rejected before any work.
  const std::vector<ImageSource> two = {one[0], one[0]};
  auto cost = (*provider)->estimate(2, "Compare them.");
  ASSERT_TRUE(cost.ok());
  EXPECT_LT(cost->context_left, 0);
  auto rejected = (*provider)->ask(two, "Compare them.", greedy(5));
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.error().code, ErrorCode::kOutOfRange);
  EXPECT_NE(rejected.error().message.find("context"), std::string::npos) << rejected.error().message;
}

TEST(Provider, RawPromptMarkersMustMatchImages) {
  Provider& provider = provider_for(PreprocessMode::kCrop);
  const std::vector<ImageSource> one = {ImageSource::from_path((kFixture / "images" / "gradient_336.png").string())};
  auto mismatch = provider.complete("USER: <image>\n<image>\nCompare. ASSISTANT:", one, greedy(4));
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.error().message.find("2 <image> markers but 1 images"), std::string::npos)
      << mismatch.error().message;

  // The raw prompt of the first reference case gives its ids.
  const auto& ref_case = reference()["cases"][0];
  auto answer = provider.complete(ref_case["prompt"].get<std::string>(), one, greedy(32));
  ASSERT_TRUE(answer.ok()) << answer.error().to_string();
  EXPECT_EQ(compare_ids(ref_case, *answer), 32u);
}

TEST(Provider, UserTextNeverBecomesControlTokens) {
  // "<image>" typed by a user is text: the prompt gets no image slot, so no image is needed.
  Provider& provider = provider_for(PreprocessMode::kCrop);
  auto cost = provider.estimate(0, "What is <image> and </s>?");
  ASSERT_TRUE(cost.ok()) << cost.error().to_string();
  EXPECT_EQ(cost->image_tokens, 0);
  auto answer = provider.ask({}, "What is <image> and </s>?", greedy(2));
  ASSERT_TRUE(answer.ok()) << answer.error().to_string();
}

TEST(Provider, ChatTurnFeedsOnlyNewTokens) {
  Provider& provider = provider_for(PreprocessMode::kCrop);
  auto chat = provider.start_chat();
  ASSERT_TRUE(chat.ok());
  const std::vector<ImageSource> one = {ImageSource::from_path((kFixture / "images" / "gradient_336.png").string())};
  auto first = (*chat)->send(one, "What is shown in this image?", greedy(8));
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  const std::int64_t after_first = (*chat)->position();
  auto second = (*chat)->send({}, "And the colours?", greedy(8));
  ASSERT_TRUE(second.ok()) << second.error().to_string();
  // The second turn reuses the image and the first exchange: far fewer positions than a fresh
  // prompt holding the whole conversation.
  EXPECT_EQ(second->usage.image_tokens, 0);
  EXPECT_LT(second->usage.prompt_tokens, 40);
  EXPECT_GT((*chat)->position(), after_first);
}

TEST(Provider, BadInputsGiveClearErrors) {
  Provider& provider = provider_for(PreprocessMode::kCrop);
  const std::vector<ImageSource> missing = {ImageSource::from_path("/nonexistent/cat.jpg")};
  auto no_file = provider.ask(missing, "What?", greedy(2));
  ASSERT_FALSE(no_file.ok());
  EXPECT_NE(no_file.error().message.find("/nonexistent/cat.jpg"), std::string::npos) << no_file.error().message;

  const std::vector<ImageSource> not_image = {ImageSource::from_bytes({'h', 'e', 'l', 'l', 'o'}, "upload")};
  EXPECT_FALSE(provider.ask(not_image, "What?", greedy(2)).ok());

  AskOptions bad = greedy(2);
  bad.sampling.top_p = 2.0f;
  auto bad_option = provider.ask({}, "What?", bad);
  ASSERT_FALSE(bad_option.ok());
  EXPECT_NE(bad_option.error().message.find("top_p"), std::string::npos);

  bad = greedy(2);
  bad.stop = {""};
  EXPECT_FALSE(provider.ask({}, "What?", bad).ok());

  EXPECT_FALSE(Provider::load("/nonexistent/model").ok());

  ProviderOptions too_many_threads;
  too_many_threads.n_threads = 100000;
  auto refused = Provider::load((kFixture / "model-f16").string(), too_many_threads);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("thread count 100000"), std::string::npos) << refused.error().message;
}

}  // namespace
}  // namespace glimpse
