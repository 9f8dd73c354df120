// Whole-file reads for the text module's JSON and template files.
#pragma once

#include <filesystem>
#include <string>

#include "glimpse/status.h"

namespace glimpse::text {

// Reads `path` into a string. `what` names the expected file in errors ("tokenizer.json").
Result<std::string> read_text_file(const std::filesystem::path& path, const std::string& what);

}  // namespace glimpse::text
