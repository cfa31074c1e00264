/* internal.h — the products of activations with weights in their stored dtype (BF16, F16 or
 * F32), computed without a float32 copy of the weights, on a small pool of threads. Internal to
 * ops.c and the forward pass (the rest of moeprobe calls ops_linear & co.).
 *
 * Why not OpenBLAS: a BF16 weight must first be widened to float32 (one pass over it) and
 * OpenBLAS then packs that copy again (a second pass) before its kernel runs; with the short
 * token batches an expert sees (tens of rows), those two passes cost about as much as the
 * arithmetic. And sgemm's summation order depends on the shape of the call (how many rows a
 * rank holds), so results would differ between runs with different rank counts. The kernels
 * (kern.h) read each weight element from memory once per 64 rows of x, widen it into a small
 * packed float32 tile that stays in L1 while every row tile runs over it (in registers, for
 * a few rows), and sum every output in one fixed order on every CPU path (kern_body.h).
 *
 * Kernel paths: avx512 (F/BW/VL/DQ), avx2 (AVX2 + FMA + F16C), neon (aarch64), generic
 * (portable C), chosen at first use: the best the CPU runs, or MOEPROBE_ISA=avx512|avx2|neon|
 * generic|auto. All give the same bits (kern.h), so the choice changes speed only.
 *
 * Threads: gemm_threads() of them (the caller plus workers), chosen once: MOEPROBE_THREADS if
 * set, else the CPUs this process may run on divided by the ranks of the job on this node
 * (Open MPI / MPICH / Slurm environment), at least 1. */
#ifndef MOEPROBE_OPS_GEMM_H
#define MOEPROBE_OPS_GEMM_H

#include <stdint.h>

#include "pipeline/model/dtype.h"

/* NULL when the kernel path MOEPROBE_ISA asks for can run here, else why not (naming the
 * value and the paths this CPU runs). A product called despite the error exits with it. */
const char *gemm_isa_check(void);
/* The kernel path in use: "avx512", "avx2", "neon" or "generic" ("none" after an error). */
const char *gemm_isa(void);
int gemm_threads(void);

/* y[t, n] = beta * y[t, n] + sum_k x[t, k] * W[n, k]   for t < T, n < N, k < K.
 * x: T rows, row stride ldx floats. W: N rows of K elements of dtype dt, row stride ldw
 * elements, starting at w (any byte alignment). y: row stride ldy. beta is 0 or 1. */
void gemm_nt(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t T, const void *w,
             mp_dtype dt, int64_t ldw, int64_t N, int64_t K, float beta);

/* y[t, k] = beta * y[t, k] + sum_n x[t, n] * W[n, k]   (W not transposed: the gradient through
 * lm_head, a neuron's column of down_proj). x row stride ldx, y row stride ldy, W row stride
 * ldw elements. */
void gemm_nn(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t T, const void *w,
             mp_dtype dt, int64_t ldw, int64_t N, int64_t K, float beta);

/* bf16 products for the screened evaluation passes (docs/method.md): while on, gemm_nt with
 * BF16 weights rounds each row of x to bf16 (nearest even, subnormals to zero) and sums exact
 * bf16 x bf16 products in kern.h's bf16 order, with vdpbf16ps where the CPU has AVX512_BF16
 * and an exact emulation elsewhere (same bits, slower than float32). Other dtypes and gemm_nn
 * stay float32. Returns the previous setting. Set by the thread that calls gemm_*. */
int gemm_set_bf16(int on);
/* The bf16 product path: "avx512bf16", or the emulating kernel path's name. */
const char *gemm_bf16_path(void);

/* g[i] = silu(g[i]) * u[i] (x / (1 + e^-x) with a vectorised e^x, relative error ~1e-7). */
void gemm_silu_mul(float *g, const float *u, int64_t n);

/* Runs fn(ctx, i, n) for i = 0..n-1 on the pool's threads (n = gemm_threads()); returns when
 * all are done. Not reentrant: fn must not call gemm_* or gemm_parallel. */
void gemm_parallel(void (*fn)(void *ctx, int i, int n), void *ctx);

#endif
