/* schema_attribute.h — the archive entries of the analysis "attribute" (table in stages/schema_attribute.c):
 * ids into SCH_ATTRIBUTE_TABLE.e, used by its writer (stages/capture.c) and by the report's loaders.
 * See pipeline/archive/schema.h for the entry fields and path patterns. */
#ifndef MOEPROBE_STAGES_SCHEMA_ATTRIBUTE_H
#define MOEPROBE_STAGES_SCHEMA_ATTRIBUTE_H

#include "pipeline/archive/schema.h"

enum sch_attribute_id {
    ATTR_GROUP,
    ATTR_REL,
    ATTR_FINAL_NORM_SCALE,
    ATTR_ATTN_GAIN,
    ATTR_FFN_GAIN,
    ATTR_HEAD,
    ATTR_EXPERT,
    ATTR_SHARED,
    ATTR_NEURON_TOP,
    ATTR_NEURON_TOP_SCORE,
    ATTR_NEURONS_EXACT,
    ATTR_NEURONS_TOTAL,
    ATTR_RANKING_ATTRIBUTION,
    ATTR_EXPERT_BY_ID,
    ATTR_NEURON_RANKING,
    ATTR_NEURON_RANKING_LAYER,
    ATTR_NEURON_RANKING_EXPERT,
    ATTR_NEURON_RANKING_NEURON,
    ATTR_NEURON_RANKING_SCORE,
    ATTR_COUNT
};

extern const sch_entry SCH_ATTRIBUTE_ENTRIES[ATTR_COUNT];
extern const sch_table SCH_ATTRIBUTE_TABLE;
#define ATTR(id) (&SCH_ATTRIBUTE_ENTRIES[ATTR_##id])

#endif
