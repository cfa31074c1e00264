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
 *   he_cmp --temporal ARCHIVE.h5 LABEL */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/archive.h"

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
    json_array_foreach(ref, i, v) {
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
                if (!bad) snprintf(why, wl, "r[%zu][%zu] = %.9g, ref %s", i, j, got,
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
        json_array_foreach(sg, i, e) {
            double got = x.type == ARC_F64 ? ((double *)x.data)[i] :
                         x.type == ARC_I64 ? (double)((int64_t *)x.data)[i] : NAN;
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
        json_object_foreach(obj, key, v) {
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
                r = arc_read_attr_f64(a, p, key, &got, &err);
                if (r != 0) snprintf(w2, sizeof w2, "%s", err.msg);
                else r = cmp_value(f, key, got, v, w2, sizeof w2);
            }
            if (r != 0 && !bad) {
                snprintf(why, wl, "%s", w2);
                bad = 1;
            }
        }
    }
    return bad ? -1 : 0;
}

static int read_f64(arc_reader *a, const char *path, arc_array *x, double **v, mp_err *err)
{
    if (arc_read(a, path, x, err) != 0) return -1;
    *v = malloc((x->count ? x->count : 1) * sizeof **v);
    if (!*v) return err_set(err, "out of memory");
    for (size_t q = 0; q < x->count; q++)
        (*v)[q] = x->type == ARC_F64 ? ((double *)x->data)[q] : x->type == ARC_F32 ?
                  ((float *)x->data)[q] : x->type == ARC_I32 ? ((int32_t *)x->data)[q] :
                  (double)((int64_t *)x->data)[q];
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
        snprintf(why, wl, "captures of %s: expected head_out [tokens,L,nH,H] and router_logits "
                          "[tokens,L,E] (run with capture.positions: all)", rel);
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
            for (int64_t j = 0; j < C; j++) syy[j] += (y[t * C + j] - my[j]) * (y[t * C + j] - my[j]);
    }
    double best_abs = -1, best_pair = -INFINITY;
    for (int64_t i = 0; i < R; i++)
        for (int64_t j = 0; j < C; j++) {
            double want = j / E < i / nH || sxx[i] * syy[j] <= 0 ? NAN : sxy[i * C + j] / sqrt(sxx[i] * syy[j]);
            double got = rm[i * C + j];
            if (isnan(want) != isnan(got)) {
                snprintf(why, wl, "r[%lld][%lld] = %.9g, recomputed %.9g", (long long)i, (long long)j, got, want);
                goto done;
            }
            if (isnan(want)) continue;
            note("temporal.r", fabs(got - want));
            if (fabs(got - want) > 1e-5) {
                snprintf(why, wl, "r[%lld][%lld] = %.9g, recomputed %.9g", (long long)i, (long long)j, got, want);
                goto done;
            }
            if (fabs(got) > best_abs) best_abs = fabs(got);
            for (int64_t q = 0; q < 10 && q < ak.shape[0]; q++)
                if (rk[3 * q] == (double)(j / E) && rk[3 * q + 1] == (double)(j % E) && got > best_pair)
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
            snprintf(why, wl, "strongest/r[%zu] = %.9g is out of order (largest |r| %.9g)", q, v, best_abs);
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
    arc_array_free(&ah); arc_array_free(&ar); arc_array_free(&ao); arc_array_free(&am);
    arc_array_free(&ak); arc_array_free(&ax);
    free(ho); free(rl); free(off); free(rm); free(rk); free(x); free(y);
    free(sxy); free(sxx); free(syy); free(mx); free(my);
    return rc;
}

static int temporal_main(const char *archive, const char *label)
{
    arc_reader *a = NULL;
    arc_names rels = {0};
    mp_err err;
    int failed = 0;
    err_init(&err);
    if (arc_open_read(&a, archive, &err) != 0 || arc_list(a, "/analyses", ARC_GROUP, &rels, &err) != 0) {
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
        fprintf(stderr, "usage: he_cmp ARCHIVE.h5 REF.json LABEL | he_cmp --temporal ARCHIVE.h5 LABEL\n");
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
    json_object_foreach(rels, rel, rv) {
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
