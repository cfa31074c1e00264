/* plan.h — a sweep config expanded into units: model x relation x stage.
 *
 * Units of one model, in execution order: every per-relation stage in pipeline order over the
 * relations ("capture/<rel>" for all relations first, so the model is loaded once and the
 * analyses that only read the archive follow), then the per-model units. Stages that are part
 * of another stage's unit (evaluate, attribute -> capture) plan that unit. A unit lists the
 * units it needs (stage_def.after). The planner runs nothing. */
#ifndef MOEPROBE_PLAN_H
#define MOEPROBE_PLAN_H

#include <stddef.h>

#include "pipeline/error.h"
#include "pipeline/run_config.h"
#include "stages/stage.h"

#define PLAN_MAX_DEPS 8

typedef struct plan_unit {
    char id[ARC_MAX_UNIT_ID];      /* "capture/adj_antonym", "summarise/pooled" */
    const stage_def *stage;
    int relation;                  /* index into the config's relations; -1 per model */
    int n_deps;
    int deps[PLAN_MAX_DEPS];       /* indices of units that must be complete first; a stage
                                      needing every relation's units lists the stage instead */
    int needs_all_of_stage;        /* per-model units: 1 = needs every unit of `after` stages */
} plan_unit;

typedef struct plan {
    char model_name[256];
    char model_path[4096];
    char archive[4096];            /* OUT/NAME.h5 */
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

#endif
