/* sec_heads_experts.c — Table 4 and section 4.3: the head–expert correlations (heat maps and the
 * strongest pairs), the causal pair's suppression and forcing, and the path analysis of the
 * pair's router logit (analyses/<rel>/head_expert). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/sections.h"

/* The correlation heat map of one relation: rows heads [l*nH+h], columns experts [l*E+e];
 * maps with more than 60000 cells show, per (head layer, expert layer) block, the r of largest
 * magnitude. */
static void r_heatmap(rep_doc *d, const rep_model *m, const rep_relation *rl)
{
    const rep_head_expert *he = &rl->he;
    int64_t R_ = he->rows, C_ = he->cols, rg = 0, cg = 0;
    int L = rep_layers(m);
    if (m->nH > 0 && L > 0 && R_ == (int64_t)L * m->nH) rg = m->nH;
    if (m->E > 0 && L > 0 && C_ == (int64_t)L * m->E) cg = m->E;
    double *v = he->r;
    double *agg = NULL;
    int aggregated = 0;
    if (R_ * C_ > 60000) {
        if (!rg || !cg) {
            doc_note(
                d,
                "the %lld x %lld correlation matrix of %s / %s is too large to draw and its layer "
                "structure is unknown.",
                (long long)R_, (long long)C_, m->name, rl->name);
            return;
        }
        agg = malloc((size_t)L * (size_t)L * sizeof *agg);
        if (!agg) return;
        for (int64_t a = 0; a < L; a++)
            for (int64_t b = 0; b < L; b++) {
                double best = NAN;
                for (int64_t i = a * rg; i < (a + 1) * rg; i++)
                    for (int64_t j = b * cg; j < (b + 1) * cg; j++) {
                        double x = he->r[i * C_ + j];
                        if (isfinite(x) && (isnan(best) || fabs(x) > fabs(best))) best = x;
                    }
                agg[a * L + b] = best;
            }
        v = agg;
        R_ = C_ = L;
        rg = cg = 1;
        aggregated = 1;
    }
    rep_heatmap h;
    char title[300], stem[300];
    memset(&h, 0, sizeof h);
    snprintf(title, sizeof title, "%s / %s: head–expert r", m->name, rl->name);
    h.title = title;
    h.xlabel = aggregated ? "expert layer" : "expert, grouped by layer";
    h.ylabel = aggregated ? "head layer" : "head, grouped by layer";
    h.scale_label = "Pearson r";
    h.rows = R_;
    h.cols = C_;
    h.v = v;
    h.row_group = rg;
    h.col_group = cg;
    h.row_group_fmt = "L%d";
    h.col_group_fmt = "L%d";
    h.vmin = -1;
    h.vmax = 1;
    h.diverging = 1;
    h.mark_row = h.mark_col = -1;
    if (he->have_pair && !aggregated && rg && cg) {
        h.mark_row = he->pair.head.l * rg + he->pair.head.i;
        h.mark_col = he->pair.expert.l * cg + he->pair.expert.i;
        h.mark_label = "causal pair";
    } else if (he->have_pair && aggregated) {
        h.mark_row = he->pair.head.l;
        h.mark_col = he->pair.expert.l;
        h.mark_label = "causal pair's block";
    }
    char cap[400];
    rep_stem(stem, sizeof stem, "r", m->name, rl->name);
    snprintf(cap, sizeof cap, "%s%s", rl->name,
             aggregated ? ": strongest r per (head layer, expert layer) block." : ".");
    doc_heatmap(d, stem, &h, cap);
    free(agg);
}

static void path_chart(rep_doc *d, const rep_model *m)
{
    const char *groups[256];
    double v[256 * 4];
    int ng = 0;
    for (size_t j = 0; j < m->n_rel && ng < 256; j++) {
        const rep_head_expert *he = &m->rel[j].he;
        if (!he->have_path || !isfinite(he->share_all)) continue;
        groups[ng] = m->rel[j].name;
        v[ng * 4 + 0] = 100 * he->share_own;
        v[ng * 4 + 1] = 100 * (he->share_all - he->share_own);
        v[ng * 4 + 2] = 100 * he->share_emb;
        v[ng * 4 + 3] = 100 * he->share_ffn;
        ng++;
    }
    if (!ng) return;
    static const char *const S[] = {"heads of the expert's layer", "heads of earlier layers",
                                    "embedding", "FFN/MoE of earlier layers"};
    rep_bar_chart b;
    char title[256], stem[256];
    memset(&b, 0, sizeof b);
    snprintf(title, sizeof title, "%s: what drives the pair's router logit", m->name);
    b.title = title;
    b.ylabel = "share of |contributions| (%)";
    b.groups = groups;
    b.n_groups = ng;
    b.series = S;
    b.n_series = 4;
    b.v = v;
    b.stacked = 1;
    b.value_labels = 1;
    b.value_fmt = "%.0f";
    rep_stem(stem, sizeof stem, "path_shares", m->name, NULL);
    doc_bar(d, stem, &b,
            "Path analysis: shares of the causal pair's expert router logit (mean over samples).");
}

static void idx_str(char *b, size_t len, rep_idx x)
{
    snprintf(b, len, "[%lld,%lld]", (long long)x.l, (long long)x.i);
}

void sec_heads_experts(rep_doc *d, rep_model *m, size_t n)
{
    rep_row r;
    doc_p(
        d,
        "r is Pearson's correlation over a relation's samples between a head's importance and an "
        "expert's routing probability at the last position (heads [layer, head], experts [layer, "
        "expert], 0-based). A relation has hundreds of such tests, so the largest |r| is large by "
        "chance alone: \"beats chance\" compares each |r| with a permutation null of the largest "
        "|r| "
        "(head values shuffled over the samples; family-wise p), and q is the Benjamini–Hochberg "
        "q-value. The causal pair is the highest r whose expert is among the relation's top-10 "
        "experts, among the pairs that beat chance; where none does, the pair is the highest "
        "eligible r, marked not significant, and its checks are exploratory: suppressing its head "
        "changes the routing probability of the top-4 experts "
        "and the MRR; forcing the expert back recovers part of the drop; the path analysis splits "
        "the expert's router logit into the parts coming from heads, embedding and earlier FFNs.");
    for (size_t i = 0; i < n; i++) {
        const rep_model *mm = &m[i];
        int any = 0;
        for (size_t j = 0; j < mm->n_rel; j++) any |= mm->rel[j].he.have;
        if (!any) {
            rep_note_missing(d, mm, "head–expert analyses", "heads_experts", 1);
            continue;
        }
        doc_h(d, 3, NULL, mm->name);
        static const char *const H4[] = {"Relation",
                                         "Beats chance? (largest |r| vs null 95%; p)",
                                         "Strongest pairs: head → expert (r)",
                                         "Causal pair",
                                         "r",
                                         "p",
                                         "q (BH)",
                                         "p (perm.)"};
        doc_table_begin(d, 8, H4);
        for (size_t j = 0; j < mm->n_rel; j++) {
            const rep_head_expert *he = &mm->rel[j].he;
            if (!he->have) continue;
            char s[200] = "", a[32], b[32];
            size_t o = 0;
            for (size_t q = 0; q < he->n_strongest && q < 3; q++) {
                idx_str(a, sizeof a, he->strongest[q].head);
                idx_str(b, sizeof b, he->strongest[q].expert);
                o += (size_t)snprintf(s + o, sizeof s - o, "%s%s → %s (%.2f)", q ? "; " : "", a, b,
                                      he->strongest[q].r);
            }
            row_reset(&r);
            row_addf(&r, "%s", mm->rel[j].name);
            if (!he->have_null)
                row_addf(&r, "not tested (no permutation null stored)");
            else if (he->n_survivors > 0)
                row_addf(&r, "yes: %.0f pair%s (%.2f > %.2f; p = %.2g)", he->n_survivors,
                         he->n_survivors == 1 ? "" : "s", he->max_abs_r, he->null_q95, he->p_max);
            else
                row_addf(&r, "no (%.2f vs %.2f; p = %.2g)", he->max_abs_r, he->null_q95, he->p_max);
            row_addf(&r, "%s", o ? s : "–");
            if (he->have_pair) {
                idx_str(a, sizeof a, he->pair.head);
                idx_str(b, sizeof b, he->pair.expert);
                row_addf(&r, "%s → %s%s", a, b, he->pair.survives == 0 ? " (not significant)" : "");
            } else {
                row_addf(&r, "–");
            }
            row_num(&r, he->have_pair ? he->pair.r : NAN, 3);
            if (he->have_pair && isfinite(he->pair.p))
                row_addf(&r, "%.2g", he->pair.p);
            else
                row_addf(&r, "–");
            if (he->have_pair && isfinite(he->pair.q))
                row_addf(&r, "%.2g", he->pair.q);
            else
                row_addf(&r, "–");
            if (he->have_pair && isfinite(he->pair.p_perm))
                row_addf(&r, "%.2g", he->pair.p_perm);
            else
                row_addf(&r, "–");
            row_emit(d, &r);
        }
        doc_table_end(d);
        static const char *const HC[] = {"Relation",
                                         "Top-4 routing prob. base → suppressed (change)",
                                         "MRR base → suppressed (drop)",
                                         "MRR forced (recovery of the drop)",
                                         "MRR forced / base",
                                         "Own-layer heads share",
                                         "All heads share",
                                         "Pair head share",
                                         "Embedding share",
                                         "Earlier FFN share"};
        doc_table_begin(d, 10, HC);
        for (size_t j = 0; j < mm->n_rel; j++) {
            const rep_head_expert *he = &mm->rel[j].he;
            if (!he->have_supp && !he->have_forc && !he->have_path) continue;
            char b[32];
            row_reset(&r);
            row_addf(&r, "%s", mm->rel[j].name);
            if (he->have_supp) {
                char p1[48], p2[48];
                rep_pct(p1, sizeof p1, "%+.1f", he->prob_change_rel);
                rep_pct(p2, sizeof p2, "%.1f", he->mrr_drop_rel);
                row_addf(&r, "%.4f → %.4f (%s)", he->prob_base, he->prob_supp, p1);
                if (isnan(he->mrr_drop_rel) && isfinite(he->min_mrr_drop) &&
                    he->mrr_base < he->min_mrr_drop)
                    row_addf(&r, "%.4f → %.4f (relative drop n/a: base MRR below %g)", he->mrr_base,
                             he->mrr_supp, he->min_mrr_drop);
                else
                    row_addf(&r, "%.4f → %.4f (%s)", he->mrr_base, he->mrr_supp, p2);
            } else {
                row_addf(&r, "–");
                row_addf(&r, "–");
            }
            if (he->have_forc) {
                char p3[48];
                if (he->recovery_defined == 0)
                    row_addf(
                        &r,
                        "%.4f (recovery n/a: suppression %s the MRR by %.2g; a recovery needs a "
                        "drop of at least %g)",
                        he->mrr_forced, he->mrr_drop < 0 ? "raised" : "lowered", fabs(he->mrr_drop),
                        he->min_mrr_drop);
                else if (isfinite(he->recovery))
                    row_addf(&r, "%.4f (%s)", he->mrr_forced,
                             rep_pct(p3, sizeof p3, "%.0f", he->recovery));
                else
                    row_addf(&r, "%.4f (no drop to recover)", he->mrr_forced);
                row_addf(&r, "%s", rep_num(b, he->forced_over_base, 3));
            } else {
                row_addf(&r, "–");
                row_addf(&r, "–");
            }
            double sh[5] = {he->share_own, he->share_all, he->share_pair_head, he->share_emb,
                            he->share_ffn};
            for (int k = 0; k < 5; k++) row_pct(&r, he->have_path ? sh[k] : NAN, 1);
            row_emit(d, &r);
        }
        doc_table_end(d);
        path_chart(d, mm);
        char sum[300];
        snprintf(sum, sizeof sum, "%s: correlation heat maps per relation", mm->name);
        int maps = 0;
        for (size_t j = 0; j < mm->n_rel; j++) maps |= mm->rel[j].he.r != NULL;
        if (maps) {
            doc_details_begin(d, sum);
            doc_p(
                d,
                "Rows: heads, columns: experts, both grouped by layer (L0 = first layer); colour: "
                "Pearson r over the relation's samples; grey: undefined (expert layer before the "
                "head's layer); black outline: the causal pair.");
            doc_figs_begin(d);
            for (size_t j = 0; j < mm->n_rel; j++)
                if (mm->rel[j].he.r) r_heatmap(d, mm, &mm->rel[j]);
            doc_figs_end(d);
            doc_details_end(d);
        } else {
            doc_note(
                d,
                "%s: no correlation matrices (analyses/<relation>/head_expert/r) in the archive.",
                mm->name);
        }
        snprintf(sum, sizeof sum, "%s: all strongest pairs", mm->name);
        doc_details_begin(d, sum);
        static const char *const HS[] = {"Relation", "Head",      "Expert",       "r", "p",
                                         "q (BH)",   "p (perm.)", "Beats chance", "n"};
        doc_table_begin(d, 9, HS);
        for (size_t j = 0; j < mm->n_rel; j++)
            for (size_t q = 0; q < mm->rel[j].he.n_strongest; q++) {
                const rep_corr *c = &mm->rel[j].he.strongest[q];
                char a[32];
                row_reset(&r);
                row_addf(&r, "%s", mm->rel[j].name);
                idx_str(a, sizeof a, c->head);
                row_addf(&r, "%s", a);
                idx_str(a, sizeof a, c->expert);
                row_addf(&r, "%s", a);
                row_num(&r, c->r, 4);
                if (isfinite(c->p))
                    row_addf(&r, "%.3g", c->p);
                else
                    row_addf(&r, "–");
                if (isfinite(c->q))
                    row_addf(&r, "%.3g", c->q);
                else
                    row_addf(&r, "–");
                if (isfinite(c->p_perm))
                    row_addf(&r, "%.3g", c->p_perm);
                else
                    row_addf(&r, "–");
                row_addf(&r, "%s", c->survives == 1 ? "yes" : c->survives == 0 ? "no" : "–");
                row_num(&r, c->n, 0);
                row_emit(d, &r);
            }
        doc_table_end(d);
        doc_details_end(d);
    }
}
