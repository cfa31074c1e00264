/* forward.h — the decoder forward pass of the six architectures, float32 compute, with hooks
 * and interventions (hooks.h), expert-parallel through expert_parallel.h.
 *
 * A batch is a set of sequences of different lengths packed one after another into one
 * [T_total, H] activation matrix (no padding): every GEMM runs over all tokens of the batch;
 * attention runs per sequence. Token t of sequence s sits at packed row off[s] + t.
 *
 * What it computes, per layer l (HF semantics, see docs in README):
 *   h   = RMSNorm(x; input_layernorm)                        [T,H]
 *   q,k,v = h Wq^T (+b), h Wk^T (+b), h Wv^T (+b)            OLMoE: q,k RMSNorm'd over the
 *                                                            full width; clip_qkv
 *   RoPE (rotate_half), causal (+ sliding window) softmax attention per head, GQA
 *   a   = z Wo^T                                             [T,H]; head h's part = z_h Wo_h^T
 *   x  += a
 *   h2  = RMSNorm(x; post_attention_layernorm)
 *   m   = SwiGLU MLP(h2)                 dense
 *       | sum_j w_j E_j(h2) [+ sigmoid(h2 Wg) S(h2)]   MoE: softmax over all experts (float32),
 *                                         top-k, renormalised for Mixtral / norm_topk_prob,
 *                                         experts summed in ascending id, shared expert after
 *   x  += m
 * then logits = lm_head(RMSNorm(x_last; norm)) for the last position of each sequence.
 *
 * Collective: with several ranks, every rank must call fwd_run the same number of times (a
 * rank without prompts passes n_seq = 0) with the same interventions; an error return on any
 * rank must end the job (fatal.h) or the others wait forever in the all-to-all. */
#ifndef MOEPROBE_FORWARD_H
#define MOEPROBE_FORWARD_H

#include <stdint.h>

#include "pipeline/util/error.h"
#include "pipeline/parallel/expert_parallel.h"
#include "pipeline/forward/hooks.h"
#include "pipeline/model/model.h"

typedef struct fwd_batch {
    int n_seq;
    const int32_t *const *ids; /* ids[s][0..len[s]) */
    const int *len;
    const int64_t *sample_id; /* global id per sequence for hook records; NULL: 0..n_seq-1 */
} fwd_batch;

typedef struct fwd_ctx fwd_ctx;

/* ep may be NULL for a single process (no MPI). The model must outlive the context. */
int fwd_init(fwd_ctx **f, const mp_model *m, ep_ctx *ep, mp_err *err);
void fwd_free(fwd_ctx *f);

/* Runs the batch. logits_last[n_seq, V] (may be NULL) receives each sequence's last-position
 * logits. hooks and iv may be NULL. Errors: a token id outside the vocabulary, an empty
 * sequence, a sequence longer than max_position_embeddings, an intervention naming a layer,
 * expert or head that does not exist, a non-finite value in the residual stream after any
 * block or in the logits (the message names the layer, the block and the stored tensors of that
 * block holding NaN/Inf; finite.c). */
int fwd_run(fwd_ctx *f, const fwd_batch *b, const hook_set *hooks, const intervention *iv,
            float *logits_last, mp_err *err);

/* Checks an intervention against the model (ranges) without running anything. */
int fwd_check_intervention(const mp_model *m, const intervention *iv, mp_err *err);

/* For the screened evaluation: the next fwd_run calls min each sequence's routing gaps
 * (routing_gap of the router logits, routing.h) times scale[layer] (scale NULL: 1) into
 * gap[seq] (the caller fills it with INFINITY); gap NULL: off. */
void fwd_set_route_gap(fwd_ctx *f, float *gap, const float *scale);

/* Wall seconds spent so far by phase (for benchmarks). */
typedef struct fwd_timing {
    double attention_s, moe_route_s, experts_s, dense_mlp_s, lm_head_s, total_s;
    int64_t tokens;
} fwd_timing;
const fwd_timing *fwd_get_timing(const fwd_ctx *f);

#endif
