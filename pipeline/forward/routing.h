/* routing.h — the MoE top-k routing rule, in one place: the forward pass routes every token with
 * it (moe.c), and analyses that reason about routing (heads_experts' forced weight w0) apply the
 * very same rule to router probabilities they recompute.
 *
 *   top-k:   slots 0..k-1 hold the experts by descending probability; equal probabilities go to
 *            the lower expert id first (torch.topk on the softmax, as Hugging Face routes)
 *   forcing: a forced expert absent from the top-k takes the last slot (the paper's expert
 *            forcing, section 4.3)
 *   weights: w_j = p[idx_j], or with norm_topk_prob p[idx_j] / sum of p over the filled slots */
#ifndef MOEPROBE_ROUTING_H
#define MOEPROBE_ROUTING_H

/* idx[0..k) = the k most probable of experts 0..E-1 (k <= E). A NaN probability ranks below
 * every number, so a broken router still fills the slots with valid ids. */
void routing_topk(const float *p, int E, int k, int *idx);
/* Puts expert e into the last slot unless one of idx[0..k) holds it already. */
void routing_force(int *idx, int k, int e);
/* The routing decision's distance from a tie, for the screened evaluation (docs/method.md),
 * over values v[E] in routing order (router logits: the softmax keeps their order):
 * v_(k) - v_(k+1), the gap between the k-th and (k+1)-th largest (INFINITY when k >= E), or
 * with `adjacent` the smallest of v_(j) - v_(j+1) for j = 1..k (a top-k override or keep-rank
 * makes the order inside the top k matter too). Two equal values, -inf ones included, give 0. */
float routing_gap(const float *v, int E, int k, int adjacent);
/* w[j] for each slot: 0 where idx[j] < 0 (an emptied slot), else the rule above. */
void routing_weights(const float *p, const int *idx, int k, int renormalise, float *w);

#endif
