/* kern_avx2.c — kern_body.h on AVX2 + FMA + F16C (AMD Zen, Intel since Haswell): a v16 is two
 * ymm registers, lanes 0-7 and 8-15, so the sums are those of the 16-lane paths bit for bit.
 * Tiles are smaller than AVX-512's: 16 ymm registers hold 1 x 6 two-register accumulators, a
 * row of x, and the packed weights come in as memory operands of the fma. bf16 weights against
 * at most XB_MAX_T rows of x take their own tile (xb_nt_run below: the even/odd split, which
 * widens in registers): too few row tiles to repay kern_body.h's packed copy. Measured on
 * Sapphire Rapids forced to this path, one thread, GFLOP/s: T=64 packed 1x6 58-63, even/odd
 * 51, packed 2x3 48; T=8 even/odd 50, packed 1x6 35. */
#if defined(__x86_64__)
#pragma GCC target("avx2,fma,f16c")
#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/model/dtype.h"
#include "pipeline/ops/kern.h"

#define KERN_NAME avx2
#ifndef NT_MR
#define NT_MR 1
#define NT_NR 6
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
VI void v_prefetch_l1(const char *p)
{
    _mm_prefetch(p, _MM_HINT_T0);
}

/* kern.h's tree16: lanes i + (i+8) first, then the same transposing adds as AVX-512's */
VI void v_hsum4(v16 a, v16 b, v16 c, v16 d, float out[4])
{
    __m256 ab = _mm256_hadd_ps(_mm256_add_ps(a.lo, a.hi), _mm256_add_ps(b.lo, b.hi));
    __m256 cd = _mm256_hadd_ps(_mm256_add_ps(c.lo, c.hi), _mm256_add_ps(d.lo, d.hi));
    __m256 abcd = _mm256_hadd_ps(ab, cd);
    _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
}

/* ---- gemm_nt with bf16 weights: the even/odd split ------------------------------------------
 * Widening 16 bf16 the contiguous way (v_ldw) costs two vpmovzxwd and two vpslld, and the
 * shifts compete with the FMAs for the same two ports. Loaded as one ymm, 16 bf16 give the odd
 * elements with one vpand (high halves kept) and the even ones with one vpshufb (low halves
 * moved up): a v16 whose lo register holds k = 0, 2, .., 14 and hi k = 1, 3, .., 15. Each
 * logical lane l still accumulates exactly k = l mod 16; only its register slot moves. x is
 * copied once per K block into the same even/odd order (zero-padded to whole 16-groups), which
 * every weight row then reuses, and xb_tree16 sums the slots in kern.h's tree16 order, so the
 * bits are those of every other path. Why not kern_body.h's tile: it keeps x in registers,
 * which with 2 x 8 lanes leaves room for too few accumulators; here x is an FMA memory operand
 * and 3 x 2 tiles use 12 accumulators + 2 weight halves (the constants are memory operands).
 * Loop order: a row tile of x (3 x KC floats) stays in L1 while a group of XB_NBT weight tiles
 * streams past it from L2; weights are 2 bytes an element and x 4, so this moves less through
 * L2 than kern_body.h's order (x streamed past an L1-resident weight tile).
 * Measured (docs/performance.md): bit-identical, 1.2-1.3x the kern_body.h tile on Sapphire
 * Rapids forced to AVX2; not yet measured on an AVX2-only CPU (Zen). */
#ifndef XB_MR /* the tile: rows of x by rows of W (-D to try others, up to 6 x 3) */
#define XB_MR 3
#define XB_NR 2
#endif
#define KB_CAT2(a, b) a##b
#define KB_CAT(a, b) KB_CAT2(a, b)
#define XB_NBT 16 /* weight tiles per pass over a row tile: 16 x 2 rows x KC bf16 stay in L2 */
#define XB_PF 2   /* weight tiles of prefetch distance, as kern_body.h's KB_PF */

/* 16 floats into the even/odd order: dst[0..7] = src[0, 2, .., 14], dst[8..15] = src[1, .., 15] */
VI void xb_perm16(const float *src, float *dst)
{
    const __m256 a = _mm256_loadu_ps(src), b = _mm256_loadu_ps(src + 8);
    /* per 128-bit half: x0 x2 x8 x10 | x4 x6 x12 x14, then the 64-bit pairs into order */
    const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    const __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    _mm256_storeu_ps(dst, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xd8)));
    _mm256_storeu_ps(dst + 8, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xd8)));
}

/* kern.h's tree16 of a v16 in the even/odd order: s_2m = lo[m] + lo[m+4], s_2m+1 = hi[m] +
 * hi[m+4], then (s0+s1), (s2+s3), .. and the two levels above, the same adds as every path */
VI float xb_tree16(__m256 lo, __m256 hi)
{
    const __m128 e = _mm_add_ps(_mm256_castps256_ps128(lo), _mm256_extractf128_ps(lo, 1));
    const __m128 o = _mm_add_ps(_mm256_castps256_ps128(hi), _mm256_extractf128_ps(hi, 1));
    const __m128 h = _mm_hadd_ps(_mm_add_ps(e, o), _mm_setzero_ps()); /* s01+s23 ... */
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

static const _Alignas(32) uint8_t xb_even[32] = {
    0x80, 0x80, 0, 1, 0x80, 0x80, 4, 5, 0x80, 0x80, 8, 9, 0x80, 0x80, 12, 13,
    0x80, 0x80, 0, 1, 0x80, 0x80, 4, 5, 0x80, 0x80, 8, 9, 0x80, 0x80, 12, 13}; /* low halves up */
static const _Alignas(32) uint32_t xb_odd[8] = {0xffff0000u, 0xffff0000u, 0xffff0000u, 0xffff0000u,
                                                0xffff0000u, 0xffff0000u, 0xffff0000u, 0xffff0000u};

/* one step of 16 k: nr weight rows (wst bytes apart) against mr rows of xp (ldxp floats) */
VI void xb_step(int mr, int nr, const float *xp, int64_t ldxp, const char *w, int64_t wst,
                __m256 ae[XB_MR][XB_NR], __m256 ao[XB_MR][XB_NR])
{
#pragma GCC unroll 3
    for (int j = 0; j < XB_NR; j++) {
        if (j >= nr) continue;
        const __m256i raw = _mm256_loadu_si256((const __m256i *)(const void *)(w + j * wst));
        __m256 we, wo;
        /* the two constants as memory operands: 12 accumulators + we + wo leave GCC no
         * register for them, and it would spill accumulators inside the loop instead */
        __asm__("vpshufb %1, %2, %0" : "=x"(we) : "m"(xb_even), "x"(raw));
        __asm__("vpand %1, %2, %0" : "=x"(wo) : "m"(xb_odd), "x"(raw));
#pragma GCC unroll 6
        for (int i = 0; i < XB_MR; i++) {
            if (i >= mr) continue;
            ae[i][j] = _mm256_fmadd_ps(_mm256_loadu_ps(xp + i * ldxp), we, ae[i][j]);
            ao[i][j] = _mm256_fmadd_ps(_mm256_loadu_ps(xp + i * ldxp + 8), wo, ao[i][j]);
        }
    }
}

/* y[mr, nr] (+)= xp[mr, kc] . w[nr, kc]^T; xp in the even/odd order, ldxp floats per row
 * (kc rounded up to 16, zeros past kc); w rows ldw_b bytes apart; pf as kern_body.h's nt_tile
 * (a later tile, DRAM to L2, or NULL); pn the next tile (L2 to L1: each of a weight row's 4 KB
 * is its own page, where the hardware prefetchers start over) */
VI void xb_tile(int mr, int nr, const float *xp, int64_t ldxp, const char *w, int64_t ldw_b,
                int64_t kc, float *y, int64_t ldy, int acc_y, const char *pf, const char *pn)
{
    __m256 ae[XB_MR][XB_NR], ao[XB_MR][XB_NR];
#pragma GCC unroll 6
    for (int i = 0; i < XB_MR; i++)
#pragma GCC unroll 3
        for (int j = 0; j < XB_NR; j++) ae[i][j] = ao[i][j] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 32 <= kc; k += 32) { /* two steps of 16: one prefetch per 64 bytes of a row */
#pragma GCC unroll 3
        for (int j = 0; j < XB_NR; j++)
            if (j < nr) _mm_prefetch(pn + j * ldw_b + k * 2, _MM_HINT_T0);
        if (pf)
#pragma GCC unroll 3
            for (int j = 0; j < XB_NR; j++)
                if (j < nr) _mm_prefetch(pf + j * ldw_b + k * 2, _MM_HINT_T1);
        xb_step(mr, nr, xp + k, ldxp, w + k * 2, ldw_b, ae, ao);
        xb_step(mr, nr, xp + k + 16, ldxp, w + k * 2 + 32, ldw_b, ae, ao);
    }
    for (; k < kc; k += 16) {
        if (k + 16 <= kc) {
            xb_step(mr, nr, xp + k, ldxp, w + k * 2, ldw_b, ae, ao);
        } else { /* the block's tail: zero weights past the end, as on every path */
            _Alignas(32) char tail[XB_NR][32];
            memset(tail, 0, sizeof tail);
#pragma GCC unroll 3
            for (int j = 0; j < XB_NR; j++)
                if (j < nr) memcpy(tail[j], w + j * ldw_b + k * 2, (size_t)(kc - k) * 2);
            xb_step(mr, nr, xp + k, ldxp, tail[0], 32, ae, ao);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < XB_MR; i++)
#pragma GCC unroll 3
        for (int j = 0; j < XB_NR; j++) {
            if (i >= mr || j >= nr) continue;
            const float s = xb_tree16(ae[i][j], ao[i][j]);
            float *yp = y + i * ldy + j;
            *yp = acc_y ? *yp + s : s;
        }
}

typedef void (*xb_fn)(const float *xp, int64_t ldxp, const char *w, int64_t ldw_b, int64_t kc,
                      float *y, int64_t ldy, int acc_y, const char *pf, const char *pn);
#define XB_DEF(MR, NR)                                                                             \
    static void xb_##MR##_##NR(const float *xp, int64_t ldxp, const char *w, int64_t ldw_b,        \
                               int64_t kc, float *y, int64_t ldy, int acc_y, const char *pf,       \
                               const char *pn)                                                     \
    {                                                                                              \
        xb_tile(MR, NR, xp, ldxp, w, ldw_b, kc, y, ldy, acc_y, pf, pn);                            \
    }
#define XB_R1(MR) XB_DEF(MR, 1)
#define XB_R2(MR) XB_R1(MR) XB_DEF(MR, 2)
#define XB_R3(MR) XB_R2(MR) XB_DEF(MR, 3)
#define XB_ROW(MR) KB_CAT(XB_R, XB_NR)(MR)
#define XB_M1() XB_ROW(1)
#define XB_M2() XB_M1() XB_ROW(2)
#define XB_M3() XB_M2() XB_ROW(3)
#define XB_M4() XB_M3() XB_ROW(4)
#define XB_M5() XB_M4() XB_ROW(5)
#define XB_M6() XB_M5() XB_ROW(6)
KB_CAT(XB_M, XB_MR)
()
#define XB_P1(MR) xb_##MR##_1
#define XB_P2(MR) XB_P1(MR), xb_##MR##_2
#define XB_P3(MR) XB_P2(MR), xb_##MR##_3
#define XB_PROW(MR)                                                                                \
    {                                                                                              \
        KB_CAT(XB_P, XB_NR)(MR)                                                                    \
    }
#define XB_PM1() XB_PROW(1)
#define XB_PM2() XB_PM1(), XB_PROW(2)
#define XB_PM3() XB_PM2(), XB_PROW(3)
#define XB_PM4() XB_PM3(), XB_PROW(4)
#define XB_PM5() XB_PM4(), XB_PROW(5)
#define XB_PM6() XB_PM5(), XB_PROW(6)
    static const xb_fn XB_KERNELS[XB_MR][XB_NR] = {KB_CAT(XB_PM, XB_MR)()};

#define XB_MAX_T 16 /* rows of x up to which bf16 weights take the even/odd tile */

/* kern_body.h's nt_run for bf16 weights and a few rows of x (KB_NT_RUN_DT): the same blocks,
 * K block by K block added into y in order; returns 0 for the other products */
static int xb_nt_run(void *ctx, int part, int parts)
{
    const kern_job *j = ctx;
    if (j->dt != MP_BF16 || j->T > XB_MAX_T) return 0;
    const int64_t tiles = (j->N + XB_NR - 1) / XB_NR;
    const int64_t t0 = tiles * part / parts, t1 = tiles * (part + 1) / parts;
    if (t0 >= t1) return 1;
    /* rows of the copy one cache line longer than a whole number of 16-groups: rows of 2^n
     * floats would all map to the same L1 sets as each other and as the weight rows */
    const int64_t kc16 = ((j->K < KERN_KC ? j->K : KERN_KC) + 15) / 16 * 16 + 16;
    /* the x block in the even/odd order. A few rows (decode), or no memory: blocks of one
     * row tile in a stack copy (the same sums; the weights are fetched once per block). */
    _Alignas(64) float small[XB_MR * (KERN_KC + 16)];
    float *xbuf = NULL;
    int64_t mc = j->T; /* at most XB_MAX_T rows: all of x in one block */
    /* cache-line aligned (kc16 floats are whole lines): malloc's 16-byte alignment made every
     * other 32-byte load of x a split load, 0.7-0.8x the speed */
    if (j->T > XB_MR) xbuf = aligned_alloc(64, (size_t)(mc * kc16) * sizeof *xbuf);
    if (!xbuf) mc = XB_MR;
    float *xp = xbuf ? xbuf : small;
    for (int64_t kb = 0; kb < j->K; kb += KERN_KC) {
        const int64_t kc = j->K - kb < KERN_KC ? j->K - kb : KERN_KC;
        const int64_t ldxp = (kc + 15) / 16 * 16 + 16;
        const int acc_y = kb > 0 || j->beta1;
        for (int64_t mb = 0; mb < j->T; mb += mc) {
            const int64_t me = mb + mc < j->T ? mb + mc : j->T;
            for (int64_t m = mb; m < me; m++) {
                const float *xr = j->x + m * j->ldx + kb;
                float *d = xp + (m - mb) * ldxp;
                int64_t k = 0;
                for (; k + 16 <= kc; k += 16) xb_perm16(xr + k, d + k);
                if (k < kc) {
                    float b[16] = {0};
                    memcpy(b, xr + k, (size_t)(kc - k) * sizeof *b);
                    xb_perm16(b, d + k);
                }
            }
            for (int64_t tb = t0; tb < t1; tb += XB_NBT) {
                const int64_t te = tb + XB_NBT < t1 ? tb + XB_NBT : t1;
                for (int64_t m = mb; m < me; m += XB_MR) {
                    const int mr = (int)(me - m < XB_MR ? me - m : XB_MR);
                    for (int64_t t = tb; t < te; t++) {
                        const int64_t n0 = t * XB_NR;
                        const int nr = (int)(j->N - n0 < XB_NR ? j->N - n0 : XB_NR);
                        const char *w = j->w + n0 * j->ldw_b + kb * 2;
                        const char *pf =
                            mb == 0 && m == mb && t + XB_PF < t1 && n0 + (XB_PF + 1) * XB_NR <= j->N
                                ? w + XB_PF * XB_NR * j->ldw_b
                                : NULL;
                        /* the next tile (this one at the end) into L1 meanwhile */
                        const char *pn = t + 1 < t1 ? w + XB_NR * j->ldw_b : w;
                        XB_KERNELS[mr - 1][nr - 1](xp + (m - mb) * ldxp, ldxp, w, j->ldw_b, kc,
                                                   j->y + m * j->ldy + n0, j->ldy, acc_y, pf, pn);
                    }
                }
            }
        }
    }
    free(xbuf);
    return 1;
}
#define KB_NT_RUN_DT xb_nt_run

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
