/* schema.c — the list of the archive schema's tables (stages/schema.h). */
#include "stages/schema.h"
#include "stages/schema_attribute.h"
#include "stages/schema_block.h"
#include "stages/schema_capture.h"
#include "stages/schema_evaluate.h"
#include "stages/schema_heads_experts.h"
#include "stages/schema_neurons.h"
#include "stages/schema_summarise.h"

/* clang-format off */
const sch_table *const SCH_TABLES[] = {
    &SCH_ROOT_TABLE,      &SCH_EVALUATE_TABLE,      &SCH_ATTRIBUTE_TABLE, &SCH_CAPTURE_TABLE,
    &SCH_SUMMARISE_TABLE, &SCH_BLOCK_TABLE,         &SCH_HEADS_EXPERTS_TABLE,
    &SCH_NEURONS_TABLE,
};
/* clang-format on */
const size_t SCH_N_TABLES = sizeof SCH_TABLES / sizeof *SCH_TABLES;
