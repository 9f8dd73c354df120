// The loaded state of a Tokenizer, shared by tokenizer.cpp (encode and decode) and
// tokenizer_json.cpp (parsing).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "text/bpe.h"
#include "text/pipeline.h"

namespace glimpse::text {

// An entry of tokenizer.json's "added_tokens" (or tokenizer_config.json's added_tokens_decoder).
struct AddedToken {
  std::int32_t id = 0;
  std::string content;
  bool special = false;
  bool normalized = false;  // matched in the normalized text instead of the raw text
  bool lstrip = false;      // absorbs white space on its left
  bool rstrip = false;      // absorbs white space on its right
  bool single_word = false; // matches only when not inside a word
};

// Leftmost-longest matching of added-token strings, as Hugging Face's AddedVocabulary does with
// an Aho-Corasick automaton.
class AddedTokenMatcher {
 public:
  void build(const std::vector<AddedToken>& tokens, const std::vector<std::string>& patterns);
  bool empty() const { return by_pattern_.empty(); }
  // The index into the token list of the longest pattern starting at `offset`, and its length.
  std::optional<std::pair<std::size_t, std::size_t>> longest_at(std::string_view text, std::size_t offset) const;

 private:
  Vocabulary by_pattern_;                // pattern -> token index
  std::vector<std::size_t> lengths_;     // distinct pattern lengths, longest first
  bool first_bytes_[256] = {};
};

struct TokenizerData {
  std::string source;  // the tokenizer.json path, for messages

  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::optional<BpeModel> model;
  std::unique_ptr<Decoder> decoder;
  PostTemplate post_template;

  std::vector<AddedToken> added_tokens;
  AddedTokenMatcher raw_matcher;         // tokens with normalized = false
  AddedTokenMatcher normalized_matcher;  // tokens with normalized = true, by normalized content
  std::optional<Regex> word_character;   // \w, for single_word tokens

  // Indexed by id: the token string, and whether the id is a token and a special one.
  std::vector<std::string> pieces;
  std::vector<std::uint8_t> defined;
  std::vector<std::uint8_t> special;
  Vocabulary added_by_content;

  std::optional<std::string> bos_token, eos_token, pad_token, unk_token;
  std::optional<std::int32_t> bos_id, pad_id, unk_id;
  std::vector<std::int32_t> eos_ids;
  bool clean_up_tokenization_spaces = false;
};

// Parses tokenizer.json (and tokenizer_config.json when `config_text` is not empty) into `data`.
Result<std::unique_ptr<TokenizerData>> parse_tokenizer(std::string_view tokenizer_json, const std::string& json_source,
                                                       std::string_view config_text, const std::string& config_source);

}  // namespace glimpse::text
