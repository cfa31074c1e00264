/* expert_parallel.h — which rank holds which experts, and the all-to-all that takes each
 * token's hidden row to the ranks of its selected experts and brings the outputs back.
 *
 * Placement: every MoE layer uses the same map expert -> rank. contiguous: rank r holds
 * experts [r*E/N, (r+1)*E/N) (remainder spread over the first ranks); round_robin: e % N.
 * More ranks than experts is allowed (some ranks hold none). Everything else (embeddings,
 * attention, routers, norms, shared expert) is replicated; ranks split the prompts.
 *
 * ep_exchange is collective over the ranks: every rank must call it the same number of times
 * in the same order (with n = 0 rows when it has nothing). Without MPI (use_mpi = 0, or a
 * single rank) it runs the experts locally with no communication. Dropless: every row is
 * computed; there is no capacity factor.
 *
 * This is the only module that calls MPI_Alltoall / MPI_Alltoallv. */
#ifndef MOEPROBE_EXPERT_PARALLEL_H
#define MOEPROBE_EXPERT_PARALLEL_H

#include <stdint.h>

#include "pipeline/util/error.h"

typedef enum ep_placement { EP_CONTIGUOUS = 0, EP_ROUND_ROBIN = 1 } ep_placement;

typedef struct ep_ctx ep_ctx;

/* Per-row metadata travelling with each row (so the owner can emit hook records). */
#define EP_META 3  /* [0] sample id, [1] position, [2] slot | is_last << 16 */

/* Computes expert `expert` (local to this rank) on n rows x[n,H] with their metadata; writes
 * y[n,H]. Called once per local expert per exchange with all its rows from all ranks
 * (a grouped GEMM), in ascending expert id, also when n == 0 is skipped. */
typedef void (*ep_expert_fn)(void *ctx, int expert, int64_t n, const float *x,
                             const int64_t *meta, float *y);

typedef struct ep_stats {
    double alltoall_s;     /* wall seconds inside MPI_Alltoall(v) */
    double compute_s;      /* wall seconds in expert_fn */
    int64_t rows_sent;     /* rows sent to other ranks */
    int64_t rows_computed; /* rows computed by this rank's experts */
    int64_t exchanges;
} ep_stats;

/* use_mpi: 1 to use MPI_COMM_WORLD (MPI must be initialised); 0 for a single process. */
int ep_init(ep_ctx **ep, int n_experts, ep_placement placement, int use_mpi, mp_err *err);
void ep_free(ep_ctx *ep);
int ep_rank(const ep_ctx *ep);
int ep_size(const ep_ctx *ep);
int ep_owner(const ep_ctx *ep, int expert);
int ep_is_local(const ep_ctx *ep, int expert);
int ep_n_local(const ep_ctx *ep);
const ep_stats *ep_get_stats(const ep_ctx *ep);
void ep_reset_stats(ep_ctx *ep);
int ep_placement_parse(const char *s, ep_placement *out);

/* Sends row i of x[n,H] (with meta[i*EP_META..]) to the owner of expert[i], runs fn there,
 * and writes the result into y[i] (y[n,H]). */
int ep_exchange(ep_ctx *ep, int64_t H, int64_t n, const float *x, const int *expert,
                const int64_t *meta, ep_expert_fn fn, void *fn_ctx, float *y, mp_err *err);
/* The same with rows of in_w floats going out (0 allowed: the metadata says everything) and
 * rows of out_w floats coming back: how analyses call an expert's owner (e.g. W_down^T g for
 * neuron screening, or columns of W_down). */
int ep_exchange_w(ep_ctx *ep, int64_t in_w, int64_t out_w, int64_t n, const float *x,
                  const int *expert, const int64_t *meta, ep_expert_fn fn, void *fn_ctx,
                  float *y, mp_err *err);

/* Neuron activations are captured on the rank that computes the expert; analyses need them on
 * the rank that holds the sample. Sends every record of `store` emitted on the expert side
 * (record.seq == -1) whose sample lives elsewhere (home(ctx, sample) != this rank) to that rank
 * and adds the records it receives to `store`. Collective (call on every rank). */
struct hook_store;
int ep_route_records(ep_ctx *ep, struct hook_store *store,
                     int (*home)(void *ctx, int64_t sample), void *home_ctx, mp_err *err);

#endif
