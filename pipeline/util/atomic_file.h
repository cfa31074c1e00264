/* atomic_file.h — durable replacement of files: write a temp file, fsync it, rename it over the
 * target, fsync the directory (the redis rdbSave pattern). After a crash, kill -9 or power loss
 * the target is either the old or the new content, never a torn mix.
 *
 * All functions return 0 on success and -1 on failure with `err` naming the path, the system
 * call and strerror(errno). errno is preserved from the failing call. No function here exits. */
#ifndef MOEPROBE_ATOMIC_FILE_H
#define MOEPROBE_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "pipeline/util/error.h"

/* fsync(2) of an existing file or directory by path (opened read-only). */
int af_fsync_path(const char *path, mp_err *err);

/* fsync(2) of the directory that holds `path` (its dirname; "." for a bare name), so that a
 * rename or create inside it is durable. */
int af_fsync_dir_of(const char *path, mp_err *err);

/* rename(tmp, final) and fsync the directory of `final`. Both must be on one file system. */
int af_rename_durable(const char *tmp, const char *final, mp_err *err);

/* Replaces `path` with exactly `len` bytes of `data`: writes "<path>.tmp.<pid>", fsyncs,
 * renames over `path`, fsyncs the directory. On failure the temp file is removed and `path`
 * is untouched. */
int af_write_atomic(const char *path, const void *data, size_t len, mp_err *err);

/* A file written in pieces (a report streamed section by section, a checkpoint shard written by
 * a thread) that appears at `path` complete or not at all:
 *     af_tmp t = AF_TMP_INIT;
 *     if (af_tmp_open(&t, path, err) != 0) goto done;      creates "<path>.tmp.<pid>"
 *     ... write to t.fd, or to the stdio stream of af_tmp_stream(&t, err) ...
 *     if (af_tmp_commit(&t, err) != 0) goto done;          flush, fsync, close, rename, fsync dir
 *   done:
 *     af_tmp_discard(&t);                                  closes and removes an uncommitted one
 * af_tmp_discard is a no-op after a commit, after a failed open and on AF_TMP_INIT. */
typedef struct af_tmp {
    int fd;          /* -1 when not open */
    FILE *stream;    /* af_tmp_stream's stdio stream over fd, else NULL */
    char path[4096]; /* the final name */
    char tmp[4200];  /* the temp name; "" when there is nothing to remove */
} af_tmp;
#define AF_TMP_INIT                                                                                \
    {                                                                                              \
        .fd = -1                                                                                   \
    }

int af_tmp_open(af_tmp *t, const char *path, mp_err *err);
/* A buffered stdio stream over t->fd (created once; af_tmp_commit flushes and closes it). */
FILE *af_tmp_stream(af_tmp *t, mp_err *err);
int af_tmp_commit(af_tmp *t, mp_err *err);
void af_tmp_discard(af_tmp *t);

/* mkdir -p: creates `dir` and its missing parents with mode 0777 (& umask). An existing
 * folder is fine; an existing non-folder at any level is an error. */
int af_mkdir_p(const char *dir, mp_err *err);

#endif
