#include "text/pipeline.h"

#include <algorithm>
#include <array>
#include <functional>

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include "glimpse/log.h"
#include "text/utf8.h"

namespace glimpse::text {
namespace {

void replace_literal(std::string& text, const std::string& pattern, const std::string& content) {
  if (pattern.empty() || text.find(pattern) == std::string::npos) return;
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  std::size_t previous = 0;
  while (true) {
    const std::size_t found = text.find(pattern, previous);
    if (found == std::string::npos) break;
    out.append(text, previous, found - previous);
    out.append(content);
    previous = found + pattern.size();
  }
  out.append(text, previous, std::string::npos);
  text = std::move(out);
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

// Parses the two characters of "<0xXX>" the way Rust's u8::from_str_radix(_, 16) does, which
// also accepts a leading '+'.
std::optional<unsigned char> parse_byte_token(const std::string& token) {
  if (token.size() != 6 || token.compare(0, 3, "<0x") != 0 || token[5] != '>') return std::nullopt;
  const auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  const char first = token[3];
  const char second = token[4];
  if (first == '+') {
    const int value = digit(second);
    if (value < 0) return std::nullopt;
    return static_cast<unsigned char>(value);
  }
  const int high = digit(first);
  const int low = digit(second);
  if (high < 0 || low < 0) return std::nullopt;
  return static_cast<unsigned char>(high * 16 + low);
}

std::array<std::string, 256> make_byte_level_table() {
  std::array<std::string, 256> table;
  std::array<bool, 256> printable{};
  for (int b = '!'; b <= '~'; ++b) printable[b] = true;
  for (int b = 0xA1; b <= 0xAC; ++b) printable[b] = true;
  for (int b = 0xAE; b <= 0xFF; ++b) printable[b] = true;
  char32_t next_unprintable = 256;
  for (int b = 0; b < 256; ++b) {
    const char32_t c = printable[b] ? static_cast<char32_t>(b) : next_unprintable++;
    append_utf8(table[b], c);
  }
  return table;
}

const std::array<std::string, 256>& byte_level_table() {
  static const std::array<std::string, 256> table = make_byte_level_table();
  return table;
}

// The inverse of the byte-level table, indexed by code point (all are below 0x144).
std::optional<unsigned char> byte_level_byte(char32_t c) {
  static const auto inverse = [] {
    std::array<int, 512> table;
    table.fill(-1);
    for (int b = 0; b < 256; ++b) {
      std::size_t offset = 0;
      const char32_t code_point = next_code_point(byte_level_table()[b], offset);
      table[code_point] = b;
    }
    return table;
  }();
  if (c >= inverse.size() || inverse[c] < 0) return std::nullopt;
  return static_cast<unsigned char>(inverse[c]);
}

}  // namespace

const std::string& byte_level_char(unsigned char byte) { return byte_level_table()[byte]; }

std::vector<std::string> split_by_matches(const std::string& text,
                                          const std::vector<std::pair<std::size_t, std::size_t>>& matches,
                                          SplitBehavior behavior, bool invert) {
  struct Range {
    std::size_t begin;
    std::size_t end;
    bool is_match;
  };
  // Every byte of the text belongs to exactly one range, a match or a gap.
  std::vector<Range> ranges;
  std::size_t previous = 0;
  for (const auto& [start, end] : matches) {
    if (previous != start) ranges.push_back({previous, start, false});
    ranges.push_back({start, end, true});
    previous = end;
  }
  if (previous != text.size()) ranges.push_back({previous, text.size(), false});
  if (invert) {
    for (Range& range : ranges) range.is_match = !range.is_match;
  }

  std::vector<Range> merged;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      merged = ranges;
      break;
    case SplitBehavior::kRemoved:
      for (const Range& range : ranges) {
        if (!range.is_match) merged.push_back(range);
      }
      break;
    case SplitBehavior::kContiguous: {
      bool previous_match = false;
      for (const Range& range : ranges) {
        if (!merged.empty() && range.is_match == previous_match) {
          merged.back().end = range.end;
        } else {
          merged.push_back(range);
        }
        previous_match = range.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithPrevious: {
      bool previous_match = false;
      for (const Range& range : ranges) {
        if (range.is_match && !previous_match && !merged.empty()) {
          merged.back().end = range.end;
        } else {
          merged.push_back(range);
        }
        previous_match = range.is_match;
      }
      break;
    }
    case SplitBehavior::kMergedWithNext: {
      // Walk backwards so that each match joins the range after it.
      bool previous_match = false;
      for (auto it = ranges.rbegin(); it != ranges.rend(); ++it) {
        if (it->is_match && !previous_match && !merged.empty()) {
          merged.back().begin = it->begin;
        } else {
          merged.push_back(*it);
        }
        previous_match = it->is_match;
      }
      std::reverse(merged.begin(), merged.end());
      break;
    }
  }

  std::vector<std::string> pieces;
  pieces.reserve(merged.size());
  for (const Range& range : merged) {
    if (range.end > range.begin) pieces.push_back(text.substr(range.begin, range.end - range.begin));
  }
  return pieces;
}

// ---- normalizers ----

void SequenceNormalizer::normalize(std::string& text) const {
  for (const auto& part : parts_) part->normalize(text);
}

void PrependNormalizer::normalize(std::string& text) const {
  if (!text.empty()) text.insert(0, prefix_);
}

void ReplaceNormalizer::normalize(std::string& text) const {
  if (regex_) {
    text = regex_->replace_all(text, content_);
  } else {
    replace_literal(text, literal_, content_);
  }
}

void StripNormalizer::normalize(std::string& text) const {
  std::size_t begin = 0;
  std::size_t end = text.size();
  if (left_) {
    while (begin < end) {
      std::size_t next = begin;
      if (!is_unicode_white_space(next_code_point(text, next))) break;
      begin = next;
    }
  }
  if (right_) {
    while (end > begin) {
      std::size_t start = end - 1;
      while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
      std::size_t next = start;
      if (!is_unicode_white_space(next_code_point(text, next))) break;
      end = start;
    }
  }
  text = text.substr(begin, end - begin);
}

void UnicodeNormalizer::normalize(std::string& text) const {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = nullptr;
  switch (form_) {
    case UnicodeForm::kNfc:
      normalizer = icu::Normalizer2::getNFCInstance(status);
      break;
    case UnicodeForm::kNfd:
      normalizer = icu::Normalizer2::getNFDInstance(status);
      break;
    case UnicodeForm::kNfkc:
      normalizer = icu::Normalizer2::getNFKCInstance(status);
      break;
    case UnicodeForm::kNfkd:
      normalizer = icu::Normalizer2::getNFKDInstance(status);
      break;
  }
  // ICU's normalization data is built into the library, so looking it up fails only with a
  // broken ICU installation. The text then stays as it is and the failure is logged.
  if (U_FAILURE(status) || normalizer == nullptr) {
    log_message(LogLevel::kError, std::string("ICU Unicode normalization is unavailable: ") + u_errorName(status));
    return;
  }
  const icu::UnicodeString input =
      icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  if (normalizer->isNormalized(input, status) && U_SUCCESS(status)) return;
  status = U_ZERO_ERROR;
  const icu::UnicodeString output = normalizer->normalize(input, status);
  if (U_FAILURE(status)) {
    log_message(LogLevel::kError, std::string("ICU Unicode normalization failed: ") + u_errorName(status));
    return;
  }
  text.clear();
  output.toUTF8String(text);
}

// ---- pre-tokenizers ----

void SequencePreTokenizer::pre_tokenize(std::vector<Piece>& pieces) const {
  for (const auto& part : parts_) part->pre_tokenize(pieces);
}

namespace {

// Replaces each piece by its parts; only the first part of a piece keeps at_input_start.
void replace_with_parts(std::vector<Piece>& pieces, const std::function<std::vector<std::string>(const Piece&)>& split) {
  std::vector<Piece> out;
  out.reserve(pieces.size());
  for (const Piece& piece : pieces) {
    bool first = true;
    for (std::string& part : split(piece)) {
      if (part.empty()) continue;
      out.push_back({std::move(part), piece.at_input_start && first});
      first = false;
    }
  }
  pieces = std::move(out);
}

}  // namespace

void SplitPreTokenizer::pre_tokenize(std::vector<Piece>& pieces) const {
  replace_with_parts(pieces, [&](const Piece& piece) {
    return split_by_matches(piece.text, regex_.find_all(piece.text), behavior_, invert_);
  });
}

void ByteLevelPreTokenizer::pre_tokenize(std::vector<Piece>& pieces) const {
  replace_with_parts(pieces, [&](const Piece& piece) {
    std::string text = piece.text;
    if (add_prefix_space_ && (text.empty() || text[0] != ' ')) text.insert(0, " ");
    std::vector<std::string> parts;
    if (regex_) {
      parts = split_by_matches(text, regex_->find_all(text), SplitBehavior::kIsolated, false);
    } else {
      parts.push_back(std::move(text));
    }
    for (std::string& part : parts) {
      std::string mapped;
      mapped.reserve(part.size() * 2);
      for (const char c : part) mapped += byte_level_char(static_cast<unsigned char>(c));
      part = std::move(mapped);
    }
    return parts;
  });
}

void MetaspacePreTokenizer::pre_tokenize(std::vector<Piece>& pieces) const {
  replace_with_parts(pieces, [&](const Piece& piece) {
    std::string text = piece.text;
    replace_literal(text, " ", replacement_);
    const bool prepend = scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && piece.at_input_start);
    if (prepend && !starts_with(text, replacement_)) text.insert(0, replacement_);
    if (!split_) return std::vector<std::string>{std::move(text)};
    std::vector<std::pair<std::size_t, std::size_t>> matches;
    for (std::size_t found = text.find(replacement_); found != std::string::npos;
         found = text.find(replacement_, found + replacement_.size())) {
      matches.emplace_back(found, found + replacement_.size());
    }
    return split_by_matches(text, matches, SplitBehavior::kMergedWithNext, false);
  });
}

// ---- decoders ----

void SequenceDecoder::decode_chain(std::vector<std::string>& tokens) const {
  for (const auto& part : parts_) part->decode_chain(tokens);
}

void ReplaceDecoder::decode_chain(std::vector<std::string>& tokens) const {
  for (std::string& token : tokens) {
    if (regex_) {
      token = regex_->replace_all(token, content_);
    } else {
      replace_literal(token, literal_, content_);
    }
  }
}

void ByteFallbackDecoder::decode_chain(std::vector<std::string>& tokens) const {
  std::vector<std::string> out;
  out.reserve(tokens.size());
  std::string run;  // bytes of consecutive byte tokens
  std::size_t run_tokens = 0;
  const auto flush_run = [&] {
    if (run_tokens == 0) return;
    // Rust's ByteFallback keeps a valid run as text and otherwise emits one U+FFFD per byte token.
    if (!find_invalid_utf8(run)) {
      out.push_back(run);
    } else {
      for (std::size_t i = 0; i < run_tokens; ++i) out.emplace_back(kReplacementCharacter);
    }
    run.clear();
    run_tokens = 0;
  };
  for (std::string& token : tokens) {
    if (const auto byte = parse_byte_token(token)) {
      run += static_cast<char>(*byte);
      ++run_tokens;
      continue;
    }
    flush_run();
    out.push_back(std::move(token));
  }
  flush_run();
  tokens = std::move(out);
}

void FuseDecoder::decode_chain(std::vector<std::string>& tokens) const {
  std::string fused;
  for (const std::string& token : tokens) fused += token;
  tokens.assign(1, std::move(fused));
}

void StripDecoder::decode_chain(std::vector<std::string>& tokens) const {
  for (std::string& token : tokens) {
    std::vector<std::size_t> starts;  // byte offset of each code point, then the end
    std::vector<char32_t> chars;
    for (std::size_t offset = 0; offset < token.size();) {
      starts.push_back(offset);
      chars.push_back(next_code_point(token, offset));
    }
    starts.push_back(token.size());
    std::size_t start_cut = 0;
    for (std::size_t i = 0; i < start_ && i < chars.size(); ++i) {
      if (chars[i] != content_) break;
      start_cut = i + 1;
    }
    std::size_t stop_cut = chars.size();
    for (std::size_t i = 0; i < stop_ && i < chars.size(); ++i) {
      const std::size_t index = chars.size() - i - 1;
      if (chars[index] != content_) break;
      stop_cut = index;
    }
    if (stop_cut < start_cut) stop_cut = start_cut;
    token = token.substr(starts[start_cut], starts[stop_cut] - starts[start_cut]);
  }
}

void ByteLevelDecoder::decode_chain(std::vector<std::string>& tokens) const {
  std::string bytes;
  for (const std::string& token : tokens) {
    // A token with a character outside the byte-level alphabet (an added token written in plain
    // text) contributes its UTF-8 bytes unchanged, as in Hugging Face's decoder.
    std::string mapped;
    bool all_mapped = true;
    for (std::size_t offset = 0; offset < token.size();) {
      const auto byte = byte_level_byte(next_code_point(token, offset));
      if (!byte) {
        all_mapped = false;
        break;
      }
      mapped += static_cast<char>(*byte);
    }
    bytes += all_mapped ? mapped : token;
  }
  tokens.assign(1, utf8_lossy(bytes));
}

void MetaspaceDecoder::decode_chain(std::vector<std::string>& tokens) const {
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    // Hugging Face drops every replacement character of the first token, not only a leading one.
    const bool drop = i == 0 && scheme_ != PrependScheme::kNever;
    std::string out;
    const std::string& token = tokens[i];
    for (std::size_t offset = 0; offset < token.size();) {
      if (!replacement_.empty() && token.compare(offset, replacement_.size(), replacement_) == 0) {
        if (!drop) out += ' ';
        offset += replacement_.size();
        continue;
      }
      out += token[offset++];
    }
    tokens[i] = std::move(out);
  }
}

}  // namespace glimpse::text
