/* kern_avx512.c — kern_body.h on AVX-512 F/BW/VL/DQ: a v16 is one zmm register. Compiled for
 * that target whatever the build's -march (the choice happens at run time, gemm.c). */
#if defined(__x86_64__)
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,fma,f16c,avx2")
#include <immintrin.h>
#include <stdint.h>

#include "pipeline/model/dtype.h"

#define KERN_NAME avx512
#ifndef NT_MR
#define NT_MR 4 /* 4 x 6 accumulators + 4 x rows + 1 weight of the 32 zmm registers */
#define NT_NR 6
#endif
#define NN_MR 6
#define NN_NV 4
#define VI static inline __attribute__((always_inline))

typedef __m512 v16;

VI v16 v_zero(void)
{
    return _mm512_setzero_ps();
}
VI v16 v_set1(float a)
{
    return _mm512_set1_ps(a);
}
VI v16 v_ldx(const float *p)
{
    return _mm512_loadu_ps(p);
}
VI void v_st(float *p, v16 a)
{
    _mm512_storeu_ps(p, a);
}
VI v16 v_ldw(const char *p, int dt)
{
    if (dt == MP_F32) return _mm512_loadu_ps((const float *)(const void *)p);
    __m256i h = _mm256_loadu_si256((const __m256i *)(const void *)p);
    if (dt == MP_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
VI v16 v_fma(v16 a, v16 b, v16 c)
{
    return _mm512_fmadd_ps(a, b, c);
}
VI v16 v_add(v16 a, v16 b)
{
    return _mm512_add_ps(a, b);
}
VI v16 v_sub(v16 a, v16 b)
{
    return _mm512_sub_ps(a, b);
}
VI v16 v_mul(v16 a, v16 b)
{
    return _mm512_mul_ps(a, b);
}
VI v16 v_div(v16 a, v16 b)
{
    return _mm512_div_ps(a, b);
}
VI v16 v_min(v16 a, v16 b)
{
    return _mm512_min_ps(a, b);
}
VI v16 v_max(v16 a, v16 b)
{
    return _mm512_max_ps(a, b);
}
VI v16 v_rint(v16 a)
{
    return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
VI v16 v_floor(v16 a)
{
    return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
}
VI v16 v_pow2i(v16 n)
{
    __m512i e = _mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127));
    return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
}
VI void v_prefetch(const char *p)
{
    _mm_prefetch(p, _MM_HINT_T1);
}
VI void v_prefetch_l1(const char *p)
{
    _mm_prefetch(p, _MM_HINT_T0);
}

/* kern.h's tree16 of four vectors at once: the transposing adds share the shuffles that four
 * separate reductions would each pay for. */
VI void v_hsum4(v16 a, v16 b, v16 c, v16 d, float out[4])
{
    __m256 a8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
    __m256 b8 = _mm256_add_ps(_mm512_castps512_ps256(b), _mm512_extractf32x8_ps(b, 1));
    __m256 c8 = _mm256_add_ps(_mm512_castps512_ps256(c), _mm512_extractf32x8_ps(c, 1));
    __m256 d8 = _mm256_add_ps(_mm512_castps512_ps256(d), _mm512_extractf32x8_ps(d, 1));
    __m256 ab = _mm256_hadd_ps(a8, b8); /* a01 a23 b01 b23 | a45 a67 b45 b67 */
    __m256 cd = _mm256_hadd_ps(c8, d8);
    __m256 abcd = _mm256_hadd_ps(ab, cd); /* a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7 */
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
}

#include "pipeline/ops/kern_body.h"

/* the bf16 product emulated on AVX-512 F (kern_bf16.h), for CPUs without AVX512_BF16 */
VI v16 v_bf_hi(const uint16_t *p)
{
    return _mm512_castsi512_ps(
        _mm512_and_si512(_mm512_loadu_si512(p), _mm512_set1_epi32((int)0xffff0000u)));
}
VI v16 v_bf_lo(const uint16_t *p)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_loadu_si512(p), 16));
}
VI v16 v_daz(v16 a)
{
    const __m512i i = _mm512_castps_si512(a);
    const __mmask16 normal = _mm512_test_epi32_mask(i, _mm512_set1_epi32(0x7f800000));
    return _mm512_castsi512_ps(
        _mm512_mask_mov_epi32(_mm512_and_si512(i, _mm512_set1_epi32((int)0x80000000u)), normal, i));
}
#define KB16_NAME avx512
#define KB16_MR 4
#define KB16_NR 3
#include "pipeline/ops/kern_bf16.h"
#endif
