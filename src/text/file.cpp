#include "text/file.h"

#include <fstream>
#include <sstream>

namespace glimpse::text {

Result<std::string> read_text_file(const std::filesystem::path& path, const std::string& what) {
  std::error_code error;
  if (!std::filesystem::exists(path, error)) {
    return make_error(ErrorCode::kNotFound, what + " not found at '" + path.string() + "'");
  }
  if (std::filesystem::is_directory(path, error)) {
    return make_error(ErrorCode::kInvalidArgument, "'" + path.string() + "' is a folder; expected the " + what + " file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kIoError, "cannot open " + what + " '" + path.string() + "'");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return make_error(ErrorCode::kIoError, "failed to read " + what + " '" + path.string() + "'");
  return buffer.str();
}

}  // namespace glimpse::text
