/* neurons_math.h — the set arithmetic of the neuron analyses (Figure 6, Table 7, Appendix C),
 * free of the archive so that it is testable on hand-made inputs. stages/neurons.c reads the
 * per-sample top-N lists (attribution/<rel>/neuron_top{N}) and calls these; the definitions
 * are written out in docs/method.md ("Neurons").
 *
 * A neuron is the triple (layer, expert, neuron): expert -1 is the shared expert of an MoE
 * layer (qwen2moe) or the MLP of a dense layer / dense model; the capture pass pads a top-N
 * list that has fewer than N neurons with (-1, -1, -1). Its KIND:
 *   NM_ROUTED  expert >= 0 (a routed expert of an MoE layer);
 *   NM_SHARED  expert == -1 in an MoE layer of a model with a shared expert;
 *   NM_DENSE   expert == -1 otherwise (dense model, or a dense layer of an MoE model).
 * A top-N list becomes a SET of keys (nm_key: packed so that key order = (layer, expert,
 * neuron) order), optionally restricted to some kinds. Overlap of two sets A, B (both
 * non-empty; otherwise undefined, NaN):
 *   jaccard     |A n B| / |A u B|
 *   overlap_pct 100 |A n B| / min(|A|, |B|)   (= percent of the top-N in common when both
 *                                              hold N neurons)
 * Memory: nm_sets owns its arrays (free with nm_sets_free); other outputs are caller buffers
 * unless stated. Errors: -1 with err set to one sentence (sample, entry, value, expected). */
#ifndef MOEPROBE_NEURONS_MATH_H
#define MOEPROBE_NEURONS_MATH_H

#include <stdint.h>

#include "pipeline/util/error.h"

typedef enum nm_kind { NM_SHARED = 0, NM_ROUTED = 1, NM_DENSE = 2, NM_KIND_COUNT } nm_kind;

#define NM_MASK_ALL 7u
#define NM_MASK(kind) (1u << (kind))

/* What the model's shape says about a (layer, expert, neuron) entry. */
typedef struct nm_model {
    int64_t num_layers;
    int64_t num_experts;     /* E; 0 = dense model */
    const int *layer_is_moe; /* [num_layers]; NULL = every layer is MoE iff num_experts > 0 */
    int64_t expert_width;    /* neurons of a routed expert */
    int64_t shared_width;    /* neurons of the shared expert; 0 = the model has none */
    int64_t dense_width;     /* neurons of a dense MLP (dense model or dense layer) */
} nm_model;

/* Classifies entry e = (layer, expert, neuron). Returns 1 (a neuron, *kind set), 0 (padding:
 * all three -1) or -1 (out of the model's range; err names the value and the range). */
int nm_classify(const nm_model *m, const int32_t e[3], nm_kind *kind, mp_err *err);

/* Key of a neuron; layer < 2^16, expert + 1 < 2^20, neuron < 2^28 (nm_classify checks the
 * model's ranges; nm_sets_build rejects entries that do not fit). */
uint64_t nm_key(int32_t layer, int32_t expert, int32_t neuron);
void nm_unkey(uint64_t key, int32_t e[3]);

/* The top-N sets of n samples: sample i's sorted keys are key[off[i] .. off[i+1]). off[0] is
 * 0 for a built family; a view of consecutive samples of another family (off + i0, same key)
 * is a valid family too. */
typedef struct nm_sets {
    int64_t n;
    int64_t *off; /* [n+1] */
    uint64_t *key;
} nm_sets;

/* Builds the sets from top[n][N][3] keeping the kinds in kind_mask (NM_MASK(NM_SHARED) |
 * ...). counts, if not NULL, receives [n][NM_KIND_COUNT]: the neurons of each kind in each
 * sample's list (all kinds, whatever the mask). A neuron listed twice in one sample, or an
 * entry out of range, is an error; `what` names the data in messages. s is zeroed first. */
int nm_sets_build(const nm_model *m, const int32_t *top, int64_t n, int64_t N, unsigned kind_mask,
                  const char *what, nm_sets *s, int64_t *counts, mp_err *err);
void nm_sets_free(nm_sets *s);

/* |A n B| of two sorted key arrays. */
int64_t nm_intersect_count(const uint64_t *a, int64_t na, const uint64_t *b, int64_t nb);
/* jaccard and overlap_pct of two sorted sets (NaN for both if either is empty). */
void nm_overlap(const uint64_t *a, int64_t na, const uint64_t *b, int64_t nb, double *jaccard,
                double *overlap_pct);

typedef struct nm_overlap_mean {
    double jaccard; /* mean over the pairs; NaN if pairs == 0 */
    double overlap_pct;
    int64_t pairs; /* pairs with both sets non-empty */
} nm_overlap_mean;

/* Mean overlap over the pairs (i of a, j of b) whose sets are both non-empty. same != 0: a
 * and b are the same family (b ignored) and the pairs are i < j. */
void nm_overlap_mean_of(const nm_sets *a, const nm_sets *b, int same, nm_overlap_mean *out);

/* The union of all sets of s: *u malloc'd sorted keys (NULL when empty), *nu its size. */
int nm_union(const nm_sets *s, uint64_t **u, int64_t *nu, mp_err *err);

/* Mean over samples of the fraction of each kind among the sample's neurons (counts as
 * filled by nm_sets_build); samples with no neuron are skipped (*n_used counts the others;
 * shares are NaN if none). */
void nm_kind_shares(const int64_t *counts, int64_t n, double share[NM_KIND_COUNT], int64_t *n_used);

/* The routed experts holding the most neurons of the sets (neurons of expert -1 are
 * ignored, so any family will do): count = number of (sample, neuron) entries in (layer, expert); ranked
 * by descending count, then lower layer, then lower expert. Writes up to K rows
 * out[K][3] = (layer, expert, count) and returns how many (experts with count > 0), or -1
 * when out of memory. */
int64_t nm_top_experts(const nm_sets *routed, int64_t K, int32_t *out);
/* The shared-expert neurons found in the most samples (sets built with NM_MASK(NM_SHARED)):
 * count = number of samples whose set holds (layer, neuron); ranked by descending count, then
 * lower layer, then lower neuron. out[K][3] = (layer, neuron, count); returns rows written,
 * or -1 when out of memory. */
int64_t nm_top_shared_neurons(const nm_sets *shared, int64_t K, int32_t *out);

#endif
