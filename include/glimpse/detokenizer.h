// Streaming detokenization of generated ids: text is released only at UTF-8 character boundaries,
// and stop strings are found across token boundaries without ever being released.
//
// The text released by push() and flush() together equals Tokenizer::decode of all pushed ids
// with the same skip_special_tokens, cut before the first stop string. An incomplete character
// still pending at flush() comes out as U+FFFD, as in decode. When the tokenizer cleans up
// tokenization spaces (Llama-3), a space that may start a clean-up pattern (" ." or " n't") is
// held back until the next text decides.
//
// NOTE: one case differs from decode. Hugging Face's ByteFallback turns a whole run of byte
// tokens into one U+FFFD per byte when the run is invalid UTF-8, so a byte that completed a valid
// character (0x48 'H') and was released can later join an invalid run (0x48 0xC3) in a full
// decode. The stream keeps what it released. Only invalid byte sequences reach this.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "glimpse/status.h"
#include "glimpse/tokenizer.h"

namespace glimpse {

struct DetokenizerOptions {
  // Drops BOS, EOS and other special tokens from the text, as a chat response shows it.
  bool skip_special_tokens = true;
  // Strings that end the response. Each must be non-empty valid UTF-8. The text before the
  // first occurrence is released and the stop string itself never is.
  std::vector<std::string> stop_strings;
};

class StreamingDetokenizer {
 public:
  // `tokenizer` must outlive the detokenizer. Fails on an empty or invalid stop string.
  static Result<StreamingDetokenizer> create(const Tokenizer& tokenizer, DetokenizerOptions options = {});

  // Adds one generated id and returns the text that became final, possibly empty. Ids that name
  // no token decode to nothing, as in Tokenizer::decode. After a stop string was found, push
  // returns "" and ignores the id.
  std::string push(std::int32_t id);

  // Releases everything still held back (an incomplete character, a partial stop string) at the
  // end of generation. The detokenizer is finished afterwards: push returns "".
  std::string flush();

  // True once a stop string was found.
  bool stopped() const { return stop_index_.has_value(); }
  // The index into DetokenizerOptions::stop_strings of the stop string found, if any.
  std::optional<std::size_t> stop_index() const { return stop_index_; }
  // All text released so far.
  const std::string& text() const { return released_; }

 private:
  StreamingDetokenizer(const Tokenizer& tokenizer, DetokenizerOptions options)
      : tokenizer_(&tokenizer), options_(std::move(options)) {}
  std::string decode_window() const;
  // Moves decoded text through the clean-up and stop-string stages and returns what may be
  // released. `final` releases everything held back.
  std::string release(std::string decoded, bool final);
  std::string clean_up(std::string decoded, bool final);

  const Tokenizer* tokenizer_;
  DetokenizerOptions options_;
  // Ids not yet fully released, after `n_context_` ids kept for context: the decoder needs the
  // previous token to place a SentencePiece leading space as a full decode does.
  std::vector<std::int32_t> window_;
  std::size_t n_context_ = 0;
  std::string context_text_;  // decode of the first n_context_ ids of the window
  std::string cleanup_held_;  // decoded text held back as a possible start of a clean-up pattern
  std::string held_;          // cleaned text held back as a possible start of a stop string
  std::string released_;
  std::optional<std::size_t> stop_index_;
  bool finished_ = false;
};

}  // namespace glimpse
