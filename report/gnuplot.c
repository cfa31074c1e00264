/* gnuplot.c — PNG plots drawn by gnuplot (pngcairo) from the same chart specs as the
 * SVG writer, for `report.plots: png` where rsvg-convert is not installed (gnuplot-nox is a
 * Debian dependency of moeprobe). The script is written next to the PNG, run without a shell,
 * and removed. Text is `noenhanced` so names with '_' or '^' print as they are. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report/internal.h"

/* A gnuplot double-quoted string. */
static void q(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if (*s == '\n') {
            fputs("\\n", f);
            continue;
        }
        fputc(*s, f);
    }
    fputc('"', f);
}

static void num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.9g", v);
    else
        fputs("NaN", f);
}

static FILE *gp_open(const char *png, char *script, size_t len, int w, int h, const char *title,
                     mp_err *err)
{
    snprintf(script, len, "%s.gp", png);
    FILE *f = fopen(script, "w");
    if (!f) {
        err_set(err, "%s: cannot write the gnuplot script: %s", script, strerror(errno));
        return NULL;
    }
    fprintf(f, "set terminal pngcairo noenhanced size %d,%d font \"DejaVu Sans,10\"\nset output ",
            w, h);
    q(f, png);
    fputs("\nset datafile missing \"NaN\"\n", f);
    if (title) {
        fputs("set title ", f);
        q(f, title);
        fputs(" font \",12\"\n", f);
    }
    return f;
}

static int gp_run(FILE *f, const char *script, const char *png, mp_err *err)
{
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        unlink(script);
        return err_set(err, "%s: writing the gnuplot script failed: %s", script, strerror(errno));
    }
    char log[4300];
    snprintf(log, sizeof log, "%s.log", png);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        unlink(script);
        return err_set(err, "cannot start gnuplot: %s", strerror(errno));
    }
    if (pid == 0) {
        FILE *lf = freopen(log, "w", stdout);
        if (lf) dup2(fileno(stdout), 2);
        execlp("gnuplot", "gnuplot", script, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) break;
    unlink(script);
    char line[300] = "";
    FILE *lf = fopen(log, "r");
    if (lf) {
        /* gnuplot reports errors as "line N: message" after echoing the line */
        char buf[300];
        while (fgets(buf, sizeof buf, lf))
            if (strstr(buf, "line ") || !line[0]) snprintf(line, sizeof line, "%s", buf);
        fclose(lf);
    }
    unlink(log);
    line[strcspn(line, "\n")] = 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        if (WIFEXITED(st) && WEXITSTATUS(st) == 127 && !line[0])
            return err_set(err, "gnuplot could not be run (not found on PATH)");
        return err_set(err, "gnuplot failed drawing %s%s%s", png, line[0] ? ": " : "", line);
    }
    if (access(png, F_OK) != 0) return err_set(err, "gnuplot did not write %s", png);
    return 0;
}

static void colours(FILE *f)
{
    fputs("colours = \"", f);
    for (int i = 0; i < REP_MAX_SERIES; i++) fprintf(f, "%s%s", i ? " " : "", rep_palette(i));
    fputs("\"\n", f);
}

int rep_gp_line(const char *png, const rep_line_chart *c, mp_err *err)
{
    char script[4300];
    FILE *f = gp_open(png, script, sizeof script, c->n_series > 2 ? 760 : 680, 360, c->title, err);
    if (!f) return -1;
    if (c->xlabel) fputs("set xlabel ", f), q(f, c->xlabel), fputc('\n', f);
    if (c->ylabel) fputs("set ylabel ", f), q(f, c->ylabel), fputc('\n', f);
    fputs("set grid ytics lc rgb \"#dddddd\"\nset key outside right top Left reverse\n", f);
    if (c->integer_x) fputs("set xtics 1\n", f);
    /* x range: the stage bands, else the data with room for the end markers */
    double x0 = INFINITY, x1 = -INFINITY;
    for (int i = 0; i < c->n_band; i++) {
        if (c->band[i].x0 < x0) x0 = c->band[i].x0;
        if (c->band[i].x1 > x1) x1 = c->band[i].x1;
    }
    if (!c->n_band)
        for (int i = 0; i < c->n_series; i++)
            for (int64_t j = 0; j < c->s[i].n; j++)
                if (isfinite(c->s[i].x[j])) {
                    if (c->s[i].x[j] < x0) x0 = c->s[i].x[j];
                    if (c->s[i].x[j] > x1) x1 = c->s[i].x[j];
                }
    if (isfinite(x0) && isfinite(x1) && x1 > x0) {
        double pad = c->n_band ? 0 : (c->integer_x ? 0.25 : (x1 - x0) * 0.03);
        fprintf(f, "set xrange [%g:%g]\n", x0 - pad, x1 + pad);
    }
    for (int i = 0; i < c->n_band; i++) {
        fprintf(f,
                "set object %d rect from %g, graph 0 to %g, graph 1 fc rgb \"%s\" fs solid "
                "noborder behind\n",
                i + 1, c->band[i].x0, c->band[i].x1, i % 2 ? "#ffffff" : "#eef2f7");
        if (c->band[i].label) {
            fputs("set label ", f);
            q(f, c->band[i].label);
            fprintf(f, " at %g, graph 0.95 center tc rgb \"#555555\"\n",
                    (c->band[i].x0 + c->band[i].x1) / 2);
        }
    }
    if (c->zero_line)
        fputs(
            "set arrow from graph 0, first 0 to graph 1, first 0 nohead dt 2 lc rgb \"#888888\"\n",
            f);
    for (int i = 0; i < c->n_series; i++) {
        fprintf(f, "$d%d << EOD\n", i);
        for (int64_t j = 0; j < c->s[i].n; j++) {
            num(f, c->s[i].x[j]);
            fputc(' ', f);
            num(f, c->s[i].y[j]);
            fputc('\n', f);
        }
        fputs("EOD\n", f);
    }
    fputs("plot ", f);
    for (int i = 0; i < c->n_series; i++) {
        fprintf(f, "%s$d%d using 1:2 with linespoints lw 2 pt 7 ps 0.6 %slc rgb \"%s\" title ",
                i ? ", " : "", i, c->s[i].dashed || i >= 10 ? "dt 2 " : "", rep_palette(i));
        q(f, c->s[i].name);
    }
    if (!c->n_series) fputs("NaN notitle", f);
    fputc('\n', f);
    return gp_run(f, script, png, err);
}

int rep_gp_bar(const char *png, const rep_bar_chart *c, mp_err *err)
{
    char script[4300];
    size_t kw = 0;
    for (int i = 0; i < c->n_series; i++)
        if (strlen(c->series[i]) > kw) kw = strlen(c->series[i]);
    int w = 160 + (int)kw * 7 + c->n_groups * (c->stacked ? 55 : 22 * c->n_series + 30);
    FILE *f = gp_open(png, script, sizeof script, w < 560 ? 560 : w, 380, c->title, err);
    if (!f) return -1;
    colours(f);
    if (c->ylabel) fputs("set ylabel ", f), q(f, c->ylabel), fputc('\n', f);
    fprintf(
        f,
        "set style data histograms\nset style histogram %s\nset style fill solid 1.0 border -1\n"
        "set boxwidth 0.85\nset grid ytics lc rgb \"#dddddd\"\nset key outside right top Left "
        "reverse\n"
        "set yrange [*:*]\nset xzeroaxis lt -1\n",
        c->stacked ? "rowstacked" : "clustered gap 1");
    size_t gl = 0;
    for (int g = 0; g < c->n_groups; g++)
        if (strlen(c->groups[g]) > gl) gl = strlen(c->groups[g]);
    fputs(gl > 10 ? "set xtics rotate by 35 right nomirror\n" : "set xtics nomirror\n", f);
    fputs("$d << EOD\n\"group\"", f);
    for (int s = 0; s < c->n_series; s++) fputc(' ', f), q(f, c->series[s]);
    fputc('\n', f);
    for (int g = 0; g < c->n_groups; g++) {
        q(f, c->groups[g]);
        for (int s = 0; s < c->n_series; s++) fputc(' ', f), num(f, c->v[g * c->n_series + s]);
        fputc('\n', f);
    }
    fprintf(f,
            "EOD\nplot for [i=2:%d] $d using i:xtic(1) title columnheader(i) lc rgb word(colours, "
            "i-1)\n",
            c->n_series + 1);
    return gp_run(f, script, png, err);
}

int rep_gp_heatmap(const char *png, const rep_heatmap *h, mp_err *err)
{
    char script[4300];
    int cw = h->annotate ? 60 : (int)(760 / (h->cols > 0 ? h->cols : 1)),
        ch = h->annotate ? 26 : (int)(520 / (h->rows > 0 ? h->rows : 1));
    if (cw > 28 && !h->annotate) cw = 28;
    if (ch > 22 && !h->annotate) ch = 22;
    if (cw < 2) cw = 2;
    if (ch < 2) ch = 2;
    /* column labels wider than a cell are rotated; the plot grows by their height */
    size_t ml = 0;
    for (int64_t j = 0; h->col_labels && h->cols <= 60 && j < h->cols; j++)
        if (strlen(h->col_labels[j]) > ml) ml = strlen(h->col_labels[j]);
    int rot = (double)ml * 6.5 > cw - 4;
    int w = 260 + cw * (int)h->cols,
        hh = 160 + ch * (int)h->rows + (rot ? (int)((double)ml * 4.6) : 0);
    FILE *f =
        gp_open(png, script, sizeof script, w < 520 ? 520 : w, hh < 320 ? 320 : hh, h->title, err);
    if (!f) return -1;
    if (h->xlabel) fputs("set xlabel ", f), q(f, h->xlabel), fputc('\n', f);
    if (h->ylabel) fputs("set ylabel ", f), q(f, h->ylabel), fputc('\n', f);
    if (h->scale_label) fputs("set cblabel ", f), q(f, h->scale_label), fputc('\n', f);
    fprintf(f,
            "set xrange [-0.5:%g]\nset yrange [%g:-0.5]\nset cbrange [%g:%g]\nunset key\n"
            "set tics nomirror out scale 0.5\nset x2tics\nunset xtics\n",
            h->cols - 0.5, h->rows - 0.5, h->vmin, h->vmax);
    fputs(h->diverging ? "set palette defined (0 \"#053061\", 0.25 \"#4393c3\", 0.5 \"#f7f7f7\", "
                         "0.75 \"#d6604d\", 1 \"#67001f\")\n"
                       : "set palette defined (0 \"#fff5f0\", 0.5 \"#fb6a4a\", 1 \"#67000d\")\n",
          f);
    fputs("set object 1 rect from graph 0, graph 0 to graph 1, graph 1 fc rgb \"#d0d0d0\" fs solid "
          "behind\n",
          f);
    /* tick labels: per row/column when given and few, else per group */
    for (int axis = 0; axis < 2; axis++) {
        int64_t n = axis ? h->rows : h->cols, grp = axis ? h->row_group : h->col_group;
        const char *const *lab = axis ? h->row_labels : h->col_labels;
        const char *fmt = axis ? h->row_group_fmt : h->col_group_fmt;
        fputs(axis ? "set ytics (" : "set x2tics (", f);
        if (lab && n <= 60) {
            for (int64_t i = 0; i < n; i++) {
                fputs(i ? ", " : "", f);
                q(f, lab[i]);
                fprintf(f, " %lld", (long long)i);
            }
        } else if (grp > 0) {
            int first = 1;
            for (int64_t g = 0; g * grp < n; g++) {
                char b[64];
                snprintf(b, sizeof b, fmt ? fmt : "%d", (int)g);
                fputs(first ? "" : ", ", f);
                q(f, b);
                fprintf(f, " %g", g * grp + (grp - 1) / 2.0);
                first = 0;
            }
        }
        fputs(")\n", f);
    }
    if (rot) fputs("set x2tics rotate by 45 left\n", f); /* no overlap */
    fputs("$m << EOD\n", f);
    for (int64_t i = 0; i < h->rows; i++) {
        for (int64_t j = 0; j < h->cols; j++) {
            if (j) fputc(' ', f);
            num(f, h->v[i * h->cols + j]);
        }
        fputc('\n', f);
    }
    fputs("EOD\n", f);
    /* layer separators and the marked cell, drawn over the image */
    for (int64_t j = h->col_group; h->col_group > 0 && j < h->cols; j += h->col_group)
        fprintf(
            f, "set arrow from %g, graph 0 to %g, graph 1 nohead front lc rgb \"#444444\" lw 0.8\n",
            j - 0.5, j - 0.5);
    for (int64_t i = h->row_group; h->row_group > 0 && i < h->rows; i += h->row_group)
        fprintf(f,
                "set arrow from graph 0, first %g to graph 1, first %g nohead front lc rgb "
                "\"#444444\" lw 0.8\n",
                i - 0.5, i - 0.5);
    if (h->mark_label && h->mark_row >= 0 && h->mark_row < h->rows && h->mark_col >= 0 &&
        h->mark_col < h->cols)
        fprintf(f,
                "set object 2 rect from %g, %g to %g, %g front fs empty border lc rgb \"#000000\" "
                "lw 2\n",
                h->mark_col - 0.5, h->mark_row - 0.5, h->mark_col + 0.5, h->mark_row + 0.5);
    if (h->annotate) {
        /* labels formatted here: no "-0.000" */
        fputs("$l << EOD\n", f);
        for (int64_t i = 0; i < h->rows; i++)
            for (int64_t j = 0; j < h->cols; j++) {
                double v = h->v[i * h->cols + j];
                char b[40];
                if (!isfinite(v)) continue;
                rep_fmt_value(b, sizeof b, h->value_fmt ? h->value_fmt : "%.2f", v);
                fprintf(f, "%lld %lld \"%s\"\n", (long long)j, (long long)i, b);
            }
        fputs("EOD\n", f);
    }
    fputs("plot $m matrix with image", f);
    if (h->annotate) fputs(", $l using 1:2:3 with labels font \",9\"", f);
    fputc('\n', f);
    return gp_run(f, script, png, err);
}
