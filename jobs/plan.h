/* plan.h — a sweep config expanded into units: model x relation x stage.
 *
 * Units of one model, in execution order: every per-relation stage in pipeline order over the
 * relations ("capture/<rel>" for all relations first, so the model is loaded once and the
 * analyses that only read the archive follow), then the per-model units. Stages that are part
 * of another stage's unit (evaluate, attribute -> capture) plan that unit. A unit lists the
 * units it needs (analysis_def.after). The planner runs nothing. */
#ifndef MOEPROBE_PLAN_H
#define MOEPROBE_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/archive/archive.h"
#include "pipeline/config/run_config.h"
#include "pipeline/util/error.h"
#include "stages/analysis_def.h"

#define PLAN_MAX_DEPS 8

typedef struct plan_unit {
    char id[ARC_MAX_UNIT_ID]; /* "capture/adj_antonym", "summarise/pooled" */
    const analysis_def *stage;
    int relation; /* index into the config's relations; -1 per model */
    int n_deps;
    int deps[PLAN_MAX_DEPS];             /* indices of units that must be complete first; a stage
                                      needing every relation's units lists the stage instead */
    int n_needs_stages;                  /* per-model units: they need every unit of these stages */
    const analysis_def *needs_stages[6]; /* `after` with part_of stages mapped to their unit's
                                         stage (attribute -> capture), without repeats */
} plan_unit;

typedef struct plan {
    char model_name[256];
    char model_path[4096];
    char archive[4096]; /* OUT/NAME.h5 */
    int is_moe;
    plan_unit *u;
    size_t n;
} plan;

/* Plans the units of model `model_index` of cfg (reads the model's config.json to know
 * whether it is MoE). */
int plan_build(const rcfg *cfg, size_t model_index, plan *p, mp_err *err);
void plan_free(plan *p);
/* Index of a unit by id, or -1. */
int plan_find(const plan *p, const char *id);

/* ---- sweeps and array groups ------------------------------------------------------------- */

/* The plans of every model of a config (a single-model run is a sweep of one). */
typedef struct sweep {
    plan *p; /* n_models plans, in config order */
    size_t n_models;
    size_t n_relations; /* the config's relations (the same for every model) */
    int64_t *ranks;     /* per model: the model file's `ranks`, 0 = any */
} sweep;

int sweep_build(const rcfg *cfg, sweep *s, mp_err *err);
void sweep_free(sweep *s);

/* ARRAY GROUPS: how `moeprobe run --array-index N` (one Slurm array task) splits a sweep.
 *   N in [0, M*R)  (M models, R relations): model N / R, relation N % R — every per-relation
 *                  unit of that relation (capture/<rel>, summarise/<rel>, block/<rel>, ...).
 *                  Per-relation units depend only on units of the same relation, so the M*R
 *                  groups are independent and may run at the same time.
 *   N = M*R        the final group: every per-model unit of every model (summarise/pooled,
 *                  ...), which needs all relation groups of its model, then the report.
 * Model m's relation groups are m*R .. m*R + R-1. */
size_t sweep_group_count(const sweep *s); /* M*R + 1 */
size_t sweep_final_group(const sweep *s); /* M*R */
/* The group of unit i of model m. */
size_t sweep_unit_group(const sweep *s, size_t m, size_t i);

#endif
