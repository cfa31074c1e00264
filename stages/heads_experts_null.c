/* heads_experts_null.c — multiple-testing control of the head x expert correlations of one
 * relation (docs/method.md, "Multiple testing"): a permutation null for the largest |r| of the
 * matrix and Benjamini-Hochberg q-values of the per-pair p-values.
 *
 * Why a permutation null: the hundreds of head x expert tests of a relation are strongly
 * dependent (heads of one layer, experts sharing a softmax), so neither Bonferroni nor BH on
 * their own say how large the largest |r| gets by chance with n samples. Shuffling which
 * observation a head's values belong to (within a block: the whole relation for the static
 * correlation, one prompt for the temporal one) keeps both marginal structures and breaks
 * only the pairing; the largest |r| of each shuffled matrix is one draw of the null. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stages/heads_experts_null.h"

/* splitmix64: small, seedable, the same stream on every CPU and compiler */
static uint64_t sm64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) without modulo bias (rejection of the short last interval). */
static uint64_t below(uint64_t *s, uint64_t n)
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % n, v;
    do v = sm64(s);
    while (v >= lim);
    return v % n;
}

uint64_t he_null_seed(uint64_t seed, const char *rel)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a of the relation id */
    for (const unsigned char *p = (const unsigned char *)rel; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return seed ^ h;
}

/* Centres each column within its block and scales it to unit sum of squares over all
 * observations; a constant column becomes 0 (its r is undefined and never the maximum). */
static void standardise(double *v, int64_t N, int64_t K, const int64_t *block, int64_t nb)
{
    for (int64_t b = 0; b < nb; b++) {
        int64_t t0 = block[b], t1 = block[b + 1];
        if (t1 <= t0) continue;
        for (int64_t k = 0; k < K; k++) {
            double m = 0;
            for (int64_t t = t0; t < t1; t++) m += v[t * K + k];
            m /= (double)(t1 - t0);
            for (int64_t t = t0; t < t1; t++) v[t * K + k] -= m;
        }
    }
    for (int64_t k = 0; k < K; k++) {
        double s = 0;
        for (int64_t t = 0; t < N; t++) s += v[t * K + k] * v[t * K + k];
        double f = s > 0 ? 1.0 / sqrt(s) : 0.0;
        for (int64_t t = 0; t < N; t++) v[t * K + k] *= f;
    }
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int he_null_max(const he_null_in *in, int64_t B, uint64_t seed, double *null_max, mp_err *err)
{
    const int64_t N = in->N, R = in->R, C = in->C;
    double *x = malloc((size_t)(N * R + 1) * sizeof *x),
           *y = malloc((size_t)(N * C + 1) * sizeof *y);
    double *xp = malloc((size_t)(N * R + 1) * sizeof *xp),
           *m = malloc((size_t)(R * C + 1) * sizeof *m);
    int64_t *perm = malloc((size_t)(N + 1) * sizeof *perm);
    int rc = -1;
    if (!x || !y || !xp || !m || !perm) {
        err_set(err, "heads_experts: out of memory for the permutation null (%lld observations)",
                (long long)N);
        goto done;
    }
    memcpy(x, in->x, (size_t)(N * R) * sizeof *x);
    memcpy(y, in->y, (size_t)(N * C) * sizeof *y);
    standardise(x, N, R, in->block, in->nb);
    standardise(y, N, C, in->block, in->nb);
    uint64_t s = seed;
    /* one OpenBLAS thread: dgemm's sums then follow its shape only, not the cores each rank
     * has, so the null is the same bits for any rank count (as pipeline/ops/kern.h's products) */
    openblas_set_num_threads(1);
    for (int64_t t = 0; t < N; t++) perm[t] = t;
    for (int64_t b = 0; b < B; b++) {
        /* Fisher-Yates within each block; the permutation carries over, which is still a
         * uniform draw */
        for (int64_t k = 0; k < in->nb; k++)
            for (int64_t t = in->block[k + 1] - 1; t > in->block[k]; t--) {
                int64_t u = in->block[k] + (int64_t)below(&s, (uint64_t)(t - in->block[k] + 1));
                int64_t w = perm[t];
                perm[t] = perm[u];
                perm[u] = w;
            }
        for (int64_t t = 0; t < N; t++) memcpy(xp + t * R, x + perm[t] * R, (size_t)R * sizeof *xp);
        /* m = xp^T y: [R, C] correlations of the shuffled pairing */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)R, (int)C, (int)N, 1.0, xp,
                    (int)R, y, (int)C, 0.0, m, (int)C);
        double mx = 0;
        for (int64_t i = 0; i < R; i++)
            for (int64_t j = (i / in->nH) * in->E; j < C; j++) { /* l' >= l only */
                double a = fabs(m[i * C + j]);
                if (a > mx) mx = a;
            }
        null_max[b] = mx > 1 ? 1 : mx;
    }
    qsort(null_max, (size_t)B, sizeof *null_max, cmp_dbl);
    rc = 0;
done:
    free(x);
    free(y);
    free(xp);
    free(m);
    free(perm);
    return rc;
}

double he_null_quantile(const double *sorted, int64_t B, double level)
{
    if (B <= 0) return NAN;
    /* type 7 (linear between order statistics), as numpy's default */
    double h = (double)(B - 1) * level;
    int64_t lo = (int64_t)floor(h);
    if (lo >= B - 1) return sorted[B - 1];
    return sorted[lo] + (h - (double)lo) * (sorted[lo + 1] - sorted[lo]);
}

double he_null_p(const double *sorted, int64_t B, double abs_r)
{
    /* (1 + #{null >= |r|}) / (B + 1): never 0, exact under the null */
    int64_t lo = 0, hi = B;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] >= abs_r)
            hi = mid;
        else
            lo = mid + 1;
    }
    return (double)(1 + B - lo) / (double)(B + 1);
}

typedef struct pidx {
    double p;
    int64_t k;
} pidx;

static int cmp_pidx(const void *a, const void *b)
{
    const pidx *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? -1 : 1;
    return (x->k > y->k) - (x->k < y->k);
}

int he_bh_qvalues(const double *p, int64_t n, double *q)
{
    pidx *v = malloc((size_t)(n + 1) * sizeof *v);
    int64_t m = 0;
    if (!v) return -1;
    for (int64_t k = 0; k < n; k++) {
        q[k] = NAN;
        if (!isnan(p[k])) v[m++] = (pidx){p[k], k};
    }
    qsort(v, (size_t)m, sizeof *v, cmp_pidx);
    double run = 1.0;
    for (int64_t t = m - 1; t >= 0; t--) {
        double c = v[t].p * (double)m / (double)(t + 1);
        if (c < run) run = c;
        q[v[t].k] = run;
    }
    free(v);
    return 0;
}
