/* sec_attribution.c — Table 1, knowledge attribution per model: HIT@10, MRR and the pooled gain
 * summary per model, the per-relation metrics side by side and each model's per-relation
 * summaries. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/sections.h"

void sec_attribution(rep_doc *d, rep_model *m, size_t n)
{
    rep_row r;
    doc_p(d, "HIT@10 and MRR are over all samples of all relations (each relation weighted by its "
             "sample count); the gains, the peak gain layer (1-based, mean over samples, with its "
             "relative depth) and the layer efficiency (total FFN gain / number of layers) are the "
             "pooled summary of analyses/pooled/summary.");
    static const char *const H[] = {"Model",
                                    "Relations",
                                    "Samples",
                                    "HIT@10",
                                    "MRR",
                                    "Total FFN gain",
                                    "Total attn gain",
                                    "Peak gain layer (relative %)",
                                    "Layer efficiency (FFN gain / layers)",
                                    "Layers"};
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
        row_num(&r, rep_mean_rel(&m[i], rep_get_hit10, NULL, NULL), 3);
        row_num(&r, rep_mean_rel(&m[i], rep_get_mrr, NULL, NULL), 3);
        row_num(&r, s->total_ffn, 3);
        row_num(&r, s->total_attn, 3);
        if (isfinite(s->peak))
            row_addf(&r, "%.2f (%.1f%%)", s->peak, s->peak_pct);
        else
            row_addf(&r, "–");
        row_num(&r, s->layer_eff, 3);
        int L = rep_layers(&m[i]);
        if (L > 0)
            row_addf(&r, "%d", L);
        else
            row_addf(&r, "–");
        row_emit(d, &r);
    }
    doc_table_end(d);
    for (size_t i = 0; i < n; i++)
        if (!m[i].pooled.have) {
            char why[400];
            doc_note(d, "gains for %s: %s.", m[i].name,
                     rep_why_missing(&m[i], "summarise", 0, why, sizeof why));
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
        static const char *const HS[] = {"Relation",
                                         "n",
                                         "HIT@10",
                                         "MRR",
                                         "Total FFN gain",
                                         "Total attn gain",
                                         "Peak gain layer (relative %)",
                                         "Layer efficiency",
                                         "Early share",
                                         "Mid share",
                                         "Late share"};
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
            if (isfinite(s->peak))
                row_addf(&r, "%.2f (%.1f%%)", s->peak, s->peak_pct);
            else
                row_addf(&r, "–");
            row_num(&r, s->layer_eff, 3);
            for (int k = 0; k < REP_NSTAGE; k++) row_pct(&r, s->stage_share[k], 1);
            row_emit(d, &r);
        }
        doc_table_end(d);
        doc_details_end(d);
    }
}
