/* cmd_status.c — moeprobe status OUT_DIR: done / running / failed / pending units per model of
 * an out folder (jobs/status.h). Safe while runs write the folder. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "jobs/status.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: moeprobe status OUT_DIR [--units]\n\n"
            "Shows, per model of OUT_DIR (the `out` of a run or sweep config), how many units are\n"
            "done (committed to the archive parts), running (a live process holds the unit's\n"
            "lock), failed (a recorded error, or a process that died while running the unit)\n"
            "and pending, then the running and failed units with who runs them or why they\n"
            "failed. Failed and pending units run again on the next `moeprobe run`.\n\n"
            "  --units   list every unit with its state\n\n"
            "Exit status: 0 (also when units failed), 1 when OUT_DIR has no manifest.\n");
}

int cmd_status(int argc, char **argv)
{
    const char *dir = NULL;
    int all = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--units")) {
            all = 1;
        } else if (argv[i][0] == '-' || dir) {
            fprintf(stderr,
                    "moeprobe status: unexpected argument %s (see moeprobe status "
                    "--help)\n",
                    argv[i]);
            return 2;
        } else {
            dir = argv[i];
        }
    }
    if (!dir) {
        fprintf(stderr, "moeprobe status: an OUT_DIR is required (see moeprobe status --help)\n");
        return 2;
    }
    status_report r;
    mp_err err;
    err_init(&err);
    if (status_collect(dir, &r, &err) != 0) {
        fprintf(stderr, "moeprobe status: %s\n", err.msg);
        return 1;
    }
    status_print(stdout, dir, &r, all);
    status_report_free(&r);
    return 0;
}
