/* hooks.h — what the forward pass copies out (hooks) and how it is perturbed (interventions).
 *
 * Hooks are data: a request per hook point (which layers, which positions) that the forward pass
 * consults, and a sink that receives one record per (point, layer, sequence, position[, slot]).
 * The record's data pointer is only valid during the call: a sink copies what it keeps. Sinks
 * are the archive writer, the in-memory store below (tests, attribution), or anything else.
 *
 * Per-token payloads (H hidden, nH heads, E experts, k top-k, I expert width, V vocab):
 *   HP_RESID_PRE     [H]     input of decoder layer l
 *   HP_ATTN_OUT      [H]     attention block output (after o_proj)
 *   HP_HEAD_OUT      [nH,H]  head h's contribution o_proj[:, h*d:(h+1)*d] z_h
 *   HP_MLP_OUT       [H]     FFN / MoE block output (routed sum + gated shared expert)
 *   HP_RESID_POST    [H]     output of decoder layer l
 *   HP_ROUTER_LOGITS [E]     router logits (after blocking interventions: -inf where blocked)
 *   HP_TOPK_IDX      [k]     int32 selected experts, in descending probability (slot order);
 *                            -1 in slots left empty by a top-k override
 *   HP_TOPK_WEIGHT   [k]     the weight each slot's output is multiplied by
 *   HP_EXPERT_OUT    [k,H]   unweighted output of each selected expert, slot order
 *   HP_EXPERT_ACT    [I]     neuron activations silu(gate x)*up x of ONE selected expert; slot and
 *                            expert set in the record; emitted on the rank that computes it
 *   HP_SHARED_OUT    [H]     qwen2moe shared expert output before its sigmoid gate
 *   HP_SHARED_GATE   [1]     sigmoid(shared_expert_gate x)
 *   HP_SHARED_ACT    [Is]    shared expert neuron activations
 *   HP_MLP_ACT       [I]     dense MLP neuron activations
 *   HP_LOGITS        [V]     final logits (layer = -1)
 */
#ifndef MOEPROBE_HOOKS_H
#define MOEPROBE_HOOKS_H

#include <stdint.h>

#define HOOK_MAX_LAYERS 256

typedef enum hook_point {
    HP_RESID_PRE = 0,
    HP_ATTN_OUT,
    HP_HEAD_OUT,
    HP_MLP_OUT,
    HP_RESID_POST,
    HP_ROUTER_LOGITS,
    HP_TOPK_IDX,
    HP_TOPK_WEIGHT,
    HP_EXPERT_OUT,
    HP_EXPERT_ACT,
    HP_SHARED_OUT,
    HP_SHARED_GATE,
    HP_SHARED_ACT,
    HP_MLP_ACT,
    HP_LOGITS,
    HP_COUNT
} hook_point;

/* Archive / config names: "resid_pre", "attn_out", "head_out", ... */
const char *hook_point_name(hook_point p);
/* Returns -1 if the name is unknown. */
int hook_point_parse(const char *name, hook_point *out);

typedef enum hook_positions { HOOK_POS_LAST = 0, HOOK_POS_ALL = 1 } hook_positions;

typedef struct hook_request {
    int enabled;
    hook_positions positions;
    int all_layers; /* 1: every layer; else `layers` */
    unsigned char layers[HOOK_MAX_LAYERS];
} hook_request;

typedef struct hook_record {
    hook_point point;
    int layer;        /* 0..L-1; -1 for HP_LOGITS */
    int seq;          /* index of the sequence in the batch given to the forward pass */
    int64_t sample;   /* caller's global id of that sequence (fwd_batch.sample_id) */
    int pos;          /* token position within the sequence */
    int is_last;      /* pos is the sequence's last position */
    int slot;         /* top-k slot for HP_EXPERT_ACT; else -1 */
    int expert;       /* expert id for HP_EXPERT_ACT (-1 shared); else -1 */
    int is_int;       /* data is int32 (HP_TOPK_IDX) */
    int64_t n;        /* elements in data */
    const void *data; /* float32 or int32; valid only during the call */
} hook_record;

typedef void (*hook_sink_fn)(void *ctx, const hook_record *r);

typedef struct hook_set {
    hook_request req[HP_COUNT];
    hook_sink_fn sink; /* NULL: nothing is emitted */
    void *sink_ctx;
} hook_set;

void hook_set_init(hook_set *h); /* nothing requested */
/* Requests point p at all layers and the given positions. */
void hook_request_all(hook_set *h, hook_point p, hook_positions pos);
/* Whether (p, layer, position-is-last) is requested. */
int hook_wants(const hook_set *h, hook_point p, int layer, int is_last);
/* Whether p is requested at any position in `layer` (layer -1: any layer). */
int hook_wants_layer(const hook_set *h, hook_point p, int layer);

/* ---- Interventions ---------------------------------------------------------------------- */

typedef struct mp_pair {
    int layer;
    int index; /* expert id or head id */
} mp_pair;

typedef enum block_mode {
    BLOCK_ROUTER_LOGIT = 0, /* router logit -inf before the softmax: the next experts step in */
    BLOCK_ZERO_OUTPUT = 1   /* route as usual, then the blocked expert's output counts 0 */
} block_mode;

#define IV_MAX_ITEMS 64

typedef struct intervention {
    int n_block;
    mp_pair block[IV_MAX_ITEMS]; /* (layer, expert) */
    block_mode block_mode;
    int topk;      /* -1: the model's k; 0..k: route only the top `topk` */
    int keep_rank; /* 0: off; n >= 1: keep only the n-th ranked routed expert */
    int no_shared; /* 1: drop the qwen2moe shared expert */
    int n_suppress;
    mp_pair suppress_head[IV_MAX_ITEMS]; /* (layer, head): z_h = 0 at every position */
    int force_layer; /* -1: off. Put force_expert into the top-k at this layer */
    int force_expert;
    /* Weight of the forced expert per token of the batch, indexed by the packed token index
     * (sequence offsets of fwd_batch); NULL: the weight the model's own rule gives it. */
    const float *force_weight;
} intervention;

void intervention_init(intervention *iv); /* no intervention */
int intervention_is_none(const intervention *iv);

#endif
