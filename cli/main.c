/* main.c — bin/moeprobe: dispatches to the subcommand named by argv[1]. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "pipeline/util/build_info.h"
#include "pipeline/ops/internal.h"
#include "pipeline/ops/ops.h"

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

/* clang-format off */
static const command COMMANDS[] = {
    {"tokenize", cmd_tokenize, "token ids of texts, exactly as Hugging Face tokenizers"},
    {"inspect", cmd_inspect, "architecture, shapes, parameters and bytes of a checkpoint"},
    {"make-model", cmd_make_model, "write a random-weight checkpoint of a config's real shape"},
    {"trace", cmd_trace, "run prompts through a model, write hooked activations (HDF5)"},
    {"run", cmd_run, "the batch pipeline: capture, analyses, archive and report"},
    {"plan", cmd_plan, "print the units a sweep config expands to"},
    {"status", cmd_status, "done / running / failed units of an output folder"},
    {"verify", cmd_verify, "check an output folder's or archive's files against their checksums"},
    {"report", cmd_report, "render the paper's tables and figures from archives"},
    {"export", cmd_export, "the paper's tables of archives as CSV files (--csv DIR)"},
    {"config", cmd_config, "list every config key with its default (--explain)"},
};
/* clang-format on */

static void usage(FILE *f)
{
    fprintf(f, "moeprobe %s (%s) — how Mixture-of-Experts models store and route knowledge\n\n",
            build_version(), build_git_commit());
    fprintf(f, "usage: moeprobe COMMAND [options]   (moeprobe COMMAND --help for details)\n\n");
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        fprintf(f, "  %-11s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        char paths[64];
        mp_err err = {0};
        ops_isa_list(paths, sizeof paths);
        printf("moeprobe %s (%s)\n", build_version(), build_git_commit());
        /* which product kernels this CPU runs (MOEPROBE_ISA picks one; all give the same bits) */
        printf("kernel paths: %s (in use: %s)\n", paths,
               ops_isa_check(&err) == 0 ? ops_isa() : err.msg);
        if (ops_isa_check(&err) == 0) { /* eval_precision: bf16_screened (docs/method.md) */
            const int hw = !strcmp(gemm_bf16_path(), "avx512bf16");
            printf("bf16 products: %s%s\n", hw ? "avx512bf16 (vdpbf16ps)" : "emulated on ",
                   hw ? "" : gemm_bf16_path());
        }
        return ops_isa_check(&err) == 0 ? 0 : 2;
    }
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].fn(argc - 1, argv + 1);
    fprintf(stderr,
            "moeprobe: unknown command '%s' (expected one of: tokenize, inspect, "
            "make-model, trace, run, plan, status, verify, report, config)\n",
            argv[1]);
    return 2;
}
