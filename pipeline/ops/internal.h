/* internal.h — the products of activations with weights in their stored dtype (BF16, F16 or
 * F32), computed without a float32 copy of the weights, on a small pool of threads. Internal to
 * ops.c (the rest of moeprobe calls ops_linear & co.).
 *
 * Why not OpenBLAS: a BF16 weight must first be widened to float32 (one pass over it) and
 * OpenBLAS then packs that copy again (a second pass) before its kernel runs; with the short
 * token batches an expert sees (tens of rows), those two passes cost about as much as the
 * arithmetic. The kernels here read each weight element once, widen it in registers and use it
 * for a tile of rows. OpenBLAS's sgemm is kept for float32 x float32 products (attention).
 *
 * Accuracy: float32 products and sums, like sgemm. Each output is the same sequence of
 * operations whatever the number of rows or threads (tiles never split the K sum differently),
 * so a row's result does not depend on which batch or rank computed it.
 *
 * Threads: gemm_threads() of them (the caller plus workers), chosen once: MOEPROBE_THREADS if
 * set, else the CPUs this process may run on divided by the ranks of the job on this node
 * (Open MPI / MPICH / Slurm environment), at least 1. OpenBLAS is set to the same count so that
 * ranks sharing a node do not oversubscribe it. */
#ifndef MOEPROBE_OPS_GEMM_H
#define MOEPROBE_OPS_GEMM_H

#include <stdint.h>

#include "pipeline/model/dtype.h"

/* 1 if the CPU has the instructions the kernels need (AVX-512 F/BW/VL); else callers use the
 * widen + sgemm path. MOEPROBE_GEMM=blas forces 0 (for comparisons). */
int gemm_available(void);
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

/* g[i] = silu(g[i]) * u[i] (x / (1 + e^-x) with a vectorised e^x, relative error ~1e-7);
 * needs gemm_available(). */
void gemm_silu_mul(float *g, const float *u, int64_t n);

/* Runs fn(ctx, i, n) for i = 0..n-1 on the pool's threads (n = gemm_threads()); returns when
 * all are done. Not reentrant: fn must not call gemm_* or gemm_parallel. */
void gemm_parallel(void (*fn)(void *ctx, int i, int n), void *ctx);

#endif
