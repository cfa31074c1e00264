/* svg.c — the report's plots as SVG written directly: line charts (gain curves,
 * ablations), bar charts (stage shares, path shares) and heat maps (MRR drop, head-expert r),
 * with axes, ticks, labels, legends and colour scales. No external program.
 *
 * Each series of a line or bar chart is one <g class="series" data-name="...">, each heat map
 * cell one <rect class="cell">, so tests can count them. Text widths are estimated (0.6 em per
 * character) to place legends and margins; labels are never drawn over each other: crowded
 * tick labels are thinned, long category labels are rotated. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/internal.h"

#define FONT "DejaVu Sans, Helvetica, Arial, sans-serif"

/* Okabe-Ito without its yellow (unreadable on white), then Tableau-like darker colours; line
 * charts dash series 10 and up so that no two series look alike. */
static const char *const PALETTE[] = {
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#8c564b",
    "#7f3c8d", "#bcbd22", "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"};

const char *rep_palette(int i)
{
    return PALETTE[(unsigned)i % (sizeof PALETTE / sizeof *PALETTE)];
}

void rep_xml_escape(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default:
            /* XML 1.0 forbids most control characters */
            if ((unsigned char)*s >= 0x20 || *s == '\n' || *s == '\t') fputc(*s, f);
        }
    }
}

/* Estimated width in px of s at font size px (UTF-8 continuation bytes do not count). */
static double text_w(const char *s, double px)
{
    double n = 0;
    for (; s && *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80) n++;
    return n * px * 0.6;
}

int rep_nice_ticks(double lo, double hi, int max_ticks, double *t)
{
    if (!isfinite(lo) || !isfinite(hi) || max_ticks < 2) return 0;
    if (hi < lo) {
        double x = lo;
        lo = hi;
        hi = x;
    }
    if (hi - lo < 1e-12) {
        double d = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1;
        lo -= d;
        hi += d;
    }
    double raw = (hi - lo) / (max_ticks - 1), mag = pow(10, floor(log10(raw))), step = mag;
    static const double mult[] = {1, 2, 2.5, 5, 10};
    for (size_t i = 0; i < sizeof mult / sizeof *mult; i++) {
        step = mult[i] * mag;
        if ((floor(hi / step) - ceil(lo / step)) + 1 <= max_ticks) break;
    }
    int n = 0;
    for (double v = ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9 && n < max_ticks;
         v += step)
        t[n++] = fabs(v) < step * 1e-9 ? 0 : v;
    return n;
}

void rep_fmt_value(char *buf, size_t len, const char *fmt, double v)
{
    snprintf(buf, len, fmt, v);
    /* "-0.000": a negative value that rounds to zero reads as a sign error */
    if (buf[0] == '-' && strspn(buf + 1, "0.") == strlen(buf + 1))
        memmove(buf, buf + 1, strlen(buf));
}

void rep_fmt_tick(double v, double step, char *buf, size_t len)
{
    int dec = 0;
    step = fabs(step);
    if (step > 0 && step < 1) dec = (int)ceil(-log10(step) - 1e-9);
    if (step > 0 && fabs(step * pow(10, dec) - round(step * pow(10, dec))) > 1e-6) dec++; /* 2.5 */
    if (dec > 6) dec = 6;
    snprintf(buf, len, "%.*f", dec, v);
    if (!strcmp(buf, "-0") || !strcmp(buf, "-0.0") || !strcmp(buf, "-0.00"))
        snprintf(buf, len, "%.*f", dec, 0.0);
}

/* Linear interpolation between colour stops. */
static void lerp_colour(const double stops[][3], int n, double t, char buf[8])
{
    if (!(t >= 0)) t = 0;
    if (t > 1) t = 1;
    double x = t * (n - 1);
    int i = (int)floor(x);
    if (i >= n - 1) i = n - 2;
    double f = x - i;
    int c[3];
    for (int k = 0; k < 3; k++)
        c[k] = (int)lround(stops[i][k] + f * (stops[i + 1][k] - stops[i][k]));
    snprintf(buf, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

/* ColorBrewer RdBu (reversed: blue negative, red positive) and Reds. */
static const double DIVERGING[][3] = {{5, 48, 97},     {33, 102, 172},  {67, 147, 195},
                                      {146, 197, 222}, {209, 229, 240}, {247, 247, 247},
                                      {253, 219, 199}, {244, 165, 130}, {214, 96, 77},
                                      {178, 24, 43},   {103, 0, 31}};
static const double SEQUENTIAL[][3] = {{255, 245, 240}, {254, 224, 210}, {252, 187, 161},
                                       {252, 146, 114}, {251, 106, 74},  {239, 59, 44},
                                       {203, 24, 29},   {165, 15, 21},   {103, 0, 13}};

void rep_heat_colour(const rep_heatmap *h, double v, char buf[8])
{
    if (isnan(v)) {
        snprintf(buf, 8, "#d0d0d0");
        return;
    }
    double span = h->vmax - h->vmin;
    double t = span > 0 ? (v - h->vmin) / span : 0.5;
    if (h->diverging)
        lerp_colour(DIVERGING, 11, t, buf);
    else
        lerp_colour(SEQUENTIAL, 9, t, buf);
}

/* 1 if the colour is dark enough for white text on it. */
static int dark(const char *c)
{
    unsigned r, g, b;
    if (sscanf(c, "#%2x%2x%2x", &r, &g, &b) != 3) return 0;
    return 0.299 * r + 0.587 * g + 0.114 * b < 140;
}

static void text(FILE *f, double x, double y, const char *anchor, double px, const char *extra,
                 const char *s)
{
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%.0f\"%s%s>", x, y,
            anchor, px, extra ? " " : "", extra ? extra : "");
    rep_xml_escape(f, s);
    fputs("</text>\n", f);
}

static FILE *svg_open(const char *path, double w, double h, const char *title, mp_err *err)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        err_set(err, "%s: cannot write the plot: %s", path, strerror(errno));
        return NULL;
    }
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-family=\"%s\">\n<title>",
            w, h, w, h, FONT);
    rep_xml_escape(f, title ? title : "");
    fprintf(f,
            "</title>\n<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n",
            w, h);
    if (title && *title) text(f, w / 2, 22, "middle", 15, "font-weight=\"bold\"", title);
    return f;
}

static int svg_close(FILE *f, const char *path, mp_err *err)
{
    fputs("</svg>\n", f);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return err_set(err, "%s: writing the plot failed: %s", path, strerror(errno));
    return 0;
}

/* Legend at (x, y) going down; kind 0 = line, 1 = box. */
static void legend(FILE *f, double x, double y, const char *const *names, int n, int kind,
                   const int *dashed)
{
    for (int i = 0; i < n; i++) {
        double yy = y + i * 20;
        if (kind == 0)
            fprintf(f,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                    "stroke-width=\"2.5\"%s/>\n",
                    x, yy, x + 24, yy, rep_palette(i),
                    dashed && dashed[i] ? " stroke-dasharray=\"6 3\"" : "");
        else
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"14\" fill=\"%s\"/>\n",
                    x + 5, yy - 7, rep_palette(i));
        text(f, x + 30, yy + 4, "start", 12, NULL, names[i]);
    }
}

/* ---- line chart ------------------------------------------------------------------------------- */

int rep_svg_line(const char *path, const rep_line_chart *c, mp_err *err)
{
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    const char *names[REP_MAX_SERIES];
    int dashed[REP_MAX_SERIES];
    double lw = 0;
    for (int i = 0; i < c->n_series; i++) {
        const rep_series *s = &c->s[i];
        names[i] = s->name;
        dashed[i] = s->dashed || i >= 10;
        if (text_w(s->name, 12) > lw) lw = text_w(s->name, 12);
        for (int64_t j = 0; j < s->n; j++) {
            if (!isfinite(s->x[j]) || !isfinite(s->y[j])) continue;
            if (s->x[j] < xmin) xmin = s->x[j];
            if (s->x[j] > xmax) xmax = s->x[j];
            if (s->y[j] < ymin) ymin = s->y[j];
            if (s->y[j] > ymax) ymax = s->y[j];
        }
    }
    for (int i = 0; i < c->n_band; i++) {
        if (c->band[i].x0 < xmin) xmin = c->band[i].x0;
        if (c->band[i].x1 > xmax) xmax = c->band[i].x1;
    }
    if (!isfinite(xmin)) xmin = 0, xmax = 1;
    if (!isfinite(ymin)) ymin = 0, ymax = 1;
    { /* headroom: no marker sits on the frame */
        double pad = (ymax - ymin) * 0.04;
        ymin -= ymin != 0 ? pad : 0;
        ymax += pad;
    }
    if (isfinite(c->ymin_hint) && c->ymin_hint < ymin) ymin = c->ymin_hint;
    if (isfinite(c->ymax_hint) && c->ymax_hint > ymax) ymax = c->ymax_hint;
    if (c->zero_line && ymin > 0) ymin = 0;
    if (c->zero_line && ymax < 0) ymax = 0;
    double yt[16], xt[64];
    int nyt = rep_nice_ticks(ymin, ymax, 7, yt);
    if (nyt >= 2) {
        double tol = (ymax - ymin) * 1e-6;
        if (yt[0] > ymin + tol)
            ymin = yt[0] - (yt[1] - yt[0]), nyt = rep_nice_ticks(ymin, ymax, 8, yt);
        if (yt[nyt - 1] < ymax - tol)
            ymax = yt[nyt - 1] + (yt[1] - yt[0]), nyt = rep_nice_ticks(ymin, ymax, 8, yt);
        ymin = yt[0] < ymin ? yt[0] : ymin;
        ymax = yt[nyt - 1] > ymax ? yt[nyt - 1] : ymax;
    }
    if (xmax - xmin < 1e-12) xmin -= 0.5, xmax += 0.5;
    int nxt;
    if (!c->n_band) { /* room for the end markers */
        double padx = (xmax - xmin) * 0.03;
        if (c->integer_x && padx < 0.25) padx = 0.25;
        xmin -= padx;
        xmax += padx;
    }
    if (c->integer_x) {
        double step = ceil((xmax - xmin) / 12);
        if (step < 1) step = 1;
        nxt = 0;
        for (double v = ceil(xmin); v <= xmax + 1e-9 && nxt < 64; v += step) xt[nxt++] = v;
    } else {
        nxt = rep_nice_ticks(xmin, xmax, 9, xt);
    }
    const double H = 340, L = 70, T = 40, B = H - 52, R = 540;
    double W = R + (c->n_series > 1 ? lw + 60 : 20);
    if (W < text_w(c->title, 15) + 24) W = text_w(c->title, 15) + 24;
    FILE *f = svg_open(path, W, H, c->title, err);
    if (!f) return -1;
#define X(v) (L + ((v)-xmin) / (xmax - xmin) * (R - L))
#define Y(v) (B - ((v)-ymin) / (ymax - ymin) * (B - T))
    /* stage bands, behind everything */
    for (int i = 0; i < c->n_band; i++) {
        const rep_band *b = &c->band[i];
        double x0 = X(b->x0 > xmin ? b->x0 : xmin), x1 = X(b->x1 < xmax ? b->x1 : xmax);
        fprintf(f,
                "<rect class=\"band\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                "fill=\"%s\"/>\n",
                x0, T, x1 - x0 > 0 ? x1 - x0 : 0, B - T, i % 2 ? "#ffffff" : "#eef2f7");
        if (b->label && text_w(b->label, 11) < x1 - x0)
            text(f, (x0 + x1) / 2, T + 14, "middle", 11, "fill=\"#555555\"", b->label);
    }
    /* grid and y ticks */
    double ystep = nyt > 1 ? yt[1] - yt[0] : 1, xstep = nxt > 1 ? xt[1] - xt[0] : 1;
    for (int i = 0; i < nyt; i++) {
        char b[32];
        rep_fmt_tick(yt[i], ystep, b, sizeof b);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n",
                L, Y(yt[i]), R, Y(yt[i]));
        text(f, L - 6, Y(yt[i]) + 4, "end", 11, NULL, b);
    }
    if (c->zero_line && ymin < 0 && ymax > 0)
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888888\" "
                "stroke-dasharray=\"4 3\"/>\n",
                L, Y(0), R, Y(0));
    for (int i = 0; i < nxt; i++) {
        char b[32];
        rep_fmt_tick(xt[i], c->integer_x ? 1 : xstep, b, sizeof b);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333333\"/>\n",
                X(xt[i]), B, X(xt[i]), B + 5);
        text(f, X(xt[i]), B + 18, "middle", 11, NULL, b);
    }
    fprintf(f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"#333333\"/>\n",
            L, T, R - L, B - T);
    if (c->xlabel) text(f, (L + R) / 2, H - 12, "middle", 13, NULL, c->xlabel);
    if (c->ylabel) {
        char tr[96];
        snprintf(tr, sizeof tr, "transform=\"rotate(-90 %.1f %.1f)\"", 18.0, (T + B) / 2);
        text(f, 18, (T + B) / 2, "middle", 13, tr, c->ylabel);
    }
    /* series */
    for (int i = 0; i < c->n_series; i++) {
        const rep_series *s = &c->s[i];
        fprintf(f, "<g class=\"series\" data-name=\"");
        rep_xml_escape(f, s->name);
        fprintf(f, "\" stroke=\"%s\" fill=\"%s\">\n", rep_palette(i), rep_palette(i));
        int open = 0;
        for (int64_t j = 0; j < s->n; j++) {
            int ok = isfinite(s->x[j]) && isfinite(s->y[j]);
            if (ok && !open) {
                fprintf(f, "<polyline fill=\"none\" stroke-width=\"2.5\"%s points=\"",
                        dashed[i] ? " stroke-dasharray=\"6 3\"" : "");
                open = 1;
            }
            if (ok) fprintf(f, "%.1f,%.1f ", X(s->x[j]), Y(s->y[j]));
            if ((!ok || j == s->n - 1) && open) {
                fputs("\"/>\n", f);
                open = 0;
            }
        }
        /* a point with hover text (series, x, y) at every value */
        for (int64_t j = 0; j < s->n; j++)
            if (isfinite(s->x[j]) && isfinite(s->y[j])) {
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\" stroke=\"none\"><title>",
                        X(s->x[j]), Y(s->y[j]), s->markers || s->n <= 40 ? "3" : "1.5");
                rep_xml_escape(f, s->name ? s->name : "");
                fprintf(f, ": %.4g, %.4g</title></circle>\n", s->x[j], s->y[j]);
            }
        fputs("</g>\n", f);
    }
    if (c->n_series > 1) legend(f, R + 14, T + 10, names, c->n_series, 0, dashed);
#undef X
#undef Y
    return svg_close(f, path, err);
}

/* ---- bar chart -------------------------------------------------------------------------------- */

int rep_svg_bar(const char *path, const rep_bar_chart *c, mp_err *err)
{
    double ymin = 0, ymax = 0, lw = 0, gw = 0;
    for (int s = 0; s < c->n_series; s++)
        if (text_w(c->series[s], 12) > lw) lw = text_w(c->series[s], 12);
    for (int g = 0; g < c->n_groups; g++) {
        double pos = 0, neg = 0;
        if (text_w(c->groups[g], 11) > gw) gw = text_w(c->groups[g], 11);
        for (int s = 0; s < c->n_series; s++) {
            double v = c->v[g * c->n_series + s];
            if (!isfinite(v)) continue;
            if (c->stacked) {
                if (v > 0)
                    pos += v;
                else
                    neg += v;
            } else {
                if (v > ymax) ymax = v;
                if (v < ymin) ymin = v;
            }
        }
        if (c->stacked) {
            if (pos > ymax) ymax = pos;
            if (neg < ymin) ymin = neg;
        }
    }
    if (ymax - ymin < 1e-12) ymax = 1;
    double pad = c->stacked ? 0 : (ymax - ymin) * (c->value_labels ? 0.12 : 0.02);
    ymax += ymax > 0 ? pad : 0;
    ymin -= ymin < 0 ? pad : 0;
    double yt[16];
    int nyt = rep_nice_ticks(ymin, ymax, 7, yt);
    if (nyt >= 2) {
        double st = yt[1] - yt[0], tol = (ymax - ymin) * 1e-6; /* 100.0000001% stays 100 */
        if (yt[0] > ymin + tol)
            ymin = yt[0] - st;
        else
            ymin = ymin < yt[0] ? yt[0] : ymin;
        if (yt[nyt - 1] < ymax - tol)
            ymax = yt[nyt - 1] + st;
        else
            ymax = ymax > yt[nyt - 1] ? yt[nyt - 1] : ymax;
        nyt = rep_nice_ticks(ymin, ymax, 8, yt);
    }
    int per = c->stacked ? 1 : c->n_series;
    double slot = per * (c->value_labels ? 34 : 18) + 24;
    if (slot < 60) slot = 60;
    int rotate = gw > slot - 6;
    double bottom = rotate ? gw * 0.58 + 26 : 40;
    const double W0 = c->n_groups * slot;
    const double L = 70, R = L + (W0 > 300 ? W0 : 300), T = 40;
    const double H = 300 + bottom - 40, B = H - bottom;
    double W = R + lw + 60;
    if (W < text_w(c->title, 15) + 24) W = text_w(c->title, 15) + 24;
    FILE *f = svg_open(path, W, H, c->title, err);
    if (!f) return -1;
#define Y(v) (B - ((v)-ymin) / (ymax - ymin) * (B - T))
    double ystep = nyt > 1 ? yt[1] - yt[0] : 1;
    for (int i = 0; i < nyt; i++) {
        char b[32];
        rep_fmt_tick(yt[i], ystep, b, sizeof b);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#dddddd\"/>\n",
                L, Y(yt[i]), R, Y(yt[i]));
        text(f, L - 6, Y(yt[i]) + 4, "end", 11, NULL, b);
    }
    double gs = (R - L) / (c->n_groups > 0 ? c->n_groups : 1), bw = (gs - 20) / per;
    if (bw > 48) bw = 48;
    for (int s = 0; s < c->n_series; s++) {
        fprintf(f, "<g class=\"series\" data-name=\"");
        rep_xml_escape(f, c->series[s]);
        fprintf(f, "\" fill=\"%s\">\n", rep_palette(s));
        for (int g = 0; g < c->n_groups; g++) {
            double v = c->v[g * c->n_series + s];
            if (!isfinite(v)) continue;
            double x0 = L + g * gs + (gs - bw * per) / 2, base = 0;
            if (c->stacked) {
                for (int q = 0; q < s; q++) {
                    double u = c->v[g * c->n_series + q];
                    if (isfinite(u) && (u > 0) == (v > 0)) base += u;
                }
            } else {
                x0 += s * bw;
            }
            double y0 = Y(base), y1 = Y(base + v);
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"><title>", x0 + 1,
                    y1 < y0 ? y1 : y0, bw - 2, fabs(y0 - y1));
            rep_xml_escape(f, c->groups[g]);
            fprintf(f, ", ");
            rep_xml_escape(f, c->series[s]);
            fprintf(f, ": %.4g</title></rect>\n", v);
            if (c->value_labels) {
                char b[32];
                rep_fmt_value(b, sizeof b, c->value_fmt ? c->value_fmt : "%.2f", v);
                if (c->stacked) {
                    if (fabs(y0 - y1) >= 14 && text_w(b, 10) < bw - 2)
                        text(f, x0 + bw / 2, (y0 + y1) / 2 + 4, "middle", 10,
                             dark(rep_palette(s)) ? "fill=\"#ffffff\"" : NULL, b);
                } else if (text_w(b, 10) < bw + 6) {
                    text(f, x0 + bw / 2, v >= 0 ? y1 - 4 : y1 + 12, "middle", 10,
                         "fill=\"#333333\"", b);
                }
            }
        }
        fputs("</g>\n", f);
    }
    if (ymin < 0)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333333\"/>\n",
                L, Y(0), R, Y(0));
    fprintf(f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"#333333\"/>\n",
            L, T, R - L, B - T);
    for (int g = 0; g < c->n_groups; g++) {
        double x = L + (g + 0.5) * gs;
        if (rotate) {
            char tr[96];
            snprintf(tr, sizeof tr, "transform=\"rotate(-35 %.1f %.1f)\"", x, B + 14);
            text(f, x, B + 14, "end", 11, tr, c->groups[g]);
        } else {
            text(f, x, B + 18, "middle", 11, NULL, c->groups[g]);
        }
    }
    if (c->ylabel) {
        char tr[96];
        snprintf(tr, sizeof tr, "transform=\"rotate(-90 %.1f %.1f)\"", 18.0, (T + B) / 2);
        text(f, 18, (T + B) / 2, "middle", 13, tr, c->ylabel);
    }
    legend(f, R + 14, T + 10, c->series, c->n_series, 1, NULL);
#undef Y
    return svg_close(f, path, err);
}

/* ---- heat map ---------------------------------------------------------------------------------- */

int rep_svg_heatmap(const char *path, const rep_heatmap *h, mp_err *err)
{
    const int64_t R_ = h->rows, C_ = h->cols;
    double cw, ch;
    if (h->annotate) {
        cw = 58;
        ch = 24;
    } else {
        cw = 760.0 / (double)(C_ > 0 ? C_ : 1);
        ch = 520.0 / (double)(R_ > 0 ? R_ : 1);
        if (cw > 28) cw = 28;
        if (ch > 22) ch = 22;
        if (cw < 1.5) cw = 1.5;
        if (ch < 1.5) ch = 1.5;
    }
    /* labels: per cell when given and the cell is tall/wide enough, else per group */
    double rlw = 0, clw = 0;
    int row_cell_labels = h->row_labels && ch >= 11, col_cell_labels = h->col_labels && cw >= 11;
    char lab[64];
    for (int64_t i = 0; row_cell_labels && i < R_; i++)
        if (text_w(h->row_labels[i], 11) > rlw) rlw = text_w(h->row_labels[i], 11);
    for (int64_t j = 0; col_cell_labels && j < C_; j++)
        if (text_w(h->col_labels[j], 11) > clw) clw = text_w(h->col_labels[j], 11);
    if (!row_cell_labels && h->row_group > 0) {
        snprintf(lab, sizeof lab, h->row_group_fmt ? h->row_group_fmt : "%d",
                 (int)(R_ / h->row_group));
        rlw = text_w(lab, 11);
    }
    int col_rot = col_cell_labels && clw > cw - 4;
    double top =
        44 + (col_cell_labels ? (col_rot ? clw * 0.72 + 10 : 18) : (h->col_group > 0 ? 18 : 0));
    const double L = 30 + rlw + 10 + (h->ylabel ? 20 : 0), T = top;
    const double Rr = L + cw * C_, B = T + ch * R_;
    const double bh = B - T < 120 ? 120 : (B - T > 300 ? 300 : B - T), by = T;
    double W = Rr + 110, Hh = B + (h->xlabel ? 42 : 20);
    if (h->mark_label && W < Rr + 50 + text_w(h->mark_label, 10))
        W = Rr + 50 + text_w(h->mark_label, 10);
    if (Hh < by + bh + 56) Hh = by + bh + 56;
    if (W < 360) W = 360;
    if (W < text_w(h->title, 15) + 24) W = text_w(h->title, 15) + 24;
    FILE *f = svg_open(path, W, Hh, h->title, err);
    if (!f) return -1;
    fprintf(f, "<g class=\"cells\" shape-rendering=\"crispEdges\">\n");
    for (int64_t i = 0; i < R_; i++)
        for (int64_t j = 0; j < C_; j++) {
            double v = h->v[i * C_ + j];
            char col[8];
            rep_heat_colour(h, v, col);
            fprintf(f,
                    "<rect class=\"cell\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                    "fill=\"%s\">",
                    L + j * cw, T + i * ch, cw, ch, col);
            { /* hover text on every cell: its row, column and value */
                fputs("<title>", f);
                if (h->row_labels)
                    rep_xml_escape(f, h->row_labels[i]);
                else if (h->row_group > 0)
                    fprintf(f, "L%lld #%lld", (long long)(i / h->row_group),
                            (long long)(i % h->row_group));
                else
                    fprintf(f, "row %lld", (long long)i);
                fputs(" × ", f);
                if (h->col_labels)
                    rep_xml_escape(f, h->col_labels[j]);
                else if (h->col_group > 0)
                    fprintf(f, "L%lld #%lld", (long long)(j / h->col_group),
                            (long long)(j % h->col_group));
                else
                    fprintf(f, "col %lld", (long long)j);
                if (isnan(v))
                    fputs(": undefined", f);
                else
                    fprintf(f, ": %.4g", v);
                fputs("</title>", f);
            }
            fputs("</rect>\n", f);
            if (h->annotate && !isnan(v)) {
                char b[32];
                rep_fmt_value(b, sizeof b, h->value_fmt ? h->value_fmt : "%.2f", v);
                text(f, L + (j + 0.5) * cw, T + (i + 0.5) * ch + 4, "middle", 11,
                     dark(col) ? "fill=\"#ffffff\"" : "fill=\"#222222\"", b);
            }
        }
    fputs("</g>\n", f);
    /* group separators and labels */
    if (h->row_group > 0 && h->row_group < R_)
        for (int64_t i = h->row_group; i < R_; i += h->row_group)
            fprintf(f,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444444\" "
                    "stroke-width=\"0.8\"/>\n",
                    L, T + i * ch, Rr, T + i * ch);
    if (h->col_group > 0 && h->col_group < C_)
        for (int64_t j = h->col_group; j < C_; j += h->col_group)
            fprintf(f,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444444\" "
                    "stroke-width=\"0.8\"/>\n",
                    L + j * cw, T, L + j * cw, B);
    fprintf(f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"#333333\"/>\n",
            L, T, Rr - L, B - T);
    int marked = h->mark_label && h->mark_row >= 0 && h->mark_row < R_ && h->mark_col >= 0 &&
                 h->mark_col < C_;
    if (marked) {
        /* at least 7 px so that it shows on maps of tiny cells */
        double mw = cw < 7 ? 7 : cw, mh = ch < 7 ? 7 : ch;
        double mx = L + (h->mark_col + 0.5) * cw - mw / 2,
               my = T + (h->mark_row + 0.5) * ch - mh / 2;
        fprintf(f,
                "<rect class=\"mark\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                "fill=\"none\" "
                "stroke=\"#000000\" stroke-width=\"2\"/>\n",
                mx, my, mw, mh);
    }
    if (row_cell_labels) {
        for (int64_t i = 0; i < R_; i++)
            text(f, L - 6, T + (i + 0.5) * ch + 4, "end", 11, NULL, h->row_labels[i]);
    } else if (h->row_group > 0) {
        /* one label per block, thinned so that labels stay 13 px apart */
        double gh = ch * h->row_group;
        int64_t every = gh >= 13 ? 1 : (int64_t)ceil(13 / gh);
        for (int64_t g = 0; g * h->row_group < R_; g += every) {
            snprintf(lab, sizeof lab, h->row_group_fmt ? h->row_group_fmt : "%d", (int)g);
            text(f, L - 6, T + (g + 0.5) * gh + 4, "end", 11, NULL, lab);
        }
    }
    if (col_cell_labels) {
        for (int64_t j = 0; j < C_; j++) {
            double x = L + (j + 0.5) * cw;
            if (col_rot) {
                char tr[96];
                snprintf(tr, sizeof tr, "transform=\"rotate(-45 %.1f %.1f)\"", x, T - 6);
                text(f, x, T - 6, "start", 11, tr, h->col_labels[j]);
            } else {
                text(f, x, T - 6, "middle", 11, NULL, h->col_labels[j]);
            }
        }
    } else if (h->col_group > 0) {
        double gw = cw * h->col_group;
        snprintf(lab, sizeof lab, h->col_group_fmt ? h->col_group_fmt : "%d",
                 (int)(C_ / h->col_group));
        int64_t every = gw >= text_w(lab, 11) + 4 ? 1 : (int64_t)ceil((text_w(lab, 11) + 4) / gw);
        for (int64_t g = 0; g * h->col_group < C_; g += every) {
            snprintf(lab, sizeof lab, h->col_group_fmt ? h->col_group_fmt : "%d", (int)g);
            text(f, L + (g + 0.5) * gw, T - 6, "middle", 11, NULL, lab);
        }
    }
    if (h->xlabel) text(f, (L + Rr) / 2, B + 28, "middle", 13, NULL, h->xlabel);
    if (h->ylabel) {
        char tr[96];
        snprintf(tr, sizeof tr, "transform=\"rotate(-90 %.1f %.1f)\"", 16.0, (T + B) / 2);
        text(f, 16, (T + B) / 2, "middle", 13, tr, h->ylabel);
    }
    /* colour bar */
    double bx = Rr + 24;
    fprintf(f, "<defs><linearGradient id=\"cbar\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">\n");
    for (int i = 0; i <= 10; i++) {
        char col[8];
        rep_heat_colour(h, h->vmin + (h->vmax - h->vmin) * i / 10.0, col);
        fprintf(f, "<stop offset=\"%.2f\" stop-color=\"%s\"/>\n", i / 10.0, col);
    }
    fprintf(f,
            "</linearGradient></defs>\n<g class=\"colour-scale\">\n"
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"%.1f\" fill=\"url(#cbar)\" "
            "stroke=\"#333333\"/>\n",
            bx, by, bh);
    double ct[16];
    int nct = rep_nice_ticks(h->vmin, h->vmax, 6, ct);
    for (int i = 0; i < nct; i++) {
        if (ct[i] < h->vmin - 1e-12 || ct[i] > h->vmax + 1e-12) continue;
        double y = by + bh - (ct[i] - h->vmin) / (h->vmax - h->vmin) * bh;
        char b[32];
        rep_fmt_tick(ct[i], nct > 1 ? ct[1] - ct[0] : 1, b, sizeof b);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333333\"/>\n",
                bx + 14, y, bx + 18, y);
        text(f, bx + 21, y + 4, "start", 10, NULL, b);
    }
    if (h->scale_label) {
        char tr[96];
        snprintf(tr, sizeof tr, "transform=\"rotate(-90 %.1f %.1f)\"", bx + 70, by + bh / 2);
        text(f, bx + 70, by + bh / 2, "middle", 11, tr, h->scale_label);
    }
    int has_nan = 0;
    for (int64_t i = 0; i < R_ * C_ && !has_nan; i++) has_nan = isnan(h->v[i]);
    double ly = by + bh + 12;
    if (has_nan) {
        fprintf(f,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"12\" fill=\"#d0d0d0\" "
                "stroke=\"#333333\"/>\n",
                bx, ly);
        text(f, bx + 18, ly + 10, "start", 10, NULL, "undefined");
        ly += 18;
    }
    if (marked) {
        fprintf(f,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"14\" height=\"12\" fill=\"none\" "
                "stroke=\"#000000\" stroke-width=\"2\"/>\n",
                bx, ly);
        text(f, bx + 18, ly + 10, "start", 10, NULL, h->mark_label);
    }
    fputs("</g>\n", f);
    return svg_close(f, path, err);
}
