// libFuzzer target: model.safetensors.index.json parsing on arbitrary text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "glimpse/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto weight_map = glimpse::parse_safetensors_index(text, "fuzz.index.json");
  if (weight_map.ok()) {
    for (const auto& [name, file] : *weight_map) {
      if (file.find('/') != std::string::npos || file == "..") __builtin_trap();
    }
  }
  return 0;
}
