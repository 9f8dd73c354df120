// Parsing of tokenizer.json and tokenizer_config.json into TokenizerData.
#include <algorithm>
#include <functional>
#include <set>

#include "formats/json_fields.h"
#include "glimpse/log.h"
#include "text/tokenizer_data.h"
#include "text/utf8.h"

namespace glimpse::text {
namespace {

using json_fields::Object;
using nlohmann::json;

// Token ids above this are rejected before any table is sized by them. The largest vocabularies
// in use have about 260,000 entries.
constexpr std::int64_t kMaxTokenId = (1 << 24) - 1;

Error format_error(const Object& object, std::string_view key, const std::string& what) {
  return make_error(ErrorCode::kInvalidFormat, object.source + ": field '" + object.field_name(key) + "' " + what);
}

Error unsupported_type(const Object& object, const std::string& type, std::string_view supported) {
  return make_error(ErrorCode::kUnsupported, object.source + ": " + (object.path.empty() ? "" : object.path + ".") +
                                                 "type '" + type + "' is not supported; glimpse implements " +
                                                 std::string(supported));
}

Result<std::string> get_type(const Object& object) {
  GLIMPSE_ASSIGN_OR_RETURN(std::string type, json_fields::get_string(object, "type", ""));
  if (type.empty()) return format_error(object, "type", "is missing");
  return type;
}

// The elements of an array field as Objects; a missing field is an error.
Result<std::vector<Object>> get_object_array(const Object& object, std::string_view key) {
  const auto it = object.json->find(key);
  if (it == object.json->end() || !it->is_array()) return format_error(object, key, "must be an array");
  std::vector<Object> items;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& item = (*it)[i];
    if (!item.is_object()) return format_error(object, key, "must contain objects; item " + std::to_string(i) + " is " + item.type_name());
    items.push_back(Object{&item, object.source, object.field_name(key) + "[" + std::to_string(i) + "]"});
  }
  return items;
}

Result<std::string> get_valid_string(const Object& object, std::string_view key, std::string fallback) {
  GLIMPSE_ASSIGN_OR_RETURN(std::string value, json_fields::get_string(object, key, std::move(fallback)));
  if (find_invalid_utf8(value)) return format_error(object, key, "is not valid UTF-8");
  return value;
}

// A {"String": "..."} or {"Regex": "..."} pattern.
struct Pattern {
  std::optional<std::string> literal;
  std::optional<Regex> regex;
};

Result<Pattern> get_pattern(const Object& object, std::string_view key) {
  GLIMPSE_ASSIGN_OR_RETURN(const std::optional<Object> pattern, json_fields::get_object(object, key));
  if (!pattern) return format_error(object, key, "is missing; expected {\"String\": ...} or {\"Regex\": ...}");
  Pattern result;
  if (pattern->has("String")) {
    GLIMPSE_ASSIGN_OR_RETURN(result.literal, get_valid_string(*pattern, "String", ""));
  } else if (pattern->has("Regex")) {
    GLIMPSE_ASSIGN_OR_RETURN(const std::string source, get_valid_string(*pattern, "Regex", ""));
    GLIMPSE_ASSIGN_OR_RETURN(result.regex, Regex::compile(source, object.source + ": " + object.field_name(key)));
  } else {
    return format_error(object, key, "must be {\"String\": ...} or {\"Regex\": ...}");
  }
  return result;
}

Result<char32_t> get_single_character(const Object& object, std::string_view key, std::string fallback) {
  GLIMPSE_ASSIGN_OR_RETURN(const std::string text, get_valid_string(object, key, std::move(fallback)));
  std::size_t offset = 0;
  if (text.empty() || (next_code_point(text, offset), offset != text.size())) {
    return format_error(object, key, "must be exactly one character, found '" + text + "'");
  }
  offset = 0;
  return next_code_point(text, offset);
}

Result<PrependScheme> get_prepend_scheme(const Object& object) {
  if (!object.has("prepend_scheme")) {
    // Files written before prepend_scheme existed use add_prefix_space.
    GLIMPSE_ASSIGN_OR_RETURN(const bool add_prefix_space, json_fields::get_bool(object, "add_prefix_space", true));
    return add_prefix_space ? PrependScheme::kAlways : PrependScheme::kNever;
  }
  GLIMPSE_ASSIGN_OR_RETURN(const std::string scheme, json_fields::get_string(object, "prepend_scheme", ""));
  if (scheme == "always") return PrependScheme::kAlways;
  if (scheme == "first") return PrependScheme::kFirst;
  if (scheme == "never") return PrependScheme::kNever;
  return format_error(object, "prepend_scheme", "is '" + scheme + "'; expected always, first or never");
}

Result<std::unique_ptr<Normalizer>> parse_normalizer(const Object& object) {
  GLIMPSE_ASSIGN_OR_RETURN(const std::string type, get_type(object));
  if (type == "Sequence") {
    GLIMPSE_ASSIGN_OR_RETURN(const std::vector<Object> items, get_object_array(object, "normalizers"));
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (const Object& item : items) {
      GLIMPSE_ASSIGN_OR_RETURN(auto part, parse_normalizer(item));
      parts.push_back(std::move(part));
    }
    return std::unique_ptr<Normalizer>(new SequenceNormalizer(std::move(parts)));
  }
  if (type == "Prepend") {
    GLIMPSE_ASSIGN_OR_RETURN(std::string prefix, get_valid_string(object, "prepend", ""));
    return std::unique_ptr<Normalizer>(new PrependNormalizer(std::move(prefix)));
  }
  if (type == "Replace") {
    GLIMPSE_ASSIGN_OR_RETURN(Pattern pattern, get_pattern(object, "pattern"));
    GLIMPSE_ASSIGN_OR_RETURN(std::string content, get_valid_string(object, "content", ""));
    if (pattern.regex) return std::unique_ptr<Normalizer>(new ReplaceNormalizer(std::move(*pattern.regex), std::move(content)));
    return std::unique_ptr<Normalizer>(new ReplaceNormalizer(std::move(*pattern.literal), std::move(content)));
  }
  if (type == "Strip") {
    GLIMPSE_ASSIGN_OR_RETURN(const bool left, json_fields::get_bool(object, "strip_left", true));
    GLIMPSE_ASSIGN_OR_RETURN(const bool right, json_fields::get_bool(object, "strip_right", true));
    return std::unique_ptr<Normalizer>(new StripNormalizer(left, right));
  }
  if (type == "NFC") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(UnicodeForm::kNfc));
  if (type == "NFD") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(UnicodeForm::kNfd));
  if (type == "NFKC") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(UnicodeForm::kNfkc));
  if (type == "NFKD") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(UnicodeForm::kNfkd));
  return unsupported_type(object, type, "the normalizers Sequence, Prepend, Replace, Strip, NFC, NFD, NFKC and NFKD");
}

Result<SplitBehavior> get_split_behavior(const Object& object) {
  GLIMPSE_ASSIGN_OR_RETURN(const std::string behavior, json_fields::get_string(object, "behavior", ""));
  if (behavior == "Removed") return SplitBehavior::kRemoved;
  if (behavior == "Isolated") return SplitBehavior::kIsolated;
  if (behavior == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (behavior == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (behavior == "Contiguous") return SplitBehavior::kContiguous;
  return format_error(object, "behavior",
                      "is '" + behavior + "'; expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous");
}

Result<std::unique_ptr<PreTokenizer>> parse_pre_tokenizer(const Object& object) {
  GLIMPSE_ASSIGN_OR_RETURN(const std::string type, get_type(object));
  const std::string where = object.source + ": " + object.path;
  if (type == "Sequence") {
    GLIMPSE_ASSIGN_OR_RETURN(const std::vector<Object> items, get_object_array(object, "pretokenizers"));
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (const Object& item : items) {
      GLIMPSE_ASSIGN_OR_RETURN(auto part, parse_pre_tokenizer(item));
      parts.push_back(std::move(part));
    }
    return std::unique_ptr<PreTokenizer>(new SequencePreTokenizer(std::move(parts)));
  }
  if (type == "Split") {
    GLIMPSE_ASSIGN_OR_RETURN(Pattern pattern, get_pattern(object, "pattern"));
    GLIMPSE_ASSIGN_OR_RETURN(const SplitBehavior behavior, get_split_behavior(object));
    GLIMPSE_ASSIGN_OR_RETURN(const bool invert, json_fields::get_bool(object, "invert", false));
    if (!pattern.regex) {
      GLIMPSE_ASSIGN_OR_RETURN(pattern.regex, Regex::compile_literal(*pattern.literal, where));
    }
    return std::unique_ptr<PreTokenizer>(new SplitPreTokenizer(std::move(*pattern.regex), behavior, invert));
  }
  if (type == "ByteLevel") {
    GLIMPSE_ASSIGN_OR_RETURN(const bool add_prefix_space, json_fields::get_bool(object, "add_prefix_space", true));
    GLIMPSE_ASSIGN_OR_RETURN(const bool use_regex, json_fields::get_bool(object, "use_regex", true));
    std::optional<Regex> regex;
    if (use_regex) {
      GLIMPSE_ASSIGN_OR_RETURN(regex, Regex::compile(kGpt2Pattern, where));
    }
    return std::unique_ptr<PreTokenizer>(new ByteLevelPreTokenizer(add_prefix_space, std::move(regex)));
  }
  if (type == "Metaspace") {
    GLIMPSE_ASSIGN_OR_RETURN(const char32_t replacement, get_single_character(object, "replacement", "\u2581"));
    GLIMPSE_ASSIGN_OR_RETURN(const PrependScheme scheme, get_prepend_scheme(object));
    GLIMPSE_ASSIGN_OR_RETURN(const bool split, json_fields::get_bool(object, "split", true));
    std::string text;
    append_utf8(text, replacement);
    return std::unique_ptr<PreTokenizer>(new MetaspacePreTokenizer(std::move(text), scheme, split));
  }
  if (type == "Digits") {
    GLIMPSE_ASSIGN_OR_RETURN(const bool individual, json_fields::get_bool(object, "individual_digits", false));
    GLIMPSE_ASSIGN_OR_RETURN(Regex regex, Regex::compile(individual ? "\\p{N}" : "\\p{N}+", where));
    return std::unique_ptr<PreTokenizer>(new SplitPreTokenizer(std::move(regex), SplitBehavior::kIsolated, false));
  }
  if (type == "WhitespaceSplit") {
    GLIMPSE_ASSIGN_OR_RETURN(Regex regex, Regex::compile("\\s+", where));
    return std::unique_ptr<PreTokenizer>(new SplitPreTokenizer(std::move(regex), SplitBehavior::kRemoved, false));
  }
  return unsupported_type(object, type,
                          "the pre-tokenizers Sequence, Split, ByteLevel, Metaspace, Digits and WhitespaceSplit");
}

Result<std::unique_ptr<Decoder>> parse_decoder(const Object& object) {
  GLIMPSE_ASSIGN_OR_RETURN(const std::string type, get_type(object));
  if (type == "Sequence") {
    GLIMPSE_ASSIGN_OR_RETURN(const std::vector<Object> items, get_object_array(object, "decoders"));
    std::vector<std::unique_ptr<Decoder>> parts;
    for (const Object& item : items) {
      GLIMPSE_ASSIGN_OR_RETURN(auto part, parse_decoder(item));
      parts.push_back(std::move(part));
    }
    return std::unique_ptr<Decoder>(new SequenceDecoder(std::move(parts)));
  }
  if (type == "Replace") {
    GLIMPSE_ASSIGN_OR_RETURN(Pattern pattern, get_pattern(object, "pattern"));
    GLIMPSE_ASSIGN_OR_RETURN(std::string content, get_valid_string(object, "content", ""));
    if (pattern.regex) return std::unique_ptr<Decoder>(new ReplaceDecoder(std::move(*pattern.regex), std::move(content)));
    return std::unique_ptr<Decoder>(new ReplaceDecoder(std::move(*pattern.literal), std::move(content)));
  }
  if (type == "ByteFallback") return std::unique_ptr<Decoder>(new ByteFallbackDecoder());
  if (type == "Fuse") return std::unique_ptr<Decoder>(new FuseDecoder());
  if (type == "Strip") {
    GLIMPSE_ASSIGN_OR_RETURN(const char32_t content, get_single_character(object, "content", " "));
    GLIMPSE_ASSIGN_OR_RETURN(const std::int64_t start, json_fields::get_int(object, "start", 0));
    GLIMPSE_ASSIGN_OR_RETURN(const std::int64_t stop, json_fields::get_int(object, "stop", 0));
    if (start < 0 || stop < 0) return format_error(object, "start", "and 'stop' must not be negative");
    return std::unique_ptr<Decoder>(
        new StripDecoder(content, static_cast<std::size_t>(start), static_cast<std::size_t>(stop)));
  }
  if (type == "ByteLevel") return std::unique_ptr<Decoder>(new ByteLevelDecoder());
  if (type == "Metaspace") {
    GLIMPSE_ASSIGN_OR_RETURN(const char32_t replacement, get_single_character(object, "replacement", "\u2581"));
    GLIMPSE_ASSIGN_OR_RETURN(const PrependScheme scheme, get_prepend_scheme(object));
    std::string text;
    append_utf8(text, replacement);
    return std::unique_ptr<Decoder>(new MetaspaceDecoder(std::move(text), scheme));
  }
  return unsupported_type(object, type,
                          "the decoders Sequence, Replace, ByteFallback, Fuse, Strip, ByteLevel and Metaspace");
}

// Reads the single-sequence template of a post-processor. `id_of` resolves token strings.
Result<PostTemplate> parse_post_processor(const Object& object,
                                          const std::function<std::optional<std::int32_t>(const std::string&)>& id_of) {
  GLIMPSE_ASSIGN_OR_RETURN(const std::string type, get_type(object));
  PostTemplate result;
  if (type == "ByteLevel") return result;  // only adjusts offsets, which glimpse does not report
  if (type == "Sequence") {
    GLIMPSE_ASSIGN_OR_RETURN(const std::vector<Object> items, get_object_array(object, "processors"));
    for (const Object& item : items) {
      GLIMPSE_ASSIGN_OR_RETURN(const PostTemplate part, parse_post_processor(item, id_of));
      // Each processor wraps the output of the previous one.
      result.prefix.insert(result.prefix.begin(), part.prefix.begin(), part.prefix.end());
      result.suffix.insert(result.suffix.end(), part.suffix.begin(), part.suffix.end());
    }
    return result;
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    // "cls": ["[CLS]", 101], "sep": ["[SEP]", 102]
    for (const char* key : {"cls", "sep"}) {
      const auto it = object.json->find(key);
      if (it == object.json->end() || !it->is_array() || it->size() != 2 || !(*it)[1].is_number_integer()) {
        return format_error(object, key, "must be [token, id]");
      }
      const std::int64_t id = (*it)[1].get<std::int64_t>();
      if (id < 0 || id > kMaxTokenId) return format_error(object, key, "has an invalid id " + std::to_string(id));
      (std::string_view(key) == "cls" ? result.prefix : result.suffix).push_back(static_cast<std::int32_t>(id));
    }
    return result;
  }
  if (type != "TemplateProcessing") {
    return unsupported_type(object, type,
                            "the post-processors TemplateProcessing, ByteLevel, Sequence, BertProcessing and "
                            "RobertaProcessing");
  }

  GLIMPSE_ASSIGN_OR_RETURN(const std::optional<Object> special_tokens, json_fields::get_object(object, "special_tokens"));
  const auto it = object.json->find("single");
  if (it == object.json->end() || !it->is_array()) return format_error(object, "single", "must be an array");
  bool seen_sequence = false;
  for (std::size_t i = 0; i < it->size(); ++i) {
    const json& item = (*it)[i];
    const Object piece{&item, object.source, object.field_name("single") + "[" + std::to_string(i) + "]"};
    if (!item.is_object()) return format_error(object, "single", "must contain objects");
    if (item.contains("Sequence")) {
      if (seen_sequence) return format_error(object, "single", "names the sequence twice");
      seen_sequence = true;
      continue;
    }
    GLIMPSE_ASSIGN_OR_RETURN(const std::optional<Object> special, json_fields::get_object(piece, "SpecialToken"));
    if (!special) return format_error(piece, "SpecialToken", "is missing; expected SpecialToken or Sequence");
    GLIMPSE_ASSIGN_OR_RETURN(const std::string name, get_valid_string(*special, "id", ""));
    std::vector<std::int32_t> ids;
    std::optional<Object> entry;
    if (special_tokens) {
      GLIMPSE_ASSIGN_OR_RETURN(entry, json_fields::get_object(*special_tokens, name));
    }
    if (entry) {
      const auto ids_it = entry->json->find("ids");
      if (ids_it == entry->json->end() || !ids_it->is_array()) return format_error(*entry, "ids", "must be an array");
      for (const json& id : *ids_it) {
        if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() > kMaxTokenId) {
          return format_error(*entry, "ids", "must contain token ids, found " + id.dump());
        }
        ids.push_back(static_cast<std::int32_t>(id.get<std::int64_t>()));
      }
    } else if (const auto id = id_of(name)) {
      ids.push_back(*id);
    } else {
      return format_error(*special, "id", "names '" + name + "', which is neither in special_tokens nor a token");
    }
    (seen_sequence ? result.suffix : result.prefix).insert((seen_sequence ? result.suffix : result.prefix).end(),
                                                           ids.begin(), ids.end());
  }
  if (!seen_sequence) return format_error(object, "single", "has no Sequence entry");
  return result;
}

Result<std::int32_t> get_token_id(const Object& object, std::string_view key, const json& value) {
  if (!value.is_number_integer() || value.get<std::int64_t>() < 0 || value.get<std::int64_t>() > kMaxTokenId) {
    return format_error(object, key, "must be a token id between 0 and " + std::to_string(kMaxTokenId) + ", found " +
                                         value.dump().substr(0, 40));
  }
  return static_cast<std::int32_t>(value.get<std::int64_t>());
}

Result<BpeModel> parse_model(const Object& object) {
  std::string type;
  if (object.has("type")) {
    GLIMPSE_ASSIGN_OR_RETURN(type, json_fields::get_string(object, "type", ""));
  } else if (object.has("merges")) {
    type = "BPE";  // Hugging Face recognizes an untyped model by its fields
  }
  if (type == "WordPiece" || type == "WordLevel" || type == "Unigram") {
    return unsupported_type(object, type, "the BPE model only");
  }
  if (type != "BPE") {
    return format_error(object, "type", "is '" + type + "'; expected BPE (or WordPiece, WordLevel, Unigram, which glimpse does not implement)");
  }

  GLIMPSE_ASSIGN_OR_RETURN(const double dropout, json_fields::get_number(object, "dropout", 0.0));
  if (dropout != 0.0) {
    return make_error(ErrorCode::kUnsupported, object.source + ": model.dropout is " + std::to_string(dropout) +
                                                   "; BPE dropout randomizes encoding and is for training only, set it to null");
  }

  BpeConfig config;
  const auto vocab_it = object.json->find("vocab");
  if (vocab_it == object.json->end() || !vocab_it->is_object()) {
    return format_error(object, "vocab", "is missing or not an object of token -> id");
  }
  config.vocab.reserve(vocab_it->size());
  std::vector<const std::string*> by_id;
  for (const auto& [token, value] : vocab_it->items()) {
    GLIMPSE_ASSIGN_OR_RETURN(const std::int32_t id, get_token_id(object, "vocab." + token, value));
    if (find_invalid_utf8(token)) return format_error(object, "vocab", "has a token that is not valid UTF-8");
    if (static_cast<std::size_t>(id) >= by_id.size()) by_id.resize(static_cast<std::size_t>(id) + 1, nullptr);
    if (by_id[id] != nullptr) {
      return format_error(object, "vocab", "gives id " + std::to_string(id) + " to both '" + *by_id[id] + "' and '" +
                                               token + "'; every id must name one token");
    }
    const auto inserted = config.vocab.emplace(token, id);
    by_id[id] = &inserted.first->first;
  }

  const auto merges_it = object.json->find("merges");
  if (merges_it == object.json->end() || !merges_it->is_array()) {
    return format_error(object, "merges", "is missing or not an array; a BPE model needs its merges");
  }
  config.merges.reserve(merges_it->size());
  for (std::size_t i = 0; i < merges_it->size(); ++i) {
    const json& merge = (*merges_it)[i];
    const std::string where = "merges[" + std::to_string(i) + "]";
    if (merge.is_string()) {
      const std::string line = merge.get<std::string>();
      if (line.rfind("#version", 0) == 0) continue;
      const std::size_t space = line.find(' ');
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos) {
        return format_error(object, where, "is '" + line + "'; expected two tokens separated by one space");
      }
      config.merges.emplace_back(line.substr(0, space), line.substr(space + 1));
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      config.merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
    } else {
      return format_error(object, where, "must be \"a b\" or [\"a\", \"b\"], found " + merge.dump().substr(0, 60));
    }
  }

  if (object.has("unk_token")) {
    GLIMPSE_ASSIGN_OR_RETURN(config.unk_token, json_fields::get_string(object, "unk_token", ""));
  }
  GLIMPSE_ASSIGN_OR_RETURN(config.continuing_subword_prefix, get_valid_string(object, "continuing_subword_prefix", ""));
  GLIMPSE_ASSIGN_OR_RETURN(config.end_of_word_suffix, get_valid_string(object, "end_of_word_suffix", ""));
  GLIMPSE_ASSIGN_OR_RETURN(config.fuse_unk, json_fields::get_bool(object, "fuse_unk", false));
  GLIMPSE_ASSIGN_OR_RETURN(config.byte_fallback, json_fields::get_bool(object, "byte_fallback", false));
  GLIMPSE_ASSIGN_OR_RETURN(config.ignore_merges, json_fields::get_bool(object, "ignore_merges", false));
  return BpeModel::build(std::move(config), object.source);
}

Result<AddedToken> parse_added_token(const Object& object, std::int32_t id) {
  AddedToken token;
  token.id = id;
  GLIMPSE_ASSIGN_OR_RETURN(token.content, get_valid_string(object, "content", ""));
  if (token.content.empty()) return format_error(object, "content", "is empty; an added token needs text");
  GLIMPSE_ASSIGN_OR_RETURN(token.special, json_fields::get_bool(object, "special", false));
  // Hugging Face's default: special tokens match the raw text, others the normalized text.
  GLIMPSE_ASSIGN_OR_RETURN(token.normalized, json_fields::get_bool(object, "normalized", !token.special));
  GLIMPSE_ASSIGN_OR_RETURN(token.lstrip, json_fields::get_bool(object, "lstrip", false));
  GLIMPSE_ASSIGN_OR_RETURN(token.rstrip, json_fields::get_bool(object, "rstrip", false));
  GLIMPSE_ASSIGN_OR_RETURN(token.single_word, json_fields::get_bool(object, "single_word", false));
  return token;
}

// Records `content` as the token of `id`, rejecting an id or string already used otherwise.
Status define_token(TokenizerData& data, std::int32_t id, const std::string& content, const std::string& where) {
  if (static_cast<std::size_t>(id) >= data.pieces.size()) {
    data.pieces.resize(static_cast<std::size_t>(id) + 1);
    data.defined.resize(static_cast<std::size_t>(id) + 1, 0);
    data.special.resize(static_cast<std::size_t>(id) + 1, 0);
  }
  if (data.defined[id] && data.pieces[id] != content) {
    return make_error(ErrorCode::kInvalidFormat, where + " gives id " + std::to_string(id) + " to '" + content +
                                                     "', but it already names '" + data.pieces[id] + "'");
  }
  data.pieces[id] = content;
  data.defined[id] = 1;
  return {};
}

// Reads a special-token setting of tokenizer_config.json: a string, {"content": ...} or null.
Result<std::optional<std::string>> get_config_token(const Object& config, std::string_view key) {
  const auto it = config.json->find(key);
  if (it == config.json->end() || it->is_null()) return std::optional<std::string>();
  if (it->is_string()) return std::optional<std::string>(it->get<std::string>());
  if (it->is_object()) {
    const Object entry{&*it, config.source, config.field_name(key)};
    GLIMPSE_ASSIGN_OR_RETURN(std::string content, get_valid_string(entry, "content", ""));
    return std::optional<std::string>(std::move(content));
  }
  return format_error(config, key, "must be a string, an object with \"content\" or null");
}

Status apply_config(TokenizerData& data, const json& config_json, const std::string& config_source,
                    std::vector<AddedToken>& added) {
  if (!config_json.is_object()) {
    return make_error(ErrorCode::kInvalidFormat, config_source + ": expected a JSON object at the top level");
  }
  const Object config{&config_json, config_source, ""};

  // Tokens listed only in the config are added, as transformers adds them at load time.
  GLIMPSE_ASSIGN_OR_RETURN(const std::optional<Object> decoder_tokens, json_fields::get_object(config, "added_tokens_decoder"));
  if (decoder_tokens) {
    for (const auto& [key, value] : decoder_tokens->json->items()) {
      std::size_t used = 0;
      std::int64_t id = -1;
      try {
        id = std::stoll(key, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != key.size() || id < 0 || id > kMaxTokenId || !value.is_object()) {
        return format_error(*decoder_tokens, key, "must map a token id to a token object");
      }
      GLIMPSE_ASSIGN_OR_RETURN(AddedToken token,
                               parse_added_token(Object{&value, config_source, decoder_tokens->field_name(key)},
                                                 static_cast<std::int32_t>(id)));
      const bool known = std::any_of(added.begin(), added.end(), [&](const AddedToken& t) { return t.id == token.id; });
      if (!known) {
        GLIMPSE_RETURN_IF_ERROR(define_token(data, token.id, token.content, config_source + ": added_tokens_decoder"));
        added.push_back(std::move(token));
      }
    }
  }

  GLIMPSE_ASSIGN_OR_RETURN(data.bos_token, get_config_token(config, "bos_token"));
  GLIMPSE_ASSIGN_OR_RETURN(data.eos_token, get_config_token(config, "eos_token"));
  GLIMPSE_ASSIGN_OR_RETURN(data.pad_token, get_config_token(config, "pad_token"));
  GLIMPSE_ASSIGN_OR_RETURN(data.unk_token, get_config_token(config, "unk_token"));
  GLIMPSE_ASSIGN_OR_RETURN(data.clean_up_tokenization_spaces,
                           json_fields::get_bool(config, "clean_up_tokenization_spaces", false));

  GLIMPSE_ASSIGN_OR_RETURN(const std::string tokenizer_class, json_fields::get_string(config, "tokenizer_class", ""));
  static const std::set<std::string> kLlamaClasses = {"LlamaTokenizer",        "LlamaTokenizerFast",
                                                      "CodeLlamaTokenizer",    "CodeLlamaTokenizerFast",
                                                      "GemmaTokenizer",        "GemmaTokenizerFast"};
  if (kLlamaClasses.count(tokenizer_class) != 0) {
    GLIMPSE_ASSIGN_OR_RETURN(const bool add_bos, json_fields::get_bool(config, "add_bos_token", true));
    GLIMPSE_ASSIGN_OR_RETURN(const bool add_eos, json_fields::get_bool(config, "add_eos_token", false));
    PostTemplate rebuilt;
    const auto lookup = [&](const std::optional<std::string>& token, std::string_view key) -> Result<std::int32_t> {
      if (!token) return format_error(config, key, "is missing, but add_" + std::string(key) + " is true");
      const auto it = std::find_if(added.begin(), added.end(), [&](const AddedToken& t) { return t.content == *token; });
      if (it != added.end()) return it->id;
      if (data.model) {
        const auto vocab_it = data.model->vocab().find(*token);
        if (vocab_it != data.model->vocab().end()) return vocab_it->second;
      }
      return format_error(config, key, "is '" + *token + "', which is not a token of the tokenizer");
    };
    if (add_bos) {
      GLIMPSE_ASSIGN_OR_RETURN(const std::int32_t id, lookup(data.bos_token, "bos_token"));
      rebuilt.prefix.push_back(id);
    }
    if (add_eos) {
      GLIMPSE_ASSIGN_OR_RETURN(const std::int32_t id, lookup(data.eos_token, "eos_token"));
      rebuilt.suffix.push_back(id);
    }
    data.post_template = std::move(rebuilt);
  }
  return {};
}

Result<std::unique_ptr<TokenizerData>> parse_files(std::string_view tokenizer_json, const std::string& json_source,
                                                   std::string_view config_text, const std::string& config_source) {
  GLIMPSE_ASSIGN_OR_RETURN(const json root, json_fields::parse(tokenizer_json, json_source));
  if (!root.is_object()) return make_error(ErrorCode::kInvalidFormat, json_source + ": expected a JSON object at the top level");
  const Object top{&root, json_source, ""};
  auto data = std::make_unique<TokenizerData>();
  data->source = json_source;

  GLIMPSE_ASSIGN_OR_RETURN(const std::optional<Object> model, json_fields::get_object(top, "model"));
  if (!model) return make_error(ErrorCode::kInvalidFormat, json_source + ": field 'model' is missing; this is not a tokenizer.json file");
  GLIMPSE_ASSIGN_OR_RETURN(BpeModel bpe, parse_model(*model));
  data->model = std::move(bpe);
  for (const auto& [token, id] : data->model->vocab()) {
    GLIMPSE_RETURN_IF_ERROR(define_token(*data, id, token, json_source + ": model.vocab"));
  }

  // Added tokens: an id already in the vocabulary must carry the same string.
  std::vector<AddedToken> added;
  if (top.has("added_tokens")) {
    GLIMPSE_ASSIGN_OR_RETURN(const std::vector<Object> items, get_object_array(top, "added_tokens"));
    for (const Object& item : items) {
      const auto id_it = item.json->find("id");
      if (id_it == item.json->end()) return format_error(item, "id", "is missing");
      GLIMPSE_ASSIGN_OR_RETURN(const std::int32_t id, get_token_id(item, "id", *id_it));
      GLIMPSE_ASSIGN_OR_RETURN(AddedToken token, parse_added_token(item, id));
      for (const AddedToken& other : added) {
        if (other.content == token.content && other.id != token.id) {
          return format_error(item, "content", "'" + token.content + "' is already added with id " + std::to_string(other.id));
        }
      }
      const auto vocab_it = data->model->vocab().find(token.content);
      if (vocab_it != data->model->vocab().end() && vocab_it->second != token.id) {
        return format_error(item, "id", "is " + std::to_string(token.id) + ", but model.vocab gives '" + token.content +
                                            "' id " + std::to_string(vocab_it->second));
      }
      GLIMPSE_RETURN_IF_ERROR(define_token(*data, token.id, token.content, item.source + ": " + item.path));
      added.push_back(std::move(token));
    }
  }

  GLIMPSE_ASSIGN_OR_RETURN(const std::optional<Object> normalizer, json_fields::get_object(top, "normalizer"));
  if (normalizer) {
    GLIMPSE_ASSIGN_OR_RETURN(data->normalizer, parse_normalizer(*normalizer));
  }
  GLIMPSE_ASSIGN_OR_RETURN(const std::optional<Object> pre_tokenizer, json_fields::get_object(top, "pre_tokenizer"));
  if (pre_tokenizer) {
    GLIMPSE_ASSIGN_OR_RETURN(data->pre_tokenizer, parse_pre_tokenizer(*pre_tokenizer));
  }
  GLIMPSE_ASSIGN_OR_RETURN(const std::optional<Object> decoder, json_fields::get_object(top, "decoder"));
  if (decoder) {
    GLIMPSE_ASSIGN_OR_RETURN(data->decoder, parse_decoder(*decoder));
  }
  const auto id_of = [&](const std::string& token) -> std::optional<std::int32_t> {
    for (const AddedToken& t : added) {
      if (t.content == token) return t.id;
    }
    const auto it = data->model->vocab().find(token);
    if (it == data->model->vocab().end()) return std::nullopt;
    return it->second;
  };
  GLIMPSE_ASSIGN_OR_RETURN(const std::optional<Object> post_processor, json_fields::get_object(top, "post_processor"));
  if (post_processor) {
    GLIMPSE_ASSIGN_OR_RETURN(data->post_template, parse_post_processor(*post_processor, id_of));
  }

  if (!config_text.empty()) {
    GLIMPSE_ASSIGN_OR_RETURN(const json config, json_fields::parse(config_text, config_source));
    GLIMPSE_RETURN_IF_ERROR(apply_config(*data, config, config_source, added));
  }

  // Every id the post-processor adds must be a token.
  for (const auto* ids : {&data->post_template.prefix, &data->post_template.suffix}) {
    for (const std::int32_t id : *ids) {
      if (static_cast<std::size_t>(id) >= data->defined.size() || !data->defined[id]) {
        return make_error(ErrorCode::kInvalidFormat, json_source + ": post_processor adds id " + std::to_string(id) +
                                                         ", which names no token");
      }
    }
  }

  std::vector<std::string> raw_patterns;
  std::vector<std::string> normalized_patterns;
  std::vector<AddedToken> raw_tokens;
  std::vector<AddedToken> normalized_tokens;
  for (const AddedToken& token : added) {
    data->added_by_content.emplace(token.content, token.id);
    if (token.special) data->special[token.id] = 1;
    if (token.normalized) {
      std::string pattern = token.content;
      if (data->normalizer) data->normalizer->normalize(pattern);
      normalized_tokens.push_back(token);
      normalized_patterns.push_back(std::move(pattern));
    } else {
      raw_tokens.push_back(token);
      raw_patterns.push_back(token.content);
    }
  }
  data->added_tokens = raw_tokens;
  data->added_tokens.insert(data->added_tokens.end(), normalized_tokens.begin(), normalized_tokens.end());
  data->raw_matcher.build(raw_tokens, raw_patterns);
  // The normalized matcher's indices continue after the raw tokens in added_tokens.
  std::vector<AddedToken> offset_tokens(raw_tokens.size());
  offset_tokens.insert(offset_tokens.end(), normalized_tokens.begin(), normalized_tokens.end());
  std::vector<std::string> offset_patterns(raw_tokens.size());
  offset_patterns.insert(offset_patterns.end(), normalized_patterns.begin(), normalized_patterns.end());
  data->normalized_matcher.build(offset_tokens, offset_patterns);
  GLIMPSE_ASSIGN_OR_RETURN(data->word_character, Regex::compile("\\w", json_source));

  const auto resolve = [&](const std::optional<std::string>& token, const char* name) -> std::optional<std::int32_t> {
    if (!token) return std::nullopt;
    if (const auto id = id_of(*token)) return id;
    log_message(LogLevel::kWarning, config_source + ": " + name + " '" + *token +
                                        "' is not a token of " + json_source + "; it is ignored");
    return std::nullopt;
  };
  data->bos_id = resolve(data->bos_token, "bos_token");
  data->pad_id = resolve(data->pad_token, "pad_token");
  data->unk_id = resolve(data->unk_token, "unk_token");
  if (const auto eos = resolve(data->eos_token, "eos_token")) data->eos_ids.push_back(*eos);
  return data;
}

}  // namespace

Result<std::unique_ptr<TokenizerData>> parse_tokenizer(std::string_view tokenizer_json, const std::string& json_source,
                                                       std::string_view config_text, const std::string& config_source) {
  // The checks above return errors for every malformed field; this catches what they missed
  // (such as running out of memory) so that no exception leaves the library.
  try {
    return parse_files(tokenizer_json, json_source, config_text, config_source);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal, json_source + ": failed to load the tokenizer: " + e.what());
  }
}

}  // namespace glimpse::text
