/* kern_avx512bf16.c — kern_bf16.h with AVX512_BF16's vdpbf16ps (Intel Cooper Lake, Sapphire
 * Rapids and later; AMD Zen 4 and later): 32 bf16 products per instruction, twice the float32
 * kernel's multiply-adds, in the order kern.h documents (the other paths emulate it). Compiled
 * for that target whatever the build's -march; used only where the CPU has it (gemm.c). AMX's
 * tdpbf16ps is not used: its accumulation order is not documented element by element. */
#if defined(__x86_64__)
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,fma,avx2")
#include <immintrin.h>
#include <stdint.h>

#define VI static inline __attribute__((always_inline))
#define KB16_HW 1
#define KB16_NAME avx512bf16
#define KB16_MR 4 /* 4 x 6 accumulators + 4 rows + 1 weight of the 32 zmm registers */
#define KB16_NR 6

typedef __m512 v16;
typedef __m512i vb;

VI v16 v_zero(void)
{
    return _mm512_setzero_ps();
}
VI void v_prefetch(const char *p)
{
    _mm_prefetch(p, _MM_HINT_T1);
}
VI vb vb_ldx(const uint16_t *p)
{
    return _mm512_loadu_si512(p);
}
VI vb vb_ldw(const uint16_t *p)
{
    return _mm512_loadu_si512(p);
}
VI v16 vb_dot(v16 acc, vb x, vb w)
{
    return _mm512_dpbf16_ps(acc, (__m512bh)x, (__m512bh)w);
}
/* kern.h's tree16 of four vectors, as kern_avx512.c */
VI void v_hsum4(v16 a, v16 b, v16 c, v16 d, float out[4])
{
    __m256 a8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
    __m256 b8 = _mm256_add_ps(_mm512_castps512_ps256(b), _mm512_extractf32x8_ps(b, 1));
    __m256 c8 = _mm256_add_ps(_mm512_castps512_ps256(c), _mm512_extractf32x8_ps(c, 1));
    __m256 d8 = _mm256_add_ps(_mm512_castps512_ps256(d), _mm512_extractf32x8_ps(d, 1));
    __m256 ab = _mm256_hadd_ps(a8, b8);
    __m256 cd = _mm256_hadd_ps(c8, d8);
    __m256 abcd = _mm256_hadd_ps(ab, cd);
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
}

#include "pipeline/ops/kern_bf16.h"

int kern_has_avx512bf16(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bf16");
}
#endif
