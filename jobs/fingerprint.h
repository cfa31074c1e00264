/* fingerprint.h — everything that determines a unit's result, as text, recorded in the unit's
 * part at commit so that a rerun can tell a complete unit computed under another setup from one
 * it may reuse (a changed prompt template or max_samples must not mix old and new results).
 *
 * The text is one "key = value" line per item, sorted by key:
 *   format                 FP_FORMAT (bumped when what a unit stores changes meaning)
 *   model.config_json      SHA-256 of the model's config.json
 *   model.tensor_index     SHA-256 of model.safetensors.index.json, or of model.safetensors'
 *                          header (names, dtypes, shapes, offsets); the weights themselves are
 *                          not hashed (tens of GB)
 *   relation.<id>          SHA-256 of the relation file: the unit's relation, or for a
 *                          per-model unit every relation of the run
 *   config.<key>           the effective value of every config key the unit's result depends
 *                          on: `template`, `max_samples`, the section of the unit's stage and
 *                          of every stage it needs (transitively), and for each stage computed
 *                          inside one of those (evaluate, attribute in the capture pass) whether
 *                          it is in `stages` (`config.stages.<name>`) and its section.
 * Keys that only change how a run goes (batch_size, expert_placement, snapshot and progress
 * cadence, deflate, out, the report's format) are not part of it. */
#ifndef MOEPROBE_FINGERPRINT_H
#define MOEPROBE_FINGERPRINT_H

#include "jobs/plan.h"
#include "pipeline/config/relations.h"
#include "pipeline/config/run_config.h"
#include "pipeline/util/error.h"

#define FP_FORMAT "moeprobe-unit 2"

typedef struct fp_model {
    char config_json[65];
    char tensor_index[65];
} fp_model;

/* Hashes DIR/config.json and the tensor index of the checkpoint in DIR. */
int fp_model_identity(const char *model_dir, fp_model *m, mp_err *err);

/* The fingerprint of unit i of plan pl (malloc'd text), or NULL with err set. */
char *fp_unit(const rcfg *cfg, const lre_set *rels, const plan *pl, size_t i, const fp_model *m,
              mp_err *err);

/* What differs between a stored fingerprint (NULL: none was stored) and the current one, as
 * "KEY OLD -> NEW" items joined by "; " (values of 64 hex digits shortened to 12); malloc'd,
 * "" when they agree. */
char *fp_diff(const char *stored, const char *now);

#endif
