// HubOptions with every unset field filled from the environment, following huggingface_hub's
// constants.py and utils/_auth.py (version 1.29): HF_ENDPOINT, HF_HOME, HF_HUB_CACHE,
// HUGGINGFACE_HUB_CACHE, XDG_CACHE_HOME, HF_TOKEN, HUGGING_FACE_HUB_TOKEN, HF_TOKEN_PATH,
// HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE, HF_HUB_ETAG_TIMEOUT, HF_HUB_DOWNLOAD_TIMEOUT and
// HF_HUB_DISABLE_PROGRESS_BARS.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "glimpse/hub.h"
#include "glimpse/status.h"

namespace glimpse::hub {

// Returns the value of an environment variable, or nothing when it is unset. An empty value
// counts as unset everywhere in this module.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// The lookup of the running process (getenv).
EnvLookup process_environment();

inline constexpr const char* kDefaultEndpoint = "https://huggingface.co";
inline constexpr double kDefaultRequestTimeoutSeconds = 10;  // huggingface_hub's DEFAULT_ETAG_TIMEOUT
inline constexpr double kDefaultStallTimeoutSeconds = 10;    // huggingface_hub's DEFAULT_DOWNLOAD_TIMEOUT

// Origin of the token, for messages that must never show the token itself.
enum class TokenSource { kNone, kOptions, kEnvironment, kTokenFile };

struct HubSettings {
  std::string endpoint;   // "http://" or "https://" URL without a trailing '/'
  std::string cache_dir;  // absolute
  std::string token;      // empty when none is sent
  TokenSource token_source = TokenSource::kNone;
  std::string token_origin;  // "HF_TOKEN", the token file path, ...; empty without a token
  bool offline = false;
  double request_timeout_seconds = kDefaultRequestTimeoutSeconds;
  double stall_timeout_seconds = kDefaultStallTimeoutSeconds;
  bool progress_disabled_by_environment = false;  // HF_HUB_DISABLE_PROGRESS_BARS is true
};

// True for the values huggingface_hub reads as true: 1, ON, YES, TRUE in any case.
bool is_true_value(const std::string& value);

// The HF_HOME folder: $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
Result<std::string> hf_home_dir(const EnvLookup& env);

// The hub cache folder an unset HubOptions::cache_dir means.
Result<std::string> hub_cache_dir(const EnvLookup& env);

// Fills the unset fields of `options` from `env` and checks every value.
Result<HubSettings> resolve_settings(const HubOptions& options, const EnvLookup& env);

}  // namespace glimpse::hub
