// The BPE model of tokenizer.json: merges applied by rank to the characters of one word, with
// byte fallback and unknown-token handling as in Hugging Face's tokenizers (models/bpe).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "glimpse/status.h"

namespace glimpse::text {

// Heterogeneous lookup so that a std::string_view finds a std::string key without a copy.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};
using Vocabulary = std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>>;

struct BpeConfig {
  Vocabulary vocab;
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

class BpeModel {
 public:
  // Checks the merges against the vocabulary. `source` names tokenizer.json in errors.
  static Result<BpeModel> build(BpeConfig config, const std::string& source);

  // Appends the ids of one pre-tokenized word to `ids`.
  void tokenize(std::string_view word, std::vector<std::int32_t>& ids) const;

  const Vocabulary& vocab() const { return vocab_; }

 private:
  struct MergeTarget {
    std::uint32_t rank;
    std::int32_t id;
  };
  static std::uint64_t pair_key(std::int32_t left, std::int32_t right) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
  }
  std::optional<std::int32_t> find(std::string_view piece) const;

  Vocabulary vocab_;
  std::unordered_map<std::uint64_t, MergeTarget> merges_;
  std::optional<std::int32_t> unk_id_;
  std::string continuing_subword_prefix_;
  std::string end_of_word_suffix_;
  bool fuse_unk_ = false;
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  std::int32_t byte_ids_[256];  // id of "<0xXX>" per byte, or -1
};

}  // namespace glimpse::text
