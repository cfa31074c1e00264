/* schema.h — every table of the archive schema, in the order docs/archive.md lists them: the
 * root provenance, then one table per analysis (stages/schema_*.c). */
#ifndef MOEPROBE_STAGES_SCHEMA_H
#define MOEPROBE_STAGES_SCHEMA_H

#include <stddef.h>

#include "pipeline/archive/schema.h"

extern const sch_table *const SCH_TABLES[];
extern const size_t SCH_N_TABLES;

#endif
