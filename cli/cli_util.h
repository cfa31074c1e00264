/* cli_util.h — option parsing shared by the subcommands (intervention flags, numbers). */
#ifndef MOEPROBE_CLI_UTIL_H
#define MOEPROBE_CLI_UTIL_H

#include "pipeline/util/error.h"
#include "pipeline/forward/hooks.h"

/* "L:E" -> pair; error names the option and the value. */
int cli_parse_pair(const char *opt, const char *s, mp_pair *out, mp_err *err);
/* A whole decimal integer in [lo, hi]. */
int cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out, mp_err *err);

/* Intervention flags common to trace and run: --block L:E, --block-mode router_logit|
 * zero_output, --topk K, --keep-rank N, --no-shared, --suppress-head L:H, --force-expert L:E.
 * Returns 1 if argv[*i] was one of them (consuming its value), 0 if not, -1 on a bad value. */
int cli_parse_intervention(int argc, char **argv, int *i, intervention *iv, mp_err *err);
extern const char CLI_INTERVENTION_HELP[];

/* The whole file as a NUL-terminated string (malloc'd), or NULL if it cannot be read. */
char *cli_read_text(const char *path);

#endif
