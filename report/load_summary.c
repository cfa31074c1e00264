/* load_summary.c — a gain summary (analyses/<rel>/summary, analyses/pooled/summary, written by
 * stages/summarise.c) into a rep_summary: totals, the peak layer, the gain curves and the
 * early / mid / late stages with their layer bounds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/archive.h"
#include "report/internal.h"

const char *const REP_STAGE_NAMES[REP_NSTAGE] = {"early", "mid", "late"};

void rep_summary_load(arc_reader *r, const char *g, rep_summary *s)
{
    memset(s, 0, sizeof *s);
    s->n = s->total_ffn = s->total_attn = s->layer_eff = s->peak = s->peak_pct = NAN;
    for (int i = 0; i < REP_NSTAGE; i++) s->stage_gain[i] = s->stage_share[i] = s->stage_gpl[i] = NAN;
    if (arc_kind_of(r, g) != ARC_GROUP) return;
    s->have = 1;
    s->n = rep_get_num(r, g, "n");
    s->total_ffn = rep_get_num(r, g, "total_ffn_gain");
    s->total_attn = rep_get_num(r, g, "total_attn_gain");
    s->layer_eff = rep_get_num(r, g, "layer_efficiency");
    s->peak = rep_get_num(r, g, "peak_ffn_layer");
    s->peak_pct = rep_get_num(r, g, "peak_ffn_layer_pct");
    int64_t nf = 0, na = 0;
    if (rep_get_vec(r, g, "ffn_gain_curve", &s->ffn_curve, &nf) != 0) nf = 0;
    if (rep_get_vec(r, g, "attn_gain_curve", &s->attn_curve, &na) != 0) na = 0;
    if (s->attn_curve && s->ffn_curve && na != nf) { /* inconsistent: keep the FFN curve */
        free(s->attn_curve);
        s->attn_curve = NULL;
    }
    s->n_curve = s->ffn_curve ? nf : na;
    for (int i = 0; i < REP_NSTAGE; i++) {
        s->stage_gain[i] = rep_get_member(r, g, "stage_gain", REP_STAGE_NAMES[i], i);
        s->stage_share[i] = rep_get_member(r, g, "stage_share", REP_STAGE_NAMES[i], i);
        s->stage_gpl[i] = rep_get_member(r, g, "stage_gain_per_layer", REP_STAGE_NAMES[i], i);
        /* the ranges (refs: top-level `stages`), as [a, b] under stages/<name> or stages_<name> */
        double *v;
        int64_t n;
        char p[512], nm[64];
        snprintf(p, sizeof p, "%s/stages", g);
        snprintf(nm, sizeof nm, "stages_%s", REP_STAGE_NAMES[i]);
        if ((arc_kind_of(r, p) == ARC_GROUP && rep_get_vec(r, p, REP_STAGE_NAMES[i], &v, &n) == 0) ||
            rep_get_vec(r, g, nm, &v, &n) == 0) {
            if (n == 2 && v[0] >= 0 && v[1] >= 0) {
                s->stage_first[i] = (int64_t)v[0];
                s->stage_last[i] = (int64_t)v[1];
            }
            free(v);
        }
    }
}

void rep_summary_free(rep_summary *s)
{
    free(s->ffn_curve);
    free(s->attn_curve);
    memset(s, 0, sizeof *s);
}
