// Exactness of encode and decode against the reference cases of four tokenizer families, produced
// by transformers.js 4.3.2 and cross-checked with Hugging Face's Rust tokenizers 0.22.2. Metric:
// ids equal id for id, token strings equal, decoded text equal byte for byte.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "glimpse/tokenizer.h"
#include "support/test_support.h"

namespace glimpse {
namespace {

namespace fs = std::filesystem;
using testing::read_json;

struct Family {
  std::string name;
  fs::path tokenizer_json;
  fs::path tokenizer_config;
  fs::path cases;
  fs::path tokens;
};

Family family(const std::string& name) {
  const fs::path data = testing::test_data_dir() / "tokenizer";
  Family f{name, data / name / "tokenizer.json", data / name / "tokenizer_config.json", data / ("cases_" + name + ".json"),
           data / ("tokens_" + name + ".json")};
  if (name == "llava15") {
    // The llava15 tokenizer.json is the tiny-llava model's, which has the same content.
    f.tokenizer_json = testing::test_data_dir() / "tiny-llava" / "model-f16" / "tokenizer.json";
  }
  if (name == "llama3_1") {
    // 9 MB, read from the shared fixtures instead of being copied.
    const fs::path shared = testing::shared_fixtures_dir() / "tokenizer" / "llama3_1";
    f.tokenizer_json = shared / "tokenizer.json";
    f.tokenizer_config = shared / "tokenizer_config.json";
  }
  return f;
}

std::vector<std::int32_t> ids_of(const nlohmann::json& array) { return array.get<std::vector<std::int32_t>>(); }

class TokenizerFamily : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerFamily, EncodeMatchesReference) {
  const Family f = family(GetParam());
  if (const std::string missing = testing::missing_fixture_message(f.tokenizer_json); !missing.empty()) FAIL() << missing;
  auto tokenizer = Tokenizer::load(f.tokenizer_json, f.tokenizer_config);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.error().to_string();
  const nlohmann::json cases = read_json(f.cases)["cases"];
  ASSERT_EQ(cases.size(), 105u);

  int matched = 0;
  for (const nlohmann::json& c : cases) {
    const std::string text = c["text"].get<std::string>();
    SCOPED_TRACE("case " + std::to_string(c["id"].get<int>()) + " (" + c["category"].get<std::string>() + ")");

    auto with_bos = tokenizer->encode(text);
    ASSERT_TRUE(with_bos.ok()) << with_bos.error().to_string();
    EXPECT_EQ(*with_bos, ids_of(c["ids_with_bos"]));

    EncodeOptions no_special;
    no_special.add_special_tokens = false;
    auto without = tokenizer->encode(text, no_special);
    ASSERT_TRUE(without.ok()) << without.error().to_string();
    EXPECT_EQ(*without, ids_of(c["ids_no_special"]));

    std::vector<std::string> pieces;
    for (const std::int32_t id : *without) pieces.emplace_back(tokenizer->token_to_piece(id).value_or("<none>"));
    EXPECT_EQ(pieces, c["tokens_no_special"].get<std::vector<std::string>>());

    const std::vector<std::int32_t> reference_ids = ids_of(c["ids_with_bos"]);
    EXPECT_EQ(tokenizer->decode(reference_ids), c["decoded"].get<std::string>());
    DecodeOptions skip;
    skip.skip_special_tokens = true;
    EXPECT_EQ(tokenizer->decode(reference_ids, skip), c["decoded_skip_special"].get<std::string>());

    if (!::testing::Test::HasFailure()) ++matched;
  }
  EXPECT_EQ(matched, 105) << GetParam() << ": cases matched";
}

// Single ids and short sequences (split UTF-8, special tokens between byte tokens), compared with
// the Rust decode where the two reference implementations differ.
TEST_P(TokenizerFamily, DecodeTokensMatchesRust) {
  const Family f = family(GetParam());
  if (const std::string missing = testing::missing_fixture_message(f.tokenizer_json); !missing.empty()) FAIL() << missing;
  auto tokenizer = Tokenizer::load(f.tokenizer_json, f.tokenizer_config);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.error().to_string();
  const nlohmann::json tokens = read_json(f.tokens);

  for (const nlohmann::json& entry : tokens["by_id"]) {
    const std::int32_t id = entry["id"].get<std::int32_t>();
    SCOPED_TRACE("id " + std::to_string(id));
    EXPECT_EQ(tokenizer->token_to_piece(id).value_or("<none>"), entry["token"].get<std::string>());
    const std::vector<std::int32_t> ids{id};
    EXPECT_EQ(tokenizer->decode(ids), entry["decode_hf_rust"].get<std::string>());
    DecodeOptions skip;
    skip.skip_special_tokens = true;
    EXPECT_EQ(tokenizer->decode(ids, skip), entry["decode_skip_special_hf_rust"].get<std::string>());
  }
  for (const nlohmann::json& entry : tokens["sequences"]) {
    SCOPED_TRACE(entry["why"].get<std::string>());
    const std::vector<std::int32_t> ids = ids_of(entry["ids"]);
    EXPECT_EQ(tokenizer->decode(ids), entry["decode_hf_rust"].get<std::string>());
    DecodeOptions skip;
    skip.skip_special_tokens = true;
    EXPECT_EQ(tokenizer->decode(ids, skip), entry["decode_skip_special_hf_rust"].get<std::string>());
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TokenizerFamily, ::testing::Values("llama2", "llava15", "mistral", "llama3_1"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace glimpse
