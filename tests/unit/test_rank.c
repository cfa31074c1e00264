/* test_rank.c — the evaluation rank rule (runner_rank, docs/method.md "Evaluation"): ties with the
 * target count against it, so a constant output ranks the target last; a NaN or Inf logit
 * anywhere, or a target outside the vocabulary, is an error instead of a rank (a NaN compares
 * false with everything and would otherwise come out rank 1, HIT@10 = MRR = 1). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/runner/runner.h"
#include "tests/unit/check.h"

int main(void)
{
    int64_t rank = -7;
    double margin = -7;
    mp_err err;
    err_init(&err);

    const float a[5] = {0.5f, 2.0f, 1.0f, -3.0f, 1.5f};
    int rc = runner_rank(a, 5, 2, &rank, &margin, &err);
    CHECK(rc == 0 && rank == 3 && fabs(margin - 0.5) < 1e-12, "rank/strictly_above",
          "rc=%d rank=%lld margin=%g, expected 0 3 0.5", rc, (long long)rank, margin);
    rc = runner_rank(a, 5, 1, &rank, &margin, &err);
    CHECK(rc == 0 && rank == 1, "rank/top_is_one", "rc=%d rank=%lld", rc, (long long)rank);

    /* two logits equal to the target's: both count */
    const float t[6] = {1.0f, 3.0f, 1.0f, 1.0f, 0.0f, -1.0f};
    rc = runner_rank(t, 6, 2, &rank, &margin, &err);
    CHECK(rc == 0 && rank == 4 && margin == 0.0, "rank/ties_count_against_target",
          "rc=%d rank=%lld margin=%g, expected rank 4 (1 above + 2 tied) margin 0", rc,
          (long long)rank, margin);
    /* a constant output: last, not first */
    const float c[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    rc = runner_rank(c, 4, 0, &rank, &margin, &err);
    CHECK(rc == 0 && rank == 4, "rank/constant_output_ranks_last", "rc=%d rank=%lld", rc,
          (long long)rank);
    /* -0.0 == +0.0 is a tie too */
    const float z[2] = {-0.0f, 0.0f};
    rc = runner_rank(z, 2, 1, &rank, &margin, &err);
    CHECK(rc == 0 && rank == 2, "rank/signed_zero_tie", "rc=%d rank=%lld", rc, (long long)rank);

    /* non-finite logits are never ranked */
    float n[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    n[1] = NAN;
    err_init(&err);
    rank = -7;
    rc = runner_rank(n, 4, 1, &rank, &margin, &err);
    CHECK(rc == -1 && rank == -7 && strstr(err.msg, "token 1 is NaN"), "rank/nan_target_is_error",
          "rc=%d rank=%lld msg=%s", rc, (long long)rank, err.msg);
    err_init(&err);
    rc = runner_rank(n, 4, 3, &rank, &margin, &err);
    CHECK(rc == -1 && strstr(err.msg, "token 1 is NaN"), "rank/nan_elsewhere_is_error",
          "rc=%d msg=%s", rc, err.msg);
    n[1] = 0.2f;
    n[0] = -INFINITY;
    err_init(&err);
    rc = runner_rank(n, 4, 3, &rank, &margin, &err);
    CHECK(rc == -1 && strstr(err.msg, "token 0 is -Inf"), "rank/minus_inf_is_error", "rc=%d msg=%s",
          rc, err.msg);
    n[0] = 0.1f;
    n[3] = INFINITY;
    err_init(&err);
    rc = runner_rank(n, 4, 3, &rank, &margin, &err);
    CHECK(rc == -1 && strstr(err.msg, "token 3 is +Inf"), "rank/plus_inf_target_is_error",
          "rc=%d msg=%s", rc, err.msg);
    n[3] = 0.4f;
    err_init(&err);
    rc = runner_rank(n, 4, 4, &rank, &margin, &err);
    CHECK(rc == -1 && strstr(err.msg, "outside the vocabulary 0..3"), "rank/target_out_of_range",
          "rc=%d msg=%s", rc, err.msg);
    err_init(&err);
    rc = runner_rank(n, 4, -1, &rank, &margin, &err);
    CHECK(rc == -1, "rank/negative_target", "rc=%d", rc);
    return check_finish();
}
