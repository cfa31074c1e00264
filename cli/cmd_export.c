/* cmd_export.c — `moeprobe export ARCHIVE.h5... --csv DIR`: the paper's tables as CSV files for R
 * and spreadsheets, one row per (model, relation[, configuration]):
 *   table1.csv       the gain summary (analyses/<rel>/summary; pooled included)
 *   metrics.csv      HIT@10, MRR and every blocking / ablation result (metrics/<rel>)
 *   blocking.csv     block/<rel>/block<N>: the top-N experts blocked, with the blocked experts
 *   ablations.csv    block/<rel>/topk<k> and the shared-expert configurations
 *   head_expert.csv  analyses/<rel>/head_expert: the causal pair, suppression, forcing, path
 *   neurons.csv      analyses/<rel>/neurons/top<N>: where the top-N neurons live, overlaps
 * Columns are the archive's attribute names (docs/archive.md has their meaning and units), in a
 * fixed order; a value missing in a row is empty, NaN is written NaN. Each file is written whole
 * or not at all (atomic rename). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "pipeline/archive/archive.h"
#include "pipeline/util/atomic_file.h"

#define EX_MAX_COLS 256

/* One table being built: rows of (column, text) cells. */
typedef struct ex_table {
    char *cols[EX_MAX_COLS];
    size_t ncols;
    char ***cells; /* [row][col] malloc'd text or NULL */
    size_t nrows, cap;
} ex_table;

static int col_of(ex_table *t, const char *name)
{
    for (size_t i = 0; i < t->ncols; i++)
        if (!strcmp(t->cols[i], name)) return (int)i;
    if (t->ncols == EX_MAX_COLS) return -1;
    t->cols[t->ncols] = strdup(name);
    if (!t->cols[t->ncols]) return -1;
    for (size_t r = 0; r < t->nrows; r++) t->cells[r][t->ncols] = NULL;
    return (int)t->ncols++;
}

static int row_new(ex_table *t)
{
    if (t->nrows == t->cap) {
        size_t nc = t->cap ? 2 * t->cap : 16;
        char ***n = realloc(t->cells, nc * sizeof *n);
        if (!n) return -1;
        t->cells = n;
        t->cap = nc;
    }
    t->cells[t->nrows] = calloc(EX_MAX_COLS, sizeof(char *));
    if (!t->cells[t->nrows]) return -1;
    t->nrows++;
    return 0;
}

static void set(ex_table *t, const char *col, const char *text)
{
    int c = col_of(t, col);
    if (c < 0 || !t->nrows) return;
    free(t->cells[t->nrows - 1][c]);
    t->cells[t->nrows - 1][c] = strdup(text);
}

static void set_num(ex_table *t, const char *col, double v)
{
    char b[64];
    if (isnan(v))
        snprintf(b, sizeof b, "NaN");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(b, sizeof b, "%.0f", v);
    else
        snprintf(b, sizeof b, "%.17g", v);
    set(t, col, b);
}

static void table_free(ex_table *t)
{
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < EX_MAX_COLS; c++) free(t->cells[r][c]);
        free(t->cells[r]);
    }
    free(t->cells);
    for (size_t c = 0; c < t->ncols; c++) free(t->cols[c]);
    memset(t, 0, sizeof *t);
}

/* Every scalar attribute of the object at path as a column (prefix + name). */
static void put_attrs(ex_table *t, arc_reader *r, const char *path, const char *prefix)
{
    arc_names names = {0};
    mp_err e;
    err_init(&e);
    if (arc_list_attrs(r, path, &names, &e) != 0) return;
    for (size_t i = 0; i < names.n; i++) {
        arc_array a = {0};
        char col[300];
        snprintf(col, sizeof col, "%s%s", prefix, names.v[i]);
        if (arc_read_attr(r, path, names.v[i], &a, &e) != 0) continue;
        if (a.count == 1 && a.type == ARC_STR)
            set(t, col, ((char **)a.data)[0]);
        else if (a.count == 1 && a.type == ARC_F64)
            set_num(t, col, ((double *)a.data)[0]);
        else if (a.count == 1 && a.type == ARC_F32)
            set_num(t, col, ((float *)a.data)[0]);
        else if (a.count == 1 && a.type == ARC_I64)
            set_num(t, col, (double)((int64_t *)a.data)[0]);
        else if (a.count == 1 && a.type == ARC_I32)
            set_num(t, col, ((int32_t *)a.data)[0]);
        else if (a.type == ARC_I64 || a.type == ARC_F64) { /* short arrays: "a;b" */
            char b[512] = "";
            size_t o = 0;
            for (size_t k = 0; k < a.count && o < sizeof b - 32; k++)
                o += (size_t)snprintf(b + o, sizeof b - o, "%s%.17g", k ? ";" : "",
                                      a.type == ARC_I64 ? (double)((int64_t *)a.data)[k]
                                                        : ((double *)a.data)[k]);
            set(t, col, b);
        }
        arc_array_free(&a);
    }
    arc_names_free(&names);
}

/* Integer pairs/rows of a dataset as "a:b;c:d" (the (layer, expert) lists). */
static void put_rows(ex_table *t, arc_reader *r, const char *path, const char *col, int width)
{
    arc_array a = {0};
    mp_err e;
    err_init(&e);
    if (arc_kind_of(r, path) != ARC_DATASET || arc_read(r, path, &a, &e) != 0) return;
    size_t cap = a.count * 24 + 1, o = 0;
    char *b = malloc(cap);
    if (b && (a.type == ARC_I32 || a.type == ARC_I64)) {
        b[0] = '\0';
        for (size_t k = 0; k < a.count; k++) {
            long long v = a.type == ARC_I32 ? ((int32_t *)a.data)[k] : ((int64_t *)a.data)[k];
            o += (size_t)snprintf(b + o, cap - o, "%s%lld",
                                  k == 0 ? "" : (k % (size_t)width ? ":" : ";"), v);
        }
        set(t, col, b);
    }
    free(b);
    arc_array_free(&a);
}

static void csv_cell(FILE *f, const char *s)
{
    if (!s) return;
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static int table_write(const ex_table *t, const char *dir, const char *name, mp_err *err)
{
    char path[4200];
    af_tmp tmp = AF_TMP_INIT;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = -1;
    if (af_tmp_open(&tmp, path, err) != 0) goto done;
    FILE *f = af_tmp_stream(&tmp, err);
    if (!f) goto done;
    for (size_t c = 0; c < t->ncols; c++) {
        if (c) fputc(',', f);
        csv_cell(f, t->cols[c]);
    }
    fputc('\n', f);
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            if (c) fputc(',', f);
            csv_cell(f, t->cells[r][c]);
        }
        fputc('\n', f);
    }
    if (af_tmp_commit(&tmp, err) != 0) goto done;
    rc = 0;
done:
    af_tmp_discard(&tmp);
    return rc;
}

static int starts(const char *s, const char *p)
{
    return !strncmp(s, p, strlen(p));
}

/* The tables of one archive, appended to the six. */
static int export_archive(const char *path, ex_table tb[6], mp_err *err)
{
    arc_reader *r = NULL;
    arc_names rels = {0};
    char *model = NULL, g[1200];
    if (arc_open_read(&r, path, err) != 0) return -1;
    if (arc_read_attr_str(r, "/", "model_name", &model, err) != 0) {
        const char *b = strrchr(path, '/');
        model = strdup(b ? b + 1 : path);
        char *dot = model ? strstr(model, ".h5") : NULL;
        if (dot) *dot = '\0';
    }
    if (arc_kind_of(r, "metrics") != ARC_GROUP && arc_kind_of(r, "analyses") != ARC_GROUP) {
        err_set(err,
                "%s: no metrics or analyses group: not a moeprobe run archive (or no "
                "analysis ran yet)",
                path);
        goto fail;
    }
    /* metrics */
    if (arc_kind_of(r, "metrics") == ARC_GROUP &&
        arc_list(r, "metrics", ARC_GROUP, &rels, err) == 0)
        for (size_t i = 0; i < rels.n; i++) {
            if (row_new(&tb[1]) != 0) goto oom;
            set(&tb[1], "model", model);
            set(&tb[1], "relation", rels.v[i]);
            snprintf(g, sizeof g, "metrics/%s", rels.v[i]);
            put_attrs(&tb[1], r, g, "");
            snprintf(g, sizeof g, "metrics/%s/top_experts", rels.v[i]);
            put_rows(&tb[1], r, g, "top_experts", 3);
        }
    arc_names_free(&rels);
    /* table 1, head-expert and neurons: analyses/<rel> */
    if (arc_kind_of(r, "analyses") == ARC_GROUP &&
        arc_list(r, "analyses", ARC_GROUP, &rels, err) == 0)
        for (size_t i = 0; i < rels.n; i++) {
            snprintf(g, sizeof g, "analyses/%s/summary", rels.v[i]);
            if (arc_kind_of(r, g) == ARC_GROUP) {
                if (row_new(&tb[0]) != 0) goto oom;
                set(&tb[0], "model", model);
                set(&tb[0], "relation", rels.v[i]);
                put_attrs(&tb[0], r, g, "");
                static const char *const sub[] = {"stage_gain", "stage_share",
                                                  "stage_gain_per_layer"};
                for (size_t k = 0; k < 3; k++) {
                    char p[1300], pre[64];
                    snprintf(p, sizeof p, "%s/%s", g, sub[k]);
                    snprintf(pre, sizeof pre, "%s_", sub[k]);
                    put_attrs(&tb[0], r, p, pre);
                }
            }
            snprintf(g, sizeof g, "analyses/%s/head_expert", rels.v[i]);
            if (arc_kind_of(r, g) == ARC_GROUP) {
                if (row_new(&tb[4]) != 0) goto oom;
                set(&tb[4], "model", model);
                set(&tb[4], "relation", rels.v[i]);
                put_attrs(&tb[4], r, g, "");
                static const char *const sub[] = {"pair", "null", "suppression", "forcing", "path"};
                for (size_t k = 0; k < 5; k++) {
                    char p[1300], pre[64], q[1400];
                    snprintf(p, sizeof p, "%s/%s", g, sub[k]);
                    snprintf(pre, sizeof pre, "%s_", sub[k]);
                    put_attrs(&tb[4], r, p, pre);
                    snprintf(q, sizeof q, "%s/head", p);
                    snprintf(pre, sizeof pre, "%s_head", sub[k]);
                    put_rows(&tb[4], r, q, pre, 2);
                    snprintf(q, sizeof q, "%s/expert", p);
                    snprintf(pre, sizeof pre, "%s_expert", sub[k]);
                    put_rows(&tb[4], r, q, pre, 2);
                }
            }
            snprintf(g, sizeof g, "analyses/%s/neurons", rels.v[i]);
            arc_names tops = {0};
            if (strcmp(rels.v[i], "pooled") != 0 && arc_kind_of(r, g) == ARC_GROUP &&
                arc_list(r, g, ARC_GROUP, &tops, err) == 0)
                for (size_t k = 0; k < tops.n; k++) {
                    char p[1300];
                    snprintf(p, sizeof p, "%s/%s", g, tops.v[k]);
                    if (row_new(&tb[5]) != 0) {
                        arc_names_free(&tops);
                        goto oom;
                    }
                    set(&tb[5], "model", model);
                    set(&tb[5], "relation", rels.v[i]);
                    put_attrs(&tb[5], r, p, "");
                    char q[1400];
                    snprintf(q, sizeof q, "%s/top_experts", p);
                    put_rows(&tb[5], r, q, "top_experts", 3);
                }
            arc_names_free(&tops);
        }
    arc_names_free(&rels);
    /* blocking and ablations: block/<rel>/<config> */
    if (arc_kind_of(r, "block") == ARC_GROUP && arc_list(r, "block", ARC_GROUP, &rels, err) == 0)
        for (size_t i = 0; i < rels.n; i++) {
            arc_names cf = {0};
            double base = NAN;
            snprintf(g, sizeof g, "block/%s", rels.v[i]);
            arc_read_attr_f64(r, g, "mrr", &base, err);
            if (arc_list(r, g, ARC_GROUP, &cf, err) != 0) continue;
            for (size_t k = 0; k < cf.n; k++) {
                ex_table *t = starts(cf.v[k], "block") ? &tb[2] : &tb[3];
                char p[1300], q[1400];
                snprintf(p, sizeof p, "%s/%s", g, cf.v[k]);
                if (row_new(t) != 0) {
                    arc_names_free(&cf);
                    goto oom;
                }
                set(t, "model", model);
                set(t, "relation", rels.v[i]);
                set(t, "config", cf.v[k]);
                put_attrs(t, r, g, "base_");
                put_attrs(t, r, p, "");
                double m = NAN;
                if (arc_read_attr_f64(r, p, "mrr", &m, err) == 0) set_num(t, "mrr_drop", base - m);
                snprintf(q, sizeof q, "%s/blocked", p);
                put_rows(t, r, q, "blocked", 3);
            }
            arc_names_free(&cf);
        }
    arc_names_free(&rels);
    free(model);
    arc_reader_close(r);
    err_init(err);
    return 0;
oom:
    err_set(err, "out of memory");
fail:
    arc_names_free(&rels);
    free(model);
    arc_reader_close(r);
    return -1;
}

static void usage(FILE *f)
{
    fputs("usage: moeprobe export ARCHIVE.h5 [ARCHIVE.h5 ...] --csv DIR\n\n"
          "Writes the paper's tables of the archives as CSV into DIR (created if needed), one\n"
          "row per model and relation (and configuration):\n"
          "  table1.csv       gain summary: total FFN / attention gain, layer efficiency, peak\n"
          "                   FFN layer (1-based), stage gains and shares (Table 1)\n"
          "  metrics.csv      HIT@10, MRR and every blocking / ablation result per relation\n"
          "  blocking.csv     the top-N experts blocked: HIT@10, MRR, the drop, the experts\n"
          "                   (layer:expert:count;...) (Tables 5, 8)\n"
          "  ablations.csv    top-k and shared-expert configurations (Tables 2, 3)\n"
          "  head_expert.csv  the causal head-expert pair, suppression, forcing, path (Table 4)\n"
          "  neurons.csv      where the top-N neurons live and how they overlap (Table 7)\n"
          "Columns are the archive's attribute names (docs/archive.md: meaning and units).\n",
          f);
}

int cmd_export(int argc, char **argv)
{
    const char *dir = NULL;
    const char *arcs[256];
    int na = 0, rc = 1;
    mp_err err;
    err_init(&err);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--csv") && i + 1 < argc) {
            dir = argv[++i];
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "moeprobe export: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (na < 256) {
            arcs[na++] = argv[i];
        }
    }
    if (!dir || na == 0) {
        fprintf(stderr, "moeprobe export: %s\n",
                !dir ? "--csv DIR is required" : "no archive given");
        usage(stderr);
        return 2;
    }
    ex_table tb[6];
    memset(tb, 0, sizeof tb);
    static const char *const FILES[6] = {"table1.csv",    "metrics.csv",     "blocking.csv",
                                         "ablations.csv", "head_expert.csv", "neurons.csv"};
    for (int i = 0; i < na; i++)
        if (export_archive(arcs[i], tb, &err) != 0) {
            fprintf(stderr, "moeprobe export: %s\n", err.msg);
            goto done;
        }
    if (af_mkdir_p(dir, &err) != 0) {
        fprintf(stderr, "moeprobe export: %s\n", err.msg);
        goto done;
    }
    for (int k = 0; k < 6; k++) {
        if (tb[k].nrows == 0) continue; /* that analysis did not run */
        if (table_write(&tb[k], dir, FILES[k], &err) != 0) {
            fprintf(stderr, "moeprobe export: %s\n", err.msg);
            goto done;
        }
        printf("%s/%s\n", dir, FILES[k]);
    }
    rc = 0;
done:
    for (int k = 0; k < 6; k++) table_free(&tb[k]);
    return rc;
}
