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
    if (fd < 0)
        return err_set(err, "%s: cannot open for fsync: %s", path, strerror(errno));
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

int af_write_atomic(const char *path, const void *data, size_t len, mp_err *err)
{
    char tmp[4200];
    int fd = -1, rc = -1;
    const char *p = data;
    size_t left = len;
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return err_set(err, "%s: path too long for a temp file name", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        err_set(err, "%s: cannot create temp file %s: %s", path, tmp, strerror(errno));
        return -1;
    }
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            err_set(err, "%s: write to %s failed: %s", path, tmp,
                    w < 0 ? strerror(errno) : "wrote 0 bytes");
            goto done;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        err_set(err, "%s: fsync of %s failed: %s", path, tmp, strerror(errno));
        goto done;
    }
    if (close(fd) != 0) {
        fd = -1;
        err_set(err, "%s: close of %s failed: %s", path, tmp, strerror(errno));
        goto done;
    }
    fd = -1;
    if (af_rename_durable(tmp, path, err) != 0)
        goto done;
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    if (rc != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
    }
    return rc;
}

int af_mkdir_p(const char *dir, mp_err *err)
{
    char buf[4096];
    size_t n = strlen(dir);
    struct stat st;
    if (n == 0)
        return err_set(err, "empty directory name");
    if (n >= sizeof buf)
        return err_set(err, "%s: path too long (%zu bytes, at most %zu)", dir, n, sizeof buf - 1);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            int e = errno;
            err_set(err, "cannot create directory %s: %s", buf, strerror(e));
            errno = e;
            return -1;
        }
        if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
            err_set(err, "cannot create directory %s: %s exists and is not a directory", dir,
                    buf);
            errno = ENOTDIR;
            return -1;
        }
        buf[i] = c;
    }
    return 0;
}
