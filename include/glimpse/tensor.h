// Element types and non-owning views of tensors, as the kernels read them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace glimpse {

// Element types that weights can be stored in and that the kernels read directly. Q8_0 and Q4_0
// are llama.cpp's block formats (include/glimpse/quant.h): 32 elements share one f16 scale, so
// the last dimension of such a tensor is a multiple of 32. Q4_K and Q6_K are llama.cpp's
// super-block formats of 256 elements, and Q4_Kx16 is the in-memory layout of Q4_K that
// interleaves 16 rows (include/glimpse/quant.h). Q4_0x16 and Q8_0x16 are in-memory
// layouts of Q4_0 and Q8_0 with the blocks of 16 consecutive rows interleaved, made at load time
// for the AVX-512 kernels. They are never read from or written to a file.
enum class DType : std::uint8_t { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_0x16, kQ8_0x16, kQ4_K, kQ6_K, kQ4_Kx16 };

inline constexpr int kDTypeCount = 10;

struct DTypeInfo {
  DType dtype;
  std::string_view name;    // the safetensors spelling for plain types ("BF16"), GGML's otherwise
  std::int64_t block;       // elements per block: 1 for plain types
  std::size_t block_bytes;  // bytes per block
};

// One row per DType, in enum order; a static_assert in dtype.cpp checks the order.
inline constexpr std::array<DTypeInfo, kDTypeCount> kDTypeTable = {{
    {DType::kF32, "F32", 1, 4},
    {DType::kF16, "F16", 1, 2},
    {DType::kBF16, "BF16", 1, 2},
    {DType::kQ8_0, "Q8_0", 32, 34},
    {DType::kQ4_0, "Q4_0", 32, 18},
    {DType::kQ4_0x16, "Q4_0x16", 32, 18},
    {DType::kQ8_0x16, "Q8_0x16", 32, 34},
    {DType::kQ4_K, "Q4_K", 256, 144},
    {DType::kQ6_K, "Q6_K", 256, 210},
    // 16 rows share one 2368-byte block per 256 columns: 148 bytes per row and super-block.
    {DType::kQ4_Kx16, "Q4_Kx16", 256, 148},
}};

inline constexpr const DTypeInfo& dtype_info(DType dtype) {
  return kDTypeTable[static_cast<std::size_t>(dtype)];
}
inline constexpr std::string_view dtype_name(DType dtype) { return dtype_info(dtype).name; }
inline constexpr bool dtype_is_quantized(DType dtype) { return dtype_info(dtype).block > 1; }
// Bytes of `count` elements; `count` must be a multiple of the block size.
inline constexpr std::size_t dtype_bytes(DType dtype, std::int64_t count) {
  return static_cast<std::size_t>(count / dtype_info(dtype).block) * dtype_info(dtype).block_bytes;
}

// Converts IEEE half and bfloat16 bit patterns to float exactly (every value is representable).
float f16_to_f32(std::uint16_t bits);
inline float bf16_to_f32(std::uint16_t bits) {
  std::uint32_t wide = static_cast<std::uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, sizeof(value));
  return value;
}
// Rounds to nearest, ties to even; NaN stays NaN and overflow becomes infinity.
std::uint16_t f32_to_f16(float value);
std::uint16_t f32_to_bf16(float value);

inline constexpr int kMaxRank = 4;

// A contiguous row-major tensor that the view does not own: shape[0] is the slowest dimension,
// so a linear layer's weight [out_features, in_features] stores one output row after another.
struct TensorView {
  DType dtype = DType::kF32;
  int rank = 0;
  std::array<std::int64_t, kMaxRank> shape{};
  const void* data = nullptr;

  std::int64_t dim(int axis) const { return shape[static_cast<std::size_t>(axis)]; }
  std::int64_t numel() const {
    std::int64_t count = 1;
    for (int axis = 0; axis < rank; ++axis) count *= dim(axis);
    return count;
  }
  std::size_t nbytes() const { return dtype_bytes(dtype, numel()); }
  // Shape as text, e.g. "[4096, 11008]".
  std::string shape_string() const;
};

// Writes `count` elements of `src`, starting at element `offset`, to `dst` as float. For block
// types, `offset` and `count` must be multiples of the block size.
void convert_to_f32(const TensorView& src, std::int64_t offset, std::int64_t count, float* dst);

}  // namespace glimpse
