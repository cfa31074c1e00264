/* internal.h — state shared by attribution.c (gains) and neurons.c
 * (the exact top-N neuron ranking). Not a public API. */
#ifndef MOEPROBE_ATTRIBUTION_INTERNAL_H
#define MOEPROBE_ATTRIBUTION_INTERNAL_H

#include "pipeline/attribution/attribution.h"

#define ATTR_CHUNK 128 /* vectors per W_U pass: z[CHUNK, V] stays a few hundred MB at most */

struct attr_ctx {
    const mp_model *m;
    int64_t H, V, L;
    float *w_norm;   /* [H] final norm weight */
    double r_max;    /* max_v ||W_U[v] * w_norm||, 0 until computed */
    float **colnorm; /* [L*(E+1)] lazily: ||W_down[:,n]|| per neuron; slot E = shared/dense */
};

/* z[n,V] = W_U (w_norm * s[i] * v[i]) for n vectors (u[n,H] is scratch). */
void attr_project(attr_ctx *a, int64_t n, const float *v, const double *s, float *u, float *z);
/* max_v ||W_U[v] * w_norm||, once per model. */
double attr_r_max(attr_ctx *a);
/* The MLP whose neurons (layer, expert) names: a routed expert, or (expert -1) the layer's
 * shared expert in an MoE layer / its dense MLP. */
const mp_mlp *attr_mlp(const attr_ctx *a, int layer, int expert);

/* Neuron ranking of n samples at once (neurons.c): probs[i] [L,V] and grad[i]
 * [L,H] are sample i's softmax and d logp / dv at the bases r+a of every layer. */
int attr_neurons_rank(attr_ctx *a, int n, const attr_sample *in, const float *const *probs,
                      const float *const *grad, const double *scale, int top_n, int brute,
                      const attr_remote *rem, attr_result *out, mp_err *err);

#endif
