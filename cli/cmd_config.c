/* cmd_config.c — moeprobe config: the run-config schema for people.
 *   --explain        every key with its type, allowed values, default and doc
 *   --check FILE     validate FILE; print every problem (exit 1) or "ok"
 *   --print FILE     the effective config (defaults filled in) as YAML */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "pipeline/config/run_config.h"
#include "stages/analysis_def.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: moeprobe config --explain\n"
               "       moeprobe config --check FILE.yaml\n"
               "       moeprobe config --print FILE.yaml\n\n"
               "  --explain   list every config key: type, allowed values, default, meaning\n"
               "  --check     validate a run or sweep config; prints every problem as\n"
               "              FILE:LINE:COLUMN: message (exit 1), or \"ok\"\n"
               "  --print     print the effective config with all defaults (YAML)\n");
}

int cmd_config(int argc, char **argv)
{
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "--explain")) {
        rcfg_explain(stdout, analysis_config_schema());
        return 0;
    }
    if (argc == 3 && (!strcmp(argv[1], "--check") || !strcmp(argv[1], "--print"))) {
        rcfg *c = NULL;
        rcfg_problems pr = {0};
        mp_err e;
        err_init(&e);
        if (rcfg_load(&c, argv[2], analysis_config_schema(), &pr, &e) != 0) {
            for (size_t i = 0; i < pr.n; i++) fprintf(stderr, "%s\n", pr.msg[i]);
            if (pr.n == 0)
                fprintf(stderr, "moeprobe config: %s\n", e.msg);
            else
                fprintf(stderr, "moeprobe config: %zu problem%s in %s\n", pr.n, pr.n > 1 ? "s" : "",
                        argv[2]);
            rcfg_problems_free(&pr);
            return 1;
        }
        int rc = 0;
        if (!strcmp(argv[1], "--check")) {
            printf("ok\n");
        } else {
            char *y = rcfg_to_yaml_text(c);
            if (y)
                fputs(y, stdout);
            else
                rc = 1, fprintf(stderr, "moeprobe config: out of memory\n");
            free(y);
        }
        rcfg_free(c);
        return rc;
    }
    usage(stderr);
    return 2;
}
