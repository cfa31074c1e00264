/* runner.h — runs prompts through a model across the job's ranks and brings per-sample results
 * to rank 0. This is what stages call when they need the model; they never touch MPI.
 *
 * Parallelism: the prompts of a set are split into contiguous blocks, one per rank (data
 * parallel); each rank runs its block in batches of opts.batch_size prompts, and inside every
 * MoE layer tokens travel to the ranks holding their experts (expert_parallel.h). All ranks
 * run the same number of rounds (a rank with no prompts left runs empty batches), so the
 * all-to-alls always meet.
 *
 * runner_map is collective. For each sample, on the rank that ran it, on_sample turns the
 * sample's logits and hooked records into a blob (blob.h); after each round the blobs are
 * gathered to rank 0, which calls on_collect once per sample in sample order. Rank 0 never
 * holds more than one round of blobs.
 *
 * Errors under MPI end the job through comm_fatal (a rank that stopped half-way would leave the
 * others waiting in an all-to-all). In a single process they return -1 with err set. */
#ifndef MOEPROBE_RUNNER_H
#define MOEPROBE_RUNNER_H

#include <stdint.h>
#include <stdio.h>

#include "pipeline/attribution/attribution.h"
#include "pipeline/util/blob.h"
#include "pipeline/attribution/sample_capture.h"
#include "pipeline/util/error.h"
#include "pipeline/parallel/expert_parallel.h"
#include "pipeline/forward/forward.h"
#include "pipeline/forward/hook_store.h"
#include "pipeline/model/model.h"
#include "pipeline/tokenizer/tokenizer.h"

typedef struct runner_opts {
    int batch_size;         /* prompts per forward call per rank (default 32) */
    ep_placement placement; /* expert placement over ranks */
    int use_mpi;            /* 1: the job's ranks (comm_init done); 0: one process */
    int eval_bf16;          /* 1: runner_eval screens with bf16 products (eval_precision) */
} runner_opts;

runner_opts runner_opts_default(void);

/* The screened evaluation's bounds (docs/method.md), calibrated by each screened pass on its
 * own first samples. */
typedef struct runner_screen {
    int calibrated, logged;
    double d_logit;     /* largest bf16 - float32 discrepancy of a logit difference seen */
    double bound_logit; /* a margin at or below this is close */
    /* per layer: largest discrepancy of a router logit seen, and 1 / the routing-gap bound
     * (a gap times this at or below 1 is close) [num_hidden_layers] */
    double *d_router;
    float *gap_scale;
    int64_t calib_samples, widened; /* samples calibrated on; passes a sentinel recomputed */
} runner_screen;

typedef struct runner {
    mp_model model;
    tokenizer *tok;
    ep_ctx *ep;
    fwd_ctx *fwd;
    attr_ctx *attr;
    int rank, size;
    runner_opts opts;
    double forward_s; /* wall seconds in fwd_run, this rank */
    int64_t tokens;   /* tokens run by this rank */
    runner_screen screen;
} runner;

/* Loads DIR (checkpoint + tokenizer.json) and sets up the expert placement. Handles start
 * invalid: runner_free is safe after a failed init. tokenizer_path NULL = DIR/tokenizer.json. */
int runner_init(runner *r, const char *model_dir, const char *tokenizer_path,
                const runner_opts *opts, mp_err *err);
void runner_free(runner *r);

/* Prompts with their targets: the target is the first id where encode(prompt) and
 * encode(prompt + " " + object) differ (add_special_tokens = True). */
typedef struct prompt_set {
    int64_t n;
    char **prompt; /* [n] */
    char **object; /* [n] or NULL entries when no object was given */
    int32_t **ids; /* [n][len[i]] */
    int *len;
    int32_t *target; /* [n]; -1 without object */
} prompt_set;

void prompt_set_init(prompt_set *ps);
void prompt_set_free(prompt_set *ps);
/* Tokenizes n prompts; objects may be NULL (no targets). origin names the source in errors. */
int runner_prompts(runner *r, int64_t n, const char *const *prompts, const char *const *objects,
                   const char *origin, prompt_set *ps, mp_err *err);

typedef struct runner_sample {
    int64_t sample; /* index in the prompt set; also the hook records' sample id */
    const prompt_set *ps;
    const float *logits;     /* [V] last position */
    const hook_store *store; /* this round's records (routed home: expert activations too) */
    runner *r;
    float route_gap; /* with runner_job.want_gap: the smallest routing gap (routing.h) */
} runner_sample;

typedef int (*runner_sample_fn)(void *ctx, const runner_sample *s, blob *out, mp_err *err);
typedef int (*runner_collect_fn)(void *ctx, int64_t sample, const void *data, size_t len,
                                 mp_err *err);

typedef struct runner_job {
    const prompt_set *ps;
    const intervention *iv; /* NULL: none */
    /* Per-sample weights of a forced expert at every position ([len[i]] each), or NULL. */
    const float *const *force_weight;
    const hook_set *hooks;      /* requests only; the runner supplies the sink; NULL: none */
    runner_sample_fn on_sample; /* NULL: nothing per sample */
    void *sample_ctx;
    /* Every rank, after each round's forward pass, with this rank's samples of the round (n may
     * be 0), before on_sample: collective work over a batch, e.g. attribution with
     * runner_attr_remote. NULL: none. */
    int (*on_batch)(void *ctx, runner *r, const runner_sample *s, int n, mp_err *err);
    void *batch_ctx;
    runner_collect_fn on_collect; /* rank 0; NULL: blobs dropped */
    void *collect_ctx;
    int want_gap;      /* fill runner_sample.route_gap */
    int quiet;         /* no progress lines */
    const char *label; /* for progress and error messages */
} runner_job;

int runner_map(runner *r, const runner_job *job, mp_err *err);

/* Per-rank resource report (collective): tokens, forward seconds, all-to-all seconds, experts
 * owned and their bytes, peak RSS. Rank 0 prints one line per rank to f (others print nothing)
 * and, if out is not NULL, gets the rows as a blob of arrays [size] named rank, tokens,
 * forward_s, alltoall_s, experts_owned, expert_bytes, peak_rss_bytes. */
void runner_report(runner *r, FILE *f, blob *out);

/* The neuron ranking's access to routed experts' down_proj over the job's ranks: requests go
 * to the rank that owns the expert (expert_parallel.h), so no rank reads another rank's
 * experts. Its calls are collective (attribution.h). */
attr_remote runner_attr_remote(runner *r);

/* For on_batch, collective: the last-position capture of each of this rank's n samples of the
 * round (caps[i], sample_capture.h) and its attribution (res[i]: gains and the top-n_top neurons,
 * screened unless brute) through runner_attr_remote. caps and res have n entries; on failure
 * everything made is freed and both are left zeroed. */
int runner_attribute_batch(runner *r, const runner_sample *s, int n, int n_top, int brute,
                           sample_capture *caps, attr_result *res, mp_err *err);

/* ---- common per-sample quantities -------------------------------------------------------- */

/* rank = 1 + #{v != t : logit_v >= logit_t}: a logit tied with the target's counts against it,
 * so a degenerate model (all logits equal) ranks every target last, not first.
 * margin = min_{v != t} |logit_v - logit_t|. A NaN or Inf logit, or a target outside 0..V-1, is
 * an error (-1, err set): a NaN compares false with everything and would rank 1. */
int runner_rank(const float *logits, int64_t V, int32_t target, int64_t *rank, double *margin,
                mp_err *err);

/* Per-sample evaluation of a whole prompt set under an intervention: ranks and margins on
 * every rank (allgathered). Collective.
 *
 * With opts.eval_bf16 and a bf16 checkpoint the pass is screened (docs/method.md): its first n/8
 * samples (4 .. 32) run both ways to calibrate the bounds (their float32 results are kept); every other
 * sample runs with bf16 products; one whose margin or smallest routing gap is within the
 * bound ("close"), and every 16th other sample (the sentinel), is run again in float32 and
 * takes that result. The ranks are then the float32 ranks; the margin of a sample not
 * recomputed is its bf16 margin. A sentinel that disagrees beyond the bound has the whole
 * pass recomputed. The result depends on the pass alone, not on passes run before. Diagnostics (tests only): MOEPROBE_BF16_BOUND_SCALE multiplies
 * the bounds, MOEPROBE_BF16_SENTINEL=N makes every N-th sample a sentinel (0: none). */
typedef struct eval_result {
    int64_t n;
    int64_t *rank;      /* [n] */
    double *margin;     /* [n] */
    int screened;       /* 1: bf16 screening ran; 0: float32 throughout */
    int64_t recomputed; /* samples run again in float32 (screened passes) */
    int64_t close;      /* of which within the bound (the rest: sentinel or a widening) */
} eval_result;
void eval_result_free(eval_result *e);
int runner_eval(runner *r, const prompt_set *ps, const intervention *iv,
                const float *const *force_weight, eval_result *out, mp_err *err);

#endif
