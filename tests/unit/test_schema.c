/* test_schema.c — the archive schema's machinery (pipeline/archive/schema.c): path patterns,
 * path building, writers that refuse what their entry does not describe, readers that read
 * exactly the entry's layout, and the tables themselves (unique, well-formed entries). */
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
    static const struct { const char *p, *s; int want; } M[] = {
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
    CHECK(sch_path(b, sizeof b, &err, BLK(BLOCK), "rel_a", "5") == 0 && !strcmp(b, "block/rel_a/block5"),
          "path/filled", "'%s'", b);
    CHECK(sch_path(b, sizeof b, &err, BLK(BLOCK), "rel_a", "x5") != 0 && strstr(err.msg, "block{N}"),
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
    arc_provenance prov = {NULL, NULL, "{}", "out: o\n", 1};
    if (!CHECK(arc_writer_open(&w, path, &prov, NULL, &err) == 0 &&
                   arc_unit_begin(w, "summarise/r", &u, &err) == 0,
               "write/open", "%s", err.msg))
        return;
    double curve[3] = {1, 2, 3};
    int64_t L = 3;
    CHECK(sch_write(u, SUM(FFN_GAIN_CURVE), "analyses/r/summary/ffn_gain_curve", &L, curve, &err) == 0,
          "write/dataset", "%s", err.msg);
    CHECK(sch_write(u, SUM(FFN_GAIN_CURVE), "analyses/r/ffn_gain_curve", &L, curve, &err) != 0 &&
              strstr(err.msg, "analyses/{rel}/summary/ffn_gain_curve"),
          "write/wrong_path_refused", "%s", err.msg);
    CHECK(sch_attr_f64(u, SUM(TOTAL_FFN_GAIN), "analyses/r/summary", NULL, 6, &err) == 0,
          "write/attribute", "%s", err.msg);
    CHECK(sch_attr_i64(u, SUM(TOTAL_FFN_GAIN), "analyses/r/summary", NULL, 6, &err) != 0 &&
              strstr(err.msg, "float64"),
          "write/wrong_type_refused", "%s", err.msg);
    CHECK(sch_attr_f64(u, SUM(STAGE_SHARE_OF), "analyses/r/summary/stage_share", "middle", 1, &err) != 0,
          "write/wrong_name_refused", "%s", err.msg);
    CHECK(sch_attr_f64(u, SUM(STAGE_SHARE_OF), "analyses/r/summary/stage_share", "mid", 0.5, &err) == 0,
          "write/patterned_name", "%s", err.msg);
    if (!CHECK(arc_unit_commit(w, u, &err) == 0 && arc_writer_close(w, &err) == 0, "write/commit", "%s",
               err.msg))
        return;
    if (!CHECK(arc_open_read(&r, path, &err) == 0, "read/open", "%s", err.msg)) return;
    double *v;
    int64_t n;
    CHECK(sch_get_vec(r, SUM(FFN_GAIN_CURVE), "analyses/r/summary/ffn_gain_curve", NULL, &v, &n) == 0 &&
              n == 3 && v[2] == 3,
          "read/dataset", "n %lld", (long long)n);
    if (n) free(v);
    CHECK(sch_get_num(r, SUM(TOTAL_FFN_GAIN), "analyses/r/summary", NULL) == 6, "read/attribute", "-");
    CHECK(sch_get_num(r, SUM(STAGE_SHARE_OF), "analyses/r/summary/stage_share", "mid") == 0.5,
          "read/patterned_name", "-");
    /* exactly the entry's layout: the same name elsewhere or as another kind is not found */
    CHECK(isnan(sch_get_num(r, SUM(TOTAL_FFN_GAIN), "analyses/r/summary/stage_share", NULL)),
          "read/other_path_not_found", "-");
    CHECK(isnan(sch_get_num(r, SUM(N), "analyses/r/summary", NULL)), "read/absent_is_nan", "-");
    CHECK(sch_has(r, SUM(GROUP), "analyses/r/summary") && !sch_has(r, SUM(STAGES), "analyses/r/summary/stages"),
          "read/has", "-");
    arc_reader_close(r);
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
            snprintf(name, sizeof name, "tables/%s/%s%s%s", tb->analysis, e->path, e->name ? "@" : "",
                     e->name ? e->name : "");
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
    return check_finish();
}
