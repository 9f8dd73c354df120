// A read-only memory mapping of a whole file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "glimpse/status.h"

namespace glimpse {

class MappedFile {
 public:
  // Maps `path` read-only. An empty file is mapped as a zero-length view without a mapping.
  static Result<MappedFile> open(const std::string& path);

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }

  // Tells the kernel that the whole pages inside [data, data + size) of a mapping are not needed
  // now (madvise MADV_DONTNEED), so they leave the resident set. A later read faults them in
  // from the file again. For weights that were converted into a copy at load time.
  static void drop_pages(const void* data, std::size_t size);

  // Asks the kernel (madvise MADV_HUGEPAGE) to read the whole 2 MiB pages inside [data, data +
  // size) of a mapping into 2 MiB page-cache folios and to map them whole. Reading them then
  // takes one TLB entry per 2 MiB. The advice affects only pages not yet in the page cache, and
  // the kernel may ignore it. For weights that every decode step reads from end to end.
  static void advise_huge_pages(const void* data, std::size_t size);

 private:
  void release();

  std::string path_;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace glimpse
