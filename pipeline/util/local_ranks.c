/* local_ranks.c — see local_ranks.h. */
#include "pipeline/util/local_ranks.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

/* A non-negative int spelled entirely by s (no sign, no trailing text); -1 otherwise. */
static int count_of(const char *s)
{
    char *end = NULL;
    if (!s || *s < '0' || *s > '9') return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v > INT_MAX) return -1;
    return (int)v;
}

static int positive(const char *s)
{
    int v = count_of(s);
    return v > 0 ? v : 0;
}

int local_ranks_slurm_list(const char *list, int node)
{
    const char *p = list;
    long seen = 0;
    int found = 0;
    if (!p || !*p || node < 0) return 0;
    for (;;) { /* the whole list is checked before an answer is trusted */
        char *end = NULL;
        if (*p < '0' || *p > '9') return 0;
        errno = 0;
        long count = strtol(p, &end, 10), rep = 1;
        if (errno || count <= 0 || count > INT_MAX) return 0;
        p = end;
        if (p[0] == '(' && p[1] == 'x') {
            p += 2;
            if (*p < '0' || *p > '9') return 0;
            rep = strtol(p, &end, 10);
            if (errno || rep <= 0 || rep > INT_MAX || *end != ')') return 0;
            p = end + 1;
        }
        if (!found && node < seen + rep) found = (int)count;
        seen += rep;
        if (*p == '\0') return found;
        if (*p++ != ',') return 0;
    }
}

int local_ranks_from(local_ranks_env env)
{
    static const char *const direct[] = {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS",
                                         "MV2_COMM_WORLD_LOCAL_SIZE"};
    for (size_t i = 0; i < sizeof direct / sizeof *direct; i++) {
        int v = positive(env(direct[i]));
        if (v > 0) return v;
    }
    int id = count_of(env("SLURM_NODEID"));
    if (id >= 0) {
        int v = local_ranks_slurm_list(env("SLURM_STEP_TASKS_PER_NODE"), id);
        if (v > 0) return v;
    }
    int v = positive(env("SLURM_NTASKS_PER_NODE"));
    return v > 0 ? v : 1;
}

static const char *process_env(const char *name)
{
    return getenv(name);
}

int local_ranks(void)
{
    return local_ranks_from(process_env);
}
