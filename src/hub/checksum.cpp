#include "hub/checksum.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace glimpse::hub {
namespace {

bool all_lower_hex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

struct StreamingChecksum::Context {
  EVP_MD_CTX* md = nullptr;
  ~Context() { EVP_MD_CTX_free(md); }
};

ChecksumKind checksum_kind_of_etag(std::string_view etag) {
  if (etag.size() == 64 && all_lower_hex(etag)) return ChecksumKind::kSha256;
  if (etag.size() == 40 && all_lower_hex(etag)) return ChecksumKind::kGitBlobSha1;
  return ChecksumKind::kNone;
}

std::string_view checksum_kind_name(ChecksumKind kind) {
  switch (kind) {
    case ChecksumKind::kSha256: return "sha256";
    case ChecksumKind::kGitBlobSha1: return "git blob sha1";
    case ChecksumKind::kNone: return "none";
  }
  return "none";
}

StreamingChecksum::StreamingChecksum(ChecksumKind kind, std::uint64_t content_size, std::unique_ptr<Context> context)
    : kind_(kind), content_size_(content_size), context_(std::move(context)) {}
StreamingChecksum::StreamingChecksum(StreamingChecksum&&) noexcept = default;
StreamingChecksum& StreamingChecksum::operator=(StreamingChecksum&&) noexcept = default;
StreamingChecksum::~StreamingChecksum() = default;

Result<StreamingChecksum> StreamingChecksum::create(ChecksumKind kind, std::uint64_t content_size) {
  StreamingChecksum checksum(kind, content_size, std::make_unique<Context>());
  GLIMPSE_RETURN_IF_ERROR(checksum.reset());
  return checksum;
}

Status StreamingChecksum::reset() {
  if (kind_ == ChecksumKind::kNone) return {};
  if (context_->md == nullptr) context_->md = EVP_MD_CTX_new();
  const EVP_MD* algorithm = kind_ == ChecksumKind::kSha256 ? EVP_sha256() : EVP_sha1();
  if (context_->md == nullptr || EVP_DigestInit_ex(context_->md, algorithm, nullptr) != 1) {
    return make_error(ErrorCode::kInternal, "OpenSSL failed to start a " +
                                                std::string(checksum_kind_name(kind_)) + " computation");
  }
  if (kind_ == ChecksumKind::kGitBlobSha1) {
    // git hashes "blob <decimal size>\0" followed by the content.
    const std::string header = "blob " + std::to_string(content_size_);
    update(header.c_str(), header.size() + 1);
  }
  return {};
}

void StreamingChecksum::update(const void* data, std::size_t size) {
  if (kind_ == ChecksumKind::kNone || size == 0) return;
  EVP_DigestUpdate(context_->md, data, size);
}

Status StreamingChecksum::update_from_file(int fd, std::uint64_t size, const std::string& path) {
  std::vector<char> buffer(1 << 20);
  std::uint64_t offset = 0;
  while (offset < size) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), size - offset));
    const ssize_t got = pread(fd, buffer.data(), want, static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      return make_error(ErrorCode::kIoError, "reading '" + path + "' at byte " + std::to_string(offset) +
                                                 " failed: " + (got < 0 ? std::strerror(errno) : "unexpected end"));
    }
    update(buffer.data(), static_cast<std::size_t>(got));
    offset += static_cast<std::uint64_t>(got);
  }
  return {};
}

std::string StreamingChecksum::finish() {
  if (kind_ == ChecksumKind::kNone) return "";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(context_->md, digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  return hex;
}

Result<std::string> checksum_file(const std::string& path, ChecksumKind kind) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(ErrorCode::kIoError, "cannot open '" + path + "': " + std::strerror(errno));
  struct stat info {};
  if (fstat(fd, &info) != 0) {
    const int saved = errno;
    close(fd);
    return make_error(ErrorCode::kIoError, "cannot stat '" + path + "': " + std::strerror(saved));
  }
  const auto size = static_cast<std::uint64_t>(info.st_size);
  auto checksum = StreamingChecksum::create(kind, size);
  if (!checksum.ok()) {
    close(fd);
    return checksum.take_error();
  }
  const Status read = checksum->update_from_file(fd, size, path);
  close(fd);
  if (!read.ok()) return read.error();
  return checksum->finish();
}

}  // namespace glimpse::hub
