/* summarise.c — the per-model summaries of docs/method.md (Table 1, Figures 2 and 3) from the
 * per-sample layer gains the capture pass stored with stage `attribute`:
 *   unit summarise/<rel>    -> analyses/<rel>/summary    (the relation's samples)
 *   unit summarise/pooled   -> analyses/pooled/summary   (every sample of every relation of
 *                                                          the run, each weighted equally)
 * Archive only (no model): rank 0 reads attribution/<rel>/{ffn_gain,attn_gain} [n, L] from
 * the capture units; other ranks return 0 at once.
 *
 * Definitions (docs/method.md "Summaries", as the fixtures' reference analyses; F[s,l] FFN
 * gain, A[s,l] attention gain, l 1-based, n samples):
 *   total_ffn_gain = mean_s sum_l F[s,l]     total_attn_gain likewise
 *   layer_efficiency = total_ffn_gain / L
 *   peak_ffn_layer = mean_s of the 1-based argmax_l F[s,l] (exact ties: the lowest layer)
 *   peak_ffn_layer_pct = 100 peak_ffn_layer / L
 *   ffn_gain_curve[l] = mean_s F[s,l]         attn_gain_curve likewise
 *   stage_gain.<st> = sum of ffn_gain_curve over the stage's layers
 *   stage_share.<st> = stage_gain / total_ffn_gain (a ratio of means; NaN if the total is 0)
 *   stage_gain_per_layer.<st> = stage_gain / layers in the stage (NaN for an empty stage)
 *   peak_min_margin = min_s (largest - second largest F[s,.]) (NaN if L < 2 or n = 0)
 * Stages: early = 1..round(e L), mid = ..round((e + m) L), late = the rest, round half-up
 * (stats_stage_bounds), e, m = summarise.stages.{early,mid} (late is the remainder; the
 * config checks that the three sum to 1).
 *
 * The HDF5 layout is the schema table stages/schema_summarise.c (docs/archive.md): the refs'
 * JSON scalars become attributes of the group, lists float64 datasets [layer], objects
 * subgroups with one attribute per key (stage_gain, stage_share, stage_gain_per_layer with
 * early, mid, late), null NaN; the refs' top-level `stages` is the subgroup summary/stages
 * (int64 [first, last], 1-based, first > last for an empty stage, and the fractions). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages/schema_summarise.h"
#include "stages/analysis.h"
#include "stages/stats.h"

static const char *const STAGE_NAMES[3] = {"early", "mid", "late"};

typedef struct sm_summary {
    int64_t n, L;
    double total_ffn, total_attn, layer_eff, peak_layer, peak_pct, peak_min_margin;
    double *ffn_curve, *attn_curve; /* [L] */
    int64_t first[3], last[3];
    double fraction[3];
    double stage_gain[3], stage_share[3], stage_gpl[3];
} sm_summary;

static void sm_free(sm_summary *s)
{
    free(s->ffn_curve);
    free(s->attn_curve);
    memset(s, 0, sizeof *s);
}

/* F, A: [n, L] row-major. */
static int sm_compute(const rcfg *cfg, const double *F, const double *A, int64_t n, int64_t L,
                      sm_summary *s, mp_err *err)
{
    memset(s, 0, sizeof *s);
    s->n = n;
    s->L = L;
    s->ffn_curve = calloc((size_t)(L > 0 ? L : 1), sizeof *s->ffn_curve);
    s->attn_curve = calloc((size_t)(L > 0 ? L : 1), sizeof *s->attn_curve);
    if (!s->ffn_curve || !s->attn_curve) {
        sm_free(s);
        return err_set(err, "out of memory for a summary of %lld layers", (long long)L);
    }
    double tf = 0, ta = 0, peak = 0, min_margin = INFINITY;
    for (int64_t i = 0; i < n; i++) {
        const double *f = F + i * L, *a = A + i * L;
        double rf = 0, ra = 0, best = -INFINITY, second = -INFINITY;
        int64_t arg = 0;
        for (int64_t l = 0; l < L; l++) {
            rf += f[l];
            ra += a[l];
            s->ffn_curve[l] += f[l];
            s->attn_curve[l] += a[l];
            if (f[l] > best) { /* strict: an exact tie keeps the lower layer */
                second = best;
                best = f[l];
                arg = l;
            } else if (f[l] > second) {
                second = f[l];
            }
        }
        tf += rf;
        ta += ra;
        peak += (double)(arg + 1);
        if (L >= 2 && best - second < min_margin) min_margin = best - second;
    }
    const double dn = (double)n;
    for (int64_t l = 0; l < L; l++) {
        s->ffn_curve[l] = n ? s->ffn_curve[l] / dn : NAN;
        s->attn_curve[l] = n ? s->attn_curve[l] / dn : NAN;
    }
    s->total_ffn = n ? tf / dn : NAN;
    s->total_attn = n ? ta / dn : NAN;
    s->layer_eff = L ? s->total_ffn / (double)L : NAN;
    s->peak_layer = n ? peak / dn : NAN;
    s->peak_pct = L ? 100.0 * s->peak_layer / (double)L : NAN;
    s->peak_min_margin = (n && L >= 2) ? min_margin : NAN;
    s->fraction[0] = rcfg_float(cfg, "summarise.stages.early");
    s->fraction[1] = rcfg_float(cfg, "summarise.stages.mid");
    s->fraction[2] = rcfg_float(cfg, "summarise.stages.late");
    stats_stage_bounds(L, s->fraction[0], s->fraction[1], s->first, s->last);
    for (int st = 0; st < 3; st++) {
        double g = 0;
        int64_t cnt = s->last[st] - s->first[st] + 1;
        for (int64_t l = s->first[st]; l <= s->last[st]; l++) g += s->ffn_curve[l - 1];
        s->stage_gain[st] = n ? g : NAN;
        s->stage_share[st] = s->total_ffn != 0 ? s->stage_gain[st] / s->total_ffn : NAN;
        s->stage_gpl[st] = cnt > 0 ? s->stage_gain[st] / (double)cnt : NAN;
    }
    return 0;
}

/* Writes the summary of `rel` ("pooled" for every relation) per the schema's summary entries. */
static int sm_write(arc_unit *u, const char *rel, const sm_summary *s, mp_err *err)
{
    char g[300], p[300];
    if (sch_path(g, sizeof g, err, SUM(GROUP), rel) != 0) return -1;
    const struct {
        const sch_entry *e;
        const double *v;
    } curves[] = {{SUM(FFN_GAIN_CURVE), s->ffn_curve}, {SUM(ATTN_GAIN_CURVE), s->attn_curve}};
    for (size_t i = 0; i < sizeof curves / sizeof *curves; i++) {
        if (sch_path(p, sizeof p, err, curves[i].e, rel) != 0 ||
            sch_write(u, curves[i].e, p, &s->L, curves[i].v, err) != 0)
            return -1;
    }
    const struct {
        const sch_entry *e;
        double v;
    } sc[] = {{SUM(TOTAL_FFN_GAIN), s->total_ffn},    {SUM(TOTAL_ATTN_GAIN), s->total_attn},
              {SUM(LAYER_EFFICIENCY), s->layer_eff},  {SUM(PEAK_FFN_LAYER), s->peak_layer},
              {SUM(PEAK_FFN_LAYER_PCT), s->peak_pct}, {SUM(PEAK_MIN_MARGIN), s->peak_min_margin}};
    if (sch_attr_i64(u, SUM(N), g, NULL, s->n, err) != 0) return -1;
    for (size_t i = 0; i < sizeof sc / sizeof *sc; i++)
        if (sch_attr_f64(u, sc[i].e, g, NULL, sc[i].v, err) != 0) return -1;
    const struct {
        const sch_entry *group, *e;
        const double *v;
    } per[] = {{SUM(STAGE_GAIN), SUM(STAGE_GAIN_OF), s->stage_gain},
               {SUM(STAGE_SHARE), SUM(STAGE_SHARE_OF), s->stage_share},
               {SUM(STAGE_GPL), SUM(STAGE_GPL_OF), s->stage_gpl}};
    for (size_t i = 0; i < sizeof per / sizeof *per; i++) {
        if (sch_path(p, sizeof p, err, per[i].group, rel) != 0) return -1;
        for (int st = 0; st < 3; st++)
            if (sch_attr_f64(u, per[i].e, p, STAGE_NAMES[st], per[i].v[st], err) != 0) return -1;
    }
    if (sch_path(p, sizeof p, err, SUM(STAGES), rel) != 0) return -1;
    for (int st = 0; st < 3; st++) {
        int64_t b[2] = {s->first[st], s->last[st]};
        if (sch_attr_i64_array(u, SUM(STAGES_OF), p, STAGE_NAMES[st], 2, b, err) != 0) return -1;
    }
    return sch_attr_f64_array(u, SUM(STAGES_FRACTIONS), p, NULL, 3, s->fraction, err);
}

/* Appends the relation's F and A rows (from unit capture/<rel>) to *F, *A (realloc'd). */
static int read_gains(const analysis_ctx *c, const char *rel, int64_t L, double **F, double **A,
                      int64_t *n, mp_err *err)
{
    char unit[ARC_MAX_UNIT_ID + 16], pf[300], pa[300];
    arc_reader *rd = NULL;
    arc_array af = {0}, aa = {0};
    int rc = -1;
    snprintf(unit, sizeof unit, "capture/%s", rel);
    snprintf(pf, sizeof pf, "attribution/%s/ffn_gain", rel);
    snprintf(pa, sizeof pa, "attribution/%s/attn_gain", rel);
    if (analysis_open_unit(c, unit, &rd, err) != 0) goto done;
    if (arc_kind_of(rd, pf) != ARC_DATASET || arc_kind_of(rd, pa) != ARC_DATASET) {
        const char *miss = arc_kind_of(rd, pf) != ARC_DATASET ? pf : pa;
        if (!rcfg_list_has(c->cfg, "stages", "attribute"))
            err_set(err,
                    "%s has no %s: stage summarise needs stage attribute, which is not in "
                    "`stages` of %s (add it; the capture units then need a fresh `out` folder)",
                    unit, miss, rcfg_source(c->cfg));
        else
            err_set(err,
                    "%s has no %s: stage summarise needs stage attribute, and this capture "
                    "unit was made without it (run capture again into a fresh `out` folder)",
                    unit, miss);
        goto done;
    }
    if (arc_read(rd, pf, &af, err) != 0 || arc_read(rd, pa, &aa, err) != 0) goto done;
    if (af.type != ARC_F64 || aa.type != ARC_F64 || af.ndim != 2 || aa.ndim != 2 ||
        af.shape[1] != L || aa.shape[1] != L || aa.shape[0] != af.shape[0]) {
        err_set(err,
                "%s: %s is %s [%lld, %lld] and %s is %s [%lld, %lld] (expected float64 "
                "[n, %lld] both)",
                unit, pf, arc_type_name(af.type), (long long)af.shape[0],
                (long long)(af.ndim > 1 ? af.shape[1] : -1), pa, arc_type_name(aa.type),
                (long long)aa.shape[0], (long long)(aa.ndim > 1 ? aa.shape[1] : -1), (long long)L);
        goto done;
    }
    int64_t m = af.shape[0];
    double *nf = realloc(*F, (size_t)((*n + m) * L + 1) * sizeof *nf);
    if (nf) *F = nf;
    double *na = realloc(*A, (size_t)((*n + m) * L + 1) * sizeof *na);
    if (na) *A = na;
    if (!nf || !na) {
        err_set(err, "out of memory reading %s of %s", pf, unit);
        goto done;
    }
    memcpy(*F + *n * L, af.data, (size_t)(m * L) * sizeof **F);
    memcpy(*A + *n * L, aa.data, (size_t)(m * L) * sizeof **A);
    *n += m;
    rc = 0;
done:
    arc_array_free(&af);
    arc_array_free(&aa);
    arc_reader_close(rd);
    return rc;
}

static int summarise_common(analysis_ctx *c, int pooled, mp_err *err)
{
    const int64_t L = c->model_cfg->num_hidden_layers;
    double *F = NULL, *A = NULL;
    int64_t n = 0;
    sm_summary s;
    int rc = -1;
    memset(&s, 0, sizeof s);
    if (c->rank != 0) return 0;
    if (pooled) {
        for (size_t i = 0; i < c->rels->n; i++)
            if (read_gains(c, c->rels->rel[i].id, L, &F, &A, &n, err) != 0) goto done;
    } else if (read_gains(c, c->rel->id, L, &F, &A, &n, err) != 0) {
        goto done;
    }
    if (sm_compute(c->cfg, F, A, n, L, &s, err) != 0 ||
        sm_write(c->out, pooled ? "pooled" : c->rel->id, &s, err) != 0)
        goto done;
    rc = 0;
done:
    sm_free(&s);
    free(F);
    free(A);
    return rc;
}

static int summarise_run(analysis_ctx *c, mp_err *err)
{
    return summarise_common(c, 0, err);
}

static int summarise_pooled_run(analysis_ctx *c, mp_err *err)
{
    return summarise_common(c, 1, err);
}

/* The summary (Table 1, Figures 2-3) and its early / mid / late layer stages. */
/* clang-format off */
static const rcfg_key SUMMARISE_KEYS[] = {
    {"summarise", RCFG_MAP, 0, NULL, RCFG_NOLIM, NULL, "Per-model summaries (Table 1, Figures 2-3)."},
    {"summarise.stages", RCFG_MAP, 0, NULL, RCFG_NOLIM, NULL,
     "Early / mid / late layer ranges as fractions of depth; they must sum to 1."},
    {"summarise.stages.early", RCFG_FLOAT, 0, "0.55", 0, 1, NULL,
     "Fraction of layers in the early stage (the paper's 1-13 of 24)."},
    {"summarise.stages.mid", RCFG_FLOAT, 0, "0.25", 0, 1, NULL,
     "Fraction of layers in the mid stage (14-19 of 24)."},
    {"summarise.stages.late", RCFG_FLOAT, 0, "0.20", 0, 1, NULL,
     "Fraction of layers in the late stage (20-24 of 24)."},
};
/* clang-format on */

/* The early, mid and late fractions cover the depth exactly. */
static int check_stage_fractions(const rcfg *c, char *msg, size_t len)
{
    double sum = rcfg_float(c, "summarise.stages.early") + rcfg_float(c, "summarise.stages.mid") +
                 rcfg_float(c, "summarise.stages.late");
    if (fabs(sum - 1.0) <= 1e-6) return 0;
    snprintf(msg, len, "'summarise.stages' fractions sum to %g (expected early + mid + late = 1)",
             sum);
    return -1;
}

const analysis_def analysis_summarise = {
    .name = "summarise",
    .order = 20,
    .scope = ANALYSIS_PER_RELATION,
    .after = {"capture", "attribute"},
    .run = summarise_run,
    .doc = "per-relation summary of the layer gains (Table 1, Figures 2-3): totals, layer "
           "efficiency, peak layer, gain curves, stage shares (analyses/<rel>/summary); needs "
           "stage attribute",
    .config = {SUMMARISE_KEYS, sizeof SUMMARISE_KEYS / sizeof SUMMARISE_KEYS[0], "summarise.stages",
               check_stage_fractions},
};

const analysis_def analysis_summarise_pooled = {
    .name = "summarise",
    .order = 21,
    .scope = ANALYSIS_PER_MODEL,
    .unit_name = "pooled",
    .after = {"capture", "attribute"},
    .run = summarise_pooled_run,
    .doc = "the same summary over every sample of every relation (analyses/pooled/summary)",
};
