/* error.c — see error.h. */
#include "pipeline/util/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void err_init(mp_err *e)
{
    e->set = 0;
    e->msg[0] = '\0';
}

int err_set(mp_err *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->set = 1;
    return -1;
}

int err_prefix(mp_err *e, const char *fmt, ...)
{
    char head[MP_ERR_LEN];
    char old[MP_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    snprintf(e->msg, sizeof e->msg, "%s: %s", head, e->set ? old : "unknown error");
    e->set = 1;
    return -1;
}
