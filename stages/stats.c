/* stats.c — see stats.h. The incomplete beta function uses the continued fraction of Lentz's
 * method (as in Numerical Recipes' betacf), accurate to ~1e-14 for the p-values reported. */
#include "stages/stats.h"

#include <math.h>

double stats_kth_gap(const float *p, int64_t n, int64_t k)
{
    /* the k-th and (k+1)-th largest values by partial selection */
    if (k <= 0 || k >= n) return INFINITY;
    double kth = INFINITY, next = -INFINITY;
    /* count how many are >= v for each candidate: O(n^2) is fine for n <= a few hundred */
    for (int64_t i = 0; i < n; i++) {
        int64_t greater = 0, equal_before = 0;
        for (int64_t j = 0; j < n; j++) {
            if (p[j] > p[i])
                greater++;
            else if (p[j] == p[i] && j < i)
                equal_before++;
        }
        int64_t pos = greater + equal_before; /* 0-based position in descending order */
        if (pos == k - 1) kth = p[i];
        if (pos == k) next = p[i];
    }
    return kth - next;
}

void stats_hit_mrr(const int64_t *rank, int64_t n, double *hit10, double *mrr)
{
    double h = 0, m = 0;
    for (int64_t i = 0; i < n; i++) {
        h += rank[i] <= 10;
        m += 1.0 / (double)rank[i];
    }
    *hit10 = n ? h / (double)n : 0;
    *mrr = n ? m / (double)n : 0;
}

stats_eval stats_evaluate(const int64_t *rank, const double *margin, int64_t n)
{
    stats_eval e = {0, 0, INFINITY};
    stats_hit_mrr(rank, n, &e.hit10, &e.mrr);
    for (int64_t i = 0; i < n; i++)
        if (margin[i] < e.min_margin) e.min_margin = margin[i];
    return e;
}

double stats_pearson(const double *x, int64_t sx, const double *y, int64_t sy, int64_t n)
{
    double mx = 0, my = 0;
    for (int64_t i = 0; i < n; i++) {
        mx += x[i * sx];
        my += y[i * sy];
    }
    mx /= (double)n;
    my /= (double)n;
    double sxy = 0, sxx = 0, syy = 0;
    for (int64_t i = 0; i < n; i++) {
        double a = x[i * sx] - mx, b = y[i * sy] - my;
        sxy += a * b;
        sxx += a * a;
        syy += b * b;
    }
    if (sxx == 0 || syy == 0) return NAN;
    double r = sxy / sqrt(sxx * syy);
    return r > 1 ? 1 : r < -1 ? -1 : r;
}

static double betacf(double a, double b, double x)
{
    const double FPMIN = 1e-300, EPS = 1e-15;
    double qab = a + b, qap = a + 1, qam = a - 1, c = 1, d = 1 - qab * x / qap;
    if (fabs(d) < FPMIN) d = FPMIN;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 10000; m++) {
        int m2 = 2 * m;
        double aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1 + aa * d;
        if (fabs(d) < FPMIN) d = FPMIN;
        c = 1 + aa / c;
        if (fabs(c) < FPMIN) c = FPMIN;
        d = 1 / d;
        h *= d * c;
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1 + aa * d;
        if (fabs(d) < FPMIN) d = FPMIN;
        c = 1 + aa / c;
        if (fabs(c) < FPMIN) c = FPMIN;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < EPS) break;
    }
    return h;
}

double stats_betai(double a, double b, double x)
{
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    double bt = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1) / (a + b + 2)) return bt * betacf(a, b, x) / a;
    return 1 - bt * betacf(b, a, 1 - x) / b;
}

double stats_pearson_p(double r, int64_t n)
{
    if (isnan(r) || n < 3) return NAN;
    if (fabs(r) >= 1) return 0;
    double df = (double)(n - 2);
    double t = r * sqrt(df / (1 - r * r));
    /* two-sided: P(|T| > |t|) = I_{df/(df+t^2)}(df/2, 1/2) */
    return stats_betai(df / 2, 0.5, df / (df + t * t));
}

void stats_stage_bounds(int64_t L, double f_early, double f_mid, int64_t first[3], int64_t last[3])
{
    int64_t e = (int64_t)floor(f_early * (double)L + 0.5);
    int64_t m = (int64_t)floor((f_early + f_mid) * (double)L + 0.5);
    if (e > L) e = L;
    if (m > L) m = L;
    if (m < e) m = e;
    first[0] = 1;
    last[0] = e;
    first[1] = e + 1;
    last[1] = m;
    first[2] = m + 1;
    last[2] = L;
}
