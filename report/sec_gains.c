/* sec_gains.c — Figure 2: the FFN and attention gain per layer (the summaries' gain curves),
 * all models over relative depth, each model with its stages shaded, and per relation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/sections.h"

static double *iota(int64_t n, double scale, double off)
{
    double *x = malloc((size_t)(n > 0 ? n : 1) * sizeof *x);
    for (int64_t i = 0; x && i < n; i++) x[i] = (double)(i + 1) * scale + off;
    return x;
}

void sec_gains(rep_doc *d, rep_model *m, size_t n)
{
    doc_p(d,
          "Mean gain per layer (log-probability increase of the target, mean over samples), from "
          "the pooled summary's ffn_gain_curve and attn_gain_curve. Shaded: the early / mid / late "
          "stages.");
    /* all models' FFN curves over relative depth */
    rep_line_chart all;
    double *xs[REP_MAX_SERIES] = {0};
    memset(&all, 0, sizeof all);
    all.title = "FFN gain per layer, all models";
    all.xlabel = "relative depth (layer / layers, %)";
    all.ylabel = "mean FFN gain";
    all.zero_line = 1;
    all.ymin_hint = all.ymax_hint = NAN;
    for (size_t i = 0; i < n && all.n_series < REP_MAX_SERIES; i++) {
        const rep_summary *s = &m[i].pooled;
        if (!s->ffn_curve || s->n_curve <= 0) continue;
        xs[all.n_series] = iota(s->n_curve, 100.0 / (double)s->n_curve, 0);
        if (!xs[all.n_series]) continue;
        all.s[all.n_series] = (rep_series){m[i].name,  xs[all.n_series],   s->ffn_curve,
                                           s->n_curve, !rep_is_moe(&m[i]), 1};
        all.n_series++;
    }
    if (all.n_series > 1)
        doc_line(
            d, "fig2_ffn_gain_all_models", &all,
            "FFN gain per layer of every model against relative depth (100% = last layer; solid: "
            "MoE, dashed: dense).");
    for (int i = 0; i < all.n_series; i++) free(xs[i]);
    /* one y range for every model's plot, so that the grid compares like with like */
    double ylo = INFINITY, yhi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        const rep_summary *s = &m[i].pooled;
        for (int64_t l = 0; s->have && l < s->n_curve; l++) {
            double v[2] = {s->ffn_curve ? s->ffn_curve[l] : NAN,
                           s->attn_curve ? s->attn_curve[l] : NAN};
            for (int t = 0; t < 2; t++)
                if (isfinite(v[t])) ylo = fmin(ylo, v[t]), yhi = fmax(yhi, v[t]);
        }
    }
    if (n > 1 && ylo <= yhi)
        doc_p(d,
              "The per-model plots share one y range (%.2f to %.2f) so that they compare "
              "directly.",
              ylo, yhi);
    doc_figs_grid_begin(d);
    for (size_t i = 0; i < n; i++) {
        const rep_summary *s = &m[i].pooled;
        if (!s->have || (!s->ffn_curve && !s->attn_curve)) continue;
        rep_line_chart c;
        char title[256], stem[256];
        memset(&c, 0, sizeof c);
        snprintf(title, sizeof title, "%s: gain per layer", m[i].name);
        c.title = title;
        c.xlabel = "layer (1-based)";
        c.ylabel = "mean gain (log-prob increase)";
        c.integer_x = 1;
        c.zero_line = 1;
        c.ymin_hint = ylo <= yhi ? ylo : NAN;
        c.ymax_hint = ylo <= yhi ? yhi : NAN;
        double *x = iota(s->n_curve, 1, 0);
        if (!x) continue;
        if (s->ffn_curve)
            c.s[c.n_series++] = (rep_series){"FFN / MoE", x, s->ffn_curve, s->n_curve, 0, 1};
        if (s->attn_curve)
            c.s[c.n_series++] = (rep_series){"attention", x, s->attn_curve, s->n_curve, 1, 1};
        int64_t f0[REP_NSTAGE], l0[REP_NSTAGE];
        if (rep_stage_bounds(&m[i], f0, l0))
            for (int k = 0; k < REP_NSTAGE; k++)
                if (f0[k] <= l0[k])
                    c.band[c.n_band++] = (rep_band){f0[k] - 0.5, l0[k] + 0.5, REP_STAGE_NAMES[k]};
        rep_stem(stem, sizeof stem, "fig2_gain", m[i].name, NULL);
        doc_line(
            d, stem, &c,
            "Mean FFN/MoE (solid) and attention (dashed) gain per layer, pooled over relations.");
        free(x);
    }
    doc_figs_end(d);
    for (size_t i = 0; i < n; i++) {
        if (m[i].pooled.have && (m[i].pooled.ffn_curve || m[i].pooled.attn_curve)) continue;
        char why[400];
        doc_note(d, "gain curves of %s: %s.", m[i].name,
                 rep_why_missing(&m[i], "summarise", 0, why, sizeof why));
    }
    /* per relation */
    for (size_t i = 0; i < n; i++) {
        rep_line_chart c;
        double *x = NULL;
        char title[256], stem[256];
        memset(&c, 0, sizeof c);
        for (size_t j = 0; j < m[i].n_rel && c.n_series < REP_MAX_SERIES; j++) {
            const rep_summary *s = &m[i].rel[j].summary;
            if (!s->ffn_curve) continue;
            if (!x) x = iota(s->n_curve, 1, 0);
            if (!x || (c.n_series && s->n_curve != c.s[0].n)) continue;
            c.s[c.n_series++] = (rep_series){m[i].rel[j].name, x, s->ffn_curve, s->n_curve, 0, 1};
        }
        if (c.n_series > 0) {
            snprintf(title, sizeof title, "%s: FFN gain per layer by relation", m[i].name);
            c.title = title;
            c.xlabel = "layer (1-based)";
            c.ylabel = "mean FFN gain";
            c.integer_x = 1;
            c.zero_line = 1;
            c.ymin_hint = c.ymax_hint = NAN;
            rep_stem(stem, sizeof stem, "fig2_ffn_by_relation", m[i].name, NULL);
            char sum[256];
            snprintf(sum, sizeof sum, "%s: FFN gain per relation", m[i].name);
            doc_details_begin(d, sum);
            doc_line(d, stem, &c,
                     "Mean FFN/MoE gain per layer of each relation (analyses/<relation>/summary).");
            doc_details_end(d);
        }
        free(x);
    }
}
