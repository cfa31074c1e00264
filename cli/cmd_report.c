/* cmd_report.c — moeprobe report ARCHIVE.h5 [ARCHIVE.h5 ...] --out DIR: the paper's tables and
 * figures for the models of the given archives, side by side (report/report.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "report/report.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: moeprobe report ARCHIVE.h5 [ARCHIVE.h5 ...] --out DIR [options]\n\n"
        "Renders the paper's tables and figures for every model of the given archives, side by\n"
        "side, reading only the archives: Table 1, gain curves (Figure 2), stage shares (Figure\n"
        "3), expert blocking (Tables 5/8, Figure 7), configuration ablations (Tables 2/3,\n"
        "Figure 4), head-expert correlations and causal pairs (Table 4), neurons, provenance.\n"
        "Sections an archive lacks are announced. An ARCHIVE may be a run's output folder\n"
        "holding exactly one archive.\n\n"
        "options:\n"
        "  --out DIR                  output folder (created; index.html or report.md and plots/)\n"
        "  --format html|markdown     document format (default html)\n"
        "  --plots svg|png            image format (default svg; png uses rsvg-convert if\n"
        "                             installed, else gnuplot)\n"
        "  --png-tool auto|rsvg-convert|gnuplot\n"
        "                             which program makes the PNGs (default auto)\n"
        "  --paper-model NAME=ID      archive model NAME stands for the paper's model ID\n"
        "                             (olmoe, qwen1.5-moe, mixtral, llama-7b, qwen1.5-7b,\n"
        "                             mistral-7b) in the paper-vs-measured section; repeatable\n"
        "  -h, --help                 this text\n\n"
        "Prints the path of the written index.html / report.md on stdout.\n");
}

int cmd_report(int argc, char **argv)
{
    static const struct option LONG[] = {{"out", required_argument, NULL, 'o'},
                                         {"format", required_argument, NULL, 'f'},
                                         {"plots", required_argument, NULL, 'p'},
                                         {"png-tool", required_argument, NULL, 't'},
                                         {"paper-model", required_argument, NULL, 'P'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    report_opts o = report_opts_default();
    const char *pm[64];
    size_t n_pm = 0;
    const char *out = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":ho:", LONG, NULL)) != -1) {
        switch (c) {
        case 'h': usage(stdout); return 0;
        case 'o': out = optarg; break;
        case 'f':
            if (!strcmp(optarg, "html"))
                o.format = REPORT_HTML;
            else if (!strcmp(optarg, "markdown") || !strcmp(optarg, "md"))
                o.format = REPORT_MARKDOWN;
            else {
                fprintf(stderr, "moeprobe report: --format '%s': expected html or markdown\n",
                        optarg);
                return 2;
            }
            break;
        case 'p':
            if (!strcmp(optarg, "svg"))
                o.plots = REPORT_SVG;
            else if (!strcmp(optarg, "png"))
                o.plots = REPORT_PNG;
            else {
                fprintf(stderr, "moeprobe report: --plots '%s': expected svg or png\n", optarg);
                return 2;
            }
            break;
        case 't':
            if (!strcmp(optarg, "auto"))
                o.png_tool = REPORT_PNG_AUTO;
            else if (!strcmp(optarg, "rsvg-convert"))
                o.png_tool = REPORT_PNG_RSVG;
            else if (!strcmp(optarg, "gnuplot"))
                o.png_tool = REPORT_PNG_GNUPLOT;
            else {
                fprintf(
                    stderr,
                    "moeprobe report: --png-tool '%s': expected auto, rsvg-convert or gnuplot\n",
                    optarg);
                return 2;
            }
            break;
        case 'P':
            if (!strchr(optarg, '=') || optarg[0] == '=' || !strchr(optarg, '=')[1]) {
                fprintf(stderr,
                        "moeprobe report: --paper-model '%s': expected NAME=PAPER_ID (e.g. "
                        "tiny-olmoe=olmoe)\n",
                        optarg);
                return 2;
            }
            if (n_pm < sizeof pm / sizeof *pm) pm[n_pm++] = optarg;
            o.paper_models = pm;
            o.n_paper_models = n_pm;
            break;
        case ':':
            fprintf(stderr, "moeprobe report: %s needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "moeprobe report: unknown option '%s' (see moeprobe report --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "moeprobe report: no archive given (usage: moeprobe report ARCHIVE.h5 ... "
                        "--out DIR)\n");
        return 2;
    }
    if (!out) {
        fprintf(stderr, "moeprobe report: --out DIR is required\n");
        return 2;
    }
    mp_err err;
    char *written = NULL;
    err_init(&err);
    if (report_render_to((const char *const *)(argv + optind), (size_t)(argc - optind), out, &o,
                         &written, &err) != 0) {
        fprintf(stderr, "moeprobe report: %s\n", err.msg);
        return 1;
    }
    printf("%s\n", written);
    free(written);
    return 0;
}
