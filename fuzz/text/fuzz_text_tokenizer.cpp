// Random bytes through the LLaVA-1.5 tokenizer: encode never crashes, invalid UTF-8 is an error,
// and valid UTF-8 round-trips through encode and decode (without special-token parsing, and with
// U+2581 compared as a space, because SentencePiece writes spaces as U+2581).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "glimpse/detokenizer.h"
#include "glimpse/tokenizer.h"

namespace {

const glimpse::Tokenizer* tokenizer = nullptr;

std::string spaces_for_metaspace(std::string text) {
  const std::string metaspace = "\xE2\x96\x81";
  for (std::size_t found = text.find(metaspace); found != std::string::npos; found = text.find(metaspace, found + 1)) {
    text.replace(found, metaspace.size(), " ");
  }
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto loaded = glimpse::Tokenizer::load_from_folder(GLIMPSE_FUZZ_TOKENIZER_DIR);
  if (!loaded.ok()) std::abort();
  tokenizer = new glimpse::Tokenizer(std::move(loaded).value());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);

  // Hugging Face's default: special-token strings recognized. Only checks that nothing crashes.
  auto parsed = tokenizer->encode(text);

  glimpse::EncodeOptions plain;
  plain.add_special_tokens = false;
  plain.parse_special_tokens = false;
  auto ids = tokenizer->encode(text, plain);
  if (ids.ok() != parsed.ok()) std::abort();
  if (!ids.ok()) return 0;  // invalid UTF-8, rejected with an error

  const std::string decoded = tokenizer->decode(*ids);
  if (decoded != spaces_for_metaspace(text)) std::abort();

  // Streaming the same ids releases the same text.
  auto stream = glimpse::StreamingDetokenizer::create(*tokenizer, {false, {}});
  if (!stream.ok()) std::abort();
  std::string streamed;
  for (const std::int32_t id : *ids) streamed += stream->push(id);
  streamed += stream->flush();
  if (streamed != decoded) std::abort();
  return 0;
}
