// Random template sources through the Jinja subset. The fuzzer checks that parsing and rendering
// do not crash and stay within the renderer's step, depth and output limits, so that every
// failure comes back as an Error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "glimpse/chat_template.h"

namespace {

const glimpse::Tokenizer* tokenizer = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto loaded = glimpse::Tokenizer::load_from_folder(GLIMPSE_FUZZ_TOKENIZER_DIR);
  if (!loaded.ok()) std::abort();
  tokenizer = new glimpse::Tokenizer(std::move(loaded).value());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string source(reinterpret_cast<const char*>(data), size);
  auto chat_template = glimpse::ChatTemplate::parse(source, "fuzz");
  if (!chat_template.ok()) return 0;

  glimpse::ChatMessage system{glimpse::ChatRole::kSystem, {glimpse::ChatPart::text_part("Be brief.")}};
  glimpse::ChatMessage user{glimpse::ChatRole::kUser,
                            {glimpse::ChatPart::image_part(), glimpse::ChatPart::text_part("What is <image>?")}};
  const glimpse::Conversation conversation = {system, user};
  glimpse::ChatTemplateOptions options;
  options.now_seconds = 1'700'000'000;
  auto prompt = glimpse::build_prompt(*tokenizer, *chat_template, conversation, options);
  (void)prompt;
  return 0;
}
