/* stats.h — the shared math of the analyses: metrics, the router's probability gap, Pearson r
 * with its two-sided p-value, rounding of stage boundaries. One place, used by every stage.
 * (The softmax is the forward pass's own, ops_softmax, so that an analysis recomputing router
 * probabilities gets the very numbers the model routed with.) */
#ifndef MOEPROBE_STATS_H
#define MOEPROBE_STATS_H

#include <stdint.h>

/* Gap between the k-th and (k+1)-th largest of p[n] (INFINITY if k >= n). */
double stats_kth_gap(const float *p, int64_t n, int64_t k);

/* HIT@10 and MRR of n ranks (docs/method.md): the share of ranks <= 10 and the mean of 1/rank;
 * 0 for n = 0. The one definition every stage and the report's numbers come from. */
void stats_hit_mrr(const int64_t *rank, int64_t n, double *hit10, double *mrr);
/* The summary of n evaluated samples (rank, logit margin): HIT@10, MRR and the smallest margin
 * (INFINITY for n = 0). */
typedef struct stats_eval {
    double hit10, mrr, min_margin;
} stats_eval;
stats_eval stats_evaluate(const int64_t *rank, const double *margin, int64_t n);

/* Pearson r of (x[i*sx], y[i*sy]) for i < n; NAN if either variable is constant. */
double stats_pearson(const double *x, int64_t sx, const double *y, int64_t sy, int64_t n);
/* Two-sided p-value of r over n samples: Student t with n-2 degrees of freedom,
 * t = r sqrt((n-2)/(1-r^2)). 0 when |r| = 1. */
double stats_pearson_p(double r, int64_t n);
/* Regularised incomplete beta I_x(a, b). */
double stats_betai(double a, double b, double x);

/* Stage boundaries (1-based inclusive): early = 1..round(f_early L), mid = ..round((f_early +
 * f_mid) L), late = the rest; round is half-up. An empty stage has first > last. */
void stats_stage_bounds(int64_t L, double f_early, double f_mid, int64_t first[3], int64_t last[3]);

#endif
