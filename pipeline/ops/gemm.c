/* gemm.c — see internal.h. AVX-512 kernels (selected at run time) and the thread pool.
 *
 * gemm_nt (y = x W^T, the Linear layer): W's rows are contiguous in K, so the kernel is a tile
 * of dot products: MR rows of x against NR rows of W, one 16-lane accumulator per pair, K in
 * steps of 16 (masked tail), each W vector widened once and used MR times; the lanes are summed
 * at the end of each K block. No packing, no float32 copy.
 *
 * gemm_nn (y = x W): W's rows run along the output, so the kernel is the usual outer product:
 * MR rows of y times NV 16-float vectors of columns, one broadcast of x per row and W row. */
#include "pipeline/ops/internal.h"
#include "pipeline/util/local_ranks.h"

#include <cblas.h>
#include <immintrin.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,fma")))
#define INLINE static inline __attribute__((always_inline))

/* ---- thread pool ------------------------------------------------------------------------ */

#define POOL_MAX 256
#define POOL_SPIN 4000 /* pause loops (~100 us) before a worker sleeps: forward calls come in
                          quick succession, and a wake-up through the kernel costs more */

typedef struct pool {
    int n;                        /* threads including the caller */
    pthread_t tid[POOL_MAX];
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    atomic_uint gen;              /* bumped per job */
    atomic_int remaining;         /* workers still running the current job */
    void (*fn)(void *ctx, int i, int n);
    void *ctx;
} pool;

static pool P;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static int avail = -1;

static int env_int(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : 0;
}

static void *worker(void *arg)
{
    int me = (int)(intptr_t)arg;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&P.gen, memory_order_acquire)) == seen &&
               spins < POOL_SPIN) {
            _mm_pause();
            spins++;
        }
        if (g == seen) {
            pthread_mutex_lock(&P.mu);
            while ((g = atomic_load_explicit(&P.gen, memory_order_acquire)) == seen)
                pthread_cond_wait(&P.cv_work, &P.mu);
            pthread_mutex_unlock(&P.mu);
        }
        seen = g;
        P.fn(P.ctx, me, P.n);
        if (atomic_fetch_sub_explicit(&P.remaining, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&P.mu);
            pthread_cond_signal(&P.cv_done);
            pthread_mutex_unlock(&P.mu);
        }
    }
    return NULL;
}

static void pool_init(void)
{
    int n = env_int("MOEPROBE_THREADS");
    if (n <= 0) {
        cpu_set_t set;
        int cpus = 0, online = (int)sysconf(_SC_NPROCESSORS_ONLN);
        if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = CPU_COUNT(&set);
        if (cpus <= 0) cpus = online > 0 ? online : 1;
        int share = (online > 0 ? online : cpus) / local_ranks();
        n = cpus < share ? cpus : share;
        if (env_int("OPENBLAS_NUM_THREADS") > 0) n = env_int("OPENBLAS_NUM_THREADS");
    }
    if (n < 1) n = 1;
    if (n > POOL_MAX) n = POOL_MAX;
    openblas_set_num_threads(n);
    P.n = n;
    pthread_mutex_init(&P.mu, NULL);
    pthread_cond_init(&P.cv_work, NULL);
    pthread_cond_init(&P.cv_done, NULL);
    for (int i = 1; i < n; i++)
        if (pthread_create(&P.tid[i], NULL, worker, (void *)(intptr_t)i) != 0) {
            P.n = i; /* run with the threads we got */
            break;
        }
}

int gemm_threads(void)
{
    pthread_once(&pool_once, pool_init);
    return P.n;
}

void gemm_parallel(void (*fn)(void *ctx, int i, int n), void *ctx)
{
    int n = gemm_threads();
    if (n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    P.fn = fn;
    P.ctx = ctx;
    atomic_store_explicit(&P.remaining, n - 1, memory_order_relaxed);
    pthread_mutex_lock(&P.mu);
    atomic_fetch_add_explicit(&P.gen, 1, memory_order_release);
    pthread_cond_broadcast(&P.cv_work);
    pthread_mutex_unlock(&P.mu);
    fn(ctx, 0, n);
    for (int spins = 0; atomic_load_explicit(&P.remaining, memory_order_acquire) > 0 &&
                        spins < POOL_SPIN * 4; spins++)
        _mm_pause();
    if (atomic_load_explicit(&P.remaining, memory_order_acquire) > 0) {
        pthread_mutex_lock(&P.mu);
        while (atomic_load_explicit(&P.remaining, memory_order_acquire) > 0)
            pthread_cond_wait(&P.cv_done, &P.mu);
        pthread_mutex_unlock(&P.mu);
    }
}

int gemm_available(void)
{
    if (avail < 0) {
        const char *e = getenv("MOEPROBE_GEMM");
        __builtin_cpu_init();
        avail = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                !(e && !strcmp(e, "blas"));
    }
    return avail;
}

/* ---- loads ------------------------------------------------------------------------------ */

/* 16 weights at element i of row `w` (dtype dt), widened to float32; masked lanes are 0. */
INLINE AVX512 __m512 load_w(const void *w, int64_t i, int dt, int masked, __mmask16 m)
{
    if (dt == MP_F32)
        return masked ? _mm512_maskz_loadu_ps(m, (const float *)w + i)
                      : _mm512_loadu_ps((const float *)w + i);
    __m256i h = masked ? _mm256_maskz_loadu_epi16(m, (const uint16_t *)w + i)
                       : _mm256_loadu_si256((const __m256i *)((const uint16_t *)w + i));
    if (dt == MP_F16) return _mm512_cvtph_ps(h);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* ---- gemm_nt ---------------------------------------------------------------------------- */

/* The lane sums of four vectors, as one vector {sum a, sum b, sum c, sum d}: the transposing
 * adds share the shuffles that four separate reductions would each pay for. */
INLINE AVX512 __m128 hsum4(__m512 a, __m512 b, __m512 c, __m512 d)
{
    __m256 a8 = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));
    __m256 b8 = _mm256_add_ps(_mm512_castps512_ps256(b), _mm512_extractf32x8_ps(b, 1));
    __m256 c8 = _mm256_add_ps(_mm512_castps512_ps256(c), _mm512_extractf32x8_ps(c, 1));
    __m256 d8 = _mm256_add_ps(_mm512_castps512_ps256(d), _mm512_extractf32x8_ps(d, 1));
    __m256 ab = _mm256_hadd_ps(a8, b8);  /* a01 a23 b01 b23 | a45 a67 b45 b67 */
    __m256 cd = _mm256_hadd_ps(c8, d8);
    __m256 abcd = _mm256_hadd_ps(ab, cd); /* a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7 */
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

#define NT_MR 4
#define NT_NR 6
#define NT_KC 2048  /* K block: NR weight rows of it stay in L1 while the x rows stream */
#define NT_MC 64    /* rows of x per pass: MC x KC floats stay in L2 */
#define NT_PF 2     /* weight tiles of prefetch distance */

/* y[mr, nr] (+)= x[mr, kc] . w[nr, kc]^T; w rows ldw_b bytes apart. pf: a later weight tile
 * (NT_NR rows, same layout) to prefetch while this one computes, or NULL. Why: each expert's
 * weights are used once per batch, so every tile comes from DRAM; the hardware prefetcher
 * needs a few misses per row to find the stream, and rows are only K elements long. */
INLINE AVX512 void nt_tile(int mr, int nr, int dt, const float *x, int64_t ldx, const char *w,
                           int64_t ldw_b, int64_t kc, float *y, int64_t ldy, int acc_y,
                           const char *pf)
{
    const int64_t esz = dt == MP_F32 ? 4 : 2;
    __m512 acc[NT_MR][NT_NR];
#pragma GCC unroll 4
    for (int i = 0; i < NT_MR; i++)
#pragma GCC unroll 6
        for (int j = 0; j < NT_NR; j++) acc[i][j] = _mm512_setzero_ps();
    int64_t k = 0;
    for (; k + 16 <= kc; k += 16) {
        __m512 xv[NT_MR];
        if (pf && ((k * esz) & 63) == 0)
#pragma GCC unroll 6
            for (int j = 0; j < NT_NR; j++) _mm_prefetch(pf + j * ldw_b + k * esz, _MM_HINT_T1);
#pragma GCC unroll 4
        for (int i = 0; i < NT_MR; i++)
            if (i < mr) xv[i] = _mm512_loadu_ps(x + i * ldx + k);
#pragma GCC unroll 6
        for (int j = 0; j < NT_NR; j++) {
            if (j >= nr) continue;
            __m512 wv = load_w(w + j * ldw_b, k, dt, 0, 0);
#pragma GCC unroll 4
            for (int i = 0; i < NT_MR; i++)
                if (i < mr) acc[i][j] = _mm512_fmadd_ps(xv[i], wv, acc[i][j]);
        }
    }
    if (k < kc) {
        __mmask16 m = (__mmask16)((1u << (kc - k)) - 1u);
        __m512 xv[NT_MR];
#pragma GCC unroll 4
        for (int i = 0; i < NT_MR; i++)
            if (i < mr) xv[i] = _mm512_maskz_loadu_ps(m, x + i * ldx + k);
#pragma GCC unroll 6
        for (int j = 0; j < NT_NR; j++) {
            if (j >= nr) continue;
            __m512 wv = load_w(w + j * ldw_b, k, dt, 1, m);
#pragma GCC unroll 4
            for (int i = 0; i < NT_MR; i++)
                if (i < mr) acc[i][j] = _mm512_fmadd_ps(xv[i], wv, acc[i][j]);
        }
    }
#pragma GCC unroll 4
    for (int i = 0; i < NT_MR; i++) {
        if (i >= mr) continue;
        int j0 = 0;
        if (nr >= 4) {
            __m128 s4 = hsum4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
            if (acc_y) s4 = _mm_add_ps(s4, _mm_loadu_ps(y + i * ldy));
            _mm_storeu_ps(y + i * ldy, s4);
            j0 = 4;
        }
#pragma GCC unroll 6
        for (int j = 0; j < NT_NR; j++) {
            if (j < j0 || j >= nr) continue;
            float s = _mm512_reduce_add_ps(acc[i][j]);
            y[i * ldy + j] = acc_y ? y[i * ldy + j] + s : s;
        }
    }
}

typedef void (*nt_fn)(const float *x, int64_t ldx, const char *w, int64_t ldw_b, int64_t kc,
                      float *y, int64_t ldy, int acc_y, const char *pf);

#define NT_DEF(DT, MR, NR)                                                                     \
    static AVX512 void nt_##DT##_##MR##_##NR(const float *x, int64_t ldx, const char *w,       \
                                             int64_t ldw_b, int64_t kc, float *y, int64_t ldy, \
                                             int acc_y, const char *pf)                        \
    {                                                                                          \
        nt_tile(MR, NR, DT, x, ldx, w, ldw_b, kc, y, ldy, acc_y, pf);                          \
    }
#define NT_ROW(DT, MR) NT_DEF(DT, MR, 1) NT_DEF(DT, MR, 2) NT_DEF(DT, MR, 3) NT_DEF(DT, MR, 4) \
    NT_DEF(DT, MR, 5) NT_DEF(DT, MR, 6)
#define NT_ALL(DT) NT_ROW(DT, 1) NT_ROW(DT, 2) NT_ROW(DT, 3) NT_ROW(DT, 4)
NT_ALL(0) /* MP_BF16 */
NT_ALL(1) /* MP_F16 */
NT_ALL(2) /* MP_F32 */
#define NT_PTR_ROW(DT, MR) {nt_##DT##_##MR##_1, nt_##DT##_##MR##_2, nt_##DT##_##MR##_3,          \
                            nt_##DT##_##MR##_4, nt_##DT##_##MR##_5, nt_##DT##_##MR##_6}
#define NT_PTR(DT) {NT_PTR_ROW(DT, 1), NT_PTR_ROW(DT, 2), NT_PTR_ROW(DT, 3), NT_PTR_ROW(DT, 4)}
static const nt_fn NT_KERNELS[3][NT_MR][NT_NR] = {NT_PTR(0), NT_PTR(1), NT_PTR(2)};

typedef struct nt_job {
    float *y;
    int64_t ldy, ldx, T, ldw_b, N, K, esz;
    const float *x;
    const char *w;
    mp_dtype dt;
    int beta1;
} nt_job;

static void nt_run(void *ctx, int part, int parts)
{
    const nt_job *j = ctx;
    const int64_t tiles = (j->N + NT_NR - 1) / NT_NR;
    const int64_t t0 = tiles * part / parts, t1 = tiles * (part + 1) / parts;
    const nt_fn(*kern)[NT_NR] = NT_KERNELS[j->dt];
    for (int64_t kb = 0; kb < j->K; kb += NT_KC) {
        const int64_t kc = j->K - kb < NT_KC ? j->K - kb : NT_KC;
        const int acc_y = kb > 0 || j->beta1;
        for (int64_t mb = 0; mb < j->T; mb += NT_MC) {
            const int64_t me = mb + NT_MC < j->T ? mb + NT_MC : j->T;
            for (int64_t t = t0; t < t1; t++) {
                const int64_t n0 = t * NT_NR;
                const int nr = (int)(j->N - n0 < NT_NR ? j->N - n0 : NT_NR);
                const char *w = j->w + n0 * j->ldw_b + kb * j->esz;
                /* the first row tile fetches the weight tile after next into L2 (whole
                 * tiles only): one tile ahead is too late for short rows (K = 1024) */
                const char *pf = mb == 0 && t + NT_PF < t1 && n0 + (NT_PF + 1) * NT_NR <= j->N
                                     ? w + NT_PF * NT_NR * j->ldw_b : NULL;
                for (int64_t m = mb; m < me; m += NT_MR) {
                    const int mr = (int)(me - m < NT_MR ? me - m : NT_MR);
                    kern[mr - 1][nr - 1](j->x + m * j->ldx + kb, j->ldx, w, j->ldw_b, kc,
                                         j->y + m * j->ldy + n0, j->ldy, acc_y,
                                         m == mb ? pf : NULL);
                }
            }
        }
    }
}

void gemm_nt(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t T, const void *w,
             mp_dtype dt, int64_t ldw, int64_t N, int64_t K, float beta)
{
    nt_job j = {y, ldy, ldx, T, ldw * (int64_t)dtype_size(dt), N, K, (int64_t)dtype_size(dt),
                x, w, dt, beta != 0.0f};
    if (T <= 0 || N <= 0) return;
    if (K <= 0) { /* an empty sum */
        if (!j.beta1)
            for (int64_t t = 0; t < T; t++) memset(y + t * ldy, 0, (size_t)N * sizeof *y);
        return;
    }
    /* small products are not worth waking the pool for */
    if ((double)T * (double)N * (double)K < 2e5 || gemm_threads() == 1) nt_run(&j, 0, 1);
    else gemm_parallel(nt_run, &j);
}

/* ---- gemm_nn ---------------------------------------------------------------------------- */

#define NN_MR 6
#define NN_NV 4     /* 4 vectors = 64 output columns per tile */
#define NN_NB 256   /* rows of W per pass: NB x 64 weights stay in L1 across the row tiles */

/* y[mr, nv*16 (masked last)] (+)= x[mr, nb] . w[nb, cols] */
INLINE AVX512 void nn_tile(int mr, int nv, int dt, const float *x, int64_t ldx, const char *w,
                           int64_t ldw_b, int64_t nb, float *y, int64_t ldy, int acc_y,
                           __mmask16 last)
{
    __m512 acc[NN_MR][NN_NV];
#pragma GCC unroll 6
    for (int i = 0; i < NN_MR; i++)
#pragma GCC unroll 4
        for (int v = 0; v < NN_NV; v++) acc[i][v] = _mm512_setzero_ps();
    for (int64_t n = 0; n < nb; n++) {
        __m512 wv[NN_NV];
        const char *wr = w + n * ldw_b;
#pragma GCC unroll 4
        for (int v = 0; v < NN_NV; v++)
            if (v < nv) wv[v] = v == nv - 1 ? load_w(wr, v * 16, dt, 1, last)
                                            : load_w(wr, v * 16, dt, 0, 0);
#pragma GCC unroll 6
        for (int i = 0; i < NN_MR; i++) {
            if (i >= mr) continue;
            __m512 xb = _mm512_set1_ps(x[i * ldx + n]);
#pragma GCC unroll 4
            for (int v = 0; v < NN_NV; v++)
                if (v < nv) acc[i][v] = _mm512_fmadd_ps(xb, wv[v], acc[i][v]);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < NN_MR; i++) {
        if (i >= mr) continue;
#pragma GCC unroll 4
        for (int v = 0; v < NN_NV; v++) {
            if (v >= nv) continue;
            __mmask16 m = v == nv - 1 ? last : (__mmask16)0xffff;
            float *yp = y + i * ldy + v * 16;
            __m512 r = acc_y ? _mm512_add_ps(_mm512_maskz_loadu_ps(m, yp), acc[i][v]) : acc[i][v];
            _mm512_mask_storeu_ps(yp, m, r);
        }
    }
}

typedef void (*nn_fn)(const float *x, int64_t ldx, const char *w, int64_t ldw_b, int64_t nb,
                      float *y, int64_t ldy, int acc_y, __mmask16 last);
#define NN_DEF(DT, MR, NV)                                                                    \
    static AVX512 void nn_##DT##_##MR##_##NV(const float *x, int64_t ldx, const char *w,      \
                                             int64_t ldw_b, int64_t nb, float *y,             \
                                             int64_t ldy, int acc_y, __mmask16 last)          \
    {                                                                                         \
        nn_tile(MR, NV, DT, x, ldx, w, ldw_b, nb, y, ldy, acc_y, last);                        \
    }
#define NN_ROW(DT, MR) NN_DEF(DT, MR, 1) NN_DEF(DT, MR, 2) NN_DEF(DT, MR, 3) NN_DEF(DT, MR, 4)
#define NN_ALL(DT) NN_ROW(DT, 1) NN_ROW(DT, 2) NN_ROW(DT, 3) NN_ROW(DT, 4) NN_ROW(DT, 5) \
    NN_ROW(DT, 6)
NN_ALL(0)
NN_ALL(1)
NN_ALL(2)
#define NN_PTR_ROW(DT, MR) {nn_##DT##_##MR##_1, nn_##DT##_##MR##_2, nn_##DT##_##MR##_3,         \
                            nn_##DT##_##MR##_4}
#define NN_PTR(DT) {NN_PTR_ROW(DT, 1), NN_PTR_ROW(DT, 2), NN_PTR_ROW(DT, 3), NN_PTR_ROW(DT, 4), \
                    NN_PTR_ROW(DT, 5), NN_PTR_ROW(DT, 6)}
static const nn_fn NN_KERNELS[3][NN_MR][NN_NV] = {NN_PTR(0), NN_PTR(1), NN_PTR(2)};

typedef struct nn_job {
    float *y;
    int64_t ldy, ldx, T, ldw_b, N, K, esz;
    const float *x;
    const char *w;
    mp_dtype dt;
    int beta1;
} nn_job;

static void nn_run(void *ctx, int part, int parts)
{
    const nn_job *j = ctx;
    const int64_t cw = NN_NV * 16;
    const int64_t panels = (j->K + cw - 1) / cw;
    const int64_t p0 = panels * part / parts, p1 = panels * (part + 1) / parts;
    const nn_fn(*kern)[NN_NV] = NN_KERNELS[j->dt];
    for (int64_t nb0 = 0; nb0 < j->N; nb0 += NN_NB) {
        const int64_t nb = j->N - nb0 < NN_NB ? j->N - nb0 : NN_NB;
        const int acc_y = nb0 > 0 || j->beta1;
        for (int64_t p = p0; p < p1; p++) {
            const int64_t c0 = p * cw, cols = j->K - c0 < cw ? j->K - c0 : cw;
            const int nv = (int)((cols + 15) / 16);
            const int rem = (int)(cols - (nv - 1) * 16);
            const __mmask16 last = (__mmask16)(rem == 16 ? 0xffffu : (1u << rem) - 1u);
            const char *w = j->w + nb0 * j->ldw_b + c0 * j->esz;
            for (int64_t m = 0; m < j->T; m += NN_MR) {
                const int mr = (int)(j->T - m < NN_MR ? j->T - m : NN_MR);
                kern[mr - 1][nv - 1](j->x + m * j->ldx + nb0, j->ldx, w, j->ldw_b, nb,
                                     j->y + m * j->ldy + c0, j->ldy, acc_y, last);
            }
        }
    }
}

void gemm_nn(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t T, const void *w,
             mp_dtype dt, int64_t ldw, int64_t N, int64_t K, float beta)
{
    nn_job j = {y, ldy, ldx, T, ldw * (int64_t)dtype_size(dt), N, K, (int64_t)dtype_size(dt),
                x, w, dt, beta != 0.0f};
    if (T <= 0 || K <= 0) return;
    if (N <= 0) {
        if (!j.beta1)
            for (int64_t t = 0; t < T; t++) memset(y + t * ldy, 0, (size_t)K * sizeof *y);
        return;
    }
    if ((double)T * (double)N * (double)K < 2e5 || gemm_threads() == 1) nn_run(&j, 0, 1);
    else gemm_parallel(nn_run, &j);
}

/* ---- SwiGLU activation ------------------------------------------------------------------ */

/* e^x for 16 floats: Cody-Waite reduction x = n ln2 + r and Cephes' expf polynomial (relative
 * error about 1e-7, like glibc's expf and torch's vectorised exp); 2^n applied by scalef. */
INLINE AVX512 __m512 exp16(__m512 x)
{
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-103.0f)), _mm512_set1_ps(88.7f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
    p = _mm512_add_ps(p, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

AVX512 void gemm_silu_mul(float *g, const float *u, int64_t n)
{
    int64_t i = 0;
    const __m512 one = _mm512_set1_ps(1.0f);
    for (; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1u);
        __m512 x = _mm512_maskz_loadu_ps(m, g + i);
        __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), x));
        __m512 s = _mm512_div_ps(x, _mm512_add_ps(one, e));
        _mm512_mask_storeu_ps(g + i, m, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(m, u + i)));
    }
}

