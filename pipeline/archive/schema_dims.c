/* schema_dims.c — every dimension name of the archive schema and what one position along it is.
 * A name means one thing everywhere (netCDF-4 and xarray take equal names in a group as one
 * axis), so axes of different meaning or size never share a name. The snapshot turns each into
 * an HDF5 dimension scale per group (pipeline/archive/scales.c); docs/archive.md lists them.
 * Fields: name, units of the coordinate values, description, coordinate kind (schema.h). */
#include "pipeline/archive/schema.h"

/* clang-format off */
const sch_dim SCH_DIMS[] = {
    {"sample", "index", "sample (prompt) of the relation: 0-based position in relations/<rel>/prompt",
     SCH_COORD_INDEX},
    {"token", "index", "token row: every position of every sample, samples one after another "
     "(relations/<rel>/input_offsets, captures/<rel>/n_tokens say which rows are whose)",
     SCH_COORD_INDEX},
    {"sample_edge", "index", "boundary between samples in the token rows (n + 1 of them)",
     SCH_COORD_INDEX},
    {"layer", "index", "decoder layer of the model, 0-based", SCH_COORD_INDEX},
    {"captured_layer", "index", "a layer kept by capture.layers; the coordinate is the model "
     "layer (0-based) it is", SCH_COORD_WRITTEN},
    {"attn_head", "index", "attention head within its layer, 0-based", SCH_COORD_INDEX},
    {"expert_id", "index", "routed expert within its layer (the expert id), 0-based",
     SCH_COORD_INDEX},
    {"slot", "index", "top-k slot of the router's choice (0 = largest routing weight)",
     SCH_COORD_INDEX},
    {"hidden", "index", "component of the hidden state (index only)", SCH_COORD_INDEX},
    {"vocab", "index", "token id of the vocabulary (index only)", SCH_COORD_INDEX},
    {"one", "index", "an axis of length 1 (a per-layer scalar kept as a vector)", SCH_COORD_INDEX},
    {"config", "index", "configuration, in run order", SCH_COORD_INDEX},
    {"expert_rank", "index", "position in a ranking of (layer, expert) pairs, 0 = first",
     SCH_COORD_INDEX},
    {"neuron_rank", "index", "position in a ranking of shared-expert neurons, 0 = first",
     SCH_COORD_INDEX},
    {"neuron_rank_top{N}", "index", "position among a sample's top-N neurons, 0 = largest "
     "gain", SCH_COORD_INDEX},
    {"rank", "index", "position in the ranking its group holds, 0 = first (largest)",
     SCH_COORD_INDEX},
    {"layer_expert_count", "index", "column of a packed row: 0 layer, 1 expert, 2 count",
     SCH_COORD_INDEX},
    {"layer_neuron_count", "index", "column of a packed row: 0 layer, 1 neuron, 2 count",
     SCH_COORD_INDEX},
    {"layer_expert_neuron", "index", "column of a packed row: 0 layer, 1 expert, 2 neuron",
     SCH_COORD_INDEX},
    {"layer_head", "index", "column of a packed pair: 0 layer, 1 head", SCH_COORD_INDEX},
    {"layer_expert", "index", "column of a packed pair: 0 layer, 1 expert", SCH_COORD_INDEX},
    {"flat_head", "index", "attention head of the model, flattened: layer * heads + head",
     SCH_COORD_INDEX},
    {"flat_expert", "index", "routed expert of the model, flattened: layer * experts + expert",
     SCH_COORD_INDEX},
    {"strongest", "index", "one of the strongest head-expert correlations, 0 = largest |r|",
     SCH_COORD_INDEX},
    {"permutation", "index", "one shuffle of the permutation null, sorted by its value",
     SCH_COORD_INDEX},
    {"quantile_level", "1", "a level of the null's quantiles; the coordinate is the level "
     "(quantile_level, e.g. 0.95)", SCH_COORD_WRITTEN},
    {"watched", "index", "one of the watched experts", SCH_COORD_INDEX},
    {"relation", "index", "relation, in the order of the group's relations dataset",
     SCH_COORD_INDEX},
    {"other_relation", "index", "the second relation of a pair, in the same order as relation",
     SCH_COORD_INDEX},
};
/* clang-format on */
const size_t SCH_N_DIMS = sizeof SCH_DIMS / sizeof *SCH_DIMS;
