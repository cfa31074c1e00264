/* schema_summarise.h — the archive entries of the analysis "summarise" (table in stages/schema_summarise.c):
 * ids into SCH_SUMMARISE_TABLE.e, used by its writer (stages/summarise.c) and by the report's loaders.
 * See pipeline/archive/schema.h for the entry fields and path patterns. */
#ifndef MOEPROBE_STAGES_SCHEMA_SUMMARISE_H
#define MOEPROBE_STAGES_SCHEMA_SUMMARISE_H

#include "pipeline/archive/schema.h"

enum sch_summarise_id {
    SUM_ANALYSES,
    SUM_ANALYSES_POOLED,
    SUM_ANALYSES_REL,
    SUM_GROUP,
    SUM_N,
    SUM_TOTAL_FFN_GAIN,
    SUM_TOTAL_ATTN_GAIN,
    SUM_LAYER_EFFICIENCY,
    SUM_PEAK_FFN_LAYER,
    SUM_PEAK_FFN_LAYER_PCT,
    SUM_PEAK_MIN_MARGIN,
    SUM_FFN_GAIN_CURVE,
    SUM_ATTN_GAIN_CURVE,
    SUM_STAGE_GAIN,
    SUM_STAGE_GAIN_OF,
    SUM_STAGE_SHARE,
    SUM_STAGE_SHARE_OF,
    SUM_STAGE_GPL,
    SUM_STAGE_GPL_OF,
    SUM_STAGES,
    SUM_STAGES_OF,
    SUM_STAGES_FRACTIONS,
    SUM_COUNT
};

extern const sch_entry SCH_SUMMARISE_ENTRIES[SUM_COUNT];
extern const sch_table SCH_SUMMARISE_TABLE;
#define SUM(id) (&SCH_SUMMARISE_ENTRIES[SUM_##id])

#endif
