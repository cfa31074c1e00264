/* report.c — report_render: loads every archive (nothing is written unless all load), picks the
 * PNG tool, prepares the output folder and writes the document section by section into a
 * temporary file that is renamed into place at the end. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pipeline/util/atomic_file.h"
#include "pipeline/util/build_info.h"
#include "report/paper.h"
#include "report/sections.h"

report_opts report_opts_default(void)
{
    report_opts o;
    memset(&o, 0, sizeof o);
    o.format = REPORT_HTML;
    o.plots = REPORT_SVG;
    o.png_tool = REPORT_PNG_AUTO;
    return o;
}

/* 1 if `prog` is an executable file in a PATH folder. */
static int on_path(const char *prog)
{
    const char *path = getenv("PATH");
    if (!path || !*path) return 0;
    char *dup = strdup(path), *save = NULL;
    int found = 0;
    for (char *dir = dup ? strtok_r(dup, ":", &save) : NULL; dir && !found;
         dir = strtok_r(NULL, ":", &save)) {
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", *dir ? dir : ".", prog);
        found = access(p, X_OK) == 0;
    }
    free(dup);
    return found;
}

/* The output folder and its plots/ folder, created if missing. */
static int make_folders(const char *dir, const char *plot_dir, mp_err *err)
{
    if (af_mkdir_p(dir, err) != 0 || af_mkdir_p(plot_dir, err) != 0)
        return err_prefix(err, "report");
    return 0;
}

/* Removes the plots of an earlier report (only *.svg / *.png / our temporaries). */
static void clear_plots(const char *dir)
{
    DIR *dd = opendir(dir);
    struct dirent *de;
    if (!dd) return;
    while ((de = readdir(dd))) {
        size_t n = strlen(de->d_name);
        if (n > 4 && (!strcmp(de->d_name + n - 4, ".svg") || !strcmp(de->d_name + n - 4, ".png") ||
                      !strcmp(de->d_name + n - 3, ".gp") || !strcmp(de->d_name + n - 4, ".log"))) {
            char p[4400];
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            unlink(p);
        }
    }
    closedir(dd);
}

/* The report, section by section, in the order shown. */
/* clang-format off */
static const rep_section SECTIONS[] = {
    {"glance", "At a glance", "At a glance", sec_glance, NULL},
    {"trace", "Per-prompt drill-down (trace)", "Per-prompt drill-down of the trace", sec_trace,
     sec_trace_shown},
    {"table1", "Knowledge attribution per model (Table 1)",
     "Knowledge attribution per model (Table 1)", sec_attribution, NULL},
    {"gains", "Gain per layer (Figure 2)", "FFN and attention gain per layer (Figure 2)", sec_gains, NULL},
    {"stages", "Stage shares (Figure 3)", "Stage shares (Figure 3)", sec_stages, NULL},
    {"blocking", "Blocking the top experts (Tables 5/8, Figure 7)",
     "Blocking each relation's top experts (Tables 5/8, Figure 7)", sec_blocking, NULL},
    {"ablations", "Configuration ablations (Tables 2/3, Figure 4)",
     "Configuration ablations (Tables 2/3, Figure 4)", sec_ablations, NULL},
    {"heads", "Attention heads and experts (Table 4, section 4.3)",
     "Attention heads and experts (Table 4, section 4.3)", sec_heads_experts, NULL},
    {"neurons", "Neurons (Figure 6, Table 7)", "Neurons (Figure 6, Table 7)", sec_neurons, NULL},
    {"views", "More views (Table 6, Figures 3 and 5, section 5.1)",
     "More views: Table 6, Figure 5, Figure 3's cumulative curve, relative drops, experts x relations",
     sec_views, NULL},
    {"paper", "The paper beside this run", "The paper beside this run (Tables 1, 2, 3, 5, 8, headline numbers)",
     sec_paper, NULL},
    {"provenance", "Provenance", "Provenance", sec_provenance, NULL},
};
/* clang-format on */
#define N_SECTIONS (sizeof SECTIONS / sizeof *SECTIONS)

static int shown(size_t i, rep_model *m, size_t n)
{
    return !SECTIONS[i].shown || SECTIONS[i].shown(m, n);
}

static void toc(rep_doc *d, rep_model *m, size_t n)
{
    if (d->fmt != REPORT_HTML) return;
    fputs("<nav><ul>\n", d->f);
    for (size_t i = 0; i < N_SECTIONS; i++)
        if (shown(i, m, n))
            fprintf(d->f, "<li><a href=\"#%s\">%s</a></li>\n", SECTIONS[i].id, SECTIONS[i].toc);
    fputs("</ul></nav>\n", d->f);
}

int report_render_to(const char *const *archives, size_t n, const char *out_dir,
                     const report_opts *o, char **written, mp_err *err)
{
    report_opts def = report_opts_default();
    rep_model *m = NULL;
    rep_doc d;
    char main_path[4200];
    af_tmp out = AF_TMP_INIT;
    int rc = -1;
    size_t loaded = 0;
    paper_data paper = {0};
    mp_err perr;
    err_init(&perr);
    memset(&d, 0, sizeof d);
    if (written) *written = NULL;
    if (!o) o = &def;
    if (n == 0) return err_set(err, "report: no archive given");
    if (!out_dir || !*out_dir) return err_set(err, "report: no output folder given");
    m = calloc(n, sizeof *m);
    if (!m) return err_set(err, "out of memory");
    for (; loaded < n; loaded++)
        if (rep_model_load(&m[loaded], archives[loaded], err) != 0) goto done;
    /* archives of the same model stay apart: labelled by the config keys that differ */
    if (rep_label_runs(m, n) != 0) {
        err_set(err, "out of memory");
        goto done;
    }
    if (paper_load_embedded(&paper, &perr) == 0)
        d.paper = &paper;
    else
        snprintf(d.paper_problem, sizeof d.paper_problem, "%s", perr.msg);
    if (d.paper && rep_paper_map(m, n, d.paper, o->paper_models, o->n_paper_models, err) != 0)
        goto done;
    d.fmt = o->format;
    d.plots = o->plots;
    if (o->plots == REPORT_PNG) {
        int rs = on_path("rsvg-convert"), gp = on_path("gnuplot");
        if (o->png_tool == REPORT_PNG_RSVG && !rs) {
            err_set(
                err,
                "report: PNG plots with rsvg-convert were asked for, but rsvg-convert is not on "
                "PATH (Debian package librsvg2-bin)");
            goto done;
        }
        if (o->png_tool == REPORT_PNG_GNUPLOT && !gp) {
            err_set(err,
                    "report: PNG plots with gnuplot were asked for, but gnuplot is not on PATH "
                    "(Debian package gnuplot-nox)");
            goto done;
        }
        if (!rs && !gp) {
            err_set(err, "report: report.plots is png, but neither rsvg-convert (Debian package "
                         "librsvg2-bin) nor gnuplot (gnuplot-nox) is on PATH; install one, or use "
                         "plots: svg");
            goto done;
        }
        d.png_tool = o->png_tool == REPORT_PNG_GNUPLOT || (o->png_tool == REPORT_PNG_AUTO && !rs)
                         ? REPORT_PNG_GNUPLOT
                         : REPORT_PNG_RSVG;
    }
    d.dir = strdup(out_dir);
    d.plot_dir = malloc(strlen(out_dir) + 8);
    if (!d.dir || !d.plot_dir) {
        err_set(err, "out of memory");
        goto done;
    }
    sprintf(d.plot_dir, "%s/plots", out_dir);
    if (make_folders(out_dir, d.plot_dir, err) != 0) goto done;
    clear_plots(d.plot_dir);
    snprintf(main_path, sizeof main_path, "%s/%s", out_dir,
             o->format == REPORT_HTML ? "index.html" : "report.md");
    if (af_tmp_open(&out, main_path, err) != 0 || !(d.f = af_tmp_stream(&out, err))) {
        err_prefix(err, "cannot write the report");
        goto done;
    }
    char title[600];
    size_t tl = (size_t)snprintf(title, sizeof title, "moeprobe report: ");
    for (size_t i = 0; i < n && tl < sizeof title - 8; i++)
        tl += (size_t)snprintf(title + tl, sizeof title - tl, "%s%s", i ? ", " : "", m[i].name);
    doc_begin(&d, title);
    time_t now = time(NULL);
    struct tm tmv;
    char when[64];
    gmtime_r(&now, &tmv);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    doc_p(&d,
          "Rendered by moeprobe %s (%s) at %s from %zu archive%s, reading only what the archives "
          "hold (nothing is recomputed). Indices of layers, heads and experts are 0-based unless a "
          "column says 1-based.",
          build_version(), build_git_commit(), when, n, n == 1 ? "" : "s");
    toc(&d, m, n);
    for (size_t i = 0; i < N_SECTIONS; i++) {
        if (!shown(i, m, n)) continue;
        doc_h(&d, 2, SECTIONS[i].id, SECTIONS[i].title);
        SECTIONS[i].fn(&d, m, n);
    }
    doc_end(&d);
    d.f = NULL; /* closed by the commit or the discard */
    if (af_tmp_commit(&out, err) != 0) {
        err_prefix(err, "writing the report failed");
        goto done;
    }
    if (d.plot_failed) {
        *err = d.plot_err;
        err_prefix(err, "report %s written, but a plot failed", main_path);
        goto done;
    }
    if (written && !(*written = strdup(main_path))) {
        err_set(err, "out of memory");
        goto done;
    }
    rc = 0;
done:
    af_tmp_discard(&out); /* closes d.f unless committed */
    free(d.dir);
    free(d.plot_dir);
    for (size_t i = 0; i < loaded && i < n; i++) rep_model_free(&m[i]);
    paper_free(&paper);
    free(m);
    return rc;
}

int report_render(const char *const *archives, size_t n, const char *out_dir, const report_opts *o,
                  mp_err *err)
{
    return report_render_to(archives, n, out_dir, o, NULL, err);
}
