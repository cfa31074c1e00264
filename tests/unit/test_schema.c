/* test_schema.c — the archive schema's machinery (pipeline/archive/schema.c): path patterns,
 * path building, writers that refuse what their entry does not describe, readers that read
 * exactly the entry's layout, the tables themselves (unique, well-formed entries) and their
 * dimension names (every one described, none clashing with a dataset of its group), and the
 * dimension scales and CF attributes a snapshot carries. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/archive/archive.h"
#include "stages/schema.h"
#include "stages/schema_block.h"
#include "stages/schema_summarise.h"
#include "tests/unit/check.h"

static void test_match(void)
{
    static const struct {
        const char *p, *s;
        int want;
    } M[] = {
        {"metrics/{rel}", "metrics/adj_antonym", 1},
        {"metrics/{rel}", "metrics/a/b", 0},
        {"metrics/{rel}", "metrics/", 0},
        {"block/{rel}/block{N}", "block/r/block10", 1},
        {"block/{rel}/block{N}", "block/r/block", 0},
        {"block/{rel}/block{N}", "block/r/blockx", 0},
        {"mrr_block{N}", "mrr_drop_block5", 0},
        {"mrr_{only_top1|shared_2nd}", "mrr_shared_2nd", 1},
        {"mrr_{only_top1|shared_2nd}", "mrr_shared_3rd", 0},
        {"top{N}_experts", "top4_experts", 1},
        {"attribution/{rel}/neuron_top{N}", "attribution/r/neuron_top100_score", 0},
        {"attribution/{rel}/neuron_top{N}_score", "attribution/r/neuron_top100_score", 1},
        {"{early|mid|late}", "late", 1},
        {"/", "/", 1},
    };
    for (size_t i = 0; i < sizeof M / sizeof *M; i++) {
        char name[200];
        snprintf(name, sizeof name, "match/%s~%s", M[i].p, M[i].s);
        CHECK(sch_match(M[i].p, M[i].s) == M[i].want, name, "got %d", !M[i].want);
    }
}

static void test_path(void)
{
    char b[64];
    mp_err err;
    err_init(&err);
    CHECK(sch_path(b, sizeof b, &err, BLK(BLOCK), "rel_a", "5") == 0 &&
              !strcmp(b, "block/rel_a/block5"),
          "path/filled", "'%s'", b);
    CHECK(sch_path(b, sizeof b, &err, BLK(BLOCK), "rel_a", "x5") != 0 &&
              strstr(err.msg, "block{N}"),
          "path/bad_number", "%s", err.msg);
    CHECK(sch_path(b, sizeof b, &err, SUM(GROUP), "a/b") != 0, "path/slash_refused", "'%s'", b);
    CHECK(sch_path(b, 8, &err, SUM(GROUP), "rel") != 0, "path/too_long", "'%s'", b);
}

/* Writers through an entry: the right layout works, the wrong one is refused with the entry named. */
static void test_write_read(void)
{
    char path[600];
    mp_err err;
    arc_writer *w = NULL;
    arc_unit *u = NULL;
    arc_reader *r = NULL;
    err_init(&err);
    snprintf(path, sizeof path, "%s/a.h5", check_tmp_dir());
    arc_provenance prov = {
        .model_config_json = "{}", .run_config_yaml = "out: o\n", .mpi_ranks = 1};
    if (!CHECK(arc_writer_open(&w, path, &prov, NULL, &err) == 0 &&
                   arc_unit_begin(w, "summarise/r", &u, &err) == 0,
               "write/open", "%s", err.msg))
        return;
    double curve[3] = {1, 2, 3};
    int64_t L = 3;
    CHECK(sch_write(u, SUM(FFN_GAIN_CURVE), "analyses/r/summary/ffn_gain_curve", &L, curve, &err) ==
              0,
          "write/dataset", "%s", err.msg);
    CHECK(sch_write(u, SUM(FFN_GAIN_CURVE), "analyses/r/ffn_gain_curve", &L, curve, &err) != 0 &&
              strstr(err.msg, "analyses/{rel}/summary/ffn_gain_curve"),
          "write/wrong_path_refused", "%s", err.msg);
    CHECK(sch_attr_f64(u, SUM(TOTAL_FFN_GAIN), "analyses/r/summary", NULL, 6, &err) == 0,
          "write/attribute", "%s", err.msg);
    CHECK(sch_attr_i64(u, SUM(TOTAL_FFN_GAIN), "analyses/r/summary", NULL, 6, &err) != 0 &&
              strstr(err.msg, "float64"),
          "write/wrong_type_refused", "%s", err.msg);
    CHECK(sch_attr_f64(u, SUM(STAGE_SHARE_OF), "analyses/r/summary/stage_share", "middle", 1,
                       &err) != 0,
          "write/wrong_name_refused", "%s", err.msg);
    CHECK(sch_attr_f64(u, SUM(STAGE_SHARE_OF), "analyses/r/summary/stage_share", "mid", 0.5,
                       &err) == 0,
          "write/patterned_name", "%s", err.msg);
    if (!CHECK(arc_unit_commit(w, u, &err) == 0 && arc_writer_close(w, &err) == 0, "write/commit",
               "%s", err.msg))
        return;
    if (!CHECK(arc_open_read(&r, path, &err) == 0, "read/open", "%s", err.msg)) return;
    double *v;
    int64_t n;
    CHECK(sch_get_vec(r, SUM(FFN_GAIN_CURVE), "analyses/r/summary/ffn_gain_curve", NULL, &v, &n) ==
                  0 &&
              n == 3 && v[2] == 3,
          "read/dataset", "n %lld", (long long)n);
    if (n) free(v);
    CHECK(sch_get_num(r, SUM(TOTAL_FFN_GAIN), "analyses/r/summary", NULL) == 6, "read/attribute",
          "-");
    CHECK(sch_get_num(r, SUM(STAGE_SHARE_OF), "analyses/r/summary/stage_share", "mid") == 0.5,
          "read/patterned_name", "-");
    /* exactly the entry's layout: the same name elsewhere or as another kind is not found */
    CHECK(isnan(sch_get_num(r, SUM(TOTAL_FFN_GAIN), "analyses/r/summary/stage_share", NULL)),
          "read/other_path_not_found", "-");
    CHECK(isnan(sch_get_num(r, SUM(N), "analyses/r/summary", NULL)), "read/absent_is_nan", "-");
    CHECK(sch_has(r, SUM(GROUP), "analyses/r/summary") &&
              !sch_has(r, SUM(STAGES), "analyses/r/summary/stages"),
          "read/has", "-");
    char *un = NULL, *ln = NULL, *conv = NULL;
    CHECK(arc_read_attr_str(r, "analyses/r/summary/ffn_gain_curve", "units", &un, &err) == 0 &&
              !strcmp(un, "nats") &&
              arc_read_attr_str(r, "analyses/r/summary/ffn_gain_curve", "long_name", &ln, &err) ==
                  0 &&
              !strcmp(ln, "mean FFN gain per layer"),
          "write/cf_attributes", "units %s long_name %s", un ? un : "(none)", ln ? ln : "(none)");
    arc_array a = {0};
    int ok = arc_read(r, "analyses/r/summary/layer", &a, &err) == 0 && a.type == ARC_I64 &&
             a.ndim == 1 && a.count == 3 && !strcmp(a.dim_names[0], "layer");
    for (size_t i = 0; ok && i < a.count; i++) ok = ((int64_t *)a.data)[i] == (int64_t)i;
    CHECK(ok, "snapshot/dimension_scale", "%s", err.msg);
    arc_array_free(&a);
    int64_t ver = 0;
    CHECK(arc_read_attr_str(r, "/", "Conventions", &conv, &err) == 0 && !strcmp(conv, "CF-1.8") &&
              arc_read_attr_i64(r, "/", "schema_version", &ver, &err) == 0 && ver == SCH_VERSION,
          "snapshot/conventions", "%s %lld", conv ? conv : "(none)", (long long)ver);
    free(un);
    free(ln);
    free(conv);
    arc_reader_close(r);
}

/* Placeholders bound from a path into dimension names. */
static void test_bind(void)
{
    char b[64];
    CHECK(sch_bind("attribution/{rel}/neuron_top{N}_score", "attribution/a_b/neuron_top300_score",
                   "N", b, sizeof b) == 0 &&
              !strcmp(b, "300"),
          "bind/number", "'%s'", b);
    CHECK(sch_bind("attribution/{rel}/neuron_top{N}", "attribution/x/neuron_top7", "rel", b,
                   sizeof b) == 0 &&
              !strcmp(b, "x"),
          "bind/relation", "'%s'", b);
    CHECK(sch_bind("attribution/{rel}/neuron_top{N}", "attribution/x/neuron_topX", "N", b,
                   sizeof b) != 0,
          "bind/no_match", "'%s'", b);
    CHECK(sch_bind("a/{rel}", "a/r", "N", b, sizeof b) != 0, "bind/no_placeholder", "'%s'", b);
    const sch_entry e = {SCH_DATASET, "attribution/{rel}/neuron_top{N}", NULL,    ARC_I32,
                         2,           {"sample", "neuron_rank_top{N}"},  "index", "x",
                         SCH_ALWAYS};
    CHECK(sch_dim_name(&e, "attribution/r/neuron_top100", 1, 0, b, sizeof b) == 0 &&
              !strcmp(b, "neuron_rank_top100"),
          "bind/dimension", "'%s'", b);
    CHECK(sch_dim_name(&e, "attribution/r/neuron_top100", 0, 1, b, sizeof b) == 0 &&
              !strcmp(b, "token"),
          "bind/token_rows", "'%s'", b);
    CHECK(sch_dim_name(&e, "attribution/r/neuron_top100", 1, 0, b, 8) != 0, "bind/too_long", "'%s'",
          b);
    sch_long_name("mean gain (nats); more", b, sizeof b);
    CHECK(!strcmp(b, "mean gain"), "long_name/cut", "'%s'", b);
}

/* Every dataset entry: units, every dimension named and in SCH_DIMS, no dimension twice, and no
 * dataset of the same group named like one of the group's dimensions (netCDF-4 would take it as
 * that dimension's coordinate) unless it is that coordinate. */
static void test_dims(void)
{
    long bad = 0, n = 0;
    for (size_t t = 0; t < SCH_N_TABLES; t++)
        for (size_t i = 0; i < SCH_TABLES[t]->n; i++) {
            const sch_entry *e = &SCH_TABLES[t]->e[i];
            if (e->kind != SCH_DATASET) continue;
            n++;
            const char *why = NULL;
            if (!e->units) why = "no units";
            for (int k = 0; !why && k < e->ndim; k++) {
                if (!e->dims[k])
                    why = "an unnamed dimension";
                else if (!sch_dim_find(e->dims[k])) {
                    /* a name with a placeholder is described by the same pattern */
                    int found = 0;
                    for (size_t d = 0; d < SCH_N_DIMS; d++)
                        found |= !strcmp(SCH_DIMS[d].name, e->dims[k]);
                    if (!found) why = "a dimension not in SCH_DIMS";
                }
                for (int j = 0; !why && j < k; j++)
                    if (!strcmp(e->dims[j], e->dims[k])) why = "a dimension twice";
            }
            const char *slash = strrchr(e->path, '/');
            size_t gl = slash ? (size_t)(slash - e->path) : 0;
            for (size_t u = 0; !why && u < SCH_N_TABLES; u++)
                for (size_t j = 0; !why && j < SCH_TABLES[u]->n; j++) {
                    const sch_entry *o = &SCH_TABLES[u]->e[j];
                    const char *os = o->kind == SCH_DATASET ? strrchr(o->path, '/') : NULL;
                    if (!os || (size_t)(os - o->path) != gl || strncmp(o->path, e->path, gl))
                        continue;
                    for (int k = 0; k < e->ndim; k++)
                        if (!strcmp(os + 1, e->dims[k]) &&
                            !(o->ndim == 1 && !strcmp(o->dims[0], os + 1))) /* its coordinate */
                            why = "a dimension named like a dataset of its group";
                }
            if (why) {
                bad++;
                CHECK(0, "dims/entry", "%s has %s", e->path, why);
            }
        }
    CHECK(bad == 0 && n > 70, "dims/every_dataset", "%ld of %ld dataset entries bad", bad, n);
    CHECK(sch_dim_find("neuron_rank_top300") && !sch_dim_find("neuron_rank_topx") &&
              !sch_dim_find("no_such_axis"),
          "dims/find", "-");
}

/* Every table: unique entries, datasets with a rank and dimension names, a description each. */
static void test_tables(void)
{
    size_t total = 0;
    for (size_t t = 0; t < SCH_N_TABLES; t++) {
        const sch_table *tb = SCH_TABLES[t];
        for (size_t i = 0; i < tb->n; i++) {
            const sch_entry *e = &tb->e[i];
            char name[300];
            snprintf(name, sizeof name, "tables/%s/%s%s%s", tb->analysis, e->path,
                     e->name ? "@" : "", e->name ? e->name : "");
            int ok = e->path && e->description && *e->description &&
                     (e->kind == SCH_ATTR) == (e->name != NULL) &&
                     (e->kind != SCH_DATASET || (e->ndim >= 1 && e->ndim <= SCH_MAX_DIMS));
            for (size_t u = 0; ok && u < SCH_N_TABLES; u++)
                for (size_t j = 0; ok && j < SCH_TABLES[u]->n; j++) {
                    const sch_entry *o = &SCH_TABLES[u]->e[j];
                    if (o == e || o->kind != e->kind || strcmp(o->path, e->path)) continue;
                    ok = e->kind == SCH_ATTR && strcmp(o->name, e->name);
                }
            if (!ok) CHECK(0, name, "malformed or duplicate entry");
            total++;
        }
    }
    CHECK(total > 150, "tables/well_formed", "%zu entries", total);
}

int main(void)
{
    test_match();
    test_path();
    test_write_read();
    test_tables();
    test_bind();
    test_dims();
    return check_finish();
}
