/* kern_avx2.c — kern_body.h on AVX2 + FMA + F16C (AMD Zen, Intel since Haswell): a v16 is two
 * ymm registers, lanes 0-7 and 8-15, so the sums are those of the 16-lane paths bit for bit.
 * Tiles are smaller than AVX-512's: 16 ymm registers hold 2 x 3 two-register accumulators. */
#if defined(__x86_64__)
#pragma GCC target("avx2,fma,f16c")
#include <immintrin.h>
#include <stdint.h>

#include "pipeline/model/dtype.h"

#define KERN_NAME avx2
#ifndef NT_MR
#define NT_MR 2
#define NT_NR 3
#endif
#define NN_MR 4
#define NN_NV 1
#define VI static inline __attribute__((always_inline))

typedef struct v16 {
    __m256 lo, hi;
} v16;

VI v16 v_mk(__m256 lo, __m256 hi)
{
    v16 r = {lo, hi};
    return r;
}
VI v16 v_zero(void)
{
    return v_mk(_mm256_setzero_ps(), _mm256_setzero_ps());
}
VI v16 v_set1(float a)
{
    return v_mk(_mm256_set1_ps(a), _mm256_set1_ps(a));
}
VI v16 v_ldx(const float *p)
{
    return v_mk(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8));
}
VI void v_st(float *p, v16 a)
{
    _mm256_storeu_ps(p, a.lo);
    _mm256_storeu_ps(p + 8, a.hi);
}
VI __m256 ldw8(const char *p, int dt)
{
    if (dt == MP_F32) return _mm256_loadu_ps((const float *)(const void *)p);
    __m128i h = _mm_loadu_si128((const __m128i *)(const void *)p);
    if (dt == MP_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
VI v16 v_ldw(const char *p, int dt)
{
    return v_mk(ldw8(p, dt), ldw8(p + (dt == MP_F32 ? 32 : 16), dt));
}
#define V2(NAME, OP)                                                                               \
    VI v16 NAME(v16 a, v16 b)                                                                      \
    {                                                                                              \
        return v_mk(OP(a.lo, b.lo), OP(a.hi, b.hi));                                               \
    }
V2(v_add, _mm256_add_ps)
V2(v_sub, _mm256_sub_ps)
V2(v_mul, _mm256_mul_ps)
V2(v_div, _mm256_div_ps)
V2(v_min, _mm256_min_ps)
V2(v_max, _mm256_max_ps)
VI v16 v_fma(v16 a, v16 b, v16 c)
{
    return v_mk(_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi));
}
VI v16 v_rint(v16 a)
{
    return v_mk(_mm256_round_ps(a.lo, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                _mm256_round_ps(a.hi, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
VI v16 v_floor(v16 a)
{
    return v_mk(_mm256_floor_ps(a.lo), _mm256_floor_ps(a.hi));
}
VI __m256 pow2i8(__m256 n)
{
    __m256i e = _mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
}
VI v16 v_pow2i(v16 n)
{
    return v_mk(pow2i8(n.lo), pow2i8(n.hi));
}
VI void v_prefetch(const char *p)
{
    _mm_prefetch(p, _MM_HINT_T1);
}

/* kern.h's tree16: lanes i + (i+8) first, then the same transposing adds as AVX-512's */
VI void v_hsum4(v16 a, v16 b, v16 c, v16 d, float out[4])
{
    __m256 ab = _mm256_hadd_ps(_mm256_add_ps(a.lo, a.hi), _mm256_add_ps(b.lo, b.hi));
    __m256 cd = _mm256_hadd_ps(_mm256_add_ps(c.lo, c.hi), _mm256_add_ps(d.lo, d.hi));
    __m256 abcd = _mm256_hadd_ps(ab, cd);
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
}

#include "pipeline/ops/kern_body.h"

/* the bf16 product emulated on AVX2 (kern_bf16.h): no CPU with only AVX2 has bf16 products */
VI __m256i ld8u(const uint16_t *p)
{
    return _mm256_loadu_si256((const __m256i *)(const void *)p);
}
VI v16 v_bf_hi(const uint16_t *p)
{
    const __m256i m = _mm256_set1_epi32((int)0xffff0000u);
    return v_mk(_mm256_castsi256_ps(_mm256_and_si256(ld8u(p), m)),
                _mm256_castsi256_ps(_mm256_and_si256(ld8u(p + 16), m)));
}
VI v16 v_bf_lo(const uint16_t *p)
{
    return v_mk(_mm256_castsi256_ps(_mm256_slli_epi32(ld8u(p), 16)),
                _mm256_castsi256_ps(_mm256_slli_epi32(ld8u(p + 16), 16)));
}
VI __m256 daz8(__m256 a)
{
    const __m256i i = _mm256_castps_si256(a);
    const __m256i sub = _mm256_cmpeq_epi32(_mm256_and_si256(i, _mm256_set1_epi32(0x7f800000)),
                                           _mm256_setzero_si256());
    return _mm256_castsi256_ps(
        _mm256_blendv_epi8(i, _mm256_and_si256(i, _mm256_set1_epi32((int)0x80000000u)), sub));
}
VI v16 v_daz(v16 a)
{
    return v_mk(daz8(a.lo), daz8(a.hi));
}
#define KB16_NAME avx2
#define KB16_MR 2
#define KB16_NR 2
#include "pipeline/ops/kern_bf16.h"
#endif
