/* analysis_def.c — the stage registry in pipeline order, and the run-config schema built from
 * the stages' sections (analysis_def.h). */
#include "stages/analysis_def.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const analysis_def *sorted[64];
static int n_sorted = -1;

const analysis_def *const *analysis_all(int *n)
{
    if (n_sorted < 0) {
        n_sorted = 0;
        for (int i = 0; ANALYSES_UNSORTED[i] && n_sorted < 64; i++)
            sorted[n_sorted++] = ANALYSES_UNSORTED[i];
        for (int i = 1; i < n_sorted; i++) /* insertion sort by order, then name */
            for (int j = i; j > 0 && (sorted[j - 1]->order > sorted[j]->order ||
                                      (sorted[j - 1]->order == sorted[j]->order &&
                                       strcmp(sorted[j - 1]->name, sorted[j]->name) > 0));
                 j--) {
                const analysis_def *t = sorted[j];
                sorted[j] = sorted[j - 1];
                sorted[j - 1] = t;
            }
    }
    *n = n_sorted;
    return sorted;
}

const analysis_def *analysis_find(const char *name)
{
    int n;
    const analysis_def *const *all = analysis_all(&n);
    for (int i = 0; i < n; i++)
        if (!strcmp(all[i]->name, name)) return all[i];
    return NULL;
}

/* The stage names in pipeline order, each once, with the section of the def that has one. */
static int collect(rcfg_analysis *a, size_t *na, mp_err *err)
{
    int n;
    const analysis_def *const *all = analysis_all(&n);
    *na = 0;
    for (int i = 0; i < n; i++) {
        size_t k = 0;
        while (k < *na && strcmp(a[k].name, all[i]->name)) k++;
        if (k == *na) a[(*na)++] = (rcfg_analysis){all[i]->name, NULL, NULL};
        if (all[i]->scope == ANALYSIS_PER_MODEL) a[k].unit_name = all[i]->unit_name;
        for (int r = 0; r < 4 && all[i]->run_keys[r]; r++)
            if (!rcfg_run_key(all[i]->run_keys[r]))
                return err_set(err, "stage %s: run_keys names %s, which is not a run key",
                               all[i]->name, all[i]->run_keys[r]);
        if (!all[i]->config.keys) continue;
        if (a[k].section)
            return err_set(err, "stage %s: two definitions carry a config section", all[i]->name);
        a[k].section = &all[i]->config;
    }
    return 0;
}

const rcfg_schema *analysis_config_schema(void)
{
    static rcfg_schema *schema;
    if (!schema) {
        rcfg_analysis a[64];
        size_t n;
        mp_err err;
        err_init(&err);
        if (collect(a, &n, &err) != 0 || rcfg_schema_build(&schema, a, n, &err) != 0) {
            fprintf(stderr, "moeprobe: internal error: %s\n", err.msg);
            abort();
        }
    }
    return schema;
}
