// Vector math shared by the kernels compiled with the build's own flags (kernels.cpp,
// attention.cpp); only defined when those flags include AVX2, FMA and F16C.
#pragma once

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

namespace glimpse::kernels {

// exp(x) per lane, after Cephes expf: x = n ln2 + r with |r| <= ln2/2, exp(r) from a degree-6
// polynomial, then scaled by 2^n. Relative error is within about 2 ulp. Inputs below -87.33,
// whose results are subnormal, give 0.
inline __m256 exp8(__m256 x) {
  const __m256 min_input = _mm256_set1_ps(-87.3365447505531f);
  const __m256 underflow = _mm256_cmp_ps(x, min_input, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, min_input), _mm256_set1_ps(88.3762626647949f));

  const __m256 n = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  // ln 2 split in two, so that n * 0.693359375 is exact.
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);

  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, r, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));

  const __m256i exponent = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23);
  const __m256 result = _mm256_mul_ps(y, _mm256_castsi256_ps(exponent));
  return _mm256_andnot_ps(underflow, result);
}

}  // namespace glimpse::kernels

#endif
