/* test_routing.c — the MoE top-k routing rule (pipeline/forward/routing.h) that the forward pass
 * and heads_experts share: slot order with ties, NaN probabilities, forcing, emptied slots and
 * renormalisation, and a router wider than any fixed scratch array. The rule against the real
 * forward pass is checked in test_heads_experts (hooked top-k weights of the fixture models). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/forward/routing.h"
#include "tests/unit/check.h"

static int same(const int *a, const int *b, int n)
{
    return !memcmp(a, b, (size_t)n * sizeof *a);
}

int main(void)
{
    const float p[6] = {0.10f, 0.30f, 0.05f, 0.30f, 0.20f, 0.05f};
    int idx[4];
    routing_topk(p, 6, 4, idx);
    CHECK(same(idx, (const int[]){1, 3, 4, 0}, 4), "routing/topk_ties_lower_id_first",
          "got %d %d %d %d, expected 1 3 4 0", idx[0], idx[1], idx[2], idx[3]);
    routing_topk(p, 6, 1, idx);
    CHECK(idx[0] == 1, "routing/top1", "got %d", idx[0]);

    const float q[4] = {NAN, 0.2f, NAN, 0.1f};
    routing_topk(q, 4, 3, idx);
    CHECK(same(idx, (const int[]){1, 3, 0}, 3), "routing/nan_ranks_last",
          "got %d %d %d, expected 1 3 0", idx[0], idx[1], idx[2]);

    int f[3] = {4, 1, 3};
    routing_force(f, 3, 0);
    CHECK(same(f, (const int[]){4, 1, 0}, 3), "routing/force_absent_takes_last_slot",
          "got %d %d %d", f[0], f[1], f[2]);
    routing_force(f, 3, 4);
    CHECK(same(f, (const int[]){4, 1, 0}, 3), "routing/force_present_unchanged", "got %d %d %d",
          f[0], f[1], f[2]);

    float w[3];
    const int s[3] = {1, -1, 4};
    routing_weights(p, s, 3, 0, w);
    CHECK(w[0] == p[1] && w[1] == 0.0f && w[2] == p[4], "routing/weights_plain", "got %g %g %g",
          w[0], w[1], w[2]);
    routing_weights(p, s, 3, 1, w);
    CHECK(w[0] == (float)(p[1] / ((double)p[1] + p[4])) && w[1] == 0.0f &&
              w[2] == (float)(p[4] / ((double)p[1] + p[4])),
          "routing/weights_renormalised_over_filled_slots", "got %g %g %g", w[0], w[1], w[2]);

    /* more experts than the 1024 the forward pass once kept on its stack */
    const int E = 3000;
    float *big = malloc((size_t)E * sizeof *big);
    int ok = big != NULL;
    for (int e = 0; ok && e < E; e++) big[e] = (float)((e * 7919) % E) / (float)E;
    if (ok) {
        routing_topk(big, E, 4, idx);
        for (int j = 0; j < 4; j++) ok &= big[idx[j]] == (float)(E - 1 - j) / (float)E;
    }
    CHECK(ok, "routing/wide_router", "top-4 of %d experts wrong", E);
    free(big);

    /* routing_gap: the screened evaluation's distance from a routing tie */
    const float pg[5] = {0.1f, 0.4f, 0.05f, 0.3f, 0.15f}; /* order 1, 3, 4, 0, 2 */
    float g = routing_gap(pg, 5, 2, 0);
    CHECK(g == 0.3f - 0.15f, "routing/gap_kth", "p(2) - p(3): got %.9g", g);
    g = routing_gap(pg, 5, 3, 1);
    CHECK(g == 0.15f - 0.1f, "routing/gap_adjacent", "smallest p(j) - p(j+1), j <= 3: got %.9g", g);
    g = routing_gap(pg, 5, 2, 1);
    CHECK(g == 0.4f - 0.3f, "routing/gap_adjacent_k2", "got %.9g", g);
    CHECK(isinf(routing_gap(pg, 5, 5, 0)), "routing/gap_k_equals_E", "expected infinity");
    const float tie[3] = {0.25f, 0.5f, 0.25f};
    CHECK(routing_gap(tie, 3, 2, 0) == 0.0f, "routing/gap_tie", "a tie at the boundary is 0");
    const float blocked[3] = {-INFINITY, 1.0f, -INFINITY}; /* router logits, two blocked */
    CHECK(routing_gap(blocked, 3, 2, 0) == 0.0f, "routing/gap_blocked_tie",
          "two blocked experts at the boundary tie: got %g", routing_gap(blocked, 3, 2, 0));
    CHECK(isinf(routing_gap(blocked, 3, 1, 0)), "routing/gap_blocked_clear",
          "a finite logit above blocked ones is clear: got %g", routing_gap(blocked, 3, 1, 0));
    return check_finish();
}
