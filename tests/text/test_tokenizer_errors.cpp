// Tokenizer behaviour on crafted tokenizer.json files: malformed or unsupported files give errors
// that name the file and field, and the less common pipeline options behave as Hugging Face's.
#include <gtest/gtest.h>

#include "glimpse/tokenizer.h"
#include "support/test_support.h"

namespace glimpse {
namespace {

using nlohmann::json;

// A small SentencePiece-style BPE tokenizer; tests change one field at a time.
json base_tokenizer() {
  return json::parse(R"({
    "version": "1.0",
    "added_tokens": [
      {"id": 0, "content": "<unk>", "special": true, "normalized": false},
      {"id": 1, "content": "<s>", "special": true, "normalized": false},
      {"id": 2, "content": "</s>", "special": true, "normalized": false}
    ],
    "normalizer": {"type": "Sequence", "normalizers": [
      {"type": "Prepend", "prepend": "\u2581"},
      {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
    "pre_tokenizer": null,
    "post_processor": {"type": "TemplateProcessing",
      "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
      "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
    "decoder": {"type": "Sequence", "decoders": [
      {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
      {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": false,
      "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "\u2581": 3, "a": 4, "b": 5, "ab": 6, "\u2581ab": 7, "c": 8},
      "merges": ["a b", "\u2581 ab"]}
  })");
}

Result<Tokenizer> load(const json& tokenizer, const json& config = json()) {
  return Tokenizer::load_from_strings(tokenizer.dump(), config.is_null() ? "" : config.dump(), "crafted.json");
}

void expect_error(const Result<Tokenizer>& result, ErrorCode code, const std::string& part) {
  ASSERT_FALSE(result.ok()) << "loaded, expected an error containing '" << part << "'";
  EXPECT_EQ(result.error().code, code) << result.error().to_string();
  EXPECT_NE(result.error().message.find(part), std::string::npos) << result.error().message;
  EXPECT_NE(result.error().message.find("crafted.json"), std::string::npos) << result.error().message;
}

std::vector<std::int32_t> encode(const Tokenizer& tokenizer, const std::string& text, bool add_special = true) {
  EncodeOptions options;
  options.add_special_tokens = add_special;
  auto ids = tokenizer.encode(text, options);
  EXPECT_TRUE(ids.ok()) << ids.error().to_string();
  return ids.ok() ? *ids : std::vector<std::int32_t>{};
}

TEST(TokenizerLoad, BaseTokenizerWorks) {
  auto tokenizer = load(base_tokenizer());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.error().to_string();
  EXPECT_EQ(encode(*tokenizer, "ab ab"), (std::vector<std::int32_t>{1, 7, 7}));
  EXPECT_EQ(encode(*tokenizer, "abz"), (std::vector<std::int32_t>{1, 7, 0}));  // z is unknown
  EXPECT_EQ(encode(*tokenizer, "zz", false), (std::vector<std::int32_t>{3, 0}));  // fused unknowns
  EXPECT_EQ(tokenizer->vocab_size(), 9);
}

TEST(TokenizerLoad, RejectsMalformedJson) {
  auto result = Tokenizer::load_from_strings("{\"model\": ", "", "crafted.json");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kInvalidFormat);
  EXPECT_NE(result.error().message.find("invalid JSON"), std::string::npos) << result.error().message;
}

TEST(TokenizerLoad, RejectsUnknownModelType) {
  json tokenizer = base_tokenizer();
  tokenizer["model"]["type"] = "Unigram";
  expect_error(load(tokenizer), ErrorCode::kUnsupported, "Unigram");
  tokenizer["model"]["type"] = "Mystery";
  expect_error(load(tokenizer), ErrorCode::kInvalidFormat, "Mystery");
  tokenizer.erase("model");
  expect_error(load(tokenizer), ErrorCode::kInvalidFormat, "'model' is missing");
}

TEST(TokenizerLoad, RejectsMissingMerges) {
  json tokenizer = base_tokenizer();
  tokenizer["model"].erase("merges");
  expect_error(load(tokenizer), ErrorCode::kInvalidFormat, "merges");
}

TEST(TokenizerLoad, RejectsBadMerges) {
  json tokenizer = base_tokenizer();
  tokenizer["model"]["merges"] = {"a q"};
  expect_error(load(tokenizer), ErrorCode::kInvalidFormat, "'q', which is not in model.vocab");
  tokenizer["model"]["merges"] = {"b a"};
  expect_error(load(tokenizer), ErrorCode::kInvalidFormat, "makes 'ba'");
  tokenizer["model"]["merges"] = {"a b c"};
  expect_error(load(tokenizer), ErrorCode::kInvalidFormat, "two tokens");
  tokenizer["model"]["merges"] = {json::array({"a", "b"}), 5};
  expect_error(load(tokenizer), ErrorCode::kInvalidFormat, "merges[1]");
}

TEST(TokenizerLoad, RejectsIdsOutOfRange) {
  json tokenizer = base_tokenizer();
  tokenizer["model"]["vocab"]["c"] = -4;
  expect_error(load(tokenizer), ErrorCode::kInvalidFormat, "vocab.c");
  tokenizer["model"]["vocab"]["c"] = 1u << 30;
  expect_error(load(tokenizer), ErrorCode::kInvalidFormat, "vocab.c");
  tokenizer = base_tokenizer();
  tokenizer["added_tokens"][0]["id"] = "zero";
  expect_error(load(tokenizer), ErrorCode::kInvalidFormat, "added_tokens[0].id");
}

TEST(TokenizerLoad, RejectsDuplicateTokens) {
  json tokenizer = base_tokenizer();
  tokenizer["model"]["vocab"]["c"] = 4;  // "a" has id 4 already
  expect_error(load(tokenizer), ErrorCode::kInvalidFormat, "gives id 4 to both");

  tokenizer = base_tokenizer();
  tokenizer["added_tokens"].push_back({{"id", 8}, {"content", "<extra>"}, {"special", true}});
  expect_error(load(tokenizer), ErrorCode::kInvalidFormat, "already names 'c'");

  tokenizer = base_tokenizer();
  tokenizer["added_tokens"].push_back({{"id", 9}, {"content", "</s>"}, {"special", true}});
  expect_error(load(tokenizer), ErrorCode::kInvalidFormat, "already added with id 2");
}

TEST(TokenizerLoad, RejectsUnsupportedComponents) {
  json tokenizer = base_tokenizer();
  tokenizer["normalizer"]["normalizers"][1] = {{"type", "Lowercase"}};
  expect_error(load(tokenizer), ErrorCode::kUnsupported, "normalizer.normalizers[1].type 'Lowercase'");

  tokenizer = base_tokenizer();
  tokenizer["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  expect_error(load(tokenizer), ErrorCode::kUnsupported, "BertPreTokenizer");

  tokenizer = base_tokenizer();
  tokenizer["decoder"] = {{"type", "WordPiece"}};
  expect_error(load(tokenizer), ErrorCode::kUnsupported, "WordPiece");

  tokenizer = base_tokenizer();
  tokenizer["model"]["dropout"] = 0.1;
  expect_error(load(tokenizer), ErrorCode::kUnsupported, "dropout");
}

TEST(TokenizerLoad, RejectsInvalidRegex) {
  json tokenizer = base_tokenizer();
  tokenizer["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  expect_error(load(tokenizer), ErrorCode::kInvalidFormat, "invalid regular expression");
}

TEST(TokenizerLoad, RejectsPostProcessorWithUnknownToken) {
  json tokenizer = base_tokenizer();
  tokenizer["post_processor"]["special_tokens"]["<s>"]["ids"] = {77};
  expect_error(load(tokenizer), ErrorCode::kInvalidFormat, "adds id 77");
}

TEST(TokenizerLoad, RejectsMissingFiles) {
  testing::TempDir dir;
  auto from_folder = Tokenizer::load_from_folder(dir.path());
  ASSERT_FALSE(from_folder.ok());
  EXPECT_EQ(from_folder.error().code, ErrorCode::kNotFound);
  auto from_file = Tokenizer::load(dir.path() / "tokenizer.json");
  ASSERT_FALSE(from_file.ok());
  EXPECT_EQ(from_file.error().code, ErrorCode::kNotFound);
  auto folder_as_file = Tokenizer::load(dir.path());
  ASSERT_FALSE(folder_as_file.ok());
  EXPECT_NE(folder_as_file.error().message.find("is a folder"), std::string::npos);
}

TEST(TokenizerEncode, RejectsInvalidUtf8) {
  auto tokenizer = load(base_tokenizer());
  ASSERT_TRUE(tokenizer.ok());
  for (const std::string text : {std::string("ab\xFF"), std::string("\xC0\x80"), std::string("\xED\xA0\x80"),
                                 std::string("ab\xE2\x82")}) {
    auto ids = tokenizer->encode(text);
    ASSERT_FALSE(ids.ok());
    EXPECT_EQ(ids.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(ids.error().message.find("not valid UTF-8"), std::string::npos) << ids.error().message;
  }
  auto offset = tokenizer->encode("ab\xFF");
  EXPECT_NE(offset.error().message.find("byte offset 2"), std::string::npos) << offset.error().message;
}

TEST(TokenizerEncode, RejectsBadLiteralSpans) {
  auto tokenizer = load(base_tokenizer());
  ASSERT_TRUE(tokenizer.ok());
  const std::vector<TextSpan> outside = {{0, 10}};
  EncodeOptions options;
  options.literal_spans = outside;
  EXPECT_FALSE(tokenizer->encode("ab", options).ok());
  const std::vector<TextSpan> unordered = {{2, 3}, {0, 1}};
  options.literal_spans = unordered;
  EXPECT_FALSE(tokenizer->encode("abab", options).ok());
}

TEST(TokenizerEncode, LiteralSpansKeepSpecialStringsAsText) {
  auto tokenizer = load(base_tokenizer());
  ASSERT_TRUE(tokenizer.ok());
  const std::string text = "</s>ab</s>";
  EXPECT_EQ(encode(*tokenizer, text, false), (std::vector<std::int32_t>{2, 7, 2}));
  const std::vector<TextSpan> second = {{6, 10}};
  EncodeOptions options;
  options.add_special_tokens = false;
  options.literal_spans = second;
  auto ids = tokenizer->encode(text, options);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->front(), 2);
  EXPECT_EQ(std::count(ids->begin(), ids->end(), 2), 1);
}

TEST(TokenizerDecode, DropsIdsWithoutToken) {
  auto tokenizer = Tokenizer::load_from_folder(testing::test_data_dir() / "tiny-llava" / "model-f16");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.error().to_string();
  EXPECT_EQ(tokenizer->vocab_size(), 32002);
  EXPECT_TRUE(tokenizer->is_token(32001));
  EXPECT_FALSE(tokenizer->is_token(32002));
  EXPECT_FALSE(tokenizer->is_token(32063));
  EXPECT_FALSE(tokenizer->is_token(-1));
  EXPECT_FALSE(tokenizer->token_to_piece(32005).has_value());
  const std::vector<std::int32_t> ids = {1, 15043, 32005, -7, 40000};
  EXPECT_EQ(tokenizer->decode(ids), "<s> Hello");
  EXPECT_EQ(tokenizer->decode(std::vector<std::int32_t>{}), "");
  EXPECT_EQ(tokenizer->bos_id(), 1);
  EXPECT_EQ(tokenizer->eos_ids(), std::vector<std::int32_t>{2});
  EXPECT_EQ(tokenizer->pad_id(), 32001);
  EXPECT_TRUE(tokenizer->is_special(32000));
  EXPECT_FALSE(tokenizer->is_special(15043));
  EXPECT_EQ(tokenizer->piece_to_id("<image>"), 32000);
  EXPECT_TRUE(tokenizer->adds_bos());
}

TEST(TokenizerConfig, AddBosAndEosFlags) {
  const json config = {{"tokenizer_class", "LlamaTokenizer"}, {"bos_token", "<s>"},
                       {"eos_token", {{"content", "</s>"}}}, {"add_bos_token", false}, {"add_eos_token", true}};
  auto tokenizer = load(base_tokenizer(), config);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.error().to_string();
  EXPECT_EQ(encode(*tokenizer, "ab"), (std::vector<std::int32_t>{7, 2}));
  EXPECT_FALSE(tokenizer->adds_bos());

  // Other tokenizer classes keep tokenizer.json's post-processor.
  const json other = {{"tokenizer_class", "PreTrainedTokenizerFast"}, {"add_bos_token", false}};
  auto kept = load(base_tokenizer(), other);
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(encode(*kept, "ab"), (std::vector<std::int32_t>{1, 7}));

  const json missing_eos = {{"tokenizer_class", "LlamaTokenizerFast"}, {"bos_token", "<s>"}, {"add_eos_token", true}};
  auto failed = load(base_tokenizer(), missing_eos);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message.find("eos_token"), std::string::npos) << failed.error().message;
}

TEST(TokenizerPipeline, AddedTokenOptions) {
  json tokenizer = base_tokenizer();
  tokenizer["model"]["vocab"]["<L>"] = 9;
  tokenizer["model"]["vocab"]["<R>"] = 10;
  tokenizer["model"]["vocab"]["cab"] = 11;
  tokenizer["added_tokens"].push_back({{"id", 9}, {"content", "<L>"}, {"special", true}, {"lstrip", true}, {"normalized", false}});
  tokenizer["added_tokens"].push_back({{"id", 10}, {"content", "<R>"}, {"special", false}, {"rstrip", true}, {"normalized", false}});
  tokenizer["added_tokens"].push_back({{"id", 11}, {"content", "cab"}, {"special", false}, {"single_word", true}, {"normalized", false}});
  auto loaded = load(tokenizer);
  ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
  // lstrip absorbs the spaces before <L>; rstrip those after <R>.
  EXPECT_EQ(encode(*loaded, "ab  <L>", false), (std::vector<std::int32_t>{7, 9}));
  EXPECT_EQ(encode(*loaded, "<R>  ab", false), (std::vector<std::int32_t>{10, 7}));
  // single_word: "cab" inside "acab" is not a match.
  EXPECT_EQ(encode(*loaded, "ab cab", false), (std::vector<std::int32_t>{7, 3, 11}));
  EXPECT_NE(encode(*loaded, "acab", false), (std::vector<std::int32_t>{3, 4, 11}));
  // Special tokens turned off: <L> is text, but the non-special <R> is still recognized.
  EncodeOptions plain;
  plain.add_special_tokens = false;
  plain.parse_special_tokens = false;
  auto ids = loaded->encode("<L><R>", plain);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(std::count(ids->begin(), ids->end(), 9), 0);
  EXPECT_EQ(ids->back(), 10);
}

TEST(TokenizerPipeline, UnicodeNormalizer) {
  json tokenizer = base_tokenizer();
  tokenizer["normalizer"]["normalizers"].push_back({{"type", "NFC"}});
  tokenizer["model"]["vocab"]["\u00e9"] = 9;
  auto loaded = load(tokenizer);
  ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
  // "e" + U+0301 composes to U+00E9 before BPE runs.
  EXPECT_EQ(encode(*loaded, "e\u0301", false), (std::vector<std::int32_t>{3, 9}));
}

TEST(TokenizerPipeline, MetaspaceFirstScheme) {
  json tokenizer = base_tokenizer();
  tokenizer["normalizer"] = nullptr;
  tokenizer["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "first"}, {"split", false}};
  tokenizer["decoder"] = {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "first"}};
  auto loaded = load(tokenizer);
  ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
  // Only the text at the start of the input gets "▁"; text after </s> does not.
  EXPECT_EQ(encode(*loaded, "ab</s>ab", false), (std::vector<std::int32_t>{7, 2, 6}));
  EXPECT_EQ(loaded->decode(std::vector<std::int32_t>{7, 7}), "ab ab");
}

}  // namespace
}  // namespace glimpse
