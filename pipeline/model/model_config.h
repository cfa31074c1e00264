/* model_config.h — config.json of the six supported Hugging Face architectures, resolved.
 *
 * mcfg_load reads config.json and applies Hugging Face's class defaults for every key that is
 * absent or null, so the rest of moeprobe never looks at JSON. Both layouts are accepted: the
 * legacy top-level `rope_theta` and the newer `rope_parameters: {rope_theta, rope_type}`.
 * Unknown architectures, unsupported features (rope scaling, non-SiLU activations) and values
 * out of range are errors naming the file, key, value and what was expected. */
#ifndef MOEPROBE_MODEL_CONFIG_H
#define MOEPROBE_MODEL_CONFIG_H

#include "pipeline/model/dtype.h"
#include "pipeline/util/error.h"

#define MCFG_MAX_LAYERS 256

typedef enum mp_arch {
    ARCH_OLMOE = 0, /* OlmoeForCausalLM */
    ARCH_QWEN2MOE,  /* Qwen2MoeForCausalLM */
    ARCH_MIXTRAL,   /* MixtralForCausalLM */
    ARCH_LLAMA,     /* LlamaForCausalLM */
    ARCH_QWEN2,     /* Qwen2ForCausalLM */
    ARCH_MISTRAL,   /* MistralForCausalLM */
    ARCH_COUNT
} mp_arch;

typedef struct mcfg {
    mp_arch arch;
    char architecture[64]; /* "OlmoeForCausalLM", ... as in config.json */
    char model_type[32];   /* "olmoe", "qwen2_moe", ... */

    int vocab_size;
    int hidden_size;         /* H */
    int intermediate_size;   /* dense MLP width (qwen2moe: width of dense layers) */
    int num_hidden_layers;   /* L */
    int num_attention_heads; /* nH */
    int num_key_value_heads; /* nKV (defaults to nH) */
    int head_dim;            /* d (null/absent: H / nH) */
    int max_position_embeddings;
    double rms_norm_eps;
    double rope_theta;

    /* Attention window: key j is visible to query i iff i - W < j <= i. 0 = no window. Already
     * resolved per family as transformers 5 builds `layer_types`: Mistral and Mixtral use
     * `sliding_window` in every layer when non-null; the Qwen family only when
     * `use_sliding_window` is true: Qwen2 in layers >= max_window_layers, Qwen2-MoE in even
     * layers < max_window_layers (transformers 5's rule); an explicit `layer_types` list wins.
     * OLMoE and Llama never use a window. */
    int sliding_window;
    int layer_window[MCFG_MAX_LAYERS]; /* the window applied in each layer (0 = none) */

    int tie_word_embeddings; /* 1: lm_head is embed_tokens (no lm_head.weight on disk) */
    int qkv_bias;    /* q/k/v projections carry biases (Qwen2 family, Llama attention_bias) */
    int o_bias;      /* o_proj bias (Llama attention_bias) */
    int mlp_bias;    /* Llama mlp_bias */
    int qk_norm;     /* OLMoE: RMSNorm over the full q and k projections */
    double clip_qkv; /* OLMoE clip_qkv; 0 = none */

    /* Mixture of experts; num_experts == 0 for dense models. */
    int num_experts;                     /* E */
    int num_experts_per_tok;             /* k */
    int moe_intermediate_size;           /* expert width (olmoe/mixtral: intermediate_size) */
    int norm_topk_prob;                  /* renormalise the top-k weights (Mixtral always) */
    int shared_expert_intermediate_size; /* qwen2moe shared expert width; 0 = none */
    int layer_is_moe[MCFG_MAX_LAYERS];   /* qwen2moe: decoder_sparse_step / mlp_only_layers */

    double initializer_range; /* std of the weights make-model writes (0.02) */

    int bos_token_id;     /* -1 when null */
    int eos_token_id;     /* -1 when null; the first if a list */
    mp_dtype torch_dtype; /* `torch_dtype` or `dtype`; BF16 if absent */
} mcfg;

/* Reads DIR/config.json (or a path to a .json file). */
int mcfg_load(mcfg *c, const char *path, mp_err *err);
/* Same, from JSON text already in memory; `origin` names it in messages. */
int mcfg_parse(mcfg *c, const char *json_text, const char *origin, mp_err *err);

int mcfg_is_moe(const mcfg *c);
const char *mcfg_arch_name(mp_arch a); /* "OlmoeForCausalLM", ... */

#endif
