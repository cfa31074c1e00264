/* load_summary.c — a gain summary (analyses/<rel>/summary, analyses/pooled/summary, written by
 * stages/summarise.c; entries in stages/schema_summarise.c) into a rep_summary: totals, the
 * peak layer, the gain curves and the early / mid / late stages with their layer bounds. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/archive.h"
#include "report/internal.h"
#include "stages/schema_summarise.h"

const char *const REP_STAGE_NAMES[REP_NSTAGE] = {"early", "mid", "late"};

/* One attribute per stage of the subgroup `group` (stage_gain, stage_share, ...). */
static void per_stage(arc_reader *r, const char *rel, const sch_entry *group, const sch_entry *e,
                      double out[REP_NSTAGE])
{
    char p[512];
    for (int i = 0; i < REP_NSTAGE; i++) out[i] = NAN;
    if (sch_path(p, sizeof p, NULL, group, rel) != 0) return;
    for (int i = 0; i < REP_NSTAGE; i++) out[i] = sch_get_num(r, e, p, REP_STAGE_NAMES[i]);
}

void rep_summary_load(arc_reader *r, const char *rel, rep_summary *s)
{
    char g[512], p[512];
    memset(s, 0, sizeof *s);
    s->n = s->total_ffn = s->total_attn = s->layer_eff = s->peak = s->peak_pct = NAN;
    for (int i = 0; i < REP_NSTAGE; i++)
        s->stage_gain[i] = s->stage_share[i] = s->stage_gpl[i] = NAN;
    if (sch_path(g, sizeof g, NULL, SUM(GROUP), rel) != 0 || !sch_has(r, SUM(GROUP), g)) return;
    s->have = 1;
    s->n = sch_get_num(r, SUM(N), g, NULL);
    s->total_ffn = sch_get_num(r, SUM(TOTAL_FFN_GAIN), g, NULL);
    s->total_attn = sch_get_num(r, SUM(TOTAL_ATTN_GAIN), g, NULL);
    s->layer_eff = sch_get_num(r, SUM(LAYER_EFFICIENCY), g, NULL);
    s->peak = sch_get_num(r, SUM(PEAK_FFN_LAYER), g, NULL);
    s->peak_pct = sch_get_num(r, SUM(PEAK_FFN_LAYER_PCT), g, NULL);
    int64_t nf = 0, na = 0;
    if (sch_path(p, sizeof p, NULL, SUM(FFN_GAIN_CURVE), rel) != 0 ||
        sch_get_vec(r, SUM(FFN_GAIN_CURVE), p, NULL, &s->ffn_curve, &nf) != 0)
        nf = 0;
    if (sch_path(p, sizeof p, NULL, SUM(ATTN_GAIN_CURVE), rel) != 0 ||
        sch_get_vec(r, SUM(ATTN_GAIN_CURVE), p, NULL, &s->attn_curve, &na) != 0)
        na = 0;
    if (s->attn_curve && s->ffn_curve && na != nf) { /* inconsistent: keep the FFN curve */
        free(s->attn_curve);
        s->attn_curve = NULL;
    }
    s->n_curve = s->ffn_curve ? nf : na;
    per_stage(r, rel, SUM(STAGE_GAIN), SUM(STAGE_GAIN_OF), s->stage_gain);
    per_stage(r, rel, SUM(STAGE_SHARE), SUM(STAGE_SHARE_OF), s->stage_share);
    per_stage(r, rel, SUM(STAGE_GPL), SUM(STAGE_GPL_OF), s->stage_gpl);
    /* the stages' layer ranges [first, last] (empty stages are [-1, -1]: unknown here) */
    if (sch_path(p, sizeof p, NULL, SUM(STAGES), rel) != 0) return;
    for (int i = 0; i < REP_NSTAGE; i++) {
        double *v;
        int64_t n;
        if (sch_get_vec(r, SUM(STAGES_OF), p, REP_STAGE_NAMES[i], &v, &n) != 0) continue;
        if (n == 2 && v[0] >= 0 && v[1] >= 0) {
            s->stage_first[i] = rep_i64(v[0]);
            s->stage_last[i] = rep_i64(v[1]);
        }
        free(v);
    }
}

void rep_summary_free(rep_summary *s)
{
    free(s->ffn_curve);
    free(s->attn_curve);
    memset(s, 0, sizeof *s);
}
