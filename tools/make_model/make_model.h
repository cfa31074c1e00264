/* make_model.h — writes a random-weight checkpoint of a config's real shape, in the real format.
 *
 * Output (as transformers' save_pretrained writes it): config.json (the input with
 * num_hidden_layers replaced when layers > 0, layer_types cut to match, and torch_dtype/dtype
 * set to the written dtype), shards `model-0000N-of-0000M.safetensors` split greedily at
 * shard_size bytes in state-dict order plus `model.safetensors.index.json` (metadata
 * total_size and total_parameters, sorted weight_map), or a single `model.safetensors` when
 * everything fits one shard. Each shard header is padded with spaces to 8 bytes like the
 * reference writer and carries {"format": "pt"}.
 *
 * Weights: norms are 1.0; everything else a deterministic normal-ish value (Irwin-Hall sum of
 * four uniforms, std = initializer_range) that depends only on (seed, the tensor's per-expert
 * Hugging Face name, element index). So the fused 3-D expert layout (fused = 1:
 * `mlp.experts.gate_up_proj` [E,2I,H] gate rows first, `mlp.experts.down_proj` [E,H,I]; Mixtral's
 * block renamed `mlp` as transformers 5 does) holds exactly the values of the per-expert layout
 * written with the same seed.
 *
 * Streaming and durability: tensors are generated into a fixed buffer and written as they are
 * made (memory use does not grow with the model); each shard is written to NAME.tmp, fsynced
 * and renamed; the index (or the single model.safetensors) appears last, then the folder is
 * fsynced, so an interrupted run never leaves a folder that looks complete. */
#ifndef MOEPROBE_MAKE_MODEL_H
#define MOEPROBE_MAKE_MODEL_H

#include <stdint.h>

#include "pipeline/model/dtype.h"
#include "pipeline/util/error.h"

typedef struct mkm_opts {
    const char *config_path; /* config.json (or a folder holding one) */
    const char *out_dir;     /* created if missing */
    uint64_t seed;
    int layers;    /* > 0: replace num_hidden_layers */
    int dtype_set; /* 1: write `dtype`, else the config's torch_dtype */
    mp_dtype dtype;
    uint64_t shard_size; /* bytes; 0 = 5 GB (5e9, transformers' default) */
    int fused_experts;
    const char *tokenizer; /* copied to out_dir/tokenizer.json when non-NULL */
    int force;             /* replace an existing checkpoint in out_dir */
    int progress;          /* print one line per shard on stderr */
    int dry_run;           /* plan only: fill the stats, write nothing */
} mkm_opts;

typedef struct mkm_stats {
    int n_shards;
    int64_t n_tensors;
    uint64_t bytes; /* tensor data bytes written */
    int64_t params;
    int64_t active_params;  /* per token: routed experts counted k of E */
    uint64_t planned_bytes; /* tensor data bytes of the plan */
    double seconds;
} mkm_stats;

void mkm_opts_init(mkm_opts *o);
int mkm_make(const mkm_opts *o, mkm_stats *st, mp_err *err);
/* Parses "5GB", "500MB", "1GiB", "123" (bytes) like transformers' convert_file_size_to_int. */
int mkm_parse_size(const char *s, uint64_t *out);

#endif
