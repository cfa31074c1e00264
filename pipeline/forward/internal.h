/* internal.h — state shared by forward.c, attention.c and moe.c (not a public API). */
#ifndef MOEPROBE_FORWARD_INTERNAL_H
#define MOEPROBE_FORWARD_INTERNAL_H

#include <stddef.h>

#include "pipeline/forward/forward.h"

/* Activation buffers kept across calls (see fwd_buf()). */
typedef enum fwd_buf_id {
    FB_X,
    FB_H,
    FB_BLK, /* forward.c: residual, normed input, block output */
    FB_LAST,
    FB_LOGITS, /* forward.c: final rows and their logits */
    FB_Q,
    FB_K,
    FB_V,
    FB_Z, /* attention.c */
    FB_XR,
    FB_YR, /* moe.c: expert rows in and out */
    FB_GATE,
    FB_UP,
    FB_ACT, /* moe.c: SwiGLU gate, up, kept activations */
    FB_SHARED_OUT,
    FB_SHARED_ACT, /* moe.c: qwen2moe shared expert */
    FB_COUNT
} fwd_buf_id;

struct fwd_ctx {
    const mp_model *m;
    ep_ctx *ep;
    int own_ep; /* ep created here (single process) */
    fwd_timing timing;

    /* Per-run view of the packed batch (valid during fwd_run). */
    int64_t T; /* tokens in the batch */
    int n_seq;
    int64_t *off;    /* [n_seq+1] first packed row of each sequence */
    int *seq_of;     /* [T] sequence of each packed row */
    int *pos_of;     /* [T] position of each packed row in its sequence */
    int64_t *sample; /* [n_seq] global sample ids */
    const hook_set *hooks;
    const intervention *iv;

    /* Screened evaluation: per sequence, the smallest routing_gap of the router logits times
     * gap_scale[layer] (1 when NULL) over the MoE layers and positions of this rank's tokens
     * (min'd into, caller initialises); NULL: not wanted. */
    float *gap_out;
    const float *gap_scale;

    /* RoPE tables for positions 0..rope_n-1: [rope_n, d/2]. */
    float *rope_cos, *rope_sin;
    int64_t rope_n;

    void *buf[FB_COUNT];
    size_t buf_cap[FB_COUNT];
};

/* Buffer b with room for at least `bytes` (contents undefined), owned by the context and valid
 * until the next fwd_buf call for b or fwd_free; NULL when out of memory. Why: a batch's
 * activations are tens of MB per layer; allocated afresh they come from mmap and every page
 * faults in zeroed again, which cost ~10% of a forward pass. */
void *fwd_buf(fwd_ctx *f, fwd_buf_id b, size_t bytes);
/* Emits one record for packed row t (slot/expert -1 when not applicable). */
void fwd_emit(const fwd_ctx *f, hook_point p, int layer, int64_t t, const void *data, int64_t n,
              int is_int);
int fwd_row_is_last(const fwd_ctx *f, int64_t t);

/* finite.c: which part of the pass produced an activation matrix (names it in messages). */
typedef enum fwd_part { FWD_PART_EMBED, FWD_PART_ATTN, FWD_PART_FFN, FWD_PART_HEAD } fwd_part;
/* 0 if every element of x[rows, n] is finite; else -1 with err naming the layer (-1: none), the
 * part, the sample and position of the first bad row, and every stored tensor of that part that
 * holds a non-finite value (or saying that none does). Row r is packed token r, or, with
 * rows_are_seqs, the last token of sequence r. */
int fwd_check_finite(const fwd_ctx *f, const float *x, int64_t rows, int64_t n, int layer,
                     fwd_part part, int rows_are_seqs, mp_err *err);

/* attention.c: out[T,H] = self-attention block of layer l on h[T,H] (after input_layernorm). */
int attn_forward(fwd_ctx *f, int l, const float *h, float *out, mp_err *err);
/* moe.c: out[T,H] = FFN / MoE block of layer l on h[T,H] (after post_attention_layernorm). */
int ffn_forward(fwd_ctx *f, int l, const float *h, float *out, mp_err *err);

#endif
