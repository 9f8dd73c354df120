// Element types and non-owning views of tensors, as the kernels read them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace glimpse {

// Element types that weights can be stored in and that the kernels read directly.
enum class DType : std::uint8_t { kF32, kF16, kBF16 };

inline constexpr int kDTypeCount = 3;

struct DTypeInfo {
  DType dtype;
  std::string_view name;  // the safetensors spelling, e.g. "BF16"
  std::size_t size;       // bytes per element
};

// One row per DType, in enum order; a static_assert in dtype.cpp checks the order.
inline constexpr std::array<DTypeInfo, kDTypeCount> kDTypeTable = {{
    {DType::kF32, "F32", 4},
    {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2},
}};

inline constexpr const DTypeInfo& dtype_info(DType dtype) {
  return kDTypeTable[static_cast<std::size_t>(dtype)];
}
inline constexpr std::string_view dtype_name(DType dtype) { return dtype_info(dtype).name; }
inline constexpr std::size_t dtype_size(DType dtype) { return dtype_info(dtype).size; }

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
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype); }
  // Shape as text, e.g. "[4096, 11008]".
  std::string shape_string() const;
};

// Writes `count` elements of `src`, starting at element `offset`, to `dst` as float.
void convert_to_f32(const TensorView& src, std::int64_t offset, std::int64_t count, float* dst);

}  // namespace glimpse
