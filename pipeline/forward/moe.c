/* moe.c — the FFN block of one layer: the dense SwiGLU MLP, or the MoE block (router, top-k,
 * experts through the expert-parallel exchange, shared expert), with its interventions.
 *
 *   SwiGLU:  act [n,I] = silu(x Wg^T) * (x Wu^T);  y [n,H] = act Wd^T
 *   router:  logits [T,E] = h Wr^T;  p = softmax(logits) (float32, over all experts)
 *   top-k:   slots 0..k-1 = experts by descending p (ties: lower id first; routing.h)
 *   weights: w_j = p_j, or p_j / sum_{selected} p (Mixtral, norm_topk_prob)
 *   out[t] = sum over selected experts in ascending id of w_j E_j(h[t])
 *            (+ sigmoid(h[t] . Wsg) S(h[t]) for the qwen2moe shared expert) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/forward/internal.h"
#include "pipeline/forward/routing.h"
#include "pipeline/ops/ops.h"
#include "pipeline/util/monotonic.h"

/* act[n,I] and y[n,H] of one SwiGLU MLP; act may be NULL when the caller doesn't keep it
 * (act must not be one of the FB_GATE / FB_UP buffers used here). */
static int swiglu(fwd_ctx *f, const mp_mlp *mlp, const float *x, int64_t n, float *y,
                  float *act_keep)
{
    const int64_t I = mlp->gate_proj.shape[0];
    float *g = fwd_buf(f, FB_GATE, (size_t)(n * I) * sizeof *g);
    float *u = fwd_buf(f, FB_UP, (size_t)(n * I) * sizeof *u);
    if (!g || !u) return -1;
    ops_linear(g, x, n, &mlp->gate_proj, &mlp->gate_bias);
    ops_linear(u, x, n, &mlp->up_proj, &mlp->up_bias);
    ops_silu_mul(g, u, n * I);
    if (act_keep) memcpy(act_keep, g, (size_t)(n * I) * sizeof *g);
    ops_linear(y, g, n, &mlp->down_proj, &mlp->down_bias);
    return 0;
}

/* ---- the expert computation, run by the rank that owns the expert ---------------------- */

typedef struct expert_job {
    fwd_ctx *f;
    int layer;
    int failed;
} expert_job;

static void run_expert(void *ctx, int e, int64_t n, const float *x, const int64_t *meta, float *y)
{
    expert_job *job = ctx;
    fwd_ctx *f = job->f;
    const mp_mlp *ex = &f->m->layers[job->layer].experts[e];
    const int64_t I = ex->gate_proj.shape[0];
    int want = hook_wants_layer(f->hooks, HP_EXPERT_ACT, job->layer);
    float *act = want ? fwd_buf(f, FB_ACT, (size_t)(n * I) * sizeof *act) : NULL;
    if ((want && !act) || swiglu(f, ex, x, n, y, act) != 0) {
        job->failed = 1;
        memset(y, 0, (size_t)n * f->m->cfg.hidden_size * sizeof *y);
        return;
    }
    for (int64_t i = 0; want && i < n; i++) {
        const int64_t *mt = meta + i * EP_META;
        int is_last = (int)(mt[2] >> 16);
        if (!hook_wants(f->hooks, HP_EXPERT_ACT, job->layer, is_last)) continue;
        hook_record r = {.point = HP_EXPERT_ACT,
                         .layer = job->layer,
                         .seq = -1,
                         .sample = mt[0],
                         .pos = (int)mt[1],
                         .is_last = is_last,
                         .slot = (int)(mt[2] & 0xffff),
                         .expert = e,
                         .is_int = 0,
                         .n = I,
                         .data = act + i * I};
        f->hooks->sink(f->hooks->sink_ctx, &r);
    }
}

/* ---- routing ------------------------------------------------------------------------------ */

static int is_blocked(const intervention *iv, int l, int e)
{
    for (int i = 0; i < iv->n_block; i++)
        if (iv->block[i].layer == l && iv->block[i].index == e) return 1;
    return 0;
}

/* Selects the slots of one token from its probabilities p[E]: idx[k] (-1 = empty slot) and
 * weights w[k], applying top-k override, keep-rank, forcing and zero-output blocking. */
static void route_token(const fwd_ctx *f, int l, int64_t t, const float *p, int *idx, float *w)
{
    const mcfg *c = &f->m->cfg;
    const intervention *iv = f->iv;
    const int E = c->num_experts, k = c->num_experts_per_tok;
    routing_topk(p, E, k, idx);
    if (iv->force_layer == l) routing_force(idx, k, iv->force_expert);
    /* top-k override and keep-rank drop slots */
    for (int j = 0; j < k; j++) {
        if (iv->topk >= 0 && j >= iv->topk) idx[j] = -1;
        if (iv->keep_rank > 0 && j != iv->keep_rank - 1) idx[j] = -1;
    }
    routing_weights(p, idx, k, c->norm_topk_prob, w);
    for (int j = 0; j < k; j++) {
        if (idx[j] < 0) continue;
        if (iv->force_layer == l && idx[j] == iv->force_expert && iv->force_weight)
            w[j] = iv->force_weight[t];
        if (iv->block_mode == BLOCK_ZERO_OUTPUT && is_blocked(iv, l, idx[j])) w[j] = 0.0f;
    }
}

/* xr rows (grouped by expert) from h, with each row's expert and hook metadata; tokens [a, b). */
typedef struct gather_job {
    const fwd_ctx *f;
    const float *h;
    float *xr;
    const int64_t *row_of;
    const int *idx;
    int *row_expert;
    int64_t *meta;
    int64_t H, k;
} gather_job;

static void gather_rows(void *ctx, int64_t a, int64_t b)
{
    const gather_job *g = ctx;
    const int64_t H = g->H, k = g->k;
    for (int64_t t = a; t < b; t++)
        for (int64_t j = 0; j < k; j++) {
            int64_t r = g->row_of[t * k + j];
            if (r < 0) continue;
            memcpy(g->xr + r * H, g->h + t * H, (size_t)H * sizeof *g->xr);
            g->row_expert[r] = g->idx[t * k + j];
            g->meta[r * EP_META + 0] = g->f->sample[g->f->seq_of[t]];
            g->meta[r * EP_META + 1] = g->f->pos_of[t];
            g->meta[r * EP_META + 2] = j | ((int64_t)fwd_row_is_last(g->f, t) << 16);
        }
}

/* out[t] = sum of w_j y_j over the token's active slots in ascending expert id; tokens [a, b). */
typedef struct combine_job {
    float *out;
    const float *yr, *w;
    const int64_t *row_of;
    const int *idx;
    int64_t H, k;
} combine_job;

static void combine_rows(void *ctx, int64_t a, int64_t b)
{
    const combine_job *c = ctx;
    const int64_t H = c->H, k = c->k;
    /* the slots of one token, sized from the config's top-k (pipeline/model/limits.h) */
    int64_t *order = malloc((size_t)(k > 0 ? k : 1) * sizeof *order);
    if (!order) abort(); /* a few bytes per call: no useful recovery inside a worker */
    for (int64_t t = a; t < b; t++) {
        float *o = c->out + t * H;
        int64_t n_act = 0;
        memset(o, 0, (size_t)H * sizeof *o);
        for (int64_t j = 0; j < k; j++)
            if (c->row_of[t * k + j] >= 0) order[n_act++] = j;
        for (int64_t q = 1; q < n_act; q++) /* insertion sort of slots by expert id */
            for (int64_t b2 = q;
                 b2 > 0 && c->idx[t * k + order[b2 - 1]] > c->idx[t * k + order[b2]]; b2--) {
                int64_t tmp = order[b2];
                order[b2] = order[b2 - 1];
                order[b2 - 1] = tmp;
            }
        for (int64_t q = 0; q < n_act; q++) {
            int64_t j = order[q];
            const float *y = c->yr + c->row_of[t * k + j] * H;
            float wj = c->w[t * k + j];
            for (int64_t i = 0; i < H; i++) o[i] += wj * y[i];
        }
    }
    free(order);
}

/* The qwen2moe shared expert of layer l on all T tokens: out [T,H] = S(h), gate [T] = h Wsg^T
 * (before the sigmoid), act [T,Is] when a hook wants it. on = 0 when the layer has none (or
 * it is switched off). While an exchange is in flight (pend), MPI is given a chance to move
 * the rows between the steps. 1, or 0 when out of memory. */
typedef struct shared_out {
    int on;
    int64_t Is;
    float *out, *gate, *act;
} shared_out;

static int shared_compute(fwd_ctx *f, int l, const float *h, shared_out *sh, ep_pending *pend)
{
    const mp_layer *ly = &f->m->layers[l];
    const int64_t T = f->T, H = f->m->cfg.hidden_size;
    if (!ly->shared_expert.gate_proj.data || f->iv->no_shared || T <= 0) return 1;
    sh->Is = ly->shared_expert.gate_proj.shape[0];
    int want_act = hook_wants_layer(f->hooks, HP_SHARED_ACT, l);
    sh->out = fwd_buf(f, FB_SHARED_OUT, (size_t)(T * H) * sizeof *sh->out);
    sh->gate = malloc((size_t)T * sizeof *sh->gate);
    sh->act = want_act ? fwd_buf(f, FB_SHARED_ACT, (size_t)(T * sh->Is) * sizeof *sh->act) : NULL;
    if (!sh->out || !sh->gate || (want_act && !sh->act) ||
        swiglu(f, &ly->shared_expert, h, T, sh->out, sh->act) != 0)
        return 0;
    ep_exchange_progress(f->ep, pend);
    ops_linear(sh->gate, h, T, &ly->shared_expert_gate, NULL);
    sh->on = 1;
    return 1;
}

static int moe_forward(fwd_ctx *f, int l, const float *h, float *out, mp_err *err)
{
    const mcfg *c = &f->m->cfg;
    const mp_layer *ly = &f->m->layers[l];
    const intervention *iv = f->iv;
    const int64_t T = f->T, H = c->hidden_size, E = c->num_experts, k = c->num_experts_per_tok;
    int rc = -1;
    float *logits = NULL, *p = NULL, *w = NULL, *xr = NULL, *yr = NULL, *eo = NULL;
    int *idx = NULL, *row_expert = NULL;
    int64_t *row_of = NULL, *meta = NULL, nrows = 0, *estart = NULL, *efill = NULL;
    expert_job job = {f, l, 0};
    ep_pending *pend = NULL;
    shared_out sh = {0};
    int shared_ok = 1;
    double t0 = monotonic_s();

    logits = malloc((size_t)((T > 0 ? T : 1) * E) * sizeof *logits);
    estart = calloc((size_t)E + 1, sizeof *estart);
    efill = malloc((size_t)(E > 0 ? E : 1) * sizeof *efill);
    p = malloc((size_t)(E > 0 ? E : 1) * sizeof *p);
    w = malloc((size_t)((T > 0 ? T : 1) * k) * sizeof *w);
    idx = malloc((size_t)((T > 0 ? T : 1) * k) * sizeof *idx);
    row_of = malloc((size_t)((T > 0 ? T : 1) * k) * sizeof *row_of); /* [T,k] -> row or -1 */
    if (!logits || !estart || !efill || !p || !w || !idx || !row_of) goto oom;

    /* router: logits [T,E], blocking in logit mode before the softmax */
    ops_linear(logits, h, T, &ly->router, NULL);
    if (iv->block_mode == BLOCK_ROUTER_LOGIT)
        for (int i = 0; i < iv->n_block; i++)
            if (iv->block[i].layer == l)
                for (int64_t t = 0; t < T; t++) logits[t * E + iv->block[i].index] = -INFINITY;
    for (int64_t t = 0; t < T; t++) {
        int last = fwd_row_is_last(f, t);
        if (hook_wants(f->hooks, HP_ROUTER_LOGITS, l, last))
            fwd_emit(f, HP_ROUTER_LOGITS, l, t, logits + t * E, E, 0);
        if (f->gap_out) {
            float g =
                routing_gap(logits + t * E, (int)E, (int)k, iv->topk >= 0 || iv->keep_rank > 0);
            if (f->gap_scale) g *= f->gap_scale[l];
            float *gs = &f->gap_out[f->seq_of[t]];
            if (g < *gs) *gs = g;
        }
        memcpy(p, logits + t * E, (size_t)E * sizeof *p);
        ops_softmax(p, E);
        route_token(f, l, t, p, idx + t * k, w + t * k);
        if (hook_wants(f->hooks, HP_TOPK_IDX, l, last))
            fwd_emit(f, HP_TOPK_IDX, l, t, idx + t * k, k, 1);
        if (hook_wants(f->hooks, HP_TOPK_WEIGHT, l, last))
            fwd_emit(f, HP_TOPK_WEIGHT, l, t, w + t * k, k, 0);
        for (int64_t j = 0; j < k; j++) {
            int e = idx[t * k + j];
            int on = e >= 0 && w[t * k + j] != 0.0f;
            row_of[t * k + j] = on ? 0 : -1;
            if (on) estart[e + 1]++, nrows++;
        }
    }
    /* rows grouped by expert (ascending id), tokens in order within an expert: the grouped
     * GEMM input as it is, without a reordering copy on a single rank */
    for (int64_t e = 0; e < E; e++) estart[e + 1] += estart[e];
    memcpy(efill, estart, (size_t)E * sizeof *efill);
    for (int64_t t = 0; t < T * k; t++)
        if (row_of[t] >= 0) row_of[t] = efill[idx[t]]++;
    f->timing.moe_route_s += monotonic_s() - t0;

    /* one row per (token, active slot), with its expert and metadata */
    xr = fwd_buf(f, FB_XR, (size_t)(nrows * H) * sizeof *xr);
    yr = fwd_buf(f, FB_YR, (size_t)(nrows * H) * sizeof *yr);
    row_expert = malloc((size_t)(nrows > 0 ? nrows : 1) * sizeof *row_expert);
    meta = malloc((size_t)((nrows > 0 ? nrows : 1) * EP_META) * sizeof *meta);
    if (!xr || !yr || !row_expert || !meta) goto oom;
    {
        gather_job gj = {f, h, xr, row_of, idx, row_expert, meta, H, k};
        ops_parallel_for(T, k * H, gather_rows, &gj);
    }
    /* The rows leave for their experts' ranks first; while they travel (ep_exchange_start ..
     * finish) the shared expert, which needs only h, is computed, then this rank's rows to
     * the experts it owns (ep_exchange_local); finish computes the received rows. The shared
     * output is added after the routed experts as before, and an expert's rows split over two
     * calls give the same bits (each row's reduction order is fixed: pipeline/ops/kern.h),
     * so the sums are the same to the bit. */
    t0 = monotonic_s();
    if (ep_size(f->ep) > 1 &&
        ep_exchange_start(f->ep, H, H, nrows, xr, row_expert, meta, &pend, err) != 0)
        goto done;
    f->timing.experts_s += monotonic_s() - t0;
    shared_ok = shared_compute(f, l, h, &sh, pend);
    t0 = monotonic_s();
    ep_exchange_local(f->ep, pend, run_expert, &job);
    if (!pend) { /* every expert is here and the rows are grouped already */
        for (int64_t e = 0; e < E; e++)
            if (estart[e + 1] > estart[e])
                run_expert(&job, (int)e, estart[e + 1] - estart[e], xr + estart[e] * H,
                           meta + estart[e] * EP_META, yr + estart[e] * H);
    } else {
        int frc = ep_exchange_finish(f->ep, pend, run_expert, &job, yr, err);
        pend = NULL;
        if (frc != 0) goto done;
    }
    f->timing.experts_s += monotonic_s() - t0;
    if (job.failed) {
        err_set(err, "layer %d: out of memory computing experts", l);
        goto done;
    }
    if (!shared_ok) goto oom;

    /* combine: ascending expert id, as HF's loop over expert_hit */
    eo = calloc((size_t)(k * H), sizeof *eo);
    if (!eo) goto oom;
    {
        combine_job cj = {out, yr, w, row_of, idx, H, k};
        ops_parallel_for(T, k * H, combine_rows, &cj);
    }
    for (int64_t t = 0; t < T; t++) {
        if (hook_wants(f->hooks, HP_EXPERT_OUT, l, fwd_row_is_last(f, t))) {
            for (int64_t j = 0; j < k; j++) {
                int64_t r = row_of[t * k + j];
                if (r >= 0)
                    memcpy(eo + j * H, yr + r * H, (size_t)H * sizeof *eo);
                else
                    memset(eo + j * H, 0, (size_t)H * sizeof *eo);
            }
            fwd_emit(f, HP_EXPERT_OUT, l, t, eo, k * H, 0);
        }
    }

    /* qwen2moe shared expert: out += sigmoid(h Wsg^T) * S(h), computed above */
    for (int64_t t = 0; sh.on && t < T; t++) {
        int last = fwd_row_is_last(f, t);
        float g = 1.0f / (1.0f + expf(-sh.gate[t]));
        if (hook_wants(f->hooks, HP_SHARED_OUT, l, last))
            fwd_emit(f, HP_SHARED_OUT, l, t, sh.out + t * H, H, 0);
        if (hook_wants(f->hooks, HP_SHARED_GATE, l, last))
            fwd_emit(f, HP_SHARED_GATE, l, t, &g, 1, 0);
        if (sh.act && hook_wants(f->hooks, HP_SHARED_ACT, l, last))
            fwd_emit(f, HP_SHARED_ACT, l, t, sh.act + t * sh.Is, sh.Is, 0);
        for (int64_t i = 0; i < H; i++) out[t * H + i] += g * sh.out[t * H + i];
    }
    rc = 0;
    goto done;
oom:
    err_set(err, "layer %d: out of memory in the MoE block (%lld tokens)", l, (long long)T);
done:
    free(logits);
    free(estart);
    free(efill);
    free(p);
    free(w);
    free(idx);
    free(row_of);
    free(row_expert);
    free(meta);
    free(eo);
    free(sh.gate);
    return rc;
}

static int dense_forward(fwd_ctx *f, int l, const float *h, float *out, mp_err *err)
{
    const mp_mlp *mlp = &f->m->layers[l].mlp;
    const int64_t T = f->T, I = mlp->gate_proj.shape[0];
    int want = hook_wants_layer(f->hooks, HP_MLP_ACT, l);
    float *act = want ? fwd_buf(f, FB_ACT, (size_t)(T * I) * sizeof *act) : NULL;
    double t0 = monotonic_s();
    if ((want && !act) || swiglu(f, mlp, h, T, out, act) != 0)
        return err_set(err, "layer %d: out of memory in the MLP (%lld tokens)", l, (long long)T);
    for (int64_t t = 0; want && t < T; t++)
        if (hook_wants(f->hooks, HP_MLP_ACT, l, fwd_row_is_last(f, t)))
            fwd_emit(f, HP_MLP_ACT, l, t, act + t * I, I, 0);
    f->timing.dense_mlp_s += monotonic_s() - t0;
    return 0;
}

int ffn_forward(fwd_ctx *f, int l, const float *h, float *out, mp_err *err)
{
    if (f->m->layers[l].is_moe) return moe_forward(f, l, h, out, err);
    return dense_forward(f, l, h, out, err);
}
