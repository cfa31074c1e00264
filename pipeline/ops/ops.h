/* ops.h — the numerical kernels of the forward pass, float32 compute over weights kept in
 * their stored dtype.
 *
 * Shapes are row-major: x[T,K] is T rows (tokens) of K floats. A weight W is an mp_tensor
 * [N,K] (torch Linear layout). Products with weights (any stored dtype) run on the kernels
 * of internal.h (AVX-512, AVX2, NEON or portable C, chosen at run time), which widen each
 * weight in registers, so no float32 copy of the model ever exists; products and sums are
 * float32, each output summed in one fixed order (kern.h) whatever the batch, thread count,
 * rank count or kernel path: the same inputs give the same bits everywhere. Reductions that
 * decide accuracy (RMSNorm variance, softmax sums) accumulate in double.
 *
 * Threads: the products use ops_blas_threads() threads (internal.h: MOEPROBE_THREADS, or the
 * CPUs of this process shared among the job's ranks on the node); everything else in this file
 * runs on the calling thread. */
#ifndef MOEPROBE_OPS_H
#define MOEPROBE_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/model/tensor.h"
#include "pipeline/util/error.h"

/* y[T,N] = x[T,K] W[N,K]^T (+ bias[N] if bias && bias->data). y must not alias x. */
void ops_linear(float *y, const float *x, int64_t T, const mp_tensor *W, const mp_tensor *bias);
/* Same but accumulates: y += x W^T. */
void ops_linear_acc(float *y, const float *x, int64_t T, const mp_tensor *W);
/* y[T,N] = x[T,nc] W[:, c0:c0+nc]^T — a column block of W (one head's slice of o_proj). */
void ops_linear_cols(float *y, const float *x, int64_t T, const mp_tensor *W, int64_t c0,
                     int64_t nc);
/* y[T,N] = x[T,K] W[r0:r0+N, :]^T — a row block of W (a slice of a fused tensor). */
void ops_linear_rows(float *y, const float *x, int64_t T, const mp_tensor *W, int64_t r0,
                     int64_t N);

/* For benchmarks (bench/forward_bench.c records a pass's products and replays them on OpenBLAS):
 * fn(ctx, T, N, K, dtype) is called before each of the four products above, on the calling
 * thread (so not thread-safe across callers); NULL stops it. */
typedef void (*ops_product_fn)(void *ctx, int64_t T, int64_t N, int64_t K, mp_dtype dtype);
void ops_set_product_observer(ops_product_fn fn, void *ctx);

/* y[T,K] (+)= x[T,N] W[N,K] — W untransposed (the gradient through lm_head). beta 0 or 1. */
void ops_matmul_nn(float *y, const float *x, int64_t T, const mp_tensor *W, float beta);

/* Products of two float32 activations (attention's scores and mixing), on the same kernels and
 * so in the same fixed order: y[t,n] = sum_k x[t,k] w[n,k] (nt) and y[t,k] = sum_n x[t,n]
 * w[n,k] (nn), t < T, n < N, k < K; ld* are row strides in floats. y is overwritten. */
void ops_gemm_nt_f32(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t T, const float *w,
                     int64_t ldw, int64_t N, int64_t K);
void ops_gemm_nn_f32(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t T, const float *w,
                     int64_t ldw, int64_t N, int64_t K);

/* dst[K] = row r of W (any dtype) as float32. */
void ops_row_f32(float *dst, const mp_tensor *W, int64_t r);
/* dst[n] = W's elements [i0, i0+n) in flat order, as float32. */
void ops_flat_f32(float *dst, const mp_tensor *W, int64_t i0, int64_t n);

/* HF RMSNorm: y = w * x / sqrt(mean(x^2) + eps), per row of length n; w may be NULL (no
 * weight). y may alias x. */
void ops_rmsnorm(float *y, const float *x, int64_t T, int64_t n, const mp_tensor *w, double eps);
/* 1/sqrt(mean(x^2) + eps) for one row (the frozen-norm scale of attribution). */
double ops_rms_scale(const float *x, int64_t n, double eps);

/* In-place softmax of n values (max-subtracted, double sum). -inf entries get 0. */
void ops_softmax(float *x, int64_t n);
/* log(sum(exp(x))) in double. */
double ops_logsumexp(const float *x, int64_t n);

/* HF default RoPE tables for positions 0..npos-1, head_dim d: cos/sin[npos, d/2], computed in
 * float32 like transformers (inv_freq = 1/theta^(2i/d), angle = pos * inv_freq). */
void ops_rope_tables(float *cos_t, float *sin_t, int64_t npos, int64_t d, double theta);
/* Rotates one head vector x[d] at position pos with the rotate_half pairing (i, i + d/2). */
void ops_rope_apply(float *x, int64_t d, const float *cos_row, const float *sin_row);

static inline float ops_silu(float x)
{
    return x / (1.0f + __builtin_expf(-x));
}
/* g[i] = silu(g[i]) * u[i] for n elements (the SwiGLU activation), on the product threads. */
void ops_silu_mul(float *g, const float *u, int64_t n);
/* x[i] += y[i] for n elements, on the product threads. */
void ops_add(float *x, const float *y, int64_t n);
/* Calls fn(ctx, a, b) on disjoint ranges [a, b) covering [0, n), one per product thread (all on
 * the caller when n * cost_per_item is small). fn must not call ops_linear & co. (the threads
 * are busy) nor emit hooks (sinks are not thread-safe). */
void ops_parallel_for(int64_t n, int64_t cost_per_item, void (*fn)(void *ctx, int64_t a, int64_t b),
                      void *ctx);

/* Threads used by the products. */
int ops_blas_threads(void);
/* The kernel path of the products: "avx512", "avx2", "neon" or "generic" (internal.h). */
const char *ops_isa(void);
/* The kernel paths this CPU runs, best first, space-separated ("avx512 avx2 generic"). */
void ops_isa_list(char *buf, size_t cap);
/* 0 if MOEPROBE_ISA names a path this CPU runs (or is unset); else -1 with err naming the
 * value and the paths it could take. Commands call it before any product. */
int ops_isa_check(mp_err *err);

#endif
