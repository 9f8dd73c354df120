#include <cmath>

#include "glimpse/quant.h"
#include "glimpse/tensor.h"

namespace glimpse {
namespace {

constexpr bool table_matches_enum() {
  for (std::size_t i = 0; i < kDTypeTable.size(); ++i) {
    if (static_cast<std::size_t>(kDTypeTable[i].dtype) != i) return false;
  }
  return true;
}
static_assert(table_matches_enum(), "kDTypeTable rows must follow the order of DType");

std::uint32_t float_bits(float value) {
  std::uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

float bits_float(std::uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

}  // namespace

float f16_to_f32(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1fu;
  const std::uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1f) {  // infinity or NaN
    return bits_float(sign | 0x7f800000u | (mantissa << 13));
  }
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return sign ? -magnitude : magnitude;
  }
  return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

std::uint16_t f32_to_f16(float value) {
  const std::uint32_t bits = float_bits(value);
  const std::uint16_t sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
  const float magnitude = std::fabs(value);
  if (std::isnan(value)) return static_cast<std::uint16_t>(sign | 0x7e00u);
  if (magnitude >= 65520.0f) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds to inf
  if (magnitude < 6.103515625e-05f) {
    // Subnormal range: the result is round(magnitude * 2^24) ulps; nearbyint rounds half to even.
    const float ulps = std::nearbyint(magnitude * 16777216.0f);
    return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(ulps));
  }
  // Normal range: drop 13 mantissa bits with round to nearest even.
  const std::uint32_t abs_bits = bits & 0x7fffffffu;
  const std::uint32_t rounded = abs_bits + 0xfffu + ((abs_bits >> 13) & 1u);
  const std::uint32_t exponent = (rounded >> 23) - 112u;
  return static_cast<std::uint16_t>(sign | (exponent << 10) | ((rounded >> 13) & 0x3ffu));
}

std::uint16_t f32_to_bf16(float value) {
  const std::uint32_t bits = float_bits(value);
  if (std::isnan(value)) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
  const std::uint32_t rounded = bits + 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>(rounded >> 16);
}

std::string TensorView::shape_string() const {
  std::string text = "[";
  for (int axis = 0; axis < rank; ++axis) {
    if (axis > 0) text += ", ";
    text += std::to_string(dim(axis));
  }
  text += "]";
  return text;
}

void convert_to_f32(const TensorView& src, std::int64_t offset, std::int64_t count, float* dst) {
  switch (src.dtype) {
    case DType::kF32: {
      std::memcpy(dst, static_cast<const float*>(src.data) + offset,
                  static_cast<std::size_t>(count) * sizeof(float));
      return;
    }
    case DType::kF16: {
      const auto* in = static_cast<const std::uint16_t*>(src.data) + offset;
      for (std::int64_t i = 0; i < count; ++i) dst[i] = f16_to_f32(in[i]);
      return;
    }
    case DType::kBF16: {
      const auto* in = static_cast<const std::uint16_t*>(src.data) + offset;
      for (std::int64_t i = 0; i < count; ++i) dst[i] = bf16_to_f32(in[i]);
      return;
    }
    case DType::kQ8_0: {
      dequantize_row_q8_0(static_cast<const BlockQ8_0*>(src.data) + offset / kQuantBlock, count, dst);
      return;
    }
    case DType::kQ4_0: {
      dequantize_row_q4_0(static_cast<const BlockQ4_0*>(src.data) + offset / kQuantBlock, count, dst);
      return;
    }
    case DType::kQ4_K: {
      dequantize_row_q4_K(static_cast<const BlockQ4_K*>(src.data) + offset / kSuperBlock, count, dst);
      return;
    }
    case DType::kQ6_K: {
      dequantize_row_q6_K(static_cast<const BlockQ6_K*>(src.data) + offset / kSuperBlock, count, dst);
      return;
    }
    case DType::kQ4_Kx16: {
      // Element e of row r sits in group r / 16, super-block e / 256, slot r % 16.
      const std::int64_t width = src.dim(src.rank - 1);
      const std::int64_t nsb = width / kSuperBlock;
      const auto* groups = static_cast<const BlockQ4_Kx16*>(src.data);
      for (std::int64_t done = 0; done < count; done += kSuperBlock) {
        const std::int64_t element = offset + done;
        const std::int64_t row = element / width;
        const std::int64_t b = (element % width) / kSuperBlock;
        dequantize_q4_Kx16_slot(groups[(row / 16) * nsb + b], static_cast<int>(row % 16), dst + done);
      }
      return;
    }
    case DType::kQ4_0x16: {
      // Element e of row r sits in group r / 16, block e / 32, slot r % 16.
      const std::int64_t width = src.dim(src.rank - 1);
      const std::int64_t nb = width / kQuantBlock;
      const auto* groups = static_cast<const BlockQ4_0x16*>(src.data);
      for (std::int64_t done = 0; done < count; done += kQuantBlock) {
        const std::int64_t element = offset + done;
        const std::int64_t row = element / width;
        const std::int64_t b = (element % width) / kQuantBlock;
        const BlockQ4_0x16& packed = groups[(row / 16) * nb + b];
        const int slot = static_cast<int>(row % 16);
        BlockQ4_0 block;
        block.d = packed.d[slot];
        for (int j = 0; j < kQuantBlock / 2; ++j) block.qs[j] = q4_0x16_byte(packed, slot, j);
        dequantize_row_q4_0(&block, kQuantBlock, dst + done);
      }
      return;
    }
    case DType::kQ8_0x16: {
      // Element e of row r sits in group r / 16, block e / 32, slot r % 16.
      const std::int64_t width = src.dim(src.rank - 1);
      const std::int64_t nb = width / kQuantBlock;
      const auto* groups = static_cast<const BlockQ8_0x16*>(src.data);
      for (std::int64_t done = 0; done < count; done += kQuantBlock) {
        const std::int64_t element = offset + done;
        const std::int64_t row = element / width;
        const std::int64_t b = (element % width) / kQuantBlock;
        const BlockQ8_0x16& packed = groups[(row / 16) * nb + b];
        const int slot = static_cast<int>(row % 16);
        BlockQ8_0 block;
        block.d = packed.d[slot];
        for (int j = 0; j < kQuantBlock; ++j) block.qs[j] = q8_0x16_value(packed, slot, j);
        dequantize_row_q8_0(&block, kQuantBlock, dst + done);
      }
      return;
    }
  }
}

}  // namespace glimpse
