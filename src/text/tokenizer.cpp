#include "glimpse/tokenizer.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <fstream>
#include <iterator>

#include "formats/json_fields.h"
#include "glimpse/log.h"
#include "text/clean_up.h"
#include "text/file.h"
#include "text/tokenizer_data.h"
#include "text/utf8.h"

namespace glimpse {

using text::AddedToken;
using text::AddedTokenMatcher;
using text::Piece;
using text::TokenizerData;

namespace text {

void AddedTokenMatcher::build(const std::vector<AddedToken>& tokens, const std::vector<std::string>& patterns) {
  for (std::size_t i = 0; i < patterns.size(); ++i) {
    if (patterns[i].empty()) continue;
    by_pattern_.emplace(patterns[i], i);
    first_bytes_[static_cast<unsigned char>(patterns[i][0])] = true;
    if (std::find(lengths_.begin(), lengths_.end(), patterns[i].size()) == lengths_.end()) {
      lengths_.push_back(patterns[i].size());
    }
  }
  (void)tokens;
  std::sort(lengths_.rbegin(), lengths_.rend());
}

std::optional<std::pair<std::size_t, std::size_t>> AddedTokenMatcher::longest_at(std::string_view text,
                                                                                  std::size_t offset) const {
  if (!first_bytes_[static_cast<unsigned char>(text[offset])]) return std::nullopt;
  for (const std::size_t length : lengths_) {
    if (offset + length > text.size()) continue;
    const auto it = by_pattern_.find(text.substr(offset, length));
    if (it != by_pattern_.end()) return std::make_pair(static_cast<std::size_t>(it->second), length);
  }
  return std::nullopt;
}

}  // namespace text

namespace {

// A stretch of text, or an added token found in it.
struct Segment {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::optional<std::int32_t> id;
};

bool ends_with_word(const TokenizerData& data, std::string_view text) {
  if (text.empty()) return false;
  std::size_t start = text.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  return !data.word_character->find_all(text.substr(start)).empty();
}

bool starts_with_word(const TokenizerData& data, std::string_view text) {
  if (text.empty()) return false;
  const std::size_t length = std::max<std::size_t>(1, text::valid_sequence_length(text, 0));
  return !data.word_character->find_all(text.substr(0, length)).empty();
}

// Splits `text` on the added tokens of `matcher` as Hugging Face's AddedVocabulary::find_matches
// does: leftmost-longest, and a special token that `special_allowed` rejects is skipped whole.
std::vector<Segment> split_on_added_tokens(const TokenizerData& data, const AddedTokenMatcher& matcher,
                                           std::string_view text,
                                           const std::function<bool(std::size_t, std::size_t)>& special_allowed) {
  std::vector<Segment> segments;
  if (matcher.empty()) {
    if (!text.empty()) segments.push_back({0, text.size(), std::nullopt});
    return segments;
  }
  std::size_t segment_start = 0;
  std::size_t offset = 0;
  while (offset < text.size()) {
    const auto match = matcher.longest_at(text, offset);
    if (!match) {
      ++offset;
      continue;
    }
    const AddedToken& token = data.added_tokens[match->first];
    std::size_t start = offset;
    std::size_t stop = offset + match->second;
    offset = stop;
    if (token.special && !special_allowed(start, stop)) continue;
    if (token.single_word && (ends_with_word(data, text.substr(0, start)) || starts_with_word(data, text.substr(stop)))) {
      continue;
    }
    if (token.lstrip) {
      std::size_t new_start = start;
      while (new_start > segment_start) {
        std::size_t previous = new_start - 1;
        while (previous > 0 && (static_cast<unsigned char>(text[previous]) & 0xC0) == 0x80) --previous;
        std::size_t cursor = previous;
        if (!text::is_unicode_white_space(text::next_code_point(text, cursor))) break;
        new_start = previous;
      }
      start = new_start;
    }
    if (token.rstrip) {
      while (stop < text.size()) {
        std::size_t cursor = stop;
        if (!text::is_unicode_white_space(text::next_code_point(text, cursor))) break;
        stop = cursor;
      }
      offset = stop;
    }
    if (segment_start < start) segments.push_back({segment_start, start, std::nullopt});
    segments.push_back({start, stop, token.id});
    segment_start = stop;
  }
  if (segment_start < text.size()) segments.push_back({segment_start, text.size(), std::nullopt});
  return segments;
}

bool overlaps(std::span<const TextSpan> spans, std::size_t begin, std::size_t end) {
  // Spans are sorted and disjoint: find the first that ends after `begin`.
  const auto it = std::upper_bound(spans.begin(), spans.end(), begin,
                                   [](std::size_t value, const TextSpan& span) { return value < span.end; });
  return it != spans.end() && it->begin < end;
}

std::string describe_invalid_utf8(std::string_view text, std::size_t offset) {
  char byte[8];
  std::snprintf(byte, sizeof(byte), "0x%02X", static_cast<unsigned char>(text[offset]));
  return "text is not valid UTF-8: invalid sequence starting with byte " + std::string(byte) + " at byte offset " +
         std::to_string(offset) + "; convert the input to UTF-8";
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<TokenizerData> data) : data_(std::move(data)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Result<Tokenizer> Tokenizer::load_from_strings(std::string_view tokenizer_json, std::string_view tokenizer_config,
                                               const std::string& source) {
  GLIMPSE_ASSIGN_OR_RETURN(auto data, text::parse_tokenizer(tokenizer_json, source, tokenizer_config,
                                                            source + " (tokenizer_config)"));
  return Tokenizer(std::move(data));
}

Result<Tokenizer> Tokenizer::load(const std::filesystem::path& tokenizer_json,
                                  const std::optional<std::filesystem::path>& tokenizer_config) {
  GLIMPSE_ASSIGN_OR_RETURN(const std::string json_text, text::read_text_file(tokenizer_json, "tokenizer.json"));
  std::string config_text;
  if (tokenizer_config) {
    GLIMPSE_ASSIGN_OR_RETURN(config_text, text::read_text_file(*tokenizer_config, "tokenizer_config.json"));
  }
  GLIMPSE_ASSIGN_OR_RETURN(auto data, text::parse_tokenizer(json_text, tokenizer_json.string(), config_text,
                                                            tokenizer_config ? tokenizer_config->string() : ""));
  return Tokenizer(std::move(data));
}

Result<Tokenizer> Tokenizer::load_from_folder(const std::filesystem::path& folder) {
  const std::filesystem::path json_path = folder / "tokenizer.json";
  std::error_code error;
  if (!std::filesystem::is_regular_file(json_path, error)) {
    return make_error(ErrorCode::kNotFound, "'" + folder.string() + "' has no tokenizer.json; pass a Hugging Face model "
                                            "folder or the path of a tokenizer.json file");
  }
  const std::filesystem::path config_path = folder / "tokenizer_config.json";
  std::optional<std::filesystem::path> config;
  if (std::filesystem::is_regular_file(config_path, error)) config = config_path;
  GLIMPSE_ASSIGN_OR_RETURN(Tokenizer tokenizer, load(json_path, config));

  // generation_config.json may list further EOS ids (Llama-3.1 stops on three).
  const std::filesystem::path generation_path = folder / "generation_config.json";
  if (std::filesystem::is_regular_file(generation_path, error)) {
    GLIMPSE_ASSIGN_OR_RETURN(const std::string generation_text,
                             text::read_text_file(generation_path, "generation_config.json"));
    GLIMPSE_ASSIGN_OR_RETURN(const nlohmann::json generation, json_fields::parse(generation_text, generation_path.string()));
    const auto it = generation.is_object() ? generation.find("eos_token_id") : generation.end();
    if (it != generation.end() && !it->is_null()) {
      std::vector<nlohmann::json> values = it->is_array() ? std::vector<nlohmann::json>(it->begin(), it->end())
                                                          : std::vector<nlohmann::json>{*it};
      for (const nlohmann::json& value : values) {
        if (!value.is_number_integer() || !tokenizer.is_token(value.get<std::int32_t>())) {
          return make_error(ErrorCode::kInvalidFormat, generation_path.string() + ": field 'eos_token_id' contains " +
                                                           value.dump() + ", which is not a token id of the tokenizer");
        }
        const auto id = value.get<std::int32_t>();
        auto& eos = tokenizer.data_->eos_ids;
        if (std::find(eos.begin(), eos.end(), id) == eos.end()) eos.push_back(id);
      }
    }
  }
  return tokenizer;
}

Result<std::vector<std::int32_t>> Tokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  if (const auto invalid = text::find_invalid_utf8(text)) {
    return make_error(ErrorCode::kInvalidArgument, describe_invalid_utf8(text, *invalid));
  }
  const std::span<const TextSpan> literal = options.literal_spans;
  for (std::size_t i = 0; i < literal.size(); ++i) {
    const bool inside = literal[i].begin <= literal[i].end && literal[i].end <= text.size();
    const bool ordered = i == 0 || literal[i - 1].end <= literal[i].begin;
    if (!inside || !ordered) {
      return make_error(ErrorCode::kInvalidArgument, "literal span " + std::to_string(i) + " [" +
                                                         std::to_string(literal[i].begin) + ", " +
                                                         std::to_string(literal[i].end) +
                                                         ") is out of order or outside the text of " +
                                                         std::to_string(text.size()) + " bytes");
    }
  }

  const TokenizerData& data = *data_;
  std::vector<std::int32_t> ids;
  if (options.add_special_tokens) ids = data.post_template.prefix;

  const bool parse_special = options.parse_special_tokens;
  const auto raw_allowed = [&](std::size_t begin, std::size_t end) {
    return parse_special && !overlaps(literal, begin, end);
  };
  std::vector<Piece> pieces;
  for (const Segment& segment : split_on_added_tokens(data, data.raw_matcher, text, raw_allowed)) {
    if (segment.id) {
      ids.push_back(*segment.id);
      continue;
    }
    std::string normalized(text.substr(segment.begin, segment.end - segment.begin));
    if (data.normalizer) data.normalizer->normalize(normalized);

    // Offsets inside the normalized text no longer map to the input, so a normalized special
    // token is recognized only in a segment that contains no literal span at all.
    const bool segment_has_literal = overlaps(literal, segment.begin, segment.end);
    const auto normalized_allowed = [&](std::size_t, std::size_t) { return parse_special && !segment_has_literal; };
    for (const Segment& part : split_on_added_tokens(data, data.normalized_matcher, normalized, normalized_allowed)) {
      if (part.id) {
        ids.push_back(*part.id);
        continue;
      }
      pieces.clear();
      pieces.push_back({normalized.substr(part.begin, part.end - part.begin), segment.begin == 0 && part.begin == 0});
      if (data.pre_tokenizer) data.pre_tokenizer->pre_tokenize(pieces);
      for (const Piece& piece : pieces) data.model->tokenize(piece.text, ids);
    }
  }

  if (options.add_special_tokens) ids.insert(ids.end(), data.post_template.suffix.begin(), data.post_template.suffix.end());
  return ids;
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids, const DecodeOptions& options) const {
  const TokenizerData& data = *data_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const std::int32_t id : ids) {
    if (!is_token(id)) continue;
    if (options.skip_special_tokens && data.special[id]) continue;
    tokens.push_back(data.pieces[id]);
  }
  std::string out;
  if (data.decoder) {
    data.decoder->decode_chain(tokens);
    for (const std::string& token : tokens) out += token;
  } else {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) out += ' ';
      out += tokens[i];
    }
  }
  if (options.clean_up_tokenization_spaces.value_or(data.clean_up_tokenization_spaces)) {
    out = text::clean_up_tokenization(std::move(out));
  }
  return out;
}

std::optional<std::string_view> Tokenizer::token_to_piece(std::int32_t id) const {
  if (!is_token(id)) return std::nullopt;
  return std::string_view(data_->pieces[id]);
}

std::optional<std::int32_t> Tokenizer::piece_to_id(std::string_view piece) const {
  const auto added = data_->added_by_content.find(piece);
  if (added != data_->added_by_content.end()) return added->second;
  const auto it = data_->model->vocab().find(piece);
  if (it == data_->model->vocab().end()) return std::nullopt;
  return it->second;
}

std::int32_t Tokenizer::vocab_size() const { return static_cast<std::int32_t>(data_->pieces.size()); }

bool Tokenizer::is_token(std::int32_t id) const {
  return id >= 0 && static_cast<std::size_t>(id) < data_->defined.size() && data_->defined[id] != 0;
}

bool Tokenizer::is_special(std::int32_t id) const { return is_token(id) && data_->special[id] != 0; }

std::optional<std::int32_t> Tokenizer::bos_id() const { return data_->bos_id; }
const std::vector<std::int32_t>& Tokenizer::eos_ids() const { return data_->eos_ids; }
std::optional<std::int32_t> Tokenizer::pad_id() const { return data_->pad_id; }
std::optional<std::int32_t> Tokenizer::unk_id() const { return data_->unk_id; }
std::optional<std::string> Tokenizer::bos_token() const { return data_->bos_token; }
std::optional<std::string> Tokenizer::eos_token() const { return data_->eos_token; }
std::optional<std::string> Tokenizer::pad_token() const { return data_->pad_token; }
std::optional<std::string> Tokenizer::unk_token() const { return data_->unk_token; }

bool Tokenizer::cleans_up_tokenization_spaces() const { return data_->clean_up_tokenization_spaces; }

bool Tokenizer::adds_bos() const {
  const auto& prefix = data_->post_template.prefix;
  return data_->bos_id && !prefix.empty() && prefix.front() == *data_->bos_id;
}

}  // namespace glimpse
