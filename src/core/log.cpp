#include "glimpse/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace glimpse {
namespace {

std::mutex& sink_mutex() {
  static std::mutex mutex;
  return mutex;
}

LogSink& current_sink() {
  static LogSink sink;
  return sink;
}

std::atomic<int>& level_storage() {
  static std::atomic<int> level{static_cast<int>(LogLevel::kWarning)};
  return level;
}

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kError: return "error";
    case LogLevel::kOff: return "off";
  }
  return "?";
}

}  // namespace

void set_log_sink(LogSink sink) {
  std::lock_guard<std::mutex> lock(sink_mutex());
  current_sink() = std::move(sink);
}

void set_log_level(LogLevel level) { level_storage().store(static_cast<int>(level)); }

LogLevel log_level() { return static_cast<LogLevel>(level_storage().load()); }

void log_message(LogLevel level, std::string_view message) {
  if (static_cast<int>(level) < level_storage().load() || level == LogLevel::kOff) return;
  std::lock_guard<std::mutex> lock(sink_mutex());
  if (current_sink()) {
    current_sink()(level, message);
    return;
  }
  std::fprintf(stderr, "glimpse %s: %.*s\n", level_name(level), static_cast<int>(message.size()),
               message.data());
}

}  // namespace glimpse
