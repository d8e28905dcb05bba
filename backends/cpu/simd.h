/* SPDX-License-Identifier: Apache-2.0 */
/* simd.h - AVX2+FMA(+F16C) helpers shared by the kernels: exp, erf,
 * horizontal sums, f16/bf16 loads.  Every function carries the target
 * attribute, so this header compiles without -mavx2 and the code only runs
 * after the run-time check in plugin.c. */
#ifndef PTM_CPU_SIMD_H
#define PTM_CPU_SIMD_H

#include "cpu.h"

#include <immintrin.h>

#define V_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))

V_INLINE float v_hsum(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

V_INLINE float v_hmax(__m256 v)
{
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* exp(x), Cephes polynomial (about 1 ulp).  Below -87.3 gives 0, above 88
 * saturates at exp(88); NaN stays NaN. */
V_INLINE __m256 v_exp(__m256 x0)
{
    const __m256 hi = _mm256_set1_ps(88.0f), lo = _mm256_set1_ps(-87.33f);
    __m256 x = _mm256_min_ps(hi, x0); /* NaN-propagating order */
    x = _mm256_max_ps(lo, x);
    __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 y = _mm256_set1_ps(1.9875691500E-4f);
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
    y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
    y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.0f)));
    __m256i n = _mm256_cvttps_epi32(fx);
    n = _mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23);
    y = _mm256_mul_ps(y, _mm256_castsi256_ps(n));
    return _mm256_andnot_ps(_mm256_cmp_ps(x0, lo, _CMP_LT_OQ), y);
}

/* erf(x) as a rational function on [-4, 4] (Eigen's fast erf; |error| <
 * 4e-7). */
V_INLINE __m256 v_erf(__m256 a)
{
    __m256 x = _mm256_max_ps(_mm256_set1_ps(-4.0f), _mm256_min_ps(_mm256_set1_ps(4.0f), a));
    __m256 x2 = _mm256_mul_ps(x, x);
    __m256 p = _mm256_fmadd_ps(x2, _mm256_set1_ps(-2.72614225801306e-10f), _mm256_set1_ps(2.77068142495902e-08f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-2.10102402082508e-06f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-5.69250639462346e-05f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-7.34990630326855e-04f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-2.95459980854025e-03f));
    p = _mm256_fmadd_ps(x2, p, _mm256_set1_ps(-1.60960333262415e-02f));
    p = _mm256_mul_ps(x, p);
    __m256 q = _mm256_fmadd_ps(x2, _mm256_set1_ps(-1.45660718464996e-05f), _mm256_set1_ps(-2.13374055278905e-04f));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-1.68282697438203e-03f));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-7.37332916720468e-03f));
    q = _mm256_fmadd_ps(x2, q, _mm256_set1_ps(-1.42647390514189e-02f));
    return _mm256_div_ps(p, q);
}

/* x / (1 + exp(-y)) */
V_INLINE __m256 v_mul_sigmoid(__m256 x, __m256 y)
{
    __m256 e = v_exp(_mm256_sub_ps(_mm256_setzero_ps(), y));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

/* 8 elements of a f32 / bf16 / f16 array starting at element i, as f32. */
V_INLINE __m256 v_load(const void *p, int64_t i, const int dt)
{
    if (dt == PTM_BF16) {
        __m128i h = _mm_loadu_si128((const __m128i *)((const uint16_t *)p + i));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    if (dt == PTM_F16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
    return _mm256_loadu_ps((const float *)p + i);
}

V_INLINE float v_load1(const void *p, int64_t i, const int dt)
{
    if (dt == PTM_BF16)
        return cpu_bf16(((const uint16_t *)p)[i]);
    if (dt == PTM_F16)
        return _cvtsh_ss(((const uint16_t *)p)[i]);
    return ((const float *)p)[i];
}

#endif
