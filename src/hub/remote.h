// The Hub's HTTP interface as huggingface_hub 1.29 uses it:
//   GET  {endpoint}/api/models/{repo_id}/revision/{revision}   JSON with "sha" and "siblings"
//   HEAD {endpoint}/{repo_id}/resolve/{commit}/{path}          X-Repo-Commit, ETag or X-Linked-Etag,
//        Content-Length or X-Linked-Size, and for LFS files a redirect to the storage host
// with the errors it returns (X-Error-Code RepoNotFound, RevisionNotFound, EntryNotFound,
// GatedRepo) turned into messages that tell the user what to do next.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "glimpse/hub.h"
#include "glimpse/status.h"
#include "hub/checksum.h"
#include "hub/http.h"
#include "hub/settings.h"

namespace glimpse::hub {

struct RepoInfo {
  std::string commit;            // what the revision resolved to
  std::set<std::string> files;   // repository paths ("siblings")
};

// Location and metadata of one file of a commit.
struct RemoteFile {
  std::string path;     // repository path
  std::string etag;     // normalized: the blob's name in the cache
  std::uint64_t size = 0;
  std::string url;      // the URL to GET, after relative redirects; the storage host for LFS files
  bool send_token = true;  // false when `url` is on another host than the endpoint
  ChecksumKind checksum = ChecksumKind::kNone;
};

// `text` with every occurrence of `token` replaced by "<token>"; a safety net so that a token
// echoed by a server can never reach a message.
std::string scrub_token(std::string text, const std::string& token);

// True for statuses worth retrying: 408, 429 and 5xx.
bool is_retryable_status(long status);

// Sleeps before retry number `attempt` (1-based): `base` seconds doubled per attempt, at most 8 s.
void sleep_before_retry(double base_seconds, int attempt);

class HubRemote {
 public:
  HubRemote(HttpClient& client, const HubSettings& settings, const HubOptions& options, const ModelReference& reference)
      : client_(client), settings_(settings), options_(options), reference_(reference) {}

  // Classification of a failed fetch_repo_info().
  struct InfoFailure {
    bool cache_may_answer = false;  // network failure, 401, 403, 404 for the repository, 5xx
    bool transient = false;         // network failure, 408, 429 or 5xx: a retry may succeed
  };

  // Resolves the revision to a commit and lists the repository's files. With `attempts` 1 the
  // first failure is returned at once.
  Result<RepoInfo> fetch_repo_info(int attempts, InfoFailure& failure);

  // Reads the metadata of `path` at `commit` with a HEAD request.
  Result<RemoteFile> fetch_file_metadata(const std::string& commit, const std::string& path);

  // "Authorization: Bearer ..." when a token is set; nothing otherwise.
  std::vector<std::string> auth_headers() const;

  // Turns a non-success response into an error for `file` (empty for the repository API).
  Error status_error(const HttpResponse& response, const std::string& url, const std::string& file) const;

 private:
  Result<HttpResponse> request(HttpRequest request, int attempts, bool& network_failure);
  std::string repo_label() const;

  HttpClient& client_;
  const HubSettings& settings_;
  const HubOptions& options_;
  const ModelReference& reference_;
};

}  // namespace glimpse::hub
