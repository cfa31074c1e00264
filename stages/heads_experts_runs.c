/* heads_experts_runs.c — the model passes of the heads_experts stage (see heads_experts.c for
 * the definitions and heads_experts.h for the contract):
 *   suppressed  the pair's head z_h = 0 at every position: ranks, router probabilities at the
 *               last position, the smallest k-th/(k+1)-th probability gap anywhere;
 *   base        unsuppressed: the weight w0 the pair's expert gets at every position when forced
 *               in (the model's rule), and the path split of its router logit at the last
 *               position (computed on the sample's rank, verified against the logit);
 *   forced      head suppressed and the expert forced in at its layer with weight w0.
 * The temporal correlation pass is in heads_experts_temporal.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/forward/routing.h"
#include "pipeline/ops/ops.h"
#include "stages/heads_experts.h"
#include "stages/stats.h"

float he_forced_weight(const float *p, int E, int k, int e, int renormalise)
{
    /* k is 1..8 in every supported model; larger k takes the heap */
    int idx_s[16], *idx = k <= 16 ? idx_s : malloc((size_t)k * sizeof *idx);
    float w_s[16], *w = k <= 16 ? w_s : malloc((size_t)k * sizeof *w), we = NAN;
    if (idx && w) {
        routing_topk(p, E, k, idx);
        routing_force(idx, k, e);
        routing_weights(p, idx, k, renormalise, w);
        for (int j = 0; j < k; j++)
            if (idx[j] == e) we = w[j];
    }
    if (idx != idx_s) free(idx);
    if (w != w_s) free(w);
    return we;
}

/* Smallest k-th vs (k+1)-th probability gap over the router records of one sample (every
 * position of the layers in `use`, NULL = all), and the last position's probabilities
 * last[L*E] (may be NULL). Records missing (dense layers) are skipped; last stays 0 there. */
static double router_scan(const runner_sample *s, const unsigned char *use, float *last, float *p)
{
    const mcfg *cf = &s->r->model.cfg;
    const int64_t L = cf->num_hidden_layers, E = cf->num_experts, k = cf->num_experts_per_tok;
    const int T = s->ps->len[s->sample];
    double gap = INFINITY;
    if (last) memset(last, 0, (size_t)(L * E) * sizeof *last);
    for (int64_t l = 0; l < L; l++) {
        if (use && !use[l]) continue;
        for (int t = 0; t < T; t++) {
            const hook_record *rr =
                hook_store_find(s->store, HP_ROUTER_LOGITS, s->sample, (int)l, t, -1);
            if (!rr || rr->n != E) continue;
            memcpy(p, rr->data, (size_t)E * sizeof *p);
            ops_softmax(p, E);
            double g = stats_kth_gap(p, E, k);
            if (g < gap) gap = g;
            if (last && t == T - 1) memcpy(last + l * E, p, (size_t)E * sizeof *p);
        }
    }
    return gap;
}

static void request_layers(hook_set *hs, hook_point p, hook_positions pos, int first, int last,
                           int skip)
{
    hook_request *q = &hs->req[p];
    q->enabled = 1;
    q->positions = pos;
    q->all_layers = 0;
    for (int l = first; l <= last && l < HOOK_MAX_LAYERS; l++)
        if (l != skip) q->layers[l] = 1;
}

static int get_f64(const void *d, size_t len, const char *name, double *v, mp_err *err)
{
    blob_item it;
    int rc = blob_find(d, len, name, &it, err);
    if (rc < 0) return -1;
    if (rc == 0 || it.count != 1)
        return err_set(err, "heads_experts: result item %s missing", name);
    if (it.type == BLOB_I64) {
        int64_t x;
        memcpy(&x, it.data, 8);
        *v = (double)x;
    } else {
        memcpy(v, it.data, 8);
    }
    return 0;
}

/* ---- suppressed ------------------------------------------------------------------------- */

typedef struct sup_ctx {
    const he_plan *pl;
    he_sup *out;
} sup_ctx;

static int sup_sample(void *vctx, const runner_sample *s, blob *out, mp_err *err)
{
    const sup_ctx *x = vctx;
    const he_plan *pl = x->pl;
    int64_t rank;
    double margin;
    if (runner_rank(s->logits, s->r->model.cfg.vocab_size, s->ps->target[s->sample], &rank, &margin,
                    err) != 0)
        return -1;
    float *last = malloc((size_t)(pl->L * pl->E) * sizeof *last);
    float *p = malloc((size_t)pl->E * sizeof *p);
    if (!last || !p) {
        free(last);
        free(p);
        return err_set(err, "heads_experts: out of memory");
    }
    double gap = router_scan(s, NULL, last, p);
    double top = 0.0;
    for (int i = 0; i < pl->n_top; i++) top += last[pl->top[2 * i] * pl->E + pl->top[2 * i + 1]];
    blob_put_i64(out, "rank", rank);
    blob_put_f64(out, "margin", margin);
    blob_put_f64(out, "gap", gap);
    blob_put_f64(out, "top", top);
    blob_put_f64(out, "pair", last[pl->exp_l * pl->E + pl->exp_e]);
    free(last);
    free(p);
    return out->failed ? err_set(err, "heads_experts: out of memory") : 0;
}

static int sup_collect(void *vctx, int64_t sample, const void *d, size_t len, mp_err *err)
{
    sup_ctx *x = vctx;
    double rank, g, top, pair;
    if (get_f64(d, len, "rank", &rank, err) != 0 ||
        get_f64(d, len, "margin", &x->out->margin[sample], err) != 0 ||
        get_f64(d, len, "gap", &g, err) != 0 || get_f64(d, len, "top", &top, err) != 0 ||
        get_f64(d, len, "pair", &pair, err) != 0)
        return -1;
    x->out->rank[sample] = (int64_t)rank;
    if (g < x->out->min_gap) x->out->min_gap = g;
    x->out->top_prob_sum += top;
    x->out->pair_prob_sum += pair;
    return 0;
}

int he_run_suppressed(analysis_ctx *c, const he_plan *pl, he_sup *out, mp_err *err)
{
    const int64_t n = c->ps->n;
    hook_set hs;
    intervention iv;
    memset(out, 0, sizeof *out);
    out->min_gap = INFINITY;
    out->rank = calloc((size_t)(n > 0 ? n : 1), sizeof *out->rank);
    out->margin = calloc((size_t)(n > 0 ? n : 1), sizeof *out->margin);
    if (!out->rank || !out->margin) return err_set(err, "%s: out of memory", c->unit_id);
    hook_set_init(&hs);
    hook_request_all(&hs, HP_ROUTER_LOGITS, HOOK_POS_ALL);
    intervention_init(&iv);
    iv.n_suppress = 1;
    iv.suppress_head[0] = (mp_pair){pl->head_l, pl->head_h};
    sup_ctx x = {pl, out};
    runner_job job = {0};
    job.ps = c->ps;
    job.iv = &iv;
    job.hooks = &hs;
    job.on_sample = sup_sample;
    job.sample_ctx = &x;
    job.on_collect = sup_collect;
    job.collect_ctx = &x;
    job.quiet = 1;
    job.label = "heads_experts (suppressed head)";
    return runner_map(c->r, &job, err);
}

void he_sup_free(he_sup *s)
{
    free(s->rank);
    free(s->margin);
    memset(s, 0, sizeof *s);
}

/* ---- base: w0 and the path split ---------------------------------------------------------- */

typedef struct base_ctx {
    const he_plan *pl;
    he_base *out;
    int64_t *off; /* [n+1] token offsets of the samples */
} base_ctx;

/* The parts of the pair expert's router logit at the last position (see heads_experts.c).
 * abs[6] as he_base.share_sum; returns -1 if the parts do not add up. */
static int path_split(const runner_sample *s, const he_plan *pl, double abs_part[6], double *total,
                      double *rel_err, mp_err *err)
{
    const mp_model *m = &s->r->model;
    const int64_t H = pl->H, nH = pl->nH;
    const int lp = pl->exp_l, T = s->ps->len[s->sample], last = T - 1;
    const int64_t id = s->sample;
    float *row = malloc((size_t)H * sizeof *row), *wpost = malloc((size_t)H * sizeof *wpost);
    float *h = malloc((size_t)H * sizeof *h), *bias = malloc((size_t)H * sizeof *bias);
    double *g = malloc((size_t)H * sizeof *g);
    int rc = -1;
    if (!row || !wpost || !h || !g || !bias) {
        err_set(err, "heads_experts: out of memory");
        goto done;
    }
    const hook_record *rp = hook_store_find(s->store, HP_RESID_PRE, id, lp, last, -1);
    const hook_record *ao = hook_store_find(s->store, HP_ATTN_OUT, id, lp, last, -1);
    const hook_record *e0 = hook_store_find(s->store, HP_RESID_PRE, id, 0, last, -1);
    const hook_record *rl = hook_store_find(s->store, HP_ROUTER_LOGITS, id, lp, last, -1);
    if (!rp || !ao || !e0 || !rl || rp->n != H || ao->n != H || e0->n != H || rl->n != pl->E) {
        err_set(err, "heads_experts: path analysis: hooked activations of layer %d missing", lp);
        goto done;
    }
    /* h = resid_pre + attn_out as the forward pass adds them (float32) */
    for (int64_t i = 0; i < H; i++)
        h[i] = ((const float *)rp->data)[i] + ((const float *)ao->data)[i];
    double sc = ops_rms_scale(h, H, m->cfg.rms_norm_eps);
    ops_row_f32(row, &m->layers[lp].router, pl->exp_e);
    ops_flat_f32(wpost, &m->layers[lp].post_attention_layernorm, 0, H);
    double logit = 0.0, mag = 0.0;
    for (int64_t i = 0; i < H; i++) {
        g[i] = (double)row[i] * (double)wpost[i] * sc;
        logit += g[i] * h[i];
        mag += fabs(g[i] * h[i]);
    }
    double parts_sum = 0.0;
    memset(abs_part, 0, 6 * sizeof *abs_part);
    *total = 0.0;
#define DOT(vec, out_)                                                                             \
    do {                                                                                           \
        double d_ = 0.0;                                                                           \
        for (int64_t i = 0; i < H; i++) d_ += g[i] * (double)(vec)[i];                             \
        (out_) = d_;                                                                               \
    } while (0)
    double v;
    DOT((const float *)e0->data, v);
    abs_part[3] += fabs(v);
    parts_sum += v;
    for (int l = 0; l <= lp; l++) {
        const hook_record *ho = hook_store_find(s->store, HP_HEAD_OUT, id, l, last, -1);
        if (!ho || ho->n != nH * H) {
            err_set(err, "heads_experts: path analysis: head outputs of layer %d missing", l);
            goto done;
        }
        for (int64_t hh = 0; hh < nH; hh++) {
            DOT((const float *)ho->data + hh * H, v);
            abs_part[1] += fabs(v);
            if (l == lp) abs_part[0] += fabs(v);
            if (l == pl->head_l && hh == pl->head_h) abs_part[2] += fabs(v);
            parts_sum += v;
        }
        if (m->layers[l].o_bias.data) { /* o_proj bias: a part of its own */
            ops_flat_f32(bias, &m->layers[l].o_bias, 0, H);
            DOT(bias, v);
            abs_part[5] += fabs(v);
            parts_sum += v;
        }
        if (l == lp) break;
        const hook_record *mo = hook_store_find(s->store, HP_MLP_OUT, id, l, last, -1);
        if (!mo || mo->n != H) {
            err_set(err, "heads_experts: path analysis: FFN output of layer %d missing", l);
            goto done;
        }
        DOT((const float *)mo->data, v);
        abs_part[4] += fabs(v);
        parts_sum += v;
    }
#undef DOT
    *total = abs_part[1] + abs_part[3] + abs_part[4] + abs_part[5];
    /* the parts must give the logit of the frozen-norm reading, and that reading the router's
     * own (float32) logit */
    double den = *total > 0 ? *total : 1.0;
    *rel_err = fabs(parts_sum - logit) / den;
    double hooked = ((const float *)rl->data)[pl->exp_e];
    if (*rel_err > 1e-5 || fabs(hooked - logit) > 1e-4 * (mag > 0 ? mag : 1.0)) {
        err_set(err,
                "heads_experts: path analysis of expert [%d,%d], sample %lld: the parts "
                "sum to %.9g, the frozen-norm logit is %.9g and the router's logit %.9g "
                "(expected equal to 1e-5 of sum |parts| = %.6g)",
                lp, pl->exp_e, (long long)id, parts_sum, logit, hooked, *total);
        goto done;
    }
    rc = 0;
done:
    free(row);
    free(wpost);
    free(h);
    free(g);
    free(bias);
    return rc;
}

static int base_sample(void *vctx, const runner_sample *s, blob *out, mp_err *err)
{
    const base_ctx *x = vctx;
    const he_plan *pl = x->pl;
    const mcfg *cf = &s->r->model.cfg;
    const int T = s->ps->len[s->sample];
    const int64_t E = pl->E;
    float *w0 = malloc((size_t)T * sizeof *w0), *p = malloc((size_t)E * sizeof *p);
    double abs_part[6], total, rel;
    int rc = -1;
    if (!w0 || !p) {
        err_set(err, "heads_experts: out of memory");
        goto done;
    }
    for (int t = 0; t < T; t++) {
        const hook_record *rr =
            hook_store_find(s->store, HP_ROUTER_LOGITS, s->sample, pl->exp_l, t, -1);
        if (!rr || rr->n != E) {
            err_set(err, "heads_experts: router logits of layer %d, position %d missing", pl->exp_l,
                    t);
            goto done;
        }
        memcpy(p, rr->data, (size_t)E * sizeof *p);
        ops_softmax(p, E); /* as the forward pass routes */
        w0[t] = he_forced_weight(p, (int)E, (int)pl->k, pl->exp_e, cf->norm_topk_prob);
    }
    if (path_split(s, pl, abs_part, &total, &rel, err) != 0) goto done;
    int64_t nt = T, six = 6;
    blob_put(out, "w0", BLOB_F32, 1, &nt, w0);
    blob_put(out, "abs", BLOB_F64, 1, &six, abs_part);
    blob_put_f64(out, "total", total);
    blob_put_f64(out, "rel_err", rel);
    rc = out->failed ? err_set(err, "heads_experts: out of memory") : 0;
done:
    free(w0);
    free(p);
    return rc;
}

static int base_collect(void *vctx, int64_t sample, const void *d, size_t len, mp_err *err)
{
    base_ctx *x = vctx;
    he_base *b = x->out;
    blob_item w, a;
    double total, rel, ab[6];
    if (blob_find(d, len, "w0", &w, err) != 1 || blob_find(d, len, "abs", &a, err) != 1 ||
        get_f64(d, len, "total", &total, err) != 0 || get_f64(d, len, "rel_err", &rel, err) != 0)
        return err->set ? -1 : err_set(err, "heads_experts: result items missing");
    if (w.count != x->off[sample + 1] - x->off[sample] || a.count != 6)
        return err_set(err, "heads_experts: sample %lld: %lld weights for %lld tokens",
                       (long long)sample, (long long)w.count,
                       (long long)(x->off[sample + 1] - x->off[sample]));
    memcpy(b->w0 + x->off[sample], w.data, w.nbytes);
    memcpy(ab, a.data, sizeof ab);
    for (int i = 0; i < 6; i++) {
        b->abs_sum[i] += ab[i];
        b->share_sum[i] += total > 0 ? ab[i] / total : 0.0;
    }
    b->abs_total += total;
    if (rel > b->worst_rel_err) b->worst_rel_err = rel;
    return 0;
}

int he_run_base(analysis_ctx *c, const he_plan *pl, he_base *out, mp_err *err)
{
    const prompt_set *ps = c->ps;
    const int64_t n = ps->n;
    hook_set hs;
    int64_t *off = calloc((size_t)n + 1, sizeof *off);
    blob bw;
    int rc = -1;
    memset(out, 0, sizeof *out);
    blob_init(&bw);
    if (!off) return err_set(err, "%s: out of memory", c->unit_id);
    for (int64_t i = 0; i < n; i++) off[i + 1] = off[i] + ps->len[i];
    out->w0 = calloc((size_t)(off[n] > 0 ? off[n] : 1), sizeof *out->w0);
    out->w0_of = calloc((size_t)(n > 0 ? n : 1), sizeof *out->w0_of);
    if (!out->w0 || !out->w0_of) {
        err_set(err, "%s: out of memory", c->unit_id);
        goto done;
    }
    hook_set_init(&hs);
    request_layers(&hs, HP_ROUTER_LOGITS, HOOK_POS_ALL, pl->exp_l, pl->exp_l, -1);
    request_layers(&hs, HP_HEAD_OUT, HOOK_POS_LAST, 0, pl->exp_l, -1);
    if (pl->exp_l > 0) request_layers(&hs, HP_MLP_OUT, HOOK_POS_LAST, 0, pl->exp_l - 1, -1);
    request_layers(&hs, HP_RESID_PRE, HOOK_POS_LAST, 0, 0, -1);
    request_layers(&hs, HP_RESID_PRE, HOOK_POS_LAST, pl->exp_l, pl->exp_l, -1);
    request_layers(&hs, HP_ATTN_OUT, HOOK_POS_LAST, pl->exp_l, pl->exp_l, -1);
    base_ctx x = {pl, out, off};
    runner_job job = {0};
    job.ps = ps;
    job.hooks = &hs;
    job.on_sample = base_sample;
    job.sample_ctx = &x;
    job.on_collect = base_collect;
    job.collect_ctx = &x;
    job.quiet = 1;
    job.label = "heads_experts (unsuppressed: forced weights, path)";
    if (runner_map(c->r, &job, err) != 0) goto done;
    /* every rank needs every sample's weights for the forced pass */
    if (c->rank == 0) blob_put(&bw, "w0", BLOB_F32, 1, &off[n], out->w0);
    analysis_bcast(&bw);
    blob_item it;
    if (blob_find(bw.data, bw.len, "w0", &it, err) != 1 || it.count != off[n]) {
        if (!err->set) err_set(err, "%s: forced weights not received", c->unit_id);
        goto done;
    }
    memcpy(out->w0, it.data, it.nbytes);
    for (int64_t i = 0; i < n; i++) out->w0_of[i] = out->w0 + off[i];
    rc = 0;
done:
    blob_free(&bw);
    free(off);
    return rc;
}

void he_base_free(he_base *b)
{
    free(b->w0);
    free(b->w0_of);
    memset(b, 0, sizeof *b);
}

/* ---- forced ------------------------------------------------------------------------------ */

typedef struct forced_ctx {
    const he_plan *pl;
    he_forced *out;
} forced_ctx;

static int forced_sample(void *vctx, const runner_sample *s, blob *out, mp_err *err)
{
    const forced_ctx *x = vctx;
    const he_plan *pl = x->pl;
    unsigned char use[HOOK_MAX_LAYERS];
    int64_t rank;
    double margin;
    if (runner_rank(s->logits, s->r->model.cfg.vocab_size, s->ps->target[s->sample], &rank, &margin,
                    err) != 0)
        return -1;
    float *p = malloc((size_t)pl->E * sizeof *p);
    if (!p) return err_set(err, "heads_experts: out of memory");
    for (int64_t l = 0; l < pl->L && l < HOOK_MAX_LAYERS; l++) use[l] = l != pl->exp_l;
    blob_put_i64(out, "rank", rank);
    blob_put_f64(out, "margin", margin);
    blob_put_f64(out, "gap", router_scan(s, use, NULL, p));
    free(p);
    return out->failed ? err_set(err, "heads_experts: out of memory") : 0;
}

static int forced_collect(void *vctx, int64_t sample, const void *d, size_t len, mp_err *err)
{
    forced_ctx *x = vctx;
    double rank, g;
    if (get_f64(d, len, "rank", &rank, err) != 0 ||
        get_f64(d, len, "margin", &x->out->margin[sample], err) != 0 ||
        get_f64(d, len, "gap", &g, err) != 0)
        return -1;
    x->out->rank[sample] = (int64_t)rank;
    if (g < x->out->min_gap_other) x->out->min_gap_other = g;
    return 0;
}

int he_run_forced(analysis_ctx *c, const he_plan *pl, const he_base *base, he_forced *out,
                  mp_err *err)
{
    const int64_t n = c->ps->n;
    hook_set hs;
    intervention iv;
    memset(out, 0, sizeof *out);
    out->min_gap_other = INFINITY;
    out->rank = calloc((size_t)(n > 0 ? n : 1), sizeof *out->rank);
    out->margin = calloc((size_t)(n > 0 ? n : 1), sizeof *out->margin);
    if (!out->rank || !out->margin) return err_set(err, "%s: out of memory", c->unit_id);
    hook_set_init(&hs);
    request_layers(&hs, HP_ROUTER_LOGITS, HOOK_POS_ALL, 0, (int)pl->L - 1, pl->exp_l);
    intervention_init(&iv);
    iv.n_suppress = 1;
    iv.suppress_head[0] = (mp_pair){pl->head_l, pl->head_h};
    iv.force_layer = pl->exp_l;
    iv.force_expert = pl->exp_e;
    forced_ctx x = {pl, out};
    runner_job job = {0};
    job.ps = c->ps;
    job.iv = &iv;
    job.force_weight = (const float *const *)base->w0_of;
    job.hooks = &hs;
    job.on_sample = forced_sample;
    job.sample_ctx = &x;
    job.on_collect = forced_collect;
    job.collect_ctx = &x;
    job.quiet = 1;
    job.label = "heads_experts (suppressed head, forced expert)";
    return runner_map(c->r, &job, err);
}

void he_forced_free(he_forced *f)
{
    free(f->rank);
    free(f->margin);
    memset(f, 0, sizeof *f);
}
