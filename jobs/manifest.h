/* manifest.h — OUT/manifest.json: the units of a sweep and what is known about each, for
 * `moeprobe status` and for people (plain JSON, jansson).
 *
 * WHO WRITES. `moeprobe plan` writes the plan; every `moeprobe run` process (its rank 0) merges
 * the plan in at start and records each unit's start, end and failure. Many processes (Slurm
 * array tasks on one out dir) do this concurrently: every change is a read-modify-write under
 * an exclusive flock on OUT/manifest.json.lock, and the file is replaced atomically
 * (atomic_file.h), so a reader never sees a torn file and no update is lost.
 *
 * WHAT IS TRUE. Completion lives in the archive parts (archive.h), not here: status reads the
 * parts for `done` and the unit locks for `running`. The manifest adds what the parts cannot
 * know: the list of units (also those not started), which process ran a unit (pid, host,
 * start time) and the error of a failed one. A unit recorded `running` whose lock nobody holds
 * was abandoned by a dead process (SIGKILL, node failure): status reports it failed.
 *
 * LAYOUT (format "moeprobe-manifest 1"):
 *   {format, config, out, created, updated, relations: [ids], groups, final_group,
 *    models: [{name, path, archive, ranks, is_moe, first_group, last_group,
 *              units: [{id, stage, relation (null per model), group, needs: [ids] (a per-model
 *                       unit needing every unit of a stage lists "STAGE/" + "*"), state,
 *                       pid, host, started, finished, seconds, error, attempts}]}]}
 * Merging a plan keeps the recorded fields of units that keep their id, and keeps models of an
 * earlier plan that the new one lacks (two configs may share an out dir).
 *
 * Errors: -1 with err naming the file and the problem. */
#ifndef MOEPROBE_MANIFEST_H
#define MOEPROBE_MANIFEST_H

#include <jansson.h>

#include "jobs/plan.h"
#include "pipeline/util/error.h"

typedef enum man_state { MAN_PENDING = 0, MAN_RUNNING, MAN_DONE, MAN_FAILED } man_state;
const char *man_state_name(man_state s);  /* "pending", "running", "done", "failed" */
man_state man_state_parse(const char *s); /* unknown -> MAN_PENDING */

/* OUT/manifest.json into buf. -1 if it does not fit. */
int man_path(const char *out_dir, char *buf, size_t len);

/* Merges the sweep's plan into OUT/manifest.json (creating OUT). config_path is recorded as
 * given (made absolute when relative). */
int man_write_plan(const char *out_dir, const char *config_path, const sweep *s, mp_err *err);

/* Records a state change of one unit: MAN_RUNNING sets pid, host, started and counts an
 * attempt; MAN_DONE / MAN_FAILED set finished and `seconds` (when >= 0) and `error` (FAILED;
 * may be NULL); MAN_PENDING clears the process fields (an interrupted unit). A unit missing
 * from the manifest is an error. */
int man_record(const char *out_dir, const char *model, const char *unit_id, man_state st,
               const char *error, double seconds, mp_err *err);

/* Reads OUT/manifest.json. *root is a new reference (json_decref it). */
int man_load(const char *out_dir, json_t **root, mp_err *err);

#endif
