// libFuzzer target: config.json parsing into LlavaConfig on arbitrary text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "glimpse/llava_config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = glimpse::parse_llava_config(text, "fuzz.config.json");
  if (config.ok()) {
    const auto state = config->selected_hidden_state();
    if (state < 0 || state > config->vision.num_hidden_layers) __builtin_trap();
  }
  return 0;
}
