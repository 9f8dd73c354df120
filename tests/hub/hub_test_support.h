// Helpers shared by the hub tests that talk to the mock Hub.
#pragma once

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "glimpse/hub.h"
#include "glimpse/log.h"
#include "hub/mock_hub.h"
#include "support/test_support.h"

namespace glimpse::testing {

inline constexpr const char* kTinyRepo = "test-org/tiny-llava";

// Options that point at `hub` and a cache under `dir`, with every environment-derived field set
// so the tests do not depend on the user's HF_* variables, short timeouts and fast retries.
inline HubOptions mock_options(const MockHub& hub, const TempDir& dir) {
  HubOptions options;
  options.endpoint = hub.endpoint();
  options.cache_dir = (dir.path() / "cache").string();
  options.token = "";
  options.offline = false;
  options.request_timeout_seconds = 5;
  options.stall_timeout_seconds = 5;
  options.connect_timeout_seconds = 5;
  options.max_retries = 2;
  options.retry_delay_seconds = 0.01;
  options.progress = ProgressMode::kNone;
  return options;
}

// Files under `root` whose names end with ".incomplete" or ".tmp": leftovers of an unfinished write.
inline std::vector<std::string> partial_files(const std::filesystem::path& root) {
  std::vector<std::string> found;
  std::error_code ec;
  if (!std::filesystem::exists(root, ec)) return found;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    const std::string name = entry.path().filename().string();
    const auto ends_with = [&](const std::string& suffix) {
      return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends_with(".incomplete") || ends_with(".tmp")) found.push_back(entry.path().string());
  }
  return found;
}

// Captures the library's log messages at info level and above while alive.
class LogCapture {
 public:
  LogCapture() {
    set_log_level(LogLevel::kInfo);
    set_log_sink([this](LogLevel, std::string_view message) {
      std::lock_guard<std::mutex> lock(mutex_);
      text_ += std::string(message) + "\n";
    });
  }
  ~LogCapture() {
    set_log_sink({});
    set_log_level(LogLevel::kWarning);
  }
  std::string text() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return text_;
  }

 private:
  mutable std::mutex mutex_;
  std::string text_;
};

}  // namespace glimpse::testing
