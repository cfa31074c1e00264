/* heads_experts.h — internal contract between the parts of the heads_experts stage
 * (heads_experts.c: the unit, correlation, choice of the pair, archive output;
 * heads_experts_runs.c: the model passes). Not used outside stages/heads_experts*.c.
 *
 * Every he_run_* function is collective: all ranks call it with the same plan, in the same
 * order. Results are complete on rank 0 only (other ranks' result structs stay zeroed), except
 * he_run_base's w0 which every rank receives (the forced pass needs it). */
#ifndef MOEPROBE_HEADS_EXPERTS_H
#define MOEPROBE_HEADS_EXPERTS_H

#include <stdint.h>

#include "stages/analysis.h"

/* What rank 0 decided from the capture unit, broadcast to every rank. */
typedef struct he_plan {
    int64_t n, L, nH, E, k, H;
    int have_pair;      /* 0: no defined entry with an eligible expert (nothing causal) */
    int head_l, head_h; /* the pair's head [l,h] */
    int exp_l, exp_e;   /* the pair's expert [l',e] */
    int n_top;          /* experts whose probability suppression reports */
    int *top;           /* [n_top*2] (layer, expert) */
} he_plan;

/* Head suppressed at every position (routing recomputed normally). */
typedef struct he_sup {
    int64_t *rank;        /* [n] */
    double *margin;       /* [n] */
    double min_gap;       /* k-th vs (k+1)-th routing probability, all layers and positions */
    double top_prob_sum;  /* sum over samples and the n_top experts, last position */
    double pair_prob_sum; /* sum over samples of the pair expert's probability */
} he_sup;

/* The unsuppressed pass: w0 of the pair's expert at every position, and the path split. */
typedef struct he_base {
    float *w0;     /* [sum len] packed in sample order (every rank) */
    float **w0_of; /* [n] pointers into w0 (every rank) */
    /* per-sample shares summed over samples, and |parts| summed over samples (pooled);
     * index: 0 own-layer heads, 1 all heads, 2 pair head, 3 embedding, 4 FFN, 5 attention
     * output bias (o_proj bias, models that have one) */
    double share_sum[6];
    double abs_sum[6];
    double abs_total;     /* sum over samples of sum |parts| */
    double worst_rel_err; /* max over samples of |sum parts - logit| / sum |parts| */
} he_base;

/* Head suppressed and the pair's expert forced in at its layer with weight w0. */
typedef struct he_forced {
    int64_t *rank;
    double *margin;
    double min_gap_other; /* as he_sup.min_gap, over every layer but the pair's */
} he_forced;

/* Temporal correlation: per relation, over the tokens of all prompts. */
typedef struct he_temporal {
    double *r; /* [L*nH, L*E], NAN where undefined */
    int64_t n_tokens, n_prompts;
    /* every token's variables, kept for the permutation null (rank 0): x [n_tokens, L*nH]
     * head output norms, y [n_tokens, L*E] router probabilities, prompt p's tokens are rows
     * block[p] .. block[p+1]-1 */
    double *x, *y;
    int64_t *block; /* [n_prompts + 1] */
    int64_t cap;    /* rows allocated in x and y */
} he_temporal;

int he_run_suppressed(analysis_ctx *c, const he_plan *pl, he_sup *out, mp_err *err);
int he_run_base(analysis_ctx *c, const he_plan *pl, he_base *out, mp_err *err);
int he_run_forced(analysis_ctx *c, const he_plan *pl, const he_base *base, he_forced *out,
                  mp_err *err);
int he_run_temporal(analysis_ctx *c, he_temporal *out, mp_err *err);

void he_sup_free(he_sup *s);
void he_base_free(he_base *b);
void he_forced_free(he_forced *f);
void he_temporal_free(he_temporal *t);

/* Weight the model's rule (pipeline/forward/routing.h) gives expert e when forced into the
 * top-k of the probabilities p[E] (float32 softmax as the forward pass computes it): top-k by
 * descending p (ties: lower id), e replaces the k-th member if absent; p_e, or p_e / sum over
 * the final set when the model renormalises. NAN only when out of memory (k > 16). */
float he_forced_weight(const float *p, int E, int k, int e, int renormalise);

#endif
