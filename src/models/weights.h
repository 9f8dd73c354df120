// Looks up llava-hf tensors by name and checks their shapes before any kernel reads them.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "glimpse/safetensors.h"
#include "glimpse/status.h"
#include "glimpse/tensor.h"

namespace glimpse {

// The two tensor naming schemes of published llava-hf checkpoints. transformers 4.52 renamed
// `language_model.model.` to `model.language_model.`, `vision_tower.` to `model.vision_tower.`,
// `multi_modal_projector.` to `model.multi_modal_projector.` and `language_model.lm_head.` to
// `lm_head.`.
enum class LlavaNaming { kLegacy, kModelPrefixed };

class WeightLoader {
 public:
  // Detects the naming scheme from the token embedding's name.
  static Result<WeightLoader> create(const SafetensorsModel& files);

  LlavaNaming naming() const { return naming_; }

  // Fetches a tensor by its legacy name (translated to the file's scheme) and checks its shape.
  Result<TensorView> get(std::string_view legacy_name, std::initializer_list<std::int64_t> shape) const;
  // Like get(), but an absent tensor gives an empty optional.
  Result<std::optional<TensorView>> get_optional(std::string_view legacy_name,
                                                 std::initializer_list<std::int64_t> shape) const;
  bool contains(std::string_view legacy_name) const;

 private:
  WeightLoader(const SafetensorsModel& files, LlavaNaming naming) : files_(&files), naming_(naming) {}
  std::string file_name(std::string_view legacy_name) const;

  const SafetensorsModel* files_;
  LlavaNaming naming_;
};

}  // namespace glimpse
