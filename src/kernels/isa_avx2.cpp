// The AVX2 + FMA + F16C table; CMake compiles this file alone with those target flags.
#include <immintrin.h>

#include <cstring>

#include "kernels/isa.h"

namespace glimpse::kernels {
namespace {

#define GLIMPSE_ISA_VNNI 0
#include "kernels/isa_x86.inc"
#undef GLIMPSE_ISA_VNNI

constexpr IsaKernels kAvx2 = {
    Isa::kAvx2,      "avx2",          matmul_f32_x86,   matmul_f16_x86, matmul_bf16_x86, matmul_q8_0_x86,
    matmul_q4_0_x86, nullptr,         nullptr,          matmul_q4_K_x86, matmul_q6_K_x86, nullptr,
    quantize_row_x86, f16_to_f32_x86, bf16_to_f32_x86, nullptr, nullptr, nullptr, nullptr, nullptr,
};

}  // namespace

const IsaKernels* avx2_kernels() { return &kAvx2; }

}  // namespace glimpse::kernels
