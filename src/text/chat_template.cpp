#include "glimpse/chat_template.h"

#include <chrono>

#include "formats/json_fields.h"
#include "text/file.h"
#include "text/jinja/template.h"
#include "text/utf8.h"

namespace glimpse {

using text::jinja::Dict;
using text::jinja::List;
using text::jinja::MarkedString;
using text::jinja::Value;

std::string_view chat_role_name(ChatRole role) {
  switch (role) {
    case ChatRole::kSystem: return "system";
    case ChatRole::kUser: return "user";
    case ChatRole::kAssistant: return "assistant";
  }
  return "user";
}

ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;
ChatTemplate::~ChatTemplate() = default;

Result<ChatTemplate> ChatTemplate::parse(std::string_view source, std::string origin) {
  if (const auto invalid = text::find_invalid_utf8(source)) {
    return make_error(ErrorCode::kInvalidFormat, origin + ": the template is not valid UTF-8 at byte " + std::to_string(*invalid));
  }
  GLIMPSE_ASSIGN_OR_RETURN(text::jinja::Template parsed, text::jinja::Template::parse(source, origin));
  ChatTemplate result;
  result.template_ = std::make_unique<text::jinja::Template>(std::move(parsed));
  result.origin_ = std::move(origin);
  return result;
}

namespace {

// The "chat_template" field of a JSON file: a string, or named templates of which "default" is used.
Result<std::string> template_from_json(const std::filesystem::path& path) {
  GLIMPSE_ASSIGN_OR_RETURN(const std::string content, text::read_text_file(path, path.filename().string()));
  GLIMPSE_ASSIGN_OR_RETURN(const nlohmann::json json, json_fields::parse(content, path.string()));
  const auto it = json.is_object() ? json.find("chat_template") : json.end();
  if (it == json.end() || it->is_null()) return std::string();
  if (it->is_string()) return it->get<std::string>();
  if (it->is_array()) {
    std::string names;
    for (const nlohmann::json& entry : *it) {
      if (!entry.is_object() || !entry.contains("name") || !entry.contains("template") || !entry["name"].is_string() ||
          !entry["template"].is_string()) {
        return make_error(ErrorCode::kInvalidFormat, path.string() + ": field 'chat_template' must hold {\"name\", \"template\"} objects");
      }
      if (entry["name"] == "default") return entry["template"].get<std::string>();
      names += (names.empty() ? "" : ", ") + entry["name"].get<std::string>();
    }
    return make_error(ErrorCode::kNotFound, path.string() + ": 'chat_template' has no template named 'default' (found: " + names + ")");
  }
  return make_error(ErrorCode::kInvalidFormat, path.string() + ": field 'chat_template' must be a string or a list");
}

Value make_part(const ChatPart& part) {
  Dict dict;
  if (part.kind == ChatPart::Kind::kImage) {
    dict.set("type", Value("image"));
  } else {
    dict.set("type", Value("text"));
    dict.set("text", Value(MarkedString::literal_text(part.text)));
  }
  return Value(std::move(dict));
}

Value make_string_content(const ChatMessage& message, const std::string& image_token) {
  MarkedString content;
  bool previous_text = false;
  for (const ChatPart& part : message.parts) {
    if (part.kind == ChatPart::Kind::kImage) {
      content.append(image_token + "\n");
      previous_text = false;
      continue;
    }
    if (previous_text) content.append(std::string_view("\n"));
    content.append(MarkedString::literal_text(part.text));
    previous_text = true;
  }
  return Value(std::move(content));
}

}  // namespace

Result<ChatTemplate> ChatTemplate::load_from_folder(const std::filesystem::path& folder) {
  std::error_code error;
  const std::filesystem::path jinja_path = folder / "chat_template.jinja";
  if (std::filesystem::is_regular_file(jinja_path, error)) {
    GLIMPSE_ASSIGN_OR_RETURN(const std::string source, text::read_text_file(jinja_path, "chat_template.jinja"));
    return parse(source, jinja_path.string());
  }
  for (const char* name : {"chat_template.json", "tokenizer_config.json"}) {
    const std::filesystem::path path = folder / name;
    if (!std::filesystem::is_regular_file(path, error)) continue;
    GLIMPSE_ASSIGN_OR_RETURN(const std::string source, template_from_json(path));
    if (!source.empty()) return parse(source, path.string());
  }
  return make_error(ErrorCode::kNotFound, "'" + folder.string() +
                                              "' has no chat template: expected chat_template.jinja, chat_template.json "
                                              "or a 'chat_template' field in tokenizer_config.json");
}

ContentFormat ChatTemplate::detected_content_format() const {
  return template_->iterates_message_content() ? ContentFormat::kParts : ContentFormat::kString;
}

Result<RenderedPrompt> ChatTemplate::render(const Conversation& conversation, const Tokenizer& tokenizer,
                                            const ChatTemplateOptions& options) const {
  const ContentFormat format =
      options.content_format == ContentFormat::kAuto ? detected_content_format() : options.content_format;

  List messages;
  for (std::size_t m = 0; m < conversation.size(); ++m) {
    const ChatMessage& message = conversation[m];
    for (std::size_t p = 0; p < message.parts.size(); ++p) {
      const ChatPart& part = message.parts[p];
      if (part.kind != ChatPart::Kind::kText) continue;
      if (const auto invalid = text::find_invalid_utf8(part.text)) {
        return make_error(ErrorCode::kInvalidArgument, "message " + std::to_string(m) + ", part " + std::to_string(p) +
                                                           ": text is not valid UTF-8 at byte " + std::to_string(*invalid));
      }
    }
    Dict dict;
    dict.set("role", Value(std::string(chat_role_name(message.role))));
    if (format == ContentFormat::kParts) {
      List parts;
      for (const ChatPart& part : message.parts) parts.push_back(make_part(part));
      dict.set("content", Value(std::move(parts)));
    } else {
      dict.set("content", make_string_content(message, options.image_token));
    }
    messages.emplace_back(std::move(dict));
  }

  Dict globals;
  globals.set("messages", Value(std::move(messages)));
  globals.set("add_generation_prompt", Value(options.add_generation_prompt));
  const std::pair<const char*, std::optional<std::string>> special[] = {
      {"bos_token", tokenizer.bos_token()},
      {"eos_token", tokenizer.eos_token()},
      {"pad_token", tokenizer.pad_token()},
      {"unk_token", tokenizer.unk_token()},
  };
  for (const auto& [name, token] : special) {
    if (token) globals.set(name, Value(*token));
  }
  for (const auto& [name, value] : options.variables) globals.set(name, Value(value));

  const std::int64_t now = options.now_seconds != 0
                               ? options.now_seconds
                               : std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count();
  GLIMPSE_ASSIGN_OR_RETURN(MarkedString rendered, template_->render(globals, now));
  return RenderedPrompt{std::move(rendered.text), std::move(rendered.literal)};
}

Result<PromptTokens> build_prompt(const Tokenizer& tokenizer, const ChatTemplate& chat_template,
                                  const Conversation& conversation, const ChatTemplateOptions& options) {
  const std::optional<std::int32_t> image_id = tokenizer.piece_to_id(options.image_token);
  if (!image_id || !tokenizer.is_special(*image_id)) {
    return make_error(ErrorCode::kInvalidArgument, "image token '" + options.image_token +
                                                       "' is not a special token of the tokenizer; set "
                                                       "ChatTemplateOptions::image_token to the model's image token");
  }
  GLIMPSE_ASSIGN_OR_RETURN(RenderedPrompt rendered, chat_template.render(conversation, tokenizer, options));

  // transformers' processors add BOS unless the template already wrote it.
  const std::optional<std::string> bos = tokenizer.bos_token();
  const bool starts_with_bos = bos && !bos->empty() && rendered.text.compare(0, bos->size(), *bos) == 0 &&
                               (rendered.literal_spans.empty() || rendered.literal_spans.front().begin >= bos->size());
  EncodeOptions encode_options;
  encode_options.add_special_tokens = !starts_with_bos;
  encode_options.literal_spans = rendered.literal_spans;
  GLIMPSE_ASSIGN_OR_RETURN(std::vector<std::int32_t> ids, tokenizer.encode(rendered.text, encode_options));

  std::size_t n_images = 0;
  for (const ChatMessage& message : conversation) {
    for (const ChatPart& part : message.parts) n_images += part.kind == ChatPart::Kind::kImage ? 1 : 0;
  }
  PromptTokens result;
  result.image_token_id = *image_id;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] == *image_id) result.image_positions.push_back(i);
  }
  if (result.image_positions.size() != n_images) {
    return make_error(ErrorCode::kInvalidArgument,
                      chat_template.origin() + ": the rendered prompt has " + std::to_string(result.image_positions.size()) +
                          " image tokens for " + std::to_string(n_images) +
                          " image parts; the template must write the image token once per image part");
  }
  result.ids = std::move(ids);
  result.prompt = std::move(rendered.text);
  return result;
}

}  // namespace glimpse
