// Chat templates: rendering compared with Jinja2 3.1.6 (goldens.json, written by
// make_chat_template_goldens.py), the LLaVA-1.5 prompt ids of the tiny-llava reference, and
// the rule that special-token strings in conversation text stay text.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "glimpse/chat_template.h"
#include "support/test_support.h"

namespace glimpse {
namespace {

namespace fs = std::filesystem;

fs::path templates_dir() { return testing::test_data_dir() / "tokenizer" / "chat_templates"; }
fs::path llava_folder() { return testing::test_data_dir() / "tiny-llava" / "model-f16"; }

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

Conversation conversation_from_json(const nlohmann::json& json) {
  Conversation conversation;
  for (const nlohmann::json& message : json) {
    ChatMessage m;
    const std::string role = message["role"].get<std::string>();
    m.role = ChatRole::kUser;
    if (role == "system") m.role = ChatRole::kSystem;
    if (role == "assistant") m.role = ChatRole::kAssistant;
    for (const nlohmann::json& part : message["parts"]) {
      m.parts.push_back(part["type"] == "image" ? ChatPart::image_part() : ChatPart::text_part(part["text"].get<std::string>()));
    }
    conversation.push_back(std::move(m));
  }
  return conversation;
}

Tokenizer load_llava_tokenizer() {
  auto tokenizer = Tokenizer::load_from_folder(llava_folder());
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.error().to_string();
  return std::move(tokenizer).value();
}

// The goldens use <s>, </s>, <unk> and <pad>, which are the LLaVA-1.5 tokenizer's strings.
TEST(ChatTemplate, RendersLikeJinja2) {
  const nlohmann::json goldens = testing::read_json(templates_dir() / "goldens.json");
  const Tokenizer tokenizer = load_llava_tokenizer();
  ASSERT_EQ(tokenizer.bos_token().value_or(""), goldens["tokens"]["bos_token"].get<std::string>());
  ASSERT_EQ(tokenizer.eos_token().value_or(""), goldens["tokens"]["eos_token"].get<std::string>());

  int compared = 0;
  for (const nlohmann::json& c : goldens["cases"]) {
    const std::string name = c["template"].get<std::string>();
    SCOPED_TRACE(name + " / " + c["conversation"].get<std::string>() +
                 (c["add_generation_prompt"].get<bool>() ? " / generation prompt" : ""));
    auto chat_template = ChatTemplate::parse(read_text(templates_dir() / (name + ".jinja")), name);
    ASSERT_TRUE(chat_template.ok()) << chat_template.error().to_string();
    const ContentFormat expected_format =
        c["content_format"] == "parts" ? ContentFormat::kParts : ContentFormat::kString;
    EXPECT_EQ(chat_template->detected_content_format(), expected_format);

    ChatTemplateOptions options;
    options.add_generation_prompt = c["add_generation_prompt"].get<bool>();
    const Conversation conversation = conversation_from_json(goldens["conversations"][c["conversation"].get<std::string>()]);
    auto rendered = chat_template->render(conversation, tokenizer, options);
    if (c.contains("error")) {
      ASSERT_FALSE(rendered.ok()) << "rendered: " << rendered->text;
      EXPECT_NE(rendered.error().message.find(c["error"].get<std::string>()), std::string::npos) << rendered.error().message;
      EXPECT_EQ(rendered.error().code, ErrorCode::kInvalidArgument);
    } else {
      ASSERT_TRUE(rendered.ok()) << rendered.error().to_string();
      EXPECT_EQ(rendered->text, c["expected"].get<std::string>());
    }
    ++compared;
  }
  EXPECT_EQ(compared, 70);
}

// The reference prompt ids of tiny-llava: LlavaProcessor expands the one <image> to 576 copies.
TEST(ChatTemplate, LlavaPromptMatchesReferenceIds) {
  const nlohmann::json reference = testing::read_json(testing::test_data_dir() / "tiny-llava" / "reference.json");
  const Tokenizer tokenizer = load_llava_tokenizer();
  auto chat_template = ChatTemplate::load_from_folder(llava_folder());
  ASSERT_TRUE(chat_template.ok()) << chat_template.error().to_string();

  ASSERT_EQ(reference["cases"].size(), 14u);
  for (const nlohmann::json& c : reference["cases"]) {
    SCOPED_TRACE(c["id"].dump());
    ChatMessage message;
    message.role = ChatRole::kUser;
    const bool has_image = !c["image"].is_null();
    if (has_image) message.parts.push_back(ChatPart::image_part());
    const std::string question = c["question"].is_null() ? std::string("Hello, who are you?") : c["question"].get<std::string>();
    message.parts.push_back(ChatPart::text_part(question));

    auto prompt = build_prompt(tokenizer, *chat_template, Conversation{message});
    ASSERT_TRUE(prompt.ok()) << prompt.error().to_string();
    EXPECT_EQ(prompt->prompt, c["prompt"].get<std::string>());
    EXPECT_EQ(prompt->image_token_id, 32000);
    ASSERT_EQ(prompt->image_positions.size(), has_image ? 1u : 0u);

    std::vector<std::int32_t> expanded;
    for (const std::int32_t id : prompt->ids) {
      if (id == prompt->image_token_id) {
        expanded.insert(expanded.end(), 576, id);
      } else {
        expanded.push_back(id);
      }
    }
    EXPECT_EQ(expanded, c["input_ids"].get<std::vector<std::int32_t>>());
  }
}

TEST(ChatTemplate, SpecialStringsInUserTextStayText) {
  const Tokenizer tokenizer = load_llava_tokenizer();
  auto chat_template = ChatTemplate::load_from_folder(llava_folder());
  ASSERT_TRUE(chat_template.ok()) << chat_template.error().to_string();
  ChatMessage message;
  message.parts = {ChatPart::image_part(), ChatPart::text_part("What is <image> and </s>?")};

  auto prompt = build_prompt(tokenizer, *chat_template, Conversation{message});
  ASSERT_TRUE(prompt.ok()) << prompt.error().to_string();
  EXPECT_EQ(prompt->prompt, "USER: <image>\nWhat is <image> and </s>? ASSISTANT:");
  EXPECT_EQ(std::count(prompt->ids.begin(), prompt->ids.end(), 32000), 1);
  EXPECT_EQ(std::count(prompt->ids.begin(), prompt->ids.end(), 2), 0);  // no </s>
  EXPECT_EQ(prompt->ids.front(), 1);

  // The user's strings become the same ids as split_special_tokens=True gives for them.
  EncodeOptions as_text;
  as_text.add_special_tokens = false;
  as_text.parse_special_tokens = false;
  auto user_ids = tokenizer.encode("What is <image> and </s>?", as_text);
  ASSERT_TRUE(user_ids.ok());
  const auto found = std::search(prompt->ids.begin(), prompt->ids.end(), user_ids->begin() + 1, user_ids->end());
  EXPECT_NE(found, prompt->ids.end()) << "user text ids missing from the prompt";

  // Flat encoding of the same string recognizes both, as Hugging Face does by default.
  auto flat = tokenizer.encode(prompt->prompt);
  ASSERT_TRUE(flat.ok());
  EXPECT_EQ(std::count(flat->begin(), flat->end(), 32000), 2);
  EXPECT_EQ(std::count(flat->begin(), flat->end(), 2), 1);
}

TEST(ChatTemplate, StringTemplateGetsOneImageToken) {
  const Tokenizer tokenizer = load_llava_tokenizer();
  auto chat_template = ChatTemplate::parse(read_text(templates_dir() / "vicuna.jinja"), "vicuna");
  ASSERT_TRUE(chat_template.ok()) << chat_template.error().to_string();
  ChatMessage message;
  message.parts = {ChatPart::image_part(), ChatPart::text_part("Describe <image>.")};
  auto prompt = build_prompt(tokenizer, *chat_template, Conversation{message});
  ASSERT_TRUE(prompt.ok()) << prompt.error().to_string();
  EXPECT_EQ(prompt->prompt, "<s>USER: <image>\nDescribe <image>.\nASSISTANT:");
  ASSERT_EQ(prompt->image_positions.size(), 1u);
  // The template writes <s> itself, so no second BOS is added.
  EXPECT_EQ(prompt->ids[0], 1);
  EXPECT_NE(prompt->ids[1], 1);
}

TEST(ChatTemplate, RejectsTemplateDroppingImages) {
  const Tokenizer tokenizer = load_llava_tokenizer();
  auto chat_template = ChatTemplate::parse("{% for m in messages %}{{ m.role }}{% endfor %}", "no-images");
  ASSERT_TRUE(chat_template.ok());
  ChatMessage message;
  message.parts = {ChatPart::image_part(), ChatPart::text_part("hi")};
  auto prompt = build_prompt(tokenizer, *chat_template, Conversation{message});
  ASSERT_FALSE(prompt.ok());
  EXPECT_NE(prompt.error().message.find("0 image tokens for 1 image parts"), std::string::npos) << prompt.error().message;
}

TEST(ChatTemplate, RejectsUnknownImageToken) {
  const Tokenizer tokenizer = load_llava_tokenizer();
  auto chat_template = ChatTemplate::load_from_folder(llava_folder());
  ASSERT_TRUE(chat_template.ok());
  ChatTemplateOptions options;
  options.image_token = "<|image_pad|>";
  auto prompt = build_prompt(tokenizer, *chat_template, Conversation{}, options);
  ASSERT_FALSE(prompt.ok());
  EXPECT_EQ(prompt.error().code, ErrorCode::kInvalidArgument);
}

TEST(ChatTemplate, RejectsInvalidUtf8InText) {
  const Tokenizer tokenizer = load_llava_tokenizer();
  auto chat_template = ChatTemplate::load_from_folder(llava_folder());
  ASSERT_TRUE(chat_template.ok());
  ChatMessage message;
  message.parts = {ChatPart::text_part("bad \xC3(")};
  auto rendered = chat_template->render(Conversation{message}, tokenizer);
  ASSERT_FALSE(rendered.ok());
  EXPECT_NE(rendered.error().message.find("message 0, part 0"), std::string::npos) << rendered.error().message;
}

struct TemplateErrorCase {
  const char* source;
  ErrorCode code;
  const char* message_part;
};

TEST(ChatTemplate, ReportsErrorsWithConstruct) {
  const TemplateErrorCase cases[] = {
      {"{% include 'x.jinja' %}", ErrorCode::kUnsupported, "{% include %}"},
      {"{{ x | wordwrap }}", ErrorCode::kUnsupported, "filter 'wordwrap'"},
      {"{% if x is prime %}{% endif %}", ErrorCode::kUnsupported, "test 'prime'"},
      {"{% for x in y %}", ErrorCode::kInvalidArgument, "without {% endfor %}"},
      {"{{ 'unterminated }}", ErrorCode::kInvalidArgument, "unterminated string"},
      {"{{ 1 +", ErrorCode::kInvalidArgument, "unterminated tag"},
      {"{% frobnicate %}", ErrorCode::kInvalidArgument, "unknown statement"},
      {"{{ raise_exception('stop here') }}", ErrorCode::kInvalidArgument, "stop here"},
      {"{{ missing.attribute }}", ErrorCode::kInvalidArgument, "'missing' is undefined"},
      {"{{ 1 / 0 }}", ErrorCode::kInvalidArgument, "division by zero"},
      {"{{ x.99999999999999999999 }}", ErrorCode::kInvalidArgument, "out of range"},
      {"{{ 99999999999999999999 }}", ErrorCode::kInvalidArgument, "out of range"},
      {"{{ 'a' + 1 }}", ErrorCode::kInvalidArgument, "unsupported operand types"},
      {"{% for i in range(100000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}", ErrorCode::kInvalidArgument,
       "steps"},
      {"{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", ErrorCode::kInvalidArgument, "nest deeper"},

  };
  const std::string deep = "{{ " + std::string(300, '(') + "1" + std::string(300, ')') + " }}";
  std::vector<TemplateErrorCase> all(std::begin(cases), std::end(cases));
  all.push_back({deep.c_str(), ErrorCode::kInvalidArgument, "nests deeper"});
  const Tokenizer tokenizer = load_llava_tokenizer();
  for (const TemplateErrorCase& c : all) {
    SCOPED_TRACE(c.source);
    auto chat_template = ChatTemplate::parse(c.source, "test template");
    Error error;
    if (!chat_template.ok()) {
      error = chat_template.error();
    } else {
      auto rendered = chat_template->render(Conversation{}, tokenizer);
      ASSERT_FALSE(rendered.ok()) << "rendered: " << rendered->text;
      error = rendered.error();
    }
    EXPECT_EQ(error.code, c.code) << error.to_string();
    EXPECT_NE(error.message.find(c.message_part), std::string::npos) << error.message;
    EXPECT_EQ(error.message.rfind("test template", 0), 0u) << error.message;
  }
}

// A namespace that contains itself through a list, a dict or another namespace is a reference
// cycle. The AddressSanitizer run of this test reports a leak if rendering does not break it.
TEST(ChatTemplate, SelfReferencingNamespaceIsFreed) {
  const Tokenizer tokenizer = load_llava_tokenizer();
  for (const char* source : {"{% set ns = namespace(a=1) %}{% set ns.self = [ns] %}{{ ns.a }}",
                             "{% set ns = namespace() %}{% set ns.d = {'k': ns} %}{% set ns.d2 = ns.d %}{{ ns.d.k.d2.k.d.k.d2 is defined }}",
                             "{% set a = namespace() %}{% set b = namespace(a=a) %}{% set a.b = b %}{{ a.b.a.b is defined }}"}) {
    auto chat_template = ChatTemplate::parse(source, "cycle template");
    ASSERT_TRUE(chat_template.ok()) << chat_template.error().to_string();
    auto rendered = chat_template->render(Conversation{}, tokenizer);
    ASSERT_TRUE(rendered.ok()) << source << ": " << rendered.error().to_string();
    EXPECT_TRUE(rendered->text == "1" || rendered->text == "True") << source << " gave " << rendered->text;
  }
}

TEST(ChatTemplate, LoadsFromTokenizerConfigList) {
  testing::TempDir dir;
  testing::write_text(dir.path() / "tokenizer_config.json",
                      R"({"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D{{ bos_token }}"}]})");
  auto chat_template = ChatTemplate::load_from_folder(dir.path());
  ASSERT_TRUE(chat_template.ok()) << chat_template.error().to_string();
  const Tokenizer tokenizer = load_llava_tokenizer();
  auto rendered = chat_template->render(Conversation{}, tokenizer);
  ASSERT_TRUE(rendered.ok());
  EXPECT_EQ(rendered->text, "D<s>");

  testing::TempDir empty;
  auto missing = ChatTemplate::load_from_folder(empty.path());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace glimpse
