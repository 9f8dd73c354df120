// libFuzzer target: the safetensors header parser on arbitrary bytes. Any crash, sanitizer
// report or out-of-bounds read is a bug; an error result is the expected outcome.
#include <cstddef>
#include <cstdint>

#include "glimpse/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto header = glimpse::parse_safetensors_header(data, size, "fuzz.safetensors");
  if (header.ok()) {
    // Every accepted entry must lie inside the input.
    for (const auto& entry : header->entries) {
      if (header->data_offset + entry.end > size) __builtin_trap();
    }
  }
  return 0;
}
