/* fault.h — a checkpoint file changed under a running job: one clear message, never a crash.
 *
 * Weights are read through read-only shared file mappings (safetensors.h). If another process
 * truncates or rewrites a shard while moeprobe runs (a re-download, a `git lfs pull`, a user
 * copying over the folder), touching a page past the new end of the file raises SIGBUS, which
 * would kill the rank with a bare "Bus error". Two defences:
 *
 *   1. SIGBUS HANDLER. Every mapping made by st_open is registered here (address range, path,
 *      tensor table). The first registration installs a SIGBUS handler (SA_SIGINFO). When the
 *      faulting address lies in a registered mapping it writes ONE line with write(2):
 *        moeprobe: rank R/N on HOST: checkpoint file PATH changed or truncated while the job
 *        was running (SIGBUS reading file offset O, tensor "NAME"); restore the checkpoint and
 *        run again (complete units are kept)
 *      and ends the process with _exit(FAULT_EXIT_STATUS) (async-signal-safe; under mpirun /
 *      srun the launcher then ends the other ranks, as comm_fatal does). A SIGBUS elsewhere is
 *      handed to the handler that was installed before (Open MPI's, or the default action).
 *
 *   2. CHANGE CHECK. fault_check_maps compares each registered file's size, mtime and inode with
 *      what they were when it was mapped; the runner calls it before every collective model
 *      pass (so between units and between analyses), and stops with a clear message before any
 *      page of a changed file is touched.
 *
 * The registry is a fixed table of FAULT_MAX_MAPS slots filled without locks by the (single)
 * thread that opens checkpoints; the handler only reads it. A mapping that does not fit is
 * simply not covered (the SIGBUS then goes to the previous handler). */
#ifndef MOEPROBE_FAULT_H
#define MOEPROBE_FAULT_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/util/error.h"

#define FAULT_MAX_MAPS 1024
#define FAULT_EXIT_STATUS 1

struct st_entry;

/* Registers [base, base+len) as a mapping of PATH (copied). `entries`/`n_entries` (sorted by
 * data offset, as st_file keeps them; may be NULL/0) and `data_offset` (file offset of the data
 * section) let the message name the tensor. The file's size, mtime and inode are taken now with
 * stat(2). Installs the SIGBUS handler on first use. */
void fault_register_map(const void *base, size_t len, const char *path,
                        const struct st_entry *entries, int n_entries, uint64_t data_offset);
/* Forgets the mapping starting at base (no-op if unknown). */
void fault_unregister_map(const void *base);

/* Rank, size and host for the handler's message (runner_init calls it before it maps). */
void fault_set_rank(int rank, int size);

/* 0 if every registered file still has the size, mtime and inode it had when mapped; else -1
 * and err names the first changed file and what changed. */
int fault_check_maps(mp_err *err);

#endif
