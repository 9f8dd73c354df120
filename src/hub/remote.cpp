#include "hub/remote.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include <nlohmann/json.hpp>

#include "formats/json_fields.h"
#include "glimpse/log.h"
#include "hub/names.h"

namespace glimpse::hub {
namespace {

// Redirects between names of a renamed repository are followed up to this count, as
// huggingface_hub's _httpx_follow_relative_redirects does without a fixed cap.
constexpr int kMaxRelativeRedirects = 5;
constexpr double kMaxRetryDelaySeconds = 8;
// A refused connection or an unknown host rarely heals within seconds, so it gets fewer attempts.
constexpr int kMaxConnectAttempts = 3;

// The server's X-Error-Message, cut to a length that fits an error line and stripped of control
// characters.
std::string server_message(const HttpResponse& response, const std::string& token) {
  std::string message = scrub_token(response.header("x-error-message"), token);
  message.erase(std::remove_if(message.begin(), message.end(),
                               [](char c) { return static_cast<unsigned char>(c) < 0x20; }),
                message.end());
  if (message.size() > 200) message = message.substr(0, 200) + "...";
  return message;
}

Result<std::uint64_t> parse_size(const std::string& text, const std::string& header, const std::string& url) {
  std::uint64_t value = 0;
  bool valid = !text.empty() && text.size() <= 19;
  for (char c : text) {
    if (c < '0' || c > '9') valid = false;
    if (valid) value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (!valid) {
    return make_error(ErrorCode::kInvalidFormat,
                      "the " + header + " header of " + url + " is '" + text.substr(0, 40) + "', not a byte count");
  }
  return value;
}

bool is_redirect(long status) { return status == 301 || status == 302 || status == 303 || status == 307 || status == 308; }

}  // namespace

std::string scrub_token(std::string text, const std::string& token) {
  if (token.empty()) return text;
  for (std::size_t at = text.find(token); at != std::string::npos; at = text.find(token, at)) {
    text.replace(at, token.size(), "<token>");
  }
  return text;
}

bool is_retryable_status(long status) { return status == 408 || status == 429 || (status >= 500 && status < 600); }

void sleep_before_retry(double base_seconds, int attempt) {
  const double delay = std::min(kMaxRetryDelaySeconds, base_seconds * std::pow(2.0, attempt - 1));
  std::this_thread::sleep_for(std::chrono::duration<double>(std::max(0.0, delay)));
}

std::vector<std::string> HubRemote::auth_headers() const {
  if (settings_.token.empty()) return {};
  return {"Authorization: Bearer " + settings_.token};
}

std::string HubRemote::repo_label() const { return "'" + reference_.repo_id + "'"; }

Result<HttpResponse> HubRemote::request(HttpRequest request, int attempts, bool& network_failure) {
  network_failure = false;
  request.connect_timeout_seconds = options_.connect_timeout_seconds;
  request.timeout_seconds = settings_.request_timeout_seconds;
  for (int attempt = 1;; ++attempt) {
    HttpResult result = client_.perform(request);
    const bool transient = result.failure == TransportFailure::kConnect ||
                           result.failure == TransportFailure::kTimeout ||
                           result.failure == TransportFailure::kInterrupted;
    const int allowed = result.failure == TransportFailure::kConnect ? std::min(attempts, kMaxConnectAttempts)
                                                                     : attempts;
    const bool retry = (transient || (result.transport_ok() && is_retryable_status(result.response.status))) &&
                       attempt < allowed;
    if (retry) {
      const std::string reason = result.transport_ok()
                                     ? "HTTP " + std::to_string(result.response.status) + " from " + request.url
                                     : result.error.message;
      log_message(LogLevel::kWarning, reason + "; retrying (attempt " + std::to_string(attempt + 1) + " of " +
                                          std::to_string(allowed) + ")");
      sleep_before_retry(options_.retry_delay_seconds, attempt);
      continue;
    }
    if (!result.transport_ok()) {
      network_failure = result.failure != TransportFailure::kRejected;
      Error error = std::move(result.error);
      if (attempt > 1) error.message += " after " + std::to_string(attempt) + " attempts";
      error.message +=
          ". Check the network connection and the Hub endpoint (HF_ENDPOINT is " + settings_.endpoint +
          "); to use only models already in the cache, pass --offline or set HF_HUB_OFFLINE=1";
      return error;
    }
    return std::move(result.response);
  }
}

Error HubRemote::status_error(const HttpResponse& response, const std::string& url, const std::string& file) const {
  const long status = response.status;
  const std::string http = "(HTTP " + std::to_string(status) + ")";
  const std::string error_code = response.header("x-error-code");
  const std::string server_text = server_message(response, settings_.token);
  const std::string server_note = server_text.empty() ? "" : " The Hub's message: \"" + server_text + "\".";
  const bool token_sent = !settings_.token.empty();
  const std::string model_page = settings_.endpoint + "/" + reference_.repo_id;

  if (error_code == "RevisionNotFound") {
    return make_error(ErrorCode::kNotFound, "revision '" + reference_.revision + "' was not found in " + repo_label() +
                                                " " + http + "." + server_note +
                                                " Use a branch, a tag or a commit hash of the repository");
  }
  if (error_code == "EntryNotFound" || (status == 404 && error_code.empty() && !file.empty())) {
    return make_error(ErrorCode::kNotFound, "'" + file + "' was not found in " + repo_label() + " at revision '" +
                                                reference_.revision + "' " + http + "." + server_note);
  }
  if (error_code == "GatedRepo") {
    const std::string advice = token_sent ? "the token from " + settings_.token_origin +
                                              " belongs to an account without access to it. Accept the conditions "
                                              "on " + model_page + " with that account"
                                        : "no token was sent. Accept its conditions on " + model_page +
                                              ", then set HF_TOKEN to a token of that account or log in with "
                                              "`hf auth login`";
    return make_error(ErrorCode::kInvalidArgument,
                      repo_label() + " is a gated repository and access was denied " + http + ": " + advice + "." +
                          server_note);
  }
  if (status == 401 && token_sent && server_text.find("Invalid credentials") != std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument,
                      "the Hub rejected the token from " + settings_.token_origin + " as invalid " + http +
                          ". Create a new token at " + settings_.endpoint + "/settings/tokens and set HF_TOKEN");
  }
  if (error_code == "RepoNotFound" || status == 401 || status == 404) {
    // The Hub responds with 401 rather than 404 for a missing repository when no token is sent,
    // so that private names do not leak. Both cases get the same advice.
    const std::string access = token_sent ? "check that the token from " + settings_.token_origin + " has access to it"
                                          : "set HF_TOKEN or log in with `hf auth login`, since no token was sent";
    return make_error(ErrorCode::kNotFound, "repository " + repo_label() + " was not found on " + settings_.endpoint +
                                                " " + http + "." + server_note +
                                                " Check the spelling; if the repository is private or gated, " +
                                                access);
  }
  if (status == 403) {
    return make_error(ErrorCode::kInvalidArgument,
                      "access to " + url + " is forbidden " + http + "." + server_note +
                          (token_sent ? " Check that the token from " + settings_.token_origin +
                                            " has read access to " + repo_label()
                                      : " No token was sent; set HF_TOKEN or log in with `hf auth login`"));
  }
  if (is_retryable_status(status)) {
    return make_error(ErrorCode::kIoError,
                      "the Hub returned HTTP " + std::to_string(status) + " for " + url + "." + server_note +
                          " The server is busy or failing; retry later, or pass --offline to use a model already "
                          "in the cache");
  }
  return make_error(ErrorCode::kIoError,
                    "unexpected response " + http + " from " + url + "." + server_note +
                        " Check that HF_ENDPOINT (" + settings_.endpoint + ") is a Hugging Face Hub or a mirror of it");
}

Result<RepoInfo> HubRemote::fetch_repo_info(int attempts, InfoFailure& failure) {
  failure = InfoFailure{};
  HttpRequest api_request;
  api_request.url = settings_.endpoint + "/api/models/" + reference_.repo_id + "/revision/" +
                    percent_encode(reference_.revision, /*keep_slash=*/false);
  api_request.headers = auth_headers();
  api_request.follow_redirects = true;
  bool network_failure = false;
  auto response = request(api_request, attempts, network_failure);
  if (!response.ok()) {
    failure.cache_may_answer = network_failure;
    failure.transient = network_failure;
    return response.take_error();
  }
  const long status = response->status;
  if (status != 200) {
    const std::string error_code = response->header("x-error-code");
    failure.transient = is_retryable_status(status);
    failure.cache_may_answer = error_code != "RevisionNotFound" &&
                               (status == 401 || status == 403 || status == 404 || failure.transient);
    return status_error(*response, api_request.url, "");
  }

  const std::string source = "the Hub's response for " + api_request.url;
  GLIMPSE_ASSIGN_OR_RETURN(nlohmann::json body, json_fields::parse(response->body, source));
  if (!body.is_object() || !body.contains("sha") || !body["sha"].is_string() ||
      !is_commit_hash(body["sha"].get<std::string>())) {
    return make_error(ErrorCode::kInvalidFormat,
                      source + " has no \"sha\" field with a 40-digit commit hash; check that HF_ENDPOINT (" +
                          settings_.endpoint + ") is a Hugging Face Hub or a mirror of it");
  }
  RepoInfo info;
  info.commit = body["sha"].get<std::string>();
  const auto siblings = body.find("siblings");
  if (siblings == body.end() || !siblings->is_array()) {
    return make_error(ErrorCode::kInvalidFormat, source + " has no \"siblings\" array listing the repository's files");
  }
  for (const nlohmann::json& sibling : *siblings) {
    if (!sibling.is_object() || !sibling.contains("rfilename") || !sibling["rfilename"].is_string()) {
      return make_error(ErrorCode::kInvalidFormat, source + ": an entry of \"siblings\" has no \"rfilename\" string");
    }
    std::string name = sibling["rfilename"].get<std::string>();
    // A name glimpse could not store safely is left out. It can never be one of the selected
    // files, because their names are fixed or checked again.
    if (validate_repo_file_path(name).ok()) info.files.insert(std::move(name));
  }
  return info;
}

Result<RemoteFile> HubRemote::fetch_file_metadata(const std::string& commit, const std::string& path) {
  const std::string original_url = settings_.endpoint + "/" + reference_.repo_id + "/resolve/" + commit + "/" +
                                   percent_encode(path, /*keep_slash=*/true);
  std::string url = original_url;
  HttpResponse response;
  std::string location;
  for (int redirects = 0;; ++redirects) {
    HttpRequest request;
    request.head = true;
    request.url = url;
    request.headers = auth_headers();
    bool network_failure = false;
    GLIMPSE_ASSIGN_OR_RETURN(response, this->request(request, options_.max_retries + 1, network_failure));
    if (!is_redirect(response.status)) break;
    location = response.header("location");
    if (location.empty()) {
      return make_error(ErrorCode::kInvalidFormat, "the Hub redirected " + url + " without a Location header");
    }
    GLIMPSE_ASSIGN_OR_RETURN(std::string target, resolve_url(url, location));
    // A relative redirect (a renamed repository) is followed with the token. An absolute one
    // points to the storage host, which is where the file is downloaded from.
    const bool relative = location.find("://") == std::string::npos && location.rfind("//", 0) != 0;
    if (!relative) {
      location = target;
      break;
    }
    if (redirects == kMaxRelativeRedirects) {
      return make_error(ErrorCode::kInvalidFormat, "the Hub redirected " + original_url + " more than " +
                                                       std::to_string(kMaxRelativeRedirects) + " times");
    }
    url = target;
    location.clear();
  }
  const bool redirected = is_redirect(response.status);
  if (!redirected && (response.status < 200 || response.status >= 300)) {
    return status_error(response, url, path);
  }

  RemoteFile file;
  file.path = path;
  const std::string response_commit = response.header("x-repo-commit");
  if (response_commit.empty()) {
    return make_error(ErrorCode::kInvalidFormat,
                      "the response for " + url + " has no X-Repo-Commit header, so it does not come from a Hugging "
                      "Face Hub; check HF_ENDPOINT (" + settings_.endpoint + ") and any proxy in between");
  }
  if (response_commit != commit) {
    return make_error(ErrorCode::kInvalidFormat, "the Hub returned commit " + response_commit + " for " + url +
                                                     " instead of " + commit + "; run the command again");
  }
  std::string raw_etag = response.header("x-linked-etag");
  if (raw_etag.empty()) raw_etag = response.header("etag");
  file.etag = normalize_etag(raw_etag);
  if (file.etag.empty()) {
    return make_error(ErrorCode::kInvalidFormat,
                      "the response for " + url + " has no usable ETag (found '" + raw_etag.substr(0, 80) +
                          "'), so the file cannot be named or verified in the cache");
  }
  std::string size_text = response.header("x-linked-size");
  const char* size_header = "X-Linked-Size";
  if (size_text.empty() && !redirected) {
    size_text = response.header("content-length");
    size_header = "Content-Length";
  }
  if (size_text.empty()) {
    return make_error(ErrorCode::kInvalidFormat, "the response for " + url + " gives no file size (X-Linked-Size or "
                                                 "Content-Length)");
  }
  GLIMPSE_ASSIGN_OR_RETURN(file.size, parse_size(size_text, size_header, url));
  file.url = redirected ? location : url;
  file.send_token = url_host(file.url) == url_host(original_url);
  file.checksum = checksum_kind_of_etag(file.etag);
  return file;
}

}  // namespace glimpse::hub
