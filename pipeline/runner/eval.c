/* eval.c — runner_eval (runner.h): the per-sample ranks and margins of an evaluation pass, in
 * float32, or bf16-screened (eval_precision): every sample run with bf16 products, the close
 * ones and the sentinels recomputed in float32, so the ranks equal float32's (docs/method.md). */
#include "pipeline/runner/runner.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/ops/internal.h"
#include "pipeline/ops/ops.h"
#include "pipeline/parallel/comm.h"
#include "pipeline/runner/internal.h"

/* ---- evaluation -------------------------------------------------------------------------- */

/* One evaluation pass's collection (rank 0): ranks, margins, routing gaps; for calibration also
 * every sample's logits and router probabilities. */
typedef struct eval_ctx {
    eval_result *out;
    float *gap;           /* [n] or NULL */
    int calib;            /* pack logits and router probabilities */
    float **logits;       /* [n][V] (calib) */
    float **prob;         /* [n][moe layers * len * E] router logits (calib) */
    int64_t *nprob;       /* [n] */
    const int64_t *index; /* the pass's sample i is result index[i] (a recomputed subset) */
} eval_ctx;

/* The router logits of every MoE layer and position (after blocking), layer after layer. */
static int pack_router(const runner_sample *s, blob *out, mp_err *err)
{
    const mcfg *c = &s->r->model.cfg;
    const int len = s->ps->len[s->sample], E = c->num_experts;
    int64_t nl = 0;
    for (int l = 0; l < c->num_hidden_layers; l++) nl += c->layer_is_moe[l] != 0;
    int64_t n = nl * len * E, o = 0;
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    if (!p) return err_set(err, "calibration: out of memory");
    for (int l = 0; l < c->num_hidden_layers; l++) {
        if (!c->layer_is_moe[l]) continue;
        for (int pos = 0; pos < len; pos++, o += E) {
            const hook_record *h =
                hook_store_find(s->store, HP_ROUTER_LOGITS, s->sample, l, pos, -1);
            if (!h || h->n != E) {
                free(p);
                return err_set(err, "calibration: no router logits for layer %d position %d", l,
                               pos);
            }
            memcpy(p + o, h->data, (size_t)E * sizeof *p);
        }
    }
    blob_put(out, "prob", BLOB_F32, 1, &n, p);
    free(p);
    return 0;
}

static int eval_sample(void *ctx, const runner_sample *s, blob *out, mp_err *err)
{
    const eval_ctx *c = ctx;
    int64_t rank;
    double margin;
    if (s->ps->target[s->sample] < 0)
        return err_set(err, "no target for prompt \"%s\" (an object is needed to evaluate)",
                       s->ps->prompt[s->sample]);
    if (runner_rank(s->logits, s->r->model.cfg.vocab_size, s->ps->target[s->sample], &rank, &margin,
                    err) != 0)
        return -1;
    blob_put_i64(out, "rank", rank);
    blob_put_f64(out, "margin", margin);
    if (c->gap) blob_put_f64(out, "gap", s->route_gap);
    if (c->calib) {
        int64_t V = s->r->model.cfg.vocab_size;
        blob_put(out, "logits", BLOB_F32, 1, &V, s->logits);
        return pack_router(s, out, err);
    }
    return 0;
}

static int eval_collect(void *ctx, int64_t sample, const void *data, size_t len, mp_err *err)
{
    eval_ctx *c = ctx;
    eval_result *e = c->out;
    const int64_t at = c->index ? c->index[sample] : sample;
    blob_item it;
    if (blob_find(data, len, "rank", &it, err) != 1) return -1;
    memcpy(&e->rank[at], it.data, 8);
    if (blob_find(data, len, "margin", &it, err) != 1) return -1;
    memcpy(&e->margin[at], it.data, 8);
    if (c->gap) {
        double g;
        if (blob_find(data, len, "gap", &it, err) != 1) return -1;
        memcpy(&g, it.data, 8);
        c->gap[at] = (float)g;
    }
    if (c->calib) {
        if (blob_find(data, len, "logits", &it, err) != 1 || !(c->logits[at] = blob_to_f32(&it)))
            return err_set(err, "calibration: logits missing or out of memory");
        if (blob_find(data, len, "prob", &it, err) != 1 || !(c->prob[at] = blob_to_f32(&it)))
            return err_set(err, "calibration: router probabilities missing or out of memory");
        c->nprob[at] = it.count;
    }
    return 0;
}

void eval_result_free(eval_result *e)
{
    free(e->rank);
    free(e->margin);
    memset(e, 0, sizeof *e);
}

/* rank 0's nb bytes at dst to every rank */
static void bcast_into(void *dst, size_t nb)
{
    void *p = dst;
    comm_bcast_bytes(&p, &nb, 0);
    if (p != dst) {
        memcpy(dst, p, nb);
        free(p);
    }
}

/* One pass over ps (or its samples sel[0..nsel) when sel is set), in float32 or with bf16
 * products, into out / gap at the samples' indices; every rank gets the results. */
static int eval_pass(runner *r, const prompt_set *ps, const int64_t *sel, int64_t nsel,
                     const intervention *iv, const float *const *force_weight, int bf16,
                     eval_ctx *c, mp_err *err)
{
    prompt_set sub = {0};
    const float **fw = NULL;
    hook_set hs;
    runner_job job = {0};
    int rc = -1;
    if (sel) { /* a view of the selected samples: the pointers stay ps's */
        sub.n = nsel;
        sub.prompt = malloc((size_t)(nsel > 0 ? nsel : 1) * sizeof *sub.prompt);
        sub.object = malloc((size_t)(nsel > 0 ? nsel : 1) * sizeof *sub.object);
        sub.ids = malloc((size_t)(nsel > 0 ? nsel : 1) * sizeof *sub.ids);
        sub.len = malloc((size_t)(nsel > 0 ? nsel : 1) * sizeof *sub.len);
        sub.target = malloc((size_t)(nsel > 0 ? nsel : 1) * sizeof *sub.target);
        if (force_weight) fw = malloc((size_t)(nsel > 0 ? nsel : 1) * sizeof *fw);
        if (!sub.prompt || !sub.object || !sub.ids || !sub.len || !sub.target ||
            (force_weight && !fw)) {
            err_set(err, "evaluation: out of memory");
            goto done;
        }
        for (int64_t i = 0; i < nsel; i++) {
            const int64_t k = sel[i];
            sub.prompt[i] = ps->prompt[k];
            sub.object[i] = ps->object[k];
            sub.ids[i] = ps->ids[k];
            sub.len[i] = ps->len[k];
            sub.target[i] = ps->target[k];
            if (fw) fw[i] = force_weight[k];
        }
    }
    job.ps = sel ? &sub : ps;
    job.iv = iv;
    job.force_weight = sel ? (const float *const *)fw : force_weight;
    job.on_sample = eval_sample;
    job.sample_ctx = c;
    job.on_collect = eval_collect;
    job.collect_ctx = c;
    job.want_gap = c->gap != NULL;
    job.label = "evaluation";
    c->index = sel;
    if (c->calib) {
        hook_set_init(&hs);
        hook_request_all(&hs, HP_ROUTER_LOGITS, HOOK_POS_ALL);
        job.hooks = &hs;
    }
    const int was = gemm_set_bf16(bf16);
    rc = runner_map(r, &job, err);
    gemm_set_bf16(was);
    c->index = NULL;
    if (rc != 0) goto done;
    /* every rank gets the ranks: later decisions (top experts, pairs) must agree */
    bcast_into(c->out->rank, (size_t)ps->n * 8);
    bcast_into(c->out->margin, (size_t)ps->n * 8);
    if (c->gap) bcast_into(c->gap, (size_t)ps->n * sizeof *c->gap);
done:
    free(sub.prompt);
    free(sub.object);
    free(sub.ids);
    free(sub.len);
    free(sub.target);
    free(fw);
    return rc;
}

static double env_double(const char *name, double dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtod(v, NULL) : dflt;
}

#define SCREEN_SAFETY 4.0  /* bound = SAFETY x the largest discrepancy calibration saw */
#define SCREEN_CALIB 32    /* samples run both ways to calibrate: n/8, 4 .. 32 of them */
#define SCREEN_SENTINEL 16 /* every 16th sample not close is recomputed too */

/* A bf16 checkpoint: every weight the forward pass multiplies by is BF16 (else screening has
 * nothing to gain and runs float32). */
static int model_is_bf16(const mp_model *m)
{
    if (m->lm_head.dtype != MP_BF16) return 0;
    for (int l = 0; l < m->cfg.num_hidden_layers; l++)
        if (m->layers[l].q_proj.dtype != MP_BF16 || m->layers[l].o_proj.dtype != MP_BF16) return 0;
    return 1;
}

/* Every screened pass calibrates on its own first samples (so a pass's result does not depend
 * on which passes this process ran before: resumed and array-split runs record the same): they
 * run in float32 and with bf16 products. The bounds are SAFETY x the largest discrepancy seen:
 * of a logit difference (l_v - l_target) for the margin, and per layer twice that of a router
 * logit for the routing gap (a gap between two logits moves by at most twice the largest move
 * of one). The float32 results of those samples go to keep (they are final); *ncal = their
 * number. */
static int screen_calibrate(runner *r, const prompt_set *ps, const intervention *iv,
                            const float *const *force_weight, eval_result *keep, int64_t *ncal,
                            mp_err *err)
{
    runner_screen *sc = &r->screen;
    const mcfg *mc = &r->model.cfg;
    const int L = mc->num_hidden_layers, E = mc->num_experts;
    const int64_t want = ps->n / 8 < 4 ? 4 : ps->n / 8 > SCREEN_CALIB ? SCREEN_CALIB : ps->n / 8;
    const int64_t n = ps->n < want ? ps->n : want, V = mc->vocab_size;
    int64_t *sel = malloc((size_t)(n > 0 ? n : 1) * sizeof *sel);
    double *d = calloc((size_t)(2 + 2 * L), sizeof *d); /* logit, |logit|, router[L], |router|[L] */
    eval_result tmp[2] = {{0}, {0}};
    eval_ctx c[2];
    int rc = -1;
    memset(c, 0, sizeof c);
    if (!sel || !d) {
        err_set(err, "calibration: out of memory");
        goto done;
    }
    if (!sc->d_router) sc->d_router = calloc((size_t)L, sizeof *sc->d_router);
    if (!sc->gap_scale) sc->gap_scale = calloc((size_t)L, sizeof *sc->gap_scale);
    if (!sc->d_router || !sc->gap_scale) {
        err_set(err, "calibration: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) sel[i] = i;
    for (int w = 0; w < 2; w++) {
        tmp[w].n = ps->n;
        tmp[w].rank = calloc((size_t)(ps->n > 0 ? ps->n : 1), sizeof *tmp[w].rank);
        tmp[w].margin = calloc((size_t)(ps->n > 0 ? ps->n : 1), sizeof *tmp[w].margin);
        c[w].out = &tmp[w];
        c[w].calib = 1;
        c[w].logits = calloc((size_t)(ps->n > 0 ? ps->n : 1), sizeof *c[w].logits);
        c[w].prob = calloc((size_t)(ps->n > 0 ? ps->n : 1), sizeof *c[w].prob);
        c[w].nprob = calloc((size_t)(ps->n > 0 ? ps->n : 1), sizeof *c[w].nprob);
        if (!tmp[w].rank || !tmp[w].margin || !c[w].logits || !c[w].prob || !c[w].nprob) {
            err_set(err, "calibration: out of memory");
            goto done;
        }
        if (eval_pass(r, ps, sel, n, iv, force_weight, w, &c[w], err) != 0) goto done;
    }
    if (r->rank == 0)
        for (int64_t i = 0; i < n; i++) {
            const float *f = c[0].logits[i], *b = c[1].logits[i];
            const int32_t t = ps->target[i];
            for (int64_t v = 0; v < V; v++) {
                const double e = fabs(((double)b[v] - b[t]) - ((double)f[v] - f[t]));
                if (e > d[0]) d[0] = e;
                if (fabs(f[v]) > d[1]) d[1] = fabs(f[v]);
            }
            int64_t o = 0;
            for (int l = 0; l < L; l++) {
                if (!mc->layer_is_moe[l]) continue;
                for (int64_t q = 0; q < (int64_t)ps->len[i] * E; q++, o++) {
                    if (o >= c[0].nprob[i] || o >= c[1].nprob[i]) break;
                    const float fr = c[0].prob[i][o], br = c[1].prob[i][o];
                    if (isinf(fr) && fr == br) continue; /* blocked in both */
                    const double e = fabs((double)br - fr);
                    if (e > d[2 + l]) d[2 + l] = e;
                    if (fabs(fr) > d[2 + L + l]) d[2 + L + l] = fabs(fr);
                }
            }
        }
    bcast_into(d, (size_t)(2 + 2 * L) * sizeof *d);
    /* floors of a few float32 ulps: a discrepancy of exactly 0 on the calibration samples says
     * little about the others */
    sc->d_logit = d[0];
    sc->bound_logit = SCREEN_SAFETY * fmax(d[0], 8.0 * FLT_EPSILON * d[1]);
    double dmax = 0, bmin = INFINITY, bmax = 0;
    for (int l = 0; l < L; l++) {
        sc->d_router[l] = d[2 + l];
        const double b = SCREEN_SAFETY * 2.0 * fmax(d[2 + l], 8.0 * FLT_EPSILON * d[2 + L + l]);
        sc->gap_scale[l] = mc->layer_is_moe[l] && b > 0 ? (float)(1.0 / b) : 1.0f;
        if (!mc->layer_is_moe[l]) continue;
        dmax = fmax(dmax, d[2 + l]);
        bmin = fmin(bmin, b);
        bmax = fmax(bmax, b);
    }
    sc->calib_samples = n;
    sc->calibrated = 1;
    memcpy(keep->rank, tmp[0].rank, (size_t)n * sizeof *keep->rank);
    memcpy(keep->margin, tmp[0].margin, (size_t)n * sizeof *keep->margin);
    *ncal = n;
    if (r->rank == 0 && !sc->logged++)
        fprintf(stderr,
                "moeprobe: bf16 screening calibrated on %lld samples: largest discrepancy %.3g "
                "(logit difference), %.3g (router logit); close below %.3g (margin), %.3g .. "
                "%.3g by layer (routing gap in router logits)\n",
                (long long)n, d[0], dmax, sc->bound_logit, isinf(bmin) ? 0.0 : bmin, bmax);
    rc = 0;
done:
    for (int w = 0; w < 2; w++) {
        for (int64_t i = 0; i < ps->n && c[w].logits; i++) free(c[w].logits[i]);
        for (int64_t i = 0; i < ps->n && c[w].prob; i++) free(c[w].prob[i]);
        free(c[w].logits);
        free(c[w].prob);
        free(c[w].nprob);
        eval_result_free(&tmp[w]);
    }
    free(sel);
    free(d);
    return rc;
}

/* The screened pass (runner.h): calibration samples in float32, the rest in bf16, then float32
 * again for the close ones and the sentinel. */
static int eval_screened(runner *r, const prompt_set *ps, const intervention *iv,
                         const float *const *force_weight, eval_result *out, mp_err *err)
{
    runner_screen *sc = &r->screen;
    const int64_t n = ps->n;
    float *gap = malloc((size_t)(n > 0 ? n : 1) * sizeof *gap);
    float *gap32 = malloc((size_t)(n > 0 ? n : 1) * sizeof *gap32);
    int64_t *sel = malloc((size_t)(n > 0 ? n : 1) * sizeof *sel), nsel = 0, nclose = 0, ncal = 0;
    int64_t *rest = malloc((size_t)(n > 0 ? n : 1) * sizeof *rest), nrest = 0;
    eval_result f32 = {0};
    int rc = -1;
    f32.n = n;
    f32.rank = malloc((size_t)(n > 0 ? n : 1) * sizeof *f32.rank);
    f32.margin = malloc((size_t)(n > 0 ? n : 1) * sizeof *f32.margin);
    if (!gap || !gap32 || !sel || !rest || !f32.rank || !f32.margin) {
        err_set(err, "evaluation: out of memory");
        goto done;
    }
    if (screen_calibrate(r, ps, iv, force_weight, out, &ncal, err) != 0) goto done;
    const double scale = env_double("MOEPROBE_BF16_BOUND_SCALE", 1.0);
    const int64_t stride = (int64_t)env_double("MOEPROBE_BF16_SENTINEL", SCREEN_SENTINEL);
    /* gaps come scaled by 1 / their layer's bound (fwd_set_route_gap): close at or below 1 */
    const double bl = sc->bound_logit * scale, bg = scale;
    for (int64_t i = ncal; i < n; i++) rest[nrest++] = i;
    eval_ctx c = {out, gap, 0, NULL, NULL, NULL, NULL};
    if (eval_pass(r, ps, rest, nrest, iv, force_weight, 1, &c, err) != 0) goto done;
    for (int64_t q = 0; q < nrest; q++) {
        const int64_t i = rest[q];
        const int close = out->margin[i] <= bl || gap[i] <= bg;
        nclose += close;
        if (close || (stride > 0 && i % stride == 0)) sel[nsel++] = i;
    }
    /* the float32 results of the selected samples, kept apart to compare the sentinels */
    memcpy(f32.rank, out->rank, (size_t)n * sizeof *f32.rank);
    memcpy(f32.margin, out->margin, (size_t)n * sizeof *f32.margin);
    memcpy(gap32, gap, (size_t)n * sizeof *gap32);
    eval_ctx c32 = {&f32, gap32, 0, NULL, NULL, NULL, NULL};
    if (eval_pass(r, ps, sel, nsel, iv, force_weight, 0, &c32, err) != 0) goto done;
    /* a sentinel (not close) whose float32 margin or gap moved by more than the bound (a scaled
     * gap by more than 1), or whose rank changed, shows the bound too tight for this pass: it is
     * recomputed whole */
    double worst_l = 0, worst_g = 0;
    int64_t bad = -1;
    for (int64_t q = 0; q < nsel; q++) {
        const int64_t i = sel[q];
        if (out->margin[i] <= bl || gap[i] <= bg) continue;
        const double dl = fabs(f32.margin[i] - out->margin[i]);
        const double dg = isinf(gap[i]) && isinf(gap32[i]) ? 0.0 : fabs((double)gap32[i] - gap[i]);
        if (dl > worst_l) worst_l = dl;
        if (dg > worst_g) worst_g = dg;
        if ((dl > sc->bound_logit || dg > 1.0 || f32.rank[i] != out->rank[i]) && bad < 0) bad = i;
    }
    out->screened = 1;
    out->close = nclose;
    if (bad >= 0) {
        sc->widened++;
        if (r->rank == 0)
            fprintf(stderr,
                    "moeprobe: bf16 screening: sentinel sample %lld disagrees with float32 "
                    "(rank %lld in bf16, %lld in float32; sentinels moved by up to %.3g in "
                    "margin, %.3g of the bound in routing gap): the whole pass recomputed in "
                    "float32\n",
                    (long long)bad, (long long)out->rank[bad], (long long)f32.rank[bad], worst_l,
                    worst_g);
        eval_ctx ca = {out, NULL, 0, NULL, NULL, NULL, NULL};
        if (eval_pass(r, ps, rest, nrest, iv, force_weight, 0, &ca, err) != 0) goto done;
        out->recomputed = n;
    } else {
        for (int64_t q = 0; q < nsel; q++) {
            out->rank[sel[q]] = f32.rank[sel[q]];
            out->margin[sel[q]] = f32.margin[sel[q]];
        }
        out->recomputed = ncal + nsel;
    }
    rc = 0;
done:
    eval_result_free(&f32);
    free(gap);
    free(gap32);
    free(sel);
    free(rest);
    return rc;
}

int runner_eval(runner *r, const prompt_set *ps, const intervention *iv,
                const float *const *force_weight, eval_result *out, mp_err *err)
{
    memset(out, 0, sizeof *out);
    out->n = ps->n;
    out->rank = calloc((size_t)(ps->n > 0 ? ps->n : 1), sizeof *out->rank);
    out->margin = calloc((size_t)(ps->n > 0 ? ps->n : 1), sizeof *out->margin);
    if (!out->rank || !out->margin) {
        eval_result_free(out);
        return err_set(err, "evaluation: out of memory");
    }
    int rc;
    if (r->opts.eval_bf16 && model_is_bf16(&r->model)) {
        rc = eval_screened(r, ps, iv, force_weight, out, err);
    } else {
        eval_ctx c = {out, NULL, 0, NULL, NULL, NULL, NULL};
        rc = eval_pass(r, ps, NULL, 0, iv, force_weight, 0, &c, err);
    }
    if (rc != 0) {
        eval_result_free(out);
        return runner_fail(r, err, "evaluation");
    }
    return 0;
}
