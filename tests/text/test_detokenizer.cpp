// Streaming detokenization: the concatenated stream equals a full decode, characters split across
// byte-fallback tokens are released whole, and stop strings never reach the output.
#include <gtest/gtest.h>

#include <random>

#include "glimpse/detokenizer.h"
#include "support/test_support.h"

namespace glimpse {
namespace {

Tokenizer load_llava() {
  auto tokenizer = Tokenizer::load_from_folder(testing::test_data_dir() / "tiny-llava" / "model-f16");
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.error().to_string();
  return std::move(tokenizer).value();
}

std::vector<std::int32_t> encode_plain(const Tokenizer& tokenizer, const std::string& text) {
  EncodeOptions options;
  options.add_special_tokens = false;
  auto ids = tokenizer.encode(text, options);
  EXPECT_TRUE(ids.ok());
  return std::move(ids).value();
}

// Pushes every id and returns the pieces released by each push, then by flush.
std::vector<std::string> stream(StreamingDetokenizer& detokenizer, const std::vector<std::int32_t>& ids) {
  std::vector<std::string> pieces;
  for (const std::int32_t id : ids) pieces.push_back(detokenizer.push(id));
  pieces.push_back(detokenizer.flush());
  return pieces;
}

bool is_valid_utf8(const std::string& text) {
  // Round-trips through the tokenizer's own check: encode rejects invalid UTF-8.
  static const Tokenizer tokenizer = load_llava();
  return tokenizer.encode(text).ok();
}

std::string join(const std::vector<std::string>& pieces) {
  std::string out;
  for (const std::string& piece : pieces) out += piece;
  return out;
}

TEST(StreamingDetokenizer, MatchesFullDecode) {
  const Tokenizer tokenizer = load_llava();
  const std::string texts[] = {
      "Hello world! This is a test.",
      "  leading spaces and\nnew lines\n\n",
      "Décris l'image — 画像の説明 😀👍🏽 𓀀",  // byte-fallback characters
      "\xF0\x9F\x98\x80",
  };
  for (const std::string& text : texts) {
    SCOPED_TRACE(text);
    std::vector<std::int32_t> ids = encode_plain(tokenizer, text);
    ids.push_back(2);  // </s>, skipped
    auto detokenizer = StreamingDetokenizer::create(tokenizer);
    ASSERT_TRUE(detokenizer.ok());
    const std::vector<std::string> pieces = stream(*detokenizer, ids);
    DecodeOptions skip;
    skip.skip_special_tokens = true;
    EXPECT_EQ(join(pieces), tokenizer.decode(ids, skip));
    EXPECT_EQ(detokenizer->text(), join(pieces));
  }
}

TEST(StreamingDetokenizer, ReleasesWholeCharacters) {
  const Tokenizer tokenizer = load_llava();
  // U+1F600 is not in the LLaMA vocabulary: four byte tokens <0xF0> <0x9F> <0x98> <0x80>.
  const std::vector<std::int32_t> ids = {0xF0 + 3, 0x9F + 3, 0x98 + 3, 0x80 + 3};
  auto detokenizer = StreamingDetokenizer::create(tokenizer);
  ASSERT_TRUE(detokenizer.ok());
  EXPECT_EQ(detokenizer->push(ids[0]), "");
  EXPECT_EQ(detokenizer->push(ids[1]), "");
  EXPECT_EQ(detokenizer->push(ids[2]), "");
  EXPECT_EQ(detokenizer->push(ids[3]), "\xF0\x9F\x98\x80");
  EXPECT_EQ(detokenizer->flush(), "");
}

TEST(StreamingDetokenizer, FlushReleasesIncompleteCharacter) {
  const Tokenizer tokenizer = load_llava();
  auto detokenizer = StreamingDetokenizer::create(tokenizer);
  ASSERT_TRUE(detokenizer.ok());
  EXPECT_EQ(detokenizer->push(0xF0 + 3), "");
  EXPECT_EQ(detokenizer->push(0x9F + 3), "");
  // Hugging Face's ByteFallback writes one U+FFFD per byte of an invalid run.
  EXPECT_EQ(detokenizer->flush(), "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(StreamingDetokenizer, LeadingSpaceAsFullDecode) {
  const Tokenizer tokenizer = load_llava();
  const std::vector<std::int32_t> ids = encode_plain(tokenizer, "The cat sat");  // ▁The ▁cat ▁sat
  auto detokenizer = StreamingDetokenizer::create(tokenizer);
  ASSERT_TRUE(detokenizer.ok());
  EXPECT_EQ(detokenizer->push(ids[0]), "The");
  EXPECT_EQ(detokenizer->push(ids[1]), " cat");
  EXPECT_EQ(detokenizer->push(ids[2]), " sat");
}

TEST(StreamingDetokenizer, StopStringAcrossTokens) {
  const Tokenizer tokenizer = load_llava();
  const std::vector<std::int32_t> ids = encode_plain(tokenizer, "Sure thing.\nUSER: next question");
  DetokenizerOptions options;
  options.stop_strings = {"\nUSER:", "never"};
  auto detokenizer = StreamingDetokenizer::create(tokenizer, options);
  ASSERT_TRUE(detokenizer.ok());
  std::string released;
  for (const std::int32_t id : ids) {
    const std::string piece = detokenizer->push(id);
    EXPECT_EQ(piece.find('\n'), std::string::npos) << "released part of the stop string: " << piece;
    released += piece;
  }
  released += detokenizer->flush();
  EXPECT_EQ(released, "Sure thing.");
  EXPECT_TRUE(detokenizer->stopped());
  EXPECT_EQ(detokenizer->stop_index(), 0u);
  EXPECT_EQ(detokenizer->push(ids[0]), "");
}

TEST(StreamingDetokenizer, PartialStopStringReleasedAtFlush) {
  const Tokenizer tokenizer = load_llava();
  const std::vector<std::int32_t> ids = encode_plain(tokenizer, "Answer\nUS");
  DetokenizerOptions options;
  options.stop_strings = {"\nUSER:"};
  auto detokenizer = StreamingDetokenizer::create(tokenizer, options);
  ASSERT_TRUE(detokenizer.ok());
  std::string released;
  for (const std::int32_t id : ids) released += detokenizer->push(id);
  EXPECT_EQ(released, "Answer");
  EXPECT_EQ(detokenizer->flush(), "\nUS");
  EXPECT_FALSE(detokenizer->stopped());
}

TEST(StreamingDetokenizer, IgnoresIdsWithoutToken) {
  const Tokenizer tokenizer = load_llava();
  auto detokenizer = StreamingDetokenizer::create(tokenizer);
  ASSERT_TRUE(detokenizer.ok());
  EXPECT_EQ(detokenizer->push(32005), "");  // a padding row of the 32064-row LLaVA-1.5 head
  EXPECT_EQ(detokenizer->push(-1), "");
  EXPECT_EQ(detokenizer->push(15043), "Hello");  // ▁Hello
}

TEST(StreamingDetokenizer, RejectsBadStopStrings) {
  const Tokenizer tokenizer = load_llava();
  DetokenizerOptions empty;
  empty.stop_strings = {""};
  EXPECT_FALSE(StreamingDetokenizer::create(tokenizer, empty).ok());
  DetokenizerOptions invalid;
  invalid.stop_strings = {"\xFF"};
  EXPECT_FALSE(StreamingDetokenizer::create(tokenizer, invalid).ok());
}

// Random id sequences, byte tokens included: the stream equals the full decode whenever that
// decode is valid text. A run of byte tokens that turns out invalid only after some of its bytes
// were released (0x48 'H', then 0xC3) decodes to U+FFFD per byte as a whole, while the stream
// has already released 'H'; such sequences are only checked to stay valid UTF-8.
TEST(StreamingDetokenizer, RandomSequencesMatchDecode) {
  const Tokenizer tokenizer = load_llava();
  std::mt19937 random(20240611);
  // Ordinary pieces (ids above the 256 byte tokens 3-258), and characters outside the vocabulary
  // spelled as byte tokens, the way the model emits them.
  std::uniform_int_distribution<std::int32_t> piece_id(259, 32063);
  std::uniform_int_distribution<std::uint32_t> code_point(0x80, 0x1FFFF);
  DecodeOptions skip;
  skip.skip_special_tokens = true;
  int compared = 0;
  for (int round = 0; round < 300; ++round) {
    std::vector<std::int32_t> ids;
    for (int i = 0; i < 24; ++i) {
      if (random() % 3 != 0) {
        ids.push_back(piece_id(random));
        continue;
      }
      std::uint32_t c = code_point(random);
      if (c >= 0xD800 && c <= 0xDFFF) c = 0xE9;
      unsigned char bytes[4];
      int n = 0;
      if (c < 0x800) {
        bytes[n++] = static_cast<unsigned char>(0xC0 | (c >> 6));
      } else if (c < 0x10000) {
        bytes[n++] = static_cast<unsigned char>(0xE0 | (c >> 12));
        bytes[n++] = static_cast<unsigned char>(0x80 | ((c >> 6) & 0x3F));
      } else {
        bytes[n++] = static_cast<unsigned char>(0xF0 | (c >> 18));
        bytes[n++] = static_cast<unsigned char>(0x80 | ((c >> 12) & 0x3F));
        bytes[n++] = static_cast<unsigned char>(0x80 | ((c >> 6) & 0x3F));
      }
      bytes[n++] = static_cast<unsigned char>(0x80 | (c & 0x3F));
      for (int k = 0; k < n; ++k) ids.push_back(bytes[k] + 3);
    }
    // Now and then a stray byte, which makes the run invalid.
    if (round % 10 == 0) ids.insert(ids.begin() + static_cast<std::ptrdiff_t>(random() % ids.size()), 0xC3 + 3);
    auto detokenizer = StreamingDetokenizer::create(tokenizer);
    ASSERT_TRUE(detokenizer.ok());
    const std::string streamed = join(stream(*detokenizer, ids));
    const std::string decoded = tokenizer.decode(ids, skip);
    if (decoded.find("\xEF\xBF\xBD") == std::string::npos) {
      ASSERT_EQ(streamed, decoded) << "round " << round;
      ++compared;
    } else {
      ASSERT_TRUE(is_valid_utf8(streamed)) << "round " << round;
    }
  }
  EXPECT_GT(compared, 200);
}

TEST(StreamingDetokenizer, CleanUpAcrossTokens) {
  const std::filesystem::path shared = testing::shared_fixtures_dir() / "tokenizer" / "llama3_1";
  if (const std::string missing = testing::missing_fixture_message(shared); !missing.empty()) FAIL() << missing;
  auto tokenizer = Tokenizer::load(shared / "tokenizer.json", shared / "tokenizer_config.json");
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.error().to_string();
  ASSERT_TRUE(tokenizer->cleans_up_tokenization_spaces());
  const std::vector<std::int32_t> ids = encode_plain(*tokenizer, "Hello , world . It is n't done ?");
  auto detokenizer = StreamingDetokenizer::create(*tokenizer);
  ASSERT_TRUE(detokenizer.ok());
  EXPECT_EQ(join(stream(*detokenizer, ids)), "Hello, world. It isn't done?");
  EXPECT_EQ(tokenizer->decode(ids), "Hello, world. It isn't done?");
}

}  // namespace
}  // namespace glimpse
