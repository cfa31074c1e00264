/* test_he_null.c — multiple-testing control of heads_experts (stages/heads_experts_null.c):
 *   - Benjamini-Hochberg q-values against values computed by hand (R's p.adjust "BH"), NaN
 *     entries left out;
 *   - the permutation null of the largest |r| is calibrated: on independent data its p-value
 *     is <= 0.05 about 5 % of the time (binomial bounds), and a planted correlation gets the
 *     smallest p it can;
 *   - blocks: variables that agree only through per-block offsets beat the null with one
 *     block (static reading) and not with one block per prompt (temporal reading);
 *   - the null is reproducible from its seed, differs across seeds, is sorted, and entries with
 *     expert layer < head layer take no part;
 *   - quantile and p-value helpers on a hand-made null. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "stages/heads_experts_null.h"
#include "tests/unit/check.h"

static uint64_t rs = 88172645463325252ull;
static double unif(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return ((double)(rs >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void)
{
    return sqrt(-2 * log(unif())) * cos(6.283185307179586 * unif());
}

static void bh_cases(void)
{
    /* p.adjust(c(0.01, 0.04, 0.03, 0.005, 0.2), "BH") = 0.025 0.05 0.05 0.025 0.2 */
    const double p[6] = {0.01, 0.04, 0.03, NAN, 0.005, 0.2};
    const double want[6] = {0.025, 0.05, 0.05, NAN, 0.025, 0.2};
    double q[6];
    int bad = he_bh_qvalues(p, 6, q) != 0;
    for (int k = 0; k < 6; k++) bad += isnan(want[k]) ? !isnan(q[k]) : fabs(q[k] - want[k]) > 1e-15;
    CHECK(!bad, "he_null/bh_qvalues", "q = %g %g %g %g %g %g", q[0], q[1], q[2], q[3], q[4], q[5]);
}

static void helper_cases(void)
{
    const double nul[5] = {0.1, 0.2, 0.3, 0.4, 0.5};
    CHECK(fabs(he_null_quantile(nul, 5, 0.5) - 0.3) < 1e-15 &&
              fabs(he_null_quantile(nul, 5, 0.9) - 0.46) < 1e-15,
          "he_null/quantile", "median %g, q90 %g", he_null_quantile(nul, 5, 0.5),
          he_null_quantile(nul, 5, 0.9));
    CHECK(he_null_p(nul, 5, 0.45) == 2.0 / 6 && he_null_p(nul, 5, 0.3) == 4.0 / 6 &&
              he_null_p(nul, 5, 0.9) == 1.0 / 6,
          "he_null/p_value", "p(0.45) %g, p(0.3) %g, p(0.9) %g", he_null_p(nul, 5, 0.45),
          he_null_p(nul, 5, 0.3), he_null_p(nul, 5, 0.9));
}

enum { N = 30, L = 2, NH = 2, E = 3, R = L * NH, C = L * E, B = 99 };

static double max_abs_r(const double *x, const double *y)
{
    double m = 0;
    for (int i = 0; i < R; i++)
        for (int j = (i / NH) * E; j < C; j++) {
            double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
            for (int t = 0; t < N; t++) {
                sx += x[t * R + i];
                sy += y[t * C + j];
            }
            for (int t = 0; t < N; t++) {
                double a = x[t * R + i] - sx / N, b = y[t * C + j] - sy / N;
                sxx += a * a;
                syy += b * b;
                sxy += a * b;
            }
            double r = fabs(sxy / sqrt(sxx * syy));
            if (r > m) m = r;
        }
    return m;
}

static void calibration(void)
{
    double x[N * R], y[N * C], nul[B];
    int64_t blk[2] = {0, N};
    he_null_in in = {x, y, N, R, C, NH, E, blk, 1};
    mp_err err = {0};
    int hits = 0, runs = 300, fail = 0;
    for (int d = 0; d < runs && !fail; d++) {
        for (int k = 0; k < N * R; k++) x[k] = gauss();
        for (int k = 0; k < N * C; k++) y[k] = gauss();
        fail = he_null_max(&in, B, 1000 + (uint64_t)d, nul, &err) != 0;
        hits += he_null_p(nul, B, max_abs_r(x, y)) <= 0.05;
    }
    /* Binomial(300, 0.05): mean 15, sd 3.8; outside [4, 28] has probability < 0.2 % */
    CHECK(!fail && hits >= 4 && hits <= 28, "he_null/calibrated_under_independence",
          "%d of %d independent data sets had p <= 0.05 (expected about 15)%s", hits, runs,
          fail ? ", he_null_max failed" : "");

    /* planted: expert column 4 (layer 1) follows head row 0 */
    for (int t = 0; t < N; t++) y[t * C + 4] = x[t * R + 0] + 0.3 * gauss();
    he_null_max(&in, B, 7, nul, &err);
    double obs = max_abs_r(x, y), p = he_null_p(nul, B, obs);
    CHECK(p == 1.0 / (B + 1) && nul[B - 1] < obs, "he_null/planted_correlation_found",
          "observed %.3f, null max %.3f, p %.3g", obs, nul[B - 1], p);

    /* sorted, reproducible, seed-dependent, within [0, 1] */
    double a[B], b[B];
    he_null_max(&in, B, 11, a, &err);
    he_null_max(&in, B, 11, b, &err);
    int sorted = 1;
    for (int k = 1; k < B; k++) sorted &= a[k - 1] <= a[k];
    CHECK(sorted && !memcmp(a, b, sizeof a) && a[0] >= 0 && a[B - 1] <= 1,
          "he_null/reproducible_sorted", "sorted %d, same %d", sorted, !memcmp(a, b, sizeof a));
    he_null_max(&in, B, 12, b, &err);
    CHECK(memcmp(a, b, sizeof a) != 0, "he_null/seed_changes_draws",
          "seeds 11 and 12 drew the same null");

    /* only l' >= l: a perfect copy of head row 2 (layer 1) in expert column 0 (layer 0) is not
     * a pair and may not reach 1 in the null */
    for (int k = 0; k < N * C; k++) y[k] = gauss();
    for (int t = 0; t < N; t++) y[t * C + 0] = x[t * R + 2];
    he_null_max(&in, B, 3, a, &err);
    CHECK(a[B - 1] < 0.99 && max_abs_r(x, y) < 0.99, "he_null/lower_layers_excluded",
          "null max %.3f, observed %.3f", a[B - 1], max_abs_r(x, y));
}

static void blocks(void)
{
    /* 6 prompts of 5 tokens: x and y share each prompt's offset, noise within */
    double x[N * R], y[N * C], nul[B];
    int64_t one[2] = {0, N}, per[7];
    for (int b = 0; b <= 6; b++) per[b] = 5 * b;
    for (int t = 0; t < N; t++) {
        double off = 3.0 * (double)(t / 5);
        for (int i = 0; i < R; i++) x[t * R + i] = off + gauss();
        for (int j = 0; j < C; j++) y[t * C + j] = off + gauss();
    }
    mp_err err = {0};
    he_null_in in = {x, y, N, R, C, NH, E, one, 1};
    he_null_max(&in, B, 5, nul, &err);
    double obs = max_abs_r(x, y), p_static = he_null_p(nul, B, obs);
    in.block = per;
    in.nb = 6;
    he_null_max(&in, B, 5, nul, &err);
    /* the within-prompt r: centre each prompt, then correlate */
    double xc[N * R], yc[N * C];
    memcpy(xc, x, sizeof xc);
    memcpy(yc, y, sizeof yc);
    for (int b = 0; b < 6; b++) {
        for (int i = 0; i < R; i++) {
            double m = 0;
            for (int t = 5 * b; t < 5 * b + 5; t++) m += xc[t * R + i] / 5;
            for (int t = 5 * b; t < 5 * b + 5; t++) xc[t * R + i] -= m;
        }
        for (int j = 0; j < C; j++) {
            double m = 0;
            for (int t = 5 * b; t < 5 * b + 5; t++) m += yc[t * C + j] / 5;
            for (int t = 5 * b; t < 5 * b + 5; t++) yc[t * C + j] -= m;
        }
    }
    double p_within = he_null_p(nul, B, max_abs_r(xc, yc));
    CHECK(p_static == 1.0 / (B + 1) && p_within > 0.05, "he_null/blocks_centre_and_shuffle_within",
          "static p %.3g (offsets shared: expected 0.01), within-prompt p %.3g (expected > 0.05)",
          p_static, p_within);
}

int main(void)
{
    bh_cases();
    helper_cases();
    calibration();
    blocks();
    return check_finish();
}
