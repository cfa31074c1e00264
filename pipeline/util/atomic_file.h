/* atomic_file.h — durable replacement of files: write a temp file, fsync it, rename it over the
 * target, fsync the directory (the redis rdbSave pattern). After a crash, kill -9 or power loss
 * the target is either the old or the new content, never a torn mix.
 *
 * All functions return 0 on success and -1 on failure with `err` naming the path, the system
 * call and strerror(errno). errno is preserved from the failing call. No function here exits. */
#ifndef MOEPROBE_ATOMIC_FILE_H
#define MOEPROBE_ATOMIC_FILE_H

#include <stddef.h>

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

/* mkdir -p: creates `dir` and its missing parents with mode 0777 (& umask). An existing
 * directory is fine; an existing non-directory at any level is an error. */
int af_mkdir_p(const char *dir, mp_err *err);

#endif
