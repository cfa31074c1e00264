/* sec_blocking.c — Tables 5/8 and Figure 7: HIT@10 and MRR with each relation's top-N experts
 * blocked (metrics/<rel> hit10_block{N}, mrr_block{N}), the MRR drops as heat maps and tables. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/sections.h"

void sec_blocking(rep_doc *d, rep_model *m, size_t n)
{
    int64_t Ns[32];
    int nN = rep_union_nums(m, n, 0, Ns, 32);
    rep_row r;
    doc_p(d,
          "The relation's top-N experts ([layer, expert], 0-based, ranked as in metrics/<relation>/"
          "top_experts) are blocked for every sample; the MRR drop is the unblocked MRR minus the "
          "blocked one (positive = worse, negative = blocking helped). All heat maps share one "
          "colour scale.");
    double vmax = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m[i].n_rel; j++)
            for (size_t q = 0; q < m[i].rel[j].n_block; q++) {
                double v = m[i].rel[j].mrr - m[i].rel[j].block[q].mrr;
                if (isfinite(v) && fabs(v) > vmax) vmax = fabs(v);
            }
    if (vmax <= 0) vmax = 0.01;
    doc_figs_begin(d);
    for (size_t i = 0; i < n; i++) {
        if (!rep_has_block(&m[i]) || nN == 0) continue;
        const rep_model *mm = &m[i];
        double *v = malloc(mm->n_rel * (size_t)nN * sizeof *v + 1);
        const char **rows = calloc(mm->n_rel + 1, sizeof *rows), *cols[32];
        char cb[32][32];
        if (!v || !rows) {
            free(v);
            free(rows);
            continue;
        }
        for (int k = 0; k < nN; k++) {
            snprintf(cb[k], sizeof cb[k], "top-%lld", (long long)Ns[k]);
            cols[k] = cb[k];
        }
        for (size_t j = 0; j < mm->n_rel; j++) {
            rows[j] = mm->rel[j].name;
            for (int k = 0; k < nN; k++) {
                const rep_cfg *c = rep_find_cfg(mm->rel[j].block, mm->rel[j].n_block, Ns[k]);
                v[j * (size_t)nN + (size_t)k] = c ? mm->rel[j].mrr - c->mrr : NAN;
            }
        }
        rep_heatmap h;
        char title[256], stem[256];
        memset(&h, 0, sizeof h);
        snprintf(title, sizeof title, "%s: MRR drop", mm->name);
        h.title = title;
        h.xlabel = "experts blocked";
        h.scale_label = "MRR drop (base − blocked)";
        h.mark_row = h.mark_col = -1;
        h.rows = (int64_t)mm->n_rel;
        h.cols = nN;
        h.v = v;
        h.row_labels = rows;
        h.col_labels = cols;
        h.vmin = -vmax;
        h.vmax = vmax;
        h.diverging = 1;
        h.annotate = 1;
        h.value_fmt = "%.3f";
        rep_stem(stem, sizeof stem, "fig7_mrr_drop", mm->name, NULL);
        doc_heatmap(d, stem, &h,
                    "MRR drop per relation when blocking its top-N experts (grey: not measured).");
        free(v);
        free(rows);
    }
    doc_figs_end(d);
    for (size_t i = 0; i < n; i++)
        if (!rep_has_block(&m[i])) rep_note_missing(d, &m[i], "blocking", "block", 1);
    if (nN == 0) return;
    /* per model means */
    static const char *const HM[] = {"Model",
                                     "Blocked",
                                     "Relations",
                                     "Mean MRR drop",
                                     "Mean relative MRR drop",
                                     "Mean HIT@10 drop",
                                     "Most sensitive relation (MRR base → blocked)"};
    doc_table_begin(d, 7, HM);
    for (size_t i = 0; i < n; i++) {
        if (!rep_has_block(&m[i])) continue;
        for (int k = 0; k < nN; k++) {
            double sa = 0, sr = 0, sh = 0, worst = -INFINITY;
            int ca = 0, cr = 0, ch = 0;
            const rep_relation *wr = NULL;
            const rep_cfg *wc = NULL;
            for (size_t j = 0; j < m[i].n_rel; j++) {
                const rep_relation *rl = &m[i].rel[j];
                const rep_cfg *c = rep_find_cfg(rl->block, rl->n_block, Ns[k]);
                if (!c) continue;
                double da = rl->mrr - c->mrr;
                if (isfinite(da)) {
                    sa += da, ca++;
                    if (da > worst) worst = da, wr = rl, wc = c;
                }
                if (isfinite(da) && rl->mrr > 0) sr += da / rl->mrr, cr++;
                if (isfinite(rl->hit10 - c->hit10)) sh += rl->hit10 - c->hit10, ch++;
            }
            if (!ca) continue;
            row_reset(&r);
            row_addf(&r, "%s", m[i].name);
            row_addf(&r, "top-%lld", (long long)Ns[k]);
            row_addf(&r, "%d", ca);
            row_num(&r, sa / ca, 4);
            row_pct(&r, cr ? sr / cr : NAN, 1);
            row_num(&r, ch ? sh / ch : NAN, 4);
            if (wr)
                row_addf(&r, "%s (%.3f → %.3f)", wr->name, wr->mrr, wc->mrr);
            else
                row_addf(&r, "–");
            row_emit(d, &r);
        }
    }
    doc_table_end(d);
    /* Table 8: relation-major */
    doc_h(d, 3, "table8", "HIT@10 and MRR with the top experts blocked, per relation (Table 8)");
    const char *head[REP_MAX_COLS];
    char hb[REP_MAX_COLS][64];
    int nc = 0;
    head[nc++] = "Relation";
    head[nc++] = "Model";
    head[nc++] = "Top-5 routed experts [layer, expert]";
    head[nc++] = "MRR";
    for (int k = 0; k < nN && nc < REP_MAX_COLS; k++, nc++) {
        snprintf(hb[nc], sizeof hb[0], "MRR top-%lld blocked", (long long)Ns[k]);
        head[nc] = hb[nc];
    }
    head[nc++] = "HIT@10";
    for (int k = 0; k < nN && nc < REP_MAX_COLS; k++, nc++) {
        snprintf(hb[nc], sizeof hb[0], "HIT@10 top-%lld blocked", (long long)Ns[k]);
        head[nc] = hb[nc];
    }
    doc_table_begin(d, nc, head);
    rep_names rels;
    rep_all_relations(m, n, &rels);
    for (size_t q = 0; q < rels.n; q++)
        for (size_t i = 0; i < n; i++) {
            const rep_relation *rl = rep_find_relation(&m[i], rels.v[q]);
            if (!rl || !rl->n_block) continue;
            row_reset(&r);
            row_addf(&r, "%s", rl->name);
            row_addf(&r, "%s", m[i].name);
            char ex[200] = "";
            size_t o = 0;
            for (int t = 0; t < rl->n_top && t < 5; t++)
                o += (size_t)snprintf(ex + o, sizeof ex - o, "%s[%lld,%lld]", t ? " " : "",
                                      (long long)rl->top[t][0], (long long)rl->top[t][1]);
            row_addf(&r, "%s", rl->n_top ? ex : "–");
            row_num(&r, rl->mrr, 3);
            for (int k = 0; k < nN; k++) {
                const rep_cfg *c = rep_find_cfg(rl->block, rl->n_block, Ns[k]);
                row_num(&r, c ? c->mrr : NAN, 3);
            }
            row_num(&r, rl->hit10, 3);
            for (int k = 0; k < nN; k++) {
                const rep_cfg *c = rep_find_cfg(rl->block, rl->n_block, Ns[k]);
                row_num(&r, c ? c->hit10 : NAN, 3);
            }
            row_emit(d, &r);
        }
    doc_table_end(d);
    rep_names_free(&rels);
}
