/* sec_stages.c — Figure 3: each early / mid / late stage's share of the total FFN gain and its
 * gain per layer, pooled over relations, as bar charts and a table with the stage bounds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/sections.h"

void sec_stages(rep_doc *d, rep_model *m, size_t n)
{
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
        doc_bar(d, "fig3_stage_share", &b,
                "Early / mid / late share of the total FFN gain, per model.");
        b.title = "FFN gain per layer in each stage";
        b.ylabel = "stage gain / layers in stage";
        b.v = gpl;
        b.value_fmt = "%.2f";
        doc_bar(d, "fig3_stage_gain_per_layer", &b,
                "Stage gain divided by the number of layers in the stage.");
        doc_figs_end(d);
        rep_row r;
        static const char *const H[] = {
            "Model",      "Early layers", "Early share",    "Early gain",     "Early gain/layer",
            "Mid layers", "Mid share",    "Mid gain",       "Mid gain/layer", "Late layers",
            "Late share", "Late gain",    "Late gain/layer"};
        doc_table_begin(d, 13, H);
        for (size_t i = 0; i < n; i++) {
            const rep_summary *s = &m[i].pooled;
            if (!s->have) continue;
            int64_t f0[REP_NSTAGE], l0[REP_NSTAGE];
            int hb = rep_stage_bounds(&m[i], f0, l0);
            row_reset(&r);
            row_addf(&r, "%s", m[i].name);
            for (int k = 0; k < REP_NSTAGE; k++) {
                if (hb && f0[k] < l0[k])
                    row_addf(&r, "%lld–%lld", (long long)f0[k], (long long)l0[k]);
                else if (hb && f0[k] == l0[k])
                    row_addf(&r, "%lld", (long long)f0[k]);
                else
                    row_addf(&r, "%s", hb ? "none" : "–");
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
        doc_note(d, "stage shares of %s: %s.", m[i].name,
                 rep_why_missing(&m[i], "summarise", 0, why, sizeof why));
    }
}
