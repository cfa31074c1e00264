/* kern_body.h — the weight-product kernels (gemm_nt, gemm_nn) and the SwiGLU activation,
 * written once against a 16-lane vector layer and included by each kern_<isa>.c.
 *
 * Design: intrinsics behind a dozen inline primitives, not GCC vector extensions. Why: the
 * order of every sum is the contract (kern.h), so each primitive must be one known operation.
 * GCC's generic vectors have no fused multiply-add operator (and -std=c11 implies
 * -ffp-contract=off, so a*b+c would round twice), no widening bf16/f16 load and no fixed
 * horizontal sum; each of those would need per-ISA code anyway. The layer is:
 *   v16 (16 float lanes: one zmm, two ymm, four NEON q, or 16 floats), v_zero, v_set1, v_ldx
 *   (16 floats), v_ldw(p, dt) (16 weights of dtype dt widened exactly), v_st, v_fma(a,b,c) =
 *   a*b+c rounded once, v_add/v_sub/v_mul/v_div, v_min/v_max (x86 semantics: b when
 *   unordered), v_rint (nearest even), v_floor, v_pow2i(n) (2^n, n integral in [-126,127]),
 *   v_hsum4(a,b,c,d,out) (kern.h's tree16 of four vectors), v_prefetch.
 * The including file defines them plus KERN_NAME and the tile shape it wants: NT_MR x NT_NR
 * (rows of x by rows of W) for gemm_nt, NN_MR x NN_NV (rows by 16-lane column vectors) for
 * gemm_nn. Tile shapes only change which elements one call computes, never an element's sum.
 * Tails (K or columns not a multiple of 16) go through zero-padded copies, so every path sees
 * the same lanes. */
#include <stdlib.h>
#include <string.h>

#include "pipeline/model/dtype.h"
#include "pipeline/ops/kern.h"
#include "pipeline/ops/kern_store.h"

#ifndef KB_INLINE
#define KB_INLINE static inline __attribute__((always_inline))
#endif
#define KB_CAT2(a, b) a##b
#define KB_CAT(a, b) KB_CAT2(a, b)
#define KB_ISA KB_CAT(kern_isa_, KERN_NAME)
#define KB_STR2(a) #a
#define KB_STR(a) KB_STR2(a)

#define KB_MR_MAX KS_MR_MAX /* the largest gemm_nt tile the tables below instantiate */
#define KB_NR_MAX KS_NR_MAX
#define KB_NN_MR_MAX 6
#define KB_NN_NV_MAX 4
#define KB_PF 2  /* weight tiles of prefetch distance */
#define KB_MC 64 /* rows of x per pass: MC x KC floats stay in L2 */

KB_INLINE v16 kb_ldx_part(const float *p, int64_t n)
{
    float b[16] = {0};
    memcpy(b, p, (size_t)n * sizeof *b);
    return v_ldx(b);
}

KB_INLINE v16 kb_ldw_part(const char *p, int dt, int64_t n)
{
    _Alignas(64) char b[64] = {0};
    memcpy(b, p, (size_t)n * (dt == MP_F32 ? 4u : 2u));
    return v_ldw(b, dt);
}

/* ---- gemm_nt ----------------------------------------------------------------------------
 * Blocking, for each thread's share of weight-row tiles (NT_NR rows each):
 *   K block of KERN_KC (kern.h: the unit added into y)
 *     rows of x by KB_MC: copied once, cache-line aligned, zeros past the block (xp, L2)
 *       weight tile
 *         K sub-block of KB_KS: the tile's NT_NR x KB_KS weights widened to float32 once,
 *         into a packed buffer that stays in L1 (wp); then every row tile of x runs over it,
 *         its accumulators left in memory (spill) between sub-blocks, so each lane's fma
 *         chain runs on unbroken across the whole K block (kern.h).
 * Why: widening a bf16 weight costs two vector ALU instructions on the ports the fma needs;
 * done once per sub-block instead of once per row tile, the inner loop is loads and fma only.
 * And a tile of 6 weight rows of a 2048-long block (24 KB in bf16, 48 KB widened) plus the x
 * rows streaming past it overflow a 32-48 KB L1; 6 x 512 floats (12 KB) do not. Storing and
 * reloading an accumulator is exact, so the sums are kern.h's, bit for bit.
 * With at most KB_RAW_T rows of x (decode, an expert that few tokens chose) the weights are
 * widened in place instead, over the whole K block: one or two row tiles cannot repay the
 * packed copy's store and reload (packed: 0.6-0.8x the in-place speed at T = 4-8, Sapphire
 * Rapids). */

#ifndef KB_KS
#define KB_KS 512 /* K sub-block of a packed weight tile: NT_NR x KB_KS floats stay in L1 */
#endif
#ifndef KB_RAW_T
#define KB_RAW_T 8 /* rows of x up to which weights are widened in place, not packed */
#endif

/* Weights to prefetch while a tile computes, at the same offsets (rows ldw_b bytes apart, esz
 * bytes an element) as the tile's: l2, a later tile (DRAM to L2; NULL: none); l1, the next
 * sub-block's first l1_b bytes a row (L2 to L1). Why: each expert's weights are used once per
 * batch, so every tile comes from DRAM, and a row's sub-block is too short for the hardware
 * prefetcher to find the stream in time; spread over the steps, not issued at once, so the
 * misses never fill the line-fill buffers. */
typedef struct kb_pf {
    const char *l2, *l1;
    int64_t l1_b, esz;
} kb_pf;

/* y[mr, nr] (+)= xp[mr, ns*16] . W^T over ns steps of 16, or the accumulators so far.
 * xp rows ldxp floats apart. W: wp packed step-major (step s, weight row j at
 * wp + (s*nr + j)*16), or, with wp NULL, the stored rows wr (ldw_b bytes apart, dtype dt)
 * widened in place (ns*16 elements a row must exist). pf: what to prefetch, or NULL.
 * in: accumulators from the previous sub-block (NULL: start from zero). out: where to leave
 * them for the next one, or NULL at the K block's end: then tree16 of each, into y. */
KB_INLINE void nt_tile(int mr, int nr, const float *xp, int64_t ldxp, const float *wp, int64_t ns,
                       const float *in, float *out, float *y, int64_t ldy, int acc_y,
                       const char *wr, int64_t ldw_b, int dt, const kb_pf *pf)
{
    const int64_t esz = dt == MP_F32 ? 4 : 2;
    v16 acc[KB_MR_MAX][KB_NR_MAX];
#pragma GCC unroll 4
    for (int i = 0; i < KB_MR_MAX; i++)
#pragma GCC unroll 6
        for (int j = 0; j < KB_NR_MAX; j++)
            if (i < mr && j < nr) acc[i][j] = in ? v_ldx(in + (i * nr + j) * 16) : v_zero();
    for (int64_t s = 0; s < ns; s++) {
        v16 xv[KB_MR_MAX];
        if (pf && ((s * 16 * pf->esz) & 63) == 0) {
            const int64_t b = s * 16 * pf->esz;
#pragma GCC unroll 6
            for (int j = 0; j < KB_NR_MAX; j++) {
                if (j >= nr) continue;
                if (pf->l2) v_prefetch(pf->l2 + j * ldw_b + b);
                if (b < pf->l1_b) v_prefetch_l1(pf->l1 + j * ldw_b + b);
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < KB_MR_MAX; i++)
            if (i < mr) xv[i] = v_ldx(xp + i * ldxp + s * 16);
#pragma GCC unroll 6
        for (int j = 0; j < KB_NR_MAX; j++) {
            if (j >= nr) continue;
            const v16 wv =
                wp ? v_ldx(wp + (s * nr + j) * 16) : v_ldw(wr + j * ldw_b + s * 16 * esz, dt);
#pragma GCC unroll 4
            for (int i = 0; i < KB_MR_MAX; i++)
                if (i < mr) acc[i][j] = v_fma(xv[i], wv, acc[i][j]);
        }
    }
    if (out) {
#pragma GCC unroll 4
        for (int i = 0; i < KB_MR_MAX; i++)
#pragma GCC unroll 6
            for (int j = 0; j < KB_NR_MAX; j++)
                if (i < mr && j < nr) v_st(out + (i * nr + j) * 16, acc[i][j]);
        return;
    }
    KS_STORE(mr, nr, acc, y, ldy, acc_y);
}

typedef void (*nt_fn)(const float *xp, int64_t ldxp, const float *wp, int64_t ns, const float *in,
                      float *out, float *y, int64_t ldy, int acc_y, const char *wr, int64_t ldw_b,
                      const kb_pf *pf);

/* DT 3: the packed tile (wp); 0-2 (mp_dtype): weights read and widened in place (wr) */
#define NT_DEF(DT, MR, NR)                                                                         \
    static void nt_##DT##_##MR##_##NR(const float *xp, int64_t ldxp, const float *wp, int64_t ns,  \
                                      const float *in, float *out, float *y, int64_t ldy,          \
                                      int acc_y, const char *wr, int64_t ldw_b, const kb_pf *pf)   \
    {                                                                                              \
        nt_tile(MR, NR, xp, ldxp, DT == 3 ? wp : NULL, ns, in, out, y, ldy, acc_y, wr, ldw_b,      \
                DT == 3 ? MP_F32 : DT, pf);                                                        \
    }
/* one function per tile shape up to NT_MR x NT_NR (edges of the output take the smaller ones);
 * no more, so that small-tile paths compile (and ASan builds finish) quickly */
#define NT_R1(DT, MR) NT_DEF(DT, MR, 1)
#define NT_R2(DT, MR) NT_R1(DT, MR) NT_DEF(DT, MR, 2)
#define NT_R3(DT, MR) NT_R2(DT, MR) NT_DEF(DT, MR, 3)
#define NT_R4(DT, MR) NT_R3(DT, MR) NT_DEF(DT, MR, 4)
#define NT_R5(DT, MR) NT_R4(DT, MR) NT_DEF(DT, MR, 5)
#define NT_R6(DT, MR) NT_R5(DT, MR) NT_DEF(DT, MR, 6)
#define NT_ROW(DT, MR) KB_CAT(NT_R, NT_NR)(DT, MR)
#define NT_M1(DT) NT_ROW(DT, 1)
#define NT_M2(DT) NT_M1(DT) NT_ROW(DT, 2)
#define NT_M3(DT) NT_M2(DT) NT_ROW(DT, 3)
#define NT_M4(DT) NT_M3(DT) NT_ROW(DT, 4)
KB_CAT(NT_M, NT_MR)
(0)                        /* MP_BF16 in place */
    KB_CAT(NT_M, NT_MR)(1) /* MP_F16 in place */
    KB_CAT(NT_M, NT_MR)(2) /* MP_F32 in place */
    KB_CAT(NT_M, NT_MR)(3) /* packed */
#define NT_P1(DT, MR) nt_##DT##_##MR##_1
#define NT_P2(DT, MR) NT_P1(DT, MR), nt_##DT##_##MR##_2
#define NT_P3(DT, MR) NT_P2(DT, MR), nt_##DT##_##MR##_3
#define NT_P4(DT, MR) NT_P3(DT, MR), nt_##DT##_##MR##_4
#define NT_P5(DT, MR) NT_P4(DT, MR), nt_##DT##_##MR##_5
#define NT_P6(DT, MR) NT_P5(DT, MR), nt_##DT##_##MR##_6
#define NT_PROW(DT, MR)                                                                            \
    {                                                                                              \
        KB_CAT(NT_P, NT_NR)(DT, MR)                                                                \
    }
#define NT_PM1(DT) NT_PROW(DT, 1)
#define NT_PM2(DT) NT_PM1(DT), NT_PROW(DT, 2)
#define NT_PM3(DT) NT_PM2(DT), NT_PROW(DT, 3)
#define NT_PM4(DT) NT_PM3(DT), NT_PROW(DT, 4)
#define NT_PTR(DT)                                                                                 \
    {                                                                                              \
        KB_CAT(NT_PM, NT_MR)(DT)                                                                   \
    }
    static const nt_fn NT_KERNELS[4][NT_MR][NT_NR] = {NT_PTR(0), NT_PTR(1), NT_PTR(2), NT_PTR(3)};

_Static_assert(NT_MR >= 1 && NT_MR <= KB_MR_MAX && NT_NR >= 1 && NT_NR <= KB_NR_MAX,
               "gemm_nt tile outside the instantiated table");

/* wp = the nr weight rows' first kn elements (w, rows ldw_b bytes apart) widened, in
 * nt_tile's step-major order, zeros past kn up to the next 16 */
KB_INLINE void nt_pack_dt(int nr, int dt, const char *w, int64_t ldw_b, int64_t kn, float *wp)
{
    const int64_t esz = dt == MP_F32 ? 4 : 2, full = kn / 16;
    for (int j = 0; j < nr; j++) {
        const char *p = w + j * ldw_b;
        float *d = wp + j * 16;
        for (int64_t s = 0; s < full; s++) v_st(d + s * nr * 16, v_ldw(p + s * 16 * esz, dt));
        if (full * 16 < kn)
            v_st(d + full * nr * 16, kb_ldw_part(p + full * 16 * esz, dt, kn - full * 16));
    }
}

/* one loop per dtype: the widening is then a fixed instruction sequence */
KB_INLINE void nt_pack_w(int nr, int dt, const char *w, int64_t ldw_b, int64_t kn, float *wp)
{
    if (dt == MP_BF16)
        nt_pack_dt(nr, MP_BF16, w, ldw_b, kn, wp);
    else if (dt == MP_F16)
        nt_pack_dt(nr, MP_F16, w, ldw_b, kn, wp);
    else
        nt_pack_dt(nr, MP_F32, w, ldw_b, kn, wp);
}

static void nt_run(void *ctx, int part, int parts)
{
    const kern_job *j = ctx;
    const int64_t tiles = (j->N + NT_NR - 1) / NT_NR;
    const int64_t t0 = tiles * part / parts, t1 = tiles * (part + 1) / parts;
#ifdef KB_NT_RUN_DT
    /* the path's own gemm_nt for some weight dtypes (the same order, kern.h) */
    if (KB_NT_RUN_DT(ctx, part, parts)) return;
#endif
    if (t0 >= t1) return;
    _Alignas(64) float wp[KB_KS * NT_NR];
    _Alignas(64) float spill[(KB_MC + NT_MR - 1) / NT_MR * NT_MR * NT_NR * 16];
    /* x rows one cache line longer than a whole number of steps: rows of 2^n floats would all
     * map to the same L1 sets. Aligned: a load split across two lines costs two. A few rows
     * (decode), or no memory: one row tile at a time from the stack (the same sums). */
    const int64_t ldxp = ((j->K < KERN_KC ? j->K : KERN_KC) + 15) / 16 * 16 + 16;
    _Alignas(64) float small[NT_MR * (KERN_KC + 32)];
    int64_t mc = j->T < KB_MC ? j->T : KB_MC;
    float *xbuf = j->T > NT_MR ? aligned_alloc(64, (size_t)(mc * ldxp) * sizeof *xbuf) : NULL;
    if (!xbuf) mc = NT_MR;
    float *xp = xbuf ? xbuf : small;
    for (int64_t kb = 0; kb < j->K; kb += KERN_KC) {
        const int64_t kc = j->K - kb < KERN_KC ? j->K - kb : KERN_KC;
        const int64_t kc16 = (kc + 15) / 16 * 16;
        const int acc_y = kb > 0 || j->beta1;
        for (int64_t mb = 0; mb < j->T; mb += mc) {
            const int64_t me = mb + mc < j->T ? mb + mc : j->T;
            for (int64_t m = mb; m < me; m++) {
                float *d = xp + (m - mb) * ldxp;
                memcpy(d, j->x + m * j->ldx + kb, (size_t)kc * sizeof *d);
                memset(d + kc, 0, (size_t)(kc16 - kc) * sizeof *d);
            }
            for (int64_t t = t0; t < t1; t++) {
                const int64_t n0 = t * NT_NR;
                const int nr = (int)(j->N - n0 < NT_NR ? j->N - n0 : NT_NR);
                const char *w = j->w + n0 * j->ldw_b + kb * j->esz;
                /* a few rows of x: each weight is used by one or two row tiles, and widening
                 * it in place is cheaper than the packed copy's store and reload */
                const int raw = j->T <= KB_RAW_T;
                const nt_fn *kern = NT_KERNELS[raw ? j->dt : 3][0] + (nr - 1);
                /* the first row block fetches the weight tile after next (whole tiles only) */
                const char *pf = mb == 0 && t + KB_PF < t1 && n0 + (KB_PF + 1) * NT_NR <= j->N
                                     ? w + KB_PF * NT_NR * j->ldw_b
                                     : NULL;
                /* in place, the whole block is one sub-block: no spills, as nothing is packed */
                const int64_t ksb = raw && kc % 16 == 0 ? kc : KB_KS;
                for (int64_t ks = 0; ks < kc; ks += ksb) {
                    const int64_t kn = kc - ks < ksb ? kc - ks : ksb;
                    /* the next sub-block (of this tile or the next) into L1 meanwhile */
                    kb_pf pfs = {pf ? pf + ks * j->esz : NULL, NULL, 0, j->esz};
                    if (ks + ksb < kc) {
                        pfs.l1 = w + (ks + ksb) * j->esz;
                        pfs.l1_b = (kc - ks - ksb < ksb ? kc - ks - ksb : ksb) * j->esz;
                    } else if (!raw && t + 1 < t1 && n0 + 2 * NT_NR <= j->N) {
                        pfs.l1 = w + NT_NR * j->ldw_b;
                        pfs.l1_b = (kc < ksb ? kc : ksb) * j->esz;
                    }
                    if (!raw || kn % 16) nt_pack_w(nr, j->dt, w + ks * j->esz, j->ldw_b, kn, wp);
                    const nt_fn *kn_fn = raw && kn % 16 ? NT_KERNELS[3][0] + (nr - 1) : kern;
                    const int first = ks == 0, last = ks + ksb >= kc;
                    for (int64_t m = mb; m < me; m += NT_MR) {
                        const int mr = (int)(me - m < NT_MR ? me - m : NT_MR);
                        float *sp = spill + (m - mb) / NT_MR * (NT_MR * NT_NR * 16);
                        kn_fn[(mr - 1) * NT_NR](xp + (m - mb) * ldxp + ks, ldxp, wp, (kn + 15) / 16,
                                                first ? NULL : sp, last ? NULL : sp,
                                                j->y + m * j->ldy + n0, j->ldy, acc_y,
                                                w + ks * j->esz, j->ldw_b, m == mb ? &pfs : NULL);
                    }
                }
            }
        }
    }
    free(xbuf);
}

/* ---- gemm_nn ---------------------------------------------------------------------------- */

/* y[mr, cols] (+)= x[mr, nb] . w[nb, cols], cols = (nv - 1) * 16 + last */
KB_INLINE void nn_tile(int mr, int nv, int dt, const float *x, int64_t ldx, const char *w,
                       int64_t ldw_b, int64_t nb, float *y, int64_t ldy, int acc_y, int last)
{
    const int64_t esz = dt == MP_F32 ? 4 : 2;
    v16 acc[KB_NN_MR_MAX][KB_NN_NV_MAX];
#pragma GCC unroll 6
    for (int i = 0; i < KB_NN_MR_MAX; i++)
#pragma GCC unroll 4
        for (int v = 0; v < KB_NN_NV_MAX; v++)
            if (i < mr && v < nv) acc[i][v] = v_zero();
    for (int64_t n = 0; n < nb; n++) {
        v16 wv[KB_NN_NV_MAX];
        const char *wr = w + n * ldw_b;
#pragma GCC unroll 4
        for (int v = 0; v < KB_NN_NV_MAX; v++)
            if (v < nv)
                wv[v] = v < nv - 1 || last == 16 ? v_ldw(wr + v * 16 * esz, dt)
                                                 : kb_ldw_part(wr + v * 16 * esz, dt, last);
#pragma GCC unroll 6
        for (int i = 0; i < KB_NN_MR_MAX; i++) {
            if (i >= mr) continue;
            v16 xb = v_set1(x[i * ldx + n]);
#pragma GCC unroll 4
            for (int v = 0; v < KB_NN_NV_MAX; v++)
                if (v < nv) acc[i][v] = v_fma(xb, wv[v], acc[i][v]);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < KB_NN_MR_MAX; i++) {
        if (i >= mr) continue;
#pragma GCC unroll 4
        for (int v = 0; v < KB_NN_NV_MAX; v++) {
            if (v >= nv) continue;
            float *yp = y + i * ldy + v * 16;
            if (v < nv - 1 || last == 16) {
                v_st(yp, acc_y ? v_add(v_ldx(yp), acc[i][v]) : acc[i][v]);
            } else {
                float b[16];
                v_st(b, acc_y ? v_add(kb_ldx_part(yp, last), acc[i][v]) : acc[i][v]);
                memcpy(yp, b, (size_t)last * sizeof *b);
            }
        }
    }
}

typedef void (*nn_fn)(const float *x, int64_t ldx, const char *w, int64_t ldw_b, int64_t nb,
                      float *y, int64_t ldy, int acc_y, int last);
#define NN_DEF(DT, MR, NV)                                                                         \
    static void nn_##DT##_##MR##_##NV(const float *x, int64_t ldx, const char *w, int64_t ldw_b,   \
                                      int64_t nb, float *y, int64_t ldy, int acc_y, int last)      \
    {                                                                                              \
        nn_tile(MR, NV, DT, x, ldx, w, ldw_b, nb, y, ldy, acc_y, last);                            \
    }
#define NN_R1(DT, MR) NN_DEF(DT, MR, 1)
#define NN_R2(DT, MR) NN_R1(DT, MR) NN_DEF(DT, MR, 2)
#define NN_R3(DT, MR) NN_R2(DT, MR) NN_DEF(DT, MR, 3)
#define NN_R4(DT, MR) NN_R3(DT, MR) NN_DEF(DT, MR, 4)
#define NN_ROW(DT, MR) KB_CAT(NN_R, NN_NV)(DT, MR)
#define NN_M1(DT) NN_ROW(DT, 1)
#define NN_M2(DT) NN_M1(DT) NN_ROW(DT, 2)
#define NN_M3(DT) NN_M2(DT) NN_ROW(DT, 3)
#define NN_M4(DT) NN_M3(DT) NN_ROW(DT, 4)
#define NN_M5(DT) NN_M4(DT) NN_ROW(DT, 5)
#define NN_M6(DT) NN_M5(DT) NN_ROW(DT, 6)
KB_CAT(NN_M, NN_MR)
(0) KB_CAT(NN_M, NN_MR)(1) KB_CAT(NN_M, NN_MR)(2)
#define NN_P1(DT, MR) nn_##DT##_##MR##_1
#define NN_P2(DT, MR) NN_P1(DT, MR), nn_##DT##_##MR##_2
#define NN_P3(DT, MR) NN_P2(DT, MR), nn_##DT##_##MR##_3
#define NN_P4(DT, MR) NN_P3(DT, MR), nn_##DT##_##MR##_4
#define NN_PROW(DT, MR)                                                                            \
    {                                                                                              \
        KB_CAT(NN_P, NN_NV)(DT, MR)                                                                \
    }
#define NN_PM1(DT) NN_PROW(DT, 1)
#define NN_PM2(DT) NN_PM1(DT), NN_PROW(DT, 2)
#define NN_PM3(DT) NN_PM2(DT), NN_PROW(DT, 3)
#define NN_PM4(DT) NN_PM3(DT), NN_PROW(DT, 4)
#define NN_PM5(DT) NN_PM4(DT), NN_PROW(DT, 5)
#define NN_PM6(DT) NN_PM5(DT), NN_PROW(DT, 6)
#define NN_PTR(DT)                                                                                 \
    {                                                                                              \
        KB_CAT(NN_PM, NN_MR)(DT)                                                                   \
    }
    static const nn_fn NN_KERNELS[3][NN_MR][NN_NV] = {NN_PTR(0), NN_PTR(1), NN_PTR(2)};

_Static_assert(NN_MR >= 1 && NN_MR <= KB_NN_MR_MAX && NN_NV >= 1 && NN_NV <= KB_NN_NV_MAX,
               "gemm_nn tile outside the instantiated table");

static void nn_run(void *ctx, int part, int parts)
{
    const kern_job *j = ctx;
    const int64_t cw = NN_NV * 16;
    const int64_t panels = (j->K + cw - 1) / cw;
    const int64_t p0 = panels * part / parts, p1 = panels * (part + 1) / parts;
    const nn_fn(*kern)[NN_NV] = NN_KERNELS[j->dt];
    for (int64_t nb0 = 0; nb0 < j->N; nb0 += KERN_NB) {
        const int64_t nb = j->N - nb0 < KERN_NB ? j->N - nb0 : KERN_NB;
        const int acc_y = nb0 > 0 || j->beta1;
        for (int64_t p = p0; p < p1; p++) {
            const int64_t c0 = p * cw, cols = j->K - c0 < cw ? j->K - c0 : cw;
            const int nv = (int)((cols + 15) / 16);
            const int last = (int)(cols - (nv - 1) * 16);
            const char *w = j->w + nb0 * j->ldw_b + c0 * j->esz;
            for (int64_t m = 0; m < j->T; m += NN_MR) {
                const int mr = (int)(j->T - m < NN_MR ? j->T - m : NN_MR);
                kern[mr - 1][nv - 1](j->x + m * j->ldx + nb0, j->ldx, w, j->ldw_b, nb,
                                     j->y + m * j->ldy + c0, j->ldy, acc_y, last);
            }
        }
    }
}

/* ---- SwiGLU activation ------------------------------------------------------------------ */

/* e^x: Cody-Waite reduction x = n ln2 + r and Cephes' expf polynomial (relative error about
 * 1e-7, like glibc's expf and torch's vectorised exp). x is clamped to [-87, 88.7]: below, e^x
 * is under 2^-125 and only ever added to 1 (silu), which it cannot change. 2^n is applied as
 * two exact powers (n = n1 + n2, each within the normal range), so the one rounding happens
 * in the second product — the same value as AVX-512's scalef, on every path. */
KB_INLINE v16 kb_exp(v16 x)
{
    x = v_min(v_max(x, v_set1(-87.0f)), v_set1(88.7f));
    v16 n = v_rint(v_mul(x, v_set1(1.44269504088896341f)));
    v16 mn = v_sub(v_zero(), n);
    v16 r = v_fma(mn, v_set1(0.693359375f), x);
    r = v_fma(mn, v_set1(-2.12194440e-4f), r);
    v16 p = v_set1(1.9875691500e-4f);
    p = v_fma(p, r, v_set1(1.3981999507e-3f));
    p = v_fma(p, r, v_set1(8.3334519073e-3f));
    p = v_fma(p, r, v_set1(4.1665795894e-2f));
    p = v_fma(p, r, v_set1(1.6666665459e-1f));
    p = v_fma(p, r, v_set1(5.0000001201e-1f));
    p = v_fma(p, v_mul(r, r), r);
    p = v_add(p, v_set1(1.0f));
    v16 n1 = v_floor(v_mul(n, v_set1(0.5f)));
    return v_mul(v_mul(p, v_pow2i(n1)), v_pow2i(v_sub(n, n1)));
}

static void silu_mul(float *g, const float *u, int64_t n)
{
    const v16 one = v_set1(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        const int64_t m = n - i < 16 ? n - i : 16;
        v16 x = m == 16 ? v_ldx(g + i) : kb_ldx_part(g + i, m);
        v16 uv = m == 16 ? v_ldx(u + i) : kb_ldx_part(u + i, m);
        v16 e = kb_exp(v_sub(v_zero(), x));
        v16 r = v_mul(v_div(x, v_add(one, e)), uv);
        if (m == 16) {
            v_st(g + i, r);
        } else {
            float b[16];
            v_st(b, r);
            memcpy(g + i, b, (size_t)m * sizeof *b);
        }
    }
}

const kern_isa KB_ISA = {KB_STR(KERN_NAME), nt_run, nn_run, silu_mul};
