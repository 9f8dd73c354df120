#include "models/weights.h"

#include <array>
#include <utility>

namespace glimpse {
namespace {

constexpr std::array<std::pair<std::string_view, std::string_view>, 4> kRenames = {{
    {"language_model.model.", "model.language_model."},
    {"language_model.lm_head.", "lm_head."},
    {"vision_tower.", "model.vision_tower."},
    {"multi_modal_projector.", "model.multi_modal_projector."},
}};

std::string shape_text(std::initializer_list<std::int64_t> shape) {
  std::string text = "[";
  bool first = true;
  for (std::int64_t extent : shape) {
    if (!first) text += ", ";
    text += std::to_string(extent);
    first = false;
  }
  return text + "]";
}

}  // namespace

Result<WeightLoader> WeightLoader::create(const SafetensorsModel& files) {
  if (files.contains("language_model.model.embed_tokens.weight")) {
    return WeightLoader(files, LlavaNaming::kLegacy);
  }
  if (files.contains("model.language_model.embed_tokens.weight")) {
    return WeightLoader(files, LlavaNaming::kModelPrefixed);
  }
  return make_error(ErrorCode::kInvalidFormat,
                    "neither 'language_model.model.embed_tokens.weight' nor "
                    "'model.language_model.embed_tokens.weight' is in " +
                        files.file_of("") + "; is this a llava-hf LlavaForConditionalGeneration checkpoint?");
}

std::string WeightLoader::file_name(std::string_view legacy_name) const {
  if (naming_ == LlavaNaming::kLegacy) return std::string(legacy_name);
  for (const auto& [old_prefix, new_prefix] : kRenames) {
    if (legacy_name.substr(0, old_prefix.size()) == old_prefix) {
      return std::string(new_prefix) + std::string(legacy_name.substr(old_prefix.size()));
    }
  }
  return std::string(legacy_name);
}

bool WeightLoader::contains(std::string_view legacy_name) const {
  return files_->contains(file_name(legacy_name));
}

Result<TensorView> WeightLoader::get(std::string_view legacy_name,
                                     std::initializer_list<std::int64_t> shape) const {
  const std::string name = file_name(legacy_name);
  GLIMPSE_ASSIGN_OR_RETURN(const TensorView view, files_->view(name));
  bool matches = view.rank == static_cast<int>(shape.size());
  int axis = 0;
  for (std::int64_t extent : shape) {
    if (matches && view.dim(axis) != extent) matches = false;
    ++axis;
  }
  if (!matches) {
    return make_error(ErrorCode::kInvalidFormat,
                      files_->file_of(name) + ": tensor '" + name + "' has shape " + view.shape_string() +
                          ", expected " + shape_text(shape) + " from config.json");
  }
  return view;
}

Result<std::optional<TensorView>> WeightLoader::get_optional(
    std::string_view legacy_name, std::initializer_list<std::int64_t> shape) const {
  if (!contains(legacy_name)) return std::optional<TensorView>();
  GLIMPSE_ASSIGN_OR_RETURN(const TensorView view, get(legacy_name, shape));
  return std::optional<TensorView>(view);
}

}  // namespace glimpse
