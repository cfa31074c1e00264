/* schema_capture.h — the archive entries of the analysis "capture" (table in stages/schema_capture.c):
 * ids into SCH_CAPTURE_TABLE.e, used by its writer (stages/capture.c) and by the report's loaders.
 * See pipeline/archive/schema.h for the entry fields and path patterns. */
#ifndef MOEPROBE_STAGES_SCHEMA_CAPTURE_H
#define MOEPROBE_STAGES_SCHEMA_CAPTURE_H

#include "pipeline/archive/schema.h"

enum sch_capture_id {
    CAP_GROUP,
    CAP_REL,
    CAP_RESID_PRE,
    CAP_ATTN_OUT,
    CAP_MLP_OUT,
    CAP_RESID_POST,
    CAP_HEAD_OUT,
    CAP_ROUTER_LOGITS,
    CAP_TOPK_IDX,
    CAP_TOPK_WEIGHT,
    CAP_EXPERT_OUT,
    CAP_SHARED_OUT,
    CAP_SHARED_GATE,
    CAP_LOGITS,
    CAP_N_TOKENS,
    CAP_CAPTURED_LAYER,
    CAP_COUNT
};

extern const sch_entry SCH_CAPTURE_ENTRIES[CAP_COUNT];
extern const sch_table SCH_CAPTURE_TABLE;
#define CAP(id) (&SCH_CAPTURE_ENTRIES[CAP_##id])

#endif
