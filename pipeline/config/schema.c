/* schema.c — THE table of run-config keys (and of model-file keys). Parsing,
 * validation, defaults, accessors, the effective-config YAML and `moeprobe config --explain`
 * all come from here. Adding an analysis: add its section (RCFG_MAP) and keys below, and its
 * name to the values of `stages`. Defaults are YAML text, parsed like user input (a test
 * checks that every default validates). Sections must precede their keys. */
#include "pipeline/config/internal.h"

#include <stdio.h>
#include <string.h>

#define NOLIM 0, 0
/* Allowed values ("a|b") and the defaults (YAML lists) of the two enum lists. */
#define STAGES "capture|evaluate|attribute|summarise|block|heads_experts|neurons|report"
#define STAGES_ALL "[capture, evaluate, attribute, summarise, block, heads_experts, neurons, " \
                   "report]"
#define POINTS "resid_pre|attn_out|mlp_out|resid_post|head_out|router_logits|topk|expert_out|" \
               "shared_expert|logits"
#define POINTS_ALL "[resid_pre, attn_out, mlp_out, resid_post, head_out, router_logits, topk, " \
                   "expert_out, shared_expert, logits]"

static const rcfg_key RUN_KEYS[] = {
    /* ---- required: a config of these three keys is enough ---- */
    {"model", RCFG_PATH, RCFG_SPECIAL | RCFG_NULLABLE | RCFG_HIDE_NULL, NULL, NOLIM, NULL,
     "Hugging Face checkpoint folder, or a model YAML file (see the model-file keys below). "
     "Required unless `models` is given."},
    {"models", RCFG_PATH_LIST, RCFG_SPECIAL | RCFG_NULLABLE | RCFG_HIDE_NULL, NULL, NOLIM, NULL,
     "Sweep form of `model`: a list of checkpoint folders and/or model YAML files; one archive "
     "per model. Exclusive with `model`."},
    {"relations", RCFG_PATH_LIST, RCFG_SPECIAL | RCFG_REQUIRED, NULL, NOLIM, NULL,
     "A folder of LRE relation .json files, one .json file, a relation name (resolved in "
     "relations_dir), or a list of files and names."},
    {"out", RCFG_PATH, RCFG_REQUIRED | RCFG_NOT_FILE, NULL, NOLIM, NULL,
     "Output folder for the archive(s) and the report; created if missing."},
    /* ---- run ---- */
    {"name", RCFG_STR, RCFG_NULLABLE, "null", NOLIM, NULL,
     "Run name, used for the archive file OUT/NAME.h5 (default: the model folder's name). "
     "Single-model runs only; in sweeps each model file carries its name."},
    {"relations_dir", RCFG_PATH, 0, "data/lre", NOLIM, NULL,
     "Folder in which relation names given in `relations` are looked up."},
    {"template", RCFG_INT, RCFG_ALL, "0", 0, 1000, NULL,
     "Index into each relation's prompt_templates_zs, or \"all\" to run every template."},
    {"max_samples", RCFG_INT, 0, "0", 0, 1e9, NULL,
     "Use at most this many samples per relation, in file order (0 = all)."},
    {"batch_size", RCFG_INT, 0, "64", 1, 65536, NULL,
     "Prompts per forward batch on each rank."},
    {"expert_placement", RCFG_ENUM, 0, "contiguous", NOLIM, "contiguous|round_robin",
     "How routed experts are spread over MPI ranks: contiguous blocks or round robin."},
    {"stages", RCFG_ENUM_LIST, 0, STAGES_ALL, NOLIM, STAGES,
     "Which analyses to run (a later stage reads what earlier ones stored in the archive)."},
    {"snapshot_every_s", RCFG_FLOAT, 0, "0", 0, 1e9, NULL,
     "Rebuild the archive snapshot OUT/NAME.h5 at most every S seconds (0 = after every "
     "completed unit); always at the end."},
    {"progress_every_s", RCFG_FLOAT, 0, "30", 0, 1e9, NULL,
     "Print a progress line (% done, ETA) on stderr every S seconds (0 = never)."},
    /* ---- capture: what the hooks copy into the archive ---- */
    {"capture", RCFG_MAP, 0, NULL, NOLIM, NULL, "Hooked activations stored in the archive."},
    {"capture.points", RCFG_ENUM_LIST, 0, POINTS_ALL, NOLIM, POINTS,
     "Hook points to store (names as in the trace archive)."},
    {"capture.positions", RCFG_ENUM, 0, "last", NOLIM, "last|all",
     "Store the last prompt position only, or every position."},
    {"capture.layers", RCFG_INT_LIST, RCFG_ALL, "all", 0, 1e6, NULL,
     "Layers to store (0-based), or \"all\"."},
    /* ---- attribute ---- */
    {"attribute", RCFG_MAP, 0, NULL, NOLIM, NULL,
     "Log-probability-increase attribution (frozen final norm)."},
    {"attribute.neurons_top", RCFG_INT_LIST, 0, "[100, 300]", 1, 1e7, NULL,
     "Sizes N of the per-sample top-N neuron sets to compute exactly."},
    {"attribute.neuron_screen", RCFG_BOOL, 0, "true", NOLIM, NULL,
     "Screen neurons with the first-order bound before exact scoring (same top-N, faster); "
     "false scores every neuron exactly."},
    /* ---- summarise ---- */
    {"summarise", RCFG_MAP, 0, NULL, NOLIM, NULL, "Per-model summaries (Table 1, Figures 2-3)."},
    {"summarise.stages", RCFG_MAP, 0, NULL, NOLIM, NULL,
     "Early / mid / late layer ranges as fractions of depth; they must sum to 1."},
    {"summarise.stages.early", RCFG_FLOAT, 0, "0.55", 0, 1, NULL,
     "Fraction of layers in the early stage (the paper's 1-13 of 24)."},
    {"summarise.stages.mid", RCFG_FLOAT, 0, "0.25", 0, 1, NULL,
     "Fraction of layers in the mid stage (14-19 of 24)."},
    {"summarise.stages.late", RCFG_FLOAT, 0, "0.20", 0, 1, NULL,
     "Fraction of layers in the late stage (20-24 of 24)."},
    /* ---- block ---- */
    {"block", RCFG_MAP, 0, NULL, NOLIM, NULL,
     "Blocking the top experts of each relation, and configuration ablations (MoE models)."},
    {"block.top_n", RCFG_INT_LIST, 0, "[1, 5, 10]", 1, 1e6, NULL,
     "Block the top-N experts for each N listed."},
    {"block.mode", RCFG_ENUM, 0, "router_logit", NOLIM, "router_logit|zero_output",
     "router_logit: set blocked router logits to -inf before the softmax (others take their "
     "place); zero_output: zero the blocked expert's output after routing."},
    {"block.rank_by", RCFG_ENUM, 0, "frequency", NOLIM, "frequency|attribution",
     "Rank a relation's experts by top-k frequency at the last position, or by summed expert "
     "attribution."},
    {"block.topk_ablation", RCFG_BOOL, 0, "true", NOLIM, NULL,
     "Also run top-k for k = 0..K."},
    {"block.shared_ablation", RCFG_BOOL, 0, "true", NOLIM, NULL,
     "Also run the shared-expert configurations (models with a shared expert)."},
    /* ---- heads_experts ---- */
    {"heads_experts", RCFG_MAP, 0, NULL, NOLIM, NULL,
     "Attention head / expert correlation, suppression, forcing and path analysis."},
    {"heads_experts.correlation", RCFG_ENUM, 0, "static", NOLIM, "static|temporal",
     "static: Pearson r over samples; temporal: over token positions with head output norms."},
    {"heads_experts.strongest", RCFG_INT, 0, "10", 1, 1e6, NULL,
     "How many strongest (largest |r|) pairs to report."},
    {"heads_experts.top_experts_for_pair", RCFG_INT, 0, "10", 1, 1e6, NULL,
     "The causal pair's expert must be among the relation's top this-many experts."},
    {"heads_experts.suppression_top_experts", RCFG_INT, 0, "4", 1, 1e6, NULL,
     "Top experts (layer >= the head's) whose routing probability suppression reports."},
    /* ---- neurons ---- */
    {"neurons", RCFG_MAP, 0, NULL, NOLIM, NULL, "Neuron-level analyses (Figure 6, Table 7)."},
    {"neurons.top", RCFG_INT_LIST, 0, "[100, 300]", 1, 1e7, NULL,
     "Top-N neuron sets per sample for the shared/routed split and overlaps."},
    {"neurons.top_experts", RCFG_INT, 0, "5", 1, 1e6, NULL,
     "Routed experts to list per relation."},
    {"neurons.top_shared_neurons", RCFG_INT, 0, "5", 1, 1e6, NULL,
     "Shared-expert neurons to list per relation."},
    /* ---- report ---- */
    {"report", RCFG_MAP, 0, NULL, NOLIM, NULL, "The report rendered from the archive."},
    {"report.format", RCFG_ENUM, 0, "html", NOLIM, "html|markdown", "Report format."},
    {"report.plots", RCFG_ENUM, 0, "svg", NOLIM, "svg|png", "Plot image format."},
    /* ---- archive ---- */
    {"archive", RCFG_MAP, 0, NULL, NOLIM, NULL, "The HDF5 archive."},
    {"archive.deflate", RCFG_INT, 0, "1", 0, 9, NULL,
     "Deflate level of chunked datasets (0 = uncompressed; float32 activations shrink ~14% "
     "at any level, level 1 is the fastest)."},
};

static const rcfg_key MODEL_KEYS[] = {
    {"name", RCFG_STR, RCFG_REQUIRED, NULL, NOLIM, NULL,
     "Model name: archive OUT/NAME.h5 and report labels."},
    {"path", RCFG_PATH, RCFG_REQUIRED | RCFG_DIR, NULL, NOLIM, NULL,
     "Hugging Face checkpoint folder."},
    {"batch_size", RCFG_INT, RCFG_NULLABLE, "null", 1, 65536, NULL,
     "Overrides the run's batch_size for this model."},
    {"ranks", RCFG_INT, RCFG_NULLABLE, "null", 1, 65536, NULL,
     "MPI ranks to use for this model (sweep planning); null = any."},
};

const rcfg_schema RCFG_RUN_SCHEMA = {RUN_KEYS, sizeof RUN_KEYS / sizeof RUN_KEYS[0],
                                     "run config"};
const rcfg_schema RCFG_MODEL_SCHEMA = {MODEL_KEYS, sizeof MODEL_KEYS / sizeof MODEL_KEYS[0],
                                       "model file"};

int rcfg_schema_find(const rcfg_schema *s, const char *path)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->keys[i].path, path))
            return (int)i;
    return -1;
}

const char *rcfg_type_text(const rcfg_key *k, char *buf, size_t len)
{
    static const char *names[] = {"section", "string", "path", "int", "float", "bool", "enum",
                                  "list of int", "list of string", "list of enum",
                                  "list of path"};
    const char *base = names[k->type];
    char extra[256] = "";
    if (!strcmp(k->path, "relations"))
        base = "folder, file, name, or list of files/names";
    else if (!strcmp(k->path, "model"))
        base = "path (folder or model YAML file)";
    else if (!strcmp(k->path, "models"))
        base = "list of paths (folders or model YAML files)";
    if (k->type == RCFG_PATH && (k->flags & RCFG_DIR))
        snprintf(extra, sizeof extra, " (existing folder)");
    else if (k->type == RCFG_PATH && (k->flags & RCFG_FILE))
        snprintf(extra, sizeof extra, " (existing file)");
    else if (k->type == RCFG_PATH && (k->flags & RCFG_NOT_FILE))
        snprintf(extra, sizeof extra, " (folder, created if missing)");
    else if ((k->type == RCFG_INT || k->type == RCFG_FLOAT || k->type == RCFG_INT_LIST) &&
             k->max > k->min)
        snprintf(extra, sizeof extra, ", %s%g..%g", k->type == RCFG_INT_LIST ? "each " : "",
                 k->min, k->max);
    if (k->type == RCFG_ENUM || k->type == RCFG_ENUM_LIST)
        snprintf(extra, sizeof extra, ": %s", k->values);
    snprintf(buf, len, "%s%s%s%s", base, extra, (k->flags & RCFG_ALL) ? ", or \"all\"" : "",
             (k->flags & RCFG_NULLABLE) && strcmp(k->path, "model") && strcmp(k->path, "models")
                 ? ", or null" : "");
    return buf;
}

static void explain_table(FILE *f, const rcfg_schema *s)
{
    char tt[512];
    for (size_t i = 0; i < s->n; i++) {
        const rcfg_key *k = &s->keys[i];
        int depth = 0;
        for (const char *c = k->path; *c; c++)
            depth += *c == '.';
        if (k->type == RCFG_MAP) {
            fprintf(f, "%*s%s:  (section) %s\n", 2 * depth, "", k->path, k->doc);
            continue;
        }
        const char *def = (k->flags & RCFG_REQUIRED) ? "required"
                          : k->def                  ? k->def
                                                    : "none";
        if (!strcmp(k->path, "model") || !strcmp(k->path, "models"))
            def = "required: model or models";
        fprintf(f, "%*s%s  [%s]  default: %s\n", 2 * depth, "", k->path,
                rcfg_type_text(k, tt, sizeof tt), def);
        fprintf(f, "%*s    %s\n", 2 * depth, "", k->doc);
    }
}

void rcfg_explain(FILE *f)
{
    fprintf(f, "Run config keys (moeprobe run CONFIG.yaml). Nested keys are written as YAML "
               "sections:\n  block:\n    top_n: [1, 5]\nRelative paths are taken from the "
               "working directory.\n\n");
    explain_table(f, &RCFG_RUN_SCHEMA);
    fprintf(f, "\nModel file keys (a YAML file given in `model` or `models`, e.g. "
               "configs/models/NAME.yaml):\n\n");
    explain_table(f, &RCFG_MODEL_SCHEMA);
}
