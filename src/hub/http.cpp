#include "hub/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <exception>
#include <mutex>

#ifndef GLIMPSE_HUB_USER_AGENT
#define GLIMPSE_HUB_USER_AGENT "glimpse"
#endif

namespace glimpse::hub {
namespace {

// curl_global_init is not thread-safe, so it runs once per process under std::call_once.
Status init_curl_once() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (code != CURLE_OK) {
    return make_error(ErrorCode::kInternal, std::string("libcurl failed to initialize: ") + curl_easy_strerror(code));
  }
  return {};
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return std::string(text);
}

struct TransferState {
  const HttpRequest* request = nullptr;
  HttpResponse response;
  std::optional<Error> sink_error;
  std::chrono::steady_clock::time_point last_data = std::chrono::steady_clock::now();
  bool stalled = false;
};

// libcurl calls this about once per second even while no data arrives, so a stall is noticed
// within a second of the timeout. libcurl's own low-speed limit averages over several seconds and
// would notice a stall after a burst of data only seconds later.
int on_transfer_info(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto& state = *static_cast<TransferState*>(user);
  const double idle = std::chrono::duration<double>(std::chrono::steady_clock::now() - state.last_data).count();
  if (idle > state.request->stall_timeout_seconds) {
    state.stalled = true;
    return 1;
  }
  return 0;
}

// Called once per header line, and with the status line of each response, redirects included.
std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
  auto& state = *static_cast<TransferState*>(user);
  const std::size_t length = size * count;
  state.last_data = std::chrono::steady_clock::now();
  const std::string_view line(data, length);
  if (line.rfind("HTTP/", 0) == 0) {
    state.response.headers.clear();
    const std::size_t space = line.find(' ');
    state.response.status = space == std::string_view::npos ? 0 : std::strtol(std::string(line.substr(space + 1, 3)).c_str(), nullptr, 10);
    return length;
  }
  const std::size_t colon = line.find(':');
  if (colon != std::string_view::npos && colon > 0) {
    state.response.headers[lowercase(std::string(line.substr(0, colon)))] = trim(line.substr(colon + 1));
  }
  return length;
}

std::size_t on_write(char* data, std::size_t size, std::size_t count, void* user) {
  auto& state = *static_cast<TransferState*>(user);
  const std::size_t length = size * count;
  state.last_data = std::chrono::steady_clock::now();
  const long status = state.response.status;
  const bool success = status >= 200 && status < 300;
  if (success && state.request->on_body) {
    // An exception must not unwind through libcurl's C frames, so it becomes the sink's error.
    Status status_of_sink;
    try {
      status_of_sink = state.request->on_body(data, length, state.response);
    } catch (const std::exception& e) {
      status_of_sink = make_error(ErrorCode::kInternal, std::string("receiving data failed: ") + e.what());
    }
    if (!status_of_sink.ok()) {
      state.sink_error = status_of_sink.take_error();
      return CURL_WRITEFUNC_ERROR;
    }
    return length;
  }
  const std::size_t room = state.request->max_body_bytes - std::min(state.request->max_body_bytes, state.response.body.size());
  state.response.body.append(data, std::min(room, length));
  return length;
}

TransportFailure classify(CURLcode code) {
  switch (code) {
    case CURLE_OK: return TransportFailure::kNone;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return TransportFailure::kConnect;
    case CURLE_OPERATION_TIMEDOUT: return TransportFailure::kTimeout;
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return TransportFailure::kInterrupted;
    default: return TransportFailure::kOther;
  }
}

std::string describe_failure(TransportFailure failure, const HttpRequest& request, CURLcode code,
                             const char* curl_message) {
  const std::string detail = curl_message[0] != '\0' ? curl_message : curl_easy_strerror(code);
  switch (failure) {
    case TransportFailure::kConnect:
      return "cannot connect to " + request.url + " (" + detail + ")";
    case TransportFailure::kTimeout:
      return "request to " + request.url + " timed out (" + detail + ")";
    case TransportFailure::kInterrupted:
      return "the connection to " + request.url + " broke before the response was complete (" + detail + ")";
    default:
      return "request to " + request.url + " failed (" + detail + ")";
  }
}

long to_milliseconds(double seconds) { return static_cast<long>(std::ceil(seconds * 1000.0)); }

}  // namespace

std::string HttpResponse::header(std::string_view lowercase_name) const {
  const auto it = headers.find(std::string(lowercase_name));
  return it == headers.end() ? std::string() : it->second;
}

Result<HttpClient> HttpClient::create() {
  GLIMPSE_RETURN_IF_ERROR(init_curl_once());
  CURL* handle = curl_easy_init();
  if (handle == nullptr) return make_error(ErrorCode::kInternal, "libcurl failed to create a transfer handle");
  return HttpClient(handle);
}

HttpClient::HttpClient(HttpClient&& other) noexcept : handle_(other.handle_) { other.handle_ = nullptr; }

HttpClient& HttpClient::operator=(HttpClient&& other) noexcept {
  if (this != &other) {
    if (handle_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(handle_));
    handle_ = other.handle_;
    other.handle_ = nullptr;
  }
  return *this;
}

HttpClient::~HttpClient() {
  if (handle_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(handle_));
}

HttpResult HttpClient::perform(const HttpRequest& request) {
  CURL* curl = static_cast<CURL*>(handle_);
  curl_easy_reset(curl);

  TransferState state;
  state.request = &request;
  char curl_message[CURL_ERROR_SIZE] = {};

  curl_slist* header_list = nullptr;
  for (const std::string& header : request.headers) header_list = curl_slist_append(header_list, header.c_str());
  // Ask for the stored bytes, never a compressed form, so lengths match the announced sizes.
  header_list = curl_slist_append(header_list, "Accept-Encoding: identity");
  const std::string range = std::to_string(request.range_start) + "-";

  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, GLIMPSE_HUB_USER_AGENT);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_message);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  // libcurl drops a custom Authorization header when a redirect leaves the host, and this keeps it so.
  curl_easy_setopt(curl, CURLOPT_UNRESTRICTED_AUTH, 0L);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &state);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, to_milliseconds(request.connect_timeout_seconds));
  if (request.head) curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  if (request.range_start > 0) curl_easy_setopt(curl, CURLOPT_RANGE, range.c_str());
  if (request.timeout_seconds > 0) curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, to_milliseconds(request.timeout_seconds));
  if (request.stall_timeout_seconds > 0) {
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_transfer_info);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &state);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  }

  const CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(header_list);

  HttpResult result;
  result.response = std::move(state.response);
  char* effective_url = nullptr;
  if (curl_easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &effective_url) == CURLE_OK && effective_url != nullptr) {
    result.response.effective_url = effective_url;
  }
  if (state.sink_error) {
    result.failure = TransportFailure::kRejected;
    result.error = std::move(*state.sink_error);
    return result;
  }
  if (state.stalled) {
    result.failure = TransportFailure::kTimeout;
    result.error = make_error(ErrorCode::kIoError, "the transfer from " + request.url + " timed out: no data for " +
                                                       std::to_string(static_cast<int>(request.stall_timeout_seconds)) +
                                                       " s");
    return result;
  }
  result.failure = classify(code);
  if (result.failure != TransportFailure::kNone) {
    result.error = make_error(ErrorCode::kIoError, describe_failure(result.failure, request, code, curl_message));
  }
  return result;
}

std::string url_host(const std::string& url) {
  if (!init_curl_once().ok()) return "";
  CURLU* handle = curl_url();
  std::string host;
  char* part = nullptr;
  if (handle != nullptr && curl_url_set(handle, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_get(handle, CURLUPART_HOST, &part, 0) == CURLUE_OK) {
    host = lowercase(part);
    curl_free(part);
  }
  curl_url_cleanup(handle);
  return host;
}

Result<std::string> resolve_url(const std::string& base, const std::string& location) {
  GLIMPSE_RETURN_IF_ERROR(init_curl_once());
  CURLU* handle = curl_url();
  if (handle == nullptr) return make_error(ErrorCode::kInternal, "libcurl failed to allocate a URL handle");
  std::string resolved;
  char* text = nullptr;
  // Setting a relative URL on a handle that contains an absolute one resolves it against that base.
  const bool ok = curl_url_set(handle, CURLUPART_URL, base.c_str(), 0) == CURLUE_OK &&
                  curl_url_set(handle, CURLUPART_URL, location.c_str(), 0) == CURLUE_OK &&
                  curl_url_get(handle, CURLUPART_URL, &text, 0) == CURLUE_OK;
  if (ok) {
    resolved = text;
    curl_free(text);
  }
  curl_url_cleanup(handle);
  if (!ok) {
    return make_error(ErrorCode::kInvalidFormat,
                      "the redirect target '" + location.substr(0, 200) + "' from " + base + " is not a valid URL");
  }
  return resolved;
}

}  // namespace glimpse::hub
