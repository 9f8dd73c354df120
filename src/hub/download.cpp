#include "hub/download.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "glimpse/log.h"

namespace glimpse::hub {
namespace fs = std::filesystem;
namespace {

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { close(); }
  int get() const { return fd_; }
  int close() {
    const int result = fd_ >= 0 ? ::close(fd_) : 0;
    fd_ = -1;
    return result;
  }

 private:
  int fd_;
};

// Reason the body sink stopped a transfer. Each leaves the partial file in a different state.
enum class SinkFailure { kNone, kWrite, kTooLong, kBadRange };

// "bytes 100-999/1000" -> 100; nothing when the header has another form.
std::optional<std::uint64_t> content_range_start(const std::string& header) {
  if (header.rfind("bytes ", 0) != 0) return std::nullopt;
  std::uint64_t value = 0;
  std::size_t i = 6;
  for (; i < header.size() && header[i] >= '0' && header[i] <= '9' && i < 26; ++i) {
    value = value * 10 + static_cast<std::uint64_t>(header[i] - '0');
  }
  if (i == 6 || i >= header.size() || header[i] != '-') return std::nullopt;
  return value;
}

std::string size_note(std::uint64_t bytes, std::uint64_t size) {
  return std::to_string(bytes) + " of " + std::to_string(size) + " bytes";
}

class BlobTransfer {
 public:
  BlobTransfer(BlobDownloader& owner, const RemoteFile& file, int fd, fs::path partial, StreamingChecksum checksum)
      : owner_(owner), file_(file), fd_(fd), partial_(std::move(partial)), checksum_(std::move(checksum)) {}

  // Transfers the missing bytes, retrying broken transfers from where they stopped.
  Status run(std::uint64_t resumed);
  std::uint64_t written() const { return written_; }
  StreamingChecksum& checksum() { return checksum_; }

 private:
  Status receive(const char* data, std::size_t size, const HttpResponse& head);
  Status write_all(const char* data, std::size_t size);
  Status truncate_to_zero();
  Error kept_partial_error(const std::string& cause) const;

  BlobDownloader& owner_;
  const RemoteFile& file_;
  int fd_;
  fs::path partial_;
  StreamingChecksum checksum_;
  std::uint64_t written_ = 0;
  bool response_checked_ = false;
  SinkFailure sink_failure_ = SinkFailure::kNone;
};

Error BlobTransfer::kept_partial_error(const std::string& cause) const {
  return make_error(ErrorCode::kIoError, cause + ". The " + size_note(written_, file_.size) + " of '" + file_.path +
                                             "' received so far are kept in '" + partial_.string() +
                                             "', and the next run resumes from there");
}

Status BlobTransfer::truncate_to_zero() {
  if (ftruncate(fd_, 0) != 0 || lseek(fd_, 0, SEEK_SET) != 0) {
    return make_error(ErrorCode::kIoError, "truncating '" + partial_.string() + "' failed: " + std::strerror(errno));
  }
  written_ = 0;
  GLIMPSE_RETURN_IF_ERROR(checksum_.reset());
  owner_.progress.restart_file();
  return {};
}

Status BlobTransfer::write_all(const char* data, std::size_t size) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::write(fd_, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int saved = errno;
      sink_failure_ = SinkFailure::kWrite;
      std::string message = "writing to '" + partial_.string() + "' failed: " + std::strerror(saved);
      if (saved == ENOSPC || saved == EDQUOT || saved == EFBIG) {
        message += ". The disk holding the cache is full, or a quota or file-size limit was reached. Free at least " +
                   std::to_string(file_.size - written_ - done) + " bytes in '" + owner_.cache.cache_dir().string() +
                   "' or point HF_HUB_CACHE to a larger disk";
      }
      // Bytes that made it to disk stay counted, so the file on disk and the resume offset agree.
      checksum_.update(data, done);
      written_ += done;
      return make_error(ErrorCode::kIoError, message);
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

Status BlobTransfer::receive(const char* data, std::size_t size, const HttpResponse& head) {
  if (!response_checked_) {
    response_checked_ = true;
    if (written_ > 0 && head.status == 200) {
      // The server ignored the Range header and sends the whole file, so start over.
      log_message(LogLevel::kInfo, "the server ignored the range request for '" + file_.path +
                                       "'; downloading it from the start");
      GLIMPSE_RETURN_IF_ERROR(truncate_to_zero());
    } else if (head.status == 206) {
      const auto start = content_range_start(head.header("content-range"));
      if (!start || *start != written_) {
        sink_failure_ = SinkFailure::kBadRange;
        return make_error(ErrorCode::kInvalidFormat,
                          "the server responded to the request for bytes " + std::to_string(written_) + "- of '" +
                              file_.path + "' with Content-Range '" + head.header("content-range") + "'");
      }
    }
  }
  if (size > file_.size - written_) {
    sink_failure_ = SinkFailure::kTooLong;
    return make_error(ErrorCode::kInvalidFormat,
                      "the server sent more than the " + std::to_string(file_.size) + " bytes announced for '" +
                          file_.path + "'");
  }
  GLIMPSE_RETURN_IF_ERROR(write_all(data, size));
  checksum_.update(data, size);
  written_ += size;
  owner_.downloaded_bytes += size;
  owner_.progress.set_file_bytes(written_);
  return {};
}

Status BlobTransfer::run(std::uint64_t resumed) {
  written_ = resumed;
  const int max_retries = std::max(0, owner_.options.max_retries);
  int failures = 0;  // consecutive attempts that ended without completing the file
  while (written_ < file_.size) {
    const std::uint64_t at_start = written_;
    response_checked_ = false;
    HttpRequest request;
    request.url = file_.url;
    if (file_.send_token) request.headers = owner_.remote.auth_headers();
    request.follow_redirects = true;
    request.range_start = written_;
    request.connect_timeout_seconds = owner_.options.connect_timeout_seconds;
    request.stall_timeout_seconds = owner_.settings.stall_timeout_seconds;
    request.on_body = [this](const char* data, std::size_t size, const HttpResponse& head) {
      return receive(data, size, head);
    };
    HttpResult result = owner_.client.perform(request);

    if (result.failure == TransportFailure::kRejected) {
      if (sink_failure_ != SinkFailure::kTooLong) return kept_partial_error(result.error.message);
      // Bytes that do not fit the announced file cannot seed a resume.
      unlink(partial_.c_str());
      return make_error(result.error.code, result.error.message + ". The partial file was deleted; run again");
    }

    std::string problem;
    if (!result.transport_ok()) {
      problem = result.error.message;
    } else if (result.response.status == 416) {
      // The partial file does not match the server's file, so only a fresh start can help.
      GLIMPSE_RETURN_IF_ERROR(truncate_to_zero());
      problem = "the server rejected the range request for '" + file_.path + "' (HTTP 416)";
    } else if (is_retryable_status(result.response.status)) {
      problem = "the server returned HTTP " + std::to_string(result.response.status) + " for " + file_.url;
    } else if (result.response.status < 200 || result.response.status >= 300) {
      return owner_.remote.status_error(result.response, file_.url, file_.path);
    } else if (written_ < file_.size) {
      problem = "the response for " + file_.url + " ended after " + size_note(written_, file_.size);
    } else {
      break;
    }

    failures = written_ > at_start ? 1 : failures + 1;
    if (failures > max_retries) {
      return kept_partial_error(problem + "; gave up after " + std::to_string(failures) +
                                (failures == 1 ? " attempt" : " attempts") + " without progress");
    }
    log_message(LogLevel::kWarning, problem + "; retrying '" + file_.path + "' from byte " + std::to_string(written_) +
                                        " (retry " + std::to_string(failures) + " of " +
                                        std::to_string(max_retries) + ")");
    sleep_before_retry(owner_.options.retry_delay_seconds, failures);
  }
  return {};
}

}  // namespace

Status BlobDownloader::download(const RemoteFile& file) {
  const fs::path blob = cache.blob_path(file.etag);
  const auto stored_meanwhile = [&] {
    std::error_code ec;
    if (!fs::exists(blob, ec)) return false;
    log_message(LogLevel::kInfo, "'" + file.path + "' was downloaded by another process meanwhile");
    progress.begin_file(file.path, file.size, file.size);
    progress.file_done();
    return true;
  };
  if (stored_meanwhile()) return {};

  GLIMPSE_RETURN_IF_ERROR(cache.prepare_for_download());
  GLIMPSE_ASSIGN_OR_RETURN(FileLock lock, FileLock::acquire(cache.lock_path(file.etag),
                                                            options.lock_log_interval_seconds,
                                                            "downloading '" + file.path + "'"));
  if (stored_meanwhile()) return {};

  const fs::path partial = cache.incomplete_path(file.etag);
  FileDescriptor fd(open(partial.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666));
  if (fd.get() < 0) {
    return make_error(ErrorCode::kIoError, "creating '" + partial.string() + "' failed: " + std::strerror(errno) +
                                               "; check that the cache folder is writable");
  }
  struct stat info {};
  if (fstat(fd.get(), &info) != 0) {
    return make_error(ErrorCode::kIoError, "cannot stat '" + partial.string() + "': " + std::strerror(errno));
  }
  auto resumed = static_cast<std::uint64_t>(info.st_size);
  if (resumed > file.size) {
    const std::string partial_name = partial.string();
    log_message(LogLevel::kInfo, "'" + partial_name + "' is longer than '" + file.path + "'; starting over");
    if (ftruncate(fd.get(), 0) != 0) {
      return make_error(ErrorCode::kIoError, "truncating '" + partial.string() + "' failed: " + std::strerror(errno));
    }
    resumed = 0;
  }
  if (lseek(fd.get(), static_cast<off_t>(resumed), SEEK_SET) < 0) {
    return make_error(ErrorCode::kIoError, "seeking in '" + partial.string() + "' failed: " + std::strerror(errno));
  }
  GLIMPSE_ASSIGN_OR_RETURN(StreamingChecksum checksum, StreamingChecksum::create(file.checksum, file.size));
  if (resumed > 0) {
    GLIMPSE_RETURN_IF_ERROR(checksum.update_from_file(fd.get(), resumed, partial.string()));
    log_message(LogLevel::kInfo, "resuming '" + file.path + "' from byte " + std::to_string(resumed));
  }

  progress.begin_file(file.path, file.size, resumed);
  BlobTransfer transfer(*this, file, fd.get(), partial, std::move(checksum));
  GLIMPSE_RETURN_IF_ERROR(transfer.run(resumed));

  if (fdatasync(fd.get()) != 0 || fd.close() != 0) {
    return make_error(ErrorCode::kIoError, "flushing '" + partial.string() + "' to disk failed: " +
                                               std::strerror(errno));
  }
  const std::string digest = transfer.checksum().finish();
  if (file.checksum != ChecksumKind::kNone && digest != file.etag) {
    unlink(partial.c_str());
    return make_error(ErrorCode::kInvalidFormat,
                      "checksum mismatch for '" + file.path + "': the Hub announced " +
                          std::string(checksum_kind_name(file.checksum)) + " " + file.etag +
                          " but the downloaded bytes hash to " + digest +
                          ". The downloaded file was deleted; run again to download it anew, and if this repeats, "
                          "check any proxy in between or the mirror in HF_ENDPOINT");
  }
  if (file.checksum == ChecksumKind::kNone) {
    log_message(LogLevel::kInfo, "'" + file.path + "' has an ETag that is not a sha256 or git blob id, so only its "
                                 "size was checked");
  }
  if (rename(partial.c_str(), blob.c_str()) != 0) {
    return make_error(ErrorCode::kIoError, "renaming '" + partial.string() + "' to '" + blob.string() +
                                               "' failed: " + std::strerror(errno));
  }
  progress.file_done();
  return {};
}

}  // namespace glimpse::hub
