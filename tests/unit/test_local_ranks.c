/* test_local_ranks.c — ranks per node from the launcher's environment (pipeline/util/
 * local_ranks.h): the thread pool divides a node's cores by it, so a wrong answer
 * oversubscribes a node (too small) or idles it (too large). Slurm's tasks-per-node lists,
 * uneven layouts, the order of the sources and values that must not be trusted. */
#include <string.h>

#include "pipeline/util/local_ranks.h"
#include "tests/unit/check.h"

/* a fake environment: NULL-terminated name, value pairs */
static const char *const *fake;
static const char *fake_env(const char *name)
{
    for (int i = 0; fake[i]; i += 2)
        if (!strcmp(fake[i], name)) return fake[i + 1];
    return NULL;
}
static int with(const char *const *pairs)
{
    fake = pairs;
    return local_ranks_from(fake_env);
}

int main(void)
{
    /* Slurm's lists */
    CHECK(local_ranks_slurm_list("1(x3)", 0) == 1 && local_ranks_slurm_list("1(x3)", 2) == 1,
          "slurm_list/one_per_node", "%d %d", local_ranks_slurm_list("1(x3)", 0),
          local_ranks_slurm_list("1(x3)", 2));
    CHECK(local_ranks_slurm_list("2(x3),1", 2) == 2 && local_ranks_slurm_list("2(x3),1", 3) == 1,
          "slurm_list/uneven", "node 2: %d, node 3: %d", local_ranks_slurm_list("2(x3),1", 2),
          local_ranks_slurm_list("2(x3),1", 3));
    CHECK(local_ranks_slurm_list("4,3,3", 1) == 3 && local_ranks_slurm_list("4,3,3", 0) == 4,
          "slurm_list/plain", "%d", local_ranks_slurm_list("4,3,3", 1));
    CHECK(local_ranks_slurm_list("2(x3),1", 4) == 0, "slurm_list/past_the_end", "%d",
          local_ranks_slurm_list("2(x3),1", 4));
    const char *bad[] = {"",   "x",    "2(x",    "2(x0)", "2(3)",       "0",
                         "-1", "2,,1", "2(x2)1", "2,",    "2(x3),junk", "1(x99999999999)"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(local_ranks_slurm_list(bad[i], 0) == 0, "slurm_list/rejects",
              "'%s' gave %d for node 0", bad[i], local_ranks_slurm_list(bad[i], 0));

    /* sources, in order */
    const char *none[] = {NULL};
    CHECK(with(none) == 1, "env/nothing_is_one_rank", "%d", with(none));
    const char *ompi[] = {"OMPI_COMM_WORLD_LOCAL_SIZE",
                          "2",
                          "SLURM_STEP_TASKS_PER_NODE",
                          "1(x3)",
                          "SLURM_NODEID",
                          "0",
                          NULL};
    CHECK(with(ompi) == 2, "env/mpirun_first", "%d (mpirun inside an allocation)", with(ompi));
    const char *hydra[] = {"MPI_LOCALNRANKS", "3", NULL};
    CHECK(with(hydra) == 3, "env/hydra", "%d", with(hydra));
    const char *srun[] = {"SLURM_STEP_TASKS_PER_NODE",
                          "2(x3),1",
                          "SLURM_NODEID",
                          "3",
                          "SLURM_NTASKS_PER_NODE",
                          "2",
                          NULL};
    CHECK(with(srun) == 1, "env/srun_uneven_last_node", "%d, expected 1", with(srun));
    const char *srun0[] = {"SLURM_STEP_TASKS_PER_NODE", "2(x3),1", "SLURM_NODEID", "0", NULL};
    CHECK(with(srun0) == 2, "env/srun_node_0", "%d", with(srun0));
    const char *asked[] = {"SLURM_NTASKS_PER_NODE", "4", NULL};
    CHECK(with(asked) == 4, "env/ntasks_per_node", "%d", with(asked));
    const char *junk[] = {"OMPI_COMM_WORLD_LOCAL_SIZE",
                          "lots",
                          "MPI_LOCALNRANKS",
                          "0",
                          "MV2_COMM_WORLD_LOCAL_SIZE",
                          "-2",
                          "SLURM_NODEID",
                          "9",
                          "SLURM_STEP_TASKS_PER_NODE",
                          "1(x3)",
                          "SLURM_NTASKS_PER_NODE",
                          "2x",
                          NULL};
    CHECK(with(junk) == 1, "env/untrusted_values_skipped", "%d", with(junk));
    return check_finish();
}
