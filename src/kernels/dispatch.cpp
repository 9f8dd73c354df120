// Chooses the kernel table at run time from the CPU's feature flags.
#include <atomic>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#include <strings.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "glimpse/kernels.h"
#include "glimpse/log.h"
#include "kernels/isa.h"

namespace glimpse::kernels {
namespace {

const IsaKernels* table_of(Isa isa) {
  switch (isa) {
    case Isa::kPortable: return portable_kernels();
    case Isa::kAvx2: return avx2_kernels();
    case Isa::kAvx512: return avx512_kernels();
    case Isa::kAmx: return amx_kernels();
  }
  return nullptr;
}

#if defined(__x86_64__) || defined(__i386__)
// CPUID leaf 1, ECX bit 29. clang 14's __builtin_cpu_supports does not know "f16c", and F16C
// only exists with AVX, whose OS support __builtin_cpu_supports("avx2") already checks.
bool cpu_has_f16c() {
  unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (ecx & bit_F16C) != 0;
}

// Returns whether the CPU has AMX-TILE, AMX-INT8 and AMX-BF16 (CPUID leaf 7, EDX bits 24, 25
// and 22) and AVX512-BF16 (leaf 7 subleaf 1, EAX bit 5), and Linux grants the tile data
// registers. A process requests the registers once, with arch_prctl ARCH_REQ_XCOMP_PERM for
// XFEATURE_XTILEDATA, before any of its threads touches a tile.
bool cpu_has_amx() {
  unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
  if ((edx & (1u << 24)) == 0 || (edx & (1u << 25)) == 0 || (edx & (1u << 22)) == 0) return false;
  if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx) == 0 || (eax & (1u << 5)) == 0) return false;
#if defined(__linux__) && defined(__x86_64__)
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  static const bool permitted = syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  return permitted;
#else
  return false;
#endif
}
#endif

bool cpu_has(Isa isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  switch (isa) {
    case Isa::kPortable: return true;
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    case Isa::kAvx512:
      return cpu_has(Isa::kAvx2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    case Isa::kAmx: return cpu_has(Isa::kAvx512) && cpu_has_amx();
  }
  return false;
#else
  return isa == Isa::kPortable;
#endif
}

const IsaKernels* choose() {
  const char* forced = std::getenv("GLIMPSE_ISA");
  if (forced != nullptr && forced[0] != '\0') {
    bool known = false;
    for (Isa isa : {Isa::kPortable, Isa::kAvx2, Isa::kAvx512, Isa::kAmx}) {
      // Either case: GLIMPSE_ISA=AVX512 names the same table as avx512.
      if (strcasecmp(forced, isa_name(isa)) != 0) continue;
      known = true;
      if (isa_supported(isa)) return table_of(isa);
      log_message(LogLevel::kWarning, std::string("GLIMPSE_ISA=") + forced + " is not supported by this CPU or build; using the best supported kernels");
    }
    if (!known) {
      log_message(LogLevel::kWarning,
                  std::string("GLIMPSE_ISA=") + forced + " is not one of portable, avx2, avx512, amx; ignoring it");
    }
  }
  for (Isa isa : {Isa::kAmx, Isa::kAvx512, Isa::kAvx2}) {
    if (isa_supported(isa)) return table_of(isa);
  }
  return portable_kernels();
}

std::atomic<const IsaKernels*> g_active{nullptr};

}  // namespace

#ifndef GLIMPSE_X86_KERNELS
// Builds for other architectures compile only the portable table.
const IsaKernels* avx2_kernels() { return nullptr; }
const IsaKernels* avx512_kernels() { return nullptr; }
const IsaKernels* amx_kernels() { return nullptr; }
#endif

bool isa_supported(Isa isa) { return table_of(isa) != nullptr && cpu_has(isa); }

const IsaKernels& active_kernels() {
  const IsaKernels* table = g_active.load(std::memory_order_acquire);
  if (table == nullptr) {
    table = choose();
    g_active.store(table, std::memory_order_release);
  }
  return *table;
}

bool set_active_isa(Isa isa) {
  if (!isa_supported(isa)) return false;
  g_active.store(table_of(isa), std::memory_order_release);
  return true;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kPortable: return "portable";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kAmx: return "amx";
  }
  return "unknown";
}

std::string_view active_isa() { return active_kernels().name; }

}  // namespace glimpse::kernels
