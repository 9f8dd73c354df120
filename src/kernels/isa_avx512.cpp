// The AVX-512 table (F, BW, VL, VNNI): the AVX2 loops with vpdpbusd for the int8 dot products.
// CMake compiles this file alone with those target flags.
#include <immintrin.h>

#include "kernels/isa.h"

namespace glimpse::kernels {
namespace {

#define GLIMPSE_ISA_VNNI 1
#include "kernels/isa_x86.inc"
#undef GLIMPSE_ISA_VNNI

constexpr IsaKernels kAvx512 = {
    Isa::kAvx512,    "avx512",        matmul_f32_x86,  matmul_f16_x86,  matmul_bf16_x86,
    matmul_q8_0_x86, matmul_q4_0_x86, quantize_row_x86, f16_to_f32_x86, bf16_to_f32_x86,
};

}  // namespace

const IsaKernels* avx512_kernels() { return &kAvx512; }

}  // namespace glimpse::kernels
