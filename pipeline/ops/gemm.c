/* gemm.c — see internal.h. The thread pool, the choice of kernel path (kern.h) at run time,
 * and the entry points that split a product over the pool.
 *
 * gemm_nt (y = x W^T, the Linear layer): W's rows are contiguous in K, so the kernel is a tile
 * of dot products: MR rows of x against NR rows of W, one 16-lane accumulator per pair, K in
 * steps of 16, each W vector widened once and used MR times; the lanes are summed at the end
 * of each K block. No packing, no float32 copy.
 *
 * gemm_nn (y = x W): W's rows run along the output, so the kernel is the usual outer product:
 * MR rows of y times NV 16-float vectors of columns, one broadcast of x per row and W row. */
#include "pipeline/ops/internal.h"
#include "pipeline/util/local_ranks.h"

#include <pthread.h>
#include <stdio.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/ops/kern.h"

/* a spin-wait hint: lets the sibling hyperthread run while a worker polls */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ---- thread pool ------------------------------------------------------------------------ */

#define POOL_MAX 256
#define POOL_SPIN                                                                                  \
    4000 /* pause loops (~100 us) before a worker sleeps: forward calls come in
                          quick succession, and a wake-up through the kernel costs more */

typedef struct pool {
    int n; /* threads including the caller */
    pthread_t tid[POOL_MAX];
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    atomic_uint gen;      /* bumped per job */
    atomic_int remaining; /* workers still running the current job */
    void (*fn)(void *ctx, int i, int n);
    void *ctx;
} pool;

static pool P;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

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
            cpu_relax();
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
    for (int spins = 0;
         atomic_load_explicit(&P.remaining, memory_order_acquire) > 0 && spins < POOL_SPIN * 4;
         spins++)
        cpu_relax();
    if (atomic_load_explicit(&P.remaining, memory_order_acquire) > 0) {
        pthread_mutex_lock(&P.mu);
        while (atomic_load_explicit(&P.remaining, memory_order_acquire) > 0)
            pthread_cond_wait(&P.cv_done, &P.mu);
        pthread_mutex_unlock(&P.mu);
    }
}

/* ---- the kernel path --------------------------------------------------------------------- */

static const kern_isa *isa_sel = NULL;
static const kern_bf16 *bf16_sel = NULL;
static char isa_msg[320];
static pthread_once_t isa_once = PTHREAD_ONCE_INIT;

int kern_runnable(const kern_isa **out)
{
    int n = 0;
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
        out[n++] = &kern_isa_avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        out[n++] = &kern_isa_avx2; /* F16C comes with every AVX2 CPU; the build needs it too */
#endif
#if defined(__aarch64__)
    out[n++] = &kern_isa_neon; /* Advanced SIMD is part of ARMv8-A */
#endif
    out[n++] = &kern_isa_generic;
    return n;
}

const kern_bf16 *kern_bf16_of(const kern_isa *k)
{
#if defined(__x86_64__)
    if (k == &kern_isa_avx512)
        return kern_has_avx512bf16() ? &kern_bf16_avx512bf16 : &kern_bf16_avx512;
    if (k == &kern_isa_avx2) return &kern_bf16_avx2;
#endif
#if defined(__aarch64__)
    if (k == &kern_isa_neon) return &kern_bf16_neon;
#endif
    return &kern_bf16_generic;
}

static void isa_init(void)
{
    const kern_isa *can[4];
    const int n = kern_runnable(can);
    const char *want = getenv("MOEPROBE_ISA");
    if (!want || !*want || !strcmp(want, "auto")) {
        isa_sel = can[0];
        bf16_sel = kern_bf16_of(isa_sel);
        return;
    }
    for (int i = 0; i < n; i++)
        if (!strcmp(want, can[i]->name)) {
            isa_sel = can[i];
            bf16_sel = kern_bf16_of(isa_sel);
            return;
        }
    char list[64] = "";
    for (int i = 0; i < n; i++) {
        strcat(list, i ? ", " : "");
        strcat(list, can[i]->name);
    }
    const int known = !strcmp(want, "avx512") || !strcmp(want, "avx2") || !strcmp(want, "neon") ||
                      !strcmp(want, "generic");
    snprintf(isa_msg, sizeof isa_msg, "MOEPROBE_ISA=%s: %s (this CPU runs: %s, or auto)", want,
             known ? "this CPU or build cannot run that kernel path"
                   : "unknown kernel path, expected avx512, avx2, neon, generic or auto",
             list);
}

const char *gemm_isa_check(void)
{
    pthread_once(&isa_once, isa_init);
    return isa_sel ? NULL : isa_msg;
}

const char *gemm_isa(void)
{
    pthread_once(&isa_once, isa_init);
    return isa_sel ? isa_sel->name : "none";
}

/* The selected path; a bad MOEPROBE_ISA that reached a product without gemm_isa_check() (a
 * program that skipped it) stops here rather than compute on another path than asked. */
static const kern_isa *isa(void)
{
    pthread_once(&isa_once, isa_init);
    if (!isa_sel) {
        fprintf(stderr, "moeprobe: %s\n", isa_msg);
        exit(2);
    }
    return isa_sel;
}

const char *gemm_bf16_path(void)
{
    pthread_once(&isa_once, isa_init);
    return bf16_sel ? bf16_sel->name : "none";
}

/* ---- bf16 products ------------------------------------------------------------------------ */

static int bf16_on = 0;
static uint16_t *bf16_x = NULL; /* the rounded rows of x, grown as needed, kept */
static size_t bf16_cap = 0;

int gemm_set_bf16(int on)
{
    const int was = bf16_on;
    bf16_on = on != 0;
    return was;
}

/* float32 to bf16, nearest even, as vcvtneps2bf16: subnormals to zero, NaN stays NaN */
static uint16_t bf16_rne(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if (!(u & 0x7f800000u)) return (uint16_t)((u >> 16) & 0x8000u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

/* gemm_nt in bf16: 0, or -1 when the rounded copy of x does not fit in memory (the caller
 * then computes in float32, which only costs time: screening recomputes nothing wrongly) */
static int gemm_nt_bf16(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t T,
                        const void *w, int64_t ldw, int64_t N, int64_t K, int beta1)
{
    const size_t need = (size_t)T * (size_t)K;
    if (need > bf16_cap) {
        uint16_t *p = realloc(bf16_x, need * sizeof *p);
        if (!p) return -1;
        bf16_x = p;
        bf16_cap = need;
    }
    for (int64_t t = 0; t < T; t++)
        for (int64_t k = 0; k < K; k++) bf16_x[t * K + k] = bf16_rne(x[t * ldx + k]);
    kern_bf16_job j = {y, ldy, K, T, ldw, N, K, bf16_x, w, beta1};
    if ((double)T * (double)N * (double)K < 2e5 || gemm_threads() == 1)
        bf16_sel->nt_run(&j, 0, 1);
    else
        gemm_parallel(bf16_sel->nt_run, &j);
    return 0;
}

/* ---- entry points ----------------------------------------------------------------------- */

void gemm_nt(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t T, const void *w,
             mp_dtype dt, int64_t ldw, int64_t N, int64_t K, float beta)
{
    kern_job j = {
        y, ldy, ldx,     T,           ldw * (int64_t)dtype_size(dt), N, K, (int64_t)dtype_size(dt),
        x, w,   (int)dt, beta != 0.0f};
    const kern_isa *k = isa();
    if (T <= 0 || N <= 0) return;
    if (K <= 0) { /* an empty sum */
        if (!j.beta1)
            for (int64_t t = 0; t < T; t++) memset(y + t * ldy, 0, (size_t)N * sizeof *y);
        return;
    }
    if (bf16_on && dt == MP_BF16 && gemm_nt_bf16(y, ldy, x, ldx, T, w, ldw, N, K, j.beta1) == 0)
        return;
    /* small products are not worth waking the pool for */
    if ((double)T * (double)N * (double)K < 2e5 || gemm_threads() == 1)
        k->nt_run(&j, 0, 1);
    else
        gemm_parallel(k->nt_run, &j);
}

void gemm_nn(float *y, int64_t ldy, const float *x, int64_t ldx, int64_t T, const void *w,
             mp_dtype dt, int64_t ldw, int64_t N, int64_t K, float beta)
{
    kern_job j = {
        y, ldy, ldx,     T,           ldw * (int64_t)dtype_size(dt), N, K, (int64_t)dtype_size(dt),
        x, w,   (int)dt, beta != 0.0f};
    const kern_isa *k = isa();
    if (T <= 0 || K <= 0) return;
    if (N <= 0) {
        if (!j.beta1)
            for (int64_t t = 0; t < T; t++) memset(y + t * ldy, 0, (size_t)K * sizeof *y);
        return;
    }
    if ((double)T * (double)N * (double)K < 2e5 || gemm_threads() == 1)
        k->nn_run(&j, 0, 1);
    else
        gemm_parallel(k->nn_run, &j);
}

void gemm_silu_mul(float *g, const float *u, int64_t n)
{
    isa()->silu_mul(g, u, n);
}
