// The Hugging Face cache layout of one model repository (see glimpse/hub.h for the tree), with the
// same file names, link targets and lock files as huggingface_hub's file_download.py (version
// 1.29), so that both tools can share a cache.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "glimpse/status.h"

namespace glimpse::hub {

class RepoCache {
 public:
  RepoCache(std::filesystem::path cache_dir, const std::string& repo_id);

  const std::filesystem::path& cache_dir() const { return cache_dir_; }
  const std::filesystem::path& repo_dir() const { return repo_dir_; }  // <cache>/models--org--name
  std::filesystem::path blob_path(const std::string& etag) const;
  std::filesystem::path incomplete_path(const std::string& etag) const;  // blobs/<etag>.incomplete
  std::filesystem::path lock_path(const std::string& etag) const;        // .locks/models--org--name/<etag>.lock
  std::filesystem::path snapshot_dir(const std::string& commit) const;
  std::filesystem::path pointer_path(const std::string& commit, const std::string& file) const;
  std::filesystem::path ref_path(const std::string& revision) const;

  // The commit refs/<revision> contains, with surrounding whitespace removed. Empty when the
  // ref does not exist. A ref that is not a commit hash is an error.
  Result<std::optional<std::string>> read_ref(const std::string& revision) const;
  // Writes refs/<revision> atomically (temporary file, then rename) when its content differs.
  Status write_ref(const std::string& revision, const std::string& commit) const;

  // Points snapshots/<commit>/<file> at blobs/<etag> with a relative symbolic link, replacing any
  // previous entry atomically. Where the file system has no symbolic links, copies the blob.
  Status link_pointer(const std::string& commit, const std::string& file, const std::string& etag) const;

  // Creates blobs/, the lock folder and CACHEDIR.TAG (as huggingface_hub does, so that backup
  // tools skip the cache).
  Status prepare_for_download() const;

 private:
  std::filesystem::path cache_dir_;
  std::string folder_name_;
  std::filesystem::path repo_dir_;
};

// An exclusive flock(2) lock on a file, the kind Python's filelock takes on Linux, so that
// glimpse and huggingface_hub processes exclude each other on the same blob.
class FileLock {
 public:
  // Waits until the lock is free, logging a line every `log_interval_seconds` that names `activity`.
  static Result<FileLock> acquire(const std::filesystem::path& path, double log_interval_seconds,
                                  const std::string& activity);
  FileLock(FileLock&& other) noexcept;
  FileLock& operator=(FileLock&& other) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

// Creates `dir` and its parents. The error names `dir`.
Status make_directories(const std::filesystem::path& dir);

// Writes `content` to `path` through a temporary file in the same folder and rename(2).
Status write_file_atomically(const std::filesystem::path& path, const std::string& content);

}  // namespace glimpse::hub
