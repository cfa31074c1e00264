/* stats.h — the shared math of the analyses: softmax, ranks and metrics, Pearson r with its
 * two-sided p-value, rounding of stage boundaries. One place, used by every stage. */
#ifndef MOEPROBE_STATS_H
#define MOEPROBE_STATS_H

#include <stdint.h>

/* In-place softmax of n floats (double accumulation). */
void stats_softmax_f(float *p, int64_t n);
/* Gap between the k-th and (k+1)-th largest of p[n] (INFINITY if k >= n). */
double stats_kth_gap(const float *p, int64_t n, int64_t k);

/* HIT@10 and MRR of n ranks. */
void stats_hit_mrr(const int64_t *rank, int64_t n, double *hit10, double *mrr);

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
