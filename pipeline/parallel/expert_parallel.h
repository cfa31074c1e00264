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
 * This is the only module that calls MPI_Alltoall / MPI_Alltoallv. It knows rows, experts and
 * bytes, nothing of models or hooks. */
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

/* Collective: rank r's bytes sbuf[off_r .. off_r + sbytes[r]) (off_r = the sum of the sizes
 * before r) go to rank r; *rbuf receives every rank's bytes for this rank, in rank order
 * (*rlen in all, malloc'd; free it). Without MPI (a single process) nothing travels: *rbuf is
 * NULL, *rlen 0. How the runner takes captured expert activations home. */
int ep_alltoall_bytes(ep_ctx *ep, const char *sbuf, const size_t *sbytes, char **rbuf,
                      size_t *rlen, mp_err *err);

#endif
