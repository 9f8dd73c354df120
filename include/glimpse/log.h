// A levelled logger with a replaceable sink. The library never writes to stdout; by default,
// messages at or above the current level go to stderr.
#pragma once

#include <functional>
#include <string_view>

namespace glimpse {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kOff = 4 };

using LogSink = std::function<void(LogLevel level, std::string_view message)>;

// Replaces the sink; an empty function restores the stderr sink. Thread-safe.
void set_log_sink(LogSink sink);
// Drops messages below `level`. The default is kWarning.
void set_log_level(LogLevel level);
LogLevel log_level();

void log_message(LogLevel level, std::string_view message);

}  // namespace glimpse
