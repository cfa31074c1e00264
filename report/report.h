/* report.h — the report of `moeprobe report` and of the `report` stage of `moeprobe run`: the
 * paper's tables and figures for every model of the given archives, side by side.
 *
 * READS ONLY THE ARCHIVES. Nothing is recomputed from per-sample data: Table 1 comes from
 * metrics/<rel> and analyses/<rel>/summary + analyses/pooled/summary, the gain curves and stage
 * shares from the summaries, blocking and configuration ablations from the metrics/<rel>
 * attributes (hit10_block{N}, mrr_topk{k}, mrr_only_top1, ...), the head-expert tables and heat
 * maps from analyses/<rel>/head_expert, the neuron tables from analyses/<rel>/neurons, and the
 * provenance from the root attributes and /units. Every field is read through its entry of the
 * archive schema (docs/archive.md), in exactly the layout its writer uses; the stored run config
 * through the run-config API. The only arithmetic is presentation: means
 * over relations (weighted by n where the text says so), drops (base - blocked, and relative to
 * the base), means of head attributions over samples, differences to the paper's reported
 * numbers (data/paper/NAME.yaml, embedded at build time; report/paper.c) and, for heat maps too
 * large to draw cell by cell, the strongest r of each layer block.
 *
 * MISSING DATA. A section whose data is absent from an archive (a dense model has no blocking;
 * a stage was not run) is announced in one sentence that says why (dense model, stage not in
 * the run's `stages`, or requested but absent); it is never an error.
 *
 * INPUT. Each path is an archive OUT/NAME.h5, or a run's output folder holding exactly one.
 * Models are named by the file name without ".h5"; a repeated name becomes "NAME (2)", ...
 *
 * OUTPUT (out_dir is created if missing; the main file is written to a temporary name and
 * renamed; plots left in out_dir/plots by an earlier report are removed first):
 *   html:     out_dir/index.html (inline CSS, images by relative path plots/NAME.svg|png)
 *   markdown: out_dir/report.md (same content, pipe tables, image links)
 *   plots:    out_dir/plots/NAME.svg, or NAME.png. PNG is made by rsvg-convert from the SVG when it
 *             is on PATH, else drawn by gnuplot (pngcairo) from the same data; if neither is
 *             found report_render fails naming both.
 *
 * ERRORS: -1 with err set to one sentence for an archive that is missing, not HDF5 or not a
 * moeprobe archive (no moeprobe_version root attribute), an out_dir that cannot be created or
 * written, or a failing PNG converter. Nothing is written before every archive has loaded.
 * A plot that cannot be drawn is announced in the document, which is still completed; the
 * call then returns -1 with that plot's error. PNG tools run as child processes (fork/exec,
 * no shell); call from one thread (rank 0 of a run). */
#ifndef MOEPROBE_REPORT_H
#define MOEPROBE_REPORT_H

#include <stddef.h>

#include "pipeline/util/error.h"

typedef enum report_format { REPORT_HTML = 0, REPORT_MARKDOWN = 1 } report_format;
typedef enum report_plots { REPORT_SVG = 0, REPORT_PNG = 1 } report_plots;
/* How PNGs are made: AUTO = rsvg-convert if found, else gnuplot. */
typedef enum report_png_tool {
    REPORT_PNG_AUTO = 0,
    REPORT_PNG_RSVG,
    REPORT_PNG_GNUPLOT
} report_png_tool;

typedef struct report_opts {
    report_format format; /* run config report.format (html|markdown: same order) */
    report_plots plots;   /* run config report.plots (svg|png: same order) */
    report_png_tool png_tool;
    /* "NAME=PAPER_ID" (--paper-model): archive model NAME stands for a paper model
     * (data/paper/models.yaml) whatever its shape; before the archives' own report.paper_models */
    const char *const *paper_models;
    size_t n_paper_models;
} report_opts;

/* Defaults: html, svg, auto. */
report_opts report_opts_default(void);

/* Renders the report of archives[0..n) (paths of OUT/NAME.h5 files; n >= 1) into out_dir.
 * Models appear in the given order, named by the archive's file name without ".h5". On
 * success, *written (if not NULL) gets a malloc'd path of the main file (index.html /
 * report.md); free it. */
int report_render_to(const char *const *archives, size_t n, const char *out_dir,
                     const report_opts *o, char **written, mp_err *err);

/* The same without the path of the main file. */
int report_render(const char *const *archives, size_t n, const char *out_dir, const report_opts *o,
                  mp_err *err);

#endif
