/* analysis.h — the contract between the batch pipeline (jobs/, cli/cmd_run.c) and the analyses.
 *
 * An analysis is one file in stages/ (analysis_def.h: its definition and config keys). It is run as
 * *units*: per relation ("block/adj_antonym") or once per model ("summarise/pooled"). A unit
 * is all-or-nothing: it writes into its own archive part (archive.h) and is committed only
 * when it returned 0, so a crash never leaves half a unit, and a rerun skips complete units.
 *
 * What a unit may use:
 *   - ctx->cfg (every rank) — options by key path (run_config.h);
 *   - ctx->r and ctx->ps (every rank, only when the stage declares needs_model) — the model,
 *     run collectively through runner.h (never MPI directly);
 *   - analysis_open_unit (rank 0) — the archive part of an earlier unit, e.g. "capture/<rel>";
 *   - analysis_bcast (every rank) — hands a blob computed on rank 0 to all ranks (e.g. the
 *     relation's top experts read from the capture unit);
 *   - ctx->out (rank 0) — where the unit writes (archive.h), NULL on other ranks.
 * Collective rule: with the model, every rank runs the unit's function with the same
 * arguments and makes the same runner calls in the same order.
 *
 * Archive layout (names from the paper and Hugging Face; docs/archive.md has every dataset):
 *   relations/<rel>     prompts, objects, target ids, input ids
 *   metrics/<rel>       attributes hit10, mrr, n, top_experts, hit10_block{N}, mrr_topk{k}, ...
 *   evaluate/<rel>      per-sample rank and logit margin
 *   routing/<rel>       top-k ids/weights and router probabilities at the last position,
 *                       expert frequency ranking
 *   attribution/<rel>   per-sample gains of layers, heads, experts, neurons
 *   captures/<rel>      the hook points chosen in capture.points
 *   analyses/<rel>      summary, head_expert/{pair,suppression,forcing,path}, neurons
 *   analyses/pooled     the pooled summary over all relations */
#ifndef MOEPROBE_ANALYSIS_H
#define MOEPROBE_ANALYSIS_H

#include "pipeline/archive/archive.h"
#include "pipeline/util/blob.h"
#include "pipeline/util/error.h"
#include "pipeline/config/relations.h"
#include "pipeline/config/run_config.h"
#include "pipeline/runner/runner.h"
#include "stages/analysis_def.h"

typedef struct analysis_ctx {
    const rcfg *cfg;
    runner *r;               /* needs_model stages only; else NULL */
    const lre_relation *rel; /* per-relation units; else NULL */
    const prompt_set *ps;    /* the relation's prompts (needs_model, per relation) */
    const lre_set *rels;     /* every relation of the run (all ranks) */
    const mcfg *model_cfg;   /* the model's config.json, resolved (every rank) */
    const char *model_name;
    const char *unit_id;
    int rank;
    /* rank 0 only */
    arc_writer *w;
    arc_unit *out;
} analysis_ctx;

/* Rank 0: opens the part of a complete unit (or, if its part is gone, the snapshot). */
int analysis_open_unit(const analysis_ctx *c, const char *unit_id, arc_reader **rd, mp_err *err);
/* Every rank: rank 0's blob b is copied to every other rank's b. */
void analysis_bcast(blob *b);

/* Builds the prompts of a relation for the config's template choice. */
int analysis_relation_prompts(runner *r, const rcfg *cfg, const lre_relation *rel, prompt_set *ps,
                              mp_err *err);

#endif
