/* forward_internal.h — state shared by forward.c, attention.c and moe.c (not a public API). */
#ifndef MOEPROBE_FORWARD_INTERNAL_H
#define MOEPROBE_FORWARD_INTERNAL_H

#include "pipeline/forward.h"

struct fwd_ctx {
    const mp_model *m;
    ep_ctx *ep;
    int own_ep;             /* ep created here (single process) */
    fwd_timing timing;

    /* Per-run view of the packed batch (valid during fwd_run). */
    int64_t T;              /* tokens in the batch */
    int n_seq;
    int64_t *off;           /* [n_seq+1] first packed row of each sequence */
    int *seq_of;            /* [T] sequence of each packed row */
    int *pos_of;            /* [T] position of each packed row in its sequence */
    int64_t *sample;        /* [n_seq] global sample ids */
    const hook_set *hooks;
    const intervention *iv;

    /* RoPE tables for positions 0..rope_n-1: [rope_n, d/2]. */
    float *rope_cos, *rope_sin;
    int64_t rope_n;
};

double fwd_now(void);
/* Emits one record for packed row t (slot/expert -1 when not applicable). */
void fwd_emit(const fwd_ctx *f, hook_point p, int layer, int64_t t, const void *data, int64_t n,
              int is_int);
int fwd_row_is_last(const fwd_ctx *f, int64_t t);

/* attention.c: out[T,H] = self-attention block of layer l on h[T,H] (after input_layernorm). */
int attn_forward(fwd_ctx *f, int l, const float *h, float *out, mp_err *err);
/* moe.c: out[T,H] = FFN / MoE block of layer l on h[T,H] (after post_attention_layernorm). */
int ffn_forward(fwd_ctx *f, int l, const float *h, float *out, mp_err *err);

#endif
