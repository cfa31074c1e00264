/* ops.c — see ops.h. Products with weights go to the kernels of gemm.c (internal.h). */
#include "pipeline/ops/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/model/dtype.h"
#include "pipeline/ops/internal.h"
#include "pipeline/ops/kern.h"

static ops_product_fn product_fn = NULL; /* ops_set_product_observer */
static void *product_ctx = NULL;

static __thread float *scratch = NULL;
static __thread size_t scratch_cap = 0;

static float *scratch_get(size_t n)
{
    if (n > scratch_cap) {
        free(scratch);
        scratch = malloc(n * sizeof(float));
        scratch_cap = scratch ? n : 0;
        if (!scratch) abort(); /* out of memory: nothing sensible to continue with */
    }
    return scratch;
}

static const char *elem_ptr(const mp_tensor *W, int64_t flat_index)
{
    return (const char *)W->data + (size_t)flat_index * dtype_size(W->dtype);
}

void ops_row_f32(float *dst, const mp_tensor *W, int64_t r)
{
    int64_t K = W->shape[W->ndim - 1];
    dtype_to_f32(W->dtype, elem_ptr(W, r * K), dst, (size_t)K);
}

void ops_flat_f32(float *dst, const mp_tensor *W, int64_t i0, int64_t n)
{
    dtype_to_f32(W->dtype, elem_ptr(W, i0), dst, (size_t)n);
}

/* Shared core: y[T, n_out] (row stride ldy) (+)= x[T,K] (row stride ldx) times rows
 * [r0, r0+n_out) of W, columns [c0, c0+K). */
static void linear_core(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t T,
                        const mp_tensor *W, int64_t r0, int64_t n_out, int64_t c0, int64_t K,
                        float beta)
{
    int64_t Kfull = W->shape[W->ndim - 1];
    if (T <= 0 || n_out <= 0) return;
    if (product_fn) product_fn(product_ctx, T, n_out, K, W->dtype);
    gemm_nt(y, ldy, x, ldx, T, elem_ptr(W, r0 * Kfull + c0), W->dtype, Kfull, n_out, K, beta);
}

void ops_set_product_observer(ops_product_fn fn, void *ctx)
{
    product_fn = fn;
    product_ctx = ctx;
}

void ops_linear(float *y, const float *x, int64_t T, const mp_tensor *W, const mp_tensor *bias)
{
    int64_t N = W->shape[0], K = W->shape[W->ndim - 1];
    linear_core(y, N, x, K, T, W, 0, N, 0, K, 0.0f);
    if (bias && bias->data) {
        float *b = scratch_get((size_t)N);
        ops_flat_f32(b, bias, 0, N);
        for (int64_t t = 0; t < T; t++)
            for (int64_t n = 0; n < N; n++) y[t * N + n] += b[n];
    }
}

void ops_linear_acc(float *y, const float *x, int64_t T, const mp_tensor *W)
{
    int64_t N = W->shape[0], K = W->shape[W->ndim - 1];
    linear_core(y, N, x, K, T, W, 0, N, 0, K, 1.0f);
}

void ops_linear_cols(float *y, const float *x, int64_t T, const mp_tensor *W, int64_t c0,
                     int64_t nc)
{
    int64_t N = W->shape[0];
    linear_core(y, N, x, nc, T, W, 0, N, c0, nc, 0.0f);
}

void ops_linear_rows(float *y, const float *x, int64_t T, const mp_tensor *W, int64_t r0, int64_t N)
{
    int64_t K = W->shape[W->ndim - 1];
    linear_core(y, N, x, K, T, W, r0, N, 0, K, 0.0f);
}

void ops_matmul_nn(float *y, const float *x, int64_t T, const mp_tensor *W, float beta)
{
    const int64_t N = W->shape[0], K = W->shape[W->ndim - 1];
    if (T <= 0) return;
    gemm_nn(y, K, x, N, T, W->data, W->dtype, K, N, K, beta);
}

void ops_gemm_nt_f32(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t T, const float *w,
                     int64_t ldw, int64_t N, int64_t K)
{
    gemm_nt(y, ldy, x, ldx, T, w, MP_F32, ldw, N, K, 0.0f);
}

void ops_gemm_nn_f32(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t T, const float *w,
                     int64_t ldw, int64_t N, int64_t K)
{
    gemm_nn(y, ldy, x, ldx, T, w, MP_F32, ldw, N, K, 0.0f);
}

typedef struct silu_job {
    float *g;
    const float *u;
    int64_t n;
} silu_job;

static void silu_part(void *ctx, int i, int parts)
{
    const silu_job *j = ctx;
    int64_t a = j->n * i / parts, b = j->n * (i + 1) / parts;
    if (b > a) gemm_silu_mul(j->g + a, j->u + a, b - a); /* elementwise: parts change nothing */
}

void ops_silu_mul(float *g, const float *u, int64_t n)
{
    silu_job j = {g, u, n};
    if (n < 32768)
        silu_part(&j, 0, 1);
    else
        gemm_parallel(silu_part, &j);
}

typedef struct pfor_job {
    int64_t n;
    void (*fn)(void *ctx, int64_t a, int64_t b);
    void *ctx;
} pfor_job;

static void pfor_part(void *ctx, int i, int parts)
{
    const pfor_job *j = ctx;
    int64_t a = j->n * i / parts, b = j->n * (i + 1) / parts;
    if (b > a) j->fn(j->ctx, a, b);
}

void ops_parallel_for(int64_t n, int64_t cost_per_item, void (*fn)(void *ctx, int64_t a, int64_t b),
                      void *ctx)
{
    pfor_job j = {n, fn, ctx};
    if (n <= 0) return;
    /* below ~32k element operations, waking the other threads costs more than it saves */
    if (n < 2 || (double)n * (double)cost_per_item < 32768.0)
        fn(ctx, 0, n);
    else
        gemm_parallel(pfor_part, &j);
}

typedef struct add_job {
    float *x;
    const float *y;
} add_job;

static void add_part(void *ctx, int64_t a, int64_t b)
{
    const add_job *j = ctx;
    float *restrict x = j->x;
    const float *restrict y = j->y;
    for (int64_t i = a; i < b; i++) x[i] += y[i];
}

void ops_add(float *x, const float *y, int64_t n)
{
    add_job j = {x, y};
    ops_parallel_for(n, 1, add_part, &j);
}

double ops_rms_scale(const float *x, int64_t n, double eps)
{
    /* four running sums: the same double precision without one long dependency chain */
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += (double)x[i] * x[i];
        s1 += (double)x[i + 1] * x[i + 1];
        s2 += (double)x[i + 2] * x[i + 2];
        s3 += (double)x[i + 3] * x[i + 3];
    }
    for (; i < n; i++) s0 += (double)x[i] * x[i];
    return 1.0 / sqrt(((s0 + s1) + (s2 + s3)) / (double)n + eps);
}

typedef struct rms_job {
    float *y;
    const float *x, *wf;
    int64_t n;
    double eps;
} rms_job;

static void rms_part(void *ctx, int64_t a, int64_t b)
{
    const rms_job *j = ctx;
    for (int64_t t = a; t < b; t++) {
        const float *xr = j->x + t * j->n;
        float *yr = j->y + t * j->n;
        float s = (float)ops_rms_scale(xr, j->n, j->eps);
        for (int64_t i = 0; i < j->n; i++) yr[i] = (j->wf ? j->wf[i] : 1.0f) * (xr[i] * s);
    }
}

void ops_rmsnorm(float *y, const float *x, int64_t T, int64_t n, const mp_tensor *w, double eps)
{
    float *wf = NULL;
    if (w && w->data) {
        wf = scratch_get((size_t)n);
        ops_flat_f32(wf, w, 0, n);
    }
    rms_job j = {y, x, wf, n, eps};
    ops_parallel_for(T, 2 * n, rms_part, &j);
}

void ops_softmax(float *x, int64_t n)
{
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > mx) mx = x[i];
    if (mx == -INFINITY) { /* everything masked: no probability anywhere */
        for (int64_t i = 0; i < n; i++) x[i] = 0.0f;
        return;
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += exp((double)x[i] - mx);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(exp((double)x[i] - mx) / sum);
}

double ops_logsumexp(const float *x, int64_t n)
{
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > mx) mx = x[i];
    if (mx == -INFINITY) return -INFINITY;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += exp((double)x[i] - mx);
    return mx + log(sum);
}

void ops_rope_tables(float *cos_t, float *sin_t, int64_t npos, int64_t d, double theta)
{
    int64_t half = d / 2;
    float *inv = scratch_get((size_t)half);
    for (int64_t i = 0; i < half; i++)
        inv[i] = 1.0f / powf((float)theta, (float)(2 * i) / (float)d);
    for (int64_t p = 0; p < npos; p++)
        for (int64_t i = 0; i < half; i++) {
            float a = (float)p * inv[i];
            cos_t[p * half + i] = cosf(a);
            sin_t[p * half + i] = sinf(a);
        }
}

void ops_rope_apply(float *x, int64_t d, const float *c, const float *s)
{
    int64_t half = d / 2;
    for (int64_t i = 0; i < half; i++) {
        float x1 = x[i], x2 = x[i + half];
        x[i] = x1 * c[i] - x2 * s[i];
        x[i + half] = x2 * c[i] + x1 * s[i];
    }
}

int ops_blas_threads(void)
{
    return gemm_threads();
}

const char *ops_isa(void)
{
    return gemm_isa();
}

void ops_isa_list(char *buf, size_t cap)
{
    const kern_isa *can[4];
    const int n = kern_runnable(can);
    size_t used = 0;
    if (cap) buf[0] = '\0';
    for (int i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? " " : "", can[i]->name);
}

int ops_isa_check(mp_err *err)
{
    const char *why = gemm_isa_check();
    if (why) err_set(err, "%s", why);
    return why ? -1 : 0;
}
