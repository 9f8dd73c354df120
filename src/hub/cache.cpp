#include "hub/cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "glimpse/hub.h"
#include "glimpse/log.h"
#include "hub/names.h"

namespace glimpse::hub {
namespace fs = std::filesystem;
namespace {

// The content huggingface_hub 1.29 writes to CACHEDIR.TAG; the first line is fixed by the Cache
// Directory Tagging Specification.
constexpr const char* kCacheDirTag =
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by huggingface_hub.\n"
    "# For information about cache directory tags, see:\n"
    "#\thttps://bford.info/cachedir/\n";

// A name unique within this host for temporary files next to their destination.
std::string temporary_suffix() {
  static std::atomic<unsigned> counter{0};
  std::string suffix = ".";
  suffix += std::to_string(getpid());
  suffix += '.';
  suffix += std::to_string(counter.fetch_add(1));
  suffix += ".tmp";
  return suffix;
}

Error io_error(const std::string& action, const fs::path& path, int error_number) {
  return make_error(ErrorCode::kIoError, action + " '" + path.string() + "' failed: " + std::strerror(error_number));
}

Status copy_blob(const fs::path& blob, const fs::path& pointer) {
  const fs::path temporary = pointer.string() + temporary_suffix();
  std::error_code ec;
  fs::copy_file(blob, temporary, fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::rename(temporary, pointer, ec);
  if (ec) {
    fs::remove(temporary, ec);
    return make_error(ErrorCode::kIoError, "copying '" + blob.string() + "' to '" + pointer.string() +
                                               "' failed: " + ec.message());
  }
  return {};
}

}  // namespace

RepoCache::RepoCache(fs::path cache_dir, const std::string& repo_id)
    : cache_dir_(std::move(cache_dir)), folder_name_(repo_folder_name(repo_id)), repo_dir_(cache_dir_ / folder_name_) {}

fs::path RepoCache::blob_path(const std::string& etag) const { return repo_dir_ / "blobs" / etag; }

fs::path RepoCache::incomplete_path(const std::string& etag) const {
  return repo_dir_ / "blobs" / (etag + ".incomplete");
}

fs::path RepoCache::lock_path(const std::string& etag) const {
  return cache_dir_ / ".locks" / folder_name_ / (etag + ".lock");
}

fs::path RepoCache::snapshot_dir(const std::string& commit) const { return repo_dir_ / "snapshots" / commit; }

fs::path RepoCache::pointer_path(const std::string& commit, const std::string& file) const {
  return snapshot_dir(commit) / fs::path(file);
}

fs::path RepoCache::ref_path(const std::string& revision) const { return repo_dir_ / "refs" / fs::path(revision); }

Result<std::optional<std::string>> RepoCache::read_ref(const std::string& revision) const {
  const fs::path path = ref_path(revision);
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::optional<std::string>();
  std::ifstream in(path);
  if (!in) return io_error("reading", path, errno);
  std::ostringstream text;
  text << in.rdbuf();
  std::string commit = text.str();
  while (!commit.empty() && std::isspace(static_cast<unsigned char>(commit.back()))) commit.pop_back();
  if (!is_commit_hash(commit)) {
    return make_error(ErrorCode::kInvalidFormat,
                      "the cache ref '" + path.string() + "' holds '" + commit.substr(0, 80) +
                          "', not a 40-digit commit hash; delete it and download again");
  }
  return std::optional<std::string>(commit);
}

Status RepoCache::write_ref(const std::string& revision, const std::string& commit) const {
  auto current = read_ref(revision);
  if (current.ok() && *current == commit) return {};
  const fs::path path = ref_path(revision);
  GLIMPSE_RETURN_IF_ERROR(make_directories(path.parent_path()));
  // huggingface_hub writes the hash without a trailing newline.
  return write_file_atomically(path, commit);
}

Status RepoCache::link_pointer(const std::string& commit, const std::string& file, const std::string& etag) const {
  const fs::path pointer = pointer_path(commit, file);
  const fs::path blob = blob_path(etag);
  GLIMPSE_RETURN_IF_ERROR(make_directories(pointer.parent_path()));

  // Relative links survive moving the whole cache; for "config.json" the target is
  // ../../blobs/<etag>, one more ".." per folder level of the file inside the repository.
  const fs::path target = blob.lexically_relative(pointer.parent_path());
  const fs::path temporary = pointer.string() + temporary_suffix();
  if (symlink(target.c_str(), temporary.c_str()) != 0) {
    const int saved = errno;
    if (saved == EPERM || saved == EOPNOTSUPP || saved == ENOSYS) {
      log_message(LogLevel::kWarning, "the file system of '" + pointer.parent_path().string() +
                                          "' has no symbolic links, so the snapshot gets a copy of the blob");
      return copy_blob(blob, pointer);
    }
    return io_error("creating the symbolic link", temporary, saved);
  }
  if (rename(temporary.c_str(), pointer.c_str()) != 0) {
    const int saved = errno;
    unlink(temporary.c_str());
    return io_error("renaming a symbolic link to", pointer, saved);
  }
  return {};
}

Status RepoCache::prepare_for_download() const {
  GLIMPSE_RETURN_IF_ERROR(make_directories(repo_dir_ / "blobs"));
  GLIMPSE_RETURN_IF_ERROR(make_directories(cache_dir_ / ".locks" / folder_name_));
  const fs::path tag = cache_dir_ / "CACHEDIR.TAG";
  std::error_code ec;
  if (!fs::exists(tag, ec)) {
    // Best effort, as in huggingface_hub: a missing tag only affects backup tools.
    const Status written = write_file_atomically(tag, kCacheDirTag);
    if (!written.ok()) log_message(LogLevel::kDebug, written.error().message);
  }
  return {};
}

Result<FileLock> FileLock::acquire(const fs::path& path, double log_interval_seconds, const std::string& activity) {
  // 0664 as huggingface_hub's WeakFileLock, so users sharing a cache can wait on each other.
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0664);
  if (fd < 0) return io_error("opening the lock file", path, errno);
  const auto start = std::chrono::steady_clock::now();
  auto next_log = start + std::chrono::duration<double>(log_interval_seconds);
  while (true) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return FileLock(fd);
    if (errno != EWOULDBLOCK && errno != EINTR) {
      const int saved = errno;
      close(fd);
      return io_error("locking", path, saved);
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= next_log) {
      const double waited = std::chrono::duration<double>(now - start).count();
      log_message(LogLevel::kInfo, "still waiting after " + std::to_string(static_cast<int>(waited)) +
                                       " s for another process to finish " + activity + " (lock '" + path.string() + "')");
      next_log = now + std::chrono::duration<double>(log_interval_seconds);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

FileLock::FileLock(FileLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

FileLock& FileLock::operator=(FileLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

// Closing the descriptor releases the flock. The lock file stays, as huggingface_hub leaves it.
FileLock::~FileLock() {
  if (fd_ >= 0) close(fd_);
}

Status make_directories(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(ErrorCode::kIoError, "creating the folder '" + dir.string() + "' failed: " + ec.message());
  return {};
}

Status write_file_atomically(const fs::path& path, const std::string& content) {
  const fs::path temporary = path.string() + temporary_suffix();
  const int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) return io_error("creating", temporary, errno);
  std::size_t written = 0;
  while (written < content.size()) {
    const ssize_t n = write(fd, content.data() + written, content.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int saved = errno;
      close(fd);
      unlink(temporary.c_str());
      return io_error("writing", temporary, saved);
    }
    written += static_cast<std::size_t>(n);
  }
  if (close(fd) != 0 || rename(temporary.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    unlink(temporary.c_str());
    return io_error("writing", path, saved);
  }
  return {};
}

}  // namespace glimpse::hub
