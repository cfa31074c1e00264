/* doc.c — the report as a document: headings, paragraphs, notes, tables and figures,
 * written as one self-contained HTML page (inline CSS) or as Markdown, and the plots behind
 * the figures (SVG written here, PNG by rsvg-convert or gnuplot, run without a shell). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report/internal.h"

static const char CSS[] =
    "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;max-width:1280px;margin:24px auto;"
    "padding:0 20px;color:#222;line-height:1.45}\n"
    "h1{border-bottom:2px solid #0072B2;padding-bottom:6px}h2{margin-top:2.2em;border-bottom:1px "
    "solid #ccc}\n"
    "h3{margin-top:1.6em}\n"
    "table{border-collapse:collapse;margin:10px 0 18px;font-size:13px}\n"
    "th,td{border:1px solid #ccc;padding:3px "
    "8px;vertical-align:top}th{background:#eef2f7;text-align:left}\n"
    "tr:nth-child(even) "
    "td{background:#fafafa}td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    ".note{background:#fff8e1;border-left:4px solid #E69F00;padding:6px 10px;margin:8px 0}\n"
    ".glance{background:#eef6ee;border-left:4px solid #009E73;padding:8px 12px}\n"
    ".figs{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}\n"
    ".figs.grid figure{flex:0 1 calc(33% - 12px);min-width:300px}.figs.grid figure "
    "img{width:100%}\n"
    "figure{margin:8px 0}figure img{max-width:100%;border:1px solid #e3e3e3}\n"
    "figcaption{font-size:13px;color:#444;max-width:640px}\n"
    "pre{background:#f6f6f6;padding:8px;overflow:auto;font-size:12px;max-height:420px}\n"
    "details{margin:8px 0}summary{cursor:pointer;font-weight:bold}\n"
    "nav ul{columns:2}.tw{overflow-x:auto}\n";

static void html_esc(FILE *f, const char *s)
{
    rep_xml_escape(f, s);
}

static void md_esc(FILE *f, const char *s, int in_table)
{
    for (; s && *s; s++) {
        if (in_table && *s == '|')
            fputs("\\|", f);
        else if (in_table && *s == '\n')
            fputc(' ', f);
        else if (*s == '*' || *s == '`' || *s == '<' || *s == '\\')
            fprintf(f, "\\%c", *s);
        else
            fputc(*s, f);
    }
}

void doc_begin(rep_doc *d, const char *title)
{
    if (d->fmt == REPORT_HTML) {
        fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", d->f);
        html_esc(d->f, title);
        fprintf(d->f, "</title>\n<style>\n%s</style></head><body>\n<h1>", CSS);
        html_esc(d->f, title);
        fputs("</h1>\n", d->f);
    } else {
        fputs("# ", d->f);
        md_esc(d->f, title, 0);
        fputs("\n\n", d->f);
    }
}

/* Click a column heading to sort its table (numbers numerically, text alphabetically; a second
 * click reverses). Inline, no external assets, works from file://; written without '<' and '&'
 * so that the page stays well-formed XML. */
static const char SORT_JS[] =
    "<script>\n"
    "document.querySelectorAll('table').forEach(function (t) {\n"
    "  if (!t.tHead) return;\n"
    "  Array.prototype.forEach.call(t.tHead.rows[0].cells, function (th, i) {\n"
    "    th.style.cursor = 'pointer';\n"
    "    th.title = 'click to sort';\n"
    "    th.addEventListener('click', function () {\n"
    "      var b = t.tBodies[0], rows = Array.prototype.slice.call(b.rows);\n"
    "      var dir = th.getAttribute('data-dir') === 'asc' ? -1 : 1;\n"
    "      th.setAttribute('data-dir', dir === 1 ? 'asc' : 'desc');\n"
    "      function key(r) {\n"
    "        var s = r.cells[i] ? r.cells[i].textContent : '';\n"
    "        var v = parseFloat(s.replace('\u2212', '-'));\n"
    "        return isNaN(v) ? s : v;\n"
    "      }\n"
    "      rows.sort(function (a, c) {\n"
    "        var x = key(a), y = key(c);\n"
    "        if (typeof x !== typeof y) return typeof x === 'number' ? -dir : dir;\n"
    "        return x === y ? 0 : (x > y ? dir : -dir);\n"
    "      });\n"
    "      rows.forEach(function (r) { b.appendChild(r); });\n"
    "    });\n"
    "  });\n"
    "});\n"
    "</script>\n";

void doc_end(rep_doc *d)
{
    if (d->fmt == REPORT_HTML) {
        fputs(SORT_JS, d->f);
        fputs("</body></html>\n", d->f);
    }
}

void doc_h(rep_doc *d, int level, const char *id, const char *text)
{
    if (d->fmt == REPORT_HTML) {
        fprintf(d->f, "<h%d%s%s%s>", level, id ? " id=\"" : "", id ? id : "", id ? "\"" : "");
        html_esc(d->f, text);
        fprintf(d->f, "</h%d>\n", level);
    } else {
        fprintf(d->f, "\n%.*s ", level, "######");
        md_esc(d->f, text, 0);
        fputs("\n\n", d->f);
    }
}

static void para(rep_doc *d, const char *cls, const char *prefix, const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0) return;
    if (d->fmt == REPORT_HTML) {
        fprintf(d->f, "<p%s%s%s>", cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "");
        if (prefix) fprintf(d->f, "<b>%s</b> ", prefix);
        html_esc(d->f, s);
        fputs("</p>\n", d->f);
    } else {
        if (cls) fputs("> ", d->f);
        if (prefix) fprintf(d->f, "**%s** ", prefix);
        md_esc(d->f, s, 0);
        fputs("\n\n", d->f);
    }
    free(s);
}

void doc_p(rep_doc *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    para(d, NULL, NULL, fmt, ap);
    va_end(ap);
}

void doc_note(rep_doc *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    para(d, "note", "Not available:", fmt, ap);
    va_end(ap);
}

void doc_pre(rep_doc *d, const char *text)
{
    if (d->fmt == REPORT_HTML) {
        fputs("<pre>", d->f);
        html_esc(d->f, text);
        fputs("</pre>\n", d->f);
    } else {
        fputs("```\n", d->f);
        /* a fence inside the text would end the block early */
        for (const char *s = text; s && *s; s++) {
            if (!strncmp(s, "```", 3))
                fputs("`\u200b", d->f);
            else
                fputc(*s, d->f);
        }
        fputs("\n```\n\n", d->f);
    }
}

void doc_details_begin(rep_doc *d, const char *summary)
{
    if (d->fmt == REPORT_HTML) {
        fputs("<details><summary>", d->f);
        html_esc(d->f, summary);
        fputs("</summary>\n", d->f);
    } else {
        fputs("**", d->f);
        md_esc(d->f, summary, 0);
        fputs("**\n\n", d->f);
    }
}

void doc_details_end(rep_doc *d)
{
    if (d->fmt == REPORT_HTML) fputs("</details>\n", d->f);
}

static int numeric_cell(const char *s)
{
    if (!s || !*s) return 0;
    if (!strcmp(s, "–")) return 1;
    if (*s == '-' || *s == '+') s++;
    return (*s >= '0' && *s <= '9') || *s == '.';
}

void doc_table_begin(rep_doc *d, int ncols, const char *const *head)
{
    if (d->fmt == REPORT_HTML) {
        fputs("<div class=\"tw\"><table><thead><tr>", d->f);
        for (int i = 0; i < ncols; i++) {
            fputs("<th>", d->f);
            html_esc(d->f, head[i]);
            fputs("</th>", d->f);
        }
        fputs("</tr></thead><tbody>\n", d->f);
    } else {
        fputs("|", d->f);
        for (int i = 0; i < ncols; i++) {
            fputc(' ', d->f);
            md_esc(d->f, head[i], 1);
            fputs(" |", d->f);
        }
        fputs("\n|", d->f);
        for (int i = 0; i < ncols; i++) fputs("---|", d->f);
        fputc('\n', d->f);
    }
}

void doc_table_row(rep_doc *d, int ncols, const char *const *cells)
{
    if (d->fmt == REPORT_HTML) {
        fputs("<tr>", d->f);
        for (int i = 0; i < ncols; i++) {
            fputs(numeric_cell(cells[i]) ? "<td class=\"num\">" : "<td>", d->f);
            html_esc(d->f, cells[i] ? cells[i] : "");
            fputs("</td>", d->f);
        }
        fputs("</tr>\n", d->f);
    } else {
        fputs("|", d->f);
        for (int i = 0; i < ncols; i++) {
            fputc(' ', d->f);
            md_esc(d->f, cells[i] ? cells[i] : "", 1);
            fputs(" |", d->f);
        }
        fputc('\n', d->f);
    }
}

void doc_table_end(rep_doc *d)
{
    fputs(d->fmt == REPORT_HTML ? "</tbody></table></div>\n" : "\n", d->f);
}

void doc_figs_grid_begin(rep_doc *d)
{
    if (d->fmt == REPORT_HTML) fputs("<div class=\"figs grid\">\n", d->f);
}

void doc_figs_begin(rep_doc *d)
{
    if (d->fmt == REPORT_HTML) fputs("<div class=\"figs\">\n", d->f);
}

void doc_figs_end(rep_doc *d)
{
    if (d->fmt == REPORT_HTML) fputs("</div>\n", d->f);
}

/* ---- plots ------------------------------------------------------------------------------------ */

/* Runs argv (no shell); its stdout/stderr go to `log`. 0 if it exited with status 0. */
static int run_tool(char *const argv[], const char *log, mp_err *err)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return err_set(err, "cannot start %s: %s", argv[0], strerror(errno));
    if (pid == 0) {
        FILE *lf = freopen(log, "w", stdout);
        if (lf) dup2(fileno(stdout), 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return err_set(err, "waiting for %s failed: %s", argv[0], strerror(errno));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        unlink(log);
        return 0;
    }
    char line[300] = "";
    FILE *lf = fopen(log, "r");
    if (lf) {
        if (!fgets(line, sizeof line, lf)) line[0] = 0;
        fclose(lf);
    }
    line[strcspn(line, "\n")] = 0;
    unlink(log);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127 && !line[0])
        return err_set(err, "%s could not be run (not found on PATH)", argv[0]);
    return err_set(err, "%s failed (%s %d)%s%s", argv[0], WIFEXITED(st) ? "exit status" : "signal",
                   WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st), line[0] ? ": " : "", line);
}

typedef enum { PLOT_LINE, PLOT_BAR, PLOT_HEAT } plot_kind;

static int make_plot(rep_doc *d, const char *stem, plot_kind k, const void *spec, char *rel,
                     size_t rel_len, mp_err *err)
{
    char svg[4200], png[4200], log[4200];
    const char *ext = d->plots == REPORT_PNG ? "png" : "svg";
    snprintf(rel, rel_len, "plots/%s.%s", stem, ext);
    snprintf(png, sizeof png, "%s/%s.png", d->plot_dir, stem);
    snprintf(log, sizeof log, "%s/.%s.log", d->plot_dir, stem);
    if (d->plots == REPORT_PNG && d->png_tool == REPORT_PNG_GNUPLOT) {
        switch (k) {
        case PLOT_LINE: return rep_gp_line(png, spec, err);
        case PLOT_BAR: return rep_gp_bar(png, spec, err);
        default: return rep_gp_heatmap(png, spec, err);
        }
    }
    if (d->plots == REPORT_PNG)
        snprintf(svg, sizeof svg, "%s/.%s.svg", d->plot_dir, stem);
    else
        snprintf(svg, sizeof svg, "%s/%s.svg", d->plot_dir, stem);
    int rc;
    switch (k) {
    case PLOT_LINE: rc = rep_svg_line(svg, spec, err); break;
    case PLOT_BAR: rc = rep_svg_bar(svg, spec, err); break;
    default: rc = rep_svg_heatmap(svg, spec, err);
    }
    if (rc != 0 || d->plots == REPORT_SVG) return rc;
    char *argv[] = {"rsvg-convert", "-f", "png", "-o", png, svg, NULL};
    rc = run_tool(argv, log, err);
    unlink(svg);
    if (rc != 0) err_prefix(err, "converting %s.svg to PNG", stem);
    return rc;
}

static void figure(rep_doc *d, const char *stem, plot_kind k, const void *spec, const char *caption,
                   const char *alt)
{
    char rel[4300];
    mp_err e;
    err_init(&e);
    if (make_plot(d, stem, k, spec, rel, sizeof rel, &e) != 0) {
        if (!d->plot_failed) d->plot_err = e;
        d->plot_failed = 1;
        doc_note(d, "the plot %s could not be drawn: %s", stem, e.msg);
        return;
    }
    d->n_plots++;
    if (d->fmt == REPORT_HTML) {
        fprintf(d->f, "<figure><img src=\"%s\" loading=\"lazy\" alt=\"", rel);
        html_esc(d->f, alt ? alt : stem);
        fputs("\"><figcaption>", d->f);
        html_esc(d->f, caption ? caption : "");
        fputs("</figcaption></figure>\n", d->f);
    } else {
        fputs("![", d->f);
        md_esc(d->f, alt ? alt : stem, 1);
        fprintf(d->f, "](%s)\n\n", rel);
        if (caption) {
            fputs("*", d->f);
            md_esc(d->f, caption, 0);
            fputs("*\n\n", d->f);
        }
    }
}

void doc_line(rep_doc *d, const char *stem, const rep_line_chart *c, const char *caption)
{
    figure(d, stem, PLOT_LINE, c, caption, c->title);
}

void doc_bar(rep_doc *d, const char *stem, const rep_bar_chart *c, const char *caption)
{
    figure(d, stem, PLOT_BAR, c, caption, c->title);
}

void doc_heatmap(rep_doc *d, const char *stem, const rep_heatmap *h, const char *caption)
{
    figure(d, stem, PLOT_HEAT, h, caption, h->title);
}

/* ---- small helpers ------------------------------------------------------------------------------ */

const char *rep_num(char *buf, double v, int decimals)
{
    char fmt[16];
    if (!isfinite(v)) {
        snprintf(buf, 32, "–");
        return buf;
    }
    snprintf(fmt, sizeof fmt, "%%.%df", decimals);
    rep_fmt_value(buf, 32, fmt, v);
    return buf;
}

void rep_stem(char *buf, size_t len, const char *a, const char *b, const char *c)
{
    const char *parts[3] = {a, b, c};
    size_t o = 0;
    for (int i = 0; i < 3 && o + 1 < len; i++) {
        if (!parts[i]) continue;
        if (o && o + 1 < len) buf[o++] = '_';
        for (const char *s = parts[i]; *s && o + 1 < len; s++) {
            char ch = *s;
            int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                     (ch >= '0' && ch <= '9') || ch == '-' || ch == '_';
            buf[o++] = ok ? ch : '_';
        }
    }
    buf[o] = 0;
}
