// Models whose shapes, storage and naming differ from the tiny-llava fixture, written with
// tools/make_llava_variants.py together with its independent float64 NumPy reference (the ctest
// fixture generate_llava_variants runs it first). Metric: the fixtures' float rule,
// |x - ref| <= 1e-4 + 1e-3 |ref|, for image features, the selected CLIP hidden state and the
// logits at every position, computed both in one call and one token at a time through the cache.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "glimpse/llava.h"
#include "support/test_support.h"

namespace glimpse {
namespace {

using testing::float_tolerance;

// Returns the largest |x - ref| / tolerance over the elements, and checks that x is finite.
double worst_ratio(std::span<const float> values, std::span<const double> reference) {
  double worst = 0;
  for (std::size_t i = 0; i < reference.size(); ++i) {
    if (!std::isfinite(values[i])) return INFINITY;
    worst = std::max(worst, std::abs(values[i] - reference[i]) / float_tolerance(reference[i]));
  }
  return worst;
}

class Variant : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    folder_ = testing::variants_dir() / GetParam();
    const std::string message = testing::missing_fixture_message(folder_ / "reference" / "case.json");
    if (!message.empty()) {
      FAIL() << message << " It is written by the generate_llava_variants test; run the suite with ctest.";
    }
    case_ = testing::read_json(folder_ / "reference" / "case.json");
    auto loaded = LlavaModel::load(folder_.string());
    ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
    model_ = std::move(loaded).value();
  }

  std::vector<std::vector<float>> read_pixels() const {
    std::vector<std::vector<float>> images;
    for (const auto& file : case_["pixels"]) {
      images.push_back(testing::read_f32(folder_ / "reference" / file.get<std::string>()));
    }
    return images;
  }

  std::vector<float> encode_all(const std::vector<std::vector<float>>& images) const {
    std::vector<float> features;
    for (const auto& pixels : images) {
      auto rows = model_->encode_image({pixels});
      if (!rows.ok()) throw std::runtime_error(rows.error().to_string());
      features.insert(features.end(), rows->begin(), rows->end());
    }
    return features;
  }

  std::filesystem::path folder_;
  nlohmann::json case_;
  std::unique_ptr<LlavaModel> model_;
};

TEST_P(Variant, ImageFeaturesMatchReference) {
  const auto images = read_pixels();
  ASSERT_EQ(images.size(), case_["n_images"].get<std::size_t>());
  const std::vector<float> features = encode_all(images);
  const std::vector<double> expected = testing::read_f64(folder_ / "reference" / "image_features.f64");
  ASSERT_EQ(features.size(), expected.size());
  EXPECT_LE(worst_ratio(features, expected), 1.0) << "image features, worst error/tolerance";

  auto hidden = model_->vision_hidden_state({images[0]});
  ASSERT_TRUE(hidden.ok()) << hidden.error().to_string();
  const std::vector<double> expected_hidden = testing::read_f64(folder_ / "reference" / "vision_hidden.f64");
  ASSERT_EQ(hidden->size(), expected_hidden.size());
  EXPECT_LE(worst_ratio(*hidden, expected_hidden), 1.0) << "selected CLIP hidden state, worst error/tolerance";
}

TEST_P(Variant, LogitsMatchReferenceInOneCall) {
  const auto ids = case_["input_ids"].get<std::vector<std::int32_t>>();
  const auto images = read_pixels();
  std::vector<PixelTensor> pixel_tensors;
  for (const auto& pixels : images) pixel_tensors.push_back({pixels});
  auto logits = model_->logits(ids, pixel_tensors, LogitsMode::kAll);
  ASSERT_TRUE(logits.ok()) << logits.error().to_string();
  const std::vector<double> expected = testing::read_f64(folder_ / "reference" / "logits.f64");
  ASSERT_EQ(logits->size(), expected.size());
  EXPECT_LE(worst_ratio(*logits, expected), 1.0) << "logits at all positions, worst error/tolerance";
}

TEST_P(Variant, LogitsMatchReferenceThroughCache) {
  const auto ids = case_["input_ids"].get<std::vector<std::int32_t>>();
  const auto n_prompt = case_["n_prompt"].get<std::size_t>();
  const std::vector<float> features = encode_all(read_pixels());
  auto embeddings = model_->embed_prompt(ids, features);
  ASSERT_TRUE(embeddings.ok()) << embeddings.error().to_string();
  const auto hidden = static_cast<std::size_t>(model_->config().text.hidden_size);
  const auto vocab = static_cast<std::size_t>(model_->config().text.vocab_size);
  const std::vector<double> expected = testing::read_f64(folder_ / "reference" / "logits.f64");
  auto cache = model_->new_kv_cache(static_cast<std::int64_t>(ids.size()));
  ASSERT_TRUE(cache.ok());

  // Prefill the prompt in one call, then feed the continuation one id per call.
  const std::span<const float> all(*embeddings);
  auto prompt = model_->forward(all.first(n_prompt * hidden), 0, *cache, LogitsMode::kLast);
  ASSERT_TRUE(prompt.ok()) << prompt.error().to_string();
  EXPECT_LE(worst_ratio(*prompt, std::span(expected).subspan((n_prompt - 1) * vocab, vocab)), 1.0)
      << "last prompt position";
  for (std::size_t pos = n_prompt; pos < ids.size(); ++pos) {
    auto step = model_->forward(all.subspan(pos * hidden, hidden), static_cast<std::int64_t>(pos), *cache,
                                LogitsMode::kLast);
    ASSERT_TRUE(step.ok()) << step.error().to_string();
    EXPECT_LE(worst_ratio(*step, std::span(expected).subspan(pos * vocab, vocab)), 1.0) << "position " << pos;
  }
}

TEST(Variants, GeneratorListsEveryVariant) {
  const auto path = testing::variants_dir() / "variants.json";
  const std::string message = testing::missing_fixture_message(path);
  if (!message.empty()) FAIL() << message;
  const auto names = testing::read_json(path)["variants"].get<std::vector<std::string>>();
  EXPECT_EQ(names, (std::vector<std::string>{"mha_full_newnames", "gqa4_sharded_f16", "mqa_headdim_bf16",
                                              "wide256_f16", "sparse_defaults"}));
}

// Load-time quantization of the variant whose rows are whole Q4_K/Q6_K super-blocks: every
// linear weight of the language model is converted, and the logits at all positions move from
// the float64 reference by an amount that fits the block type. The bounds are loose limits for
// a correct implementation, because a wrong layout, scale or min gives a relative error near 1.
// The test prints the measured values.
TEST(Variants, QuantizedLogitsStayNearReference) {
  const auto folder = testing::variants_dir() / "wide256_f16";
  const std::string message = testing::missing_fixture_message(folder / "reference" / "case.json");
  if (!message.empty()) FAIL() << message << " It is written by the generate_llava_variants test; run the suite with ctest.";
  const auto info = testing::read_json(folder / "reference" / "case.json");
  const auto ids = info["input_ids"].get<std::vector<std::int32_t>>();
  const std::vector<float> pixels = testing::read_f32(folder / "reference" / info["pixels"][0].get<std::string>());
  const std::vector<double> expected = testing::read_f64(folder / "reference" / "logits.f64");
  double ref2 = 0;
  for (const double value : expected) ref2 += value * value;

  struct Bound {
    DType type;
    double max_relative_rms;
  };
  std::map<DType, double> measured;
  for (const Bound bound : {Bound{DType::kQ8_0, 0.03}, Bound{DType::kQ6_K, 0.06}, Bound{DType::kQ4_K, 0.25},
                            Bound{DType::kQ4_0, 0.3}}) {
    LoadOptions options;
    options.quantize = bound.type;
    auto loaded = LlavaModel::load(folder.string(), options);
    ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
    const auto model = std::move(loaded).value();
    EXPECT_EQ(model->load_report().n_quantized, 2 * 7 + 1);  // q, k, v, o, gate, up, down of 2 layers; lm_head
    EXPECT_EQ(model->load_report().n_kept, 0);
    const std::vector<PixelTensor> images = {PixelTensor{pixels}};
    auto logits = model->logits(ids, images, LogitsMode::kAll);
    ASSERT_TRUE(logits.ok()) << logits.error().to_string();
    ASSERT_EQ(logits->size(), expected.size());
    double diff2 = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
      const double diff = (*logits)[i] - expected[i];
      diff2 += diff * diff;
    }
    const double relative_rms = std::sqrt(diff2 / ref2);
    measured[bound.type] = relative_rms;
    const std::string name(dtype_name(bound.type));
    std::printf("%s: logits at %zu positions, relative RMS difference from the float64 reference %.4f\n",
                name.c_str(), ids.size(), relative_rms);
    RecordProperty(name + "_relative_rms", std::to_string(relative_rms));
    EXPECT_LE(relative_rms, bound.max_relative_rms) << name;
  }
  // More bits per value, or a better fit for the same bits, moves the logits less.
  EXPECT_LT(measured[DType::kQ8_0], measured[DType::kQ6_K]);
  EXPECT_LT(measured[DType::kQ6_K], measured[DType::kQ4_K]);
  EXPECT_LT(measured[DType::kQ4_K], measured[DType::kQ4_0]);
}

INSTANTIATE_TEST_SUITE_P(Generated, Variant,
                         ::testing::Values("mha_full_newnames", "gqa4_sharded_f16", "mqa_headdim_bf16",
                                           "wide256_f16", "sparse_defaults"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace glimpse
