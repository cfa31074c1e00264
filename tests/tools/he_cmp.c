/* he_cmp.c — test tool: compares the analyses/<rel>/head_expert groups of a moeprobe archive
 * with a refs-analyses JSON (../shared/fixtures/refs-analyses/<model>.json,
 * relations.<rel>.head_expert), every field, with the tolerances of that folder's README:
 *   exact      indices (head, expert, top4_experts, strongest heads/experts), n,
 *              expert_rank_in_top_experts, and which entries of r are null (NaN here)
 *   5e-3       the r matrix
 *   1e-4       r, p and r_margin_to_next of strongest and pair
 *   1e-6       hit10* and mrr* values and recovery_fraction (relative above 1)
 *   1e-5       everything else: probabilities, shares, min_* diagnostics
 * null in the ref must be NaN in the archive. Prints "PASS <label>/<rel>" or
 * "FAIL <label>/<rel>: ..." per relation and "INFO <label> <field> worst |diff| X" per field.
 *   he_cmp ARCHIVE.h5 REF.json LABEL */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive.h"

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

int main(int argc, char **argv)
{
    arc_reader *a = NULL;
    mp_err err;
    json_error_t je;
    int failed = 0;
    err_init(&err);
    if (argc != 4) {
        fprintf(stderr, "usage: he_cmp ARCHIVE.h5 REF.json LABEL\n");
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
    for (int i = 0; i < n_fields; i++)
        printf("INFO %s %-40s worst |diff| %.3g\n", argv[3], fields[i].name, fields[i].worst);
    printf("INFO %s: %d relations, %ld values compared\n", argv[3], nrel, compared);
    arc_reader_close(a);
    json_decref(ref);
    return failed ? 1 : 0;
}
