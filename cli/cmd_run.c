/* cmd_run.c — PLACEHOLDER until its issue lands: refuses to run. */
#include <stdio.h>

#include "cli/commands.h"

int cmd_run(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "moeprobe %s: not built yet\n", argv[0]);
    return 1;
}
