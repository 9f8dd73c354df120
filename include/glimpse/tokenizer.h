// Hugging Face tokenizer.json tokenizers: encode text to token ids and decode ids to text with the
// semantics of Hugging Face's `tokenizers` library (Rust, version 0.22) and of transformers'
// fast tokenizers on top of it.
//
// Supported pipeline parts (anything else is rejected at load time with kUnsupported):
//   model           BPE (merges as "a b" strings or ["a", "b"] pairs; byte_fallback, unk_token,
//                   fuse_unk, ignore_merges, continuing_subword_prefix, end_of_word_suffix)
//   normalizer      Sequence, Prepend, Replace, Strip, NFC, NFD, NFKC, NFKD
//   pre_tokenizer   Sequence, Split, ByteLevel, Metaspace, Digits, WhitespaceSplit
//   post_processor  TemplateProcessing, ByteLevel, Sequence, BertProcessing, RobertaProcessing
//   decoder         Sequence, Replace, ByteFallback, Fuse, Strip, ByteLevel, Metaspace
// This covers the SentencePiece-style BPE tokenizers of LLaMA-2, Vicuna and Mistral and the
// byte-level BPE tokenizers of Llama-3 and Qwen2. Regular expressions run on PCRE2 with Unicode
// properties; Hugging Face uses Oniguruma, and the two can differ on rare Unicode classes.
//
// tokenizer.json alone defines encoding, as in Hugging Face's library; the `legacy` flag of
// tokenizer_config.json changes nothing. tokenizer_config.json supplies the BOS, EOS, PAD and UNK
// token strings, `clean_up_tokenization_spaces` for decode, added tokens missing from
// tokenizer.json (`added_tokens_decoder`), and for LLaMA-class tokenizers `add_bos_token` and
// `add_eos_token` (see Tokenizer::load).
//
// A Tokenizer is immutable after loading; every method is const and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "glimpse/status.h"

namespace glimpse {

namespace text {
struct TokenizerData;
}

// A byte range [begin, end) of a text.
struct TextSpan {
  std::size_t begin = 0;
  std::size_t end = 0;
};

struct EncodeOptions {
  // Applies the post-processor's template, which adds BOS (and EOS where the model wants it).
  bool add_special_tokens = true;
  // Recognizes the strings of special added tokens ("<s>", "</s>", "<image>") in the text, as
  // Hugging Face does by default. When false, those strings are tokenized as ordinary text, as
  // with transformers' `split_special_tokens=True`; added tokens that are not special are still
  // recognized.
  bool parse_special_tokens = true;
  // Byte ranges of the text in which special-token strings are always ordinary text, even when
  // parse_special_tokens is set. Chat prompts use them to keep a user's "<image>" or "</s>" from
  // becoming control tokens while the template's own control tokens are recognized. The spans
  // must be sorted, must not overlap and must lie inside the text.
  std::span<const TextSpan> literal_spans;
};

struct DecodeOptions {
  // Drops special added tokens (BOS, EOS, "<image>", padding) before decoding.
  bool skip_special_tokens = false;
  // Rewrites " ." to "." and similar after decoding, as transformers does. Unset: the value of
  // `clean_up_tokenization_spaces` in tokenizer_config.json (false when there is none).
  std::optional<bool> clean_up_tokenization_spaces;
};

class Tokenizer {
 public:
  // Loads tokenizer.json and, when given, tokenizer_config.json. Errors name the file and the
  // field. When the config's `tokenizer_class` is LlamaTokenizer, LlamaTokenizerFast,
  // CodeLlamaTokenizer(Fast) or GemmaTokenizer(Fast), the post-processor becomes
  // "[BOS] $A [EOS]", each special token present only when `add_bos_token` (default true) or
  // `add_eos_token` (default false) is set, because transformers' fast classes of those names
  // rebuild the post-processor that way. Other classes keep tokenizer.json's post-processor.
  static Result<Tokenizer> load(const std::filesystem::path& tokenizer_json,
                                const std::optional<std::filesystem::path>& tokenizer_config = std::nullopt);
  // Loads `folder`/tokenizer.json and, when present, `folder`/tokenizer_config.json. EOS ids also
  // come from `folder`/generation_config.json (`eos_token_id`, a number or a list) when present.
  static Result<Tokenizer> load_from_folder(const std::filesystem::path& folder);
  // Loads from JSON text already in memory. `source` names the input in error messages.
  static Result<Tokenizer> load_from_strings(std::string_view tokenizer_json, std::string_view tokenizer_config,
                                             const std::string& source);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Encodes `text` to token ids. Fails with kInvalidArgument when `text` is not valid UTF-8 (the
  // message gives the byte offset) or when literal_spans are malformed; it never substitutes
  // characters.
  Result<std::vector<std::int32_t>> encode(std::string_view text, const EncodeOptions& options = {}) const;

  // Decodes ids to text as transformers' decode does: ids that name no token (negative, or at or
  // above vocab_size(), or a gap in the vocabulary) are dropped, as Hugging Face's Rust decoder
  // drops them. Invalid UTF-8 from byte-fallback tokens becomes U+FFFD, one per byte token of
  // the invalid run (SentencePiece-style decoders) or one per maximal invalid subsequence
  // (byte-level decoder), following the Rust library.
  std::string decode(std::span<const std::int32_t> ids, const DecodeOptions& options = {}) const;

  // The vocabulary string of `id` ("▁Hello", "<0x0A>", "Ġworld", "<s>"), or nullopt when `id`
  // names no token.
  std::optional<std::string_view> token_to_piece(std::int32_t id) const;
  // The id of a vocabulary or added-token string, or nullopt.
  std::optional<std::int32_t> piece_to_id(std::string_view piece) const;

  // One more than the largest token id, added tokens included: 32002 for LLaVA-1.5, whose
  // language model pads its embedding table to 32064 rows.
  std::int32_t vocab_size() const;
  // True when `id` names a token that the tokenizer can produce or decode. Ids of a model's
  // padding rows (32002-32063 for LLaVA-1.5) and gaps in the vocabulary give false.
  bool is_token(std::int32_t id) const;
  // True when `id` is a special added token (BOS, EOS, "<image>", padding).
  bool is_special(std::int32_t id) const;

  std::optional<std::int32_t> bos_id() const;
  // EOS ids: tokenizer_config.json's eos_token, then generation_config.json's eos_token_id
  // values, without repeats. Empty when neither names one.
  const std::vector<std::int32_t>& eos_ids() const;
  std::optional<std::int32_t> pad_id() const;
  std::optional<std::int32_t> unk_id() const;
  // The strings of the special tokens named by tokenizer_config.json, for chat templates.
  std::optional<std::string> bos_token() const;
  std::optional<std::string> eos_token() const;
  std::optional<std::string> pad_token() const;
  std::optional<std::string> unk_token() const;

  // Whether the BOS token leads the post-processor's single-sequence template, that is, whether
  // encode with add_special_tokens starts with bos_id().
  bool adds_bos() const;
  // The `clean_up_tokenization_spaces` setting of tokenizer_config.json, decode's default.
  bool cleans_up_tokenization_spaces() const;

 private:
  explicit Tokenizer(std::unique_ptr<text::TokenizerData> data);
  std::unique_ptr<text::TokenizerData> data_;
};

}  // namespace glimpse
