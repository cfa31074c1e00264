/* test_run_config.c — the YAML run config: defaults of a three-key config, every key of a full
 * config, a sweep with a model file, a config with ten mistakes reported together with their
 * line:column, YAML syntax errors, round trips through rcfg_to_yaml_text and pack/unpack,
 * corrupt buffers, --explain listing every key, and accessors aborting on misspelled keys.
 * Runs from the repository root (paths in tests/data are relative to it). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipeline/config/run_config.h"
#include "pipeline/config/internal.h"
#include "stages/analysis_def.h"
#include "tests/unit/check.h"

static rcfg *load_ok(const char *path, const char *name)
{
    rcfg *c = NULL;
    rcfg_problems pr = {0};
    mp_err e;
    err_init(&e);
    int ok = rcfg_load(&c, path, analysis_config_schema(), &pr, &e) == 0;
    CHECK(ok && pr.n == 0, name, "%s", e.msg);
    for (size_t i = 0; i < pr.n; i++) printf("  problem: %s\n", pr.msg[i]);
    rcfg_problems_free(&pr);
    return c;
}

static void test_minimal(void)
{
    rcfg *c = load_ok("tests/data/run_minimal.yaml", "run_config.minimal_loads");
    if (!c) return;
    const int64_t *iv;
    const char *const *sv;
    size_t n_top = rcfg_int_list(c, "block.top_n", &iv);
    int ok =
        rcfg_int(c, "batch_size") == 64 && rcfg_int(c, "template") == 0 &&
        !rcfg_is_all(c, "template") && rcfg_int(c, "max_samples") == 0 && n_top == 3 &&
        iv[0] == 1 && iv[1] == 5 && iv[2] == 10 &&
        !strcmp(rcfg_str(c, "expert_placement"), "contiguous") && rcfg_enum(c, "block.mode") == 0 &&
        !strcmp(rcfg_str(c, "block.rank_by"), "frequency") &&
        rcfg_bool(c, "block.topk_ablation") == 1 && rcfg_bool(c, "attribute.neuron_screen") &&
        fabs(rcfg_float(c, "summarise.stages.early") - 0.55) < 1e-15 &&
        fabs(rcfg_float(c, "summarise.stages.late") - 0.20) < 1e-15 &&
        !strcmp(rcfg_str(c, "heads_experts.correlation"), "static") &&
        rcfg_int(c, "heads_experts.strongest") == 10 &&
        rcfg_int(c, "heads_experts.top_experts_for_pair") == 10 &&
        rcfg_int(c, "heads_experts.suppression_top_experts") == 4 &&
        rcfg_int(c, "neurons.top_experts") == 5 && rcfg_int(c, "neurons.top_shared_neurons") == 5 &&
        !strcmp(rcfg_str(c, "report.format"), "html") &&
        !strcmp(rcfg_str(c, "report.plots"), "svg") && rcfg_float(c, "snapshot_every_s") == 0 &&
        rcfg_float(c, "progress_every_s") == 30 && rcfg_is_all(c, "capture.layers") &&
        !strcmp(rcfg_str(c, "capture.positions"), "last") && rcfg_str(c, "name") == NULL &&
        rcfg_int(c, "archive.deflate") == 1;
    CHECK(ok, "run_config.minimal_defaults", "batch_size %lld template %lld",
          (long long)rcfg_int(c, "batch_size"), (long long)rcfg_int(c, "template"));
    size_t ns = rcfg_str_list(c, "stages", &sv);
    CHECK(ns == 8 && !strcmp(sv[0], "capture") && !strcmp(sv[7], "report") &&
              rcfg_list_has(c, "stages", "heads_experts") && !rcfg_list_has(c, "stages", "x"),
          "run_config.minimal_stages", "%zu stages", ns);
    ns = rcfg_str_list(c, "capture.points", &sv);
    CHECK(ns == 10 && !strcmp(sv[9], "logits"), "run_config.minimal_points", "%zu", ns);
    ns = rcfg_int_list(c, "attribute.neurons_top", &iv);
    CHECK(ns == 2 && iv[0] == 100 && iv[1] == 300, "run_config.minimal_neurons_top", "%zu", ns);
    CHECK(rcfg_relation_count(c) == 12 && !strcmp(rcfg_relation_id(c, 0), "adj_antonym") &&
              !strcmp(rcfg_relation_id(c, 11), "work_location") &&
              !strcmp(rcfg_relation_path(c, 1), "data/lre/country_capital_city.json"),
          "run_config.minimal_relations_folder", "%zu relations", rcfg_relation_count(c));
    const rcfg_model *m = rcfg_model_at(c, 0);
    CHECK(rcfg_model_count(c) == 1 && !rcfg_is_sweep(c) && !strcmp(m->name, "tiny-olmoe") &&
              !strcmp(m->path, "models/tiny-olmoe") && m->source == NULL && m->batch_size == 0,
          "run_config.minimal_model", "%zu models", rcfg_model_count(c));
    CHECK(rcfg_is_set(c, "out") && !rcfg_is_set(c, "batch_size") &&
              !strcmp(rcfg_str(c, "out"), "runs/test-minimal"),
          "run_config.minimal_is_set", "-");
    rcfg_free(c);
}

static void test_full(void)
{
    rcfg *c = load_ok("tests/data/run_full.yaml", "run_config.full_loads");
    if (!c) return;
    const int64_t *iv;
    const char *const *sv;
    int ok =
        rcfg_is_all(c, "template") && rcfg_int(c, "template") == -1 &&
        rcfg_int(c, "max_samples") == 10 && rcfg_int(c, "batch_size") == 8 &&
        rcfg_enum(c, "expert_placement") == 1 && rcfg_float(c, "snapshot_every_s") == 12.5 &&
        rcfg_float(c, "progress_every_s") == 0 && !strcmp(rcfg_str(c, "name"), "qwen full") &&
        !strcmp(rcfg_str(c, "capture.positions"), "all") &&
        rcfg_bool(c, "attribute.neuron_screen") == 0 &&
        rcfg_float(c, "summarise.stages.mid") == 0.3 &&
        !strcmp(rcfg_str(c, "block.mode"), "zero_output") &&
        !strcmp(rcfg_str(c, "block.rank_by"), "attribution") &&
        rcfg_bool(c, "block.topk_ablation") == 0 && rcfg_bool(c, "block.shared_ablation") == 0 &&
        !strcmp(rcfg_str(c, "heads_experts.correlation"), "temporal") &&
        rcfg_int(c, "heads_experts.strongest") == 20 &&
        rcfg_int(c, "heads_experts.top_experts_for_pair") == 5 &&
        rcfg_int(c, "heads_experts.suppression_top_experts") == 2 &&
        rcfg_int(c, "neurons.top_experts") == 3 && rcfg_int(c, "neurons.top_shared_neurons") == 7 &&
        !strcmp(rcfg_str(c, "report.format"), "markdown") &&
        !strcmp(rcfg_str(c, "report.plots"), "png") && rcfg_int(c, "archive.deflate") == 0;
    CHECK(ok, "run_config.full_scalars", "-");
    ok = rcfg_int_list(c, "block.top_n", &iv) == 1 && iv[0] == 3 &&
         rcfg_int_list(c, "capture.layers", &iv) == 2 && iv[1] == 3 &&
         !rcfg_is_all(c, "capture.layers") && rcfg_int_list(c, "neurons.top", &iv) == 3 &&
         iv[2] == 30 && rcfg_int_list(c, "attribute.neurons_top", &iv) == 1 && iv[0] == 50 &&
         rcfg_str_list(c, "stages", &sv) == 3 && !strcmp(sv[2], "block") &&
         rcfg_str_list(c, "capture.points", &sv) == 3 && !strcmp(sv[1], "router_logits");
    CHECK(ok, "run_config.full_lists", "-");
    ok = rcfg_relation_count(c) == 3 && !strcmp(rcfg_relation_id(c, 0), "adj_antonym") &&
         !strcmp(rcfg_relation_path(c, 0), "data/lre/adj_antonym.json") &&
         !strcmp(rcfg_relation_id(c, 1), "country_capital_city") &&
         !strcmp(rcfg_relation_id(c, 2), "word_first_letter");
    CHECK(ok, "run_config.full_relations_names_and_file", "%zu", rcfg_relation_count(c));
    const rcfg_model *m = rcfg_model_at(c, 0);
    CHECK(m && !strcmp(m->name, "qwen full"), "run_config.full_model_named", "%s",
          m ? m->name : "none");
    rcfg_free(c);
}

static void test_sweep(void)
{
    rcfg *c = load_ok("tests/data/sweep.yaml", "run_config.sweep_loads");
    if (!c) return;
    const rcfg_model *a = rcfg_model_at(c, 0), *b = rcfg_model_at(c, 1);
    int ok = rcfg_is_sweep(c) && rcfg_model_count(c) == 2 && !strcmp(a->name, "olmoe-tiny") &&
             !strcmp(a->path, "models/tiny-olmoe") && a->batch_size == 16 && a->ranks == 4 &&
             !strcmp(a->source, "tests/data/models/tiny-olmoe.yaml") &&
             !strcmp(b->name, "tiny-mixtral") && b->batch_size == 0 && b->source == NULL &&
             rcfg_relation_count(c) == 2 && !strcmp(rcfg_relation_id(c, 1), "occupation_gender") &&
             rcfg_int(c, "batch_size") == 32;
    CHECK(ok, "run_config.sweep_models", "-");
    rcfg_free(c);
}

/* ---- mistakes ---------------------------------------------------------------------------- */

static int has_problem(const rcfg_problems *p, const char *pos, const char *text)
{
    for (size_t i = 0; i < p->n; i++)
        if (strstr(p->msg[i], pos) && strstr(p->msg[i], text)) return 1;
    return 0;
}

static void test_mistakes(void)
{
    static const struct {
        const char *name, *pos, *text;
    } want[] = {
        {"unknown_relation", "run_mistakes.yaml:3:26: ",
         "unknown relation 'country_capitol_city' (expected the name of a .json file in "
         "data/lre; did you mean 'country_capital_city'?)"},
        {"wrong_type",
         "run_mistakes.yaml:5:13: ", "'batch_size' is \"lots\" (expected an integer in 1..65536)"},
        {"bad_enum", "run_mistakes.yaml:6:19: ",
         "'expert_placement' has the value \"roundrobin\" (expected one of "
         "contiguous|round_robin; did you mean 'round_robin'?)"},
        {"template_range", "run_mistakes.yaml:7:11: ", "template 5 is out of range for 1"},
        {"out_of_range", "run_mistakes.yaml:9:14: ",
         "'block.top_n' is 0, out of range (expected an integer in 1..1e+06)"},
        {"unknown_nested_key", "run_mistakes.yaml:12:3: ",
         "unknown key 'heads_experts.top_expert_for_pair' in the run config; did you mean "
         "'heads_experts.top_experts_for_pair'?"},
        {"key_in_wrong_section", "run_mistakes.yaml:13:1: ",
         "unknown key 'top_n' in the run config; did you mean 'block.top_n'?"},
        {"fractions_sum", "run_mistakes.yaml:15:11: ",
         "'summarise.stages' fractions sum to 0.95 (expected early + mid + late = 1)"},
        {"duplicate_key",
         "run_mistakes.yaml:18:3: ", "duplicate key 'report.format' (first given on line 17)"},
        {"section_not_mapping", "run_mistakes.yaml:19:10: ",
         "'capture' is a list (expected a section with the keys points, positions, layers)"},
    };
    rcfg *c = NULL;
    rcfg_problems pr = {0};
    mp_err e;
    err_init(&e);
    int rc = rcfg_load(&c, "tests/data/run_mistakes.yaml", analysis_config_schema(), &pr, &e);
    size_t nw = sizeof want / sizeof want[0];
    CHECK(rc == -1 && c == NULL && pr.n == nw, "run_config.mistakes_all_reported",
          "rc=%d, %zu problems (expected %zu)", rc, pr.n, nw);
    for (size_t i = 0; i < pr.n; i++) printf("  problem: %s\n", pr.msg[i]);
    for (size_t i = 0; i < nw; i++) {
        char name[96];
        snprintf(name, sizeof name, "run_config.mistake_%s", want[i].name);
        CHECK(has_problem(&pr, want[i].pos, want[i].text), name, "no problem '%s%s'", want[i].pos,
              want[i].text);
    }
    CHECK(strstr(e.msg, "10 problems; the first: tests/data/run_mistakes.yaml:3:26:") != NULL,
          "run_config.mistakes_summary", "%s", e.msg);
    rcfg_problems_free(&pr);
}

static int problems_of(const char *text, rcfg_problems *pr)
{
    rcfg *c = NULL;
    mp_err e;
    err_init(&e);
    memset(pr, 0, sizeof *pr);
    int rc = rcfg_load_text(&c, text, "t.yaml", analysis_config_schema(), pr, &e);
    rcfg_free(c);
    return rc;
}

static void test_syntax_and_required(void)
{
    rcfg_problems pr;
    int rc = problems_of("model: models/tiny-olmoe\nblock:\n\ttop_n: [1]\n", &pr);
    CHECK(rc == -1 && pr.n == 1 &&
              strstr(pr.msg[0], "t.yaml:3:1: YAML syntax error: found "
                                "character that cannot start any token"),
          "run_config.syntax_tab", "%zu: %s", pr.n, pr.n ? pr.msg[0] : "");
    rcfg_problems_free(&pr);
    rc = problems_of("model: models/tiny-olmoe\n  relations: data/lre\n", &pr);
    CHECK(rc == -1 && pr.n == 1 &&
              strstr(pr.msg[0], "t.yaml:2:12: YAML syntax error: mapping "
                                "values are not allowed"),
          "run_config.syntax_indent", "%zu: %s", pr.n, pr.n ? pr.msg[0] : "");
    rcfg_problems_free(&pr);
    rc = problems_of("name: x\n", &pr);
    CHECK(rc == -1 && pr.n == 3 &&
              has_problem(&pr, "t.yaml:1:1: ", "missing required key 'model'") &&
              has_problem(&pr, "t.yaml:1:1: ", "missing required key 'relations'") &&
              has_problem(&pr, "t.yaml:1:1: ", "missing required key 'out'"),
          "run_config.missing_required", "%zu problems", pr.n);
    rcfg_problems_free(&pr);
    rc = problems_of("", &pr);
    CHECK(rc == -1 && pr.n == 1 && strstr(pr.msg[0], "empty run config"), "run_config.empty", "%zu",
          pr.n);
    rcfg_problems_free(&pr);
    rc = problems_of("- a\n- b\n", &pr);
    CHECK(rc == -1 && pr.n == 1 && strstr(pr.msg[0], "t.yaml:1:1: the run config is a list"),
          "run_config.top_level_list", "%zu: %s", pr.n, pr.n ? pr.msg[0] : "");
    rcfg_problems_free(&pr);
    rc = problems_of("model: models/nope\nrelations: [data/lre/nope.json, data/lre]\nout: "
                     "tests/data/run_minimal.yaml\nmax_samples: null\n",
                     &pr);
    CHECK(rc == -1 && pr.n == 4 &&
              has_problem(&pr, "t.yaml:1:8: ", "model folder \"models/nope\" does not exist") &&
              has_problem(&pr,
                          "t.yaml:2:13: ", "relation file \"data/lre/nope.json\" does not exist") &&
              has_problem(&pr, "t.yaml:3:6: ", "exists and is not a folder") &&
              has_problem(&pr, "t.yaml:4:14: ", "'max_samples' is null"),
          "run_config.bad_paths_and_null", "%zu problems: %s", pr.n, pr.n ? pr.msg[0] : "");
    rcfg_problems_free(&pr);
    rc = problems_of("models: [tests/data/models/bad-model.yaml, models/tiny-olmoe, "
                     "tests/data/nope.yaml]\nrelations: data/lre\nout: runs/x\nname: n\n",
                     &pr);
    CHECK(rc == -1 && pr.n == 5 &&
              has_problem(&pr, "bad-model.yaml:2:1: ",
                          "unknown key 'pth' in the model file; did "
                          "you mean 'path'?") &&
              has_problem(&pr, "bad-model.yaml:3:8: ", "'ranks' is -2, out of range") &&
              has_problem(&pr, "bad-model.yaml:1:1: ", "missing required key 'path'") &&
              has_problem(&pr,
                          "t.yaml:1:63: ", "model file \"tests/data/nope.yaml\" does not exist") &&
              has_problem(&pr, "t.yaml:4:7: ", "'name' applies to single-model runs"),
          "run_config.model_file_problems", "%zu problems", pr.n);
    for (size_t i = 0; i < pr.n; i++) printf("  problem: %s\n", pr.msg[i]);
    rcfg_problems_free(&pr);
    rc = problems_of("model: models/tiny-olmoe\nmodels: [models/tiny-olmoe]\nrelations: data/lre\n"
                     "out: runs/x\n",
                     &pr);
    CHECK(rc == -1 && pr.n == 1 && strstr(pr.msg[0], "t.yaml:2:9: both 'model' and 'models'"),
          "run_config.model_and_models", "%zu: %s", pr.n, pr.n ? pr.msg[0] : "");
    rcfg_problems_free(&pr);
    rc = problems_of("model: models/tiny-olmoe\nrelations: data/lre\nout: runs/x\nrelaitons: x\n"
                     "block: {topn: 1}\n",
                     &pr);
    CHECK(rc == -1 && pr.n == 2 && has_problem(&pr, "t.yaml:4:1: ", "did you mean 'relations'?") &&
              has_problem(&pr, "t.yaml:5:9: ", "did you mean 'block.top_n'?"),
          "run_config.did_you_mean", "%zu", pr.n);
    rcfg_problems_free(&pr);
    rcfg *c = NULL;
    mp_err e;
    err_init(&e);
    CHECK(rcfg_load(&c, "tests/data/none.yaml", analysis_config_schema(), NULL, &e) == -1 &&
              strstr(e.msg, "none.yaml") && !c,
          "run_config.missing_file", "%s", e.msg);
}

/* ---- round trips ------------------------------------------------------------------------- */

static void round_trip(const char *path, const char *name)
{
    rcfg *c = NULL, *c2 = NULL, *c3 = NULL;
    mp_err e;
    char n[96];
    err_init(&e);
    if (rcfg_load(&c, path, analysis_config_schema(), NULL, &e) != 0) {
        CHECK(0, name, "%s", e.msg);
        return;
    }
    char *y1 = rcfg_to_yaml_text(c), *y2 = NULL, *y3 = NULL;
    int ok =
        y1 && rcfg_load_text(&c2, y1, "effective.yaml", analysis_config_schema(), NULL, &e) == 0;
    y2 = ok ? rcfg_to_yaml_text(c2) : NULL;
    snprintf(n, sizeof n, "run_config.yaml_round_trip_%s", name);
    CHECK(ok && y2 && !strcmp(y1, y2), n, "%s\n--- first:\n%s\n--- second:\n%s", e.msg,
          y1 ? y1 : "", y2 ? y2 : "");
    void *b1 = NULL, *b2 = NULL;
    size_t l1 = 0, l2 = 0;
    ok = rcfg_pack(c, &b1, &l1, &e) == 0 &&
         rcfg_unpack(&c3, b1, l1, analysis_config_schema(), &e) == 0 &&
         rcfg_pack(c3, &b2, &l2, &e) == 0 && l1 == l2 && !memcmp(b1, b2, l1);
    y3 = c3 ? rcfg_to_yaml_text(c3) : NULL;
    snprintf(n, sizeof n, "run_config.pack_round_trip_%s", name);
    CHECK(ok && y3 && !strcmp(y1, y3) && rcfg_model_count(c3) == rcfg_model_count(c) &&
              rcfg_relation_count(c3) == rcfg_relation_count(c) &&
              !strcmp(rcfg_relation_path(c3, 0), rcfg_relation_path(c, 0)) &&
              rcfg_is_set(c3, "out") && rcfg_is_sweep(c3) == rcfg_is_sweep(c),
          n, "%s (%zu vs %zu bytes)", e.msg, l1, l2);
    /* every truncation and a flipped magic are refused, never read past the end */
    size_t refused = 0;
    for (size_t len = 0; len < l1; len++) {
        rcfg *bad = NULL;
        void *copy = malloc(len ? len : 1);
        memcpy(copy, b1, len);
        if (rcfg_unpack(&bad, copy, len, analysis_config_schema(), &e) == -1 && !bad) refused++;
        rcfg_free(bad);
        free(copy);
    }
    ((char *)b1)[0] ^= 1;
    rcfg *bad = NULL;
    snprintf(n, sizeof n, "run_config.pack_corrupt_refused_%s", name);
    CHECK(refused == l1 && rcfg_unpack(&bad, b1, l1, analysis_config_schema(), &e) == -1 &&
              strstr(e.msg, "magic"),
          n, "%zu of %zu truncations refused", refused, l1);
    if (!strcmp(name, "minimal"))
        printf("INFO effective minimal config is %zu bytes of YAML, %zu packed\n", strlen(y1), l1);
    free(b1);
    free(b2);
    free(y1);
    free(y2);
    free(y3);
    rcfg_free(c);
    rcfg_free(c2);
    rcfg_free(c3);
}

static void test_strings_quoted(void)
{
    /* strings that look like other types must survive the round trip as strings */
    rcfg *c = NULL, *c2 = NULL;
    mp_err e;
    err_init(&e);
    int ok = rcfg_load_text(&c,
                            "model: models/tiny-olmoe\nrelations: data/lre\nout: runs/x\n"
                            "name: \"null\"\n",
                            "q.yaml", analysis_config_schema(), NULL, &e) == 0;
    char *y = ok ? rcfg_to_yaml_text(c) : NULL;
    ok = ok && y && rcfg_load_text(&c2, y, "q2.yaml", analysis_config_schema(), NULL, &e) == 0 &&
         rcfg_str(c2, "name") && !strcmp(rcfg_str(c2, "name"), "null");
    CHECK(ok, "run_config.ambiguous_string_round_trip", "%s %s", e.msg, y ? y : "");
    free(y);
    rcfg_free(c);
    rcfg_free(c2);
}

static void test_explain(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    rcfg_explain(f, analysis_config_schema());
    fclose(f);
    size_t missing = 0;
    const char *first = "";
    const rcfg_schema *sch = analysis_config_schema();
    for (size_t i = 0; i < sch->n; i++) {
        const rcfg_key *k = &sch->keys[i];
        char line[256];
        snprintf(line, sizeof line, "%s  [", k->path);
        if (k->type == RCFG_MAP) snprintf(line, sizeof line, "%s:  (section)", k->path);
        if (!strstr(buf, line) || !strstr(buf, k->doc)) {
            if (!missing++) first = k->path;
        }
    }
    CHECK(missing == 0, "run_config.explain_lists_every_key", "%zu missing, first %s", missing,
          first);
    CHECK(strstr(buf, "block.top_n  [list of int, each 1..1e+06]  default: [1, 5, 10]") &&
              strstr(buf, "block.mode  [enum: router_logit|zero_output]  default: router_logit") &&
              strstr(buf, "batch_size  [int, 1..65536, or null]  default: null"),
          "run_config.explain_format", "%.400s", buf);
    free(buf);
}

/* A misspelled key path in code must fail loudly, not read a default. */
static void test_accessor_aborts(void)
{
    rcfg *c = NULL;
    mp_err e;
    err_init(&e);
    if (rcfg_load(&c, "tests/data/run_minimal.yaml", analysis_config_schema(), NULL, &e) != 0)
        return;
    const char *cases[3] = {"block.topn", "report.format", "stages"};
    for (int i = 0; i < 3; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            freopen("/dev/null", "w", stderr);
            const char *const *sv;
            if (i == 0)
                rcfg_int(c, cases[i]);
            else if (i == 1)
                rcfg_int(c, cases[i]); /* an enum read as an int */
            else
                rcfg_str(c, cases[i]); /* a list read as a string */
            (void)sv;
            _exit(0);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        char n[96];
        snprintf(n, sizeof n, "run_config.accessor_aborts_%d", i);
        CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT, n, "'%s': status %d", cases[i], st);
    }
    rcfg_free(c);
}

/* An analysis's own section, as a stage declares it: the config module knows nothing of it
 * beforehand, yet parses, defaults, checks, explains and round-trips it. */
/* clang-format off */
static const rcfg_key PROBE_KEYS[] = {
    {"probe", RCFG_MAP, 0, NULL, RCFG_NOLIM, NULL, "A test analysis."},
    {"probe.level", RCFG_INT, 0, "3", 1, 9, NULL, "How deep to probe."},
    {"probe.split", RCFG_MAP, 0, NULL, RCFG_NOLIM, NULL, "Two shares."},
    {"probe.split.a", RCFG_FLOAT, 0, "0.5", 0, 1, NULL, "Share a."},
    {"probe.split.b", RCFG_FLOAT, 0, "0.5", 0, 1, NULL, "Share b."},
};
/* clang-format on */

static int probe_check(const rcfg *c, char *msg, size_t len)
{
    double sum = rcfg_float(c, "probe.split.a") + rcfg_float(c, "probe.split.b");
    if (sum == 1.0) return 0;
    snprintf(msg, len, "'probe.split' shares sum to %g (expected 1)", sum);
    return -1;
}

static void test_schema_build(void)
{
    const rcfg_section probe = {PROBE_KEYS, 5, "probe.split", probe_check};
    const rcfg_analysis a[2] = {{"first", NULL, NULL}, {"probe", &probe, NULL}};
    rcfg_schema *s = NULL;
    rcfg *c = NULL;
    rcfg_problems pr = {0};
    mp_err e;
    err_init(&e);
    int ok = rcfg_schema_build(&s, a, 2, &e) == 0;
    CHECK(ok, "schema.build_with_a_new_analysis", "%s", e.msg);
    if (!ok) return;
    const char *base = "model: models/tiny-olmoe\nrelations: data/lre\nout: runs/x\n";
    char text[512];
    snprintf(text, sizeof text, "%sprobe:\n  level: 7\n", base);
    ok = rcfg_load_text(&c, text, "p.yaml", s, NULL, &e) == 0;
    const char *const *st = NULL;
    size_t ns = ok ? rcfg_str_list(c, "stages", &st) : 0;
    CHECK(ok && rcfg_int(c, "probe.level") == 7 && rcfg_float(c, "probe.split.a") == 0.5 &&
              ns == 2 && !strcmp(st[0], "first") && !strcmp(st[1], "probe"),
          "schema.new_analysis_keys_and_stages", "%s", e.msg);
    char *y = ok ? rcfg_to_yaml_text(c) : NULL;
    CHECK(y && strstr(y, "stages: [first, probe]") && strstr(y, "probe:\n  level: 7\n") &&
              strstr(y, "probe:") < strstr(y, "archive:"),
          "schema.new_analysis_in_effective_yaml", "%s", y ? y : "(none)");
    free(y);
    rcfg_free(c);
    c = NULL;
    snprintf(text, sizeof text, "%sstages: [probe, block]\nprobe:\n  split:\n    a: 0.7\n", base);
    rcfg_load_text(&c, text, "q.yaml", s, &pr, &e);
    CHECK(!c && has_problem(&pr, "q.yaml:7:5: ", "'probe.split' shares sum to 1.2 (expected 1)") &&
              has_problem(&pr, "q.yaml:4:17: ", "\"block\" (expected one of first|probe"),
          "schema.new_analysis_check_and_values", "%s | %s", pr.n > 1 ? pr.msg[1] : "", e.msg);
    rcfg_problems_free(&pr);
    rcfg_free(c);
    rcfg_schema_free(s);

    /* the rules of schema.h, each broken once */
    static const rcfg_key outside[] = {{"probe", RCFG_MAP, 0, NULL, RCFG_NOLIM, NULL, "x"},
                                       {"block.top_n", RCFG_INT, 0, "1", 1, 9, NULL, "x"}};
    static const rcfg_key early[] = {{"probe", RCFG_MAP, 0, NULL, RCFG_NOLIM, NULL, "x"},
                                     {"probe.x.y", RCFG_INT, 0, "1", 1, 9, NULL, "x"},
                                     {"probe.x", RCFG_MAP, 0, NULL, RCFG_NOLIM, NULL, "x"}};
    static const rcfg_key nosec[] = {{"probe.level", RCFG_INT, 0, "1", 1, 9, NULL, "x"}};
    static const rcfg_key clash[] = {{"archive", RCFG_MAP, 0, NULL, RCFG_NOLIM, NULL, "x"}};
    const rcfg_section bad[4] = {RCFG_SECTION(outside), RCFG_SECTION(early), RCFG_SECTION(nosec),
                                 RCFG_SECTION(clash)};
    const char *why[4] = {"lies outside its section", "comes before its section",
                          "the first key must be the section", "exists already"};
    const char *name[4] = {"probe", "probe", "probe", "archive"};
    for (int i = 0; i < 4; i++) {
        rcfg_analysis one = {name[i], &bad[i], NULL};
        char id[64];
        snprintf(id, sizeof id, "schema.refuses_%d", i);
        s = NULL;
        CHECK(rcfg_schema_build(&s, &one, 1, &e) == -1 && !s && strstr(e.msg, why[i]), id,
              "expected '%s', got '%s'", why[i], e.msg);
    }
    const rcfg_analysis twice[2] = {{"probe", NULL, NULL}, {"probe", NULL, NULL}};
    CHECK(rcfg_schema_build(&s, twice, 2, &e) == -1 && strstr(e.msg, "given twice"),
          "schema.refuses_a_name_twice", "%s", e.msg);
}

/* rcfg_name_check: what may become a file name (#13 point 4) */
static void test_names(void)
{
    static const struct {
        const char *name;
        const char *why;
    } bad[] = {{"", "is empty"},
               {"../x", "starts with '.'"},
               {".h", "starts with '.'"},
               {"..", "starts with '.'"},
               {"a/b", "contains '/' at byte 1"},
               {"a\\b", "contains '\\' at byte 1"},
               {"a\nb", "byte 0x0A at byte 1"},
               {"ab\x7f", "byte 0x7F at byte 2"}};
    char why[160];
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char id[64];
        snprintf(id, sizeof id, "names.refuses_%zu", i);
        CHECK(rcfg_name_check(bad[i].name, why, sizeof why) == -1 && strstr(why, bad[i].why), id,
              "'%s': got '%s', expected '%s'", bad[i].name, why, bad[i].why);
    }
    char longname[RCFG_NAME_MAX + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CHECK(rcfg_name_check(longname, why, sizeof why) == -1 && strstr(why, "more than"),
          "names.refuses_too_long", "%s", why);
    longname[RCFG_NAME_MAX] = '\0';
    CHECK(rcfg_name_check(longname, why, sizeof why) == 0, "names.accepts_200_bytes", "%s", why);
    CHECK(rcfg_name_check("tiny-olmoe_v1.2 (b)", why, sizeof why) == 0 &&
              rcfg_name_check("caf\xc3\xa9", why, sizeof why) == 0,
          "names.accepts_plain", "%s", why);
}

int main(void)
{
    if (chdir(check_root_path("")) != 0) {
        perror("chdir");
        return 2;
    }
    test_minimal();
    test_full();
    test_sweep();
    test_mistakes();
    test_syntax_and_required();
    round_trip("tests/data/run_minimal.yaml", "minimal");
    round_trip("tests/data/run_full.yaml", "full");
    round_trip("tests/data/sweep.yaml", "sweep");
    test_strings_quoted();
    test_explain();
    test_accessor_aborts();
    test_schema_build();
    test_names();
    return check_finish();
}
