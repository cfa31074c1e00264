/* sample_capture.c — see sample_capture.h. */
#include "pipeline/attribution/sample_capture.h"

#include <stdlib.h>
#include <string.h>

void capture_request_attribution(hook_set *h, const mp_model *m)
{
    const mcfg *c = &m->cfg;
    hook_point pts[] = {HP_RESID_PRE, HP_ATTN_OUT, HP_MLP_OUT, HP_RESID_POST, HP_HEAD_OUT};
    for (size_t i = 0; i < sizeof pts / sizeof *pts; i++)
        if (!h->req[pts[i]].enabled) hook_request_all(h, pts[i], HOOK_POS_LAST);
    if (c->num_experts > 0) {
        hook_point moe[] = {HP_ROUTER_LOGITS, HP_TOPK_IDX, HP_TOPK_WEIGHT, HP_EXPERT_OUT,
                            HP_EXPERT_ACT};
        for (size_t i = 0; i < sizeof moe / sizeof *moe; i++)
            if (!h->req[moe[i]].enabled) hook_request_all(h, moe[i], HOOK_POS_LAST);
        if (c->shared_expert_intermediate_size > 0) {
            hook_point sh[] = {HP_SHARED_OUT, HP_SHARED_GATE, HP_SHARED_ACT};
            for (size_t i = 0; i < sizeof sh / sizeof *sh; i++)
                if (!h->req[sh[i]].enabled) hook_request_all(h, sh[i], HOOK_POS_LAST);
        }
    }
    /* dense layers (all of a dense model, or qwen2moe's mlp_only_layers) */
    for (int l = 0; l < c->num_hidden_layers; l++)
        if (!c->layer_is_moe[l] && !h->req[HP_MLP_ACT].enabled) {
            hook_request_all(h, HP_MLP_ACT, HOOK_POS_LAST);
            break;
        }
}

void capture_free(sample_capture *c)
{
    free(c->resid_pre);
    free(c->attn_out);
    free(c->mlp_out);
    free(c->resid_post);
    free(c->head_out);
    free(c->router_logits);
    free(c->topk_idx);
    free(c->topk_weight);
    free(c->expert_out);
    free(c->expert_act);
    free(c->shared_out);
    free(c->shared_gate);
    free(c->shared_act);
    free(c->mlp_act);
    memset(c, 0, sizeof *c);
}

static float *dense(const hook_store *st, hook_point p, int64_t sample, int64_t L, int pos,
                    int64_t n)
{
    float *out = malloc((size_t)(L * n > 0 ? L * n : 1) * sizeof *out);
    if (out) hook_store_dense(st, p, sample, (int)L, pos, 1, -1, n, out);
    return out;
}

int capture_last(const mp_model *m, const hook_store *st, int64_t sample, int last_pos,
                 sample_capture *c, mp_err *err)
{
    const mcfg *cf = &m->cfg;
    memset(c, 0, sizeof *c);
    c->L = cf->num_hidden_layers;
    c->H = cf->hidden_size;
    c->nH = cf->num_attention_heads;
    c->E = cf->num_experts;
    c->k = cf->num_experts_per_tok;
    c->I = cf->moe_intermediate_size;
    c->Is = cf->shared_expert_intermediate_size;
    c->Id = cf->intermediate_size;
    const int64_t L = c->L, H = c->H;
    int ok = 1;
    ok &= !!(c->resid_pre = dense(st, HP_RESID_PRE, sample, L, last_pos, H));
    ok &= !!(c->attn_out = dense(st, HP_ATTN_OUT, sample, L, last_pos, H));
    ok &= !!(c->mlp_out = dense(st, HP_MLP_OUT, sample, L, last_pos, H));
    ok &= !!(c->resid_post = dense(st, HP_RESID_POST, sample, L, last_pos, H));
    ok &= !!(c->head_out = dense(st, HP_HEAD_OUT, sample, L, last_pos, c->nH * H));
    int has_dense = 0;
    for (int l = 0; l < L; l++) has_dense |= !cf->layer_is_moe[l];
    if (has_dense) ok &= !!(c->mlp_act = dense(st, HP_MLP_ACT, sample, L, last_pos, c->Id));
    if (c->E > 0) {
        const int64_t k = c->k;
        ok &= !!(c->router_logits = dense(st, HP_ROUTER_LOGITS, sample, L, last_pos, c->E));
        ok &= !!(c->topk_weight = dense(st, HP_TOPK_WEIGHT, sample, L, last_pos, k));
        ok &= !!(c->expert_out = dense(st, HP_EXPERT_OUT, sample, L, last_pos, k * H));
        c->topk_idx = malloc((size_t)(L * k) * sizeof *c->topk_idx);
        c->expert_act = calloc((size_t)(L * k * c->I), sizeof *c->expert_act);
        ok &= c->topk_idx && c->expert_act;
        for (int64_t l = 0; ok && l < L; l++) {
            const hook_record *ri = hook_store_find(st, HP_TOPK_IDX, sample, (int)l, last_pos, -1);
            for (int64_t j = 0; j < k; j++) {
                c->topk_idx[l * k + j] = ri ? ((const int32_t *)ri->data)[j] : -1;
                const hook_record *ra =
                    hook_store_find(st, HP_EXPERT_ACT, sample, (int)l, last_pos, (int)j);
                if (ra && ra->n == c->I)
                    memcpy(c->expert_act + (l * k + j) * c->I, ra->data,
                           (size_t)c->I * sizeof(float));
            }
        }
        if (c->Is > 0) {
            ok &= !!(c->shared_out = dense(st, HP_SHARED_OUT, sample, L, last_pos, H));
            ok &= !!(c->shared_gate = dense(st, HP_SHARED_GATE, sample, L, last_pos, 1));
            ok &= !!(c->shared_act = dense(st, HP_SHARED_ACT, sample, L, last_pos, c->Is));
        }
    }
    if (!ok) {
        capture_free(c);
        return err_set(err, "capture: out of memory for sample %lld", (long long)sample);
    }
    return 0;
}

void capture_attr_input(const sample_capture *c, int32_t target, attr_sample *in)
{
    memset(in, 0, sizeof *in);
    in->target = target;
    in->resid_pre = c->resid_pre;
    in->attn_out = c->attn_out;
    in->mlp_out = c->mlp_out;
    in->resid_final = c->resid_post + (c->L - 1) * c->H;
    in->head_out = c->head_out;
    in->topk_idx = c->topk_idx;
    in->topk_weight = c->topk_weight;
    in->expert_out = c->expert_out;
    in->expert_act = c->expert_act;
    in->shared_out = c->shared_out;
    in->shared_gate = c->shared_gate;
    in->shared_act = c->shared_act;
    in->mlp_act = c->mlp_act;
}
