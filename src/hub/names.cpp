#include "hub/names.h"

#include <vector>

#include "glimpse/hub.h"

namespace glimpse::hub {
namespace {

// The Hub's limit on a whole repository id, from huggingface_hub's validate_repo_id().
constexpr std::size_t kMaxRepoIdLength = 96;
constexpr std::size_t kMaxRevisionLength = 255;
constexpr std::size_t kMaxRepoFilePathLength = 4096;

bool is_word_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool is_name_char(char c) { return is_word_char(c) || c == '-' || c == '.'; }

bool is_hex_lower(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = text.find(separator, start);
    if (end == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

Error invalid_repo_id(std::string_view repo_id, const std::string& why) {
  const std::string quoted_id(repo_id);
  return make_error(ErrorCode::kInvalidArgument,
                    "'" + quoted_id + "' is not a valid Hub repository id: " + why +
                        ". Expected 'org/name', such as 'llava-hf/llava-1.5-7b-hf'");
}

// Components of a '/'-separated path must be non-empty and neither "." nor "..".
bool has_bad_component(std::string_view path) {
  for (std::string_view part : split(path, '/')) {
    if (part.empty() || part == "." || part == "..") return true;
  }
  return false;
}

bool has_control_char(std::string_view text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return true;
  }
  return false;
}

}  // namespace

Status validate_repo_id(std::string_view repo_id) {
  if (repo_id.empty()) return invalid_repo_id(repo_id, "it is empty");
  if (repo_id.size() > kMaxRepoIdLength) {
    return invalid_repo_id(repo_id, "it is longer than " + std::to_string(kMaxRepoIdLength) + " characters");
  }
  const std::vector<std::string_view> parts = split(repo_id, '/');
  if (parts.size() != 2) return invalid_repo_id(repo_id, "it must contain exactly one '/'");
  for (std::string_view part : parts) {
    if (part.empty()) return invalid_repo_id(repo_id, "the organization and the name must both be non-empty");
    for (char c : part) {
      if (!is_name_char(c)) {
        return invalid_repo_id(repo_id, "only letters, digits, '-', '_' and '.' are allowed");
      }
    }
    if (!is_word_char(part.front()) || !is_word_char(part.back())) {
      return invalid_repo_id(repo_id, "each part must start and end with a letter, a digit or '_'");
    }
  }
  if (repo_id.find("--") != std::string_view::npos || repo_id.find("..") != std::string_view::npos) {
    return invalid_repo_id(repo_id, "'--' and '..' are not allowed");
  }
  return {};
}

Status validate_revision(std::string_view revision) {
  const std::string shown = "revision '" + std::string(revision) + "'";
  if (revision.empty()) return make_error(ErrorCode::kInvalidArgument, "the revision after '@' is empty");
  if (revision.size() > kMaxRevisionLength) {
    return make_error(ErrorCode::kInvalidArgument,
                      shown + " is longer than " + std::to_string(kMaxRevisionLength) + " characters");
  }
  if (has_control_char(revision) || revision.find(' ') != std::string_view::npos ||
      revision.find('\\') != std::string_view::npos) {
    return make_error(ErrorCode::kInvalidArgument,
                      shown + " contains a space, a backslash or a control character; expected a branch, a tag "
                              "or a commit hash");
  }
  if (has_bad_component(revision)) {
    return make_error(ErrorCode::kInvalidArgument,
                      shown + " has an empty, '.' or '..' path component; expected a branch, a tag or a commit hash");
  }
  return {};
}

Status validate_repo_file_path(std::string_view path) {
  const std::string shown = "repository file path '" + std::string(path) + "'";
  if (path.empty()) return make_error(ErrorCode::kInvalidFormat, "a repository file path is empty");
  if (path.size() > kMaxRepoFilePathLength) {
    return make_error(ErrorCode::kInvalidFormat, shown.substr(0, 120) + "...' is too long");
  }
  if (has_control_char(path) || path.find('\\') != std::string_view::npos) {
    return make_error(ErrorCode::kInvalidFormat, shown + " contains a backslash or a control character");
  }
  if (path.front() == '/' || has_bad_component(path)) {
    return make_error(ErrorCode::kInvalidFormat,
                      shown + " is absolute or has an empty, '.' or '..' component; it must stay inside the "
                              "snapshot folder");
  }
  return {};
}

bool is_commit_hash(std::string_view text) {
  if (text.size() != 40) return false;
  for (char c : text) {
    if (!is_hex_lower(c)) return false;
  }
  return true;
}

std::string normalize_etag(std::string_view etag) {
  if (etag.substr(0, 2) == "W/") etag.remove_prefix(2);
  while (!etag.empty() && etag.front() == '"') etag.remove_prefix(1);
  while (!etag.empty() && etag.back() == '"') etag.remove_suffix(1);
  // The ETag becomes a file name under blobs/, so it must not be able to name anything else.
  if (etag.empty() || etag.size() > 200 || etag == "." || etag == "..") return "";
  for (char c : etag) {
    if (!is_name_char(c)) return "";
  }
  return std::string(etag);
}

std::string percent_encode(std::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                            c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved || (keep_slash && c == '/')) {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

}  // namespace glimpse::hub

namespace glimpse {

Result<ModelReference> parse_model_reference(std::string_view text) {
  ModelReference reference;
  const std::size_t at = text.find('@');
  if (at == std::string_view::npos) {
    reference.repo_id = std::string(text);
  } else {
    reference.repo_id = std::string(text.substr(0, at));
    reference.revision = std::string(text.substr(at + 1));
    GLIMPSE_RETURN_IF_ERROR(hub::validate_revision(reference.revision));
  }
  GLIMPSE_RETURN_IF_ERROR(hub::validate_repo_id(reference.repo_id));
  return reference;
}

std::string repo_folder_name(std::string_view repo_id) {
  std::string name = "models";
  for (std::string_view part : hub::split(repo_id, '/')) {
    name += "--";
    name += part;
  }
  return name;
}

}  // namespace glimpse
