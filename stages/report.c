/* report.c — the report as a stage: its place at the end of the pipeline and its config
 * section. It writes no unit: `moeprobe run` renders the report from the finished archives
 * (report/, cli/cmd_run.c) when `report` is among the stages. */
#include "stages/analysis_def.h"

/* clang-format off */
static const rcfg_key REPORT_KEYS[] = {
    {"report", RCFG_MAP, 0, NULL, RCFG_NOLIM, NULL, "The report rendered from the archive."},
    {"report.format", RCFG_ENUM, 0, "html", RCFG_NOLIM, "html|markdown", "Report format."},
    {"report.plots", RCFG_ENUM, 0, "svg", RCFG_NOLIM, "svg|png", "Plot image format."},
    {"report.paper_models", RCFG_STR_LIST, 0, "[]", RCFG_NOLIM, NULL,
     "\"NAME=ID\" entries: the run's model NAME stands for the paper model ID (data/paper/models.yaml: "
     "olmoe, qwen1.5-moe, mixtral, llama-7b, qwen1.5-7b, mistral-7b) in the report's paper-vs-measured "
     "section, whatever its shape (a model with the paper model's config shape is matched without it)."},
};
/* clang-format on */

const analysis_def analysis_report = {
    .name = "report",
    .order = 90,
    .scope = ANALYSIS_PER_MODEL,
    .doc = "the report of every archive of the run (OUT/report/), rendered after the last unit",
    .config = RCFG_SECTION(REPORT_KEYS),
};
