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
#define EP_META 3 /* [0] sample id, [1] position, [2] slot | is_last << 16 */

/* Computes expert `expert` (local to this rank) on n rows x[n,H] with their metadata; writes
 * y[n,H]. Called once per local expert per exchange with all its rows from all ranks
 * (a grouped GEMM), in ascending expert id, also when n == 0 is skipped; with
 * ep_exchange_local, twice: this rank's own rows first, then the received ones. */
typedef void (*ep_expert_fn)(void *ctx, int expert, int64_t n, const float *x, const int64_t *meta,
                             float *y);

typedef struct ep_stats {
    double alltoall_s;     /* wall seconds inside MPI_Alltoall(v), MPI_Ialltoallv and the wait
                            * for it (with overlap: only the part not hidden by computation) */
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
                  const int *expert, const int64_t *meta, ep_expert_fn fn, void *fn_ctx, float *y,
                  mp_err *err);

/* The same exchange in two halves, so that work that does not depend on it (the shared
 * expert, this rank's rows to its own experts) runs while the rows travel. ep_exchange_start sorts the rows, agrees the counts
 * (one small blocking MPI_Alltoall) and starts MPI_Ialltoallv of rows and metadata; it keeps
 * what it needs (x, expert and meta may be reused at once). ep_exchange_progress lets MPI move
 * data during the caller's computation (optional). ep_exchange_finish waits for the rows,
 * runs the local experts, sends the outputs home and writes y; it frees *p, also on error,
 * and must be called once for every successful start, in the same order on every rank.
 * The result is bit-identical to ep_exchange_w: the same rows reach the same expert blocks.
 * With overlap off (MOEPROBE_EP_OVERLAP=0 in the environment, read by ep_init) the rows are
 * sent with a blocking MPI_Alltoallv inside start: the baseline for `make bench`;
 * MOEPROBE_EP_OVERLAP=2 uses MPI_Ialltoallv but waits at once (the nonblocking collective's
 * algorithm without the overlap, for the same benchmark). */
typedef struct ep_pending ep_pending;
int ep_exchange_start(ep_ctx *ep, int64_t in_w, int64_t out_w, int64_t n, const float *x,
                      const int *expert, const int64_t *meta, ep_pending **p, mp_err *err);
void ep_exchange_progress(ep_ctx *ep, ep_pending *p);
/* Optional, between start and finish: runs fn now on the rows this rank routes to experts it
 * owns itself (they need no transfer), while the others travel; finish then runs fn only on
 * the rows received from other ranks. fn is thus called up to twice per local expert, each
 * time on a part of its rows: use it only with an fn whose result per row does not depend on
 * the rows beside it (the forward's experts: batch-invariant kernels, pipeline/ops/kern.h). */
void ep_exchange_local(ep_ctx *ep, ep_pending *p, ep_expert_fn fn, void *fn_ctx);
int ep_exchange_finish(ep_ctx *ep, ep_pending *p, ep_expert_fn fn, void *fn_ctx, float *y,
                       mp_err *err);

/* Collective: rank r's bytes sbuf[off_r .. off_r + sbytes[r]) (off_r = the sum of the sizes
 * before r) go to rank r; *rbuf receives every rank's bytes for this rank, in rank order
 * (*rlen in all, malloc'd; free it). Without MPI (a single process) nothing travels: *rbuf is
 * NULL, *rlen 0. How the runner takes captured expert activations home. */
int ep_alltoall_bytes(ep_ctx *ep, const char *sbuf, const size_t *sbytes, char **rbuf, size_t *rlen,
                      mp_err *err);

#endif
