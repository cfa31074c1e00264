/* schema_check.c — test tool: compares an archive with the archive schema (stages/schema.h) in
 * both directions.
 *   1. Every group, dataset and attribute in the archive has an entry, with the entry's type,
 *      rank and dimension names (the first dimension may be "token" for entries flagged
 *      SCH_TOKEN_ROWS when the run config's capture.positions is all), every dimension name in
 *      the dimension table (SCH_DIMS), and the attributes units (the entry's), long_name and
 *      description on every dataset. Datasets without an entry are allowed only as the
 *      snapshot's dimension scales: named after a dimension of the table, 1-D along
 *      themselves, holding 0..n-1 unless a writer stores the coordinate.
 *   2. Every entry of an analysis that ran (its table's analysis matches a stage of the stored
 *      run config; the root table always) is present at least once, unless it is SCH_OPTIONAL
 *      or its model condition (SCH_MOE, SCH_SHARED, SCH_DENSE) does not hold for the model of
 *      the archive's model_config_json.
 * --drop PATH skips the object at PATH and everything under it, as if absent (to test the
 * second direction on a real archive). Prints one line per problem and a summary; exit 0 when
 * the archive matches, 1 when it does not, 2 on usage or read errors.
 *   schema_check ARCHIVE.h5 [--drop PATH]... */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/archive.h"
#include "pipeline/config/run_config.h"
#include "pipeline/model/model_config.h"
#include "stages/schema.h"
#include "stages/analysis_def.h"

typedef struct walk {
    arc_reader *r;
    int token_rows;          /* capture.positions is all */
    unsigned char *seen[64]; /* per table, per entry */
    long objects, problems;
    char **drop;
    int n_drop;
} walk;

static int dropped(const walk *w, const char *path)
{
    for (int i = 0; i < w->n_drop; i++)
        if (!strcmp(w->drop[i], path)) return 1;
    return 0;
}

static void problem(walk *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(walk *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("schema_check: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    w->problems++;
}

/* The first entry (tables in order) that describes the object; marks it seen. */
static const sch_entry *lookup(walk *w, sch_kind kind, const char *path, const char *name)
{
    for (size_t t = 0; t < SCH_N_TABLES; t++) {
        const sch_entry *e = sch_find(SCH_TABLES[t], kind, path, name);
        if (e) {
            w->seen[t][e - SCH_TABLES[t]->e] = 1;
            return e;
        }
    }
    return NULL;
}

/* HDF5's own storage of dimension labels and scales (H5DS). */
static int h5ds_attr(const char *nm)
{
    return !strcmp(nm, "DIMENSION_LABELS") || !strcmp(nm, "DIMENSION_LIST") ||
           !strcmp(nm, "REFERENCE_LIST") || !strcmp(nm, "CLASS") || !strcmp(nm, "NAME");
}

static int cf_attr(const char *nm)
{
    return !strcmp(nm, SCH_ATTR_UNITS) || !strcmp(nm, SCH_ATTR_LONG_NAME) ||
           !strcmp(nm, SCH_ATTR_DESCRIPTION);
}

/* units, long_name, description of a dataset: present, strings, units as the entry (or the
 * dimension table, for a scale) says. */
static void check_cf(walk *w, const char *path, const char *units)
{
    const char *want[] = {SCH_ATTR_UNITS, SCH_ATTR_LONG_NAME, SCH_ATTR_DESCRIPTION};
    for (int i = 0; i < 3; i++) {
        char *v = NULL;
        mp_err err;
        err_init(&err);
        if (arc_read_attr_str(w->r, path, want[i], &v, &err) != 0) {
            problem(w, "dataset %s has no string attribute %s", path, want[i]);
            continue;
        }
        if (i == 0 && units && strcmp(v, units) != 0)
            problem(w, "dataset %s has units \"%s\", its entry says \"%s\"", path, v, units);
        free(v);
    }
}

static void check_attrs(walk *w, const char *path)
{
    arc_names names;
    mp_err err;
    err_init(&err);
    if (arc_list_attrs(w->r, path, &names, &err) != 0) {
        problem(w, "%s: %s", path, err.msg);
        return;
    }
    for (size_t i = 0; i < names.n; i++) {
        const char *nm = names.v[i];
        arc_array a;
        if (h5ds_attr(nm)) continue;
        if (cf_attr(nm) && arc_kind_of(w->r, path) == ARC_DATASET) continue; /* check_cf */
        w->objects++;
        const sch_entry *e = lookup(w, SCH_ATTR, path, nm);
        if (!e) {
            problem(w, "attribute %s of %s has no schema entry", nm, path);
            continue;
        }
        if (arc_read_attr(w->r, path, nm, &a, &err) != 0) {
            problem(w, "attribute %s of %s: %s", nm, path, err.msg);
            continue;
        }
        if (a.type != e->type || (a.ndim > 0) != (e->ndim > 0)) {
            char got[64], want[64];
            snprintf(got, sizeof got, "%s%s", arc_type_name(a.type), a.ndim ? "[]" : "");
            snprintf(want, sizeof want, "%s%s", arc_type_name(e->type), e->ndim ? "[]" : "");
            problem(w, "attribute %s of %s is %s, its entry says %s", nm, path, got, want);
        }
        arc_array_free(&a);
    }
    arc_names_free(&names);
}

static void check_dataset(walk *w, const char *path)
{
    arc_array a;
    mp_err err;
    err_init(&err);
    w->objects++;
    const sch_entry *e = lookup(w, SCH_DATASET, path, NULL);
    const char *leaf = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char *cls = NULL;
    mp_err e2;
    err_init(&e2);
    if (!e && arc_read_attr_str(w->r, path, "CLASS", &cls, &e2) == 0 &&
        !strcmp(cls, "DIMENSION_SCALE")) { /* a coordinate the snapshot made (scales.c) */
        const sch_dim *d = sch_dim_find(leaf);
        free(cls);
        if (!d) problem(w, "dimension scale %s is not in the dimension table (SCH_DIMS)", path);
        if (arc_read(w->r, path, &a, &err) != 0 || a.ndim != 1 || strcmp(a.dim_names[0], leaf))
            problem(w, "dimension scale %s is not one-dimensional along itself", path);
        else
            for (size_t i = 0; i < a.count && d && d->coord == SCH_COORD_INDEX; i++)
                if (((int64_t *)a.data)[i] != (int64_t)i) {
                    problem(w, "dimension scale %s: value %zu is not %zu", path, i, i);
                    break;
                }
        arc_array_free(&a);
        check_cf(w, path, d ? d->units : NULL);
        check_attrs(w, path);
        return;
    }
    free(cls);
    if (!e) {
        problem(w, "dataset %s has no schema entry", path);
        return;
    }
    /* the header is enough: zero rows where the dataset has rows */
    if (arc_read_rows(w->r, path, 0, 0, &a, &err) != 0 && arc_read(w->r, path, &a, &err) != 0) {
        problem(w, "dataset %s: %s", path, err.msg);
        return;
    }
    char got[64], want[64];
    if (a.type != e->type || a.ndim != e->ndim) {
        snprintf(got, sizeof got, "%s[%d]", arc_type_name(a.type), a.ndim);
        snprintf(want, sizeof want, "%s[%d]", arc_type_name(e->type), e->ndim);
        problem(w, "dataset %s is %s, its entry says %s", path, got, want);
    }
    for (int i = 0; i < a.ndim && i < e->ndim && i < SCH_MAX_DIMS; i++) {
        char want_d[ARC_DIM_NAME_LEN];
        if (sch_dim_name(e, path, i, w->token_rows && (e->when & SCH_TOKEN_ROWS), want_d,
                         sizeof want_d) != 0)
            snprintf(want_d, sizeof want_d, "%s", e->dims[i] ? e->dims[i] : "");
        if (!sch_dim_find(a.dim_names[i]))
            problem(w, "dataset %s: dimension %d \"%s\" is not in the dimension table", path, i,
                    a.dim_names[i]);
        if (strcmp(a.dim_names[i], want_d) != 0) {
            problem(w, "dataset %s: dimension %d is named \"%s\", its entry says \"%s\"", path, i,
                    a.dim_names[i], want_d);
        }
    }
    arc_array_free(&a);
    check_cf(w, path, e->units);
    check_attrs(w, path);
}

static void check_group(walk *w, const char *path, int depth)
{
    arc_names names;
    mp_err err;
    err_init(&err);
    w->objects++;
    if (!lookup(w, SCH_GROUP, path, NULL)) problem(w, "group %s has no schema entry", path);
    check_attrs(w, path);
    if (depth > 12 || arc_list(w->r, path, ARC_NONE, &names, &err) != 0) return;
    for (size_t i = 0; i < names.n; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s%s%s", strcmp(path, "/") ? path : "", strcmp(path, "/") ? "/" : "",
                 names.v[i]);
        arc_kind k = arc_kind_of(w->r, p);
        if (dropped(w, p)) continue;
        if (k == ARC_GROUP)
            check_group(w, p, depth + 1);
        else if (k == ARC_DATASET)
            check_dataset(w, p);
    }
    arc_names_free(&names);
}

/* 1 if the table's analysis ran: the root always, the others when a listed stage matches. */
static int table_ran(const sch_table *t, const rcfg *cfg)
{
    const char *const *st;
    if (!strcmp(t->analysis, "archive")) return 1;
    size_t n = cfg ? rcfg_str_list(cfg, "stages", &st) : 0;
    for (size_t i = 0; i < n; i++)
        if (sch_match(t->analysis, st[i])) return 1;
    return 0;
}

int main(int argc, char **argv)
{
    walk w;
    mp_err err;
    rcfg *cfg = NULL;
    mcfg mc;
    char *yaml = NULL, *json = NULL;
    memset(&w, 0, sizeof w);
    err_init(&err);
    if (argc < 2 || argc % 2) {
        fprintf(stderr, "usage: schema_check ARCHIVE.h5 [--drop PATH]...\n");
        return 2;
    }
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--drop") != 0) {
            fprintf(stderr, "schema_check: unknown option %s (expected --drop PATH)\n", argv[i]);
            return 2;
        }
    }
    w.drop = argv + 3;
    w.n_drop = 0;
    char *drops[64];
    for (int i = 3; i < argc && w.n_drop < 64; i += 2) drops[w.n_drop++] = argv[i];
    w.drop = drops;
    if (arc_open_read(&w.r, argv[1], &err) != 0) {
        fprintf(stderr, "schema_check: %s\n", err.msg);
        return 2;
    }
    if (arc_read_attr_str(w.r, "/", "run_config_yaml", &yaml, &err) != 0 ||
        rcfg_load_stored(&cfg, yaml, "run_config_yaml", analysis_config_schema(), &err) != 0 ||
        arc_read_attr_str(w.r, "/", "model_config_json", &json, &err) != 0 ||
        mcfg_parse(&mc, json, "model_config_json", &err) != 0) {
        fprintf(stderr, "schema_check: %s: %s\n", argv[1], err.msg);
        return 2;
    }
    const int moe = mc.num_experts > 0, shared = mc.shared_expert_intermediate_size > 0;
    const char *pos = rcfg_str(cfg, "capture.positions");
    w.token_rows = pos && !strcmp(pos, "all");
    for (size_t t = 0; t < SCH_N_TABLES; t++) w.seen[t] = calloc(SCH_TABLES[t]->n + 1, 1);
    check_group(&w, "/", 0);
    long required = 0;
    for (size_t t = 0; t < SCH_N_TABLES; t++) {
        const sch_table *tb = SCH_TABLES[t];
        if (!table_ran(tb, cfg)) continue;
        for (size_t i = 0; i < tb->n; i++) {
            const sch_entry *e = &tb->e[i];
            if ((e->when & SCH_OPTIONAL) || ((e->when & SCH_MOE) && !moe) ||
                ((e->when & SCH_SHARED) && !shared) || ((e->when & SCH_DENSE) && moe))
                continue;
            required++;
            if (!w.seen[t][i])
                problem(&w, "%s %s%s%s (analysis %s) is required by the schema but absent",
                        sch_kind_name(e->kind), e->path, e->name ? " @ " : "",
                        e->name ? e->name : "", tb->analysis);
        }
    }
    printf("schema_check: %s: %ld objects, %ld required entries, %ld problems\n", argv[1],
           w.objects, required, w.problems);
    for (size_t t = 0; t < SCH_N_TABLES; t++) free(w.seen[t]);
    rcfg_free(cfg);
    free(yaml);
    free(json);
    arc_reader_close(w.r);
    return w.problems ? 1 : 0;
}
