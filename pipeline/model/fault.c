/* fault.c — see fault.h. The SIGBUS handler formats its message by hand into a static buffer
 * and writes it with write(2): nothing in it allocates, locks or calls stdio. */
#include "pipeline/model/fault.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pipeline/model/safetensors.h"

typedef struct fault_map {
    volatile uintptr_t base; /* 0 = free slot; written last on register */
    size_t len;
    char *path;
    const st_entry *entries;
    int n_entries;
    uint64_t data_offset;
    int64_t size; /* at registration */
    struct timespec mtime;
    ino_t ino;
    dev_t dev;
} fault_map;

static fault_map g_maps[FAULT_MAX_MAPS];
static volatile sig_atomic_t g_installed;
static struct sigaction g_prev;
static int g_rank = 0, g_size = 1;
static char g_host[256] = "?";

void fault_set_rank(int rank, int size)
{
    g_rank = rank;
    g_size = size;
    if (gethostname(g_host, sizeof g_host - 1) != 0) snprintf(g_host, sizeof g_host, "?");
}

/* ---- async-signal-safe formatting ------------------------------------------------------- */

typedef struct sbuf {
    char b[6144];
    size_t n;
} sbuf;

static void put_s(sbuf *s, const char *t)
{
    while (t && *t && s->n < sizeof s->b - 1) s->b[s->n++] = *t++;
}

static void put_u(sbuf *s, uint64_t v)
{
    char tmp[24];
    int k = 0;
    do {
        tmp[k++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && k < (int)sizeof tmp);
    while (k > 0 && s->n < sizeof s->b - 1) s->b[s->n++] = tmp[--k];
}

static const fault_map *find_map(uintptr_t a)
{
    for (int i = 0; i < FAULT_MAX_MAPS; i++) {
        uintptr_t b = g_maps[i].base;
        if (b && a >= b && a - b < g_maps[i].len) return &g_maps[i];
    }
    return NULL;
}

/* The tensor whose bytes hold file offset off (entries sorted by data offset), or NULL. */
static const char *tensor_at(const fault_map *m, uint64_t off)
{
    if (!m->entries || off < m->data_offset) return NULL;
    uint64_t d = off - m->data_offset;
    int lo = 0, hi = m->n_entries - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const st_entry *e = &m->entries[mid];
        if (d < e->begin)
            hi = mid - 1;
        else if (d >= e->end)
            lo = mid + 1;
        else
            return e->name;
    }
    return NULL;
}

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
    const fault_map *m = si ? find_map((uintptr_t)si->si_addr) : NULL;
    if (!m) {
        /* not ours: let the previous handler (or the default action) have it when the access
         * is retried */
        sigaction(SIGBUS, &g_prev, NULL);
        if (g_prev.sa_flags & SA_SIGINFO) {
            if (g_prev.sa_sigaction) g_prev.sa_sigaction(sig, si, uctx);
        } else if (g_prev.sa_handler == SIG_DFL) {
            raise(sig); /* delivered on return (blocked while we run): the default action */
        } else if (g_prev.sa_handler != SIG_IGN && g_prev.sa_handler) {
            g_prev.sa_handler(sig);
        }
        return;
    }
    /* Several threads (the GEMM pool) may fault on the same truncated file at once: the first
     * one writes the message from the shared buffer and ends the process; the others wait for
     * that instead of writing into the buffer too (which garbled the message). */
    static atomic_flag claimed = ATOMIC_FLAG_INIT;
    if (atomic_flag_test_and_set(&claimed))
        for (;;) pause();
    static sbuf s;
    uint64_t off = (uint64_t)((uintptr_t)si->si_addr - m->base);
    const char *t = tensor_at(m, off);
    s.n = 0;
    put_s(&s, "moeprobe: ");
    if (g_size > 1) {
        put_s(&s, "rank ");
        put_u(&s, (uint64_t)g_rank);
        put_s(&s, "/");
        put_u(&s, (uint64_t)g_size);
        put_s(&s, " on ");
        put_s(&s, g_host);
        put_s(&s, ": ");
    }
    put_s(&s, "checkpoint file ");
    put_s(&s, m->path);
    put_s(&s, " changed or truncated while the job was running (SIGBUS reading file offset ");
    put_u(&s, off);
    if (t) {
        put_s(&s, ", tensor \"");
        put_s(&s, t);
        put_s(&s, "\"");
    }
    put_s(&s, "; it was ");
    put_u(&s, (uint64_t)m->size);
    put_s(&s, " bytes); restore the checkpoint and run again (complete units are kept)\n");
    ssize_t w = write(STDERR_FILENO, s.b, s.n);
    (void)w;
    _exit(FAULT_EXIT_STATUS);
}

static void install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &g_prev) == 0) g_installed = 1;
}

void fault_register_map(const void *base, size_t len, const char *path, const st_entry *entries,
                        int n_entries, uint64_t data_offset)
{
    struct stat sb;
    if (!base || !len) return;
    if (!g_installed) install();
    for (int i = 0; i < FAULT_MAX_MAPS; i++) {
        fault_map *m = &g_maps[i];
        if (m->base) continue;
        char *p = strdup(path ? path : "?");
        if (!p) return;
        free(m->path);
        m->path = p;
        m->len = len;
        m->entries = entries;
        m->n_entries = n_entries;
        m->data_offset = data_offset;
        m->size = -1;
        memset(&m->mtime, 0, sizeof m->mtime);
        m->ino = 0;
        m->dev = 0;
        if (stat(p, &sb) == 0) {
            m->size = (int64_t)sb.st_size;
            m->mtime = sb.st_mtim;
            m->ino = sb.st_ino;
            m->dev = sb.st_dev;
        }
        __atomic_store_n(&m->base, (uintptr_t)base, __ATOMIC_RELEASE);
        return;
    }
}

void fault_unregister_map(const void *base)
{
    for (int i = 0; i < FAULT_MAX_MAPS; i++)
        if (g_maps[i].base == (uintptr_t)base && base) {
            __atomic_store_n(&g_maps[i].base, 0, __ATOMIC_RELEASE);
            free(g_maps[i].path);
            g_maps[i].path = NULL;
            return;
        }
}

static void fmt_time(char *buf, size_t n, struct timespec t)
{
    struct tm tm;
    time_t s = t.tv_sec;
    if (!gmtime_r(&s, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, n, "%lld s", (long long)t.tv_sec);
}

int fault_check_maps(mp_err *err)
{
    for (int i = 0; i < FAULT_MAX_MAPS; i++) {
        const fault_map *m = &g_maps[i];
        struct stat sb;
        if (!m->base || m->size < 0) continue;
        if (stat(m->path, &sb) != 0)
            return err_set(err,
                           "checkpoint file %s was removed while the job was running (%s); "
                           "restore the checkpoint and run again (complete units are kept)",
                           m->path, strerror(errno));
        if ((int64_t)sb.st_size != m->size)
            return err_set(err,
                           "checkpoint file %s changed while the job was running: %lld "
                           "bytes, expected %lld as when it was opened; restore the "
                           "checkpoint and run again (complete units are kept)",
                           m->path, (long long)sb.st_size, (long long)m->size);
        if (sb.st_ino != m->ino || sb.st_dev != m->dev || sb.st_mtim.tv_sec != m->mtime.tv_sec ||
            sb.st_mtim.tv_nsec != m->mtime.tv_nsec) {
            char was[64], now[64];
            fmt_time(was, sizeof was, m->mtime);
            fmt_time(now, sizeof now, sb.st_mtim);
            return err_set(err,
                           "checkpoint file %s changed while the job was running: %s "
                           "(modified %s, expected %s as when it was opened); restore the "
                           "checkpoint and run again (complete units are kept)",
                           m->path,
                           sb.st_ino != m->ino || sb.st_dev != m->dev ? "replaced by another file"
                                                                      : "rewritten in place",
                           now, was);
        }
    }
    return 0;
}
