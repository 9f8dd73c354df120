// Checksums the Hub publishes as ETags: the sha256 of the content for LFS files, and the git blob
// id for files stored in git, which is sha1("blob <size>\0" + content).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "glimpse/status.h"

namespace glimpse::hub {

enum class ChecksumKind {
  kNone,         // the ETag is neither form, so only the size can be checked
  kSha256,       // 64 lowercase hex digits
  kGitBlobSha1,  // 40 lowercase hex digits
};

// The kind of checksum a normalized ETag is.
ChecksumKind checksum_kind_of_etag(std::string_view etag);

// "sha256" or "git blob sha1", for messages.
std::string_view checksum_kind_name(ChecksumKind kind);

// An incremental hash of one file's content. For kGitBlobSha1 the size in the git header must be
// known in advance, which is the size the Hub announces.
class StreamingChecksum {
 public:
  static Result<StreamingChecksum> create(ChecksumKind kind, std::uint64_t content_size);
  StreamingChecksum(StreamingChecksum&&) noexcept;
  StreamingChecksum& operator=(StreamingChecksum&&) noexcept;
  ~StreamingChecksum();

  void update(const void* data, std::size_t size);
  // Feeds the first `size` bytes of the open file `fd`, read with pread.
  Status update_from_file(int fd, std::uint64_t size, const std::string& path);
  // Restarts from an empty content.
  Status reset();
  // Lowercase hex digest; empty for kNone. Ends the hash, so call it once.
  std::string finish();

  ChecksumKind kind() const { return kind_; }

 private:
  struct Context;
  StreamingChecksum(ChecksumKind kind, std::uint64_t content_size, std::unique_ptr<Context> context);

  ChecksumKind kind_ = ChecksumKind::kNone;
  std::uint64_t content_size_ = 0;
  std::unique_ptr<Context> context_;
};

// Hashes a whole file.
Result<std::string> checksum_file(const std::string& path, ChecksumKind kind);

}  // namespace glimpse::hub
