/* schema_capture.c — the archive entries of the analysis "capture", written by stages/capture.c.
 * Fields: kind, path, attribute name, type, rank, dimension names, units, description, when
 * (pipeline/archive/schema.h). Keep docs/archive.md in step: scripts/gen-archive-doc.sh. */
#include "stages/schema_capture.h"

/* clang-format off */
const sch_entry SCH_CAPTURE_ENTRIES[CAP_COUNT] = {
    [CAP_GROUP] = {SCH_GROUP, "captures", NULL, ARC_F64, 0, {NULL}, NULL,
               "hooked activations (capture.points at capture.layers)",
               SCH_OPTIONAL},
    [CAP_REL] = {SCH_GROUP, "captures/{rel}", NULL, ARC_F64, 0, {NULL}, NULL,
               "one relation's captures",
               SCH_OPTIONAL},
    [CAP_RESID_PRE] = {SCH_DATASET, "captures/{rel}/resid_pre", NULL,
               ARC_F32, 3, {"sample", "captured_layer", "hidden"}, "activation",
               "residual stream before each layer (layers: the kept ones, in order)",
               SCH_OPTIONAL | SCH_TOKEN_ROWS},
    [CAP_ATTN_OUT] = {SCH_DATASET, "captures/{rel}/attn_out", NULL,
               ARC_F32, 3, {"sample", "captured_layer", "hidden"}, "activation",
               "attention output of each layer (layers: the kept ones, in order)",
               SCH_OPTIONAL | SCH_TOKEN_ROWS},
    [CAP_MLP_OUT] = {SCH_DATASET, "captures/{rel}/mlp_out", NULL,
               ARC_F32, 3, {"sample", "captured_layer", "hidden"}, "activation",
               "FFN / MoE output of each layer (layers: the kept ones, in order)",
               SCH_OPTIONAL | SCH_TOKEN_ROWS},
    [CAP_RESID_POST] = {SCH_DATASET, "captures/{rel}/resid_post", NULL,
               ARC_F32, 3, {"sample", "captured_layer", "hidden"}, "activation",
               "residual stream after each layer (layers: the kept ones, in order)",
               SCH_OPTIONAL | SCH_TOKEN_ROWS},
    [CAP_HEAD_OUT] = {SCH_DATASET, "captures/{rel}/head_out", NULL,
               ARC_F32, 4, {"sample", "captured_layer", "attn_head", "hidden"}, "activation",
               "each head's output projected by o_proj (layers: the kept ones, in order)",
               SCH_OPTIONAL | SCH_TOKEN_ROWS},
    [CAP_ROUTER_LOGITS] = {SCH_DATASET, "captures/{rel}/router_logits", NULL,
               ARC_F32, 3, {"sample", "captured_layer", "expert_id"}, "logit",
               "router logits (layers: the kept ones, in order)",
               SCH_OPTIONAL | SCH_TOKEN_ROWS},
    [CAP_TOPK_IDX] = {SCH_DATASET, "captures/{rel}/topk_idx", NULL,
               ARC_I32, 3, {"sample", "captured_layer", "slot"}, "index",
               "the chosen experts (layers: the kept ones, in order)",
               SCH_OPTIONAL | SCH_TOKEN_ROWS},
    [CAP_TOPK_WEIGHT] = {SCH_DATASET, "captures/{rel}/topk_weight", NULL,
               ARC_F32, 3, {"sample", "captured_layer", "slot"}, "1",
               "routing weights of the chosen experts (layers: the kept ones, in order)",
               SCH_OPTIONAL | SCH_TOKEN_ROWS},
    [CAP_EXPERT_OUT] = {SCH_DATASET, "captures/{rel}/expert_out", NULL,
               ARC_F32, 4, {"sample", "captured_layer", "slot", "hidden"}, "activation",
               "each chosen expert's weighted output (layers: the kept ones, in order)",
               SCH_OPTIONAL | SCH_TOKEN_ROWS},
    [CAP_SHARED_OUT] = {SCH_DATASET, "captures/{rel}/shared_out", NULL,
               ARC_F32, 3, {"sample", "captured_layer", "hidden"}, "activation",
               "the shared expert's output (hook point shared_expert) (layers: the kept ones, in "
               "order)",
               SCH_OPTIONAL | SCH_TOKEN_ROWS},
    [CAP_SHARED_GATE] = {SCH_DATASET, "captures/{rel}/shared_gate", NULL,
               ARC_F32, 3, {"sample", "captured_layer", "one"}, "1",
               "the shared expert's sigmoid gate (hook point shared_expert) (layers: the kept "
               "ones, in order)",
               SCH_OPTIONAL | SCH_TOKEN_ROWS},
    [CAP_LOGITS] = {SCH_DATASET, "captures/{rel}/logits", NULL,
               ARC_F32, 2, {"sample", "vocab"}, "logit",
               "the output logits at the last position (hook point logits)",
               SCH_OPTIONAL},
    [CAP_N_TOKENS] = {SCH_DATASET, "captures/{rel}/n_tokens", NULL, ARC_I64, 1, {"sample"}, "count",
               "tokens of each sample, with capture.positions all: sample i owns the next "
               "n_tokens[i] rows",
               SCH_OPTIONAL},
    [CAP_CAPTURED_LAYER] = {SCH_DATASET, "captures/{rel}/captured_layer", NULL,
               ARC_I64, 1, {"captured_layer"}, "index",
               "the model layer (0-based) of each kept layer: the coordinate of the captured_layer "
               "axis (capture.layers)",
               SCH_OPTIONAL},
};
/* clang-format on */

const sch_table SCH_CAPTURE_TABLE = {
    "capture",
    "Hooked activations of the forward pass (stage capture), written by capture/<rel> "
    "(stages/capture.c). With capture.positions: last one row per sample; with all, one row per "
    "token.",
    SCH_CAPTURE_ENTRIES, CAP_COUNT};
