// The stages of a tokenizer.json pipeline, one class per Hugging Face component type. The parser
// in tokenizer_json.cpp builds them; tokenizer.cpp runs them in Hugging Face's order: split on
// added tokens, normalize each remaining segment, pre-tokenize it into words, run the model on
// each word, then post-process the ids. Decoding runs the decoder chain on token strings.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "text/regex.h"

namespace glimpse::text {

// A piece of text between pipeline stages.
struct Piece {
  std::string text;
  // True when the piece begins at byte 0 of the caller's text. Metaspace's prepend_scheme
  // "first" adds its "▁" only to such a piece, so text after an added token gets none.
  bool at_input_start = false;
};

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& text) const = 0;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces `pieces` by their finer split; empty pieces are dropped.
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Transforms the list of token strings; the caller concatenates the result.
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// The single-sequence part of a post-processor: ids placed before and after the encoded text.
struct PostTemplate {
  std::vector<std::int32_t> prefix;
  std::vector<std::int32_t> suffix;
};

// The treatment of a split pattern's matches (Hugging Face's
// SplitDelimiterBehavior).
enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

// Splits `text` into pieces given the matches of a pattern. `matches` contains byte ranges
// in order; the gaps between them are the non-matching parts.
std::vector<std::string> split_by_matches(const std::string& text,
                                          const std::vector<std::pair<std::size_t, std::size_t>>& matches,
                                          SplitBehavior behavior, bool invert);

// ---- normalizers ----

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(std::string& text) const override;

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override;

 private:
  std::string prefix_;
};

// Replace with a literal pattern ({"String": ...}) or a regular expression ({"Regex": ...}).
class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(std::string literal, std::string content) : literal_(std::move(literal)), content_(std::move(content)) {}
  ReplaceNormalizer(Regex regex, std::string content) : regex_(std::move(regex)), content_(std::move(content)) {}
  void normalize(std::string& text) const override;

 private:
  std::string literal_;
  std::optional<Regex> regex_;
  std::string content_;
};

// Removes Unicode white space at the start and/or end.
class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override;

 private:
  bool left_;
  bool right_;
};

enum class UnicodeForm { kNfc, kNfd, kNfkc, kNfkd };

// Unicode normalization through ICU.
class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(UnicodeForm form) : form_(form) {}
  void normalize(std::string& text) const override;

 private:
  UnicodeForm form_;
};

// ---- pre-tokenizers ----

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override;

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

// Split, and the fixed-pattern pre-tokenizers Digits and WhitespaceSplit expressed through it.
class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(Regex regex, SplitBehavior behavior, bool invert)
      : regex_(std::move(regex)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override;

 private:
  Regex regex_;
  SplitBehavior behavior_;
  bool invert_;
};

// Maps every byte to the printable character GPT-2 assigned to it, after optionally adding a
// leading space and splitting with the GPT-2 pattern.
class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, std::optional<Regex> gpt2_regex)
      : add_prefix_space_(add_prefix_space), regex_(std::move(gpt2_regex)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override;

 private:
  bool add_prefix_space_;
  std::optional<Regex> regex_;
};

enum class PrependScheme { kAlways, kFirst, kNever };

class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override;

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

// ---- decoders ----

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override;

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(std::string literal, std::string content) : literal_(std::move(literal)), content_(std::move(content)) {}
  ReplaceDecoder(Regex regex, std::string content) : regex_(std::move(regex)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override;

 private:
  std::string literal_;
  std::optional<Regex> regex_;
  std::string content_;
};

// Turns runs of "<0xXX>" tokens into the text of their bytes.
class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override;
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override;
};

// Removes up to `start` leading and `stop` trailing copies of one character from every token.
class StripDecoder final : public Decoder {
 public:
  StripDecoder(char32_t content, std::size_t start, std::size_t stop) : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override;

 private:
  char32_t content_;
  std::size_t start_;
  std::size_t stop_;
};

class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override;
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, PrependScheme scheme) : replacement_(std::move(replacement)), scheme_(scheme) {}
  void decode_chain(std::vector<std::string>& tokens) const override;

 private:
  std::string replacement_;
  PrependScheme scheme_;
};

// The GPT-2 byte-to-character table of the byte-level stages, as UTF-8 strings.
const std::string& byte_level_char(unsigned char byte);

// The GPT-2 pre-tokenization pattern that ByteLevel uses when use_regex is set.
inline constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

}  // namespace glimpse::text
