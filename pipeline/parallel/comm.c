/* comm.c — see comm.h. Byte collectives use MPI_BYTE with int counts; buffers above 2 GiB are
 * refused with a fatal error rather than truncated. */
#include "pipeline/parallel/comm.h"

#include <limits.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Open MPI keeps what MPI_Init and MPI_Finalize allocate (its components are unloaded before
 * the leak check, so they cannot be suppressed by name): under ASan (make debug) those two calls
 * run with leak tracking paused, so the leak check covers moeprobe's own allocations. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define LSAN_PAUSE() __lsan_disable()
#define LSAN_RESUME() __lsan_enable()
#else
#define LSAN_PAUSE() ((void)0)
#define LSAN_RESUME() ((void)0)
#endif

static int g_active = 0;

static void finalize(void)
{
    LSAN_PAUSE();
    MPI_Finalize();
    LSAN_RESUME();
}

int comm_init(int *argc, char ***argv)
{
    int provided = 0, inited = 0;
    MPI_Initialized(&inited);
    LSAN_PAUSE();
    int rc = inited ? MPI_SUCCESS : MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    LSAN_RESUME();
    if (rc != MPI_SUCCESS) {
        fprintf(stderr, "moeprobe: MPI_Init failed\n");
        exit(1);
    }
    g_active = 1;
    return 0;
}

void comm_finalize(void)
{
    if (!g_active) return;
    g_active = 0;
    finalize();
}

int comm_active(void)
{
    return g_active;
}

int comm_rank(void)
{
    int r = 0;
    if (g_active) MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

const char *comm_library_version(void)
{
    static char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int n = 0;
    if (!v[0] && MPI_Get_library_version(v, &n) == MPI_SUCCESS) v[strcspn(v, "\n")] = '\0';
    return v;
}

int comm_size(void)
{
    int n = 1;
    if (g_active) MPI_Comm_size(MPI_COMM_WORLD, &n);
    return n;
}

static comm_fatal_hook g_hook;
static void *g_hook_ctx;

void comm_set_fatal_hook(comm_fatal_hook fn, void *ctx)
{
    g_hook = fn;
    g_hook_ctx = ctx;
}

void comm_fatal(const char *where, const char *fmt, ...)
{
    char msg[4096], host[256] = "?";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gethostname(host, sizeof host - 1);
    if (g_active && comm_size() > 1)
        fprintf(stderr, "moeprobe: rank %d/%d on %s, %s: %s\n", comm_rank(), comm_size(), host,
                where, msg);
    else
        fprintf(stderr, "moeprobe: %s: %s\n", where, msg);
    fflush(stderr);
    if (g_hook) {
        comm_fatal_hook h = g_hook;
        g_hook = NULL; /* a failure inside the hook must not loop */
        h(g_hook_ctx, where, msg);
    }
    /* One rank: nobody waits in a collective, so finalize and exit quietly (MPI_Abort would add
     * Open MPI's banner to the one-line message). */
    if (g_active && comm_size() == 1) {
        g_active = 0;
        finalize();
    }
    if (g_active) MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}

void comm_barrier(void)
{
    if (g_active) MPI_Barrier(MPI_COMM_WORLD);
}

static int to_int(size_t n, const char *what)
{
    if (n > (size_t)INT_MAX) comm_fatal(what, "%zu bytes exceed one MPI message (2 GiB)", n);
    return (int)n;
}

void comm_bcast_bytes(void **buf, size_t *len, int root)
{
    if (!g_active || comm_size() == 1) return;
    int64_t n = (int64_t)*len;
    MPI_Bcast(&n, 1, MPI_INT64_T, root, MPI_COMM_WORLD);
    if (comm_rank() != root) {
        *buf = malloc(n > 0 ? (size_t)n : 1);
        if (!*buf) comm_fatal("broadcast", "out of memory for %lld bytes", (long long)n);
        *len = (size_t)n;
    }
    MPI_Bcast(*buf, to_int((size_t)n, "broadcast"), MPI_BYTE, root, MPI_COMM_WORLD);
}

static void gather_common(const void *buf, size_t len, void **out, size_t **lens, int root, int all)
{
    int n = comm_size(), me = comm_rank();
    if (!g_active || n == 1) {
        *out = malloc(len > 0 ? len : 1);
        *lens = malloc(sizeof **lens);
        if (!*out || !*lens) comm_fatal("gather", "out of memory for %zu bytes", len);
        memcpy(*out, buf, len);
        (*lens)[0] = len;
        return;
    }
    int mine = to_int(len, "gather");
    int *counts = malloc((size_t)n * sizeof *counts), *displs = malloc((size_t)n * sizeof *displs);
    if (!counts || !displs) comm_fatal("gather", "out of memory");
    if (all)
        MPI_Allgather(&mine, 1, MPI_INT, counts, 1, MPI_INT, MPI_COMM_WORLD);
    else
        MPI_Gather(&mine, 1, MPI_INT, counts, 1, MPI_INT, root, MPI_COMM_WORLD);
    *out = NULL;
    *lens = NULL;
    if (all || me == root) {
        size_t total = 0;
        for (int r = 0; r < n; r++) {
            displs[r] = to_int(total, "gather");
            total += (size_t)counts[r];
        }
        to_int(total, "gather");
        *out = malloc(total > 0 ? total : 1);
        *lens = malloc((size_t)n * sizeof **lens);
        if (!*out || !*lens) comm_fatal("gather", "out of memory for %zu bytes", total);
        for (int r = 0; r < n; r++) (*lens)[r] = (size_t)counts[r];
    }
    if (all)
        MPI_Allgatherv(buf, mine, MPI_BYTE, *out, counts, displs, MPI_BYTE, MPI_COMM_WORLD);
    else
        MPI_Gatherv(buf, mine, MPI_BYTE, *out, counts, displs, MPI_BYTE, root, MPI_COMM_WORLD);
    free(counts);
    free(displs);
}

void comm_gather_bytes(const void *buf, size_t len, void **out, size_t **lens, int root)
{
    gather_common(buf, len, out, lens, root, 0);
}

void comm_allgather_bytes(const void *buf, size_t len, void **out, size_t **lens)
{
    gather_common(buf, len, out, lens, 0, 1);
}

int64_t comm_allreduce_max_i64(int64_t v)
{
    int64_t r = v;
    if (g_active) MPI_Allreduce(&v, &r, 1, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    return r;
}

int64_t comm_allreduce_sum_i64(int64_t v)
{
    int64_t r = v;
    if (g_active) MPI_Allreduce(&v, &r, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    return r;
}

double comm_allreduce_max_f64(double v)
{
    double r = v;
    if (g_active) MPI_Allreduce(&v, &r, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return r;
}

double comm_allreduce_sum_f64(double v)
{
    double r = v;
    if (g_active) MPI_Allreduce(&v, &r, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    return r;
}

int comm_all_ok(int ok)
{
    int r = ok ? 1 : 0, all = r;
    if (g_active) MPI_Allreduce(&r, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return all;
}
