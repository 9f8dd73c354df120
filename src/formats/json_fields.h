// Typed reads of JSON fields with errors that name the file and the field path. A field that is
// absent or null takes the given default; a field of the wrong type is an error, never a default.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "glimpse/status.h"

namespace glimpse::json_fields {

// Parses `text` as JSON. `source` names the input in errors (usually the file path).
Result<nlohmann::json> parse(std::string_view text, const std::string& source);

// A JSON object together with where it came from, e.g. source "config.json" and path
// "text_config", used to build messages like "config.json: text_config.hidden_size".
struct Object {
  const nlohmann::json* json = nullptr;
  std::string source;
  std::string path;

  std::string field_name(std::string_view key) const;
  bool has(std::string_view key) const;  // present and not null
};

// Returns the object at `key` (absent or null gives an empty optional).
Result<std::optional<Object>> get_object(const Object& parent, std::string_view key);

Result<std::int64_t> get_int(const Object& object, std::string_view key, std::int64_t fallback);
Result<std::optional<std::int64_t>> get_optional_int(const Object& object, std::string_view key);
Result<double> get_number(const Object& object, std::string_view key, double fallback);
Result<bool> get_bool(const Object& object, std::string_view key, bool fallback);
Result<std::string> get_string(const Object& object, std::string_view key, std::string fallback);

}  // namespace glimpse::json_fields
