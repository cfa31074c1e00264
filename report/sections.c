/* sections.c — the report's first sections: "at a glance" (computed from the data),
 * Table 1 with the per-relation metrics, the gain curves (Figure 2) and the stage shares
 * (Figure 3). Every number printed is read from the archives; the arithmetic here is only
 * means over relations and differences for the prose. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/internal.h"

/* ---- helpers shared by the sections ---------------------------------------------------------- */

void row_reset(rep_row *r)
{
    r->n = 0;
}

void row_addf(rep_row *r, const char *fmt, ...)
{
    if (r->n >= REP_MAX_COLS) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->c[r->n], sizeof r->c[0], fmt, ap);
    va_end(ap);
    r->p[r->n] = r->c[r->n];
    r->n++;
}

void row_num(rep_row *r, double v, int decimals)
{
    char b[32];
    row_addf(r, "%s", rep_num(b, v, decimals));
}

void row_pct(rep_row *r, double v, int decimals)
{
    char b[40];
    if (!isfinite(v)) {
        row_addf(r, "–");
        return;
    }
    char fmt[16];
    snprintf(fmt, sizeof fmt, "%%.%df", decimals);
    rep_fmt_value(b, sizeof b, fmt, 100 * v);
    row_addf(r, "%s%%", b);
}

void row_emit(rep_doc *d, rep_row *r)
{
    doc_table_row(d, r->n, r->p);
}

double rep_mean_rel(const rep_model *m, double (*get)(const rep_relation *, const void *),
                    const void *arg, int *count)
{
    double sw = 0, s = 0;
    int c = 0;
    for (size_t i = 0; i < m->n_rel; i++) {
        double v = get(&m->rel[i], arg);
        if (!isfinite(v)) continue;
        double w = isfinite(m->rel[i].n) && m->rel[i].n > 0 ? m->rel[i].n : 1;
        s += w * v;
        sw += w;
        c++;
    }
    if (count) *count = c;
    return c ? s / sw : NAN;
}

static double get_hit10(const rep_relation *r, const void *a)
{
    (void)a;
    return r->have_metrics ? r->hit10 : NAN;
}

static double get_mrr(const rep_relation *r, const void *a)
{
    (void)a;
    return r->have_metrics ? r->mrr : NAN;
}

/* The largest blocked N the model has, or -1. */
static int64_t max_block_n(const rep_model *m)
{
    int64_t best = -1;
    for (size_t i = 0; i < m->n_rel; i++)
        for (size_t j = 0; j < m->rel[i].n_block; j++)
            if (m->rel[i].block[j].num > best) best = m->rel[i].block[j].num;
    return best;
}

static const rep_cfg *find_cfg(const rep_cfg *v, size_t n, int64_t num)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].num == num) return &v[i];
    return NULL;
}

/* MRR drop (base - blocked) of a relation at N = *(int64_t *)arg; relative when rel. */
static double drop_at(const rep_relation *r, int64_t N, int rel)
{
    const rep_cfg *c = find_cfg(r->block, r->n_block, N);
    if (!c || !isfinite(c->mrr) || !isfinite(r->mrr)) return NAN;
    if (rel) return r->mrr > 0 ? (r->mrr - c->mrr) / r->mrr : NAN;
    return r->mrr - c->mrr;
}

static double get_drop_abs(const rep_relation *r, const void *a)
{
    return drop_at(r, *(const int64_t *)a, 0);
}

static double get_drop_rel(const rep_relation *r, const void *a)
{
    return drop_at(r, *(const int64_t *)a, 1);
}

/* Unweighted mean over relations (blocking drops are per relation, as in Figure 7). */
static double mean_plain(const rep_model *m, double (*get)(const rep_relation *, const void *),
                         const void *arg, int *count)
{
    double s = 0;
    int c = 0;
    for (size_t i = 0; i < m->n_rel; i++) {
        double v = get(&m->rel[i], arg);
        if (isfinite(v)) s += v, c++;
    }
    if (count) *count = c;
    return c ? s / c : NAN;
}

/* ---- at a glance ------------------------------------------------------------------------------- */

void sec_glance(rep_doc *d, rep_model *m, size_t n)
{
    char *txt = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&txt, &len);
    if (!f) return;
    doc_h(d, 2, "glance", "At a glance");
    /* robustness to blocking */
    int best = -1, worst = -1, have = 0;
    double dmin = INFINITY, dmax = -INFINITY, dabs[64], drel[64];
    int64_t Nm[64];
    for (size_t i = 0; i < n && i < 64; i++) {
        Nm[i] = max_block_n(&m[i]);
        dabs[i] = drel[i] = NAN;
        if (Nm[i] < 0) continue;
        int c;
        dabs[i] = mean_plain(&m[i], get_drop_abs, &Nm[i], &c);
        drel[i] = mean_plain(&m[i], get_drop_rel, &Nm[i], NULL);
        if (!isfinite(dabs[i])) continue;
        have++;
        if (dabs[i] > dmax) dmax = dabs[i], worst = (int)i;
        if (dabs[i] < dmin) dmin = dabs[i], best = (int)i;
    }
    if (n == 1) {
        int c = 0;
        double ns = 0;
        for (size_t j = 0; j < m[0].n_rel; j++)
            if (m[0].rel[j].have_metrics && isfinite(m[0].rel[j].n)) ns += m[0].rel[j].n, c++;
        if (c)
            fprintf(f, "%s reaches HIT@10 %.3f and MRR %.3f over %.0f samples of %d relation%s. ", m[0].name,
                    rep_mean_rel(&m[0], get_hit10, NULL, NULL), rep_mean_rel(&m[0], get_mrr, NULL, NULL), ns, c,
                    c == 1 ? "" : "s");
    }
    if (have == 0 && n == 1) {
        char why[400];
        fprintf(f, "No expert-blocking results: %s. ", rep_why_missing(&m[0], "block", 1, why, sizeof why));
    } else if (have == 0) {
        fprintf(f, "None of these archives holds expert-blocking results, so robustness to blocking "
                   "cannot be compared. ");
    } else if (have == 1) {
        fprintf(f, "Blocking the top-%lld experts of each relation lowers %s's MRR by %.3f on average "
                   "(%.1f%% of its unblocked MRR). ",
                (long long)Nm[worst], m[worst].name, dabs[worst], 100 * drel[worst]);
    } else {
        fprintf(f, "Blocking the top-%lld experts of each relation costs %s the most MRR (mean drop %.3f, "
                   "%.1f%% of its unblocked MRR) and %s the least (%.3f, %.1f%%): %s is the most robust "
                   "to expert blocking. ",
                (long long)Nm[worst], m[worst].name, dabs[worst], 100 * drel[worst], m[best].name,
                dabs[best], 100 * drel[best], m[best].name);
    }
    if (have > 0) {
        /* the most sensitive relation of the least robust model */
        const rep_relation *wr = NULL;
        double wd = -INFINITY;
        for (size_t j = 0; j < m[worst].n_rel; j++) {
            double v = drop_at(&m[worst].rel[j], Nm[worst], 0);
            if (isfinite(v) && v > wd) wd = v, wr = &m[worst].rel[j];
        }
        if (wr) {
            const rep_cfg *c = find_cfg(wr->block, wr->n_block, Nm[worst]);
            fprintf(f, "%s's most sensitive relation is %s (MRR %.2f → %.2f). ", m[worst].name, wr->name,
                    wr->mrr, c ? c->mrr : NAN);
        }
    }
    /* where knowledge is processed: earliest and latest FFN peak, the dominant stage */
    int early = -1, late = -1, nsum = 0, same_top = 1, top0 = -1;
    double smin = INFINITY, smax = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        const rep_summary *s = &m[i].pooled;
        if (!s->have || !isfinite(s->peak_pct)) continue;
        nsum++;
        if (early < 0 || s->peak_pct < m[early].pooled.peak_pct) early = (int)i;
        if (late < 0 || s->peak_pct > m[late].pooled.peak_pct) late = (int)i;
        int top = -1;
        for (int k = 0; k < REP_NSTAGE; k++)
            if (isfinite(s->stage_share[k]) && (top < 0 || s->stage_share[k] > s->stage_share[top])) top = k;
        if (top < 0) continue;
        if (top0 < 0) top0 = top;
        same_top &= top == top0;
        if (s->stage_share[top] < smin) smin = s->stage_share[top];
        if (s->stage_share[top] > smax) smax = s->stage_share[top];
    }
    if (nsum == 0 && n == 1) {
        char why[400];
        fprintf(f, "Where knowledge is processed is not shown: %s. ", rep_why_missing(&m[0], "summarise", 0, why, sizeof why));
    } else if (nsum == 0) {
        fputs("No archive holds the per-model summaries (stage summarise), so the depth of knowledge "
              "processing is not shown. ", f);
    } else if (nsum == 1) {
        const rep_summary *s = &m[early].pooled;
        fprintf(f, "%s's FFN gain peaks at %.0f%% of its depth (mean peak layer %.2f of %d)", m[early].name,
                s->peak_pct, s->peak, rep_layers(&m[early]));
        if (top0 >= 0) fprintf(f, ", and its %s stage carries the largest share of the FFN gain (%.0f%%)",
                               REP_STAGE_NAMES[top0], 100 * smax);
        fputs(". ", f);
    } else {
        /* every model's peak, in the order given */
        int shown = 0;
        fputs("The FFN gain peaks at ", f);
        for (size_t i = 0; i < n; i++) {
            const rep_summary *s = &m[i].pooled;
            if (!s->have || !isfinite(s->peak_pct)) continue;
            shown++;
            fprintf(f, "%s%.0f%%%s in %s", shown == 1 ? "" : shown == nsum ? " and " : ", ", s->peak_pct,
                    shown == 1 ? " of the depth" : "", m[i].name);
        }
        fprintf(f, " (mean peak layer over samples; earliest: %s, layer %.2f of %d; latest: %s, layer %.2f of %d). ",
                m[early].name, m[early].pooled.peak, rep_layers(&m[early]), m[late].name, m[late].pooled.peak,
                rep_layers(&m[late]));
        if (top0 >= 0 && same_top)
            fprintf(f, "In all %d models the %s stage carries the largest share of the FFN gain (%.0f–%.0f%%). ",
                    nsum, REP_STAGE_NAMES[top0], 100 * smin, 100 * smax);
        else if (top0 >= 0) {
            fputs("The stage with the largest share of the FFN gain: ", f);
            int first = 1;
            for (size_t i = 0; i < n; i++) {
                const rep_summary *s = &m[i].pooled;
                int top = -1;
                for (int k = 0; s->have && k < REP_NSTAGE; k++)
                    if (isfinite(s->stage_share[k]) && (top < 0 || s->stage_share[k] > s->stage_share[top])) top = k;
                if (top < 0) continue;
                fprintf(f, "%s%s %s (%.0f%%)", first ? "" : ", ", m[i].name, REP_STAGE_NAMES[top], 100 * s->stage_share[top]);
                first = 0;
            }
            fputs(". ", f);
        }
    }
    /* efficiency, and MoE against dense (the paper's Table 1 comparison) */
    int be = -1, nmoe = 0, ndense = 0;
    double emoe = 0, edense = 0;
    for (size_t i = 0; i < n; i++) {
        double e = m[i].pooled.layer_eff;
        if (!isfinite(e)) continue;
        if (be < 0 || e > m[be].pooled.layer_eff) be = (int)i;
        if (rep_is_moe(&m[i])) emoe += e, nmoe++;
        else edense += e, ndense++;
    }
    if (be >= 0 && n > 1)
        fprintf(f, "The highest layer efficiency (total FFN gain per layer) is %s's, %.3f", m[be].name,
                m[be].pooled.layer_eff);
    if (be >= 0 && n > 1 && nmoe && ndense)
        fprintf(f, "; on average the MoE models reach %.3f and the dense ones %.3f (%+.0f%%)", emoe / nmoe,
                edense / ndense, edense != 0 ? 100 * (emoe / nmoe - edense / ndense) / fabs(edense / ndense) : NAN);
    if (be >= 0 && n > 1) fputs(". ", f);
    /* head-expert */
    const rep_corr *sc = NULL;
    const char *scm = NULL, *scr = NULL;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m[i].n_rel; j++)
            for (size_t q = 0; q < m[i].rel[j].he.n_strongest; q++) {
                const rep_corr *c = &m[i].rel[j].he.strongest[q];
                if (isfinite(c->r) && (!sc || fabs(c->r) > fabs(sc->r)))
                    sc = c, scm = m[i].name, scr = m[i].rel[j].name;
            }
    if (sc)
        fprintf(f, "The strongest head–expert correlation is r = %.2f (%s, %s: head [%lld,%lld] with expert "
                   "[%lld,%lld]). ",
                sc->r, scm, scr, (long long)sc->head.l, (long long)sc->head.i, (long long)sc->expert.l,
                (long long)sc->expert.i);
    /* accuracy */
    int bm = -1;
    double bmrr = -1;
    for (size_t i = 0; i < n; i++) {
        double v = rep_mean_rel(&m[i], get_mrr, NULL, NULL);
        if (isfinite(v) && v > bmrr) bmrr = v, bm = (int)i;
    }
    if (bm >= 0 && n > 1)
        fprintf(f, "%s has the highest MRR over all samples (%.3f).", m[bm].name, bmrr);
    fclose(f);
    if (d->fmt == REPORT_HTML) {
        fputs("<p class=\"glance\">", d->f);
        rep_xml_escape(d->f, txt);
        fputs("</p>\n", d->f);
    } else {
        doc_p(d, "%s", txt);
    }
    free(txt);
}

/* ---- Table 1 ----------------------------------------------------------------------------------- */

void sec_table1(rep_doc *d, rep_model *m, size_t n)
{
    rep_row r;
    doc_h(d, 2, "table1", "Knowledge attribution per model (Table 1)");
    doc_p(d, "HIT@10 and MRR are over all samples of all relations (each relation weighted by its "
             "sample count); the gains, the peak gain layer (1-based, mean over samples, with its "
             "relative depth) and the layer efficiency (total FFN gain / number of layers) are the "
             "pooled summary of analyses/pooled/summary.");
    static const char *const H[] = {"Model", "Relations", "Samples", "HIT@10", "MRR", "Total FFN gain",
                                    "Total attn gain", "Peak gain layer (relative %)",
                                    "Layer efficiency (FFN gain / layers)", "Layers"};
    doc_table_begin(d, 10, H);
    for (size_t i = 0; i < n; i++) {
        const rep_summary *s = &m[i].pooled;
        double ns = 0;
        int c = 0;
        for (size_t j = 0; j < m[i].n_rel; j++)
            if (m[i].rel[j].have_metrics && isfinite(m[i].rel[j].n)) ns += m[i].rel[j].n, c++;
        row_reset(&r);
        row_addf(&r, "%s", m[i].name);
        row_addf(&r, "%d", c);
        row_addf(&r, "%.0f", ns);
        row_num(&r, rep_mean_rel(&m[i], get_hit10, NULL, NULL), 3);
        row_num(&r, rep_mean_rel(&m[i], get_mrr, NULL, NULL), 3);
        row_num(&r, s->total_ffn, 3);
        row_num(&r, s->total_attn, 3);
        if (isfinite(s->peak)) row_addf(&r, "%.2f (%.1f%%)", s->peak, s->peak_pct);
        else row_addf(&r, "–");
        row_num(&r, s->layer_eff, 3);
        int L = rep_layers(&m[i]);
        if (L > 0) row_addf(&r, "%d", L);
        else row_addf(&r, "–");
        row_emit(d, &r);
    }
    doc_table_end(d);
    for (size_t i = 0; i < n; i++)
        if (!m[i].pooled.have) {
            char why[400];
            doc_note(d, "gains for %s: %s.", m[i].name, rep_why_missing(&m[i], "summarise", 0, why, sizeof why));
        }
    /* per relation, models side by side */
    rep_names rels;
    rep_all_relations(m, n, &rels);
    if (rels.n == 0) {
        doc_note(d, "no relation metrics in any archive (stage evaluate not run).");
        rep_names_free(&rels);
        return;
    }
    doc_h(d, 3, "table1-relations", "HIT@10 and MRR per relation");
    const char *head[REP_MAX_COLS];
    char hb[REP_MAX_COLS][160];
    int nc = 1;
    head[0] = "Relation";
    for (size_t i = 0; i < n && nc + 2 <= REP_MAX_COLS; i++) {
        snprintf(hb[nc], sizeof hb[0], "%s HIT@10", m[i].name);
        head[nc] = hb[nc];
        nc++;
        snprintf(hb[nc], sizeof hb[0], "%s MRR", m[i].name);
        head[nc] = hb[nc];
        nc++;
    }
    doc_table_begin(d, nc, head);
    for (size_t k = 0; k < rels.n; k++) {
        row_reset(&r);
        row_addf(&r, "%s", rels.v[k]);
        for (size_t i = 0; i < n && r.n + 2 <= REP_MAX_COLS; i++) {
            const rep_relation *rl = rep_find_relation(&m[i], rels.v[k]);
            row_num(&r, rl && rl->have_metrics ? rl->hit10 : NAN, 3);
            row_num(&r, rl && rl->have_metrics ? rl->mrr : NAN, 3);
        }
        row_emit(d, &r);
    }
    doc_table_end(d);
    rep_names_free(&rels);
    /* per model, per relation summaries */
    for (size_t i = 0; i < n; i++) {
        int any = 0;
        for (size_t j = 0; j < m[i].n_rel; j++) any |= m[i].rel[j].summary.have;
        if (!any) continue;
        char title[300];
        snprintf(title, sizeof title, "%s: summary per relation", m[i].name);
        doc_details_begin(d, title);
        static const char *const HS[] = {"Relation", "n", "HIT@10", "MRR", "Total FFN gain", "Total attn gain",
                                         "Peak gain layer (relative %)", "Layer efficiency",
                                         "Early share", "Mid share", "Late share"};
        doc_table_begin(d, 11, HS);
        for (size_t j = 0; j < m[i].n_rel; j++) {
            const rep_relation *rl = &m[i].rel[j];
            const rep_summary *s = &rl->summary;
            row_reset(&r);
            row_addf(&r, "%s", rl->name);
            row_num(&r, isfinite(rl->n) ? rl->n : s->n, 0);
            row_num(&r, rl->hit10, 3);
            row_num(&r, rl->mrr, 3);
            row_num(&r, s->total_ffn, 3);
            row_num(&r, s->total_attn, 3);
            if (isfinite(s->peak)) row_addf(&r, "%.2f (%.1f%%)", s->peak, s->peak_pct);
            else row_addf(&r, "–");
            row_num(&r, s->layer_eff, 3);
            for (int k = 0; k < REP_NSTAGE; k++) row_pct(&r, s->stage_share[k], 1);
            row_emit(d, &r);
        }
        doc_table_end(d);
        doc_details_end(d);
    }
}

/* ---- Figure 2 ----------------------------------------------------------------------------------- */

static double *iota(int64_t n, double scale, double off)
{
    double *x = malloc((size_t)(n > 0 ? n : 1) * sizeof *x);
    for (int64_t i = 0; x && i < n; i++) x[i] = (double)(i + 1) * scale + off;
    return x;
}

void sec_gains(rep_doc *d, rep_model *m, size_t n)
{
    doc_h(d, 2, "gains", "FFN and attention gain per layer (Figure 2)");
    doc_p(d, "Mean gain per layer (log-probability increase of the target, mean over samples), from "
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
        all.s[all.n_series] = (rep_series){m[i].name, xs[all.n_series], s->ffn_curve, s->n_curve, 0, 1};
        all.n_series++;
    }
    if (all.n_series > 1)
        doc_line(d, "fig2_ffn_gain_all_models", &all,
                 "FFN gain per layer of every model against relative depth (100% = last layer).");
    for (int i = 0; i < all.n_series; i++) free(xs[i]);
    doc_figs_begin(d);
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
        c.ymin_hint = c.ymax_hint = NAN;
        double *x = iota(s->n_curve, 1, 0);
        if (!x) continue;
        if (s->ffn_curve) c.s[c.n_series++] = (rep_series){"FFN / MoE", x, s->ffn_curve, s->n_curve, 0, 1};
        if (s->attn_curve) c.s[c.n_series++] = (rep_series){"attention", x, s->attn_curve, s->n_curve, 1, 1};
        int64_t f0[REP_NSTAGE], l0[REP_NSTAGE];
        if (rep_stage_bounds(&m[i], f0, l0))
            for (int k = 0; k < REP_NSTAGE; k++)
                if (f0[k] <= l0[k]) c.band[c.n_band++] = (rep_band){f0[k] - 0.5, l0[k] + 0.5, REP_STAGE_NAMES[k]};
        rep_stem(stem, sizeof stem, "fig2_gain", m[i].name, NULL);
        doc_line(d, stem, &c, "Mean FFN/MoE (solid) and attention (dashed) gain per layer, pooled over relations.");
        free(x);
    }
    doc_figs_end(d);
    for (size_t i = 0; i < n; i++) {
        if (m[i].pooled.have && (m[i].pooled.ffn_curve || m[i].pooled.attn_curve)) continue;
        char why[400];
        doc_note(d, "gain curves of %s: %s.", m[i].name, rep_why_missing(&m[i], "summarise", 0, why, sizeof why));
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
            doc_line(d, stem, &c, "Mean FFN/MoE gain per layer of each relation (analyses/<relation>/summary).");
            doc_details_end(d);
        }
        free(x);
    }
}

/* ---- Figure 3 ----------------------------------------------------------------------------------- */

void sec_stages(rep_doc *d, rep_model *m, size_t n)
{
    doc_h(d, 2, "stages", "Stage shares (Figure 3)");
    doc_p(d, "Each stage's share of the total FFN gain (a ratio of means, so it may be negative or "
             "above 100%%) and its gain per layer, pooled over relations.");
    const char *groups[64];
    double share[64 * REP_NSTAGE], gpl[64 * REP_NSTAGE];
    int ng = 0;
    for (size_t i = 0; i < n && ng < 64; i++) {
        const rep_summary *s = &m[i].pooled;
        if (!s->have || !isfinite(s->stage_share[0])) continue;
        groups[ng] = m[i].name;
        for (int k = 0; k < REP_NSTAGE; k++) {
            share[ng * REP_NSTAGE + k] = 100 * s->stage_share[k];
            gpl[ng * REP_NSTAGE + k] = s->stage_gpl[k];
        }
        ng++;
    }
    if (ng > 0) {
        rep_bar_chart b;
        memset(&b, 0, sizeof b);
        b.title = "Share of the total FFN gain per stage";
        b.ylabel = "share of total FFN gain (%)";
        b.groups = groups;
        b.n_groups = ng;
        b.series = REP_STAGE_NAMES;
        b.n_series = REP_NSTAGE;
        b.v = share;
        b.value_labels = 1;
        b.value_fmt = "%.0f";
        doc_figs_begin(d);
        doc_bar(d, "fig3_stage_share", &b, "Early / mid / late share of the total FFN gain, per model.");
        b.title = "FFN gain per layer in each stage";
        b.ylabel = "stage gain / layers in stage";
        b.v = gpl;
        b.value_fmt = "%.2f";
        doc_bar(d, "fig3_stage_gain_per_layer", &b, "Stage gain divided by the number of layers in the stage.");
        doc_figs_end(d);
        rep_row r;
        static const char *const H[] = {"Model", "Early layers", "Early share", "Early gain", "Early gain/layer",
                                        "Mid layers", "Mid share", "Mid gain", "Mid gain/layer",
                                        "Late layers", "Late share", "Late gain", "Late gain/layer"};
        doc_table_begin(d, 13, H);
        for (size_t i = 0; i < n; i++) {
            const rep_summary *s = &m[i].pooled;
            if (!s->have) continue;
            int64_t f0[REP_NSTAGE], l0[REP_NSTAGE];
            int hb = rep_stage_bounds(&m[i], f0, l0);
            row_reset(&r);
            row_addf(&r, "%s", m[i].name);
            for (int k = 0; k < REP_NSTAGE; k++) {
                if (hb && f0[k] < l0[k]) row_addf(&r, "%lld–%lld", (long long)f0[k], (long long)l0[k]);
                else if (hb && f0[k] == l0[k]) row_addf(&r, "%lld", (long long)f0[k]);
                else row_addf(&r, "%s", hb ? "none" : "–");
                row_pct(&r, s->stage_share[k], 1);
                row_num(&r, s->stage_gain[k], 3);
                row_num(&r, s->stage_gpl[k], 3);
            }
            row_emit(d, &r);
        }
        doc_table_end(d);
    }
    for (size_t i = 0; i < n; i++) {
        if (m[i].pooled.have && isfinite(m[i].pooled.stage_share[0])) continue;
        char why[400];
        doc_note(d, "stage shares of %s: %s.", m[i].name, rep_why_missing(&m[i], "summarise", 0, why, sizeof why));
    }
}
