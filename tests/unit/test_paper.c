/* test_paper.c — the paper's reported numbers (data/paper/NAME.yaml, report/paper.c):
 *   - the files parse, every value has its table, row, column, model and key, and the counts
 *     match the paper's tables (Table 1: 6 models x 7 columns; Table 2: 7 configurations x 2;
 *     Table 3: 3 x 2; Table 5: 5 relations x 2 models x 4; Table 8: 12 relations x 3 models x 4;
 *     6 models);
 *   - spot values as printed in the paper, and Table 5 agrees with Table 8 wherever both print a
 *     row (the paper repeats those rows);
 *   - the embedded copy equals the files;
 *   - bad files are refused naming the file, line and key. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report/paper.h"
#include "tests/unit/check.h"

static size_t count(const paper_data *p, const char *table)
{
    size_t c = 0;
    for (size_t i = 0; i < p->n; i++) c += !strcmp(p->v[i].table, table);
    return c;
}

static double val(const paper_data *p, const char *table, const char *model, const char *rel,
                  const char *key)
{
    const paper_value *v = paper_find(p, table, model, rel, key);
    return v ? v->value : NAN;
}

static void bad(const char *name, const char *text, const char *want)
{
    paper_data p = {0};
    mp_err err;
    err_init(&err);
    int rc = paper_parse(&p, "bad.yaml", text, strlen(text), &err);
    CHECK(rc != 0 && strstr(err.msg, want), name, "rc %d, message '%s' (expected '%s')", rc,
          err.msg, want);
    paper_free(&p);
}

int main(void)
{
    paper_data d = {0}, e = {0};
    mp_err err;
    err_init(&err);
    int rc = paper_load_dir(&d, check_root_path("data/paper"), &err);
    CHECK(rc == 0, "paper/files_parse", "%s", err.msg);
    if (rc != 0) return check_finish();
    CHECK(count(&d, "1") == 42 && count(&d, "2") == 14 && count(&d, "3") == 6 &&
              count(&d, "5") == 40 && count(&d, "8") == 144 && d.nm == 6,
          "paper/counts_match_tables", "Table 1 %zu, 2 %zu, 3 %zu, 5 %zu, 8 %zu values, %zu models",
          count(&d, "1"), count(&d, "2"), count(&d, "3"), count(&d, "5"), count(&d, "8"), d.nm);
    size_t incomplete = 0;
    for (size_t i = 0; i < d.n; i++) {
        const paper_value *v = &d.v[i];
        incomplete += !v->table[0] || !v->row[0] || !v->column[0] || !v->key[0] ||
                      ((!strcmp(v->table, "5") || !strcmp(v->table, "8")) && !v->relation[0]);
    }
    CHECK(incomplete == 0 && count(&d, "abstract") >= 3, "paper/every_value_placed",
          "%zu values without table/row/column/key/relation; %zu abstract values", incomplete,
          count(&d, "abstract"));
    CHECK(val(&d, "1", "qwen1.5-moe", NULL, "layer_efficiency") == 0.307 &&
              val(&d, "1", "mistral-7b", NULL, "peak_ffn_layer_pct") == 83.2 &&
              val(&d, "1", "mixtral", NULL, "peak_ffn_layer") == 26.66 &&
              val(&d, "2", "qwen1.5-moe", NULL, "mrr_shared_top1") == 0.59 &&
              val(&d, "3", "mixtral", NULL, "hit10_topk1") == 0.86 &&
              val(&d, "8", "qwen1.5-moe", "occupation_age", "mrr") == 0.22 &&
              val(&d, "8", "qwen1.5-moe", "occupation_age", "mrr_block10") == 0.36 &&
              val(&d, "8", "mixtral", "word_last_letter", "mrr_block10") == 0.68 &&
              val(&d, "abstract", "olmoe", "country_capital_city", "mrr_drop_rel_block10") == 76,
          "paper/spot_values",
          "Table 1 Qwen 1.5-MoE efficiency %g, Table 8 occupation_age %g -> %g",
          val(&d, "1", "qwen1.5-moe", NULL, "layer_efficiency"),
          val(&d, "8", "qwen1.5-moe", "occupation_age", "mrr"),
          val(&d, "8", "qwen1.5-moe", "occupation_age", "mrr_block10"));
    size_t differ = 0, same = 0;
    for (size_t i = 0; i < d.n; i++) {
        const paper_value *v = &d.v[i];
        if (strcmp(v->table, "5")) continue;
        double w = val(&d, "8", v->model, v->relation, v->key);
        if (isnan(w)) continue;
        same++;
        if (w != v->value) {
            differ++;
            printf("  Table 5 %s %s %s = %g, Table 8 %g\n", v->model, v->relation, v->key, v->value,
                   w);
        }
    }
    CHECK(same >= 24 && differ == 0, "paper/table5_agrees_with_table8",
          "%zu of %zu shared values differ", differ, same);
    const paper_model *q = paper_model_find(&d, "qwen1.5-moe");
    CHECK(q && q->num_hidden_layers == 24 && q->num_experts == 60 && q->num_experts_per_tok == 4 &&
              q->shared_expert && !strcmp(q->dense_sibling, "qwen1.5-7b"),
          "paper/models_shapes", "qwen1.5-moe: %s", q ? q->architecture : "missing");

    rc = paper_load_embedded(&e, &err);
    int same_copy = rc == 0 && e.n == d.n && e.nm == d.nm;
    for (size_t i = 0; same_copy && i < d.n; i++)
        same_copy = !strcmp(e.v[i].row, d.v[i].row) && e.v[i].value == d.v[i].value &&
                    !strcmp(e.v[i].key, d.v[i].key);
    CHECK(same_copy, "paper/embedded_copy_equals_files",
          "rc %d %s, %zu vs %zu values (rebuild after editing "
          "data/paper)",
          rc, rc ? err.msg : "", e.n, d.n);

    bad("paper/bad_missing_key",
        "values:\n  - {table: \"1\", row: r, column: c, model: olmoe, value: 1}\n",
        "bad.yaml:2: the entry has no 'key'");
    bad("paper/bad_value",
        "values:\n  - {table: \"1\", row: r, column: c, model: olmoe, key: k, value: lots}\n",
        "bad.yaml:2: 'value' is \"lots\", expected a finite number");
    bad("paper/bad_syntax", "values: [\n", "bad.yaml:2:1: YAML syntax error");
    bad("paper/bad_shape", "rows: []\n", "expected a mapping with a list 'values' or 'models'");
    bad("paper/bad_model_flag",
        "models:\n  - {id: a, name: A, architecture: X, shared_expert: maybe}\n",
        "'shared_expert' is \"maybe\"");
    paper_free(&d);
    paper_free(&e);
    return check_finish();
}
