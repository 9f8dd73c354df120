// Names the Hub uses: repository ids, revisions, repository file paths, commit hashes, ETags, and
// their percent-encoded forms in URLs.
#pragma once

#include <string>
#include <string_view>

#include "glimpse/status.h"

namespace glimpse::hub {

// Checks `repo_id` against the Hub's rules (see parse_model_reference in glimpse/hub.h).
Status validate_repo_id(std::string_view repo_id);
Status validate_revision(std::string_view revision);

// Checks a path inside a repository, as named by the Hub or by a safetensors index: relative,
// '/'-separated, no empty, "." or ".." component, no backslash or control character.
Status validate_repo_file_path(std::string_view path);

// True for a full commit hash: 40 lowercase hexadecimal digits.
bool is_commit_hash(std::string_view text);

// The ETag in a form usable as a file name: a leading "W/" and the surrounding quotes removed, as
// huggingface_hub's _normalize_etag() does. Empty when the result is not a safe file name.
std::string normalize_etag(std::string_view etag);

// Percent-encodes every byte outside A-Z a-z 0-9 - . _ ~, and also '/' unless `keep_slash`.
// Python's urllib.parse.quote() with safe="/" or safe="" gives the same result.
std::string percent_encode(std::string_view text, bool keep_slash);

}  // namespace glimpse::hub
