// Chat prompts: a structured conversation rendered with the model's own Jinja chat template and
// tokenized so that only the template can emit control tokens.
//
// Text parts are conversation data. Special-token strings inside them ("<image>", "</s>",
// "<|im_start|>") stay text, as with transformers' `split_special_tokens=True`, while the control
// tokens that the template writes are recognized. This deliberately differs from tokenizing the
// rendered prompt as one flat string, which is what Hugging Face does by default and what
// Tokenizer::encode keeps for id-for-id comparison. When no text part contains a special-token
// string, both give the same ids.
//
// The template language is the Jinja subset that model templates use (if/elif/else, for with
// loop variables and else, set and namespace(), macros, filters such as selectattr, trim,
// length and tojson, string and dict methods, raise_exception, strftime_now, and transformers'
// {% generation %} block, rendered as its content), with transformers' settings trim_blocks and
// lstrip_blocks. Anything outside the subset is a kUnsupported error naming the construct.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "glimpse/status.h"
#include "glimpse/tokenizer.h"

namespace glimpse {

namespace text::jinja {
class Template;
}

enum class ChatRole { kSystem, kUser, kAssistant };

// "system", "user" or "assistant", the role strings that templates compare against.
std::string_view chat_role_name(ChatRole role);

struct ChatPart {
  enum class Kind { kText, kImage };
  Kind kind = Kind::kText;
  std::string text;  // UTF-8, for kText

  static ChatPart text_part(std::string text) { return {Kind::kText, std::move(text)}; }
  static ChatPart image_part() { return {Kind::kImage, {}}; }
};

struct ChatMessage {
  ChatRole role = ChatRole::kUser;
  std::vector<ChatPart> parts;
};

using Conversation = std::vector<ChatMessage>;

// The form in which a message's content reaches the template.
enum class ContentFormat {
  // kParts when the template loops over a message's `content`, kString otherwise.
  kAuto,
  // `content` is a list of {"type": "image"} and {"type": "text", "text": ...}, as
  // transformers' processors pass it (llava-hf templates).
  kParts,
  // `content` is a string: each image part becomes the image token followed by "\n", text parts
  // are copied, and consecutive text parts are joined with "\n" (text-only templates such as
  // Vicuna, Mistral instruct and ChatML).
  kString,
};

struct ChatTemplateOptions {
  // Ends the prompt with the template's opening of an assistant turn.
  bool add_generation_prompt = true;
  ContentFormat content_format = ContentFormat::kAuto;
  // The token that stands for one image; it must be a special token of the tokenizer.
  std::string image_token = "<image>";
  // Further string variables for the template (for example "date_string"); they are trusted
  // like the template itself.
  std::map<std::string, std::string> variables;
  // Seconds since the epoch for strftime_now(); 0 uses the current time.
  std::int64_t now_seconds = 0;
};

// A rendered prompt and the byte ranges of it that came from text parts.
struct RenderedPrompt {
  std::string text;
  std::vector<TextSpan> literal_spans;
};

class ChatTemplate {
 public:
  // Parses a template; `origin` names it in errors.
  static Result<ChatTemplate> parse(std::string_view source, std::string origin = "chat template");
  // Loads the template of a Hugging Face model folder from the first of chat_template.jinja,
  // chat_template.json ("chat_template") and tokenizer_config.json ("chat_template", a string or
  // a list of {"name", "template"} from which "default" is taken).
  static Result<ChatTemplate> load_from_folder(const std::filesystem::path& folder);

  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;
  ~ChatTemplate();

  // Renders `conversation` with the special-token strings (bos_token, eos_token, pad_token,
  // unk_token) of `tokenizer`. Errors: invalid UTF-8 in a text part, an error the template
  // raises (raise_exception), a construct outside the subset.
  Result<RenderedPrompt> render(const Conversation& conversation, const Tokenizer& tokenizer,
                                const ChatTemplateOptions& options = {}) const;

  // The format kAuto resolves to for this template.
  ContentFormat detected_content_format() const;
  const std::string& origin() const { return origin_; }

 private:
  ChatTemplate() = default;
  std::unique_ptr<text::jinja::Template> template_;
  std::string origin_;
};

struct PromptTokens {
  std::vector<std::int32_t> ids;
  std::string prompt;  // the rendered text, for display
  std::int32_t image_token_id = -1;
  // Indices into `ids` of the image token ids, one per image part, in conversation order.
  // The caller expands each into the model's per-image feature count.
  std::vector<std::size_t> image_positions;
};

// Renders and tokenizes a conversation. BOS comes from the tokenizer's post-processor unless the
// rendered prompt already starts with the BOS string, which is the rule transformers' processors
// apply. Fails unless the ids contain exactly one image token per image part, which catches
// templates that drop or repeat images.
Result<PromptTokens> build_prompt(const Tokenizer& tokenizer, const ChatTemplate& chat_template,
                                  const Conversation& conversation, const ChatTemplateOptions& options = {});

}  // namespace glimpse
