/* test_neurons_math.c — the neuron analyses' set arithmetic (stages/neurons_math.h) on
 * hand-made top-N lists whose answers are worked out by hand in the comments: kinds, shares,
 * pairwise and cross-family overlaps, unions, rankings with ties, and the bad inputs. */
#include <math.h>
#include <string.h>

#include "stages/neurons_math.h"
#include "tests/unit/check.h"

static int near(double a, double b)
{
    return fabs(a - b) <= 1e-12;
}

/* L = 3, layer 0 dense, layers 1-2 MoE with 4 routed experts of 8 neurons and a shared expert
 * of 16; the dense MLP has 32. */
static const int MOE_LAYERS[3] = {0, 1, 1};
static const nm_model QWEN = {3, 4, MOE_LAYERS, 8, 16, 32};

/* N = 4. Kinds: s0 shared 2 routed 1 dense 1; s1 shared 1 routed 2 (+ padding); s2 shared 3
 * routed 1. */
/* clang-format off */
static const int32_t TOP[3 * 4 * 3] = {
    1, -1, 3, 1, 2, 5, 0, -1, 7, 2, -1, 3,
    1, -1, 3, 2, 1, 0, 1, 2, 5, -1, -1, -1,
    2, -1, 3, 1, -1, 3, 2, -1, 9, 1, 2, 6,
};
/* clang-format on */

static void test_classify(void)
{
    mp_err err;
    nm_kind k = NM_KIND_COUNT;
    err_init(&err);
    int32_t e1[3] = {1, -1, 15}, e2[3] = {1, 3, 7}, e3[3] = {0, -1, 31}, pad[3] = {-1, -1, -1};
    CHECK(nm_classify(&QWEN, e1, &k, &err) == 1 && k == NM_SHARED, "classify/shared", "k=%d", k);
    CHECK(nm_classify(&QWEN, e2, &k, &err) == 1 && k == NM_ROUTED, "classify/routed", "k=%d", k);
    CHECK(nm_classify(&QWEN, e3, &k, &err) == 1 && k == NM_DENSE, "classify/dense_layer_of_moe",
          "k=%d", k);
    CHECK(nm_classify(&QWEN, pad, &k, &err) == 0, "classify/padding", "not padding");
    const struct {
        int32_t e[3];
        const char *name, *needle;
    } bad[] = {
        {{3, -1, 0}, "classify/bad_layer", "layer 3 is outside 0..2"},
        {{0, 1, 0}, "classify/expert_in_dense_layer", "which is dense"},
        {{1, 4, 0}, "classify/bad_expert", "expert 4 does not exist"},
        {{1, -2, 0}, "classify/bad_expert_negative", "expert -2"},
        {{1, 0, 8}, "classify/routed_neuron_range", "neuron 8 is outside 0..7"},
        {{2, -1, 16}, "classify/shared_neuron_range", "neuron 16 is outside 0..15"},
        {{0, -1, 32}, "classify/dense_neuron_range", "neuron 32 is outside 0..31"},
        {{-1, -1, 0}, "classify/partial_padding", "layer -1"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err_init(&err);
        int r = nm_classify(&QWEN, bad[i].e, &k, &err);
        CHECK(r == -1 && strstr(err.msg, bad[i].needle), bad[i].name, "r=%d msg '%s'", r, err.msg);
    }
    /* Mixtral-like: MoE without a shared expert; dense model */
    const nm_model mix = {2, 8, NULL, 16, 0, 0}, dense = {2, 0, NULL, 0, 0, 16};
    int32_t sh[3] = {1, -1, 0}, d1[3] = {1, -1, 15}, d2[3] = {1, 0, 4};
    err_init(&err);
    CHECK(nm_classify(&mix, sh, &k, &err) == -1 && strstr(err.msg, "without a shared expert"),
          "classify/no_shared_expert", "msg '%s'", err.msg);
    CHECK(nm_classify(&dense, d1, &k, &err) == 1 && k == NM_DENSE, "classify/dense_model", "k=%d",
          k);
    err_init(&err);
    CHECK(nm_classify(&dense, d2, &k, &err) == -1, "classify/dense_model_expert", "accepted");
}

static void test_keys(void)
{
    const int32_t cases[4][3] = {{0, -1, 0}, {5, 3, 17}, {65535, 1048574, 268435455}, {2, -1, 9}};
    int ok = 1;
    for (int i = 0; i < 4; i++) {
        int32_t e[3];
        nm_unkey(nm_key(cases[i][0], cases[i][1], cases[i][2]), e);
        ok &= !memcmp(e, cases[i], sizeof e);
    }
    CHECK(ok, "keys/roundtrip", "a key does not decode to its triple");
    /* key order = (layer, expert, neuron) order, expert -1 first */
    CHECK(nm_key(1, -1, 100) < nm_key(1, 0, 0) && nm_key(1, 7, 5) < nm_key(2, -1, 0) &&
              nm_key(1, 2, 5) < nm_key(1, 2, 6),
          "keys/order", "order differs");
}

static void test_sets(void)
{
    mp_err err;
    nm_sets all = {0}, sh = {0}, ro = {0};
    int64_t counts[9];
    err_init(&err);
    int r = nm_sets_build(&QWEN, TOP, 3, 4, NM_MASK_ALL, "test", &all, counts, &err);
    if (!CHECK(r == 0, "sets/build", "%s", err.msg)) return;
    const int64_t want_counts[9] = {2, 1, 1, 1, 2, 0, 3, 1, 0};
    CHECK(!memcmp(counts, want_counts, sizeof counts), "sets/counts_per_kind",
          "got %lld %lld %lld / %lld %lld %lld / %lld %lld %lld", (long long)counts[0],
          (long long)counts[1], (long long)counts[2], (long long)counts[3], (long long)counts[4],
          (long long)counts[5], (long long)counts[6], (long long)counts[7], (long long)counts[8]);
    CHECK(all.off[1] == 4 && all.off[2] == 7 && all.off[3] == 11, "sets/sizes",
          "off %lld %lld %lld", (long long)all.off[1], (long long)all.off[2],
          (long long)all.off[3]);
    CHECK(all.key[0] == nm_key(0, -1, 7) && all.key[1] == nm_key(1, -1, 3) &&
              all.key[2] == nm_key(1, 2, 5) && all.key[3] == nm_key(2, -1, 3),
          "sets/sorted", "s0 not sorted");

    /* shares: s0 (.5, .25, .25), s1 (1/3, 2/3, 0), s2 (.75, .25, 0) -> 19/36, 7/18, 1/12 */
    double share[3];
    int64_t used;
    nm_kind_shares(counts, 3, share, &used);
    CHECK(used == 3 && near(share[NM_SHARED], 19.0 / 36) && near(share[NM_ROUTED], 7.0 / 18) &&
              near(share[NM_DENSE], 1.0 / 12),
          "shares/mean_of_fractions", "%.15g %.15g %.15g used %lld", share[0], share[1], share[2],
          (long long)used);
    const int64_t c_empty[6] = {0, 0, 0, 1, 3, 0};
    nm_kind_shares(c_empty, 2, share, &used);
    CHECK(used == 1 && near(share[NM_SHARED], 0.25) && near(share[NM_ROUTED], 0.75),
          "shares/skip_empty_sample", "used %lld", (long long)used);
    nm_kind_shares(c_empty, 1, share, &used);
    CHECK(used == 0 && isnan(share[0]), "shares/none_is_nan", "used %lld", (long long)used);

    /* pairs: J01 = 2/5, J02 = 2/6, J12 = 1/6 -> 0.3; pct 200/3, 50, 100/3 -> 50 */
    nm_overlap_mean om;
    nm_overlap_mean_of(&all, NULL, 1, &om);
    CHECK(om.pairs == 3 && near(om.jaccard, 0.3) && near(om.overlap_pct, 50), "overlap/within",
          "pairs %lld J %.15g pct %.15g", (long long)om.pairs, om.jaccard, om.overlap_pct);
    double j, p;
    nm_overlap(all.key, 4, all.key + 4, 3, &j, &p);
    CHECK(near(j, 0.4) && near(p, 200.0 / 3), "overlap/one_pair", "J %.15g pct %.15g", j, p);
    nm_overlap(all.key, 0, all.key + 4, 3, &j, &p);
    CHECK(isnan(j) && isnan(p), "overlap/empty_is_nan", "J %g", j);

    /* cross: {s0, s1} x {s2}: J (1/3 + 1/6) / 2 = 1/4, pct (50 + 100/3) / 2 = 125/3 */
    nm_sets a = {2, all.off, all.key}, b = {1, all.off + 2, all.key};
    /* b's offsets are absolute into the shared key array */
    nm_overlap_mean_of(&a, &b, 0, &om);
    CHECK(om.pairs == 2 && near(om.jaccard, 0.25) && near(om.overlap_pct, 125.0 / 3),
          "overlap/cross_families", "pairs %lld J %.15g pct %.15g", (long long)om.pairs, om.jaccard,
          om.overlap_pct);

    /* unions: all three -> 7 neurons; {s0, s1} -> 5, s2 -> 4, in common 2: J 2/7, pct 50 */
    uint64_t *u = NULL, *ua = NULL, *ub = NULL;
    int64_t nu = 0, na = 0, nb = 0;
    nm_union(&all, &u, &nu, &err);
    nm_union(&a, &ua, &na, &err);
    nm_union(&b, &ub, &nb, &err);
    CHECK(nu == 7 && u[0] == nm_key(0, -1, 7) && u[6] == nm_key(2, 1, 0), "union/all", "size %lld",
          (long long)nu);
    nm_overlap(ua, na, ub, nb, &j, &p);
    CHECK(na == 5 && nb == 4 && near(j, 2.0 / 7) && near(p, 50), "union/cross_jaccard",
          "sizes %lld %lld J %.15g pct %.15g", (long long)na, (long long)nb, j, p);
    free(u);
    free(ua);
    free(ub);

    /* shared-expert scope: {13, 23}, {13}, {13, 23, 29} -> J 1/2, 2/3, 1/3 -> 1/2; pct 100 */
    r = nm_sets_build(&QWEN, TOP, 3, 4, NM_MASK(NM_SHARED), "test", &sh, NULL, &err);
    nm_overlap_mean_of(&sh, NULL, 1, &om);
    CHECK(r == 0 && om.pairs == 3 && near(om.jaccard, 0.5) && near(om.overlap_pct, 100),
          "overlap/shared_scope", "pairs %lld J %.15g pct %.15g", (long long)om.pairs, om.jaccard,
          om.overlap_pct);
    int32_t top[3 * 3];
    int64_t w = nm_top_shared_neurons(&sh, 5, top);
    const int32_t want_sh[9] = {1, 3, 3, 2, 3, 2, 2, 9, 1};
    CHECK(w == 3 && !memcmp(top, want_sh, sizeof want_sh), "rank/top_shared_neurons",
          "w %lld first (%d, %d, %d)", (long long)w, top[0], top[1], top[2]);
    w = nm_top_shared_neurons(&sh, 2, top);
    CHECK(w == 2 && !memcmp(top, want_sh, 6 * sizeof *top), "rank/top_shared_neurons_cut", "w %lld",
          (long long)w);

    /* routed: (1,2) holds 3 entries (s0, s1, s2), (2,1) one */
    r = nm_sets_build(&QWEN, TOP, 3, 4, NM_MASK(NM_ROUTED), "test", &ro, NULL, &err);
    w = nm_top_experts(&ro, 5, top);
    const int32_t want_ro[6] = {1, 2, 3, 2, 1, 1};
    CHECK(r == 0 && w == 2 && !memcmp(top, want_ro, sizeof want_ro), "rank/top_experts",
          "w %lld (%d, %d, %d) (%d, %d, %d)", (long long)w, top[0], top[1], top[2], top[3], top[4],
          top[5]);
    nm_sets_free(&all);
    nm_sets_free(&sh);
    nm_sets_free(&ro);
}

static void test_ties_and_errors(void)
{
    mp_err err;
    nm_sets s = {0};
    err_init(&err);
    /* experts (2,0), (1,3), (1,1) hold two neurons each, (1,0) one: order by layer, then id */
    const int32_t t[2 * 4 * 3] = {
        2, 0, 1, 1, 3, 1, 1, 1, 1, 1, 0, 1, 1, 1, 2, 2, 0, 2, 1, 3, 2, -1, -1, -1,
    };
    int r = nm_sets_build(&QWEN, t, 2, 4, NM_MASK(NM_ROUTED), "ties", &s, NULL, &err);
    int32_t top[12];
    int64_t w = nm_top_experts(&s, 4, top);
    const int32_t want[12] = {1, 1, 2, 1, 3, 2, 2, 0, 2, 1, 0, 1};
    CHECK(r == 0 && w == 4 && !memcmp(top, want, sizeof want), "rank/ties_lower_layer_then_id",
          "(%d,%d,%d) (%d,%d,%d) (%d,%d,%d)", top[0], top[1], top[2], top[3], top[4], top[5],
          top[6], top[7], top[8]);
    nm_sets_free(&s);

    const int32_t dup[1 * 3 * 3] = {1, 2, 5, 2, -1, 0, 1, 2, 5};
    r = nm_sets_build(&QWEN, dup, 1, 3, NM_MASK_ALL, "dup", &s, NULL, &err);
    CHECK(r == -1 && strstr(err.msg, "listed twice") && strstr(err.msg, "(1, 2, 5)") &&
              s.key == NULL,
          "sets/duplicate_is_error", "r=%d msg '%s'", r, err.msg);
    const int32_t badl[2 * 1 * 3] = {1, 2, 5, 7, 0, 0};
    err_init(&err);
    r = nm_sets_build(&QWEN, badl, 2, 1, NM_MASK_ALL, "attribution/x/neuron_top1", &s, NULL, &err);
    CHECK(r == -1 && strstr(err.msg, "attribution/x/neuron_top1, sample 1, entry 0") &&
              strstr(err.msg, "layer 7"),
          "sets/error_names_sample_entry", "msg '%s'", err.msg);
    /* a dense model: every neuron is dense, nothing routed or shared */
    const nm_model dense = {2, 0, NULL, 0, 0, 16};
    const int32_t d[2 * 2 * 3] = {0, -1, 3, 1, -1, 15, 1, -1, 15, 0, -1, 4};
    int64_t counts[6];
    r = nm_sets_build(&dense, d, 2, 2, NM_MASK_ALL, "dense", &s, counts, &err);
    double share[3];
    int64_t used;
    nm_kind_shares(counts, 2, share, &used);
    nm_overlap_mean om;
    nm_overlap_mean_of(&s, NULL, 1, &om);
    CHECK(r == 0 && share[NM_DENSE] == 1 && share[NM_SHARED] == 0 && share[NM_ROUTED] == 0 &&
              om.pairs == 1 && near(om.jaccard, 1.0 / 3) && near(om.overlap_pct, 50),
          "dense/all_dense", "r=%d share %g J %g", r, share[NM_DENSE], om.jaccard);
    nm_sets_free(&s);
    /* one sample: no pair */
    r = nm_sets_build(&dense, d, 1, 2, NM_MASK_ALL, "one", &s, NULL, &err);
    nm_overlap_mean_of(&s, NULL, 1, &om);
    CHECK(r == 0 && om.pairs == 0 && isnan(om.jaccard), "overlap/one_sample_nan", "pairs %lld",
          (long long)om.pairs);
    w = nm_top_experts(&s, 5, top);
    CHECK(w == 0, "rank/no_routed", "w %lld", (long long)w);
    nm_sets_free(&s);
}

int main(void)
{
    test_classify();
    test_keys();
    test_sets();
    test_ties_and_errors();
    return check_finish();
}
