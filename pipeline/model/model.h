/* model.h — a loaded checkpoint: config plus views of every weight the forward pass needs.
 *
 * model_load opens DIR (config.json + model.safetensors or sharded model-*.safetensors with
 * model.safetensors.index.json), memory-maps the shards read-only, binds every tensor of the
 * architecture by its Hugging Face name and checks each shape against config.json. Nothing is
 * converted or copied: views point into the mappings, so resident memory grows only with the
 * pages the forward pass touches (an expert-parallel rank touches only its own experts).
 *
 * Shapes (H hidden, nH heads, nKV kv heads, d head_dim, I widths, E experts, V vocab), each a
 * torch Linear weight [out, in]:
 *   embed_tokens [V,H]; norm [H]; lm_head [V,H] (== embed_tokens view when tied)
 *   q_proj [nH*d,H]  k_proj, v_proj [nKV*d,H]  o_proj [H,nH*d]   biases [out]
 *   q_norm [nH*d]  k_norm [nKV*d] (OLMoE, over the full projection)
 *   mlp / expert / shared expert: gate_proj, up_proj [I,H]; down_proj [H,I]
 *   router [E,H] (`mlp.gate` / `block_sparse_moe.gate`); shared_expert_gate [1,H]
 * Names bound per family (per-expert names, Mixtral's w1/w2/w3 = gate/down/up, and the fused
 * 3-D `mlp.experts.gate_up_proj` [E,2I,H] (gate rows first) / `mlp.experts.down_proj` [E,H,I]
 * of newer checkpoints, sliced into per-expert views; for Mixtral both the original
 * `block_sparse_moe.` and transformers 5's `mlp.` prefix). A tensor the config does not describe
 * (a layer beyond num_hidden_layers, a bias the config does not enable) is a load error naming
 * it; `*rotary_emb.inv_freq` buffers and, when embeddings are tied, a stored `lm_head.weight`
 * are ignored, as transformers does. Each tensor may be BF16, F16 or F32 independently. */
#ifndef MOEPROBE_MODEL_H
#define MOEPROBE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/util/error.h"
#include "pipeline/model/model_config.h"
#include "pipeline/model/tensor.h"

typedef struct mp_mlp {
    mp_tensor gate_proj;                     /* [I,H] */
    mp_tensor up_proj;                       /* [I,H] */
    mp_tensor down_proj;                     /* [H,I] */
    mp_tensor gate_bias, up_bias, down_bias; /* Llama mlp_bias only; else absent */
} mp_mlp;

typedef struct mp_layer {
    mp_tensor input_layernorm;          /* [H] */
    mp_tensor post_attention_layernorm; /* [H] */
    mp_tensor q_proj, k_proj, v_proj, o_proj;
    mp_tensor q_bias, k_bias, v_bias, o_bias; /* absent unless the family has them */
    mp_tensor q_norm, k_norm;                 /* OLMoE only */
    int is_moe;
    mp_mlp mlp;                   /* dense layers */
    mp_tensor router;             /* [E,H], MoE layers */
    mp_mlp *experts;              /* [E] views, MoE layers */
    int experts_fused;            /* 1: the views slice fused 3-D expert tensors */
    mp_mlp shared_expert;         /* qwen2moe; absent otherwise */
    mp_tensor shared_expert_gate; /* [1,H] qwen2moe */
} mp_layer;

struct ckpt; /* checkpoint.h: the mapped shards */

typedef struct mp_model {
    mcfg cfg;
    char dir[4096];
    struct ckpt *ck;        /* owns the mappings */
    mp_tensor embed_tokens; /* [V,H] */
    mp_tensor norm;         /* [H] final RMSNorm */
    mp_tensor lm_head;      /* [V,H] */
    mp_layer *layers;       /* [L] */
} mp_model;

/* Handles start invalid: model_init zeroes; model_free is safe on an initialised or
 * half-loaded model. */
void model_init(mp_model *m);
int model_load(mp_model *m, const char *dir, mp_err *err);
void model_free(mp_model *m);

/* Parameter counts: total, and active per token (routed experts counted k of E). */
int64_t model_param_count(const mp_model *m);
int64_t model_active_param_count(const mp_model *m);
/* Bytes of the expert weights (gate/up/down of routed experts) of expert e in layer l. */
size_t model_expert_bytes(const mp_model *m, int layer, int expert);

#endif
