/* expert_parallel.c — see expert_parallel.h.
 *
 * One exchange, seen from rank r:
 *   1. order local rows by (owner rank, expert)          -> send buffer, counts[dst][e]
 *   2. MPI_Alltoall of counts (E per destination)       -> what each source sends us, per expert
 *   3. MPI_Alltoallv of rows and of metadata            -> recv buffer, grouped by source, expert
 *      (with overlap: MPI_Ialltoallv, and the caller computes until ep_exchange_finish waits)
 *   4. per local expert: gather its rows from all sources into one block, run fn (one GEMM),
 *      scatter the outputs back into the recv layout. With ep_exchange_local, this rank's own
 *      rows were computed from the send buffer while 3 was in flight: 4 then gathers only the
 *      other sources' rows and copies the early outputs into the recv layout (they still
 *      travel through the collectives, to themselves, which keeps the counts simple)
 *   5. MPI_Alltoallv back (the reverse of 3)            -> outputs in send order
 *   6. un-permute into y in the caller's row order. */
#include "pipeline/parallel/expert_parallel.h"

#include <mpi.h>

#include <stdlib.h>
#include <string.h>

struct ep_ctx {
    int rank, size, use_mpi, overlap;
    MPI_Comm comm;
    int n_experts;
    int *owner; /* [E] */
    int n_local;
    ep_stats stats;
};

int ep_placement_parse(const char *s, ep_placement *out)
{
    if (!strcmp(s, "contiguous"))
        *out = EP_CONTIGUOUS;
    else if (!strcmp(s, "round_robin"))
        *out = EP_ROUND_ROBIN;
    else
        return -1;
    return 0;
}

int ep_init(ep_ctx **out, int n_experts, ep_placement placement, int use_mpi, mp_err *err)
{
    ep_ctx *ep = calloc(1, sizeof *ep);
    int rc = -1;
    *out = NULL;
    if (!ep) {
        err_set(err, "expert parallel: out of memory");
        goto done;
    }
    ep->comm = MPI_COMM_NULL;
    ep->size = 1;
    if (use_mpi) {
        int inited = 0;
        MPI_Initialized(&inited);
        if (!inited) {
            err_set(err, "expert parallel: MPI is not initialised");
            goto done;
        }
        MPI_Comm_dup(MPI_COMM_WORLD, &ep->comm);
        MPI_Comm_rank(ep->comm, &ep->rank);
        MPI_Comm_size(ep->comm, &ep->size);
        ep->use_mpi = ep->size > 1;
    }
    {
        /* 0: blocking MPI_Alltoallv; 1: MPI_Ialltoallv, waited for in finish (overlap);
         * 2: MPI_Ialltoallv waited for at once (no overlap: tells the nonblocking
         * collective's own algorithm apart from the overlap in `make bench`) */
        const char *v = getenv("MOEPROBE_EP_OVERLAP");
        ep->overlap = v && (!strcmp(v, "0") || !strcmp(v, "2")) ? v[0] - '0' : 1;
    }
    ep->n_experts = n_experts;
    ep->owner = calloc(n_experts > 0 ? (size_t)n_experts : 1, sizeof *ep->owner);
    if (!ep->owner) {
        err_set(err, "expert parallel: out of memory");
        goto done;
    }
    for (int e = 0; e < n_experts; e++) {
        int r;
        if (placement == EP_ROUND_ROBIN) {
            r = e % ep->size;
        } else {
            /* contiguous: the first (E % N) ranks hold one extra expert */
            int base = n_experts / ep->size, extra = n_experts % ep->size;
            int cut = extra * (base + 1);
            r = e < cut ? e / (base + 1) : (base ? extra + (e - cut) / base : extra);
        }
        ep->owner[e] = r;
        if (r == ep->rank) ep->n_local++;
    }
    rc = 0;
done:
    if (rc != 0)
        ep_free(ep);
    else
        *out = ep;
    return rc;
}

void ep_free(ep_ctx *ep)
{
    if (!ep) return;
    if (ep->comm != MPI_COMM_NULL) {
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (!finalized) MPI_Comm_free(&ep->comm);
    }
    free(ep->owner);
    free(ep);
}

int ep_rank(const ep_ctx *ep)
{
    return ep->rank;
}
int ep_size(const ep_ctx *ep)
{
    return ep->size;
}
int ep_owner(const ep_ctx *ep, int e)
{
    return ep->owner[e];
}
int ep_is_local(const ep_ctx *ep, int e)
{
    return ep->owner[e] == ep->rank;
}
int ep_n_local(const ep_ctx *ep)
{
    return ep->n_local;
}
const ep_stats *ep_get_stats(const ep_ctx *ep)
{
    return &ep->stats;
}
void ep_reset_stats(ep_ctx *ep)
{
    memset(&ep->stats, 0, sizeof ep->stats);
}

/* Runs fn over rows already grouped by expert: rows [start[e], start[e+1]) belong to expert e. */
static void run_local_experts(ep_ctx *ep, int64_t in_w, int64_t out_w, const int64_t *start,
                              const float *x, const int64_t *meta, ep_expert_fn fn, void *ctx,
                              float *y)
{
    double t0 = MPI_Wtime();
    for (int e = 0; e < ep->n_experts; e++) {
        int64_t n = start[e + 1] - start[e];
        if (n == 0 || ep->owner[e] != ep->rank) continue;
        fn(ctx, e, n, x + start[e] * in_w, meta + start[e] * EP_META, y + start[e] * out_w);
        ep->stats.rows_computed += n;
    }
    ep->stats.compute_s += MPI_Wtime() - t0;
}

int ep_exchange(ep_ctx *ep, int64_t H, int64_t n, const float *x, const int *expert,
                const int64_t *meta, ep_expert_fn fn, void *fn_ctx, float *y, mp_err *err)
{
    return ep_exchange_w(ep, H, H, n, x, expert, meta, fn, fn_ctx, y, err);
}

/* One exchange's buffers. Send side in (destination, expert) order; receive side as MPI
 * delivers it, [source][expert][rows]; gathered side one block per local expert. Row counts
 * per rank: rows[0..N) send, [N..2N) send offsets, [2N..3N) receive, [3N..4N) receive offsets. */
typedef struct ep_xchg {
    int64_t in_w, out_w, IW, OW; /* row widths; IW, OW at least 1 for allocation sizes */
    int64_t n, nrecv;
    int64_t *perm;   /* [n] send position -> caller's row */
    int64_t *sstart; /* [N*E+1] first send row of each (destination, expert) */
    float *sx, *sy;
    int64_t *smeta;
    int *scount, *rcount; /* [N*E] rows sent to / received from each (rank, expert) */
    int *rows;            /* [4N] */
    int *cnt, *cnt_meta;  /* [4N] element counts for the rows' and the metadata's
                                  * MPI_(I)alltoallv: both may be in flight at once */
    MPI_Request req[2];   /* rows, metadata; MPI_REQUEST_NULL when none */
    int self_done;        /* this rank's rows to its own experts computed from the send side
                           * (ep_exchange_local): finish skips their received copy */
    float *rx, *ry;
    int64_t *rmeta;
    int64_t *gstart; /* [E+1] first gathered row of each expert */
    float *gx, *gy;
    int64_t *gmeta;
} ep_xchg;

static void xchg_free(ep_xchg *xc)
{
    free(xc->perm);
    free(xc->sstart);
    free(xc->sx);
    free(xc->sy);
    free(xc->smeta);
    free(xc->scount);
    free(xc->rcount);
    free(xc->rows);
    free(xc->cnt);
    free(xc->cnt_meta);
    free(xc->rx);
    free(xc->ry);
    free(xc->rmeta);
    free(xc->gstart);
    free(xc->gx);
    free(xc->gy);
    free(xc->gmeta);
}

/* 1. counting sort of rows by (owner, expert) into the send buffers; since the owner is a
 * function of the expert, the key owner*E + expert groups by destination, then expert.
 * 0, -1 for a bad expert id, -2 when out of memory. */
static int xchg_sort(const ep_ctx *ep, ep_xchg *xc, const float *x, const int *expert,
                     const int64_t *meta, mp_err *err)
{
    const int E = ep->n_experts, N = ep->size;
    const int64_t n = xc->n, rows = n > 0 ? n : 1;
    int64_t *bucket = calloc((size_t)N * E + 1, sizeof *bucket);
    int rc = -2;
    xc->perm = malloc((size_t)rows * sizeof *xc->perm);
    xc->sstart = malloc(((size_t)N * E + 1) * sizeof *xc->sstart);
    xc->sx = malloc((size_t)(rows * xc->IW) * sizeof *xc->sx);
    xc->sy = malloc((size_t)(rows * xc->OW) * sizeof *xc->sy);
    xc->smeta = malloc((size_t)(rows * EP_META) * sizeof *xc->smeta);
    if (!bucket || !xc->perm || !xc->sstart || !xc->sx || !xc->sy || !xc->smeta) goto done;
    for (int64_t i = 0; i < n; i++) {
        if (expert[i] < 0 || expert[i] >= E) {
            err_set(err, "expert parallel: row %lld routed to expert %d, expected 0..%d",
                    (long long)i, expert[i], E - 1);
            rc = -1;
            goto done;
        }
        bucket[(int64_t)ep->owner[expert[i]] * E + expert[i] + 1]++;
    }
    for (int64_t b = 0; b < (int64_t)N * E; b++) bucket[b + 1] += bucket[b];
    memcpy(xc->sstart, bucket, ((size_t)N * E + 1) * sizeof *xc->sstart);
    for (int64_t i = 0; i < n; i++)
        xc->perm[bucket[(int64_t)ep->owner[expert[i]] * E + expert[i]]++] = i;
    for (int64_t j = 0; j < n; j++) {
        if (xc->in_w)
            memcpy(xc->sx + j * xc->in_w, x + xc->perm[j] * xc->in_w,
                   (size_t)xc->in_w * sizeof *xc->sx);
        memcpy(xc->smeta + j * EP_META, meta + xc->perm[j] * EP_META, EP_META * sizeof *xc->smeta);
    }
    rc = 0;
done:
    free(bucket);
    return rc;
}

/* 2. rows per (source, expert) from every rank, and the per-rank row counts and offsets.
 * 0, -1 when a rank's rows would overflow MPI's int counts, -2 when out of memory. */
static int xchg_counts(ep_ctx *ep, ep_xchg *xc, mp_err *err)
{
    const int E = ep->n_experts, N = ep->size;
    xc->scount = malloc((size_t)N * E * sizeof *xc->scount);
    xc->rcount = malloc((size_t)N * E * sizeof *xc->rcount);
    xc->rows = calloc((size_t)N * 4, sizeof *xc->rows);
    xc->cnt = malloc((size_t)N * 4 * sizeof *xc->cnt);
    xc->cnt_meta = malloc((size_t)N * 4 * sizeof *xc->cnt_meta);
    if (!xc->scount || !xc->rcount || !xc->rows || !xc->cnt || !xc->cnt_meta) return -2;
    int *sc = xc->rows, *sd = sc + N, *rcn = sc + 2 * N, *rd = sc + 3 * N;
    for (int64_t b = 0; b < (int64_t)N * E; b++)
        xc->scount[b] = (int)(xc->sstart[b + 1] - xc->sstart[b]);
    double t0 = MPI_Wtime();
    MPI_Alltoall(xc->scount, E, MPI_INT, xc->rcount, E, MPI_INT, ep->comm);
    ep->stats.alltoall_s += MPI_Wtime() - t0;
    xc->nrecv = 0;
    for (int r = 0; r < N; r++) {
        int64_t s = 0, q = 0;
        for (int e = 0; e < E; e++) {
            s += xc->scount[r * E + e];
            q += xc->rcount[r * E + e];
        }
        int64_t w = xc->IW > xc->OW ? xc->IW : xc->OW;
        if (w < EP_META) w = EP_META;
        if (s * w > INT32_MAX || q * w > INT32_MAX)
            return err_set(err,
                           "expert parallel: %lld rows for one rank exceed MPI's int counts; "
                           "lower batch_size",
                           (long long)(s > q ? s : q));
        sc[r] = (int)s;
        rcn[r] = (int)q;
        if (r > 0) {
            sd[r] = sd[r - 1] + sc[r - 1];
            rd[r] = rd[r - 1] + rcn[r - 1];
        }
        xc->nrecv += q;
        if (r != ep->rank) ep->stats.rows_sent += s;
    }
    return 0;
}

/* One MPI_Alltoallv of rows `width` elements wide, counted in rows, with its counts in c[4N];
 * `back` swaps the send and receive sides (the outputs' way home). With req, MPI_Ialltoallv
 * (c must then stay untouched until it completes). */
static void alltoallv_rows(ep_ctx *ep, ep_xchg *xc, const void *sbuf, void *rbuf, int64_t width,
                           MPI_Datatype type, int back, int *c, MPI_Request *req)
{
    const int N = ep->size;
    const int *out = xc->rows + (back ? 2 * N : 0), *in = xc->rows + (back ? 0 : 2 * N);
    for (int r = 0; r < N; r++) {
        c[r] = out[r] * (int)width;
        c[N + r] = out[N + r] * (int)width;
        c[2 * N + r] = in[r] * (int)width;
        c[3 * N + r] = in[N + r] * (int)width;
    }
    if (req)
        MPI_Ialltoallv(sbuf, c, c + N, type, rbuf, c + 2 * N, c + 3 * N, type, ep->comm, req);
    else
        MPI_Alltoallv(sbuf, c, c + N, type, rbuf, c + 2 * N, c + 3 * N, type, ep->comm);
}

/* 3. rows and their metadata to the experts' owners; with overlap only started (xc->req).
 * 0, or -2 when out of memory. */
static int xchg_send(ep_ctx *ep, ep_xchg *xc)
{
    const int64_t rows = xc->nrecv > 0 ? xc->nrecv : 1;
    xc->rx = malloc((size_t)(rows * xc->IW) * sizeof *xc->rx);
    xc->ry = malloc((size_t)(rows * xc->OW) * sizeof *xc->ry);
    xc->rmeta = malloc((size_t)(rows * EP_META) * sizeof *xc->rmeta);
    if (!xc->rx || !xc->ry || !xc->rmeta) return -2;
    double t0 = MPI_Wtime();
    alltoallv_rows(ep, xc, xc->sx, xc->rx, xc->in_w, MPI_FLOAT, 0, xc->cnt,
                   ep->overlap ? &xc->req[0] : NULL);
    alltoallv_rows(ep, xc, xc->smeta, xc->rmeta, EP_META, MPI_INT64_T, 0, xc->cnt_meta,
                   ep->overlap ? &xc->req[1] : NULL);
    if (ep->overlap == 2) MPI_Waitall(2, xc->req, MPI_STATUSES_IGNORE);
    ep->stats.alltoall_s += MPI_Wtime() - t0;
    return 0;
}

/* Waits for the rows started by xchg_send (nothing to wait for without overlap). */
static void xchg_wait(ep_ctx *ep, ep_xchg *xc)
{
    if (xc->req[0] == MPI_REQUEST_NULL && xc->req[1] == MPI_REQUEST_NULL) return;
    double t0 = MPI_Wtime();
    MPI_Waitall(2, xc->req, MPI_STATUSES_IGNORE);
    ep->stats.alltoall_s += MPI_Wtime() - t0;
}

/* 4. each local expert's rows from all sources gathered into one block (one GEMM), computed,
 * and the outputs put back into the receive layout. 0, or -2 when out of memory. */
static int xchg_compute(ep_ctx *ep, ep_xchg *xc, ep_expert_fn fn, void *fn_ctx)
{
    const int E = ep->n_experts, N = ep->size;
    const int64_t rows = xc->nrecv > 0 ? xc->nrecv : 1, in_w = xc->in_w, out_w = xc->out_w;
    int64_t *fill = malloc((size_t)(E > 0 ? E : 1) * sizeof *fill);
    int rc = -2;
    xc->gstart = calloc((size_t)E + 1, sizeof *xc->gstart);
    xc->gx = malloc((size_t)(rows * xc->IW) * sizeof *xc->gx);
    xc->gy = malloc((size_t)(rows * xc->OW) * sizeof *xc->gy);
    xc->gmeta = malloc((size_t)(rows * EP_META) * sizeof *xc->gmeta);
    if (!fill || !xc->gstart || !xc->gx || !xc->gy || !xc->gmeta) goto done;
    const int skip = xc->self_done ? ep->rank : -1; /* the source already computed */
    for (int r = 0; r < N; r++)
        for (int e = 0; e < E && r != skip; e++) xc->gstart[e + 1] += xc->rcount[r * E + e];
    for (int e = 0; e < E; e++) xc->gstart[e + 1] += xc->gstart[e];
    memcpy(fill, xc->gstart, (size_t)E * sizeof *fill);
    int64_t src = 0;
    for (int r = 0; r < N; r++)
        for (int e = 0; e < E; e++)
            for (int c = 0; c < xc->rcount[r * E + e]; c++, src++) {
                if (r == skip) continue;
                int64_t dst = fill[e]++;
                memcpy(xc->gx + dst * in_w, xc->rx + src * in_w, (size_t)in_w * sizeof *xc->gx);
                memcpy(xc->gmeta + dst * EP_META, xc->rmeta + src * EP_META,
                       EP_META * sizeof *xc->gmeta);
            }
    run_local_experts(ep, in_w, out_w, xc->gstart, xc->gx, xc->gmeta, fn, fn_ctx, xc->gy);
    /* the rows computed early travel home from the send side, in the same (expert) order */
    if (xc->self_done && out_w)
        memcpy(xc->ry + (int64_t)xc->rows[3 * N + ep->rank] * out_w,
               xc->sy + (int64_t)xc->rows[N + ep->rank] * out_w,
               (size_t)xc->rows[ep->rank] * (size_t)out_w * sizeof *xc->ry);
    memcpy(fill, xc->gstart, (size_t)E * sizeof *fill);
    src = 0;
    for (int r = 0; r < N; r++)
        for (int e = 0; e < E; e++)
            for (int c = 0; c < xc->rcount[r * E + e]; c++, src++)
                if (r != skip)
                    memcpy(xc->ry + src * out_w, xc->gy + (fill[e]++) * out_w,
                           (size_t)out_w * sizeof *xc->ry);
    rc = 0;
done:
    free(fill);
    return rc;
}

struct ep_pending {
    ep_xchg xc;
};

int ep_exchange_start(ep_ctx *ep, int64_t in_w, int64_t out_w, int64_t n, const float *x,
                      const int *expert, const int64_t *meta, ep_pending **out, mp_err *err)
{
    ep_pending *p = calloc(1, sizeof *p);
    int rc;
    *out = NULL;
    if (!p) return err_set(err, "expert parallel: out of memory starting an exchange");
    p->xc = (ep_xchg){.in_w = in_w,
                      .out_w = out_w,
                      .IW = in_w > 0 ? in_w : 1,
                      .OW = out_w > 0 ? out_w : 1,
                      .n = n,
                      .req = {MPI_REQUEST_NULL, MPI_REQUEST_NULL}};
    ep->stats.exchanges++;
    if ((rc = xchg_sort(ep, &p->xc, x, expert, meta, err)) == 0 && ep->use_mpi &&
        (rc = xchg_counts(ep, &p->xc, err)) == 0)
        rc = xchg_send(ep, &p->xc);
    if (rc != 0) {
        if (rc == -2)
            err_set(err, "expert parallel: out of memory exchanging %lld rows", (long long)n);
        xchg_wait(ep, &p->xc);
        xchg_free(&p->xc);
        free(p);
        return -1;
    }
    *out = p;
    return 0;
}

void ep_exchange_progress(ep_ctx *ep, ep_pending *p)
{
    int done = 0;
    if (!p || !ep->use_mpi || p->xc.req[0] == MPI_REQUEST_NULL) return;
    double t0 = MPI_Wtime();
    MPI_Testall(2, p->xc.req, &done, MPI_STATUSES_IGNORE);
    ep->stats.alltoall_s += MPI_Wtime() - t0;
}

void ep_exchange_local(ep_ctx *ep, ep_pending *p, ep_expert_fn fn, void *fn_ctx)
{
    ep_xchg *xc;
    if (!p || !ep->use_mpi || p->xc.self_done) return;
    xc = &p->xc;
    /* the send side holds this rank's rows to its own experts at (rank, e), grouped by expert;
     * sstart + rank*E is then a per-expert start table over sx / sy */
    const int64_t *start = xc->sstart + (int64_t)ep->rank * ep->n_experts;
    double t0 = MPI_Wtime();
    for (int e = 0; e < ep->n_experts; e++) {
        int64_t n = start[e + 1] - start[e];
        if (n == 0 || ep->owner[e] != ep->rank) continue;
        fn(fn_ctx, e, n, xc->sx + start[e] * xc->in_w, xc->smeta + start[e] * EP_META,
           xc->sy + start[e] * xc->out_w);
        ep->stats.rows_computed += n;
        double t1 = MPI_Wtime();
        ep->stats.compute_s += t1 - t0;
        ep_exchange_progress(ep, p); /* let MPI move the rows between experts */
        t0 = MPI_Wtime();
    }
    xc->self_done = 1;
}

int ep_exchange_finish(ep_ctx *ep, ep_pending *p, ep_expert_fn fn, void *fn_ctx, float *y,
                       mp_err *err)
{
    ep_xchg *xc = &p->xc;
    int rc = 0;
    if (!ep->use_mpi) {
        /* single process: the rows are grouped by expert already (every owner is rank 0) */
        run_local_experts(ep, xc->in_w, xc->out_w, xc->sstart, xc->sx, xc->smeta, fn, fn_ctx,
                          xc->sy);
    } else {
        xchg_wait(ep, xc);
        if ((rc = xchg_compute(ep, xc, fn, fn_ctx)) != 0) goto done;
        /* 5. the outputs back along the reverse path */
        double t0 = MPI_Wtime();
        alltoallv_rows(ep, xc, xc->ry, xc->sy, xc->out_w, MPI_FLOAT, 1, xc->cnt, NULL);
        ep->stats.alltoall_s += MPI_Wtime() - t0;
    }
    /* 6. back to the caller's order */
    for (int64_t j = 0; j < xc->n; j++)
        memcpy(y + xc->perm[j] * xc->out_w, xc->sy + j * xc->out_w, (size_t)xc->out_w * sizeof *y);
done:
    if (rc == -2)
        err_set(err, "expert parallel: out of memory exchanging %lld rows", (long long)xc->n);
    xchg_free(xc);
    free(p);
    return rc == 0 ? 0 : -1;
}

int ep_exchange_w(ep_ctx *ep, int64_t in_w, int64_t out_w, int64_t n, const float *x,
                  const int *expert, const int64_t *meta, ep_expert_fn fn, void *fn_ctx, float *y,
                  mp_err *err)
{
    ep_pending *p = NULL;
    if (ep_exchange_start(ep, in_w, out_w, n, x, expert, meta, &p, err) != 0) return -1;
    return ep_exchange_finish(ep, p, fn, fn_ctx, y, err);
}

/* ---- bytes to every rank ---------------------------------------------------------------- */

int ep_alltoall_bytes(ep_ctx *ep, const char *sbuf, const size_t *sbytes, char **rbuf, size_t *rlen,
                      mp_err *err)
{
    const int N = ep->size;
    int rc = -1;
    *rbuf = NULL;
    *rlen = 0;
    if (!ep->use_mpi) return 0;
    int *sc = calloc((size_t)N * 4, sizeof *sc);
    if (!sc) goto oom;
    int *sd = sc + N, *rcn = sc + 2 * N, *rd = sc + 3 * N;
    size_t total = 0;
    for (int r = 0; r < N; r++) {
        if (sbytes[r] > (size_t)INT32_MAX || total + sbytes[r] > (size_t)INT32_MAX) {
            err_set(err,
                    "expert parallel: %zu bytes for rank %d exceed one MPI message; lower "
                    "batch_size",
                    sbytes[r], r);
            goto done;
        }
        sc[r] = (int)sbytes[r];
        sd[r] = (int)total;
        total += sbytes[r];
    }
    double t0 = MPI_Wtime();
    MPI_Alltoall(sc, 1, MPI_INT, rcn, 1, MPI_INT, ep->comm);
    size_t rtotal = 0;
    for (int r = 0; r < N; r++) {
        rd[r] = (int)rtotal;
        rtotal += (size_t)rcn[r];
    }
    if (!(*rbuf = malloc(rtotal > 0 ? rtotal : 1))) goto oom;
    MPI_Alltoallv(sbuf, sc, sd, MPI_BYTE, *rbuf, rcn, rd, MPI_BYTE, ep->comm);
    ep->stats.alltoall_s += MPI_Wtime() - t0;
    *rlen = rtotal;
    rc = 0;
    goto done;
oom:
    err_set(err, "expert parallel: out of memory exchanging bytes");
done:
    free(sc);
    return rc;
}
