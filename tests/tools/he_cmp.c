/* he_cmp.c — test tool: compares the analyses/<rel>/head_expert groups of a moeprobe archive
 * with a refs-analyses JSON (the fixtures' refs-analyses/<model>.json,
 * relations.<rel>.head_expert), every field, with the tolerances of that folder's README:
 *   exact      indices (head, expert, top4_experts, strongest heads/experts), n,
 *              expert_rank_in_top_experts, and which entries of r are null (NaN here)
 *   5e-3       the r matrix
 *   1e-4       r, p and r_margin_to_next of strongest and pair
 *   1e-6       hit10* and mrr* values and recovery_fraction (relative above 1)
 *   1e-5       everything else: probabilities, shares, min_* diagnostics
 * null in the ref must be NaN in the archive. Prints "PASS <label>/<rel>" or
 * "FAIL <label>/<rel>: ..." per relation and one INFO line with the worst |diff| per field.
 *   he_cmp ARCHIVE.h5 REF.json LABEL
 * Temporal correlation (no ref exists): recomputes the pooled within-prompt correlation of
 * every relation from the all-position captures of the same archive (captures/<rel>/head_out
 * [tokens,L,nH,H], router_logits [tokens,L,E], relations/<rel>/input_offsets) in double, and
 * checks r (1e-5), the null pattern, n, and that strongest and pair are the largest |r| and the
 * largest eligible signed r of the stored matrix:
 *   he_cmp --temporal ARCHIVE.h5 LABEL
 * In both modes, "<label>/<rel>/multiple_testing" checks the multiple-testing fields against
 * the stored matrix and null (no ref has them): q recomputed by Benjamini-Hochberg from the
 * p-values of r (1e-12), the null sorted in [0, 1] with `permutations` values, its quantiles
 * (numpy's linear rule), max_abs_r_observed and p_max, every count, strongest q/p_perm/survives
 * and the pair's q, p_perm and survives flag (1 exactly when it survives the group's rule). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/archive.h"
#include "stages/stats.h"

#define MAX_FIELDS 128

static struct {
    char name[96];
    double worst;
} fields[MAX_FIELDS];
static int n_fields;
static long compared;

static void note(const char *name, double d)
{
    int i;
    for (i = 0; i < n_fields; i++)
        if (!strcmp(fields[i].name, name)) break;
    if (i == n_fields) {
        if (n_fields == MAX_FIELDS) return;
        snprintf(fields[n_fields++].name, sizeof fields[0].name, "%s", name);
    }
    if (d > fields[i].worst) fields[i].worst = d;
    compared++;
}

static double tol_for(const char *key, double ref)
{
    if (!strcmp(key, "n") || !strcmp(key, "expert_rank_in_top_experts")) return 0;
    if (!strcmp(key, "r") || !strcmp(key, "p") || !strcmp(key, "r_margin_to_next")) return 1e-4;
    if (!strncmp(key, "hit10", 5) || !strncmp(key, "mrr", 3) || !strcmp(key, "recovery_fraction"))
        return 1e-6 * (fabs(ref) > 1 ? fabs(ref) : 1);
    return 1e-5;
}

/* Integer dataset at path vs a JSON (nested) list of integers, exactly. */
static int cmp_ints(arc_reader *a, const char *path, json_t *ref, char *why, size_t wl)
{
    arc_array x = {0};
    mp_err err;
    long want[4096];
    size_t nw = 0;
    err_init(&err);
    /* flatten one or two levels */
    size_t i, j;
    json_t *v, *w;
    json_array_foreach(ref, i, v)
    {
        if (json_is_array(v)) {
            json_array_foreach(v, j, w) if (nw < 4096) want[nw++] = (long)json_integer_value(w);
        } else if (nw < 4096) {
            want[nw++] = (long)json_integer_value(v);
        }
    }
    if (arc_read(a, path, &x, &err) != 0) {
        snprintf(why, wl, "%s", err.msg);
        return -1;
    }
    int rc = 0;
    if (x.count != nw || (x.type != ARC_I32 && x.type != ARC_I64)) {
        snprintf(why, wl, "%s: %zu values of type %s, ref has %zu integers", path, x.count,
                 arc_type_name(x.type), nw);
        rc = -1;
    }
    for (size_t q = 0; rc == 0 && q < nw; q++) {
        long got = x.type == ARC_I32 ? ((int32_t *)x.data)[q] : (long)((int64_t *)x.data)[q];
        if (got != want[q]) {
            snprintf(why, wl, "%s[%zu] = %ld, ref %ld", path, q, got, want[q]);
            rc = -1;
        }
    }
    arc_array_free(&x);
    return rc;
}

static int cmp_value(const char *field, const char *key, double got, json_t *ref, char *why,
                     size_t wl)
{
    if (json_is_null(ref)) {
        note(field, isnan(got) ? 0 : INFINITY);
        if (!isnan(got)) {
            snprintf(why, wl, "%s = %.9g, ref null", field, got);
            return -1;
        }
        return 0;
    }
    double want = json_number_value(ref);
    double d = isnan(got) ? INFINITY : fabs(got - want);
    note(field, d);
    if (d > tol_for(key, want)) {
        snprintf(why, wl, "%s = %.9g, ref %.9g (|diff| %.3g > %.3g)", field, got, want, d,
                 tol_for(key, want));
        return -1;
    }
    return 0;
}

/* Ratios over the MRR (docs/method.md): 1 if the ref's own denominator is below the archive's
 * tolerance forcing/min_mrr_drop, so that the archive must hold NaN (recovery_fraction over the
 * suppression's MRR drop, mrr_drop_rel and mrr_forced_over_base over the base MRR); 0 if the
 * value is defined; -1 for other keys; 2 if forcing/recovery_defined is missing or disagrees. */
static int ratio_gate(arc_reader *a, const char *g, json_t *he, const char *key)
{
    int over_drop = !strcmp(key, "recovery_fraction"),
        over_base = !strcmp(key, "mrr_drop_rel") || !strcmp(key, "mrr_forced_over_base");
    if (!over_drop && !over_base) return -1;
    char p[400];
    double tol, flag;
    mp_err err;
    err_init(&err);
    snprintf(p, sizeof p, "%s/forcing", g);
    if (arc_read_attr_f64(a, p, "min_mrr_drop", &tol, &err) != 0) return 0;
    json_t *sup = json_object_get(he, "suppression");
    double drop = json_number_value(json_object_get(sup, "mrr_drop")),
           base = json_number_value(json_object_get(sup, "mrr_base"));
    int undefined = over_drop ? !(drop >= tol && drop > 0) : !(base >= tol);
    if (over_drop &&
        (arc_read_attr_f64(a, p, "recovery_defined", &flag, &err) != 0 || flag != !undefined))
        return 2;
    return undefined;
}

static int cmp_relation(arc_reader *a, const char *rel, json_t *he, char *why, size_t wl)
{
    char g[300], p[400], f[200];
    arc_array x = {0};
    mp_err err;
    int bad = 0;
    err_init(&err);
    snprintf(g, sizeof g, "analyses/%s/head_expert", rel);
    if (arc_kind_of(a, g) != ARC_GROUP) {
        snprintf(why, wl, "no group %s", g);
        return -1;
    }
    /* n */
    double nv;
    if (arc_read_attr_f64(a, g, "n", &nv, &err) != 0) {
        snprintf(why, wl, "%s", err.msg);
        return -1;
    }
    if (cmp_value("n", "n", nv, json_object_get(he, "n"), why, wl) != 0) bad = 1;
    /* r matrix */
    json_t *rr = json_object_get(he, "r");
    snprintf(p, sizeof p, "%s/r", g);
    if (arc_read(a, p, &x, &err) != 0) {
        snprintf(why, wl, "%s", err.msg);
        return -1;
    }
    size_t R = json_array_size(rr), C = R ? json_array_size(json_array_get(rr, 0)) : 0;
    if (x.ndim != 2 || (size_t)x.shape[0] != R || (size_t)x.shape[1] != C || x.type != ARC_F64) {
        snprintf(why, wl, "%s: shape or type differs from the ref's [%zu][%zu] list", p, R, C);
        arc_array_free(&x);
        return -1;
    }
    for (size_t i = 0; i < R; i++)
        for (size_t j = 0; j < C; j++) {
            json_t *v = json_array_get(json_array_get(rr, i), j);
            double got = ((double *)x.data)[i * C + j];
            if (json_is_null(v) != !!isnan(got)) {
                if (!bad)
                    snprintf(why, wl, "r[%zu][%zu] = %.9g, ref %s", i, j, got,
                             json_is_null(v) ? "null" : "a number");
                bad = 1;
                note("r.null_pattern", 1);
                continue;
            }
            if (json_is_null(v)) continue;
            double d = fabs(got - json_number_value(v));
            note("r", d);
            if (d > 5e-3 && !bad) {
                snprintf(why, wl, "r[%zu][%zu] = %.9g, ref %.9g", i, j, got, json_number_value(v));
                bad = 1;
            }
        }
    arc_array_free(&x);
    /* strongest */
    json_t *sg = json_object_get(he, "strongest"), *e;
    size_t K = json_array_size(sg), i;
    static const char *const sk[] = {"head", "expert"};
    for (int q = 0; q < 2; q++) {
        json_t *lst = json_array();
        json_array_foreach(sg, i, e) json_array_append(lst, json_object_get(e, sk[q]));
        snprintf(p, sizeof p, "%s/strongest/%s", g, sk[q]);
        char w2[600] = "";
        if (cmp_ints(a, p, lst, w2, sizeof w2) != 0 && !bad) {
            snprintf(why, wl, "%s", w2);
            bad = 1;
        }
        json_decref(lst);
    }
    static const char *const sv[] = {"r", "n", "p"};
    for (int q = 0; q < 3; q++) {
        snprintf(p, sizeof p, "%s/strongest/%s", g, sv[q]);
        if (arc_read(a, p, &x, &err) != 0 || x.count != K) {
            if (!bad) snprintf(why, wl, "%s: missing or not %zu values", p, K);
            bad = 1;
            arc_array_free(&x);
            continue;
        }
        snprintf(f, sizeof f, "strongest.%s", sv[q]);
        json_array_foreach(sg, i, e)
        {
            double got = x.type == ARC_F64   ? ((double *)x.data)[i]
                         : x.type == ARC_I64 ? (double)((int64_t *)x.data)[i]
                                             : NAN;
            char w2[600];
            if (cmp_value(f, sv[q], got, json_object_get(e, sv[q]), w2, sizeof w2) != 0 && !bad) {
                snprintf(why, wl, "strongest[%zu]: %s", i, w2);
                bad = 1;
            }
        }
        arc_array_free(&x);
    }
    /* pair, suppression, forcing, path */
    static const char *const secs[] = {"pair", "suppression", "forcing", "path"};
    for (int s = 0; s < 4; s++) {
        json_t *obj = json_object_get(he, secs[s]), *v;
        const char *key;
        snprintf(p, sizeof p, "%s/%s", g, secs[s]);
        json_object_foreach(obj, key, v)
        {
            char w2[600] = "";
            int r;
            snprintf(f, sizeof f, "%s.%s", secs[s], key);
            if (json_is_array(v)) {
                char d[500];
                snprintf(d, sizeof d, "%s/%s", p, key);
                r = cmp_ints(a, d, v, w2, sizeof w2);
            } else if (!arc_has_attr(a, p, key)) {
                snprintf(w2, sizeof w2, "%s: attribute %s missing", p, key);
                r = -1;
            } else {
                double got;
                int gate = ratio_gate(a, g, he, key);
                r = arc_read_attr_f64(a, p, key, &got, &err);
                if (r != 0)
                    snprintf(w2, sizeof w2, "%s", err.msg);
                else if (gate == 2)
                    snprintf(w2, sizeof w2,
                             "%s/forcing/recovery_defined is missing or disagrees with the ref's "
                             "mrr_drop",
                             g),
                        r = -1;
                else if (gate == 1 && !isnan(got))
                    snprintf(w2, sizeof w2,
                             "%s = %.9g: expected NaN (its denominator in the ref is below "
                             "forcing/min_mrr_drop)",
                             f, got),
                        r = -1;
                else if (gate != 1)
                    r = cmp_value(f, key, got, v, w2, sizeof w2);
            }
            if (r != 0 && !bad) {
                snprintf(why, wl, "%s", w2);
                bad = 1;
            }
        }
    }
    return bad ? -1 : 0;
}

typedef struct mt_p {
    double p;
    size_t k;
} mt_p;

static int mt_cmp(const void *x, const void *y)
{
    const mt_p *a = x, *b = y;
    return (a->p > b->p) - (a->p < b->p);
}

#define MT_BAD(...)                                                                                \
    do {                                                                                           \
        snprintf(why, wl, __VA_ARGS__);                                                            \
        goto done;                                                                                 \
    } while (0)

/* The multiple-testing fields of one relation (see the header). */
static int mt_relation(arc_reader *a, const char *rel, char *why, size_t wl)
{
    char g[300], p[400];
    arc_array ar = {0}, aq = {0}, an = {0}, al = {0}, av = {0}, sr = {0}, sq = {0}, sp = {0},
              ss = {0};
    mt_p *ps = NULL;
    double *qw = NULL;
    mp_err err;
    int rc = -1;
    err_init(&err);
    snprintf(g, sizeof g, "analyses/%s/head_expert", rel);
    double n, B, alpha, nsurv, nfdr, nbeat, obs, pmax;
    char rule[32] = "", *rs = NULL;
    snprintf(p, sizeof p, "%s/null", g);
    if (arc_read_attr_f64(a, g, "n", &n, &err) != 0 ||
        arc_read_attr_f64(a, p, "permutations", &B, &err) != 0 ||
        arc_read_attr_f64(a, p, "alpha", &alpha, &err) != 0 ||
        arc_read_attr_f64(a, p, "n_survivors", &nsurv, &err) != 0 ||
        arc_read_attr_f64(a, p, "n_fdr_significant", &nfdr, &err) != 0 ||
        arc_read_attr_f64(a, p, "n_beat_null", &nbeat, &err) != 0 ||
        arc_read_attr_f64(a, p, "max_abs_r_observed", &obs, &err) != 0 ||
        arc_read_attr_f64(a, p, "p_max", &pmax, &err) != 0 ||
        arc_read_attr_str(a, g, "significance", &rs, &err) != 0)
        goto fail;
    snprintf(rule, sizeof rule, "%s", rs);
    free(rs);
    int fdr = !strcmp(rule, "fdr");
    /* temporal: one mean per prompt is estimated, the p-values use N - P + 1 as n */
    double npr = 0;
    if (arc_has_attr(a, g, "n_prompts") && arc_read_attr_f64(a, g, "n_prompts", &npr, &err) != 0)
        goto fail;
    const int64_t df_n = (int64_t)(n - (npr > 0 ? npr - 1 : 0));
    if (!fdr && strcmp(rule, "permutation")) MT_BAD("significance = '%s'", rule);
    snprintf(p, sizeof p, "%s/r", g);
    if (arc_read(a, p, &ar, &err) != 0) goto fail;
    snprintf(p, sizeof p, "%s/q", g);
    if (arc_read(a, p, &aq, &err) != 0) goto fail;
    snprintf(p, sizeof p, "%s/null/max_abs_r", g);
    if (arc_read(a, p, &an, &err) != 0) goto fail;
    snprintf(p, sizeof p, "%s/null/quantile_level", g);
    if (arc_read(a, p, &al, &err) != 0) goto fail;
    snprintf(p, sizeof p, "%s/null/quantile", g);
    if (arc_read(a, p, &av, &err) != 0) goto fail;
    if (ar.type != ARC_F64 || aq.type != ARC_F64 || aq.count != ar.count || an.type != ARC_F64 ||
        (double)an.count != B || B < 1 || al.count != av.count || al.type != ARC_F64 ||
        av.type != ARC_F64)
        MT_BAD("q, null/max_abs_r or the quantiles have the wrong type or size (q %zu of %zu, null "
               "%zu of %g)",
               aq.count, ar.count, an.count, B);
    const double *r = ar.data, *q = aq.data, *nul = an.data;
    const size_t m0 = ar.count, nb = an.count;
    for (size_t b = 0; b < nb; b++)
        if (!(nul[b] >= 0 && nul[b] <= 1) || (b > 0 && nul[b] < nul[b - 1]))
            MT_BAD("null/max_abs_r[%zu] = %.9g: not sorted in [0, 1]", b, nul[b]);
    for (size_t t = 0; t < al.count; t++) {
        double lv = ((double *)al.data)[t], h = (double)(nb - 1) * lv;
        size_t lo = (size_t)floor(h);
        double want =
            lo + 1 >= nb ? nul[nb - 1] : nul[lo] + (h - (double)lo) * (nul[lo + 1] - nul[lo]);
        if (fabs(((double *)av.data)[t] - want) > 1e-12)
            MT_BAD("null quantile %g = %.9g, the stored null gives %.9g", lv,
                   ((double *)av.data)[t], want);
    }
    /* BH by hand: sort p ascending, q_(k) = min over j >= k of m p_(j) / j */
    ps = malloc((m0 + 1) * sizeof *ps);
    qw = malloc((m0 + 1) * sizeof *qw);
    if (!ps || !qw) goto fail;
    size_t m = 0;
    double mx = 0;
    for (size_t k = 0; k < m0; k++) {
        qw[k] = NAN;
        if (isnan(r[k])) continue;
        ps[m++] = (mt_p){stats_pearson_p(r[k], df_n), k};
        if (fabs(r[k]) > mx) mx = fabs(r[k]);
    }
    qsort(ps, m, sizeof *ps, mt_cmp);
    for (size_t t = 0; t < m; t++) {
        double best = INFINITY;
        for (size_t u = t; u < m; u++) {
            double c = ps[u].p * (double)m / (double)(u + 1);
            if (c < best) best = c;
        }
        /* tied p-values share the q of the last of them */
        qw[ps[t].k] = best > 1 ? 1 : best;
    }
    for (size_t t = m; t-- > 1;)
        if (ps[t - 1].p == ps[t].p) qw[ps[t - 1].k] = qw[ps[t].k];
    double cnt_fdr = 0, cnt_beat = 0, cnt_surv = 0;
    for (size_t k = 0; k < m0; k++) {
        if (isnan(r[k]) != isnan(q[k])) MT_BAD("q[%zu] = %g where r = %g", k, q[k], r[k]);
        if (isnan(r[k])) continue;
        note("multiple_testing.q", fabs(q[k] - qw[k]));
        if (fabs(q[k] - qw[k]) > 1e-12 * (1 + qw[k]))
            MT_BAD("q[%zu] = %.12g, BH gives %.12g", k, q[k], qw[k]);
        size_t ge = 0;
        for (size_t b = 0; b < nb; b++) ge += nul[b] >= fabs(r[k]);
        double pp = (double)(1 + ge) / (B + 1);
        cnt_fdr += q[k] <= alpha;
        cnt_beat += pp <= alpha;
        cnt_surv += fdr ? q[k] <= alpha : pp <= alpha;
    }
    if (cnt_fdr != nfdr || cnt_beat != nbeat || cnt_surv != nsurv)
        MT_BAD("counts fdr %g beat %g survivors %g, recounted %g %g %g", nfdr, nbeat, nsurv,
               cnt_fdr, cnt_beat, cnt_surv);
    size_t ge = 0;
    for (size_t b = 0; b < nb; b++) ge += nul[b] >= mx;
    if (obs != mx || fabs(pmax - (double)(1 + ge) / (B + 1)) > 1e-15)
        MT_BAD("max_abs_r_observed %.9g / p_max %.9g, recomputed %.9g / %.9g", obs, pmax, mx,
               (double)(1 + ge) / (B + 1));
    /* strongest */
    const char *sn[4] = {"r", "q", "p_perm", "survives"};
    arc_array *sa[4] = {&sr, &sq, &sp, &ss};
    for (int t = 0; t < 4; t++) {
        snprintf(p, sizeof p, "%s/strongest/%s", g, sn[t]);
        if (arc_read(a, p, sa[t], &err) != 0) goto fail;
    }
    if (sq.count != sr.count || sp.count != sr.count || ss.count != sr.count || ss.type != ARC_I32)
        MT_BAD("strongest q / p_perm / survives do not match strongest/r");
    for (size_t t = 0; t < sr.count; t++) {
        double rv = ((double *)sr.data)[t], qv = NAN;
        for (size_t k = 0; k < m0; k++)
            if (r[k] == rv) qv = q[k];
        size_t g2 = 0;
        for (size_t b = 0; b < nb; b++) g2 += nul[b] >= fabs(rv);
        double pp = (double)(1 + g2) / (B + 1);
        int sv = fdr ? qv <= alpha : pp <= alpha;
        if (((double *)sq.data)[t] != qv || ((double *)sp.data)[t] != pp ||
            ((int32_t *)ss.data)[t] != sv)
            MT_BAD("strongest[%zu]: q %g p_perm %g survives %d, expected %g %g %d", t,
                   ((double *)sq.data)[t], ((double *)sp.data)[t], ((int32_t *)ss.data)[t], qv, pp,
                   sv);
    }
    /* pair */
    double found;
    if (arc_read_attr_f64(a, g, "pair_found", &found, &err) != 0) goto fail;
    if (found == 1) {
        double pr, pq, pp, sv;
        snprintf(p, sizeof p, "%s/pair", g);
        if (arc_read_attr_f64(a, p, "r", &pr, &err) != 0 ||
            arc_read_attr_f64(a, p, "q", &pq, &err) != 0 ||
            arc_read_attr_f64(a, p, "p_perm", &pp, &err) != 0 ||
            arc_read_attr_f64(a, p, "survives", &sv, &err) != 0)
            goto fail;
        size_t g2 = 0;
        for (size_t b = 0; b < nb; b++) g2 += nul[b] >= fabs(pr);
        double want_p = (double)(1 + g2) / (B + 1);
        int want_sv = pr > 0 && (fdr ? pq <= alpha : want_p <= alpha);
        if (pp != want_p || sv != want_sv)
            MT_BAD("pair r %.6g: p_perm %g survives %g, expected %g %d", pr, pp, sv, want_p,
                   want_sv);
    }
    rc = 0;
    goto done;
fail:
    snprintf(why, wl, "%s", err.set ? err.msg : "out of memory");
done:
    arc_array_free(&ar);
    arc_array_free(&aq);
    arc_array_free(&an);
    arc_array_free(&al);
    arc_array_free(&av);
    arc_array_free(&sr);
    arc_array_free(&sq);
    arc_array_free(&sp);
    arc_array_free(&ss);
    free(ps);
    free(qw);
    return rc;
}

static int read_f64(arc_reader *a, const char *path, arc_array *x, double **v, mp_err *err)
{
    if (arc_read(a, path, x, err) != 0) return -1;
    *v = malloc((x->count ? x->count : 1) * sizeof **v);
    if (!*v) return err_set(err, "out of memory");
    for (size_t q = 0; q < x->count; q++)
        (*v)[q] = x->type == ARC_F64   ? ((double *)x->data)[q]
                  : x->type == ARC_F32 ? ((float *)x->data)[q]
                  : x->type == ARC_I32 ? ((int32_t *)x->data)[q]
                                       : (double)((int64_t *)x->data)[q];
    return 0;
}

static int temporal_relation(arc_reader *a, const char *rel, char *why, size_t wl)
{
    char p[400], g[300];
    arc_array ah = {0}, ar = {0}, ao = {0}, am = {0}, ak = {0}, ax = {0};
    double *ho = NULL, *rl = NULL, *off = NULL, *rm = NULL, *rk = NULL, *x = NULL, *y = NULL;
    double *sxy = NULL, *sxx = NULL, *syy = NULL, *mx = NULL, *my = NULL;
    mp_err err;
    int rc = -1;
    err_init(&err);
    snprintf(g, sizeof g, "analyses/%s/head_expert", rel);
    snprintf(p, sizeof p, "captures/%s/head_out", rel);
    if (read_f64(a, p, &ah, &ho, &err) != 0) goto fail;
    snprintf(p, sizeof p, "captures/%s/router_logits", rel);
    if (read_f64(a, p, &ar, &rl, &err) != 0) goto fail;
    snprintf(p, sizeof p, "relations/%s/input_offsets", rel);
    if (read_f64(a, p, &ao, &off, &err) != 0) goto fail;
    snprintf(p, sizeof p, "%s/r", g);
    if (read_f64(a, p, &am, &rm, &err) != 0) goto fail;
    snprintf(p, sizeof p, "routing/%s/expert_ranking_frequency", rel);
    if (read_f64(a, p, &ak, &rk, &err) != 0) goto fail;
    if (ah.ndim != 4 || ar.ndim != 3 || ar.shape[0] != ah.shape[0]) {
        snprintf(why, wl,
                 "captures of %s: expected head_out [tokens,L,nH,H] and router_logits "
                 "[tokens,L,E] (run with capture.positions: all)",
                 rel);
        goto done;
    }
    const int64_t N = ah.shape[0], L = ah.shape[1], nH = ah.shape[2], H = ah.shape[3];
    const int64_t E = ar.shape[2], R = L * nH, C = L * E, P = (int64_t)ao.count - 1;
    if (am.ndim != 2 || am.shape[0] != R || am.shape[1] != C || (int64_t)off[P] != N) {
        snprintf(why, wl, "%s/r or the offsets do not fit the captures", g);
        goto done;
    }
    x = calloc((size_t)(N * R), sizeof *x);
    y = calloc((size_t)(N * C), sizeof *y);
    sxy = calloc((size_t)(R * C), sizeof *sxy);
    sxx = calloc((size_t)R, sizeof *sxx);
    syy = calloc((size_t)C, sizeof *syy);
    mx = calloc((size_t)R, sizeof *mx);
    my = calloc((size_t)C, sizeof *my);
    if (!x || !y || !sxy || !sxx || !syy || !mx || !my) goto fail;
    for (int64_t t = 0; t < N; t++) {
        for (int64_t i = 0; i < R; i++) {
            double q = 0;
            for (int64_t d = 0; d < H; d++) q += ho[(t * R + i) * H + d] * ho[(t * R + i) * H + d];
            x[t * R + i] = sqrt(q);
        }
        for (int64_t l = 0; l < L; l++) {
            const double *z = rl + (t * L + l) * E;
            double mxz = z[0], s = 0;
            for (int64_t e = 1; e < E; e++) mxz = z[e] > mxz ? z[e] : mxz;
            for (int64_t e = 0; e < E; e++) s += exp(z[e] - mxz);
            for (int64_t e = 0; e < E; e++) y[t * C + l * E + e] = exp(z[e] - mxz) / s;
        }
    }
    for (int64_t q = 0; q < P; q++) {
        int64_t a0 = (int64_t)off[q], a1 = (int64_t)off[q + 1];
        memset(mx, 0, (size_t)R * sizeof *mx);
        memset(my, 0, (size_t)C * sizeof *my);
        for (int64_t t = a0; t < a1; t++) {
            for (int64_t i = 0; i < R; i++) mx[i] += x[t * R + i] / (double)(a1 - a0);
            for (int64_t j = 0; j < C; j++) my[j] += y[t * C + j] / (double)(a1 - a0);
        }
        for (int64_t t = a0; t < a1; t++)
            for (int64_t i = 0; i < R; i++) {
                double xi = x[t * R + i] - mx[i];
                sxx[i] += xi * xi;
                for (int64_t j = 0; j < C; j++) sxy[i * C + j] += xi * (y[t * C + j] - my[j]);
            }
        for (int64_t t = a0; t < a1; t++)
            for (int64_t j = 0; j < C; j++)
                syy[j] += (y[t * C + j] - my[j]) * (y[t * C + j] - my[j]);
    }
    double best_abs = -1, best_pair = -INFINITY;
    for (int64_t i = 0; i < R; i++)
        for (int64_t j = 0; j < C; j++) {
            double want = j / E < i / nH || sxx[i] * syy[j] <= 0
                              ? NAN
                              : sxy[i * C + j] / sqrt(sxx[i] * syy[j]);
            double got = rm[i * C + j];
            if (isnan(want) != isnan(got)) {
                snprintf(why, wl, "r[%lld][%lld] = %.9g, recomputed %.9g", (long long)i,
                         (long long)j, got, want);
                goto done;
            }
            if (isnan(want)) continue;
            note("temporal.r", fabs(got - want));
            if (fabs(got - want) > 1e-5) {
                snprintf(why, wl, "r[%lld][%lld] = %.9g, recomputed %.9g", (long long)i,
                         (long long)j, got, want);
                goto done;
            }
            if (fabs(got) > best_abs) best_abs = fabs(got);
            for (int64_t q = 0; q < 10 && q < ak.shape[0]; q++)
                if (rk[3 * q] == (double)(j / E) && rk[3 * q + 1] == (double)(j % E) &&
                    got > best_pair)
                    best_pair = got;
        }
    double n, pr;
    if (arc_read_attr_f64(a, g, "n", &n, &err) != 0) goto fail;
    if (n != (double)N) {
        snprintf(why, wl, "n = %g, expected %lld tokens", n, (long long)N);
        goto done;
    }
    snprintf(p, sizeof p, "%s/strongest/r", g);
    if (arc_read(a, p, &ax, &err) != 0) goto fail;
    for (size_t q = 0; q < ax.count; q++) {
        double v = fabs(((double *)ax.data)[q]);
        if ((q == 0 && v != best_abs) || (q > 0 && v > fabs(((double *)ax.data)[q - 1]))) {
            snprintf(why, wl, "strongest/r[%zu] = %.9g is out of order (largest |r| %.9g)", q, v,
                     best_abs);
            goto done;
        }
    }
    snprintf(p, sizeof p, "%s/pair", g);
    if (arc_read_attr_f64(a, p, "r", &pr, &err) != 0) goto fail;
    if (pr != best_pair) {
        snprintf(why, wl, "pair r = %.9g, the largest eligible r is %.9g", pr, best_pair);
        goto done;
    }
    rc = 0;
    goto done;
fail:
    snprintf(why, wl, "%s", err.set ? err.msg : "out of memory");
done:
    arc_array_free(&ah);
    arc_array_free(&ar);
    arc_array_free(&ao);
    arc_array_free(&am);
    arc_array_free(&ak);
    arc_array_free(&ax);
    free(ho);
    free(rl);
    free(off);
    free(rm);
    free(rk);
    free(x);
    free(y);
    free(sxy);
    free(sxx);
    free(syy);
    free(mx);
    free(my);
    return rc;
}

static int temporal_main(const char *archive, const char *label)
{
    arc_reader *a = NULL;
    arc_names rels = {0};
    mp_err err;
    int failed = 0;
    err_init(&err);
    if (arc_open_read(&a, archive, &err) != 0 ||
        arc_list(a, "/analyses", ARC_GROUP, &rels, &err) != 0) {
        printf("FAIL %s: %s\n", label, err.msg);
        arc_reader_close(a);
        return 1;
    }
    for (size_t i = 0; i < rels.n; i++) {
        char why[1200] = "";
        if (temporal_relation(a, rels.v[i], why, sizeof why) != 0) {
            printf("FAIL %s/%s: %s\n", label, rels.v[i], why);
            failed++;
        } else {
            printf("PASS %s/%s\n", label, rels.v[i]);
        }
        why[0] = 0;
        if (mt_relation(a, rels.v[i], why, sizeof why) != 0) {
            printf("FAIL %s/%s/multiple_testing: %s\n", label, rels.v[i], why);
            failed++;
        } else {
            printf("PASS %s/%s/multiple_testing\n", label, rels.v[i]);
        }
    }
    if (rels.n == 0) {
        printf("FAIL %s: no analyses in %s\n", label, archive);
        failed++;
    }
    printf("INFO %s: %zu relations; worst |diff|:", label, rels.n);
    for (int i = 0; i < n_fields; i++) printf(" %s %.2g", fields[i].name, fields[i].worst);
    printf("\n");
    arc_names_free(&rels);
    arc_reader_close(a);
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--temporal")) return temporal_main(argv[2], argv[3]);
    arc_reader *a = NULL;
    mp_err err;
    json_error_t je;
    int failed = 0;
    err_init(&err);
    if (argc != 4) {
        fprintf(stderr,
                "usage: he_cmp ARCHIVE.h5 REF.json LABEL | he_cmp --temporal ARCHIVE.h5 LABEL\n");
        return 2;
    }
    json_t *ref = json_load_file(argv[2], 0, &je);
    if (!ref) {
        printf("FAIL %s: %s line %d: %s\n", argv[3], argv[2], je.line, je.text);
        return 1;
    }
    if (arc_open_read(&a, argv[1], &err) != 0) {
        printf("FAIL %s: %s\n", argv[3], err.msg);
        json_decref(ref);
        return 1;
    }
    json_t *rels = json_object_get(ref, "relations"), *rv;
    const char *rel;
    int nrel = 0;
    json_object_foreach(rels, rel, rv)
    {
        json_t *he = json_object_get(rv, "head_expert");
        char why[1200] = "";
        if (!he) continue;
        nrel++;
        if (cmp_relation(a, rel, he, why, sizeof why) != 0) {
            printf("FAIL %s/%s: %s\n", argv[3], rel, why[0] ? why : "differs");
            failed++;
        } else {
            printf("PASS %s/%s\n", argv[3], rel);
        }
        why[0] = 0;
        if (mt_relation(a, rel, why, sizeof why) != 0) {
            printf("FAIL %s/%s/multiple_testing: %s\n", argv[3], rel, why);
            failed++;
        } else {
            printf("PASS %s/%s/multiple_testing\n", argv[3], rel);
        }
    }
    if (nrel == 0) {
        printf("FAIL %s: %s has no head_expert entries\n", argv[3], argv[2]);
        failed++;
    }
    printf("INFO %s: %d relations, %ld values compared; worst |diff|:", argv[3], nrel, compared);
    for (int i = 0; i < n_fields; i++) printf(" %s %.2g", fields[i].name, fields[i].worst);
    printf("\n");
    arc_reader_close(a);
    json_decref(ref);
    return failed ? 1 : 0;
}
