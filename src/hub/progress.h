// Progress output of a download: a bar redrawn in place on a terminal, plain periodic lines
// elsewhere, or nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "glimpse/hub.h"

namespace glimpse::hub {

// "512 B", "8.8 MB", "14.2 GB": decimal units, as the Hub's web pages show sizes.
std::string format_bytes(std::uint64_t bytes);
// "45 s", "3:07", "1:02:09".
std::string format_duration(double seconds);

// Bytes per second over the transfer so far, not counting resumed bytes; 0 before any time passed.
double transfer_rate(const DownloadProgress& progress);

// The bar line, without "\r": "model.safetensors  45% |#########           | 4.0 MB/8.8 MB 12.3 MB/s ETA 0:03".
std::string render_bar_line(const DownloadProgress& progress, std::size_t bar_width);
// The periodic line: "glimpse: model.safetensors 4.0 MB of 8.8 MB (45%), all files 4.0 MB of
// 8.9 MB, 12.3 MB/s, ETA 3 s".
std::string render_plain_line(const DownloadProgress& progress);

class ProgressRenderer {
 public:
  using TextSink = std::function<void(std::string_view text)>;

  // `mode` must not be kAuto. `callback` is called on every update whatever the mode.
  ProgressRenderer(ProgressMode mode, double interval_seconds, TextSink sink,
                   std::function<void(const DownloadProgress&)> callback);

  // Announces a batch of `n_files` files totalling `total_size` bytes for `what`.
  void start(const std::string& what, std::size_t n_files, std::uint64_t total_size);
  // Reports a byte count change. Output is rate-limited by progress.elapsed_seconds.
  void update(const DownloadProgress& progress);
  // Reports that progress.file is complete and verified.
  void file_done(const DownloadProgress& progress);
  // Ends the batch (the bar gets its final newline).
  void finish();

 private:
  void draw_bar(const DownloadProgress& progress);

  ProgressMode mode_;
  double interval_seconds_;
  TextSink sink_;
  std::function<void(const DownloadProgress&)> callback_;
  double last_output_seconds_ = -1e9;
  bool bar_drawn_ = false;
};

// Keeps the byte counts of a batch of downloads and passes them to a renderer with the time
// elapsed since the batch started.
class ProgressTracker {
 public:
  explicit ProgressTracker(ProgressRenderer& renderer) : renderer_(renderer) {}

  void begin_batch(const std::string& what, std::size_t n_files, std::uint64_t total_size);
  // Starts `file` of `size` bytes, of which `resumed` are already on disk.
  void begin_file(const std::string& file, std::uint64_t size, std::uint64_t resumed);
  // Sets how many bytes of the current file are on disk.
  void set_file_bytes(std::uint64_t bytes);
  // The current file starts over from byte 0 (its partial content was discarded).
  void restart_file();
  void file_done();
  void end_batch();

  const DownloadProgress& state() const { return state_; }

 private:
  double elapsed() const;

  ProgressRenderer& renderer_;
  DownloadProgress state_;
  std::uint64_t completed_bytes_ = 0;  // bytes of the batch's finished files
  std::uint64_t file_resumed_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace glimpse::hub
