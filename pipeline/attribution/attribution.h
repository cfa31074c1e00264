/* attribution.h — log-probability increase attribution (Yu & Ananiadou 2024, the method of the
 * paper; exact definitions in docs/method.md), computed from hooked activations.
 *
 * The final RMSNorm is frozen at the scale of the sample's final residual,
 *   s = 1/sqrt(mean(h_final^2) + eps),   logp(v) = log_softmax(W_U (w_norm * s * v))[t],
 * which makes the logits linear in v. With r = resid_pre[l], a = attn_out[l], m = mlp_out[l]
 * at the last position:
 *   attn gain   logp(r+a) - logp(r)          ffn gain   logp(r+a+m) - logp(r+a)
 *   head h      logp(r+head_h) - logp(r)     expert j   logp(r+a + w_j E_j) - logp(r+a)
 *   shared      logp(r+a + g S) - logp(r+a)  neuron n   logp(r+a + w act_n W_down[:,n]) - logp(r+a)
 *
 * Neurons are ranked exactly but without scoring all of them: f(b+c) - f(b) equals the
 * first-order term g.c minus a remainder R with 0 <= R <= 1/2 ||W' c||_inf^2 <= 1/2 (s Rmax |w
 * act_n| ||W_down[:,n]||)^2 (LSE is convex, its Hessian's quadratic form is a variance, bounded
 * by the squared range), where g = s w_norm * W_U^T (e_t - p(b)) and Rmax = max_v ||W_U[v] *
 * w_norm||. So the first-order value is an upper bound and the bound gives a lower bound;
 * candidates are scored exactly in decreasing upper bound until the next upper bound falls below
 * the N-th best exact score. The result is the brute-force top-N (up to float ties).
 *
 * Memory: vectors are scored in chunks; W_U is converted block by block (ops.h). */
#ifndef MOEPROBE_ATTRIBUTION_H
#define MOEPROBE_ATTRIBUTION_H

#include <stdint.h>

#include "pipeline/util/error.h"
#include "pipeline/model/model.h"

typedef struct attr_ctx attr_ctx;

int attr_init(attr_ctx **a, const mp_model *m, mp_err *err);
void attr_free(attr_ctx *a);

/* logp[i] = log_softmax(W_U (w_norm * s[i] * v[i]))[t[i]] for M vectors v[M,H] (double
 * result). grad (may be NULL) [M,H] receives d logp / d v at v; probs (may be NULL) [M,V] the
 * softmax itself. */
int attr_logp(attr_ctx *a, int64_t M, const float *v, const double *s, const int32_t *t,
              double *logp, float *grad, float *probs, mp_err *err);

/* The change of logp when a small vector c[i] is added to a base whose softmax is p[i] (V
 * floats each, from attr_logp): delta[i] = logp(b + c)[t] - logp(b)[t] computed as
 * z_t - log1p(sum_v p_v expm1(z_v)) with z = W_U (w_norm * s * c), so its error scales with c,
 * not with the logits (float32 logits would lose the small differences neurons make). */
int attr_delta_logp(attr_ctx *a, int64_t M, const float *c, const double *s, const int32_t *t,
                    const float *const *p, double *delta, mp_err *err);

/* Everything hooked at the last position of one sample (H hidden, L layers, nH heads, k top-k,
 * I expert width, Is shared width, Id dense width). Pointers the model doesn't have are NULL. */
typedef struct attr_sample {
    int32_t target;
    const float *resid_pre;   /* [L,H] */
    const float *attn_out;    /* [L,H] */
    const float *mlp_out;     /* [L,H] */
    const float *resid_final; /* [H] resid_post of the last layer */
    const float *head_out;    /* [L,nH,H] */
    const int32_t *topk_idx;  /* [L,k]  MoE */
    const float *topk_weight; /* [L,k]  MoE */
    const float *expert_out;  /* [L,k,H] unweighted, MoE */
    const float *expert_act;  /* [L,k,I] neuron activations, MoE (NULL: no neuron scores) */
    const float *shared_out;  /* [L,H] before gate, qwen2moe */
    const float *shared_gate; /* [L] */
    const float *shared_act;  /* [L,Is] */
    const float *mlp_act;     /* [L,Id] dense models (NULL: no neuron scores) */
} attr_sample;

typedef struct attr_result {
    double final_norm_scale;
    double *attn_gain;     /* [L] */
    double *ffn_gain;      /* [L] */
    double *head;          /* [L*nH] */
    double *expert;        /* [L*k] MoE; 0 for empty slots */
    double *shared;        /* [L] qwen2moe shared expert (gated) */
    int n_top;             /* neurons kept (top N) */
    int32_t *neuron;       /* [n_top*3] (layer, expert (-1 shared / dense MLP), neuron) */
    double *neuron_score;  /* [n_top], descending */
    int64_t neurons_total; /* neurons considered */
    int64_t neurons_exact; /* exact scorings done (brute force would do neurons_total) */
} attr_result;

void attr_result_init(attr_result *r);
void attr_result_free(attr_result *r);

/* Computes all attributions of one sample; top_n neurons (0: none). brute_force: score every
 * neuron exactly (for tests). Reads every expert's down_proj from the model it holds. */
int attr_sample_run(attr_ctx *a, const attr_sample *in, int top_n, int brute_force,
                    attr_result *out, mp_err *err);

/* How the neuron ranking reaches the down_proj of routed experts held by other ranks. Under
 * expert parallelism (runner.h) each call is collective: every rank calls it the same number
 * of times, with n = 0 when it has nothing to ask. Rows are (layer[i], expert[i]) of routed
 * experts (expert >= 0); I = moe_intermediate_size, H = hidden_size.
 *   screen:  u[i*I..] = W_down^T g[i*H..]  and  norm[i*I..] = ||W_down[:, n]|| per neuron
 *   columns: col[i*H..] = W_down[:, neuron[i]]
 *   any:     1 if `mine` is 1 on any rank (so all ranks run the same number of rounds) */
typedef struct attr_remote {
    int (*screen)(void *ctx, int64_t n, const int *layer, const int *expert, const float *g,
                  float *u, float *norm, mp_err *err);
    int (*columns)(void *ctx, int64_t n, const int *layer, const int *expert, const int *neuron,
                   float *col, mp_err *err);
    int (*any)(void *ctx, int mine);
    void *ctx;
} attr_remote;

/* The same for n samples at once (out[n]); rem NULL reads every down_proj locally. With rem the
 * call is collective (n may be 0 on some ranks). */
int attr_batch_run(attr_ctx *a, int n, const attr_sample *in, int top_n, int brute_force,
                   const attr_remote *rem, attr_result *out, mp_err *err);

/* Local implementations of attr_remote's screen and columns for one row (what the owner of the
 * expert runs). */
int attr_screen_one(attr_ctx *a, int layer, int expert, const float *g, float *u, float *norm);
void attr_column_one(attr_ctx *a, int layer, int expert, int neuron, float *col);

#endif
