/* heads_experts_null.h — the permutation null of the largest |r| and the Benjamini-Hochberg
 * q-values of the heads_experts analysis (stages/heads_experts_null.c). Pure functions, unit
 * tested in tests/unit/test_heads_experts.c. */
#ifndef MOEPROBE_HEADS_EXPERTS_NULL_H
#define MOEPROBE_HEADS_EXPERTS_NULL_H

#include <stdint.h>

#include "pipeline/util/error.h"

/* N observations of R head variables x [N*R] and C expert variables y [N*C] (row-major, not
 * modified); observations are grouped in nb blocks [block[b], block[b+1]) within which the
 * variables are centred and shuffled (static: one block; temporal: one per prompt). Entries
 * with expert layer j / E < head layer i / nH take no part. */
typedef struct he_null_in {
    const double *x, *y;
    int64_t N, R, C, nH, E;
    const int64_t *block;
    int64_t nb;
} he_null_in;

/* The seed of one relation's permutations: heads_experts.seed mixed with the relation id, so
 * relations draw different permutations and a rerun draws the same ones. */
uint64_t he_null_seed(uint64_t seed, const char *rel);

/* B draws of the largest |r| with the pairing of x and y shuffled; null_max[B] is returned
 * sorted ascending. */
int he_null_max(const he_null_in *in, int64_t B, uint64_t seed, double *null_max, mp_err *err);

/* Quantile `level` of the sorted null (linear interpolation, numpy's default). */
double he_null_quantile(const double *sorted, int64_t B, double level);

/* Family-wise p-value of |r| against the null of the maximum: (1 + #{null >= |r|}) / (B + 1). */
double he_null_p(const double *sorted, int64_t B, double abs_r);

/* Benjamini-Hochberg q-values of p[n] (NaN entries take no part and stay NaN); -1 when out of
 * memory. */
int he_bh_qvalues(const double *p, int64_t n, double *q);

#endif
