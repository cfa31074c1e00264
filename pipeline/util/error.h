/* error.h — recoverable errors as messages.
 *
 * Every function that can fail on outside input (files, configs, user options) returns 0 on
 * success and -1 on failure, filling an mp_err with one self-contained sentence that names the
 * file, the key or byte offset, the bad value and what was expected. Callers may prepend
 * context with err_prefix(). Nothing in pipeline/ exits or aborts on bad input; the CLI decides
 * (under MPI through fatal.h). */
#ifndef MOEPROBE_ERROR_H
#define MOEPROBE_ERROR_H

#include <stddef.h>

#define MP_ERR_LEN 2048

typedef struct mp_err {
    int set;              /* 0 until the first err_set */
    char msg[MP_ERR_LEN]; /* NUL-terminated, no trailing newline */
} mp_err;

void err_init(mp_err *e);
/* Sets the message (overwrites any earlier one). Always returns -1 so callers can
 * `return err_set(e, ...)`. */
int err_set(mp_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepends "context: " to the current message. Returns -1. */
int err_prefix(mp_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
