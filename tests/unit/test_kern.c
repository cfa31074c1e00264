/* test_kern.c — the weight-product kernels (pipeline/ops/kern.h) on every path this CPU runs:
 * each output equals, bit for bit, kern.h's documented summation order computed here in plain
 * C; every path gives the same bits as the portable one; a row's result is the same alone or
 * in any batch, and with the work split over threads; and the sums are accurate (against
 * double). Shapes cover the tails (K, columns not a multiple of 16), K across KERN_KC and N
 * across KERN_NB, every weight dtype and both beta. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/model/dtype.h"
#include "pipeline/ops/kern.h"
#include "tests/unit/check.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void) /* [-1, 1), with some spread of magnitudes */
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    float u = (float)(rng >> 40) / (float)(1u << 24) * 2.0f - 1.0f;
    return (rng & 7) == 0 ? u * 64.0f : u;
}

static void *make_w(int dt, int64_t n, float *wf)
{
    const size_t esz = dt == MP_F32 ? 4 : 2;
    char *w = malloc((size_t)n * esz);
    for (int64_t i = 0; i < n; i++) {
        float f = frand();
        if (dt == MP_F32) {
            memcpy(w + i * 4, &f, 4);
        } else {
            uint16_t h = dt == MP_BF16 ? f32_to_bf16(f) : f32_to_f16(f);
            memcpy(w + i * 2, &h, 2);
            f = dt == MP_BF16 ? bf16_to_f32(h) : f16_to_f32(h);
        }
        wf[i] = f;
    }
    return w;
}

static float tree16(const float *l)
{
    float s[8];
    for (int i = 0; i < 8; i++) s[i] = l[i] + l[i + 8];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

/* kern.h's gemm_nt order, spelled out */
static float spec_nt(const float *x, const float *w, int64_t K, float y0, int beta1)
{
    float y = y0;
    for (int64_t kb = 0; kb < K; kb += KERN_KC) {
        const int64_t kc = K - kb < KERN_KC ? K - kb : KERN_KC;
        float l[16] = {0};
        for (int64_t k = 0; k < (kc + 15) / 16 * 16; k++)
            l[k % 16] =
                k < kc ? fmaf(x[kb + k], w[kb + k], l[k % 16]) : fmaf(0.0f, 0.0f, l[k % 16]);
        const float s = tree16(l);
        y = kb > 0 || beta1 ? y + s : s;
    }
    return y;
}

/* kern.h's gemm_nn order: x[t, :] . W[:, k] over N in blocks of KERN_NB */
static float spec_nn(const float *x, const float *w, int64_t N, int64_t ldw, float y0, int beta1)
{
    float y = y0;
    for (int64_t nb = 0; nb < N; nb += KERN_NB) {
        const int64_t ne = N - nb < KERN_NB ? N - nb : KERN_NB;
        float a = 0.0f;
        for (int64_t n = nb; n < nb + ne; n++) a = fmaf(x[n], w[n * ldw], a);
        y = nb > 0 || beta1 ? y + a : a;
    }
    return y;
}

static int same_bits(const float *a, const float *b, int64_t n, int64_t *at)
{
    for (int64_t i = 0; i < n; i++)
        if (memcmp(a + i, b + i, sizeof *a)) {
            *at = i;
            return 0;
        }
    return 1;
}

static const char *DT[] = {"bf16", "f16", "f32"};

/* Runs rows t.. of a case's batch (its rows of y at y + t * ldy), part `part` of `parts`. */
typedef void (*run_rows_fn)(const void *c, float *y, int64_t t, int part, int parts);

/* What every product must hold, y being the whole batch run on one thread: the same bits as
 * the documented order ys, within tol of double (worst; tol 0: not asked), the same bits with
 * the work split over 3 threads, and for each row alone with the tail of the batch. yp is
 * scratch, reset from y0 before each run. */
static void check_runs(const char *name, run_rows_fn f, const void *c, int64_t T, int64_t W,
                       const float *y0, const float *y, const float *ys, float *yp, double worst,
                       double tol)
{
    int64_t at = 0;
    int ok = same_bits(y, ys, T * W, &at);
    CHECK(ok, name, "element %lld: %.9g, the documented order gives %.9g", (long long)at,
          ok ? 0.0 : y[at], ok ? 0.0 : ys[at]);
    CHECK(tol <= 0 || worst < tol, name, "error %.3g of the sum of |terms| (expected < %g)", worst,
          tol);
    memcpy(yp, y0, (size_t)(T * W) * sizeof *yp);
    for (int p = 0; p < 3; p++) f(c, yp, 0, p, 3);
    ok = same_bits(y, yp, T * W, &at);
    CHECK(ok, name, "split over 3 threads, element %lld differs", (long long)at);
    for (int64_t t = 0; t < T && ok; t++) { /* each row alone, and the tail of the batch */
        memcpy(yp, y0, (size_t)(T * W) * sizeof *yp);
        f(c, yp, t, 0, 1);
        ok = same_bits(y + t * W, yp + t * W, (T - t) * W, &at);
        CHECK(ok, name, "rows %lld.. as their own batch: element %lld differs", (long long)t,
              (long long)at);
    }
}

typedef struct {
    const kern_isa *k;
    int nn;
    kern_job j;
} gemm_case;

static void gemm_rows(const void *c, float *y, int64_t t, int part, int parts)
{
    const gemm_case *g = c;
    kern_job r = g->j;
    r.y = y + t * r.ldy, r.x = r.x + t * r.ldx, r.T -= t;
    (g->nn ? g->k->nn_run : g->k->nt_run)(&r, part, parts);
}

/* one shape of one product on one path: spec, accuracy, threads, rows alone. nn = 0: gemm_nt,
 * y[T, N] (+)= x[T, K] . W[N, K]^T; nn = 1: gemm_nn, y[T, K] (+)= x[T, N] . W[N, K] */
static void case_gemm(const kern_isa *k, int nn, int dt, int64_t T, int64_t N, int64_t K, int beta1)
{
    char name[160];
    snprintf(name, sizeof name, "kern/%s/%s/%s/T%lld_N%lld_K%lld_beta%d", k->name, nn ? "nn" : "nt",
             DT[dt], (long long)T, (long long)N, (long long)K, beta1);
    const int64_t in = nn ? N : K, out = nn ? K : N; /* x's and y's row lengths */
    float *x = malloc((size_t)(T * in) * sizeof *x), *wf = malloc((size_t)(N * K) * sizeof *wf);
    float *y0 = malloc((size_t)(T * out) * sizeof *y0), *y = malloc((size_t)(T * out) * sizeof *y);
    float *yp = malloc((size_t)(T * out) * sizeof *yp);
    float *ys = malloc((size_t)(T * out) * sizeof *ys);
    for (int64_t i = 0; i < T * in; i++) x[i] = frand();
    for (int64_t i = 0; i < T * out; i++) y0[i] = frand();
    void *w = make_w(dt, N * K, wf);
    const int64_t esz = dt == MP_F32 ? 4 : 2;
    const gemm_case gc = {k, nn, {NULL, out, in, T, K * esz, N, K, esz, x, w, dt, beta1}};
    memcpy(y, y0, (size_t)(T * out) * sizeof *y);
    gemm_rows(&gc, y, 0, 0, 1);
    double worst = 0;
    for (int64_t t = 0; t < T; t++)
        for (int64_t o = 0; o < out; o++) {
            const float *xt = x + t * in, yo = y0[t * out + o];
            ys[t * out + o] =
                nn ? spec_nn(xt, wf + o, N, K, yo, beta1) : spec_nt(xt, wf + o * K, K, yo, beta1);
            double ref = beta1 ? yo : 0.0, scale = fabs(ref);
            for (int64_t i = 0; i < in; i++) {
                const double term = (double)xt[i] * (nn ? wf[i * K + o] : wf[o * K + i]);
                ref += term;
                scale += fabs(term);
            }
            double e = fabs(y[t * out + o] - ref) / (scale > 0 ? scale : 1);
            if (e > worst) worst = e;
        }
    check_runs(name, gemm_rows, &gc, T, out, y0, y, ys, yp, worst, 1e-6);
    free(x);
    free(wf);
    free(y0);
    free(y);
    free(yp);
    free(ys);
    free(w);
}

/* silu: the same bits as the portable path, and within 4 ulp-ish of double */
static void case_silu(const kern_isa *k)
{
    enum { n = 4099 };
    static float g[n], u[n], gg[n], ug[n];
    char name[96];
    snprintf(name, sizeof name, "kern/%s/silu_mul", k->name);
    for (int i = 0; i < n; i++) {
        g[i] = frand() * (i % 3 ? 10.0f : 200.0f);
        u[i] = frand();
    }
    g[0] = 0.0f, g[1] = -0.0f, g[2] = 88.0f, g[3] = -88.0f, g[4] = 1e-30f, g[5] = -1e4f,
    g[6] = 1e4f;
    memcpy(gg, g, sizeof g), memcpy(ug, u, sizeof u);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double s = (double)g[i] / (1.0 + exp(-(double)g[i])) * u[i];
        ug[i] = (float)s; /* reference kept in ug */
    }
    k->silu_mul(g, u, n);
    float gp[n];
    memcpy(gp, gg, sizeof gg);
    kern_isa_generic.silu_mul(gp, u, n);
    for (int i = 0; i < n; i++) {
        double e = fabs(g[i] - ug[i]) / (fabs(ug[i]) > 1e-30 ? fabs(ug[i]) : 1e-30);
        if (fabs(ug[i]) > 1e-30 && e > worst) worst = e;
    }
    int64_t at = 0;
    int ok = same_bits(g, gp, n, &at);
    CHECK(ok, name, "element %lld (g=%.9g): %.9g, generic %.9g", (long long)at, ok ? 0.0 : gg[at],
          ok ? 0.0 : g[at], ok ? 0.0 : gp[at]);
    CHECK(worst < 1e-6, name, "relative error %.3g against double (expected < 1e-6)", worst);
}

/* ---- bf16 x bf16 (kern_bf16.h) ------------------------------------------------------------ */

static float b2f(uint16_t b)
{
    uint32_t u = (uint32_t)b << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static float ftz(float a) /* subnormal to zero of the same sign */
{
    uint32_t u;
    memcpy(&u, &a, 4);
    if (!(u & 0x7f800000u)) u &= 0x80000000u;
    memcpy(&a, &u, 4);
    return a;
}
static uint16_t rne(float f) /* nearest even; subnormal to zero (vcvtneps2bf16) */
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if (!(u & 0x7f800000u)) return (uint16_t)((u >> 16) & 0x8000u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* kern.h's bf16 order, spelled out: vdpbf16ps per 32-element step, tree16 per K block */
static float spec_bt(const uint16_t *x, const uint16_t *w, int64_t K, float y0, int beta1)
{
    float y = y0;
    for (int64_t kb = 0; kb < K; kb += KERN_KC) {
        const int64_t kc = K - kb < KERN_KC ? K - kb : KERN_KC;
        float l[16] = {0};
        for (int64_t k = 0; k < (kc + 31) / 32 * 32; k += 32)
            for (int q = 0; q < 16; q++)
                for (int odd = 1; odd >= 0; odd--) {
                    const int64_t e = k + 2 * q + odd;
                    const float a = e < kc ? ftz(b2f(x[kb + e])) : 0.0f;
                    const float b = e < kc ? ftz(b2f(w[kb + e])) : 0.0f;
                    l[q] = ftz(fmaf(a, b, l[q]));
                }
        const float s = tree16(l);
        y = kb > 0 || beta1 ? y + s : s;
    }
    return y;
}

static uint16_t rand_bf16(int tiny)
{
    float f = frand();
    if (tiny && (rng & 15) == 1) f *= 0x1p-120f; /* subnormal or near it after the product */
    if (tiny && (rng & 31) == 2) f *= 0x1p-132f; /* a subnormal bf16: read as zero */
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(u >> 16);
}

typedef struct {
    const kern_bf16 *k;
    kern_bf16_job j;
} bt_case;

static void bt_rows(const void *c, float *y, int64_t t, int part, int parts)
{
    const bt_case *b = c;
    kern_bf16_job r = b->j;
    r.y = y + t * r.ldy, r.x = r.x + t * r.ldx, r.T -= t;
    b->k->nt_run(&r, part, parts);
}

static void case_bt(const kern_bf16 *k, int64_t T, int64_t N, int64_t K, int beta1, int tiny)
{
    char name[160];
    snprintf(name, sizeof name, "kern/%s/bf16xbf16/T%lld_N%lld_K%lld_beta%d%s", k->name,
             (long long)T, (long long)N, (long long)K, beta1, tiny ? "_tiny" : "");
    uint16_t *x = malloc((size_t)(T * K) * sizeof *x), *w = malloc((size_t)(N * K) * sizeof *w);
    float *y0 = malloc((size_t)(T * N) * sizeof *y0), *y = malloc((size_t)(T * N) * sizeof *y);
    float *yp = malloc((size_t)(T * N) * sizeof *yp), *ys = malloc((size_t)(T * N) * sizeof *ys);
    for (int64_t i = 0; i < T * K; i++) x[i] = rne(tiny ? b2f(rand_bf16(1)) : frand());
    for (int64_t i = 0; i < N * K; i++) w[i] = rand_bf16(tiny);
    for (int64_t i = 0; i < T * N; i++) y0[i] = frand();
    const bt_case bc = {k, {NULL, N, K, T, K, N, K, x, w, beta1}};
    memcpy(y, y0, (size_t)(T * N) * sizeof *y);
    bt_rows(&bc, y, 0, 0, 1);
    double worst = 0;
    for (int64_t t = 0; t < T; t++)
        for (int64_t n = 0; n < N; n++) {
            ys[t * N + n] = spec_bt(x + t * K, w + n * K, K, y0[t * N + n], beta1);
            double ref = beta1 ? y0[t * N + n] : 0.0, scale = fabs(ref);
            for (int64_t q = 0; q < K; q++) {
                const double p = (double)ftz(b2f(x[t * K + q])) * ftz(b2f(w[n * K + q]));
                ref += p;
                scale += fabs(p);
            }
            double e = fabs(y[t * N + n] - ref) / (scale > 0 ? scale : 1);
            if (e > worst) worst = e;
        }
    check_runs(name, bt_rows, &bc, T, N, y0, y, ys, yp, worst, tiny ? 0 : 2e-6);
    free(x);
    free(w);
    free(y0);
    free(y);
    free(yp);
    free(ys);
}

static void bt_all(const kern_bf16 *k)
{
    static const int64_t S[][3] = {{1, 1, 1},  {5, 13, 37},   {7, 31, 2048 + 19},
                                   {9, 6, 64}, {70, 20, 300}, {3, 7, 4096}};
    for (int b = 0; b < 2; b++)
        for (size_t s = 0; s < sizeof S / sizeof *S; s++)
            case_bt(k, S[s][0], S[s][1], S[s][2], b, 0);
    case_bt(k, 6, 9, 333, 0, 1);
}

int main(void)
{
    const kern_isa *paths[4];
    const int np = kern_runnable(paths);
    /* {67, 9, 2048 + 33}: several row blocks of 64 and K blocks at once, with tails in both
     * (x is copied per row block and K block). {12, 13, 1500} and
     * {9, 8, 2048 + 600}: packed weight tiles whose K sub-blocks of 512 (kern_body.h) end in a
     * tail, their accumulators carried between sub-blocks; {8, 7, 1040}: the widest x that
     * widens weights in place, over a block that is not a whole number of sub-blocks. */
    static const int64_t NT[][3] = {
        {1, 1, 1},    {5, 13, 37},        {7, 31, 2048 + 19}, {9, 6, 64},         {70, 20, 300},
        {3, 7, 4096}, {67, 9, 2048 + 33}, {12, 13, 1500},     {9, 8, 2048 + 600}, {8, 7, 1040}};
    static const int64_t NN[][3] = {
        {1, 1, 1}, {5, 37, 13}, {7, 300, 37}, {13, 600, 100}, {2, 64, 64}};
    char names[64] = "";
    for (int p = 0; p < np; p++) {
        strcat(names, p ? " " : "");
        strcat(names, paths[p]->name);
        for (int dt = 0; dt < 3; dt++)
            for (int b = 0; b < 2; b++) {
                for (size_t s = 0; s < sizeof NT / sizeof *NT; s++)
                    case_gemm(paths[p], 0, dt, NT[s][0], NT[s][1], NT[s][2], b);
                for (size_t s = 0; s < sizeof NN / sizeof *NN; s++)
                    case_gemm(paths[p], 1, dt, NN[s][0], NN[s][1], NN[s][2], b);
            }
        case_silu(paths[p]);
        bt_all(kern_bf16_of(paths[p]));
    }
#if defined(__x86_64__)
    /* the emulation on AVX-512 F where the instruction is chosen, and the instruction itself:
     * the spelled-out order above is the emulation, so this checks vdpbf16ps against it */
    if (np > 0 && paths[0] == &kern_isa_avx512) {
        if (kern_bf16_of(paths[0]) != &kern_bf16_avx512) bt_all(&kern_bf16_avx512);
        printf("INFO vdpbf16ps (AVX512_BF16) %s\n",
               kern_has_avx512bf16() ? "checked against the emulation" : "not on this CPU");
    }
#endif
    printf("INFO kernel paths run on this CPU: %s\n", names);
    return check_finish();
}
