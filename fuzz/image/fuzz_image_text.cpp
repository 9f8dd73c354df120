// libFuzzer target: the text inputs of the image module on arbitrary bytes: base64, data: URIs
// (then decoding) and preprocessor_config.json (then preprocessing a small image with it). A crash,
// sanitizer report or hang is a bug; an error result is an expected outcome.
#include <cstddef>
#include <cstdint>
#include <string>

#include "glimpse/image.h"
#include "glimpse/image_source.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace glimpse;
  const std::string text(reinterpret_cast<const char*>(data), size);
  ImageLoadOptions options;
  options.max_pixels = 1 << 20;

  auto bytes = decode_base64(text, options.max_bytes, "fuzz base64");
  if (bytes.ok() && bytes->size() > text.size()) __builtin_trap();  // 4 characters give at most 3 bytes

  (void)load_image(ImageSource::from_data_uri("data:image/png;base64," + text), options);
  (void)load_image(ImageSource::from_string(text.rfind("data:", 0) == 0 ? text : "data:," + text), options);

  auto config = PreprocessConfig::parse(text, "fuzz preprocessor_config.json");
  if (config.ok()) {
    config->max_pixels = 1 << 16;
    const RgbImage image = RgbImage::filled(7, 3, {10, 200, 30});
    auto result = preprocess(image, *config);
    if (result.ok() && result->pixel_values.size() !=
                           static_cast<std::size_t>(result->image.width * result->image.height) * 3) {
      __builtin_trap();
    }
  }
  return 0;
}
