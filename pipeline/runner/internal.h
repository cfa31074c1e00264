/* internal.h — what runner.c and eval.c share (not a public API). */
#ifndef MOEPROBE_RUNNER_INTERNAL_H
#define MOEPROBE_RUNNER_INTERNAL_H

#include "pipeline/runner/runner.h"

/* A collective step failed on this rank: with several ranks, comm_fatal (rank and `label`,
 * then MPI_Abort, so no rank waits forever in the next collective); alone, -1 with err set. */
int runner_fail(runner *r, mp_err *err, const char *label);

#endif
