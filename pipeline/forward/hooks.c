/* hooks.c — see hooks.h. */
#include "pipeline/forward/hooks.h"

#include <string.h>

/* clang-format off */
static const char *const NAMES[HP_COUNT] = {
    [HP_RESID_PRE] = "resid_pre",       [HP_ATTN_OUT] = "attn_out",
    [HP_HEAD_OUT] = "head_out",         [HP_MLP_OUT] = "mlp_out",
    [HP_RESID_POST] = "resid_post",     [HP_ROUTER_LOGITS] = "router_logits",
    [HP_TOPK_IDX] = "topk_idx",         [HP_TOPK_WEIGHT] = "topk_weight",
    [HP_EXPERT_OUT] = "expert_out",     [HP_EXPERT_ACT] = "expert_act",
    [HP_SHARED_OUT] = "shared_out",     [HP_SHARED_GATE] = "shared_gate",
    [HP_SHARED_ACT] = "shared_act",     [HP_MLP_ACT] = "mlp_act",
    [HP_LOGITS] = "logits",
};
/* clang-format on */

const char *hook_point_name(hook_point p)
{
    return (unsigned)p < HP_COUNT ? NAMES[p] : "?";
}

int hook_point_parse(const char *name, hook_point *out)
{
    for (int i = 0; i < HP_COUNT; i++)
        if (!strcmp(name, NAMES[i])) {
            *out = (hook_point)i;
            return 0;
        }
    return -1;
}

void hook_set_init(hook_set *h)
{
    memset(h, 0, sizeof *h);
}

void hook_request_all(hook_set *h, hook_point p, hook_positions pos)
{
    h->req[p].enabled = 1;
    h->req[p].positions = pos;
    h->req[p].all_layers = 1;
}

int hook_wants_layer(const hook_set *h, hook_point p, int layer)
{
    const hook_request *r;
    if (!h || !h->sink) return 0;
    r = &h->req[p];
    if (!r->enabled) return 0;
    if (layer < 0 || r->all_layers) return 1;
    return layer < HOOK_MAX_LAYERS && r->layers[layer];
}

int hook_wants(const hook_set *h, hook_point p, int layer, int is_last)
{
    if (!hook_wants_layer(h, p, layer)) return 0;
    return is_last || h->req[p].positions == HOOK_POS_ALL;
}

void intervention_init(intervention *iv)
{
    memset(iv, 0, sizeof *iv);
    iv->topk = -1;
    iv->force_layer = -1;
    iv->force_expert = -1;
}

int intervention_is_none(const intervention *iv)
{
    return !iv || (iv->n_block == 0 && iv->topk < 0 && iv->keep_rank == 0 && !iv->no_shared &&
                   iv->n_suppress == 0 && iv->force_layer < 0);
}
