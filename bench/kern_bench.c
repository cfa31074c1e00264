/* kern_bench.c — the rate of the weight products alone (ops_linear: y = x W^T, W in bf16, and
 * ops_matmul_nn), the kernels' share of the capture pass, on the kernel path MOEPROBE_ISA
 * selects. Shapes of OLMoE-1B-7B (an expert's gate/up and down, attention's q) and Mixtral.
 * Each gemm_nt shape is then timed again with bf16 products (the screened evaluation passes,
 * pipeline/ops/kern_bf16.h: vdpbf16ps where the CPU has AVX512_BF16, else an emulation),
 * printed with the bf16 path in the shape and its ratio to the float32 line above it.
 *
 *   kern_bench [SECONDS_PER_SHAPE]     prints one "shape ... GFLOP/s" line per shape */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/model/dtype.h"
#include "pipeline/ops/internal.h"
#include "pipeline/ops/ops.h"
#include "pipeline/util/monotonic.h"

static double rate(int64_t T, int64_t N, int64_t K, int nn, double secs)
{
    uint16_t *w = malloc((size_t)(N * K) * sizeof *w);
    float *x = malloc((size_t)(T * (N > K ? N : K)) * sizeof *x);
    float *y = malloc((size_t)(T * (N > K ? N : K)) * sizeof *y);
    double best = 0;
    if (!w || !x || !y) {
        fprintf(stderr, "kern_bench: out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < N * K; i++)
        w[i] = f32_to_bf16((float)((i * 7919) % 1000) / 1000.0f - 0.5f);
    for (int64_t i = 0; i < T * (N > K ? N : K); i++) x[i] = (float)((i * 104729) % 1000) / 1000.0f;
    mp_tensor W = {w, MP_BF16, 2, {N, K}};
    const double t_end = monotonic_s() + secs;
    while (monotonic_s() < t_end) {
        double t0 = monotonic_s();
        int reps = 0;
        do {
            if (nn)
                ops_matmul_nn(y, x, T, &W, 0.0f);
            else
                ops_linear(y, x, T, &W, NULL);
            reps++;
        } while (monotonic_s() - t0 < 0.05);
        double r = 2.0 * (double)T * (double)N * (double)K * reps / (monotonic_s() - t0) / 1e9;
        if (r > best) best = r;
    }
    free(w);
    free(x);
    free(y);
    return best;
}

int main(int argc, char **argv)
{
    const double secs = argc > 1 ? atof(argv[1]) : 1.0;
    static const struct {
        const char *name;
        int64_t T, N, K;
        int nn;
    } S[] = {
        {"olmoe expert gate/up  T=64 N=1024 K=2048", 64, 1024, 2048, 0},
        {"olmoe expert down     T=64 N=2048 K=1024", 64, 2048, 1024, 0},
        {"olmoe q_proj          T=256 N=2048 K=2048", 256, 2048, 2048, 0},
        {"mixtral expert gate   T=32 N=14336 K=4096", 32, 14336, 4096, 0},
        {"lm_head grad (nn)     T=8 N=4096 K=2048", 8, 4096, 2048, 1},
    };
    const char *isa = getenv("MOEPROBE_ISA");
    for (size_t i = 0; i < sizeof S / sizeof *S; i++) {
        const double f32 = rate(S[i].T, S[i].N, S[i].K, S[i].nn, secs);
        printf("isa=%s threads=%d shape=\"%s\" gflops=%.1f\n", isa && *isa ? isa : "auto",
               ops_blas_threads(), S[i].name, f32);
        if (S[i].nn) continue; /* gemm_nn stays float32 */
        gemm_set_bf16(1);
        const double b = rate(S[i].T, S[i].N, S[i].K, 0, secs);
        gemm_set_bf16(0);
        printf("isa=%s threads=%d shape=\"%s, bf16 products (%s)\" vs_float32=%.2f "
               "gflops=%.1f\n",
               isa && *isa ? isa : "auto", ops_blas_threads(), S[i].name, gemm_bf16_path(),
               f32 > 0 ? b / f32 : 0.0, b);
    }
    return 0;
}
