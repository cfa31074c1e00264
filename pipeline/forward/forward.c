/* forward.c — the decoder stack, top to bottom: embeddings, layers, final norm, logits.
 * Attention is in attention.c, the FFN / MoE block in moe.c. */
#include "pipeline/forward/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/ops/ops.h"
#include "pipeline/util/monotonic.h"

void *fwd_buf(fwd_ctx *f, fwd_buf_id b, size_t bytes)
{
    if (bytes == 0) bytes = 1;
    if (bytes > f->buf_cap[b]) {
        free(f->buf[b]);
        f->buf[b] = malloc(bytes);
        f->buf_cap[b] = f->buf[b] ? bytes : 0;
    }
    return f->buf[b];
}

int fwd_row_is_last(const fwd_ctx *f, int64_t t)
{
    return t + 1 == f->off[f->seq_of[t] + 1];
}

void fwd_emit(const fwd_ctx *f, hook_point p, int layer, int64_t t, const void *data, int64_t n,
              int is_int)
{
    hook_record r;
    r.point = p;
    r.layer = layer;
    r.seq = f->seq_of[t];
    r.sample = f->sample[r.seq];
    r.pos = f->pos_of[t];
    r.is_last = fwd_row_is_last(f, t);
    r.slot = -1;
    r.expert = -1;
    r.is_int = is_int;
    r.n = n;
    r.data = data;
    f->hooks->sink(f->hooks->sink_ctx, &r);
}

/* Emits rows [T, n] of `x` for every wanted position of point p at layer l. */
static void emit_rows(const fwd_ctx *f, hook_point p, int l, const float *x, int64_t n)
{
    if (!hook_wants_layer(f->hooks, p, l)) return;
    for (int64_t t = 0; t < f->T; t++)
        if (hook_wants(f->hooks, p, l, fwd_row_is_last(f, t)))
            fwd_emit(f, p, l, t, x + t * n, n, 0);
}

int fwd_init(fwd_ctx **out, const mp_model *m, ep_ctx *ep, mp_err *err)
{
    fwd_ctx *f = calloc(1, sizeof *f);
    *out = NULL;
    if (!f) return err_set(err, "forward: out of memory");
    f->m = m;
    f->ep = ep;
    (void)ops_blas_threads(); /* sizes the thread pool (and OpenBLAS) before the first product */
    if (!ep && m->cfg.num_experts > 0) {
        if (ep_init(&f->ep, m->cfg.num_experts, EP_CONTIGUOUS, 0, err) != 0) {
            free(f);
            return -1;
        }
        f->own_ep = 1;
    }
    *out = f;
    return 0;
}

void fwd_free(fwd_ctx *f)
{
    if (!f) return;
    if (f->own_ep) ep_free(f->ep);
    free(f->rope_cos);
    free(f->rope_sin);
    for (int b = 0; b < FB_COUNT; b++) free(f->buf[b]);
    free(f);
}

void fwd_set_route_gap(fwd_ctx *f, float *gap, const float *scale)
{
    f->gap_out = gap;
    f->gap_scale = scale;
}

const fwd_timing *fwd_get_timing(const fwd_ctx *f)
{
    return &f->timing;
}

int fwd_check_intervention(const mp_model *m, const intervention *iv, mp_err *err)
{
    const mcfg *c = &m->cfg;
    if (!iv) return 0;
    if ((iv->topk >= 0 || iv->keep_rank || iv->n_block || iv->force_layer >= 0) &&
        c->num_experts == 0)
        return err_set(err, "expert interventions need an MoE model; %s is dense", c->architecture);
    for (int i = 0; i < iv->n_block; i++) {
        const mp_pair *b = &iv->block[i];
        if (b->layer < 0 || b->layer >= c->num_hidden_layers || !c->layer_is_moe[b->layer])
            return err_set(err,
                           "--block %d:%d: layer %d is not an MoE layer of this model "
                           "(expected 0..%d)",
                           b->layer, b->index, b->layer, c->num_hidden_layers - 1);
        if (b->index < 0 || b->index >= c->num_experts)
            return err_set(err, "--block %d:%d: expert %d does not exist (expected 0..%d)",
                           b->layer, b->index, b->index, c->num_experts - 1);
    }
    if (iv->topk > c->num_experts_per_tok)
        return err_set(err, "--topk %d: the model routes %d experts per token (expected 0..%d)",
                       iv->topk, c->num_experts_per_tok, c->num_experts_per_tok);
    if (iv->keep_rank < 0 || iv->keep_rank > c->num_experts_per_tok)
        return err_set(err, "keep_rank %d: expected 1..%d", iv->keep_rank, c->num_experts_per_tok);
    if (iv->no_shared && c->shared_expert_intermediate_size == 0)
        return err_set(err, "--no-shared: %s has no shared expert", c->architecture);
    for (int i = 0; i < iv->n_suppress; i++) {
        const mp_pair *s = &iv->suppress_head[i];
        if (s->layer < 0 || s->layer >= c->num_hidden_layers || s->index < 0 ||
            s->index >= c->num_attention_heads)
            return err_set(err, "--suppress-head %d:%d: expected layer 0..%d and head 0..%d",
                           s->layer, s->index, c->num_hidden_layers - 1,
                           c->num_attention_heads - 1);
    }
    if (iv->force_layer >= 0) {
        if (iv->force_layer >= c->num_hidden_layers || !c->layer_is_moe[iv->force_layer] ||
            iv->force_expert < 0 || iv->force_expert >= c->num_experts)
            return err_set(err,
                           "--force-expert %d:%d: expected an MoE layer 0..%d and expert "
                           "0..%d",
                           iv->force_layer, iv->force_expert, c->num_hidden_layers - 1,
                           c->num_experts - 1);
    }
    return 0;
}

static int ensure_rope(fwd_ctx *f, int64_t npos)
{
    const mcfg *c = &f->m->cfg;
    int64_t half = c->head_dim / 2;
    if (npos <= f->rope_n) return 0;
    float *cs = malloc((size_t)(npos * half) * sizeof *cs);
    float *sn = malloc((size_t)(npos * half) * sizeof *sn);
    if (!cs || !sn) {
        free(cs);
        free(sn);
        return -1;
    }
    ops_rope_tables(cs, sn, npos, c->head_dim, c->rope_theta);
    free(f->rope_cos);
    free(f->rope_sin);
    f->rope_cos = cs;
    f->rope_sin = sn;
    f->rope_n = npos;
    return 0;
}

int fwd_run(fwd_ctx *f, const fwd_batch *b, const hook_set *hooks, const intervention *iv,
            float *logits_last, mp_err *err)
{
    const mp_model *m = f->m;
    const mcfg *c = &m->cfg;
    const int64_t H = c->hidden_size, V = c->vocab_size, L = c->num_hidden_layers;
    hook_set no_hooks;
    intervention no_iv;
    int rc = -1;
    int64_t T = 0, max_len = 0;
    float *x = NULL, *h = NULL, *blk = NULL, *last = NULL, *logits = NULL;
    double t_start = monotonic_s();

    if (!hooks) {
        hook_set_init(&no_hooks);
        hooks = &no_hooks;
    }
    if (!iv) {
        intervention_init(&no_iv);
        iv = &no_iv;
    }
    if (fwd_check_intervention(m, iv, err) != 0) return -1;
    f->hooks = hooks;
    f->iv = iv;
    f->n_seq = b->n_seq;
    f->off = calloc((size_t)b->n_seq + 1, sizeof *f->off);
    f->sample = malloc(((size_t)b->n_seq + 1) * sizeof *f->sample);
    if (!f->off || !f->sample) goto oom;
    for (int s = 0; s < b->n_seq; s++) {
        if (b->len[s] <= 0) {
            err_set(err, "forward: sequence %d is empty (expected at least one token)", s);
            goto done;
        }
        if (b->len[s] > c->max_position_embeddings) {
            err_set(err,
                    "forward: sequence %d has %d tokens, more than max_position_embeddings "
                    "= %d of %s",
                    s, b->len[s], c->max_position_embeddings, m->dir);
            goto done;
        }
        for (int i = 0; i < b->len[s]; i++)
            if (b->ids[s][i] < 0 || b->ids[s][i] >= V) {
                err_set(err,
                        "forward: sequence %d position %d has token id %d, outside the "
                        "vocabulary 0..%lld",
                        s, i, b->ids[s][i], (long long)V - 1);
                goto done;
            }
        f->off[s + 1] = f->off[s] + b->len[s];
        f->sample[s] = b->sample_id ? b->sample_id[s] : s;
        if (b->len[s] > max_len) max_len = b->len[s];
    }
    T = f->off[b->n_seq];
    f->T = T;
    f->seq_of = malloc((size_t)(T > 0 ? T : 1) * sizeof *f->seq_of);
    f->pos_of = malloc((size_t)(T > 0 ? T : 1) * sizeof *f->pos_of);
    x = fwd_buf(f, FB_X, (size_t)T * H * sizeof *x);       /* residual stream [T,H] */
    h = fwd_buf(f, FB_H, (size_t)T * H * sizeof *h);       /* normed input [T,H] */
    blk = fwd_buf(f, FB_BLK, (size_t)T * H * sizeof *blk); /* block output [T,H] */
    if (!f->seq_of || !f->pos_of || !x || !h || !blk || ensure_rope(f, max_len) != 0) goto oom;
    for (int s = 0; s < b->n_seq; s++)
        for (int i = 0; i < b->len[s]; i++) {
            int64_t t = f->off[s] + i;
            f->seq_of[t] = s;
            f->pos_of[t] = i;
            ops_row_f32(x + t * H, &m->embed_tokens, b->ids[s][i]); /* x = embed_tokens[id] */
        }
    if (fwd_check_finite(f, x, T, H, -1, FWD_PART_EMBED, 0, err) != 0) goto done;

    for (int l = 0; l < L; l++) {
        const mp_layer *ly = &m->layers[l];
        emit_rows(f, HP_RESID_PRE, l, x, H);
        /* attention block: x += attn(RMSNorm(x)) */
        ops_rmsnorm(h, x, T, H, &ly->input_layernorm, c->rms_norm_eps);
        double t0 = monotonic_s();
        if (attn_forward(f, l, h, blk, err) != 0) goto done;
        f->timing.attention_s += monotonic_s() - t0;
        emit_rows(f, HP_ATTN_OUT, l, blk, H);
        ops_add(x, blk, T * H);
        if (fwd_check_finite(f, x, T, H, l, FWD_PART_ATTN, 0, err) != 0) goto done;
        /* FFN / MoE block: x += ffn(RMSNorm(x)) */
        ops_rmsnorm(h, x, T, H, &ly->post_attention_layernorm, c->rms_norm_eps);
        if (ffn_forward(f, l, h, blk, err) != 0) goto done;
        emit_rows(f, HP_MLP_OUT, l, blk, H);
        ops_add(x, blk, T * H);
        if (fwd_check_finite(f, x, T, H, l, FWD_PART_FFN, 0, err) != 0) goto done;
        emit_rows(f, HP_RESID_POST, l, x, H);
    }

    /* final norm and lm_head: at every position if all-position logits are hooked, else only
     * at each sequence's last position */
    {
        double t0 = monotonic_s();
        int all = hook_wants(hooks, HP_LOGITS, -1, 0);
        int64_t nrow = all ? T : b->n_seq;
        last = fwd_buf(f, FB_LAST, (size_t)nrow * H * sizeof *last);
        logits = fwd_buf(f, FB_LOGITS, (size_t)nrow * V * sizeof *logits);
        if (!last || !logits) goto oom;
        for (int64_t r = 0; r < nrow; r++) {
            int64_t t = all ? r : f->off[r + 1] - 1;
            memcpy(last + r * H, x + t * H, (size_t)H * sizeof *x);
        }
        ops_rmsnorm(last, last, nrow, H, &m->norm, c->rms_norm_eps);
        ops_linear(logits, last, nrow, &m->lm_head, NULL);
        if (fwd_check_finite(f, logits, nrow, V, -1, FWD_PART_HEAD, !all, err) != 0) goto done;
        for (int s = 0; s < b->n_seq; s++) {
            int64_t r = all ? f->off[s + 1] - 1 : s;
            if (logits_last) memcpy(logits_last + s * V, logits + r * V, (size_t)V * sizeof *x);
        }
        if (hook_wants_layer(hooks, HP_LOGITS, -1))
            for (int64_t r = 0; r < nrow; r++) {
                int64_t t = all ? r : f->off[r + 1] - 1;
                fwd_emit(f, HP_LOGITS, -1, t, logits + r * V, V, 0);
            }
        f->timing.lm_head_s += monotonic_s() - t0;
    }
    f->timing.tokens += T;
    rc = 0;
    goto done;
oom:
    err_set(err, "forward: out of memory for a batch of %lld tokens", (long long)T);
done:
    f->timing.total_s += monotonic_s() - t_start;
    free(f->off);
    free(f->sample);
    free(f->seq_of);
    free(f->pos_of);
    f->off = NULL;
    f->sample = NULL;
    f->seq_of = NULL;
    f->pos_of = NULL;
    f->hooks = NULL;
    f->iv = NULL;
    return rc;
}
