/* sample_capture.h — one sample's last-position activations, pulled out of a hook store into dense
 * arrays, and turned into the input of attribution. Shared by trace and the capture stage.
 *
 * Shapes (L layers, H hidden, nH heads, E experts, k top-k, I expert width, Is shared width,
 * Id dense MLP width); arrays the model does not have stay NULL. */
#ifndef MOEPROBE_CAPTURE_H
#define MOEPROBE_CAPTURE_H

#include <stdint.h>

#include "pipeline/attribution/attribution.h"
#include "pipeline/forward/hook_store.h"
#include "pipeline/model/model.h"

typedef struct sample_capture {
    int64_t L, H, nH, E, k, I, Is, Id;
    float *resid_pre, *attn_out, *mlp_out, *resid_post; /* [L,H] */
    float *head_out;                                    /* [L,nH,H] */
    float *router_logits;                               /* [L,E]  MoE */
    int32_t *topk_idx;                                  /* [L,k]  MoE */
    float *topk_weight;                                 /* [L,k]  MoE */
    float *expert_out;                                  /* [L,k,H] MoE */
    float *expert_act;                                  /* [L,k,I] MoE */
    float *shared_out, *shared_gate, *shared_act;       /* [L,H], [L], [L,Is] */
    float *mlp_act;                                     /* [L,Id] dense layers */
} sample_capture;

/* Adds to h the last-position requests attribution needs (residuals, attention and FFN
 * outputs, heads, routing, expert outputs and activations, shared expert, dense MLP). */
void capture_request_attribution(hook_set *h, const mp_model *m);

/* Fills c from the records of `sample` whose last position is `last_pos`. Allocates the
 * arrays; missing records are zeros. */
int capture_last(const mp_model *m, const hook_store *st, int64_t sample, int last_pos,
                 sample_capture *c, mp_err *err);
void capture_free(sample_capture *c);

/* Points attr_sample at the capture's arrays (no copies). */
void capture_attr_input(const sample_capture *c, int32_t target, attr_sample *in);

#endif
