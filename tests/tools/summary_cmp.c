/* summary_cmp.c — test tool: compares the summaries of a moeprobe archive (stage summarise:
 * analyses/<rel>/summary and analyses/pooled/summary) with a refs-analyses JSON
 * (the fixtures' refs-analyses/<model>.json, relations.<rel>.summary and pooled).
 * Every field of the JSON summary is walked generically, so a field the stage does not write
 * fails: a scalar is the group's attribute of the same name, a list a dataset, an object a
 * subgroup with one attribute per key; null must be NaN. The JSON top-level `stages` must
 * equal the attributes of summary/stages exactly.
 * Tolerances (refs-analyses README): integers exact; peak_ffn_layer and peak_ffn_layer_pct
 * (means of discrete choices) 2e-9, i.e. the same choices up to the JSON's 9 decimals; every
 * other number 1e-5 absolute.
 *   summary_cmp ARCHIVE.h5 REF.json LABEL
 * Prints "PASS|FAIL LABEL/<rel>" per relation and pooled, then one line "INFO LABEL worst
 * |diff|: <field> X (<where>), ..." (per field, the largest |diff| over the relations and
 * pooled, and where it occurred). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/archive.h"

#define MAX_FIELDS 64

static struct {
    char name[64];
    double worst;
    char where[64];
} fields[MAX_FIELDS];
static int n_fields;

static void note(const char *field, double d, const char *where)
{
    int i;
    for (i = 0; i < n_fields; i++)
        if (!strcmp(fields[i].name, field)) break;
    if (i == n_fields) {
        if (n_fields == MAX_FIELDS) return;
        snprintf(fields[n_fields].name, sizeof fields[0].name, "%s", field);
        fields[n_fields].worst = -1;
        n_fields++;
    }
    if (d > fields[i].worst) {
        fields[i].worst = d;
        snprintf(fields[i].where, sizeof fields[0].where, "%s", where);
    }
}

static double tol_of(const char *field)
{
    if (!strcmp(field, "peak_ffn_layer") || !strcmp(field, "peak_ffn_layer_pct")) return 2e-9;
    return 1e-5;
}

/* Compares JSON value j (number or null) with archive value a; fills why on failure. */
static int cmp_num(const json_t *j, double a, const char *field, const char *where, char *why,
                   size_t wl)
{
    if (json_is_null(j)) {
        if (isnan(a)) return 0;
        snprintf(why, wl, "%s: ref null, archive %.9g (expected NaN)", field, a);
        return -1;
    }
    if (!json_is_number(j)) {
        snprintf(why, wl, "%s: ref is not a number", field);
        return -1;
    }
    double r = json_number_value(j);
    if (json_is_integer(j) && !strcmp(field, "n")) {
        if (a == r) return 0;
        snprintf(why, wl, "%s: ref %.0f, archive %.17g", field, r, a);
        return -1;
    }
    double d = fabs(a - r);
    if (isnan(a)) d = INFINITY;
    note(field, d, where);
    if (d <= tol_of(field)) return 0;
    snprintf(why, wl, "%s: ref %.9f, archive %.12f (|diff| %.3g > %.0e)", field, r, a, d,
             tol_of(field));
    return -1;
}

static int cmp_summary(arc_reader *ar, const char *group, const json_t *sum, const json_t *stages,
                       const char *where, char *why, size_t wl)
{
    mp_err err;
    const char *key;
    json_t *v;
    char p[600];
    err_init(&err);
    if (arc_kind_of(ar, group) != ARC_GROUP) {
        snprintf(why, wl, "no group %s", group);
        return -1;
    }
    json_object_foreach((json_t *)sum, key, v)
    {
        if (json_is_array(v)) {
            arc_array a = {0};
            snprintf(p, sizeof p, "%s/%s", group, key);
            if (arc_read(ar, p, &a, &err) != 0 || a.type != ARC_F64 ||
                a.count != json_array_size(v)) {
                snprintf(why, wl, "%s: dataset %s missing or not float64 [%zu] (%s)", key, p,
                         json_array_size(v), err.set ? err.msg : "wrong type or size");
                arc_array_free(&a);
                return -1;
            }
            for (size_t i = 0; i < a.count; i++)
                if (cmp_num(json_array_get(v, i), ((double *)a.data)[i], key, where, why, wl) !=
                    0) {
                    arc_array_free(&a);
                    return -1;
                }
            arc_array_free(&a);
        } else if (json_is_object(v)) {
            const char *k2;
            json_t *v2;
            char field[128];
            snprintf(p, sizeof p, "%s/%s", group, key);
            json_object_foreach(v, k2, v2)
            {
                double x;
                snprintf(field, sizeof field, "%s.%s", key, k2);
                if (arc_read_attr_f64(ar, p, k2, &x, &err) != 0) {
                    snprintf(why, wl, "%s: %s", field, err.msg);
                    return -1;
                }
                if (cmp_num(v2, x, field, where, why, wl) != 0) return -1;
            }
        } else {
            double x;
            if (arc_read_attr_f64(ar, group, key, &x, &err) != 0) {
                snprintf(why, wl, "%s: %s", key, err.msg);
                return -1;
            }
            if (cmp_num(v, x, key, where, why, wl) != 0) return -1;
        }
    }
    /* the stage boundaries: exact */
    snprintf(p, sizeof p, "%s/stages", group);
    json_object_foreach((json_t *)stages, key, v)
    {
        arc_array a = {0};
        if (arc_read_attr(ar, p, key, &a, &err) != 0 || a.count != 2 || json_array_size(v) != 2 ||
            a.type != ARC_I64 ||
            ((int64_t *)a.data)[0] != json_integer_value(json_array_get(v, 0)) ||
            ((int64_t *)a.data)[1] != json_integer_value(json_array_get(v, 1))) {
            snprintf(why, wl, "stages.%s: ref [%lld, %lld], archive %s", key,
                     (long long)json_integer_value(json_array_get(v, 0)),
                     (long long)json_integer_value(json_array_get(v, 1)),
                     err.set ? err.msg : "differs");
            arc_array_free(&a);
            return -1;
        }
        arc_array_free(&a);
    }
    return 0;
}

int main(int argc, char **argv)
{
    arc_reader *ar = NULL;
    mp_err err;
    json_error_t je;
    int failed = 0, checked = 0;
    err_init(&err);
    if (argc != 4) {
        fprintf(stderr, "usage: summary_cmp ARCHIVE.h5 REF.json LABEL\n");
        return 2;
    }
    const char *label = argv[3];
    json_t *ref = json_load_file(argv[2], 0, &je);
    if (!ref) {
        printf("FAIL %s: %s:%d: %s\n", label, argv[2], je.line, je.text);
        return 1;
    }
    if (arc_open_read(&ar, argv[1], &err) != 0) {
        printf("FAIL %s: %s\n", label, err.msg);
        json_decref(ref);
        return 1;
    }
    const json_t *stages = json_object_get(ref, "stages");
    const json_t *rels = json_object_get(ref, "relations");
    const char *rel;
    json_t *rv;
    json_object_foreach((json_t *)rels, rel, rv)
    {
        char g[512], why[1024] = "";
        snprintf(g, sizeof g, "analyses/%s/summary", rel);
        int r = cmp_summary(ar, g, json_object_get(rv, "summary"), stages, rel, why, sizeof why);
        printf(r == 0 ? "PASS %s/%s\n" : "FAIL %s/%s: %s\n", label, rel, why);
        failed += r != 0;
        checked++;
    }
    {
        char why[1024] = "";
        int r = cmp_summary(ar, "analyses/pooled/summary", json_object_get(ref, "pooled"), stages,
                            "pooled", why, sizeof why);
        printf(r == 0 ? "PASS %s/pooled\n" : "FAIL %s/pooled: %s\n", label, why);
        failed += r != 0;
        checked++;
    }
    if (checked != 13) {
        printf("FAIL %s: %d summaries in %s (expected 12 relations + pooled)\n", label, checked,
               argv[2]);
        failed++;
    }
    printf("INFO %s worst |diff|:", label);
    for (int i = 0; i < n_fields; i++)
        printf("%s %s %.2g (%s)", i ? "," : "", fields[i].name, fields[i].worst, fields[i].where);
    printf("\n");
    arc_reader_close(ar);
    json_decref(ref);
    return failed ? 1 : 0;
}
