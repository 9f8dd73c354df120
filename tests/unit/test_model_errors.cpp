// Loading broken model folders and calling the model with bad arguments: each case is an error
// that names the file, tensor or value, never a crash.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "glimpse/llava.h"
#include "glimpse/safetensors.h"
#include "support/test_support.h"

namespace glimpse {
namespace {

namespace fs = std::filesystem;
const fs::path kModel = testing::test_data_dir() / "tiny-llava" / "model-f16";

// Reads the fixture's tensors so that a test can write them back changed.
std::vector<testing::CraftedTensor> fixture_tensors() {
  const auto bytes = testing::read_bytes(kModel / "model.safetensors");
  auto header = parse_safetensors_header(bytes.data(), bytes.size(), "fixture");
  if (!header.ok()) throw std::runtime_error(header.error().to_string());
  std::vector<testing::CraftedTensor> tensors;
  for (const auto& entry : header->entries) {
    const auto* begin = bytes.data() + header->data_offset + entry.begin;
    tensors.push_back({entry.name, entry.dtype_name, entry.shape,
                       std::vector<std::uint8_t>(begin, begin + (entry.end - entry.begin))});
  }
  return tensors;
}

// A model folder in a temporary directory: the fixture's config and the given tensors.
struct ModelFolder {
  testing::TempDir dir;
  explicit ModelFolder(const std::vector<testing::CraftedTensor>& tensors) {
    fs::copy_file(kModel / "config.json", dir.path() / "config.json");
    testing::write_bytes(dir.path() / "model.safetensors", testing::safetensors_bytes(tensors));
  }
  std::string path() const { return dir.path().string(); }
};

void expect_load_error(const std::string& folder, ErrorCode code, std::initializer_list<std::string> fragments) {
  auto model = LlavaModel::load(folder);
  ASSERT_FALSE(model.ok()) << "loading " << folder << " should fail";
  EXPECT_EQ(model.error().code, code) << model.error().to_string();
  for (const std::string& fragment : fragments) {
    EXPECT_NE(model.error().message.find(fragment), std::string::npos)
        << "message '" << model.error().message << "' lacks '" << fragment << "'";
  }
}

TEST(ModelLoad, UnchangedRewriteLoads) {
  ModelFolder folder(fixture_tensors());
  auto model = LlavaModel::load(folder.path());
  ASSERT_TRUE(model.ok()) << model.error().to_string();
}

TEST(ModelLoad, MissingTensor) {
  auto tensors = fixture_tensors();
  std::erase_if(tensors, [](const auto& t) { return t.name == "language_model.model.layers.1.mlp.up_proj.weight"; });
  ModelFolder folder(tensors);
  expect_load_error(folder.path(), ErrorCode::kNotFound, {"language_model.model.layers.1.mlp.up_proj.weight", "missing"});
}

TEST(ModelLoad, MisshapenTensor) {
  auto tensors = fixture_tensors();
  for (auto& t : tensors) {
    if (t.name == "vision_tower.vision_model.encoder.layers.0.self_attn.k_proj.weight") {
      t.shape = {32, 128};  // same byte count, wrong shape
    }
  }
  ModelFolder folder(tensors);
  expect_load_error(folder.path(), ErrorCode::kInvalidFormat,
                    {"model.safetensors", "self_attn.k_proj.weight", "[32, 128]", "expected [64, 64]"});
}

TEST(ModelLoad, UnsupportedDtype) {
  auto tensors = fixture_tensors();
  for (auto& t : tensors) {
    if (t.name == "multi_modal_projector.linear_1.weight") {
      t.dtype = "I16";  // same element size as F16
    }
  }
  ModelFolder folder(tensors);
  expect_load_error(folder.path(), ErrorCode::kUnsupported, {"multi_modal_projector.linear_1.weight", "I16"});
}

TEST(ModelLoad, TruncatedWeights) {
  ModelFolder folder(fixture_tensors());
  fs::resize_file(folder.dir.path() / "model.safetensors", fs::file_size(folder.dir.path() / "model.safetensors") - 100);
  expect_load_error(folder.path(), ErrorCode::kInvalidFormat, {"model.safetensors", "truncated"});
}

TEST(ModelLoad, LmHeadMissingWhenUntied) {
  auto tensors = fixture_tensors();
  std::erase_if(tensors, [](const auto& t) { return t.name == "language_model.lm_head.weight"; });
  ModelFolder folder(tensors);
  expect_load_error(folder.path(), ErrorCode::kNotFound, {"language_model.lm_head.weight"});
}

TEST(ModelLoad, NotALlavaCheckpoint) {
  auto tensors = fixture_tensors();
  for (auto& t : tensors) t.name = "encoder." + t.name;
  ModelFolder folder(tensors);
  expect_load_error(folder.path(), ErrorCode::kInvalidFormat, {"embed_tokens", "llava-hf"});
}

TEST(ModelLoad, BadFolderAndConfig) {
  expect_load_error("/nonexistent/model", ErrorCode::kNotFound, {"/nonexistent/model"});
  testing::TempDir empty;
  expect_load_error(empty.path().string(), ErrorCode::kNotFound, {"config.json"});
  ModelFolder folder(fixture_tensors());
  testing::write_text(folder.dir.path() / "config.json", R"({"model_type": "llava_onevision"})");
  expect_load_error(folder.path(), ErrorCode::kUnsupported, {"config.json", "model_type", "llava_onevision"});
}

class ModelCalls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded = LlavaModel::load(kModel.string());
    ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
    model_ = std::move(loaded).value().release();
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  static LlavaModel* model_;
};
LlavaModel* ModelCalls::model_ = nullptr;

TEST_F(ModelCalls, PixelTensorOfWrongSizeOrNotFinite) {
  std::vector<float> pixels(3 * 336 * 335, 0.0f);
  auto features = model_->encode_image({pixels});
  ASSERT_FALSE(features.ok());
  EXPECT_EQ(features.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(features.error().message.find("[3, 336, 336]"), std::string::npos) << features.error().message;
  pixels.assign(3 * 336 * 336, 0.0f);
  pixels[1234] = NAN;
  EXPECT_FALSE(model_->encode_image({pixels}).ok());
}

TEST_F(ModelCalls, TokenIdsOutsideVocabulary) {
  const std::vector<std::int32_t> ids = {1, 32064};
  auto embeddings = model_->embed_prompt(ids, {});
  ASSERT_FALSE(embeddings.ok());
  EXPECT_NE(embeddings.error().message.find("32064"), std::string::npos);
  const std::vector<std::int32_t> negative = {-1};
  EXPECT_FALSE(model_->embed_tokens(negative).ok());
}

TEST_F(ModelCalls, ImageTokenCountMustMatchFeatures) {
  const std::vector<std::int32_t> ids = {1, 32000, 32000, 2};
  std::vector<float> features(3 * 64, 0.0f);
  auto embeddings = model_->embed_prompt(ids, features);
  ASSERT_FALSE(embeddings.ok());
  EXPECT_NE(embeddings.error().message.find("2 image tokens"), std::string::npos) << embeddings.error().message;
  // A plain token lookup embeds id 32000 as an ordinary row.
  EXPECT_TRUE(model_->embed_tokens(ids).ok());
}

TEST_F(ModelCalls, ForwardChecksPositionsAndCapacity) {
  auto cache = model_->new_kv_cache(8);
  ASSERT_TRUE(cache.ok());
  const std::vector<std::int32_t> ids = {1, 3148, 1001, 29901, 15043};
  auto embeddings = model_->embed_tokens(ids);
  ASSERT_TRUE(embeddings.ok());

  auto skipped = model_->forward(*embeddings, 2, *cache, LogitsMode::kLast);
  ASSERT_FALSE(skipped.ok());
  EXPECT_NE(skipped.error().message.find("start position 2"), std::string::npos) << skipped.error().message;

  ASSERT_TRUE(model_->forward(*embeddings, 0, *cache, LogitsMode::kNone).ok());
  EXPECT_EQ(cache->n_valid(), 5);
  auto overflow = model_->forward(*embeddings, 5, *cache, LogitsMode::kLast);
  ASSERT_FALSE(overflow.ok());
  EXPECT_EQ(overflow.error().code, ErrorCode::kOutOfRange);
  EXPECT_NE(overflow.error().message.find("context window of 8"), std::string::npos) << overflow.error().message;

  const std::vector<float> ragged(65, 0.0f);
  EXPECT_FALSE(model_->forward(ragged, 0, *cache, LogitsMode::kLast).ok());
  EXPECT_FALSE(model_->forward({}, 0, *cache, LogitsMode::kLast).ok());
  EXPECT_FALSE(model_->new_kv_cache(-1).ok());
}

TEST_F(ModelCalls, RewindingReusesCacheRows) {
  auto cache = model_->new_kv_cache(16);
  ASSERT_TRUE(cache.ok());
  const std::vector<std::int32_t> first = {1, 3148, 1001, 29901};
  const std::vector<std::int32_t> second = {1, 3148, 15043, 29892};
  auto a = model_->embed_tokens(first);
  auto b = model_->embed_tokens(second);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(model_->forward(*a, 0, *cache, LogitsMode::kLast).ok());
  // Rewind to position 2 and continue differently; this must equal a fresh run of `second`.
  const std::size_t hidden = 64;
  auto rewound = model_->forward(std::span<const float>(*b).subspan(2 * hidden), 2, *cache, LogitsMode::kLast);
  ASSERT_TRUE(rewound.ok());
  auto fresh_cache = model_->new_kv_cache(16);
  auto fresh = model_->forward(*b, 0, *fresh_cache, LogitsMode::kLast);
  ASSERT_TRUE(fresh.ok());
  for (std::size_t i = 0; i < fresh->size(); ++i) {
    ASSERT_NEAR((*rewound)[i], (*fresh)[i], testing::float_tolerance((*fresh)[i])) << i;
  }
}

}  // namespace
}  // namespace glimpse
