/* schema_attribute.c — the archive entries of the analysis "attribute", written by
 * stages/capture.c.
 * Fields: kind, path, attribute name, type, rank, dimension names, units, description, when
 * (pipeline/archive/schema.h). Keep docs/archive.md in step: scripts/gen-archive-doc.sh. */
#include "stages/schema_attribute.h"

/* clang-format off */
const sch_entry SCH_ATTRIBUTE_ENTRIES[ATTR_COUNT] = {
    [ATTR_GROUP] = {SCH_GROUP, "attribution", NULL, ARC_F64, 0, {NULL}, NULL,
               "per-sample attribution",
               SCH_ALWAYS},
    [ATTR_REL] = {SCH_GROUP, "attribution/{rel}", NULL, ARC_F64, 0, {NULL}, NULL,
               "one relation's attribution",
               SCH_ALWAYS},
    [ATTR_FINAL_NORM_SCALE] = {SCH_DATASET, "attribution/{rel}/final_norm_scale", NULL,
               ARC_F64, 1, {"sample"}, "1",
               "the final norm's scale at the last position, frozen for the attribution",
               SCH_ALWAYS},
    [ATTR_ATTN_GAIN] = {SCH_DATASET, "attribution/{rel}/attn_gain", NULL,
               ARC_F64, 2, {"sample", "layer"}, "nats",
               "log-probability increase of the target from each layer's attention output",
               SCH_ALWAYS},
    [ATTR_FFN_GAIN] = {SCH_DATASET, "attribution/{rel}/ffn_gain", NULL,
               ARC_F64, 2, {"sample", "layer"}, "nats",
               "log-probability increase of the target from each layer's FFN / MoE output",
               SCH_ALWAYS},
    [ATTR_HEAD] = {SCH_DATASET, "attribution/{rel}/head", NULL,
               ARC_F64, 3, {"sample", "layer", "attn_head"}, "nats",
               "log-probability increase from each attention head",
               SCH_ALWAYS},
    [ATTR_EXPERT] = {SCH_DATASET, "attribution/{rel}/expert", NULL,
               ARC_F64, 3, {"sample", "layer", "slot"}, "nats",
               "log-probability increase from each chosen expert, by top-k slot (expert ids in "
               "routing/<rel>/topk_idx)",
               SCH_MOE},
    [ATTR_SHARED] = {SCH_DATASET, "attribution/{rel}/shared", NULL,
               ARC_F64, 2, {"sample", "layer"}, "nats",
               "log-probability increase from the shared expert",
               SCH_SHARED},
    [ATTR_NEURON_TOP] = {SCH_DATASET, "attribution/{rel}/neuron_top{N}", NULL,
               ARC_I32, 3, {"sample", "neuron_rank_top{N}", "layer_expert_neuron"}, "index",
               "the top-N neurons of each sample as (layer, expert, neuron); expert -1 = shared "
               "expert or dense MLP, -1 rows = fewer neurons than N (attribute.neurons_top)",
               SCH_OPTIONAL},
    [ATTR_NEURON_TOP_SCORE] = {SCH_DATASET, "attribution/{rel}/neuron_top{N}_score", NULL,
               ARC_F64, 2, {"sample", "neuron_rank_top{N}"}, "nats",
               "the log-probability increase of each of the top-N neurons",
               SCH_OPTIONAL},
    [ATTR_NEURONS_EXACT] = {SCH_DATASET, "attribution/{rel}/neurons_exact", NULL,
               ARC_I64, 1, {"sample"}, "count",
               "neurons scored exactly (after screening)",
               SCH_ALWAYS},
    [ATTR_NEURONS_TOTAL] = {SCH_DATASET, "attribution/{rel}/neurons_total", NULL,
               ARC_I64, 1, {"sample"}, "count",
               "neurons in the model's active FFN paths",
               SCH_ALWAYS},
    [ATTR_RANKING_ATTRIBUTION] = {SCH_DATASET, "routing/{rel}/expert_ranking_attribution", NULL,
               ARC_I64, 2, {"expert_rank", "layer_expert_count"}, "index, count",
               "every (layer, expert, count), ranked by summed expert attribution",
               SCH_MOE},
    [ATTR_EXPERT_BY_ID] = {SCH_DATASET, "attribution/{rel}/expert_by_id", NULL,
               ARC_F64, 3, {"sample", "layer", "expert_id"}, "nats",
               "log-probability increase from each routed expert, by expert id: the values of "
               "expert placed by routing/<rel>/topk_idx, 0 where the expert was not chosen (it "
               "adds nothing to the output)",
               SCH_MOE},
    [ATTR_NEURON_RANKING] = {SCH_GROUP, "attribution/{rel}/neuron_top{N}_ranking", NULL,
               ARC_F64, 0, {NULL}, NULL,
               "the top-N neurons of each sample in tidy form: neuron_top{N} and its scores as "
               "separate variables along rank",
               SCH_OPTIONAL},
    [ATTR_NEURON_RANKING_LAYER] = {SCH_DATASET, "attribution/{rel}/neuron_top{N}_ranking/layer",
               NULL, ARC_I32, 2, {"sample", "rank"}, "index",
               "layer (0-based) of the neuron; -1 past the model's neurons",
               SCH_OPTIONAL},
    [ATTR_NEURON_RANKING_EXPERT] = {SCH_DATASET,
               "attribution/{rel}/neuron_top{N}_ranking/expert", NULL,
               ARC_I32, 2, {"sample", "rank"}, "index",
               "routed expert id of the neuron; -1 = shared expert or dense MLP (or past the "
               "model's neurons)",
               SCH_OPTIONAL},
    [ATTR_NEURON_RANKING_NEURON] = {SCH_DATASET,
               "attribution/{rel}/neuron_top{N}_ranking/neuron", NULL,
               ARC_I32, 2, {"sample", "rank"}, "index",
               "neuron (0-based intermediate unit) within its expert's or MLP's FFN; -1 past the "
               "model's neurons",
               SCH_OPTIONAL},
    [ATTR_NEURON_RANKING_SCORE] = {SCH_DATASET,
               "attribution/{rel}/neuron_top{N}_ranking/score", NULL,
               ARC_F64, 2, {"sample", "rank"}, "nats",
               "log-probability increase from the neuron; NaN past the model's neurons",
               SCH_OPTIONAL},
};
/* clang-format on */

const sch_table SCH_ATTRIBUTE_TABLE = {
    "attribute",
    "Log-probability-increase attribution of every sample (the paper's section 3), written by "
    "capture/<rel> (stages/capture.c) when the stage attribute runs.",
    SCH_ATTRIBUTE_ENTRIES, ATTR_COUNT};
