#include "core/weight_buffer.h"

#include <sys/mman.h>

namespace glimpse {

WeightBuffer allocate_weight_buffer(std::size_t bytes) {
  constexpr std::size_t kHugePage = std::size_t{2} << 20;
  const std::size_t rounded = (bytes + kHugePage - 1) / kHugePage * kHugePage;
  void* memory = nullptr;
  if (posix_memalign(&memory, kHugePage, rounded == 0 ? kHugePage : rounded) != 0) return WeightBuffer();
  // Advice only: without transparent huge pages the buffer works the same with 4 KiB pages.
  (void)madvise(memory, rounded, MADV_HUGEPAGE);
  return WeightBuffer(static_cast<std::uint8_t*>(memory));
}

}  // namespace glimpse
