// http(s) image downloads with libcurl.
#include "image/fetch_url.h"

#include <curl/curl.h>

#include <memory>
#include <mutex>
#include <string>

#include "glimpse/log.h"

namespace glimpse::image_internal {
namespace {

struct CurlDeleter {
  void operator()(CURL* curl) const { curl_easy_cleanup(curl); }
};

// curl_global_init is not thread-safe, so it runs once, before the first transfer.
Status init_curl() {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (result == CURLE_OK) return {};
  return make_error(ErrorCode::kInternal, std::string("libcurl failed to start: ") + curl_easy_strerror(result));
}

struct Download {
  std::vector<std::uint8_t> body;
  std::size_t limit = 0;
  bool over_limit = false;
};

std::size_t on_body(char* data, std::size_t size, std::size_t count, void* user) {
  auto* download = static_cast<Download*>(user);
  const std::size_t n = size * count;
  if (n > download->limit - download->body.size()) {
    download->over_limit = true;
    return 0;  // makes libcurl stop with CURLE_WRITE_ERROR
  }
  download->body.insert(download->body.end(), reinterpret_cast<std::uint8_t*>(data),
                        reinterpret_cast<std::uint8_t*>(data) + n);
  return n;
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    const char a = text[i] >= 'A' && text[i] <= 'Z' ? static_cast<char>(text[i] - 'A' + 'a') : text[i];
    if (a != prefix[i]) return false;
  }
  return true;
}

Error size_error(const std::string& input_name, const ImageLoadOptions& options) {
  return make_error(ErrorCode::kOutOfRange, input_name + ": the response is larger than the max_url_bytes limit of " +
                                                std::to_string(options.max_url_bytes) +
                                                " bytes; raise max_url_bytes to download it");
}

// Turns a failed transfer into an error that names the limit or the network failure.
Error transfer_error(CURLcode code, CURL* curl, const char* detail, const Download& download,
                     const ImageLoadOptions& options, const std::string& input_name) {
  const std::string reason = detail[0] != '\0' ? detail : curl_easy_strerror(code);
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT: {
      curl_off_t connect_time = 0;
      curl_easy_getinfo(curl, CURLINFO_CONNECT_TIME_T, &connect_time);
      if (connect_time == 0) {
        return make_error(ErrorCode::kOutOfRange,
                          input_name + ": no connection within the url_connect_timeout_ms limit of " +
                              std::to_string(options.url_connect_timeout_ms) + " ms (" + reason +
                              "); raise url_connect_timeout_ms for a slow network");
      }
      return make_error(ErrorCode::kOutOfRange, input_name + ": the download did not finish within the url_timeout_ms "
                                                       "limit of " + std::to_string(options.url_timeout_ms) + " ms (" +
                                                    reason + "); raise url_timeout_ms for a slow server");
    }
    case CURLE_TOO_MANY_REDIRECTS:
      return make_error(ErrorCode::kOutOfRange, input_name + ": more than " + std::to_string(options.url_max_redirects) +
                                                    " redirects (the url_max_redirects limit); the server may "
                                                    "redirect in a loop");
    case CURLE_UNSUPPORTED_PROTOCOL:
      return make_error(ErrorCode::kUnsupported,
                        input_name + ": redirected to a URL whose scheme is not http or https (" + reason + ")");
    case CURLE_FILESIZE_EXCEEDED: return size_error(input_name, options);
    case CURLE_WRITE_ERROR:
      if (download.over_limit) return size_error(input_name, options);
      break;
    default: break;
  }
  return make_error(ErrorCode::kIoError, input_name + ": download failed: " + reason);
}

// Text where an image was expected, such as an HTML error page or a JSON message.
bool is_text_type(std::string_view content_type) {
  return starts_with_ignoring_case(content_type, "text/") || content_type.find("html") != std::string_view::npos ||
         content_type.find("json") != std::string_view::npos || content_type.find("xml") != std::string_view::npos;
}

}  // namespace

Result<std::vector<std::uint8_t>> fetch_url(const std::string& url, const ImageLoadOptions& options,
                                            const std::string& input_name) {
  if (!starts_with_ignoring_case(url, "http://") && !starts_with_ignoring_case(url, "https://")) {
    return make_error(ErrorCode::kUnsupported, input_name + ": only http:// and https:// URLs are supported");
  }
  GLIMPSE_RETURN_IF_ERROR(init_curl());
  const std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return make_error(ErrorCode::kInternal, input_name + ": libcurl could not create a transfer");

  Download download;
  download.limit = static_cast<std::size_t>(options.max_url_bytes);
  char detail[CURL_ERROR_SIZE] = {};
  CURL* handle = curl.get();
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(handle, CURLOPT_MAXREDIRS, static_cast<long>(options.url_max_redirects));
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.url_connect_timeout_ms));
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(options.url_timeout_ms));
  curl_easy_setopt(handle, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_url_bytes));
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);  // signals would break multi-threaded callers
  curl_easy_setopt(handle, CURLOPT_ACCEPT_ENCODING, "");  // gzip and deflate, counted after decoding
  curl_easy_setopt(handle, CURLOPT_USERAGENT, "glimpse");
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, detail);
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &download);

  const CURLcode code = curl_easy_perform(handle);
  if (code != CURLE_OK) {
    Error error = transfer_error(code, handle, detail, download, options, input_name);
    log_message(LogLevel::kInfo, error.message);
    return error;
  }

  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  const char* type = nullptr;
  curl_easy_getinfo(handle, CURLINFO_CONTENT_TYPE, &type);
  const std::string content_type = type != nullptr ? type : "";
  const std::string type_note = content_type.empty() ? "" : " (" + content_type + ")";
  if (status >= 300) {
    return make_error(status == 404 || status == 410 ? ErrorCode::kNotFound : ErrorCode::kIoError,
                      input_name + ": the server answered HTTP " + std::to_string(status) + type_note + " instead of an image");
  }
  if (download.body.empty()) return make_error(ErrorCode::kInvalidFormat, input_name + ": the response body is empty");
  if (sniff_image_format(download.body) == ImageFormat::kUnknown && is_text_type(content_type)) {
    return make_error(ErrorCode::kInvalidFormat,
                      input_name + ": the server returned " + content_type + " content, not an image; check that the URL "
                             "points at the image file itself rather than a web page");
  }
  log_message(LogLevel::kInfo, input_name + ": downloaded " + std::to_string(download.body.size()) + " bytes" + type_note);
  return std::move(download.body);
}

}  // namespace glimpse::image_internal
