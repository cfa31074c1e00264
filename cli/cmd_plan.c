/* cmd_plan.c — moeprobe plan CONFIG.yaml: the units a run or sweep config expands to (model x
 * relation x stage, with what each needs and its array group), the totals, and OUT/manifest.json
 * (jobs/manifest.h). `--array` prints only the array layout for Slurm scripts. Runs nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "jobs/manifest.h"
#include "jobs/plan.h"
#include "pipeline/config/run_config.h"
#include "stages/analysis_def.h"

static void usage(FILE *f)
{
    fprintf(
        f, "usage: moeprobe plan CONFIG.yaml [--array] [--no-manifest]\n\n"
           "Prints the units of CONFIG.yaml, one per line:\n"
           "  GROUP  MODEL  UNIT  NEEDS\n"
           "(GROUP = the `moeprobe run --array-index` that runs it: one group per model and\n"
           "relation, then one final group with every per-model unit and the report), then the\n"
           "totals, and writes or updates OUT/manifest.json (read by `moeprobe status`).\n\n"
           "  --array        print only the array layout, one line per model and the final group:\n"
           "                   model NAME FIRST_GROUP LAST_GROUP RANKS   (RANKS 0 = any)\n"
           "                   final GROUP RANKS         (RANKS 1: no unit of it runs the\n"
           "                                            model; 0 = any)\n"
           "                 (for slurm/submit.sh; writes no manifest)\n"
           "  --no-manifest  do not write OUT/manifest.json\n");
}

/* Loads and validates; prints every problem. NULL: exit 1. */
static rcfg *load(const char *path)
{
    rcfg *cfg = NULL;
    rcfg_problems probs = {0};
    mp_err err;
    err_init(&err);
    if (rcfg_load(&cfg, path, analysis_config_schema(), &probs, &err) != 0) {
        for (size_t i = 0; i < probs.n; i++) fprintf(stderr, "%s\n", probs.msg[i]);
        if (probs.n == 0)
            fprintf(stderr, "moeprobe plan: %s\n", err.msg);
        else
            fprintf(stderr, "moeprobe plan: %zu problem%s in %s\n", probs.n,
                    probs.n == 1 ? "" : "s", path);
    }
    rcfg_problems_free(&probs);
    return cfg;
}

static void print_units(const rcfg *cfg, const sweep *s)
{
    size_t total = 0;
    int w = 5;
    for (size_t m = 0; m < s->n_models; m++)
        if ((int)strlen(s->p[m].model_name) > w) w = (int)strlen(s->p[m].model_name);
    printf("# %s: %zu model%s x %zu relation%s\n", rcfg_source(cfg), s->n_models,
           s->n_models == 1 ? "" : "s", s->n_relations, s->n_relations == 1 ? "" : "s");
    printf("# %-5s %-*s %-40s %s\n", "group", w, "model", "unit", "needs");
    /* relation groups in group order, then the final group */
    for (int final = 0; final < 2; final++)
        for (size_t m = 0; m < s->n_models; m++) {
            const plan *p = &s->p[m];
            for (size_t r = 0; r < (final ? 1 : s->n_relations); r++)
                for (size_t i = 0; i < p->n; i++) {
                    const plan_unit *u = &p->u[i];
                    if (final ? u->relation >= 0 : u->relation != (int)r) continue;
                    char needs[1024] = "";
                    size_t o = 0;
                    for (int d = 0; d < u->n_deps && o < sizeof needs; d++)
                        o += (size_t)snprintf(needs + o, sizeof needs - o, "%s%s", o ? "," : "",
                                              p->u[u->deps[d]].id);
                    for (int a = 0; a < u->n_needs_stages && o < sizeof needs; a++)
                        o += (size_t)snprintf(needs + o, sizeof needs - o, "%s%s/*", o ? "," : "",
                                              u->needs_stages[a]->name);
                    printf("%-7zu %-*s %-40s %s\n", sweep_unit_group(s, m, i), w, p->model_name,
                           u->id, o ? needs : "-");
                }
        }
    for (size_t m = 0; m < s->n_models; m++) {
        const plan *p = &s->p[m];
        size_t nrel = 0;
        for (size_t i = 0; i < p->n; i++) nrel += p->u[i].relation >= 0;
        total += p->n;
        printf("%s: %zu units (%zu per relation, %zu per model; %s), groups %zu-%zu, archive %s\n",
               p->model_name, p->n, nrel, p->n - nrel, p->is_moe ? "MoE" : "dense",
               m * s->n_relations, m * s->n_relations + s->n_relations - 1, p->archive);
    }
    printf("total: %zu units in %zu groups: relation groups 0-%zu, final group %zu (per-model "
           "units%s)\n",
           total, sweep_group_count(s), sweep_final_group(s) - 1, sweep_final_group(s),
           rcfg_list_has(cfg, "stages", "report") ? " and the report" : "");
}

int cmd_plan(int argc, char **argv)
{
    const char *path = NULL;
    int array = 0, no_manifest = 0, status = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--array")) {
            array = 1;
        } else if (!strcmp(argv[i], "--no-manifest")) {
            no_manifest = 1;
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "moeprobe plan: unexpected argument %s (see moeprobe plan --help)\n",
                    argv[i]);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "moeprobe plan: a CONFIG.yaml is required (see moeprobe plan --help)\n");
        return 2;
    }
    rcfg *cfg = load(path);
    if (!cfg) return 1;
    sweep s;
    mp_err err;
    err_init(&err);
    if (sweep_build(cfg, &s, &err) != 0) {
        fprintf(stderr, "moeprobe plan: %s\n", err.msg);
        rcfg_free(cfg);
        return 1;
    }
    if (array) {
        for (size_t m = 0; m < s.n_models; m++)
            printf("model %s %zu %zu %lld\n", s.p[m].model_name, m * s.n_relations,
                   m * s.n_relations + s.n_relations - 1, (long long)s.ranks[m]);
        /* the final group needs ranks only when one of its units runs the model */
        long long franks = 1;
        for (size_t m = 0; m < s.n_models; m++)
            for (size_t i = 0; i < s.p[m].n; i++)
                if (s.p[m].u[i].relation < 0 && s.p[m].u[i].stage->needs_model) {
                    if (franks == 1) franks = 0;
                    if (s.ranks[m] > franks) franks = s.ranks[m];
                }
        printf("final %zu %lld\n", sweep_final_group(&s), franks);
        status = 0;
        goto done;
    }
    print_units(cfg, &s);
    if (!no_manifest) {
        if (man_write_plan(rcfg_str(cfg, "out"), path, &s, &err) != 0) {
            fprintf(stderr, "moeprobe plan: %s\n", err.msg);
            goto done;
        }
        printf("manifest: %s/manifest.json\n", rcfg_str(cfg, "out"));
    }
    status = 0;
done:
    sweep_free(&s);
    rcfg_free(cfg);
    return status;
}
