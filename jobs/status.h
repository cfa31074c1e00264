/* status.h — the live state of every unit of an out folder (`moeprobe status OUT`).
 *
 * The unit list comes from OUT/manifest.json (manifest.h); each unit's state from the truth:
 *   done     the unit has a complete part in OUT/NAME.h5.parts whose content matches the
 *            checksum recorded at its commit (or the intact snapshot lists it);
 *   running  a live process holds the unit's lock (archive.h, CONCURRENCY): detail "pid P on
 *            HOST, for T";
 *   failed   the unit's part is damaged (detail "damaged: " and why, also once a run has set
 *            it aside as *.bad), the manifest records a failure (detail: the error), or records the unit running
 *            while nobody holds its lock (detail: the process is gone — killed or crashed);
 *   pending  anything else.
 * Reading takes no lock that a run waits on for more than an instant, so status is safe while
 * Slurm array tasks write the folder. */
#ifndef MOEPROBE_STATUS_H
#define MOEPROBE_STATUS_H

#include <stdio.h>

#include "jobs/manifest.h"
#include "pipeline/util/error.h"

typedef struct status_unit {
    char *model;
    char *id;
    man_state state;
    char *detail; /* "" when none */
} status_unit;

typedef struct status_model {
    char *name;
    char *archive;
    size_t count[4]; /* by man_state */
} status_model;

typedef struct status_report {
    char *config; /* the config the manifest was planned from */
    status_model *models;
    size_t n_models;
    status_unit *units; /* every unit, models in manifest order, units in plan order */
    size_t n_units;
} status_report;

int status_collect(const char *out_dir, status_report *r, mp_err *err);
void status_report_free(status_report *r);

/* The table of counts per model, then the running and failed units with their details; with
 * all_units every unit with its state. */
void status_print(FILE *f, const char *out_dir, const status_report *r, int all_units);

#endif
