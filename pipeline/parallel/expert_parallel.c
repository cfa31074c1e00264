/* expert_parallel.c — see expert_parallel.h.
 *
 * One exchange, seen from rank r:
 *   1. order local rows by (owner rank, expert)          -> send buffer, counts[dst][e]
 *   2. MPI_Alltoall of counts (E per destination)       -> what each source sends us, per expert
 *   3. MPI_Alltoallv of rows and of metadata            -> recv buffer, grouped by source, expert
 *   4. per local expert: gather its rows from all sources into one block, run fn (one GEMM),
 *      scatter the outputs back into the recv layout
 *   5. MPI_Alltoallv back (the reverse of 3)            -> outputs in send order
 *   6. un-permute into y in the caller's row order. */
#include "pipeline/parallel/expert_parallel.h"

#include <mpi.h>

#include "pipeline/forward/hook_store.h"
#include <stdlib.h>
#include <string.h>

struct ep_ctx {
    int rank, size, use_mpi;
    MPI_Comm comm;
    int n_experts;
    int *owner;       /* [E] */
    int n_local;
    ep_stats stats;
};

int ep_placement_parse(const char *s, ep_placement *out)
{
    if (!strcmp(s, "contiguous")) *out = EP_CONTIGUOUS;
    else if (!strcmp(s, "round_robin")) *out = EP_ROUND_ROBIN;
    else return -1;
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
    if (rc != 0) ep_free(ep);
    else *out = ep;
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

int ep_rank(const ep_ctx *ep) { return ep->rank; }
int ep_size(const ep_ctx *ep) { return ep->size; }
int ep_owner(const ep_ctx *ep, int e) { return ep->owner[e]; }
int ep_is_local(const ep_ctx *ep, int e) { return ep->owner[e] == ep->rank; }
int ep_n_local(const ep_ctx *ep) { return ep->n_local; }
const ep_stats *ep_get_stats(const ep_ctx *ep) { return &ep->stats; }
void ep_reset_stats(ep_ctx *ep) { memset(&ep->stats, 0, sizeof ep->stats); }

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

int ep_exchange_w(ep_ctx *ep, int64_t in_w, int64_t out_w, int64_t n, const float *x,
                  const int *expert, const int64_t *meta, ep_expert_fn fn, void *fn_ctx,
                  float *y, mp_err *err)
{
    /* rows of x have in_w floats (may be 0), rows of y out_w floats */
    const int64_t IW = in_w > 0 ? in_w : 1, OW = out_w > 0 ? out_w : 1;
    const int E = ep->n_experts, N = ep->size;
    int rc = -1;
    int64_t *perm = NULL, *bucket = NULL, *sstart = NULL;
    float *sx = NULL, *sy = NULL, *rx = NULL, *ry = NULL, *gx = NULL, *gy = NULL;
    int64_t *smeta = NULL, *rmeta = NULL, *gmeta = NULL, *gstart = NULL;
    int *scount = NULL, *rcount = NULL;
    int *sc_rows = NULL, *sd_rows = NULL, *rc_rows = NULL, *rd_rows = NULL;

    ep->stats.exchanges++;
    /* 1. counting sort of rows by (owner, expert); since the owner is a function of the expert,
     * sorting by the key owner*E + expert groups by destination, then expert. */
    bucket = calloc((size_t)N * E + 1, sizeof *bucket);
    perm = malloc((size_t)(n > 0 ? n : 1) * sizeof *perm);
    if (!bucket || !perm) goto oom;
    for (int64_t i = 0; i < n; i++) {
        if (expert[i] < 0 || expert[i] >= E) {
            err_set(err, "expert parallel: row %lld routed to expert %d, expected 0..%d",
                    (long long)i, expert[i], E - 1);
            goto done;
        }
        bucket[(int64_t)ep->owner[expert[i]] * E + expert[i] + 1]++;
    }
    for (int64_t b = 0; b < (int64_t)N * E; b++) bucket[b + 1] += bucket[b];
    sstart = malloc(((size_t)N * E + 1) * sizeof *sstart);
    if (!sstart) goto oom;
    memcpy(sstart, bucket, ((size_t)N * E + 1) * sizeof *sstart);
    for (int64_t i = 0; i < n; i++) perm[bucket[(int64_t)ep->owner[expert[i]] * E + expert[i]]++] = i;

    sx = malloc((size_t)(n > 0 ? n : 1) * IW * sizeof *sx);
    sy = malloc((size_t)(n > 0 ? n : 1) * OW * sizeof *sy);
    smeta = malloc((size_t)(n > 0 ? n : 1) * EP_META * sizeof *smeta);
    if (!sx || !sy || !smeta) goto oom;
    for (int64_t j = 0; j < n; j++) {
        if (in_w) memcpy(sx + j * in_w, x + perm[j] * in_w, (size_t)in_w * sizeof *sx);
        memcpy(smeta + j * EP_META, meta + perm[j] * EP_META, EP_META * sizeof *smeta);
    }

    if (!ep->use_mpi) {
        /* Single process: rows are grouped by expert already (owner is always rank 0). */
        run_local_experts(ep, in_w, out_w, sstart, sx, smeta, fn, fn_ctx, sy);
    } else {
        /* 2. counts per (source, expert) */
        scount = malloc((size_t)N * E * sizeof *scount);
        rcount = malloc((size_t)N * E * sizeof *rcount);
        sc_rows = calloc((size_t)N * 4, sizeof *sc_rows);
        if (!scount || !rcount || !sc_rows) goto oom;
        sd_rows = sc_rows + N;
        rc_rows = sc_rows + 2 * N;
        rd_rows = sc_rows + 3 * N;
        for (int64_t b = 0; b < (int64_t)N * E; b++) scount[b] = (int)(sstart[b + 1] - sstart[b]);
        double t0 = MPI_Wtime();
        MPI_Alltoall(scount, E, MPI_INT, rcount, E, MPI_INT, ep->comm);
        ep->stats.alltoall_s += MPI_Wtime() - t0;
        int64_t nrecv = 0;
        for (int r = 0; r < N; r++) {
            int64_t s = 0, q = 0;
            for (int e = 0; e < E; e++) {
                s += scount[r * E + e];
                q += rcount[r * E + e];
            }
            if (s * IW > INT32_MAX || q * IW > INT32_MAX || s * OW > INT32_MAX || q * OW > INT32_MAX) {
                err_set(err, "expert parallel: %lld rows for one rank exceed MPI's int counts; "
                             "lower batch_size", (long long)(s > q ? s : q));
                goto done;
            }
            sc_rows[r] = (int)s;
            rc_rows[r] = (int)q;
            if (r > 0) {
                sd_rows[r] = sd_rows[r - 1] + sc_rows[r - 1];
                rd_rows[r] = rd_rows[r - 1] + rc_rows[r - 1];
            }
            nrecv += q;
            if (r != ep->rank) ep->stats.rows_sent += s;
        }
        /* 3. rows and metadata; the element counts scale the row counts */
        int *cnt = malloc((size_t)N * 4 * sizeof *cnt);
        if (!cnt) goto oom;
        int *sc = cnt, *sd = cnt + N, *rcn = cnt + 2 * N, *rd = cnt + 3 * N;
        rx = malloc((size_t)(nrecv > 0 ? nrecv : 1) * IW * sizeof *rx);
        ry = malloc((size_t)(nrecv > 0 ? nrecv : 1) * OW * sizeof *ry);
        rmeta = malloc((size_t)(nrecv > 0 ? nrecv : 1) * EP_META * sizeof *rmeta);
        if (!rx || !ry || !rmeta) {
            free(cnt);
            goto oom;
        }
        for (int r = 0; r < N; r++) {
            sc[r] = sc_rows[r] * (int)in_w; sd[r] = sd_rows[r] * (int)in_w;
            rcn[r] = rc_rows[r] * (int)in_w; rd[r] = rd_rows[r] * (int)in_w;
        }
        t0 = MPI_Wtime();
        MPI_Alltoallv(sx, sc, sd, MPI_FLOAT, rx, rcn, rd, MPI_FLOAT, ep->comm);
        for (int r = 0; r < N; r++) {
            sc[r] = sc_rows[r] * EP_META; sd[r] = sd_rows[r] * EP_META;
            rcn[r] = rc_rows[r] * EP_META; rd[r] = rd_rows[r] * EP_META;
        }
        MPI_Alltoallv(smeta, sc, sd, MPI_INT64_T, rmeta, rcn, rd, MPI_INT64_T, ep->comm);
        ep->stats.alltoall_s += MPI_Wtime() - t0;

        /* 4. gather per local expert across sources: recv layout is [source][expert][rows] */
        gstart = calloc((size_t)E + 1, sizeof *gstart);
        gx = malloc((size_t)(nrecv > 0 ? nrecv : 1) * IW * sizeof *gx);
        gy = malloc((size_t)(nrecv > 0 ? nrecv : 1) * OW * sizeof *gy);
        gmeta = malloc((size_t)(nrecv > 0 ? nrecv : 1) * EP_META * sizeof *gmeta);
        if (!gstart || !gx || !gy || !gmeta) {
            free(cnt);
            goto oom;
        }
        for (int r = 0; r < N; r++)
            for (int e = 0; e < E; e++) gstart[e + 1] += rcount[r * E + e];
        for (int e = 0; e < E; e++) gstart[e + 1] += gstart[e];
        {
            int64_t *fill = malloc((size_t)(E > 0 ? E : 1) * sizeof *fill);
            if (!fill) {
                free(cnt);
                goto oom;
            }
            memcpy(fill, gstart, (size_t)E * sizeof *fill);
            int64_t src = 0;
            for (int r = 0; r < N; r++)
                for (int e = 0; e < E; e++)
                    for (int c = 0; c < rcount[r * E + e]; c++, src++) {
                        int64_t dst = fill[e]++;
                        memcpy(gx + dst * in_w, rx + src * in_w, (size_t)in_w * sizeof *gx);
                        memcpy(gmeta + dst * EP_META, rmeta + src * EP_META,
                               EP_META * sizeof *gmeta);
                    }
            run_local_experts(ep, in_w, out_w, gstart, gx, gmeta, fn, fn_ctx, gy);
            memcpy(fill, gstart, (size_t)E * sizeof *fill);
            src = 0;
            for (int r = 0; r < N; r++)
                for (int e = 0; e < E; e++)
                    for (int c = 0; c < rcount[r * E + e]; c++, src++)
                        memcpy(ry + src * out_w, gy + (fill[e]++) * out_w, (size_t)out_w * sizeof *ry);
            free(fill);
        }
        /* 5. outputs back along the reverse path */
        for (int r = 0; r < N; r++) {
            sc[r] = rc_rows[r] * (int)out_w; sd[r] = rd_rows[r] * (int)out_w;
            rcn[r] = sc_rows[r] * (int)out_w; rd[r] = sd_rows[r] * (int)out_w;
        }
        t0 = MPI_Wtime();
        MPI_Alltoallv(ry, sc, sd, MPI_FLOAT, sy, rcn, rd, MPI_FLOAT, ep->comm);
        ep->stats.alltoall_s += MPI_Wtime() - t0;
        free(cnt);
    }
    /* 6. back to the caller's order */
    for (int64_t j = 0; j < n; j++) memcpy(y + perm[j] * out_w, sy + j * out_w, (size_t)out_w * sizeof *y);
    rc = 0;
    goto done;
oom:
    err_set(err, "expert parallel: out of memory exchanging %lld rows", (long long)n);
done:
    free(perm); free(bucket); free(sstart);
    free(sx); free(sy); free(smeta);
    free(rx); free(ry); free(rmeta);
    free(gx); free(gy); free(gmeta); free(gstart);
    free(scount); free(rcount); free(sc_rows);
    return rc;
}

/* ---- routing captured records home -------------------------------------------------------- */

typedef struct route_ctx {
    ep_ctx *ep;
    int (*home)(void *ctx, int64_t sample);
    void *home_ctx;
    size_t *bytes;      /* [size] bytes per destination */
    char **buf;         /* [size] packed records per destination (second pass) */
    size_t *fill;
    int pass;
} route_ctx;

/* Wire format of one record: the hook_record fields as int64 (9 of them), then n * 4 bytes. */
#define ROUTE_HDR (9 * sizeof(int64_t))

static void route_visit(void *vctx, const hook_record *r)
{
    route_ctx *c = vctx;
    if (r->seq != -1) return;
    int dst = c->home(c->home_ctx, r->sample);
    if (dst == c->ep->rank || dst < 0 || dst >= c->ep->size) return;
    size_t sz = ROUTE_HDR + (size_t)r->n * 4;
    if (c->pass == 0) {
        c->bytes[dst] += sz;
        return;
    }
    int64_t h[9] = {r->point, r->layer, r->sample, r->pos, r->is_last, r->slot, r->expert,
                    r->is_int, r->n};
    memcpy(c->buf[dst] + c->fill[dst], h, ROUTE_HDR);
    memcpy(c->buf[dst] + c->fill[dst] + ROUTE_HDR, r->data, (size_t)r->n * 4);
    c->fill[dst] += sz;
}

int ep_route_records(ep_ctx *ep, hook_store *store, int (*home)(void *ctx, int64_t sample),
                     void *home_ctx, mp_err *err)
{
    const int N = ep->size;
    int rc = -1;
    route_ctx c = {ep, home, home_ctx, NULL, NULL, NULL, 0};
    int *sc = NULL, *sd = NULL, *rcn = NULL, *rd = NULL;
    char *sbuf = NULL, *rbuf = NULL;
    if (!ep->use_mpi) return 0;
    c.bytes = calloc((size_t)N, sizeof *c.bytes);
    c.fill = calloc((size_t)N, sizeof *c.fill);
    c.buf = calloc((size_t)N, sizeof *c.buf);
    sc = calloc((size_t)N * 4, sizeof *sc);
    if (!c.bytes || !c.fill || !c.buf || !sc) goto oom;
    sd = sc + N;
    rcn = sc + 2 * N;
    rd = sc + 3 * N;
    hook_store_each(store, route_visit, &c);
    size_t total = 0;
    for (int r = 0; r < N; r++) {
        if (c.bytes[r] > (size_t)INT32_MAX) {
            err_set(err, "expert parallel: %zu bytes of captured activations for rank %d exceed "
                         "one MPI message; lower batch_size", c.bytes[r], r);
            goto done;
        }
        sc[r] = (int)c.bytes[r];
        sd[r] = (int)total;
        total += c.bytes[r];
    }
    sbuf = malloc(total > 0 ? total : 1);
    if (!sbuf) goto oom;
    for (int r = 0; r < N; r++) c.buf[r] = sbuf + sd[r];
    c.pass = 1;
    hook_store_each(store, route_visit, &c);
    double t0 = MPI_Wtime();
    MPI_Alltoall(sc, 1, MPI_INT, rcn, 1, MPI_INT, ep->comm);
    size_t rtotal = 0;
    for (int r = 0; r < N; r++) {
        rd[r] = (int)rtotal;
        rtotal += (size_t)rcn[r];
    }
    rbuf = malloc(rtotal > 0 ? rtotal : 1);
    if (!rbuf) goto oom;
    MPI_Alltoallv(sbuf, sc, sd, MPI_BYTE, rbuf, rcn, rd, MPI_BYTE, ep->comm);
    ep->stats.alltoall_s += MPI_Wtime() - t0;
    for (size_t o = 0; o + ROUTE_HDR <= rtotal;) {
        int64_t h[9];
        memcpy(h, rbuf + o, ROUTE_HDR);
        hook_record r = {.point = (hook_point)h[0], .layer = (int)h[1], .seq = -1,
                         .sample = h[2], .pos = (int)h[3], .is_last = (int)h[4],
                         .slot = (int)h[5], .expert = (int)h[6], .is_int = (int)h[7],
                         .n = h[8], .data = rbuf + o + ROUTE_HDR};
        hook_store_sink(store, &r);
        o += ROUTE_HDR + (size_t)h[8] * 4;
    }
    rc = 0;
    goto done;
oom:
    err_set(err, "expert parallel: out of memory routing captured activations");
done:
    free(c.bytes); free(c.fill); free(c.buf); free(sc); free(sbuf); free(rbuf);
    return rc;
}
