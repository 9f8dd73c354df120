// A small HTTP client over libcurl for the Hub's API, metadata and file requests.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "glimpse/status.h"

namespace glimpse::hub {

struct HttpResponse {
  long status = 0;  // 0 when no response arrived
  // Headers of the last response (after redirects when they are followed), names in lowercase.
  std::map<std::string, std::string> headers;
  std::string body;           // the body when no body callback took it, up to max_body_bytes
  std::string effective_url;  // the URL the last response came from

  // The header's value, or an empty string.
  std::string header(std::string_view lowercase_name) const;
};

// Receives body bytes of a 2xx response, with the response's status and headers. Returning an error
// aborts the transfer, and that error becomes HttpResult::error.
using BodySink = std::function<Status(const char* data, std::size_t size, const HttpResponse& head)>;

struct HttpRequest {
  bool head = false;  // HEAD instead of GET
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  bool follow_redirects = false;
  std::uint64_t range_start = 0;          // above 0 sends "Range: bytes=<range_start>-"
  double timeout_seconds = 0;             // the whole request; 0 sets no limit
  double connect_timeout_seconds = 10;
  // Abort after this many seconds without a byte; checked about once per second. 0 sets none.
  double stall_timeout_seconds = 0;
  std::size_t max_body_bytes = 16u << 20;  // bodies kept in memory are truncated to this
  BodySink on_body;                        // unset: 2xx bodies are kept in HttpResponse::body
};

enum class TransportFailure {
  kNone,
  kConnect,      // the host was not found or refused the connection
  kTimeout,      // the request or the stall timeout expired
  kInterrupted,  // the connection broke or closed before the response was complete
  kRejected,     // the body sink returned an error
  kOther,        // TLS, protocol or local failures
};

struct HttpResult {
  HttpResponse response;  // as much as arrived
  TransportFailure failure = TransportFailure::kNone;
  Error error;  // meaningful when failure != kNone; names the URL

  bool transport_ok() const { return failure == TransportFailure::kNone; }
};

// One libcurl easy handle, reused so that consecutive requests share connections. Not thread-safe:
// use one client per thread.
class HttpClient {
 public:
  static Result<HttpClient> create();
  HttpClient(HttpClient&& other) noexcept;
  HttpClient& operator=(HttpClient&& other) noexcept;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  ~HttpClient();

  HttpResult perform(const HttpRequest& request);

 private:
  explicit HttpClient(void* handle) : handle_(handle) {}
  void* handle_ = nullptr;  // CURL*
};

// The host of an absolute http(s) URL in lowercase, or an empty string when it has none.
std::string url_host(const std::string& url);

// `location` resolved against `base`, as a browser would follow a redirect.
Result<std::string> resolve_url(const std::string& base, const std::string& location);

}  // namespace glimpse::hub
