/* schema_evaluate.h — the archive entries of the analysis "evaluate" (table in stages/schema_evaluate.c):
 * ids into SCH_EVALUATE_TABLE.e, used by its writer (stages/capture.c) and by the report's loaders.
 * See pipeline/archive/schema.h for the entry fields and path patterns. */
#ifndef MOEPROBE_STAGES_SCHEMA_EVALUATE_H
#define MOEPROBE_STAGES_SCHEMA_EVALUATE_H

#include "pipeline/archive/schema.h"

enum sch_evaluate_id {
    EVAL_RELATIONS,
    EVAL_RELATION,
    EVAL_REL_NAME,
    EVAL_REL_FILE,
    EVAL_REL_N,
    EVAL_REL_TEMPLATE,
    EVAL_REL_TEMPLATE_INDEX,
    EVAL_REL_PROMPT,
    EVAL_REL_SUBJECT,
    EVAL_REL_OBJECT,
    EVAL_REL_TARGET_ID,
    EVAL_REL_INPUT_IDS,
    EVAL_REL_INPUT_OFFSETS,
    EVAL_EVALUATE,
    EVAL_EVAL_REL,
    EVAL_EVAL_RANK,
    EVAL_EVAL_MARGIN,
    EVAL_METRICS,
    EVAL_METRICS_REL,
    EVAL_MET_HIT10,
    EVAL_MET_MRR,
    EVAL_MET_N,
    EVAL_MET_MIN_LOGIT_MARGIN,
    EVAL_MET_MIN_ROUTER_GAP,
    EVAL_MET_TOP_EXPERTS,
    EVAL_MET_TOP_EXPERTS_RANK_BY,
    EVAL_ROUTING,
    EVAL_ROUTING_REL,
    EVAL_ROUTING_TOPK_IDX,
    EVAL_ROUTING_TOPK_WEIGHT,
    EVAL_ROUTING_ROUTER_PROB,
    EVAL_ROUTING_RANKING_FREQUENCY,
    EVAL_COUNT
};

extern const sch_entry SCH_EVALUATE_ENTRIES[EVAL_COUNT];
extern const sch_table SCH_EVALUATE_TABLE;
#define EVAL(id) (&SCH_EVALUATE_ENTRIES[EVAL_##id])

#endif
