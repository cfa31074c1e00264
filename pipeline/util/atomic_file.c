/* atomic_file.c — see atomic_file.h. Write, fsync, rename, fsync the directory: the rename is
 * atomic for readers, the two fsyncs make it durable across power loss. */
#include "pipeline/util/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int af_fsync_path(const char *path, mp_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set(err, "%s: cannot open for fsync: %s", path, strerror(errno));
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return err_set(err, "%s: fsync failed: %s", path, strerror(e));
    }
    if (close(fd) != 0)
        return err_set(err, "%s: close after fsync failed: %s", path, strerror(errno));
    return 0;
}

int af_fsync_dir_of(const char *path, mp_err *err)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir)
            return err_set(err, "%s: path too long (%zu bytes, at most %zu)", path, n,
                           sizeof dir - 1);
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    return af_fsync_path(dir, err);
}

int af_rename_durable(const char *tmp, const char *final, mp_err *err)
{
    if (rename(tmp, final) != 0)
        return err_set(err, "cannot rename %s to %s: %s", tmp, final, strerror(errno));
    return af_fsync_dir_of(final, err);
}

int af_tmp_open(af_tmp *t, const char *path, mp_err *err)
{
    t->fd = -1;
    t->stream = NULL;
    t->tmp[0] = '\0';
    if (snprintf(t->path, sizeof t->path, "%s", path) >= (int)sizeof t->path ||
        snprintf(t->tmp, sizeof t->tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof t->tmp) {
        t->tmp[0] = '\0';
        return err_set(err, "%s: path too long for a temp file name", path);
    }
    t->fd = open(t->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (t->fd < 0) {
        int e = errno;
        err_set(err, "%s: cannot create temp file %s: %s", path, t->tmp, strerror(e));
        t->tmp[0] = '\0';
        errno = e;
        return -1;
    }
    return 0;
}

FILE *af_tmp_stream(af_tmp *t, mp_err *err)
{
    if (!t->stream && t->fd >= 0 && !(t->stream = fdopen(t->fd, "w")))
        err_set(err, "%s: cannot open a stream on %s: %s", t->path, t->tmp, strerror(errno));
    return t->stream;
}

int af_tmp_commit(af_tmp *t, mp_err *err)
{
    int rc = -1;
    if (t->fd < 0) return err_set(err, "%s: commit of a temp file that is not open", t->path);
    if (t->stream && (fflush(t->stream) != 0 || ferror(t->stream))) {
        err_set(err, "%s: write to %s failed: %s", t->path, t->tmp,
                errno ? strerror(errno) : "stream error");
        goto done;
    }
    if (fsync(t->fd) != 0) {
        err_set(err, "%s: fsync of %s failed: %s", t->path, t->tmp, strerror(errno));
        goto done;
    }
    int closed = t->stream ? fclose(t->stream) : close(t->fd);
    t->stream = NULL;
    t->fd = -1;
    if (closed != 0) {
        err_set(err, "%s: close of %s failed: %s", t->path, t->tmp, strerror(errno));
        goto done;
    }
    if (af_rename_durable(t->tmp, t->path, err) != 0) goto done;
    t->tmp[0] = '\0';
    rc = 0;
done:
    return rc;
}

void af_tmp_discard(af_tmp *t)
{
    int e = errno;
    if (t->stream)
        fclose(t->stream);
    else if (t->fd >= 0)
        close(t->fd);
    t->stream = NULL;
    t->fd = -1;
    if (t->tmp[0]) unlink(t->tmp);
    t->tmp[0] = '\0';
    errno = e;
}

int af_write_atomic(const char *path, const void *data, size_t len, mp_err *err)
{
    af_tmp t = AF_TMP_INIT;
    const char *p = data;
    size_t left = len;
    int rc = -1;
    if (af_tmp_open(&t, path, err) != 0) return -1;
    while (left > 0) {
        ssize_t w = write(t.fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            err_set(err, "%s: write to %s failed: %s", path, t.tmp,
                    w < 0 ? strerror(errno) : "wrote 0 bytes");
            goto done;
        }
        p += w;
        left -= (size_t)w;
    }
    rc = af_tmp_commit(&t, err);
done:
    af_tmp_discard(&t);
    return rc;
}

int af_mkdir_p(const char *dir, mp_err *err)
{
    char buf[4096];
    size_t n = strlen(dir);
    struct stat st;
    if (n == 0) return err_set(err, "empty folder name");
    if (n >= sizeof buf)
        return err_set(err, "%s: path too long (%zu bytes, at most %zu)", dir, n, sizeof buf - 1);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            err_set(err, "cannot create folder %s: %s", buf, strerror(e));
            errno = e;
            return -1;
        }
        if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
            err_set(err, "cannot create folder %s: %s exists and is not a folder", dir, buf);
            errno = ENOTDIR;
            return -1;
        }
        buf[i] = c;
    }
    return 0;
}
