// Heap memory for weights made at load time (quantized or repacked copies), which every decode
// step streams from start to end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

namespace glimpse {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using WeightBuffer = std::unique_ptr<std::uint8_t, FreeDeleter>;

// Allocates `bytes` of uninitialised memory aligned to 2 MiB and offered to the kernel for
// transparent huge pages (madvise MADV_HUGEPAGE, which Debian's default "madvise" mode needs).
// A sequential read then takes one TLB entry per 2 MiB instead of one per 4 KiB. Under a
// hypervisor a TLB miss walks two page tables. On the 2-core benchmark VM, 1 GiB read about 8 %
// faster on average with huge pages (three pairs of runs). Returns null when the memory is not
// available.
WeightBuffer allocate_weight_buffer(std::size_t bytes);

}  // namespace glimpse
