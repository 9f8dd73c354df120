// PreprocessConfig: the LLaVA-1.5 defaults, preprocessor_config.json parsing and validation.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "formats/json_fields.h"
#include "glimpse/image.h"
#include "glimpse/log.h"

namespace glimpse {
namespace {

using json_fields::Object;

// The largest resize or crop target accepted, a sanity bound far above any vision tower's input.
constexpr std::int64_t kMaxTargetSide = 16384;

// transformers' CLIPImageProcessor defaults, which LlavaImageProcessor shares.
constexpr std::int64_t kClipDefaultSide = 224;

Error field_error(ErrorCode code, const Object& object, std::string_view key, const std::string& what) {
  return make_error(code, object.source + ": field '" + object.field_name(key) + "' " + what);
}

const nlohmann::json* find_field(const Object& object, std::string_view key) {
  const auto it = object.json->find(key);
  if (it == object.json->end() || it->is_null()) return nullptr;
  return &*it;
}

// Reads an integer size that must lie in 1..kMaxTargetSide.
Result<std::int64_t> get_positive_int(const Object& object, std::string_view key) {
  GLIMPSE_ASSIGN_OR_RETURN(const std::optional<std::int64_t> value, json_fields::get_optional_int(object, key));
  if (!value.has_value()) return field_error(ErrorCode::kInvalidFormat, object, key, "is missing");
  if (*value <= 0 || *value > kMaxTargetSide) {
    return field_error(ErrorCode::kInvalidFormat, object, key,
                       "is " + std::to_string(*value) + "; expected 1 to " + std::to_string(kMaxTargetSide));
  }
  return *value;
}

// Parses "size": {"shortest_edge": N}, {"height": H, "width": W} or a bare integer N (older
// configs; transformers reads it as a shortest edge).
Status parse_resize_size(const Object& root, PreprocessConfig& config) {
  const nlohmann::json* field = find_field(root, "size");
  if (field == nullptr) return {};
  if (field->is_number_integer()) {
    GLIMPSE_ASSIGN_OR_RETURN(config.shortest_edge, get_positive_int(root, "size"));
    return {};
  }
  GLIMPSE_ASSIGN_OR_RETURN(const std::optional<Object> size, json_fields::get_object(root, "size"));
  if (!size.has_value()) return {};
  for (const auto& [key, value] : size->json->items()) {
    if (key != "shortest_edge" && key != "height" && key != "width" && !value.is_null()) {
      return field_error(ErrorCode::kUnsupported, *size, key,
                         "is not supported; glimpse resizes by shortest_edge or by height and width");
    }
  }
  if (size->has("shortest_edge")) {
    if (size->has("height") || size->has("width")) {
      return field_error(ErrorCode::kInvalidFormat, root, "size", "mixes shortest_edge with height/width");
    }
    GLIMPSE_ASSIGN_OR_RETURN(config.shortest_edge, get_positive_int(*size, "shortest_edge"));
    return {};
  }
  GLIMPSE_ASSIGN_OR_RETURN(config.resize_height, get_positive_int(*size, "height"));
  GLIMPSE_ASSIGN_OR_RETURN(config.resize_width, get_positive_int(*size, "width"));
  config.shortest_edge = 0;
  return {};
}

// Parses "crop_size": {"height": H, "width": W} or a bare integer N (N x N).
Status parse_crop_size(const Object& root, PreprocessConfig& config) {
  const nlohmann::json* field = find_field(root, "crop_size");
  if (field == nullptr) return {};
  if (field->is_number_integer()) {
    GLIMPSE_ASSIGN_OR_RETURN(config.crop_height, get_positive_int(root, "crop_size"));
    config.crop_width = config.crop_height;
    return {};
  }
  GLIMPSE_ASSIGN_OR_RETURN(const std::optional<Object> crop, json_fields::get_object(root, "crop_size"));
  if (!crop.has_value()) return {};
  GLIMPSE_ASSIGN_OR_RETURN(config.crop_height, get_positive_int(*crop, "height"));
  GLIMPSE_ASSIGN_OR_RETURN(config.crop_width, get_positive_int(*crop, "width"));
  return {};
}

// Parses a per-channel list of three numbers, or one number for all channels.
Status parse_channel_values(const Object& root, std::string_view key, std::array<double, 3>& values) {
  const nlohmann::json* field = find_field(root, key);
  if (field == nullptr) return {};
  if (field->is_number()) {
    values.fill(field->get<double>());
    return {};
  }
  if (!field->is_array() || field->size() != 3) {
    return field_error(ErrorCode::kInvalidFormat, root, key,
                       "must be a list of 3 numbers (R, G, B), found " + field->dump().substr(0, 80));
  }
  for (std::size_t c = 0; c < 3; ++c) {
    if (!(*field)[c].is_number()) {
      return field_error(ErrorCode::kInvalidFormat, root, key,
                         "must be a list of 3 numbers (R, G, B), found " + field->dump().substr(0, 80));
    }
    values[c] = (*field)[c].get<double>();
  }
  return {};
}

Status check_processor_type(const Object& root) {
  GLIMPSE_ASSIGN_OR_RETURN(std::string type, json_fields::get_string(root, "image_processor_type", ""));
  std::string_view key = "image_processor_type";
  if (type.empty()) {
    // Configs written before transformers 4.26 name the class as a feature extractor.
    GLIMPSE_ASSIGN_OR_RETURN(type, json_fields::get_string(root, "feature_extractor_type", ""));
    key = "feature_extractor_type";
  }
  if (type.empty()) {
    log_message(LogLevel::kWarning, root.source + " names no image_processor_type; reading it as a CLIPImageProcessor");
    return {};
  }
  if (type == "CLIPImageProcessor" || type == "CLIPFeatureExtractor" || type == "LlavaImageProcessor") return {};
  return field_error(ErrorCode::kUnsupported, root, key,
                     "is '" + type +
                         "'; glimpse implements CLIPImageProcessor and LlavaImageProcessor (resize, center crop or "
                         "pad, rescale, normalize)");
}

}  // namespace

std::string_view preprocess_mode_name(PreprocessMode mode) { return mode == PreprocessMode::kPad ? "pad" : "crop"; }

PreprocessConfig PreprocessConfig::llava15() { return PreprocessConfig{}; }

Result<PreprocessConfig> PreprocessConfig::parse(std::string_view json_text, const std::string& source) {
  GLIMPSE_ASSIGN_OR_RETURN(const nlohmann::json json, json_fields::parse(json_text, source));
  if (!json.is_object()) {
    return make_error(ErrorCode::kInvalidFormat, source + ": expected a JSON object, found " + json.type_name());
  }
  const Object root{&json, source, ""};
  GLIMPSE_RETURN_IF_ERROR(check_processor_type(root));

  // Start from the processor class's defaults, not LLaVA's: a field the file leaves out means
  // what transformers would use.
  PreprocessConfig config;
  config.shortest_edge = kClipDefaultSide;
  config.crop_height = kClipDefaultSide;
  config.crop_width = kClipDefaultSide;

  GLIMPSE_ASSIGN_OR_RETURN(config.do_resize, json_fields::get_bool(root, "do_resize", true));
  GLIMPSE_RETURN_IF_ERROR(parse_resize_size(root, config));
  GLIMPSE_ASSIGN_OR_RETURN(const std::int64_t resample, json_fields::get_int(root, "resample", 3));
  if (resample < 0 || resample > 5) {
    return field_error(ErrorCode::kInvalidFormat, root, "resample",
                       "is " + std::to_string(resample) + "; expected a PIL.Image.Resampling value 0-5");
  }
  config.resample = static_cast<ResampleFilter>(resample);
  GLIMPSE_ASSIGN_OR_RETURN(config.do_center_crop, json_fields::get_bool(root, "do_center_crop", true));
  GLIMPSE_RETURN_IF_ERROR(parse_crop_size(root, config));
  GLIMPSE_ASSIGN_OR_RETURN(config.do_rescale, json_fields::get_bool(root, "do_rescale", true));
  GLIMPSE_ASSIGN_OR_RETURN(config.rescale_factor, json_fields::get_number(root, "rescale_factor", 1.0 / 255.0));
  GLIMPSE_ASSIGN_OR_RETURN(config.do_normalize, json_fields::get_bool(root, "do_normalize", true));
  GLIMPSE_RETURN_IF_ERROR(parse_channel_values(root, "image_mean", config.image_mean));
  GLIMPSE_RETURN_IF_ERROR(parse_channel_values(root, "image_std", config.image_std));
  GLIMPSE_ASSIGN_OR_RETURN(const bool do_pad, json_fields::get_bool(root, "do_pad", false));
  config.mode = do_pad ? PreprocessMode::kPad : PreprocessMode::kCrop;

  const Status valid = config.validate();
  if (!valid.ok()) return make_error(valid.error().code, source + ": " + valid.error().message);
  return config;
}

Result<PreprocessConfig> PreprocessConfig::from_model_folder(const std::string& folder) {
  const std::string path = (std::filesystem::path(folder) / "preprocessor_config.json").string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return make_error(ErrorCode::kNotFound,
                      "model file '" + path + "' not found; a model folder needs its preprocessor_config.json");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kIoError, "cannot open model file '" + path + "'");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return make_error(ErrorCode::kIoError, "cannot read model file '" + path + "'");
  return parse(text, path);
}

void PreprocessConfig::set_square_size(std::int64_t size) {
  shortest_edge = size;
  resize_height = 0;
  resize_width = 0;
  crop_height = size;
  crop_width = size;
}

Status PreprocessConfig::validate() const {
  auto invalid = [](const std::string& what) { return make_error(ErrorCode::kInvalidArgument, what); };
  auto in_range = [](std::int64_t side) { return side > 0 && side <= kMaxTargetSide; };
  const std::string range = " must be 1 to " + std::to_string(kMaxTargetSide);
  if (do_resize) {
    if (shortest_edge != 0 && !in_range(shortest_edge)) {
      return invalid("shortest edge " + std::to_string(shortest_edge) + range);
    }
    if (shortest_edge == 0 && (!in_range(resize_height) || !in_range(resize_width))) {
      return invalid("resize size " + std::to_string(resize_width) + "x" + std::to_string(resize_height) + range);
    }
    if (resample == ResampleFilter::kNearest) {
      return make_error(ErrorCode::kUnsupported,
                        "resample 0 (nearest) is not implemented; glimpse resizes with bicubic (3), bilinear (2), "
                        "lanczos (1), box (4) or hamming (5)");
    }
    if (static_cast<int>(resample) < 0 || static_cast<int>(resample) > 5) {
      return invalid("resample " + std::to_string(static_cast<int>(resample)) + " is not a Pillow filter");
    }
  }
  if (do_center_crop && (!in_range(crop_height) || !in_range(crop_width))) {
    return invalid("crop size " + std::to_string(crop_width) + "x" + std::to_string(crop_height) + range);
  }
  if (do_rescale && !(std::isfinite(rescale_factor) && rescale_factor > 0)) {
    return invalid("rescale_factor " + std::to_string(rescale_factor) + " must be a positive number");
  }
  for (std::size_t c = 0; c < 3; ++c) {
    if (!std::isfinite(image_mean[c]) || !std::isfinite(image_std[c]) || image_std[c] == 0.0) {
      return invalid("image_mean and image_std must be finite numbers and image_std non-zero; channel " +
                     std::to_string(c) + " has mean " + std::to_string(image_mean[c]) + ", std " +
                     std::to_string(image_std[c]));
    }
  }
  if (mode == PreprocessMode::kPad) {
    for (double mean : image_mean) {
      if (mean < 0.0 || mean > 1.0) {
        return invalid("pad mode fills with image_mean * 255, so each mean must be 0 to 1; found " +
                       std::to_string(mean));
      }
    }
  }
  if (max_pixels <= 0) return invalid("max_pixels must be positive, found " + std::to_string(max_pixels));
  return {};
}

std::array<std::uint8_t, 3> PreprocessConfig::pad_color() const {
  std::array<std::uint8_t, 3> color{};
  for (std::size_t c = 0; c < 3; ++c) {
    // Python's int() truncates toward zero; validate() keeps mean within 0-1.
    const double value = std::clamp(image_mean[c] * 255, 0.0, 255.0);
    color[c] = static_cast<std::uint8_t>(value);
  }
  return color;
}

}  // namespace glimpse
