#include "formats/json_fields.h"

namespace glimpse::json_fields {
namespace {

Error type_error(const Object& object, std::string_view key, std::string_view expected,
                 const nlohmann::json& found) {
  return make_error(ErrorCode::kInvalidFormat, object.source + ": field '" + object.field_name(key) +
                                                   "' must be " + std::string(expected) +
                                                   ", found " + found.type_name() + " " +
                                                   found.dump().substr(0, 80));
}

const nlohmann::json* find_field(const Object& object, std::string_view key) {
  const auto it = object.json->find(key);
  if (it == object.json->end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

Result<nlohmann::json> parse(std::string_view text, const std::string& source) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    return make_error(ErrorCode::kInvalidFormat, source + ": invalid JSON: " + e.what());
  }
}

std::string Object::field_name(std::string_view key) const {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

bool Object::has(std::string_view key) const { return find_field(*this, key) != nullptr; }

Result<std::optional<Object>> get_object(const Object& parent, std::string_view key) {
  const nlohmann::json* field = find_field(parent, key);
  if (field == nullptr) return std::optional<Object>();
  if (!field->is_object()) return type_error(parent, key, "an object", *field);
  return std::optional<Object>(Object{field, parent.source, parent.field_name(key)});
}

Result<std::optional<std::int64_t>> get_optional_int(const Object& object, std::string_view key) {
  const nlohmann::json* field = find_field(object, key);
  if (field == nullptr) return std::optional<std::int64_t>();
  if (field->is_number_unsigned()) {
    const auto value = field->get<std::uint64_t>();
    if (value > static_cast<std::uint64_t>(INT64_MAX)) return type_error(object, key, "an integer below 2^63", *field);
    return std::optional<std::int64_t>(static_cast<std::int64_t>(value));
  }
  if (field->is_number_integer()) return std::optional<std::int64_t>(field->get<std::int64_t>());
  return type_error(object, key, "an integer", *field);
}

Result<std::int64_t> get_int(const Object& object, std::string_view key, std::int64_t fallback) {
  GLIMPSE_ASSIGN_OR_RETURN(const std::optional<std::int64_t> value, get_optional_int(object, key));
  return value.value_or(fallback);
}

Result<double> get_number(const Object& object, std::string_view key, double fallback) {
  const nlohmann::json* field = find_field(object, key);
  if (field == nullptr) return fallback;
  if (!field->is_number()) return type_error(object, key, "a number", *field);
  return field->get<double>();
}

Result<bool> get_bool(const Object& object, std::string_view key, bool fallback) {
  const nlohmann::json* field = find_field(object, key);
  if (field == nullptr) return fallback;
  if (!field->is_boolean()) return type_error(object, key, "true or false", *field);
  return field->get<bool>();
}

Result<std::string> get_string(const Object& object, std::string_view key, std::string fallback) {
  const nlohmann::json* field = find_field(object, key);
  if (field == nullptr) return fallback;
  if (!field->is_string()) return type_error(object, key, "a string", *field);
  return field->get<std::string>();
}

}  // namespace glimpse::json_fields
