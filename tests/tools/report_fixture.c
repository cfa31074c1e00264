/* report_fixture.c — test tool: writes a moeprobe archive for the report tests without running
 * a model, in the layout the stages write (stages/summarise.c, block.c, heads_experts.c,
 * neurons.c), one unit per stage and relation:
 *   metrics/<rel>            hit10, mrr, n, top_experts and the block / top-k / shared-expert
 *                            attributes, copied from the fixtures' refs/<model>.h5
 *   analyses/<rel>/summary, analyses/pooled/summary, analyses/<rel>/head_expert
 *                            from the fixtures' refs-analyses/<model>.json
 *   analyses/<rel>/neurons/top100, analyses/pooled/neurons/top100
 *                            SYNTHETIC values (no reference exists): fractions and overlaps
 *                            made from the relation index, only to exercise the rendering
 * Root provenance: the fixture model's config.json and a run config listing the stages.
 *   report_fixture MODEL_DIR REFS.h5 REFS.json OUT.h5 [--omit STAGE]... [--relations N]
 * --omit summarise|block|heads_experts|neurons leaves that stage out (also from the run
 * config's stages); --relations N keeps the first N relations.
 * Prints "EXPECT ..." lines with the values (formatted as the report formats them) that a
 * report of the archive must show:
 *   EXPECT table1 MODEL RELATIONS SAMPLES HIT10 MRR FFN ATTN PEAK PCT% EFF  (sample-weighted means)
 *   EXPECT rel MODEL REL HIT10 MRR
 *   EXPECT block MODEL REL MRR MRR_BLOCK1 MRR_BLOCK5 MRR_BLOCK10
 *   EXPECT reldrop MODEL REL PCT%        (MRR - MRR_BLOCK10) / MRR
 *   EXPECT pair MODEL REL [hl,hh] → [el,ee] R SURVIVES (1, or 0: shown "(not significant)")
 *   EXPECT beats MODEL REL TEXT...   the "beats chance" cell (multiple testing: the BH q-values
 *                            of the ref's r, and a SYNTHETIC permutation null of 1000 values
 *                            evenly spread over [0.45, 0.75], the same for every relation)
 *   EXPECT recovery_na MODEL REL     forcing's recovery is n/a (the ref's mrr_drop < 0.01)
 *   EXPECT share MODEL EARLY% MID% LATE% */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/archive.h"
#include "stages/heads_experts_null.h"
#include "stages/stats.h"

static int omitted(char **omit, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(omit[i], s)) return 1;
    return 0;
}

static double jnum(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static char *slurp(const char *p)
{
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = 0;
    fclose(f);
    return s;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        if ((x) != 0) {                                                                            \
            fprintf(stderr, "report_fixture: %s\n", err.msg);                                      \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static mp_err err;

static void put_pair(arc_unit *u, const char *path, json_t *a)
{
    int32_t v[2] = {(int32_t)json_integer_value(json_array_get(a, 0)),
                    (int32_t)json_integer_value(json_array_get(a, 1))};
    int64_t two = 2;
    TRY(arc_write(u, path, ARC_I32, 1, &two, NULL, v, &err));
}

/* scalar members of a JSON object as f64 attributes (lists / objects skipped) */
static void scalars(arc_unit *u, const char *g, json_t *o, const char *skip)
{
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        if (skip && strstr(skip, k)) continue;
        if (json_is_number(v))
            TRY(arc_attr_f64(u, g, k, json_number_value(v), &err));
        else if (json_is_null(v))
            TRY(arc_attr_f64(u, g, k, NAN, &err));
    }
}

static void write_summary(arc_unit *u, const char *g, json_t *s, json_t *stages)
{
    char p[400];
    static const char *const ST[3] = {"early", "mid", "late"};
    TRY(arc_attr_i64(u, g, "n", (int64_t)json_integer_value(json_object_get(s, "n")), &err));
    scalars(u, g, s, "|n|");
    for (int c = 0; c < 2; c++) {
        json_t *a = json_object_get(s, c ? "attn_gain_curve" : "ffn_gain_curve");
        int64_t L = (int64_t)json_array_size(a);
        double *v = malloc((size_t)L * sizeof *v);
        for (int64_t i = 0; i < L; i++) v[i] = json_number_value(json_array_get(a, (size_t)i));
        snprintf(p, sizeof p, "%s/%s", g, c ? "attn_gain_curve" : "ffn_gain_curve");
        TRY(arc_write(u, p, ARC_F64, 1, &L, NULL, v, &err));
        free(v);
    }
    static const char *const PER[3] = {"stage_gain", "stage_share", "stage_gain_per_layer"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", g, PER[i]);
        for (int k = 0; k < 3; k++) {
            json_t *v = json_object_get(json_object_get(s, PER[i]), ST[k]);
            TRY(arc_attr_f64(u, p, ST[k], json_is_number(v) ? json_number_value(v) : NAN, &err));
        }
    }
    snprintf(p, sizeof p, "%s/stages", g);
    for (int k = 0; k < 3; k++) {
        json_t *b = json_object_get(stages, ST[k]);
        int64_t v[2] = {json_integer_value(json_array_get(b, 0)),
                        json_integer_value(json_array_get(b, 1))};
        TRY(arc_attr_i64_array(u, p, ST[k], 2, v, &err));
    }
}

/* The fields of multiple testing and of the undefined recovery, as stages/heads_experts.c
 * writes them (the null synthetic, see the header); prints the EXPECT beats / recovery_na lines. */
static int pair_survives; /* of the last relation written, for its EXPECT pair line */

static void multiple_testing(arc_unit *u, const char *g, json_t *he, const char *name,
                             const char *rel)
{
    enum { B = 1000 };
    static double nul[B];
    char p[400];
    for (int b = 0; b < B; b++) nul[b] = 0.45 + 0.3 * b / (B - 1);
    json_t *r = json_object_get(he, "r");
    int64_t R = (int64_t)json_array_size(r), C = (int64_t)json_array_size(json_array_get(r, 0));
    int64_t n = (int64_t)json_integer_value(json_object_get(he, "n")), sh[2] = {R, C};
    double *rv = malloc((size_t)(R * C + 1) * sizeof *rv),
           *pv = malloc((size_t)(R * C + 1) * sizeof *pv),
           *qv = malloc((size_t)(R * C + 1) * sizeof *qv);
    double mx = 0, nsurv = 0, nfdr = 0;
    for (int64_t i = 0; i < R; i++)
        for (int64_t j = 0; j < C; j++) {
            json_t *v = json_array_get(json_array_get(r, (size_t)i), (size_t)j);
            double x = json_is_number(v) ? json_number_value(v) : NAN;
            rv[i * C + j] = x;
            pv[i * C + j] = isnan(x) ? NAN : stats_pearson_p(x, n);
            if (!isnan(x) && fabs(x) > mx) mx = fabs(x);
        }
    he_bh_qvalues(pv, R * C, qv);
    for (int64_t k = 0; k < R * C; k++) {
        if (isnan(rv[k])) continue;
        nsurv += he_null_p(nul, B, fabs(rv[k])) <= 0.05;
        nfdr += qv[k] <= 0.05;
    }
    snprintf(p, sizeof p, "%s/q", g);
    TRY(arc_write(u, p, ARC_F64, 2, sh, NULL, qv, &err));
    TRY(arc_attr_str(u, g, "significance", "permutation", &err));
    snprintf(p, sizeof p, "%s/null", g);
    int64_t b1 = B, four = 4;
    double lv[4] = {0.5, 0.9, 0.95, 0.99}, qq[4];
    for (int t = 0; t < 4; t++) qq[t] = he_null_quantile(nul, B, lv[t]);
    double pmax = he_null_p(nul, B, mx);
    char d[450];
    snprintf(d, sizeof d, "%s/max_abs_r", p);
    TRY(arc_write(u, d, ARC_F64, 1, &b1, NULL, nul, &err));
    snprintf(d, sizeof d, "%s/quantile_level", p);
    TRY(arc_write(u, d, ARC_F64, 1, &four, NULL, lv, &err));
    snprintf(d, sizeof d, "%s/quantile", p);
    TRY(arc_write(u, d, ARC_F64, 1, &four, NULL, qq, &err));
    TRY(arc_attr_i64(u, p, "permutations", B, &err));
    TRY(arc_attr_i64(u, p, "seed", 1, &err));
    TRY(arc_attr_f64(u, p, "alpha", 0.05, &err));
    TRY(arc_attr_f64(u, p, "max_abs_r_observed", mx, &err));
    TRY(arc_attr_f64(u, p, "p_max", pmax, &err));
    TRY(arc_attr_i64(u, p, "n_survivors", (int64_t)nsurv, &err));
    TRY(arc_attr_i64(u, p, "n_fdr_significant", (int64_t)nfdr, &err));
    TRY(arc_attr_i64(u, p, "n_beat_null", (int64_t)nsurv, &err));
    if (nsurv > 0)
        printf("EXPECT beats %s %s yes: %.0f pair%s (%.2f > %.2f; p = %.2g)\n", name, rel, nsurv,
               nsurv == 1 ? "" : "s", mx, qq[2], pmax);
    else
        printf("EXPECT beats %s %s no (%.2f vs %.2f; p = %.2g)\n", name, rel, mx, qq[2], pmax);
    /* strongest: q, p_perm, survives of the ref's entries */
    json_t *st = json_object_get(he, "strongest");
    int64_t K = (int64_t)json_array_size(st);
    double *sq = malloc((size_t)(K + 1) * sizeof *sq), *sp = malloc((size_t)(K + 1) * sizeof *sp);
    int32_t *ss = malloc((size_t)(K + 1) * sizeof *ss);
    for (int64_t t = 0; t < K; t++) {
        json_t *e = json_array_get(st, (size_t)t);
        double x = jnum(e, "r");
        sq[t] = NAN;
        for (int64_t k = 0; k < R * C; k++)
            if (rv[k] == x) sq[t] = qv[k];
        sp[t] = he_null_p(nul, B, fabs(x));
        ss[t] = sp[t] <= 0.05;
    }
    snprintf(p, sizeof p, "%s/strongest/q", g);
    TRY(arc_write(u, p, ARC_F64, 1, &K, NULL, sq, &err));
    snprintf(p, sizeof p, "%s/strongest/p_perm", g);
    TRY(arc_write(u, p, ARC_F64, 1, &K, NULL, sp, &err));
    snprintf(p, sizeof p, "%s/strongest/survives", g);
    TRY(arc_write(u, p, ARC_I32, 1, &K, NULL, ss, &err));
    json_t *pr = json_object_get(he, "pair");
    if (pr) {
        double x = jnum(pr, "r"), q = NAN, pp = he_null_p(nul, B, fabs(x));
        for (int64_t k = 0; k < R * C; k++)
            if (rv[k] == x) q = qv[k];
        snprintf(p, sizeof p, "%s/pair", g);
        TRY(arc_attr_f64(u, p, "q", q, &err));
        TRY(arc_attr_f64(u, p, "p_perm", pp, &err));
        pair_survives = x > 0 && pp <= 0.05;
        TRY(arc_attr_i64(u, p, "survives", pair_survives, &err));
    }
    /* forcing: the recovery over a suppression drop below 0.01 is undefined */
    json_t *fo = json_object_get(he, "forcing"), *su = json_object_get(he, "suppression");
    if (fo && su) {
        double drop = jnum(su, "mrr_drop");
        int ok = drop >= 0.01 && drop > 0;
        json_object_set_new(fo, "recovery_defined", json_integer(ok));
        json_object_set_new(fo, "min_mrr_drop", json_real(0.01));
        if (!ok) {
            json_object_set_new(fo, "recovery_fraction", json_null());
            printf("EXPECT recovery_na %s %s\n", name, rel);
        }
        if (!(jnum(su, "mrr_base") >= 0.01)) {
            json_object_set_new(fo, "mrr_forced_over_base", json_null());
            json_object_set_new(su, "mrr_drop_rel", json_null());
        }
    }
    free(rv);
    free(pv);
    free(qv);
    free(sq);
    free(sp);
    free(ss);
}

static void write_head_expert(arc_unit *u, const char *g, json_t *he, const char *name,
                              const char *rel)
{
    char p[400], q[450];
    json_t *r = json_object_get(he, "r");
    int64_t R = (int64_t)json_array_size(r), C = (int64_t)json_array_size(json_array_get(r, 0));
    double *m = malloc((size_t)(R * C) * sizeof *m);
    for (int64_t i = 0; i < R; i++)
        for (int64_t j = 0; j < C; j++) {
            json_t *v = json_array_get(json_array_get(r, (size_t)i), (size_t)j);
            m[i * C + j] = json_is_number(v) ? json_number_value(v) : NAN;
        }
    int64_t sh[2] = {R, C};
    snprintf(p, sizeof p, "%s/r", g);
    TRY(arc_write(u, p, ARC_F64, 2, sh, NULL, m, &err));
    free(m);
    TRY(arc_attr_i64(u, g, "n", (int64_t)json_integer_value(json_object_get(he, "n")), &err));
    json_t *st = json_object_get(he, "strongest");
    int64_t K = (int64_t)json_array_size(st), sk[2] = {K, 2};
    int32_t *hs = malloc((size_t)K * 2 * sizeof *hs), *es = malloc((size_t)K * 2 * sizeof *es);
    double *rs = malloc((size_t)K * sizeof *rs), *ps = malloc((size_t)K * sizeof *ps);
    int64_t *ns = malloc((size_t)K * sizeof *ns);
    for (int64_t i = 0; i < K; i++) {
        json_t *e = json_array_get(st, (size_t)i);
        for (int j = 0; j < 2; j++) {
            hs[2 * i + j] =
                (int32_t)json_integer_value(json_array_get(json_object_get(e, "head"), (size_t)j));
            es[2 * i + j] = (int32_t)json_integer_value(
                json_array_get(json_object_get(e, "expert"), (size_t)j));
        }
        rs[i] = jnum(e, "r");
        ps[i] = jnum(e, "p");
        ns[i] = (int64_t)json_integer_value(json_object_get(e, "n"));
    }
    snprintf(p, sizeof p, "%s/strongest/head", g);
    TRY(arc_write(u, p, ARC_I32, 2, sk, NULL, hs, &err));
    snprintf(p, sizeof p, "%s/strongest/expert", g);
    TRY(arc_write(u, p, ARC_I32, 2, sk, NULL, es, &err));
    snprintf(p, sizeof p, "%s/strongest/r", g);
    TRY(arc_write(u, p, ARC_F64, 1, &K, NULL, rs, &err));
    snprintf(p, sizeof p, "%s/strongest/p", g);
    TRY(arc_write(u, p, ARC_F64, 1, &K, NULL, ps, &err));
    snprintf(p, sizeof p, "%s/strongest/n", g);
    TRY(arc_write(u, p, ARC_I64, 1, &K, NULL, ns, &err));
    free(hs);
    free(es);
    free(rs);
    free(ps);
    free(ns);
    multiple_testing(u, g, he, name, rel);
    static const char *const PARTS[] = {"pair", "suppression", "forcing", "path"};
    for (int i = 0; i < 4; i++) {
        json_t *o = json_object_get(he, PARTS[i]);
        if (!o) continue;
        snprintf(p, sizeof p, "%s/%s", g, PARTS[i]);
        scalars(u, p, o, NULL);
        if (json_object_get(o, "head")) {
            snprintf(q, sizeof q, "%s/head", p);
            put_pair(u, q, json_object_get(o, "head"));
        }
        if (json_object_get(o, "expert")) {
            snprintf(q, sizeof q, "%s/expert", p);
            put_pair(u, q, json_object_get(o, "expert"));
        }
        json_t *t4 = json_object_get(o, "top4_experts");
        if (t4) {
            int64_t n4 = (int64_t)json_array_size(t4), s4[2] = {n4, 2};
            int32_t v[32];
            for (int64_t j = 0; j < n4 && j < 16; j++)
                for (int c = 0; c < 2; c++)
                    v[2 * j + c] = (int32_t)json_integer_value(
                        json_array_get(json_array_get(t4, (size_t)j), (size_t)c));
            snprintf(q, sizeof q, "%s/top4_experts", p);
            TRY(arc_write(u, q, ARC_I32, 2, s4, NULL, v, &err));
        }
    }
}

/* Synthetic neuron fields in the layout of stages/neurons.c (N = 100). */
static void write_neurons(arc_unit *u, const char *g, int idx, int E, int shared,
                          const int32_t *top, int ntop)
{
    double fs = shared ? 0.25 + 0.01 * idx : 0, fr = E ? 1 - fs : 0, fd = E ? 0 : 1;
    TRY(arc_attr_i64(u, g, "N", 100, &err));
    TRY(arc_attr_f64(u, g, "frac_shared", fs, &err));
    TRY(arc_attr_f64(u, g, "frac_routed", fr, &err));
    TRY(arc_attr_f64(u, g, "frac_dense", fd, &err));
    TRY(arc_attr_f64(u, g, "jaccard", 0.1 + 0.01 * idx, &err));
    TRY(arc_attr_f64(u, g, "overlap_pct", 20.0 + idx, &err));
    TRY(arc_attr_i64(u, g, "union_size", 300 + idx, &err));
    TRY(arc_attr_f64(u, g, "shared_overlap_pct", shared ? 30.0 + idx : NAN, &err));
    if (E && ntop > 0) {
        char p[400];
        int64_t sh[2] = {ntop < 5 ? ntop : 5, 3};
        snprintf(p, sizeof p, "%s/top_experts", g);
        TRY(arc_write(u, p, ARC_I32, 2, sh, NULL, top, &err));
    }
}

int main(int argc, char **argv)
{
    char *omit[8];
    int nomit = 0, maxrel = 1000;
    err_init(&err);
    if (argc < 5) {
        fprintf(stderr, "usage: report_fixture MODEL_DIR REFS.h5 REFS.json OUT.h5 [--omit "
                        "STAGE]... [--relations N]\n");
        return 2;
    }
    for (int i = 5; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--omit") && nomit < 8)
            omit[nomit++] = argv[i + 1];
        else if (!strcmp(argv[i], "--relations"))
            maxrel = atoi(argv[i + 1]);
    }
    char cfgp[4200];
    snprintf(cfgp, sizeof cfgp, "%s/config.json", argv[1]);
    char *cfg = slurp(cfgp);
    json_error_t je;
    json_t *ref = json_load_file(argv[3], 0, &je);
    if (!cfg || !ref) {
        fprintf(stderr, "report_fixture: cannot read %s or %s\n", cfgp, argv[3]);
        return 1;
    }
    const char *model = strrchr(argv[4], '/') ? strrchr(argv[4], '/') + 1 : argv[4];
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(strlen(model) - 3), model);
    int E = (int)json_integer_value(json_object_get(ref, "num_experts"));
    json_t *cfgj = json_loads(cfg, 0, &je);
    int shared = json_integer_value(json_object_get(cfgj, "shared_expert_intermediate_size")) > 0;
    json_decref(cfgj);
    /* run config */
    static const char *const ALL[] = {"capture", "evaluate",      "attribute", "summarise",
                                      "block",   "heads_experts", "neurons"};
    char yaml[2048];
    size_t o = (size_t)snprintf(yaml, sizeof yaml,
                                "model: %s\nrelations: data/lre\nout: fixture\nstages: [", argv[1]);
    int first = 1;
    for (size_t i = 0; i < sizeof ALL / sizeof *ALL; i++)
        if (!omitted(omit, nomit, ALL[i])) {
            o += (size_t)snprintf(yaml + o, sizeof yaml - o, "%s%s", first ? "" : ", ", ALL[i]);
            first = 0;
        }
    snprintf(yaml + o, sizeof yaml - o,
             "]\nsummarise:\n  stages:\n    early: 0.55\n    mid: 0.25\n    late: 0.2\n");
    arc_provenance prov = {.model_config_json = cfg, .run_config_yaml = yaml, .mpi_ranks = 2};
    arc_options ao = arc_options_default();
    ao.snapshot_every_s = 1e9;
    arc_writer *w = NULL;
    arc_reader *rr = NULL;
    arc_names rels = {0};
    TRY(arc_writer_open(&w, argv[4], &prov, &ao, &err));
    TRY(arc_open_read(&rr, argv[2], &err));
    TRY(arc_list(rr, "metrics", ARC_GROUP, &rels, &err));
    json_t *jr = json_object_get(ref, "relations"), *stages = json_object_get(ref, "stages");
    double sw = 0, sh = 0, sm = 0;
    for (size_t i = 0; i < rels.n && (int)i < maxrel; i++) {
        const char *rel = rels.v[i];
        char g[300], uid[300], p[400];
        arc_unit *u;
        arc_names attrs;
        json_t *rj = json_object_get(jr, rel);
        /* capture: base metrics and top experts */
        snprintf(uid, sizeof uid, "capture/%s", rel);
        TRY(arc_unit_begin(w, uid, &u, &err));
        snprintf(g, sizeof g, "metrics/%s", rel);
        double hit, mrr;
        int64_t n;
        TRY(arc_read_attr_f64(rr, g, "hit10", &hit, &err));
        TRY(arc_read_attr_f64(rr, g, "mrr", &mrr, &err));
        TRY(arc_read_attr_i64(rr, g, "n", &n, &err));
        TRY(arc_attr_f64(u, g, "hit10", hit, &err));
        TRY(arc_attr_f64(u, g, "mrr", mrr, &err));
        TRY(arc_attr_i64(u, g, "n", n, &err));
        sw += (double)n;
        sh += hit * (double)n;
        sm += mrr * (double)n;
        printf("EXPECT rel %s %s %.3f %.3f\n", name, rel, hit, mrr);
        int32_t top[30];
        int ntop = 0;
        snprintf(p, sizeof p, "%s/top_experts", g);
        if (arc_kind_of(rr, p) == ARC_DATASET) {
            arc_array a;
            TRY(arc_read(rr, p, &a, &err));
            ntop = (int)(a.count / 3 < 10 ? a.count / 3 : 10);
            for (int j = 0; j < ntop * 3; j++) top[j] = ((int32_t *)a.data)[j];
            int64_t s2[2] = {ntop, 3};
            TRY(arc_write(u, p, ARC_I32, 2, s2, NULL, top, &err));
            arc_array_free(&a);
        }
        TRY(arc_unit_commit(w, u, &err));
        /* block: every other mrr_* / hit10_* attribute of the ref */
        if (E > 0 && !omitted(omit, nomit, "block")) {
            snprintf(uid, sizeof uid, "block/%s", rel);
            TRY(arc_unit_begin(w, uid, &u, &err));
            TRY(arc_list_attrs(rr, g, &attrs, &err));
            double b[3] = {NAN, NAN, NAN};
            for (size_t j = 0; j < attrs.n; j++) {
                const char *a = attrs.v[j];
                if (!strcmp(a, "hit10") || !strcmp(a, "mrr") || !strcmp(a, "n")) continue;
                double v;
                TRY(arc_read_attr_f64(rr, g, a, &v, &err));
                TRY(arc_attr_f64(u, g, a, v, &err));
                if (!strcmp(a, "mrr_block1")) b[0] = v;
                if (!strcmp(a, "mrr_block5")) b[1] = v;
                if (!strcmp(a, "mrr_block10")) b[2] = v;
                /* block's own extra attributes, which the report must not take for configs */
                if (!strncmp(a, "mrr_block", 9)) {
                    char dn[64];
                    snprintf(dn, sizeof dn, "mrr_drop_%s", a + 4);
                    TRY(arc_attr_f64(u, g, dn, mrr - v, &err));
                }
            }
            printf("EXPECT block %s %s %.3f %.3f %.3f %.3f\n", name, rel, mrr, b[0], b[1], b[2]);
            printf("EXPECT reldrop %s %s %.1f%%\n", name, rel, 100 * (mrr - b[2]) / mrr);
            arc_names_free(&attrs);
            TRY(arc_unit_commit(w, u, &err));
        }
        if (!omitted(omit, nomit, "summarise")) {
            snprintf(uid, sizeof uid, "summarise/%s", rel);
            TRY(arc_unit_begin(w, uid, &u, &err));
            snprintf(g, sizeof g, "analyses/%s/summary", rel);
            write_summary(u, g, json_object_get(rj, "summary"), stages);
            TRY(arc_unit_commit(w, u, &err));
        }
        json_t *he = json_object_get(rj, "head_expert");
        if (he && !omitted(omit, nomit, "heads_experts")) {
            snprintf(uid, sizeof uid, "heads_experts/%s", rel);
            TRY(arc_unit_begin(w, uid, &u, &err));
            snprintf(g, sizeof g, "analyses/%s/head_expert", rel);
            write_head_expert(u, g, he, name, rel);
            json_t *pr = json_object_get(he, "pair");
            if (pr)
                printf(
                    "EXPECT pair %s %s [%lld,%lld] → [%lld,%lld] %.3f %d\n", name, rel,
                    (long long)json_integer_value(json_array_get(json_object_get(pr, "head"), 0)),
                    (long long)json_integer_value(json_array_get(json_object_get(pr, "head"), 1)),
                    (long long)json_integer_value(json_array_get(json_object_get(pr, "expert"), 0)),
                    (long long)json_integer_value(json_array_get(json_object_get(pr, "expert"), 1)),
                    jnum(pr, "r"), pair_survives);
            TRY(arc_unit_commit(w, u, &err));
        }
        if (!omitted(omit, nomit, "neurons")) {
            snprintf(uid, sizeof uid, "neurons/%s", rel);
            TRY(arc_unit_begin(w, uid, &u, &err));
            snprintf(g, sizeof g, "analyses/%s/neurons/top100", rel);
            write_neurons(u, g, (int)i, E, shared, top, ntop);
            TRY(arc_unit_commit(w, u, &err));
        }
    }
    size_t R = rels.n < (size_t)maxrel ? rels.n : (size_t)maxrel;
    if (!omitted(omit, nomit, "summarise")) {
        arc_unit *u;
        json_t *ps = json_object_get(ref, "pooled");
        TRY(arc_unit_begin(w, "summarise/pooled", &u, &err));
        write_summary(u, "analyses/pooled/summary", ps, stages);
        TRY(arc_unit_commit(w, u, &err));
        printf("EXPECT table1 %s %zu %.0f %.3f %.3f %.3f %.3f %.2f %.1f%% %.3f\n", name, R, sw,
               sh / sw, sm / sw, jnum(ps, "total_ffn_gain"), jnum(ps, "total_attn_gain"),
               jnum(ps, "peak_ffn_layer"), jnum(ps, "peak_ffn_layer_pct"),
               jnum(ps, "layer_efficiency"));
        json_t *ss = json_object_get(ps, "stage_share");
        printf("EXPECT share %s %.1f%% %.1f%% %.1f%%\n", name, 100 * jnum(ss, "early"),
               100 * jnum(ss, "mid"), 100 * jnum(ss, "late"));
    }
    if (!omitted(omit, nomit, "neurons")) {
        arc_unit *u;
        const char *g = "analyses/pooled/neurons/top100";
        TRY(arc_unit_begin(w, "neurons/cross", &u, &err));
        write_neurons(u, g, 0, E, shared, NULL, 0);
        int64_t r1 = (int64_t)R, r2[2] = {(int64_t)R, (int64_t)R};
        double *ov = malloc(R * R * sizeof *ov);
        for (size_t a = 0; a < R; a++)
            for (size_t b = 0; b < R; b++)
                ov[a * R + b] = a == b ? 40.0 + (double)a : 5.0 + (double)((a + b) % 7);
        TRY(arc_write(u, "analyses/pooled/neurons/top100/relations", ARC_STR, 1, &r1, NULL, rels.v,
                      &err));
        TRY(arc_write(u, "analyses/pooled/neurons/top100/pair_overlap_pct", ARC_F64, 2, r2, NULL,
                      ov, &err));
        free(ov);
        TRY(arc_unit_commit(w, u, &err));
    }
    TRY(arc_writer_close(w, &err));
    arc_reader_close(rr);
    arc_names_free(&rels);
    json_decref(ref);
    free(cfg);
    return 0;
}
