/* local_ranks.h — how many ranks of this job run on this node, from the launcher's environment,
 * so that the thread pool gives each rank its share of the node's cores (pipeline/ops).
 *
 * Read in this order (the first that gives an answer wins):
 *   OMPI_COMM_WORLD_LOCAL_SIZE   Open MPI's mpirun (also inside a Slurm allocation)
 *   MPI_LOCALNRANKS              MPICH / Intel MPI (Hydra)
 *   MV2_COMM_WORLD_LOCAL_SIZE    MVAPICH2
 *   SLURM_STEP_TASKS_PER_NODE    srun: the tasks per node of this step, e.g. "2(x3),1", with
 *     + SLURM_NODEID             this node's index in the step: exact for uneven layouts
 *   SLURM_NTASKS_PER_NODE        what --ntasks-per-node asked for
 * and 1 when none is set or none parses (a single process). Values that do not parse as a
 * positive count are skipped, never trusted. */
#ifndef MOEPROBE_LOCAL_RANKS_H
#define MOEPROBE_LOCAL_RANKS_H

/* The value of an environment variable, or NULL (getenv, or a table in the tests). */
typedef const char *(*local_ranks_env)(const char *name);

/* Ranks on this node as read from env (see above); >= 1. */
int local_ranks_from(local_ranks_env env);
/* The same from the process environment. */
int local_ranks(void);
/* The tasks of node `node` in a Slurm tasks-per-node list such as "2(x3),1" (nodes 0-2 run 2,
 * node 3 runs 1); 0 when the list does not parse or has no such node. */
int local_ranks_slurm_list(const char *list, int node);

#endif
