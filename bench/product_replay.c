/* product_replay.c — replays the weight products of a capture pass (the list `forward_bench run
 * --products` writes) on moeprobe's kernels and on OpenBLAS sgemm, to put the pass's FLOP rate
 * next to what the ceiling's own library reaches on the same products.
 *
 * The FLOP ceiling of bench_forward.sh is OpenBLAS sgemm on large square products. A capture
 * pass of an MoE model is mostly small ones: each expert sees the few rows routed to it, and its
 * weights come from DRAM (the experts of a layer far exceed the caches). This replays the pass's
 * exact list of (T, N, K) in call order, both sides on the same x, each product's weights taken
 * in turn from a pool of distinct matrices of its shape large enough to leave the caches, as
 * the pass reads them: moeprobe with the recorded dtype (bf16 for the bench's checkpoints),
 * OpenBLAS with float32 weights (what a float32 framework multiplies; HF float32 holds float32
 * copies). Rounds alternate, moeprobe first, best of ROUNDS on each side.
 *
 *   product_replay FILE [ROUNDS]
 * FILE: one "T N K DTYPE" line per product. Prints key=value lines: calls, gflop, pool_bytes
 * (per side), moeprobe_gflops, sgemm_gflops, ratio, kernel_isa, blas_core, threads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/model/dtype.h"
#include "pipeline/ops/ops.h"
#include "pipeline/util/monotonic.h"

#include <cblas.h>

#define MAX_SHAPES 64
#define MAX_POOL 64
#define POOL_BYTES 400000000.0 /* float32 bytes of one shape's pool: far above any L3 */

typedef struct shape {
    int64_t N, K;
    mp_dtype dt;
    int pool, next;
    mp_tensor w[MAX_POOL]; /* moeprobe's weights, stored dtype */
    float *wf[MAX_POOL];   /* the same values in float32, for sgemm */
} shape;

typedef struct call {
    int64_t T;
    int s;
} call;

static int add_shape(shape *sh, int *ns, int64_t N, int64_t K, mp_dtype dt)
{
    for (int i = 0; i < *ns; i++)
        if (sh[i].N == N && sh[i].K == K && sh[i].dt == dt) return i;
    if (*ns == MAX_SHAPES) return -1;
    shape *s = &sh[*ns];
    double per = (double)N * (double)K * 4.0;
    s->N = N;
    s->K = K;
    s->dt = dt;
    s->pool = per >= POOL_BYTES ? 1 : (int)(POOL_BYTES / per);
    if (s->pool > MAX_POOL) s->pool = MAX_POOL;
    float *row = malloc((size_t)K * sizeof *row);
    if (!row) return -1;
    for (int p = 0; p < s->pool; p++) {
        void *d = malloc((size_t)(N * K) * dtype_size(dt));
        s->wf[p] = malloc((size_t)(N * K) * sizeof(float));
        if (!d || !s->wf[p]) {
            free(d);
            free(row);
            return -1;
        }
        for (int64_t n = 0; n < N; n++) {
            for (int64_t k = 0; k < K; k++)
                row[k] = (float)(((n * K + k + p) * 7919) % 1000) / 1000.0f - 0.5f;
            dtype_from_f32(dt, row, (char *)d + (size_t)(n * K) * dtype_size(dt), (size_t)K);
            /* sgemm multiplies the very values moeprobe reads */
            dtype_to_f32(dt, (char *)d + (size_t)(n * K) * dtype_size(dt), s->wf[p] + n * K,
                         (size_t)K);
        }
        s->w[p] = (mp_tensor){d, dt, 2, {N, K}};
    }
    free(row);
    return (*ns)++;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: product_replay FILE [ROUNDS]\n");
        return 2;
    }
    const int rounds = argc > 2 ? atoi(argv[2]) : 2;
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        fprintf(stderr, "product_replay: cannot open %s\n", argv[1]);
        return 1;
    }
    static shape sh[MAX_SHAPES];
    int ns = 0, rc = 1;
    size_t n = 0, cap = 0;
    call *calls = NULL;
    int64_t max_x = 1, max_y = 1;
    double flop = 0, pool_bytes = 0;
    float *x = NULL, *y = NULL;
    char buf[256];
    int line = 0;
    while (fgets(buf, sizeof buf, f)) {
        /* one product per line, checked whole: sizes in range, a known dtype, nothing else */
        long long T = 0, N = 0, K = 0;
        char dts[16] = "", extra[2];
        mp_dtype dt;
        line++;
        size_t len = strlen(buf);
        if (len == sizeof buf - 1 && buf[len - 1] != '\n') {
            fprintf(stderr, "product_replay: %s line %d: longer than %zu bytes\n", argv[1], line,
                    sizeof buf - 2);
            goto done;
        }
        if (len > 0 && buf[len - 1] == '\n') buf[--len] = 0;
        if (sscanf(buf, "%lld %lld %lld %15s %1s", &T, &N, &K, dts, extra) != 4 || T <= 0 ||
            N <= 0 || K <= 0 || T > 1 << 24 || N > 1 << 24 || K > 1 << 20 ||
            dtype_parse(dts, &dt) != 0) {
            fprintf(stderr,
                    "product_replay: %s line %d: \"%s\" is not T N K DTYPE (T and N in "
                    "1..2^24, K in 1..2^20, DTYPE one of BF16/F16/F32)\n",
                    argv[1], line, buf);
            goto done;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            call *c2 = realloc(calls, cap * sizeof *calls);
            if (!c2) goto oom;
            calls = c2;
        }
        int s = add_shape(sh, &ns, N, K, dt);
        if (s < 0) goto oom;
        calls[n++] = (call){T, s};
        if (T * K > max_x) max_x = T * K;
        if (T * N > max_y) max_y = T * N;
        flop += 2.0 * (double)T * (double)N * (double)K;
    }
    if (ferror(f) || n == 0) {
        fprintf(stderr, "product_replay: %s: %s\n", argv[1],
                ferror(f) ? "read error" : "no products (expected \"T N K DTYPE\" lines)");
        goto done;
    }
    for (int s = 0; s < ns; s++) pool_bytes += (double)sh[s].pool * sh[s].N * sh[s].K * 4.0;
    x = malloc((size_t)max_x * sizeof *x);
    y = malloc((size_t)max_y * sizeof *y);
    if (!x || !y) goto oom;
    for (int64_t i = 0; i < max_x; i++) x[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
    double best[2] = {0, 0};
    for (int r = 0; r < rounds; r++)
        for (int side = 0; side < 2; side++) {
            double t0 = monotonic_s();
            for (size_t i = 0; i < n; i++) {
                shape *s = &sh[calls[i].s];
                int p = s->next;
                s->next = (p + 1) % s->pool;
                if (side == 0)
                    ops_linear(y, x, calls[i].T, &s->w[p], NULL);
                else
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)calls[i].T, (int)s->N,
                                (int)s->K, 1.0f, x, (int)s->K, s->wf[p], (int)s->K, 0.0f, y,
                                (int)s->N);
            }
            double g = flop / (monotonic_s() - t0) / 1e9;
            fprintf(stderr, "product_replay: round %d %s %.1f GFLOP/s\n", r + 1,
                    side ? "sgemm" : "moeprobe", g);
            if (g > best[side]) best[side] = g;
        }
    printf("calls=%zu\nshapes=%d\ngflop=%.1f\npool_bytes=%.0f\nrounds=%d\nmoeprobe_gflops=%.1f\n"
           "sgemm_gflops=%.1f\nratio=%.3f\nkernel_isa=%s\nblas_core=%s\nthreads=%d\n",
           n, ns, flop / 1e9, pool_bytes, rounds, best[0], best[1],
           best[1] > 0 ? best[0] / best[1] : 0.0, ops_isa(), openblas_get_corename(),
           ops_blas_threads());
    rc = 0;
    goto done;
oom:
    fprintf(stderr, "product_replay: out of memory (%zu products, %d shapes)\n", n, ns);
done:
    fclose(f);
    for (int s = 0; s < ns; s++)
        for (int p = 0; p < sh[s].pool; p++) {
            free((void *)sh[s].w[p].data);
            free(sh[s].wf[p]);
        }
    free(calls);
    free(x);
    free(y);
    return rc;
}
