#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "glimpse/tensor.h"

namespace glimpse {
namespace {

TEST(DType, TableNamesAndSizes) {
  EXPECT_EQ(dtype_name(DType::kF32), "F32");
  EXPECT_EQ(dtype_name(DType::kBF16), "BF16");
  EXPECT_EQ(dtype_bytes(DType::kF16, 3), 6u);
  EXPECT_EQ(dtype_bytes(DType::kF32, 3), 12u);
}

TEST(DType, F16RoundTripsEveryBitPattern) {
  for (std::uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const float value = f16_to_f32(static_cast<std::uint16_t>(bits));
    if (std::isnan(value)) {
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(value)))) << bits;
      continue;
    }
    ASSERT_EQ(f32_to_f16(value), bits) << "f16 bits 0x" << std::hex << bits;
  }
}

TEST(DType, F16KnownValues) {
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_TRUE(std::isinf(f16_to_f32(0x7c00)));
  // Ties round to even: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10.
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(f32_to_f16(70000.0f), 0x7c00);  // overflow becomes infinity
}

TEST(DType, Bf16RoundsToNearestEven) {
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  // 1 + 2^-8 is halfway between bf16 neighbours 1 and 1 + 2^-7: ties to even (1).
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

TEST(DType, ConvertToF32ReadsEachStorage) {
  const std::uint16_t half[3] = {0x3c00, 0x4000, 0xbc00};
  const std::uint16_t brain[3] = {0x3f80, 0x4000, 0xbf80};
  const float full[3] = {1.0f, 2.0f, -1.0f};
  for (const TensorView& view : {TensorView{DType::kF16, 1, {3}, half}, TensorView{DType::kBF16, 1, {3}, brain},
                                 TensorView{DType::kF32, 1, {3}, full}}) {
    float out[2];
    convert_to_f32(view, 1, 2, out);
    EXPECT_EQ(out[0], 2.0f) << dtype_name(view.dtype);
    EXPECT_EQ(out[1], -1.0f) << dtype_name(view.dtype);
  }
}

}  // namespace
}  // namespace glimpse
