/* kern_bf16.h — the bf16 x bf16 weight product (gemm_nt with the activation row rounded to
 * bf16; the evaluation passes' screening mode, docs/method.md), written once and included by
 * each kern_<isa>.c after kern_body.h, and by kern_avx512bf16.c for the hardware instruction.
 *
 * The order is AVX512_BF16's vdpbf16ps, documented in kern.h: lane l of a 16-lane accumulator
 * takes, per 32-element step of the K block, the pair (2l+1, 2l) of that step — first
 * acc = fma(x[2l+1], w[2l+1], acc), then acc = fma(x[2l], w[2l], acc) — with bf16 subnormal
 * inputs read as zero and a subnormal result flushed to zero (Intel SDM: "FP32 FMA with daz
 * in, ftz out and RNE rounding"; the MXCSR is neither consulted nor changed). The K block's
 * lanes are then reduced by kern.h's tree16 and added into y, as gemm_nt does. A product of
 * two bf16 values is exact in float32, so an fmaf chain reproduces the instruction bit for
 * bit (tests/unit/test_kern.c checks the hardware against it where the CPU has AVX512_BF16).
 *
 * The including file defines the v16 layer of kern_body.h, KB16_NAME, the tile KB16_MR x
 * KB16_NR, and either KB16_HW with vb (32 bf16), vb_ldx(p), vb_ldw(p) and vb_dot(acc, x, w),
 * or, for the emulation, v_bf_hi(p) / v_bf_lo(p) (16 floats from the high / low halves of the
 * 16 32-bit words at p: the odd / even bf16 elements) and v_daz(a) (subnormal lanes become
 * zero of the same sign). */
#include <stdint.h>
#include <string.h>

#include "pipeline/ops/kern.h"
#include "pipeline/ops/kern_store.h"

#ifndef KB_INLINE
#define KB_INLINE static inline __attribute__((always_inline))
#endif
#define KB16_CAT2(a, b) a##b
#define KB16_CAT(a, b) KB16_CAT2(a, b)
#define KB16_IN2(a, b) a##b /* a second paste for use inside KB16_CAT's expansion */
#define KB16_IN(a, b) KB16_IN2(a, b)
#define KB16_STR2(a) #a
#define KB16_STR(a) KB16_STR2(a)
#define KB16_MR_MAX KS_MR_MAX
#define KB16_NR_MAX KS_NR_MAX

#ifndef KB16_HW
typedef struct vb {
    v16 ev, od; /* elements 2l and 2l+1 of the 32 */
} vb;
/* x was rounded to bf16 with subnormals flushed (gemm.c), so it needs no DAZ */
KB_INLINE vb vb_ldx(const uint16_t *p)
{
    vb r = {v_bf_lo(p), v_bf_hi(p)};
    return r;
}
KB_INLINE vb vb_ldw(const uint16_t *p)
{
    vb r = {v_daz(v_bf_lo(p)), v_daz(v_bf_hi(p))};
    return r;
}
KB_INLINE v16 vb_dot(v16 acc, vb x, vb w)
{
    acc = v_daz(v_fma(x.od, w.od, acc));
    return v_daz(v_fma(x.ev, w.ev, acc));
}
#endif

KB_INLINE vb kb16_part(const uint16_t *p, int64_t n, int is_w)
{
    _Alignas(64) uint16_t b[32] = {0};
    memcpy(b, p, (size_t)n * sizeof *b);
    return is_w ? vb_ldw(b) : vb_ldx(b);
}

/* y[mr, nr] (+)= x[mr, kc] . w[nr, kc]^T, x and w bf16 (w rows ldw elements apart) */
KB_INLINE void bt_tile(int mr, int nr, const uint16_t *x, int64_t ldx, const uint16_t *w,
                       int64_t ldw, int64_t kc, float *y, int64_t ldy, int acc_y, const char *pf)
{
    v16 acc[KB16_MR_MAX][KB16_NR_MAX];
#pragma GCC unroll 4
    for (int i = 0; i < KB16_MR_MAX; i++)
#pragma GCC unroll 6
        for (int j = 0; j < KB16_NR_MAX; j++)
            if (i < mr && j < nr) acc[i][j] = v_zero();
    int64_t k = 0;
    for (; k + 32 <= kc; k += 32) {
        vb xv[KB16_MR_MAX];
        if (pf)
#pragma GCC unroll 6
            for (int j = 0; j < KB16_NR_MAX; j++)
                if (j < nr) v_prefetch(pf + (j * ldw + k) * 2);
#pragma GCC unroll 4
        for (int i = 0; i < KB16_MR_MAX; i++)
            if (i < mr) xv[i] = vb_ldx(x + i * ldx + k);
#pragma GCC unroll 6
        for (int j = 0; j < KB16_NR_MAX; j++) {
            if (j >= nr) continue;
            vb wv = vb_ldw(w + j * ldw + k);
#pragma GCC unroll 4
            for (int i = 0; i < KB16_MR_MAX; i++)
                if (i < mr) acc[i][j] = vb_dot(acc[i][j], xv[i], wv);
        }
    }
    if (k < kc) { /* the block's tail: zero pairs past the end, as on every path */
        vb xv[KB16_MR_MAX];
#pragma GCC unroll 4
        for (int i = 0; i < KB16_MR_MAX; i++)
            if (i < mr) xv[i] = kb16_part(x + i * ldx + k, kc - k, 0);
#pragma GCC unroll 6
        for (int j = 0; j < KB16_NR_MAX; j++) {
            if (j >= nr) continue;
            vb wv = kb16_part(w + j * ldw + k, kc - k, 1);
#pragma GCC unroll 4
            for (int i = 0; i < KB16_MR_MAX; i++)
                if (i < mr) acc[i][j] = vb_dot(acc[i][j], xv[i], wv);
        }
    }
    KS_STORE(mr, nr, acc, y, ldy, acc_y);
}

typedef void (*bt_fn)(const uint16_t *x, int64_t ldx, const uint16_t *w, int64_t ldw, int64_t kc,
                      float *y, int64_t ldy, int acc_y, const char *pf);
#define BT_DEF(MR, NR)                                                                             \
    static void bt_##MR##_##NR(const uint16_t *x, int64_t ldx, const uint16_t *w, int64_t ldw,     \
                               int64_t kc, float *y, int64_t ldy, int acc_y, const char *pf)       \
    {                                                                                              \
        bt_tile(MR, NR, x, ldx, w, ldw, kc, y, ldy, acc_y, pf);                                    \
    }
/* clang-format off */
#define BT_R1(MR) BT_DEF(MR, 1)
#define BT_R2(MR) BT_R1(MR) BT_DEF(MR, 2)
#define BT_R3(MR) BT_R2(MR) BT_DEF(MR, 3)
#define BT_R4(MR) BT_R3(MR) BT_DEF(MR, 4)
#define BT_R5(MR) BT_R4(MR) BT_DEF(MR, 5)
#define BT_R6(MR) BT_R5(MR) BT_DEF(MR, 6)
#define BT_ROW(MR) KB16_IN(BT_R, KB16_NR)(MR)
#define BT_M1 BT_ROW(1)
#define BT_M2 BT_M1 BT_ROW(2)
#define BT_M3 BT_M2 BT_ROW(3)
#define BT_M4 BT_M3 BT_ROW(4)
KB16_CAT(BT_M, KB16_MR)
#define BT_P1(MR) bt_##MR##_1
#define BT_P2(MR) BT_P1(MR), bt_##MR##_2
#define BT_P3(MR) BT_P2(MR), bt_##MR##_3
#define BT_P4(MR) BT_P3(MR), bt_##MR##_4
#define BT_P5(MR) BT_P4(MR), bt_##MR##_5
#define BT_P6(MR) BT_P5(MR), bt_##MR##_6
#define BT_PROW(MR) {KB16_IN(BT_P, KB16_NR)(MR)}
#define BT_PM1 BT_PROW(1)
#define BT_PM2 BT_PM1, BT_PROW(2)
#define BT_PM3 BT_PM2, BT_PROW(3)
#define BT_PM4 BT_PM3, BT_PROW(4)
static const bt_fn BT_KERNELS[KB16_MR][KB16_NR] = {KB16_CAT(BT_PM, KB16_MR)};
/* clang-format on */

_Static_assert(KB16_MR >= 1 && KB16_MR <= KB16_MR_MAX && KB16_NR >= 1 && KB16_NR <= KB16_NR_MAX,
               "bf16 tile outside the instantiated table");

/* Same loop nest as kern_body.h's nt_run: K blocks of KERN_KC (added into y in order), rows
 * in passes of 64, output tiles split over the parts. */
static void bt_run(void *ctx, int part, int parts)
{
    const kern_bf16_job *j = ctx;
    const int64_t tiles = (j->N + KB16_NR - 1) / KB16_NR;
    const int64_t t0 = tiles * part / parts, t1 = tiles * (part + 1) / parts;
    for (int64_t kb = 0; kb < j->K; kb += KERN_KC) {
        const int64_t kc = j->K - kb < KERN_KC ? j->K - kb : KERN_KC;
        const int acc_y = kb > 0 || j->beta1;
        for (int64_t mb = 0; mb < j->T; mb += 64) {
            const int64_t me = mb + 64 < j->T ? mb + 64 : j->T;
            for (int64_t t = t0; t < t1; t++) {
                const int64_t n0 = t * KB16_NR;
                const int nr = (int)(j->N - n0 < KB16_NR ? j->N - n0 : KB16_NR);
                const uint16_t *w = j->w + n0 * j->ldw + kb;
                const char *pf = mb == 0 && t + 2 < t1 && n0 + 3 * KB16_NR <= j->N
                                     ? (const char *)(w + 2 * KB16_NR * j->ldw)
                                     : NULL;
                for (int64_t m = mb; m < me; m += KB16_MR) {
                    const int mr = (int)(me - m < KB16_MR ? me - m : KB16_MR);
                    BT_KERNELS[mr - 1][nr - 1](j->x + m * j->ldx + kb, j->ldx, w, j->ldw, kc,
                                               j->y + m * j->ldy + n0, j->ldy, acc_y,
                                               m == mb ? pf : NULL);
                }
            }
        }
    }
}

const kern_bf16 KB16_CAT(kern_bf16_, KB16_NAME) = {KB16_STR(KB16_NAME), bt_run};
