#include "hub/settings.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "glimpse/log.h"

namespace glimpse::hub {
namespace {

std::optional<std::string> lookup(const EnvLookup& env, const std::string& name) {
  std::optional<std::string> value = env(name);
  if (value && value->empty()) return std::nullopt;
  return value;
}

// The first of `names` that is set, with its name.
std::optional<std::pair<std::string, std::string>> first_set(const EnvLookup& env,
                                                             std::initializer_list<const char*> names) {
  for (const char* name : names) {
    if (auto value = lookup(env, name)) return std::make_pair(std::string(name), *value);
  }
  return std::nullopt;
}

Result<std::string> home_dir(const EnvLookup& env) {
  if (auto home = lookup(env, "HOME")) return *home;
  // Without HOME, fall back to the password database, as Python's os.path.expanduser does.
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  if (getpwuid_r(getuid(), &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr &&
      found->pw_dir != nullptr && found->pw_dir[0] != '\0') {
    return std::string(found->pw_dir);
  }
  return make_error(ErrorCode::kNotFound,
                    "cannot find the home folder: HOME is unset and the user has no password database entry; set "
                    "HF_HOME or HF_HUB_CACHE, or pass a cache folder");
}

// Expands a leading "~" or "~/" to the home folder. "~user" forms are left as they are.
Result<std::string> expand_user(const std::string& path, const EnvLookup& env) {
  if (path == "~" || path.rfind("~/", 0) == 0) {
    GLIMPSE_ASSIGN_OR_RETURN(std::string home, home_dir(env));
    return home + path.substr(1);
  }
  return path;
}

std::string absolute_path(const std::string& path) {
  std::error_code ec;
  const std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  return ec ? path : absolute.lexically_normal().string();
}

// Removes "\r" and "\n" anywhere and surrounding whitespace, as huggingface_hub's _clean_token().
std::string clean_token(std::string token) {
  token.erase(std::remove_if(token.begin(), token.end(), [](char c) { return c == '\r' || c == '\n'; }),
              token.end());
  const auto not_space = [](unsigned char c) { return !std::isspace(c); };
  token.erase(token.begin(), std::find_if(token.begin(), token.end(), not_space));
  token.erase(std::find_if(token.rbegin(), token.rend(), not_space).base(), token.end());
  return token;
}

// A token goes into an HTTP header, so anything outside visible ASCII is rejected. The message
// names where the token came from, never its value.
Status check_token_characters(const std::string& token, const std::string& origin) {
  for (char c : token) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7f) {
      return make_error(ErrorCode::kInvalidArgument,
                        "the token from " + origin +
                            " contains a space, a control character or a non-ASCII byte; Hub tokens are plain "
                            "ASCII such as 'hf_...'. Set a valid token or unset it");
    }
  }
  return {};
}

Result<double> parse_seconds(const std::string& text, const std::string& origin) {
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (errno != 0 || end == text.c_str() || *end != '\0' || !(value > 0) || value > 86400) {
    return make_error(ErrorCode::kInvalidArgument,
                      origin + " is '" + text + "'; expected a number of seconds above 0 and at most 86400");
  }
  return value;
}

Result<double> resolve_seconds(const std::optional<double>& option, const char* option_name, const EnvLookup& env,
                               const char* variable, double fallback) {
  if (option) {
    if (!(*option > 0) || *option > 86400) {
      return make_error(ErrorCode::kInvalidArgument, std::string("HubOptions::") + option_name + " is " +
                                                         std::to_string(*option) +
                                                         "; expected seconds above 0 and at most 86400");
    }
    return *option;
  }
  if (auto text = lookup(env, variable)) return parse_seconds(*text, variable);
  return fallback;
}

Result<std::string> resolve_endpoint(const HubOptions& options, const EnvLookup& env) {
  std::string origin = "HubOptions::endpoint";
  std::string endpoint;
  if (options.endpoint) {
    endpoint = *options.endpoint;
  } else if (auto value = lookup(env, "HF_ENDPOINT")) {
    endpoint = *value;
    origin = "HF_ENDPOINT";
  } else {
    endpoint = kDefaultEndpoint;
  }
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  const bool http = endpoint.rfind("http://", 0) == 0 && endpoint.size() > 7;
  const bool https = endpoint.rfind("https://", 0) == 0 && endpoint.size() > 8;
  const bool clean = std::none_of(endpoint.begin(), endpoint.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte <= 0x20 || byte >= 0x7f || c == '?' || c == '#';
  });
  if (!(http || https) || !clean) {
    return make_error(ErrorCode::kInvalidArgument,
                      origin + " is '" + endpoint +
                          "'; expected an http:// or https:// URL without query or fragment, such as "
                          "'https://huggingface.co'");
  }
  return endpoint;
}

Result<std::string> read_token_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return std::string();
    return make_error(ErrorCode::kIoError, "cannot read the token file '" + path + "': " + std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Status resolve_token(const HubOptions& options, const EnvLookup& env, HubSettings& settings) {
  if (options.token) {
    settings.token = clean_token(*options.token);
    settings.token_source = TokenSource::kOptions;
    settings.token_origin = "HubOptions::token";
  } else if (auto variable = first_set(env, {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"});
             variable && !clean_token(variable->second).empty()) {
    settings.token = clean_token(variable->second);
    settings.token_source = TokenSource::kEnvironment;
    settings.token_origin = variable->first;
  } else {
    std::string path;
    if (auto value = lookup(env, "HF_TOKEN_PATH")) {
      GLIMPSE_ASSIGN_OR_RETURN(path, expand_user(*value, env));
    } else {
      GLIMPSE_ASSIGN_OR_RETURN(std::string home, hf_home_dir(env));
      path = home + "/token";
    }
    auto text = read_token_file(path);
    if (!text.ok()) {
      // An unreadable token file should not block public models, so it is reported and skipped.
      log_message(LogLevel::kWarning, text.error().message + "; continuing without a token");
    } else if (!clean_token(*text).empty()) {
      settings.token = clean_token(*text);
      settings.token_source = TokenSource::kTokenFile;
      settings.token_origin = "the token file '" + path + "'";
    }
  }
  if (settings.token.empty()) {
    settings.token_source = TokenSource::kNone;
    settings.token_origin.clear();
    return {};
  }
  return check_token_characters(settings.token, settings.token_origin);
}

}  // namespace

EnvLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

bool is_true_value(const std::string& value) {
  std::string upper = value;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
  return upper == "1" || upper == "ON" || upper == "YES" || upper == "TRUE";
}

Result<std::string> hf_home_dir(const EnvLookup& env) {
  if (auto value = lookup(env, "HF_HOME")) return expand_user(*value, env);
  if (auto value = lookup(env, "XDG_CACHE_HOME")) {
    GLIMPSE_ASSIGN_OR_RETURN(std::string xdg, expand_user(*value, env));
    return xdg + "/huggingface";
  }
  GLIMPSE_ASSIGN_OR_RETURN(std::string home, home_dir(env));
  return home + "/.cache/huggingface";
}

Result<std::string> hub_cache_dir(const EnvLookup& env) {
  std::string dir;
  if (auto variable = first_set(env, {"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"})) {
    GLIMPSE_ASSIGN_OR_RETURN(dir, expand_user(variable->second, env));
  } else {
    GLIMPSE_ASSIGN_OR_RETURN(std::string home, hf_home_dir(env));
    dir = home + "/hub";
  }
  return absolute_path(dir);
}

Result<HubSettings> resolve_settings(const HubOptions& options, const EnvLookup& env) {
  HubSettings settings;
  GLIMPSE_ASSIGN_OR_RETURN(settings.endpoint, resolve_endpoint(options, env));

  if (options.cache_dir) {
    if (options.cache_dir->empty()) {
      return make_error(ErrorCode::kInvalidArgument, "the cache folder is an empty string; pass a folder path");
    }
    GLIMPSE_ASSIGN_OR_RETURN(std::string dir, expand_user(*options.cache_dir, env));
    settings.cache_dir = absolute_path(dir);
  } else {
    GLIMPSE_ASSIGN_OR_RETURN(settings.cache_dir, hub_cache_dir(env));
  }

  if (options.offline) {
    settings.offline = *options.offline;
  } else {
    const auto value = first_set(env, {"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"});
    settings.offline = value && is_true_value(value->second);
  }

  GLIMPSE_RETURN_IF_ERROR(resolve_token(options, env, settings));
  GLIMPSE_ASSIGN_OR_RETURN(settings.request_timeout_seconds,
                           resolve_seconds(options.request_timeout_seconds, "request_timeout_seconds", env,
                                           "HF_HUB_ETAG_TIMEOUT", kDefaultRequestTimeoutSeconds));
  GLIMPSE_ASSIGN_OR_RETURN(settings.stall_timeout_seconds,
                           resolve_seconds(options.stall_timeout_seconds, "stall_timeout_seconds", env,
                                           "HF_HUB_DOWNLOAD_TIMEOUT", kDefaultStallTimeoutSeconds));
  if (auto value = lookup(env, "HF_HUB_DISABLE_PROGRESS_BARS")) {
    settings.progress_disabled_by_environment = is_true_value(*value);
  }
  return settings;
}

}  // namespace glimpse::hub
