/* sec_glance.c — "At a glance": a paragraph computed from every model's data (robustness to
 * expert blocking, where knowledge is processed, layer efficiency, the head–expert correlations
 * that survive multiple testing, accuracy). Only comparisons of numbers the archives hold; no new
 * statistics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/sections.h"

/* The sample count and mean metrics of a single model. */
static void glance_accuracy_one(FILE *f, const rep_model *m)
{
    int c = 0;
    double ns = 0;
    for (size_t j = 0; j < m->n_rel; j++)
        if (m->rel[j].have_metrics && isfinite(m->rel[j].n)) ns += m->rel[j].n, c++;
    if (c)
        fprintf(f, "%s reaches HIT@10 %.3f and MRR %.3f over %.0f samples of %d relation%s. ",
                m->name, rep_mean_rel(m, rep_get_hit10, NULL, NULL),
                rep_mean_rel(m, rep_get_mrr, NULL, NULL), ns, c, c == 1 ? "" : "s");
}

/* Robustness to blocking: which model loses the most / least MRR with its top-N experts blocked
 * (N = the largest blocked), and the least robust model's most sensitive relation. */
static void glance_blocking(FILE *f, const rep_model *m, size_t n)
{
    int best = -1, worst = -1, have = 0;
    double dmin = INFINITY, dmax = -INFINITY, dabs[64], drel[64];
    int64_t Nm[64];
    for (size_t i = 0; i < n && i < 64; i++) {
        Nm[i] = rep_max_block_n(&m[i]);
        dabs[i] = drel[i] = NAN;
        if (Nm[i] < 0) continue;
        int c;
        dabs[i] = rep_mean_plain(&m[i], rep_get_drop_abs, &Nm[i], &c);
        drel[i] = rep_mean_plain(&m[i], rep_get_drop_rel, &Nm[i], NULL);
        if (!isfinite(dabs[i])) continue;
        have++;
        if (dabs[i] > dmax) dmax = dabs[i], worst = (int)i;
        if (dabs[i] < dmin) dmin = dabs[i], best = (int)i;
    }
    if (have == 0 && n == 1) {
        char why[400];
        fprintf(f, "No expert-blocking results: %s. ",
                rep_why_missing(&m[0], "block", 1, why, sizeof why));
    } else if (have == 0) {
        fprintf(f,
                "None of these archives holds expert-blocking results, so robustness to blocking "
                "cannot be compared. ");
    } else if (have == 1) {
        char pw[48];
        fprintf(f,
                "Blocking the top-%lld experts of each relation lowers %s's MRR by %.3f on average "
                "(%s of its unblocked MRR). ",
                (long long)Nm[worst], m[worst].name, dabs[worst],
                rep_pct(pw, sizeof pw, "%.1f", drel[worst]));
    } else {
        char pw[48], pb[48];
        fprintf(
            f,
            "Blocking the top-%lld experts of each relation costs %s the most MRR (mean drop %.3f, "
            "%s of its unblocked MRR) and %s the least (%.3f, %s): %s is the most robust "
            "to expert blocking. ",
            (long long)Nm[worst], m[worst].name, dabs[worst],
            rep_pct(pw, sizeof pw, "%.1f", drel[worst]), m[best].name, dabs[best],
            rep_pct(pb, sizeof pb, "%.1f", drel[best]), m[best].name);
    }
    if (have > 0) {
        /* the most sensitive relation of the least robust model */
        const rep_relation *wr = NULL;
        double wd = -INFINITY;
        for (size_t j = 0; j < m[worst].n_rel; j++) {
            double v = rep_block_drop(&m[worst].rel[j], Nm[worst], 0);
            if (isfinite(v) && v > wd) wd = v, wr = &m[worst].rel[j];
        }
        if (wr) {
            const rep_cfg *c = rep_find_cfg(wr->block, wr->n_block, Nm[worst]);
            fprintf(f, "%s's most sensitive relation is %s (MRR %.2f → %.2f). ", m[worst].name,
                    wr->name, wr->mrr, c ? c->mrr : NAN);
        }
    }
}

/* Where knowledge is processed: earliest and latest FFN peak, the dominant stage. */
static void glance_depth(FILE *f, const rep_model *m, size_t n)
{
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
            if (isfinite(s->stage_share[k]) && (top < 0 || s->stage_share[k] > s->stage_share[top]))
                top = k;
        if (top < 0) continue;
        if (top0 < 0) top0 = top;
        same_top &= top == top0;
        if (s->stage_share[top] < smin) smin = s->stage_share[top];
        if (s->stage_share[top] > smax) smax = s->stage_share[top];
    }
    if (nsum == 0 && n == 1) {
        char why[400];
        fprintf(f, "Where knowledge is processed is not shown: %s. ",
                rep_why_missing(&m[0], "summarise", 0, why, sizeof why));
    } else if (nsum == 0) {
        fputs(
            "No archive holds the per-model summaries (stage summarise), so the depth of knowledge "
            "processing is not shown. ",
            f);
    } else if (nsum == 1) {
        const rep_summary *s = &m[early].pooled;
        fprintf(f, "%s's FFN gain peaks at %.0f%% of its depth (mean peak layer %.2f of %d)",
                m[early].name, s->peak_pct, s->peak, rep_layers(&m[early]));
        char ps[48];
        if (top0 >= 0)
            fprintf(f, ", and its %s stage carries the largest share of the FFN gain (%s)",
                    REP_STAGE_NAMES[top0], rep_pct(ps, sizeof ps, "%.0f", smax));
        fputs(". ", f);
    } else {
        /* every model's peak, in the order given */
        int shown = 0;
        fputs("The FFN gain peaks at ", f);
        for (size_t i = 0; i < n; i++) {
            const rep_summary *s = &m[i].pooled;
            if (!s->have || !isfinite(s->peak_pct)) continue;
            shown++;
            fprintf(f, "%s%.0f%%%s in %s",
                    shown == 1      ? ""
                    : shown == nsum ? " and "
                                    : ", ",
                    s->peak_pct, shown == 1 ? " of the depth" : "", m[i].name);
        }
        fprintf(f,
                " (mean peak layer over samples; earliest: %s, layer %.2f of %d; latest: %s, layer "
                "%.2f of %d). ",
                m[early].name, m[early].pooled.peak, rep_layers(&m[early]), m[late].name,
                m[late].pooled.peak, rep_layers(&m[late]));
        char p1[48], p2[48];
        if (top0 >= 0 && same_top)
            fprintf(
                f,
                "In all %d models the %s stage carries the largest share of the FFN gain (%s–%s). ",
                nsum, REP_STAGE_NAMES[top0], rep_pct(p1, sizeof p1, "%.0f", smin),
                rep_pct(p2, sizeof p2, "%.0f", smax));
        else if (top0 >= 0) {
            fputs("The stage with the largest share of the FFN gain: ", f);
            int first = 1;
            for (size_t i = 0; i < n; i++) {
                const rep_summary *s = &m[i].pooled;
                int top = -1;
                for (int k = 0; s->have && k < REP_NSTAGE; k++)
                    if (isfinite(s->stage_share[k]) &&
                        (top < 0 || s->stage_share[k] > s->stage_share[top]))
                        top = k;
                if (top < 0) continue;
                fprintf(f, "%s%s %s (%s)", first ? "" : ", ", m[i].name, REP_STAGE_NAMES[top],
                        rep_pct(p1, sizeof p1, "%.0f", s->stage_share[top]));
                first = 0;
            }
            fputs(". ", f);
        }
    }
}

/* Layer efficiency, and MoE against dense (the paper's Table 1 comparison). */
static void glance_efficiency(FILE *f, const rep_model *m, size_t n)
{
    int be = -1, nmoe = 0, ndense = 0;
    double emoe = 0, edense = 0;
    for (size_t i = 0; i < n; i++) {
        double e = m[i].pooled.layer_eff;
        if (!isfinite(e)) continue;
        if (be < 0 || e > m[be].pooled.layer_eff) be = (int)i;
        if (rep_is_moe(&m[i]))
            emoe += e, nmoe++;
        else
            edense += e, ndense++;
    }
    if (be >= 0 && n > 1)
        fprintf(f, "The highest layer efficiency (total FFN gain per layer) is %s's, %.3f",
                m[be].name, m[be].pooled.layer_eff);
    if (be >= 0 && n > 1 && nmoe && ndense) {
        char pc[48];
        fprintf(f, "; on average the MoE models reach %.3f and the dense ones %.3f (%s)",
                emoe / nmoe, edense / ndense,
                rep_pct(pc, sizeof pc, "%+.0f",
                        edense != 0 ? (emoe / nmoe - edense / ndense) / fabs(edense / ndense)
                                    : INFINITY));
    }
    if (be >= 0 && n > 1) fputs(". ", f);
}

/* Head-expert correlations, only as far as they survive multiple testing (the run's rule:
 * permutation null of the largest |r| per relation, or BH q-values): how many relations have a
 * surviving pair, the strongest survivor, and the relations where nothing beats chance. */
static void glance_head_expert(FILE *f, const rep_model *m, size_t n)
{
    const rep_corr *sc = NULL;
    const char *scm = NULL, *scr = NULL, *rule = NULL;
    int tested = 0, untested = 0, with = 0, shown = 0;
    double alpha = NAN;
    char none[600] = "";
    size_t no = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m[i].n_rel; j++) {
            const rep_head_expert *he = &m[i].rel[j].he;
            if (!he->have) continue;
            if (!he->have_null) {
                untested++;
                continue;
            }
            tested++;
            rule = he->significance;
            alpha = he->alpha;
            if (he->n_survivors > 0)
                with++;
            else if (no < sizeof none - 80) {
                no += (size_t)snprintf(none + no, sizeof none - no,
                                       "%s%s%s%s (largest |r| %.2f, p = %.2g)", shown ? "; " : "",
                                       n > 1 ? m[i].name : "", n > 1 ? " " : "", m[i].rel[j].name,
                                       he->max_abs_r, he->p_max);
                shown++;
            }
            for (size_t q = 0; q < he->n_strongest; q++) {
                const rep_corr *c = &he->strongest[q];
                if (c->survives == 1 && isfinite(c->r) && (!sc || fabs(c->r) > fabs(sc->r)))
                    sc = c, scm = m[i].name, scr = m[i].rel[j].name;
            }
        }
    if (untested && !tested) {
        fputs("The head–expert correlations of these archives were not tested for multiple "
              "comparisons "
              "(no permutation null stored), so none is summarised here. ",
              f);
        return;
    }
    if (!tested) return;
    const char *how = rule && !strcmp(rule, "fdr")
                          ? "Benjamini–Hochberg q ≤"
                          : "permutation null of the largest |r|, family-wise α =";
    if (!with) {
        fprintf(
            f,
            "No head–expert correlation beats chance in any of the %d relations tested (%s %.2g): "
            "the causal pairs below are exploratory. ",
            tested, how, alpha);
        return;
    }
    fprintf(f,
            "After multiple-testing control (%s %.2g), %d of %d relations have a head–expert "
            "correlation that beats chance",
            how, alpha, with, tested);
    if (sc)
        fprintf(f,
                "; the strongest is r = %.2f (%s, %s: head [%lld,%lld] with expert [%lld,%lld], "
                "family-wise p = %.2g, q = %.2g)",
                sc->r, scm, scr, (long long)sc->head.l, (long long)sc->head.i,
                (long long)sc->expert.l, (long long)sc->expert.i, sc->p_perm, sc->q);
    fputs(". ", f);
    if (shown) fprintf(f, "None beats chance in %s. ", none);
    if (untested)
        fprintf(f, "%d relation%s without a stored null %s not counted. ", untested,
                untested == 1 ? "" : "s", untested == 1 ? "is" : "are");
}

/* The model with the highest MRR over all samples. */
static void glance_accuracy(FILE *f, const rep_model *m, size_t n)
{
    int bm = -1;
    double bmrr = -1;
    for (size_t i = 0; i < n; i++) {
        double v = rep_mean_rel(&m[i], rep_get_mrr, NULL, NULL);
        if (isfinite(v) && v > bmrr) bmrr = v, bm = (int)i;
    }
    if (bm >= 0 && n > 1)
        fprintf(f, "%s has the highest MRR over all samples (%.3f).", m[bm].name, bmrr);
}

void sec_glance(rep_doc *d, rep_model *m, size_t n)
{
    char *txt = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&txt, &len);
    if (!f) return;
    if (n == 1) glance_accuracy_one(f, &m[0]);
    glance_blocking(f, m, n);
    glance_depth(f, m, n);
    glance_efficiency(f, m, n);
    glance_head_expert(f, m, n);
    glance_accuracy(f, m, n);
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
