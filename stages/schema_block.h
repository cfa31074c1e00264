/* schema_block.h — the archive entries of the analysis "block" (table in stages/schema_block.c):
 * ids into SCH_BLOCK_TABLE.e, used by its writer (stages/block.c) and by the report's loaders.
 * See pipeline/archive/schema.h for the entry fields and path patterns. */
#ifndef MOEPROBE_STAGES_SCHEMA_BLOCK_H
#define MOEPROBE_STAGES_SCHEMA_BLOCK_H

#include "pipeline/archive/schema.h"

enum sch_block_id {
    BLK_GROUP,
    BLK_REL,
    BLK_MODE,
    BLK_RANK_BY,
    BLK_MRR,
    BLK_HIT10,
    BLK_CONFIGS,
    BLK_EVAL_PRECISION,
    BLK_RECOMPUTED,
    BLK_BLOCK,
    BLK_BLOCK_RANK,
    BLK_BLOCK_MARGIN,
    BLK_BLOCK_HIT10,
    BLK_BLOCK_MRR,
    BLK_BLOCK_MIN_MARGIN,
    BLK_BLOCK_TOPK,
    BLK_BLOCK_KEEP_RANK,
    BLK_BLOCK_NO_SHARED,
    BLK_BLOCK_N_BLOCK,
    BLK_TOPK,
    BLK_TOPK_RANK,
    BLK_TOPK_MARGIN,
    BLK_TOPK_HIT10,
    BLK_TOPK_MRR,
    BLK_TOPK_MIN_MARGIN,
    BLK_TOPK_TOPK,
    BLK_TOPK_KEEP_RANK,
    BLK_TOPK_NO_SHARED,
    BLK_TOPK_N_BLOCK,
    BLK_NAMED,
    BLK_NAMED_RANK,
    BLK_NAMED_MARGIN,
    BLK_NAMED_HIT10,
    BLK_NAMED_MRR,
    BLK_NAMED_MIN_MARGIN,
    BLK_NAMED_TOPK,
    BLK_NAMED_KEEP_RANK,
    BLK_NAMED_NO_SHARED,
    BLK_NAMED_N_BLOCK,
    BLK_BLOCK_BLOCKED,
    BLK_MET_HIT10_BLOCK,
    BLK_MET_MRR_BLOCK,
    BLK_MET_HIT10_TOPK,
    BLK_MET_MRR_TOPK,
    BLK_MET_HIT10_NAMED,
    BLK_MET_MRR_NAMED,
    BLK_ONLY,
    BLK_ONLY_RANK,
    BLK_ONLY_MARGIN,
    BLK_ONLY_HIT10,
    BLK_ONLY_MRR,
    BLK_ONLY_MIN_MARGIN,
    BLK_ONLY_TOPK,
    BLK_ONLY_KEEP_RANK,
    BLK_ONLY_NO_SHARED,
    BLK_ONLY_N_BLOCK,
    BLK_MET_HIT10_ONLY,
    BLK_MET_MRR_ONLY,
    BLK_MET_MRR_DROP,
    BLK_MET_MRR_DROP_REL,
    BLK_COUNT
};

extern const sch_entry SCH_BLOCK_ENTRIES[BLK_COUNT];
extern const sch_table SCH_BLOCK_TABLE;
#define BLK(id) (&SCH_BLOCK_ENTRIES[BLK_##id])

#endif
