/* analysis_def.h — what the pipeline knows about an analysis without running it: name,
 * place in the pipeline, scope, what it needs first, its config section and doc. The planner
 * (jobs/), the CLI and the run-config schema read this half only; what a running unit may use
 * is analysis.h.
 *
 * A new analysis is one file in stages/ defining `const analysis_def analysis_NAME = {...}` (the
 * build's generated registry finds it), with its keys in `.config`: the section named after
 * the stage and everything below it (schema.h). Nothing else lists stages. */
#ifndef MOEPROBE_ANALYSIS_DEF_H
#define MOEPROBE_ANALYSIS_DEF_H

#include "pipeline/config/schema.h"
#include "pipeline/util/error.h"

typedef enum analysis_scope {
    ANALYSIS_PER_RELATION = 0, /* one unit per relation: "<stage>/<relation id>" */
    ANALYSIS_PER_MODEL = 1     /* one unit per model: "<stage>/<unit_name>" */
} analysis_scope;

struct analysis_ctx;

typedef struct analysis_def {
    const char *name; /* the `stages:` name, e.g. "block" */
    int order;        /* pipeline position: lower runs first */
    analysis_scope scope;
    const char *unit_name; /* ANALYSIS_PER_MODEL: unit is "<name>/<unit_name>" */
    int needs_model;       /* runs the model (collectively) */
    int moe_only;          /* skipped for dense models */
    const char *after[6];  /* stages whose units (same relation, or all relations for a
                                   per-model stage) must be complete first; NULL-terminated */
    int (*run)(struct analysis_ctx *c, mp_err *err);
    /* Stages that are part of another stage's unit (evaluate and attribute run inside the
     * capture pass): the name of that stage; run is NULL. A stage with neither run nor part_of
     * (report) is done by the CLI at the end of a run. */
    const char *part_of;
    const char *doc;
    /* The stage's config section, RCFG_SECTION(KEYS); zero when it has no keys. Of several
     * analysis_defs with one name (a per-relation and a per-model unit) one carries it. */
    rcfg_section config;
    /* Keys of the run's own (outside the section) that change this stage's results, such as
     * eval_precision for block: they go into its units' fingerprints (jobs/fingerprint.c), so
     * a change is caught on resume. NULL-terminated. */
    const char *run_keys[4];
} analysis_def;

/* Every stage found in the stages folder (generated registry), NULL-terminated, unsorted. */
extern const analysis_def *const ANALYSES_UNSORTED[];
/* The stages in pipeline order (by `order`); *n set to their count. */
const analysis_def *const *analysis_all(int *n);
const analysis_def *analysis_find(const char *name);

/* The run-config schema: the run's own keys and every stage's section, `stages` accepting
 * every stage name in pipeline order. Built on first use and kept for the process; a stage
 * whose section breaks the rules of schema.h stops the program there (a programming error
 * that every test meets). */
const rcfg_schema *analysis_config_schema(void);

#endif
