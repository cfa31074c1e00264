/* test_heads_experts.c — the expert-forcing rule of the heads_experts stage and of the forward
 * pass (pipeline/forward/moe.c route_token), on the three MoE fixture models:
 *   - he_forced_weight on hand-made probabilities (replacement of the k-th member, ties,
 *     renormalisation over the final set);
 *   - unforced forward: wherever an expert is selected, he_forced_weight gives exactly its
 *     hooked top-k weight (so w0 equals the weight "it had without suppression");
 *   - forced forward with per-token force_weight: the forced expert is in the top-k at every
 *     position with exactly its force_weight, and every other selected expert j gets the model's
 *     rule over the final set S' (p_j, or p_j / sum_{i in S'} p_i with the forced expert at its
 *     own p), in the slots the refs-analyses README describes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/forward/forward.h"
#include "pipeline/forward/hook_store.h"
#include "pipeline/ops/ops.h"
#include "stages/heads_experts.h"
#include "tests/unit/check.h"

static void rule_cases(void)
{
    const float p[4] = {0.1f, 0.4f, 0.2f, 0.3f};
    CHECK(he_forced_weight(p, 4, 2, 0, 0) == p[0], "he_forced_weight/absent_plain", "got %g",
          he_forced_weight(p, 4, 2, 0, 0));
    float w = he_forced_weight(p, 4, 2, 0, 1);
    CHECK(w == (float)(0.1f / ((double)0.4f + 0.1f)), "he_forced_weight/absent_renorm",
          "got %.9g, expected p0 / (p1 + p0)", w);
    w = he_forced_weight(p, 4, 2, 3, 1);
    CHECK(w == (float)(0.3f / ((double)0.4f + 0.3f)), "he_forced_weight/present_renorm", "got %.9g",
          w);
    const float q[4] = {0.25f, 0.25f, 0.25f, 0.25f};
    /* ties go to the lower id: top-2 = {0, 1}; expert 3 replaces 1 */
    w = he_forced_weight(q, 4, 2, 3, 1);
    CHECK(w == 0.5f, "he_forced_weight/ties", "got %.9g", w);
    w = he_forced_weight(q, 4, 2, 1, 1);
    CHECK(w == 0.5f, "he_forced_weight/tie_selected", "got %.9g", w);
}

/* Expected slots: top-k in (p desc, id asc) order, e in the k-th slot if absent. */
static void expected_slots(const float *p, int E, int k, int e, int *slot)
{
    int taken[1024] = {0}, present = 0;
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int x = 0; x < E; x++)
            if (!taken[x] && (best < 0 || p[x] > p[best])) best = x;
        slot[j] = best;
        taken[best] = 1;
        present |= best == e;
    }
    if (e >= 0 && !present) slot[k - 1] = e;
}

static void model_case(const char *name)
{
    char dir[4096], label[256];
    mp_model m;
    mp_err err;
    fwd_ctx *f = NULL;
    hook_store *st = hook_store_new();
    static const int32_t s0[] = {1, 5, 17, 42, 100, 7, 300, 23, 2, 9};
    static const int32_t s1[] = {1, 64, 3, 250, 11, 12, 88};
    const int32_t *ids[2] = {s0, s1};
    int len[2] = {10, 7};
    const int T = 17;
    float fw[17];
    model_init(&m);
    err_init(&err);
    snprintf(dir, sizeof dir, "%s", check_shared_path("fixtures/models/"));
    strncat(dir, name, sizeof dir - strlen(dir) - 1);
    snprintf(label, sizeof label, "heads_experts/%s/load", name);
    if (!CHECK(st && model_load(&m, dir, &err) == 0 && fwd_init(&f, &m, NULL, &err) == 0, label,
               "%s", err.msg))
        goto done;
    const int E = (int)m.cfg.num_experts, k = (int)m.cfg.num_experts_per_tok;
    const int L = (int)m.cfg.num_hidden_layers, lf = L - 1, ef = E - 1;
    const int renorm = m.cfg.norm_topk_prob;
    hook_set hs;
    hook_set_init(&hs);
    hook_request_all(&hs, HP_ROUTER_LOGITS, HOOK_POS_ALL);
    hook_request_all(&hs, HP_TOPK_IDX, HOOK_POS_ALL);
    hook_request_all(&hs, HP_TOPK_WEIGHT, HOOK_POS_ALL);
    hs.sink = hook_store_sink;
    hs.sink_ctx = st;
    fwd_batch b = {2, ids, len, NULL};
    float p[1024];

    /* unforced: w0 = the hooked weight wherever the expert is selected */
    snprintf(label, sizeof label, "heads_experts/%s/w0_equals_model_weight", name);
    if (fwd_run(f, &b, &hs, NULL, NULL, &err) != 0) {
        CHECK(0, label, "%s", err.msg);
        goto done;
    }
    int checked = 0, bad = 0;
    for (int s = 0; s < 2; s++)
        for (int t = 0; t < len[s]; t++)
            for (int l = 0; l < L; l++) {
                const hook_record *rl = hook_store_find(st, HP_ROUTER_LOGITS, s, l, t, -1);
                const hook_record *ri = hook_store_find(st, HP_TOPK_IDX, s, l, t, -1);
                const hook_record *rw = hook_store_find(st, HP_TOPK_WEIGHT, s, l, t, -1);
                if (!rl || !ri || !rw) continue;
                memcpy(p, rl->data, (size_t)E * sizeof *p);
                ops_softmax(p, E);
                for (int j = 0; j < k; j++) {
                    int e = ((const int32_t *)ri->data)[j];
                    checked++;
                    bad += he_forced_weight(p, E, k, e, renorm) != ((const float *)rw->data)[j];
                }
            }
    CHECK(checked > 0 && bad == 0, label, "%d of %d selected weights differ", bad, checked);

    /* forced at the last layer, expert E-1, distinct weights per token */
    for (int t = 0; t < T; t++) fw[t] = 0.05f + 0.01f * (float)t;
    intervention iv;
    intervention_init(&iv);
    iv.force_layer = lf;
    iv.force_expert = ef;
    iv.force_weight = fw;
    hook_store_clear(st);
    snprintf(label, sizeof label, "heads_experts/%s/forced_route", name);
    if (fwd_run(f, &b, &hs, &iv, NULL, &err) != 0) {
        CHECK(0, label, "%s", err.msg);
        goto done;
    }
    checked = bad = 0;
    int replaced = 0;
    double worst = 0;
    for (int s = 0, tok = 0; s < 2; s++)
        for (int t = 0; t < len[s]; t++, tok++) {
            const hook_record *rl = hook_store_find(st, HP_ROUTER_LOGITS, s, lf, t, -1);
            const hook_record *ri = hook_store_find(st, HP_TOPK_IDX, s, lf, t, -1);
            const hook_record *rw = hook_store_find(st, HP_TOPK_WEIGHT, s, lf, t, -1);
            if (!rl || !ri || !rw) {
                bad++;
                continue;
            }
            int slot[1024], plain[1024];
            memcpy(p, rl->data, (size_t)E * sizeof *p);
            ops_softmax(p, E);
            expected_slots(p, E, k, ef, slot);
            expected_slots(p, E, k, -1, plain);
            replaced += slot[k - 1] != plain[k - 1];
            double sum = 0;
            for (int j = 0; j < k; j++) sum += p[slot[j]];
            for (int j = 0; j < k; j++) {
                int e = ((const int32_t *)ri->data)[j];
                float got = ((const float *)rw->data)[j];
                double want = e == ef ? fw[tok] : renorm ? p[e] / sum : p[e];
                checked++;
                if (e != slot[j]) bad++;
                double d = fabs(got - want);
                if (d > worst) worst = d;
                if (d > 1e-7) bad++;
            }
        }
    CHECK(checked == T * k && bad == 0 && replaced > 0, label,
          "%d problems in %d slots (%d positions where the expert replaced the k-th), worst "
          "|diff| %.3g",
          bad, checked, replaced, worst);
done:
    fwd_free(f);
    model_free(&m);
    hook_store_free(st);
}

int main(void)
{
    rule_cases();
    model_case("olmoe");
    model_case("qwen2moe");
    model_case("mixtral");
    return check_finish();
}
