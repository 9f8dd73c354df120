#include "hub/progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace glimpse::hub {
namespace {

// The bar is redrawn at most this often, because more would only cost terminal bandwidth.
constexpr double kBarRedrawSeconds = 0.1;

std::string fixed(double value, int decimals) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", decimals, value);
  return buffer;
}

int percent(std::uint64_t done, std::uint64_t total) {
  if (total == 0) return 100;
  return static_cast<int>(std::min<std::uint64_t>(100, done * 100 / total));
}

// Seconds left at the current rate, or a negative value when unknown.
double eta_seconds(const DownloadProgress& progress) {
  const double rate = transfer_rate(progress);
  if (rate <= 0 || progress.total_bytes > progress.total_size) return -1;
  return static_cast<double>(progress.total_size - progress.total_bytes) / rate;
}

// Keeps the end of a long file name, where shard numbers are.
std::string shorten(const std::string& name, std::size_t width) {
  if (name.size() <= width) return name;
  return "..." + name.substr(name.size() - (width - 3));
}

}  // namespace

std::string format_bytes(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"kB", "MB", "GB", "TB"};
  if (bytes < 1000) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes);
  int unit = -1;
  while (value >= 1000 && unit < 3) {
    value /= 1000;
    ++unit;
  }
  return fixed(value, value < 100 ? 1 : 0) + " " + kUnits[unit];
}

std::string format_duration(double seconds) {
  if (!(seconds >= 0)) return "?";
  const auto total = static_cast<long long>(std::llround(seconds));
  if (total < 60) return std::to_string(total) + " s";
  const long long hours = total / 3600;
  const long long minutes = (total / 60) % 60;
  const long long rest = total % 60;
  char buffer[48];
  if (hours > 0) {
    std::snprintf(buffer, sizeof(buffer), "%lld:%02lld:%02lld", hours, minutes, rest);
  } else {
    std::snprintf(buffer, sizeof(buffer), "%lld:%02lld", minutes, rest);
  }
  return buffer;
}

double transfer_rate(const DownloadProgress& progress) {
  if (progress.elapsed_seconds <= 0 || progress.total_bytes < progress.resumed_bytes) return 0;
  return static_cast<double>(progress.total_bytes - progress.resumed_bytes) / progress.elapsed_seconds;
}

std::string render_bar_line(const DownloadProgress& progress, std::size_t bar_width) {
  const int done_percent = percent(progress.total_bytes, progress.total_size);
  const std::size_t filled = bar_width * static_cast<std::size_t>(done_percent) / 100;
  std::string line = shorten(progress.file, 32);
  line += "  ";
  line += std::to_string(done_percent);
  line += "% |";
  line += std::string(filled, '#') + std::string(bar_width - filled, ' ');
  line += "| ";
  line += format_bytes(progress.total_bytes);
  line += '/';
  line += format_bytes(progress.total_size);
  line += ' ';
  line += format_bytes(static_cast<std::uint64_t>(transfer_rate(progress)));
  line += "/s ETA ";
  line += format_duration(eta_seconds(progress));
  return line;
}

std::string render_plain_line(const DownloadProgress& progress) {
  std::string line = "glimpse: " + progress.file + " " + format_bytes(progress.file_bytes) + " of " +
                     format_bytes(progress.file_size) + " (" +
                     std::to_string(percent(progress.file_bytes, progress.file_size)) + "%)";
  line += ", all files " + format_bytes(progress.total_bytes) + " of " + format_bytes(progress.total_size);
  line += ", " + format_bytes(static_cast<std::uint64_t>(transfer_rate(progress))) + "/s";
  line += ", ETA " + format_duration(eta_seconds(progress));
  return line;
}

ProgressRenderer::ProgressRenderer(ProgressMode mode, double interval_seconds, TextSink sink,
                                   std::function<void(const DownloadProgress&)> callback)
    : mode_(mode), interval_seconds_(interval_seconds), sink_(std::move(sink)), callback_(std::move(callback)) {}

void ProgressRenderer::start(const std::string& what, std::size_t n_files, std::uint64_t total_size) {
  last_output_seconds_ = -1e9;
  if (mode_ == ProgressMode::kNone || n_files == 0) return;
  sink_("glimpse: downloading " + std::to_string(n_files) + (n_files == 1 ? " file" : " files") + " (" +
        format_bytes(total_size) + ") of " + what + "\n");
}

void ProgressRenderer::update(const DownloadProgress& progress) {
  if (callback_) callback_(progress);
  if (mode_ == ProgressMode::kBar) {
    if (progress.elapsed_seconds - last_output_seconds_ < kBarRedrawSeconds) return;
    last_output_seconds_ = progress.elapsed_seconds;
    draw_bar(progress);
  } else if (mode_ == ProgressMode::kLines) {
    if (progress.elapsed_seconds - last_output_seconds_ < interval_seconds_) return;
    // The first update only starts the interval, so short transfers print their completion only.
    if (last_output_seconds_ < -1e8) {
      last_output_seconds_ = progress.elapsed_seconds;
      return;
    }
    last_output_seconds_ = progress.elapsed_seconds;
    sink_(render_plain_line(progress) + "\n");
  }
}

void ProgressRenderer::file_done(const DownloadProgress& progress) {
  if (callback_) callback_(progress);
  if (mode_ == ProgressMode::kBar) {
    draw_bar(progress);
  } else if (mode_ == ProgressMode::kLines) {
    sink_("glimpse: " + progress.file + " complete (" + format_bytes(progress.file_size) + ", " +
          format_bytes(progress.total_bytes) + " of " + format_bytes(progress.total_size) + " in all)\n");
  }
}

void ProgressRenderer::finish() {
  if (mode_ == ProgressMode::kBar && bar_drawn_) sink_("\n");
  bar_drawn_ = false;
}

void ProgressRenderer::draw_bar(const DownloadProgress& progress) {
  // "\r" returns to the start of the line and "\x1b[K" clears what a longer line left behind.
  std::string text = "\r";
  text += render_bar_line(progress, 24);
  text += "\x1b[K";
  sink_(text);
  bar_drawn_ = true;
}

}  // namespace glimpse::hub

namespace glimpse::hub {

double ProgressTracker::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void ProgressTracker::begin_batch(const std::string& what, std::size_t n_files, std::uint64_t total_size) {
  state_ = DownloadProgress{};
  state_.total_size = total_size;
  completed_bytes_ = 0;
  start_ = std::chrono::steady_clock::now();
  renderer_.start(what, n_files, total_size);
}

void ProgressTracker::begin_file(const std::string& file, std::uint64_t size, std::uint64_t resumed) {
  state_.file = file;
  state_.file_size = size;
  state_.file_done = false;
  file_resumed_ = resumed;
  state_.resumed_bytes += resumed;
  set_file_bytes(resumed);
}

void ProgressTracker::set_file_bytes(std::uint64_t bytes) {
  state_.file_bytes = bytes;
  state_.total_bytes = completed_bytes_ + bytes;
  state_.elapsed_seconds = elapsed();
  renderer_.update(state_);
}

void ProgressTracker::restart_file() {
  state_.resumed_bytes -= std::min(state_.resumed_bytes, file_resumed_);
  file_resumed_ = 0;
  set_file_bytes(0);
}

void ProgressTracker::file_done() {
  completed_bytes_ += state_.file_size;
  state_.file_bytes = state_.file_size;
  state_.total_bytes = completed_bytes_;
  state_.elapsed_seconds = elapsed();
  state_.file_done = true;
  renderer_.file_done(state_);
  state_.file_done = false;
}

void ProgressTracker::end_batch() { renderer_.finish(); }

}  // namespace glimpse::hub
