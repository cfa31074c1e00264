/* lock.c — the archive's locks for several processes sharing one OUT/NAME.h5 (Slurm
 * array tasks): a unit lock per open unit, and the snapshot lock around rebuilds and cleanup.
 * Both are flock(2) on small files that nobody reads as data; see CONCURRENCY in archive.h.
 *
 * A lock file is removed by its holder while it still holds the lock. Whoever acquires a lock
 * therefore checks that the path still names the inode it locked, and retries if not; without
 * that, a process that opened the file just before the removal would "hold" a lock on a
 * deleted inode while a third process locks a fresh file of the same name. */
#include "pipeline/archive/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int g_warned_nolock;

static int flock_unsupported(int e)
{
    return e == ENOSYS || e == ENOLCK || e == EOPNOTSUPP;
}

static void warn_nolock(const arc_options *o, const char *path, int e)
{
    if (g_warned_nolock++) return;
    arc_warn(o,
             "%s: the file system refuses flock (%s); the archive works unlocked, so only one "
             "process may write it at a time",
             path, strerror(e));
}

/* Opens and flocks `path` (created if missing). op: LOCK_EX or LOCK_EX|LOCK_NB. Returns the fd,
 * -1 with errno = EWOULDBLOCK when busy, -1 with another errno on failure. */
static int lock_file(const char *path, int op)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        struct stat a, b;
        if (fd < 0) return -1;
        if (flock(fd, op) != 0) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_ino == b.st_ino &&
            a.st_dev == b.st_dev)
            return fd;
        close(fd); /* removed or replaced meanwhile: lock the current file instead */
    }
    errno = EAGAIN;
    return -1;
}

int arc_lock_snapshot(const char *archive_path, const arc_options *o, mp_err *err)
{
    char path[ARC_PATH_MAX + 8];
    snprintf(path, sizeof path, "%s.lock", archive_path);
    int fd = lock_file(path, LOCK_EX);
    if (fd >= 0) return fd;
    if (flock_unsupported(errno)) {
        warn_nolock(o, path, errno);
        return -1;
    }
    err_set(err, "archive %s: cannot take the snapshot lock %s: %s", archive_path, path,
            strerror(errno));
    return -2;
}

void arc_lock_release(int fd)
{
    if (fd >= 0) close(fd); /* closing the last descriptor releases the flock */
}

int arc_unit_lock(arc_unit *u, mp_err *err)
{
    char who[300] = "", host[256] = "";
    if (snprintf(u->lock_path, sizeof u->lock_path, "%s.lock", u->part_path) >=
        (int)sizeof u->lock_path)
        return err_set(err, "archive unit '%s': lock path too long", u->id);
    /* a short wait: `moeprobe status` probes locks with a momentary shared lock */
    for (int i = 0; i < 40; i++) {
        u->lock_fd = lock_file(u->lock_path, LOCK_EX | LOCK_NB);
        if (u->lock_fd >= 0 || errno != EWOULDBLOCK) break;
        struct timespec ts = {0, 25 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (u->lock_fd < 0) {
        int e = errno;
        if (flock_unsupported(e)) {
            warn_nolock(&u->w->opts, u->lock_path, e);
            u->lock_path[0] = '\0';
            return 0;
        }
        if (e == EWOULDBLOCK) {
            FILE *f = fopen(u->lock_path, "r");
            if (f) {
                if (!fgets(who, sizeof who, f)) who[0] = '\0';
                fclose(f);
                who[strcspn(who, "\n")] = '\0';
            }
            u->lock_path[0] = '\0';
            return err_set(err,
                           "archive %s: unit '%s' is being written by another process "
                           "(pid host start: %s); not running it twice",
                           u->w->path, u->id, who[0] ? who : "unknown");
        }
        err_set(err, "archive %s: cannot create the unit lock %s: %s", u->w->path, u->lock_path,
                strerror(e));
        u->lock_path[0] = '\0';
        return -1;
    }
    gethostname(host, sizeof host - 1);
    int n = snprintf(who, sizeof who, "%ld %s %.0f\n", (long)getpid(), host, arc_now_unix());
    if (ftruncate(u->lock_fd, 0) != 0 || write(u->lock_fd, who, (size_t)n) != n) {
        /* the lock holds without its description; status shows "unknown" */
    }
    return 0;
}

void arc_unit_unlock(arc_unit *u)
{
    if (u->lock_fd < 0) return;
    if (u->lock_path[0]) unlink(u->lock_path);
    close(u->lock_fd);
    u->lock_fd = -1;
}

int arc_tmp_part_is_live(const char *tmp_path, int remove_stale)
{
    char lock[ARC_PATH_MAX + 8];
    size_t n = strlen(tmp_path);
    if (n < 4 || n - 4 + 6 >= sizeof lock) return 0;
    snprintf(lock, sizeof lock, "%.*s.lock", (int)(n - 4), tmp_path); /* X.h5.tmp -> X.h5.lock */
    int fd = open(lock, O_RDWR | O_CLOEXEC);
    if (fd < 0) return 0;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        close(fd);
        return busy;
    }
    if (remove_stale) {
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(lock, &b) == 0 && a.st_ino == b.st_ino) unlink(lock);
    }
    close(fd);
    return 0;
}

int arc_unit_running(const char *archive_path, const char *unit_id, char *who, size_t who_len)
{
    char esc[3 * ARC_MAX_UNIT_ID + 1], lock[ARC_PATH_MAX + 700];
    int running = 0;
    if (who && who_len) who[0] = '\0';
    if (!archive_path || !unit_id || arc_escape_id(unit_id, esc, sizeof esc) != 0) return 0;
    snprintf(lock, sizeof lock, "%s.parts/%s.h5.lock", archive_path, esc);
    int fd = open(lock, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    if (flock(fd, LOCK_SH | LOCK_NB) != 0) {
        running = errno == EWOULDBLOCK;
    } else {
        flock(fd, LOCK_UN);
    }
    if (running && who && who_len > 1) {
        ssize_t r = read(fd, who, who_len - 1);
        who[r > 0 ? r : 0] = '\0';
        who[strcspn(who, "\n")] = '\0';
    }
    close(fd);
    return running;
}
