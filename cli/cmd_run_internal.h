/* cmd_run_internal.h — shared by cli/cmd_run.c (options, signals, report) and
 * cli/cmd_run_units.c (the unit loop of one model). */
#ifndef MOEPROBE_CMD_RUN_INTERNAL_H
#define MOEPROBE_CMD_RUN_INTERNAL_H

#include <signal.h>

#include "jobs/plan.h"
#include "jobs/progress.h"
#include "pipeline/config/relations.h"
#include "pipeline/config/run_config.h"

#define RUN_EXIT_STOPPED 75 /* EX_TEMPFAIL: stopped by a signal; rerun / requeue to continue */

/* The first SIGTERM / SIGUSR1 received (0: none). Checked between units on every rank. */
extern volatile sig_atomic_t run_stop_signal;

typedef struct run_state {
    const rcfg *cfg;
    const char *config_path;
    sweep sw;
    lre_set rels;
    char **only; /* --unit ids (pointers into argv) */
    int n_only;
    char **stages; /* --stage names (malloc'd) */
    int n_stages;
    long array_index; /* -1: all groups */
    int array_from_env;
    progress *prog;          /* rank 0 */
    int stopped;             /* a signal stopped the run (same on every rank) */
    char *command_line;      /* "moeprobe run ..." for the archive's provenance (malloc'd) */
    int on_change_recompute; /* --on-change recompute: redo units computed under another setup */
} run_state;

void run_state_free(run_state *rs);
/* 1 if unit i of model m is selected by --unit / --stage / --array-index. */
int run_selected(const run_state *rs, size_t m, size_t i);
/* 1 if this run renders the report (stage report on, and the run covers the final group). */
int run_report_wanted(const run_state *rs);
/* Rank 0: counts the selected units not yet complete and starts rs->prog. */
void run_progress_start(run_state *rs);
/* Runs the selected pending units of model m (collective). Returns -1 if the model has no
 * selected unit (nothing was opened), 0 when every selected unit is complete, 1 when a unit
 * failed or could not run. Sets rs->stopped when a signal stopped it. */
int run_model(run_state *rs, size_t m);

#endif
