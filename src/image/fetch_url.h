// Internal: http(s) downloads with libcurl under the limits of ImageLoadOptions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "glimpse/image_source.h"
#include "glimpse/status.h"

namespace glimpse::image_internal {

// Downloads `url` and returns the response body. Only http and https are followed, at most
// options.url_max_redirects redirects; the connection must open within url_connect_timeout_ms and
// the whole transfer end within url_timeout_ms; a body over max_url_bytes stops the transfer. An
// HTTP status of 400 or more, or a body that is HTML or text rather than an image, is an error.
// `input_name` names the URL in errors.
Result<std::vector<std::uint8_t>> fetch_url(const std::string& url, const ImageLoadOptions& options,
                                            const std::string& input_name);

}  // namespace glimpse::image_internal
