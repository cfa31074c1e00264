/* runner.c — see runner.h.
 *
 * Round k covers samples [k*N*B, (k+1)*N*B) (N ranks, B prompts per rank per round); rank r
 * runs the slice [k*N*B + r*B, +B). Gathering the round's blobs in rank order therefore yields
 * global sample order, and every rank knows the number of rounds without communicating.
 * B shrinks for small sets so that all ranks get work. */
#include "pipeline/runner/runner.h"

#include "pipeline/runner/internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/ops/internal.h"
#include "pipeline/ops/ops.h"
#include "pipeline/parallel/comm.h"
#include "pipeline/model/fault.h"
#include "pipeline/util/monotonic.h"

#include <time.h>

runner_opts runner_opts_default(void)
{
    runner_opts o = {32, EP_CONTIGUOUS, 0, 0};
    return o;
}

int runner_init(runner *r, const char *model_dir, const char *tokenizer_path,
                const runner_opts *opts, mp_err *err)
{
    char tp[4200];
    memset(r, 0, sizeof *r);
    model_init(&r->model);
    r->opts = opts ? *opts : runner_opts_default();
    if (r->opts.batch_size <= 0) r->opts.batch_size = 32;
    if (r->opts.use_mpi) fault_set_rank(comm_rank(), comm_size());
    if (ops_isa_check(err) != 0) return -1; /* before loading gigabytes for nothing */
    if (model_load(&r->model, model_dir, err) != 0) return -1;
    if (!tokenizer_path) {
        snprintf(tp, sizeof tp, "%s/tokenizer.json", model_dir);
        tokenizer_path = tp;
    }
    if (tok_load(&r->tok, tokenizer_path, err) != 0) return -1;
    if (ep_init(&r->ep, r->model.cfg.num_experts, r->opts.placement, r->opts.use_mpi, err) != 0)
        return -1;
    if (fwd_init(&r->fwd, &r->model, r->ep, err) != 0) return -1;
    if (attr_init(&r->attr, &r->model, err) != 0) return -1;
    r->rank = ep_rank(r->ep);
    r->size = ep_size(r->ep);
    return 0;
}

void runner_free(runner *r)
{
    free(r->screen.d_router);
    free(r->screen.gap_scale);
    attr_free(r->attr);
    fwd_free(r->fwd);
    ep_free(r->ep);
    tok_free(r->tok);
    model_free(&r->model);
    memset(r, 0, sizeof *r);
}

void prompt_set_init(prompt_set *ps)
{
    memset(ps, 0, sizeof *ps);
}

void prompt_set_free(prompt_set *ps)
{
    for (int64_t i = 0; i < ps->n; i++) {
        if (ps->prompt) free(ps->prompt[i]);
        if (ps->object) free(ps->object[i]);
        if (ps->ids) free(ps->ids[i]);
    }
    free(ps->prompt);
    free(ps->object);
    free(ps->ids);
    free(ps->len);
    free(ps->target);
    prompt_set_init(ps);
}

int runner_prompts(runner *r, int64_t n, const char *const *prompts, const char *const *objects,
                   const char *origin, prompt_set *ps, mp_err *err)
{
    int rc = -1;
    int32_t *full = NULL;
    prompt_set_init(ps);
    ps->prompt = calloc((size_t)(n > 0 ? n : 1), sizeof *ps->prompt);
    ps->object = calloc((size_t)(n > 0 ? n : 1), sizeof *ps->object);
    ps->ids = calloc((size_t)(n > 0 ? n : 1), sizeof *ps->ids);
    ps->len = calloc((size_t)(n > 0 ? n : 1), sizeof *ps->len);
    ps->target = calloc((size_t)(n > 0 ? n : 1), sizeof *ps->target);
    if (!ps->prompt || !ps->object || !ps->ids || !ps->len || !ps->target) goto oom;
    ps->n = n;
    for (int64_t i = 0; i < n; i++) {
        size_t len = 0, flen = 0;
        ps->prompt[i] = strdup(prompts[i]);
        if (!ps->prompt[i]) goto oom;
        if (tok_encode(r->tok, prompts[i], strlen(prompts[i]), 1, &ps->ids[i], &len, err) != 0) {
            err_prefix(err, "%s: prompt %lld", origin, (long long)i);
            goto done;
        }
        if (len == 0) {
            err_set(err, "%s: prompt %lld (\"%s\") encodes to no tokens (expected at least one)",
                    origin, (long long)i, prompts[i]);
            goto done;
        }
        if (len > (size_t)r->model.cfg.max_position_embeddings) {
            err_set(err, "%s: prompt %lld has %zu tokens, more than max_position_embeddings = %d",
                    origin, (long long)i, len, r->model.cfg.max_position_embeddings);
            goto done;
        }
        ps->len[i] = (int)len;
        ps->target[i] = -1;
        if (!objects || !objects[i]) continue;
        if (!objects[i][0] || strchr(" \t\n\r\v\f", objects[i][0])) {
            /* as the relation files (pipeline/config/relations.c): the space is moeprobe's */
            err_set(err,
                    "%s: object %lld (\"%s\") %s (moeprobe puts one space between prompt and "
                    "object: expected the object's words without leading whitespace)",
                    origin, (long long)i, objects[i],
                    objects[i][0] ? "starts with whitespace" : "is empty");
            goto done;
        }
        ps->object[i] = strdup(objects[i]);
        size_t pl = strlen(prompts[i]), ol = strlen(objects[i]);
        char *joined = malloc(pl + ol + 2);
        if (!ps->object[i] || !joined) {
            free(joined);
            goto oom;
        }
        memcpy(joined, prompts[i], pl);
        joined[pl] = ' ';
        memcpy(joined + pl + 1, objects[i], ol + 1);
        int erc = tok_encode(r->tok, joined, pl + ol + 1, 1, &full, &flen, err);
        free(joined);
        if (erc != 0) {
            err_prefix(err, "%s: object of sample %lld", origin, (long long)i);
            goto done;
        }
        size_t d = 0;
        while (d < len && d < flen && full[d] == ps->ids[i][d]) d++;
        if (d >= flen) {
            err_set(err,
                    "%s: sample %lld: prompt + \" \" + object \"%s\" adds no token to the "
                    "prompt's encoding (expected a target token)",
                    origin, (long long)i, objects[i]);
            goto done;
        }
        ps->target[i] = full[d];
        free(full);
        full = NULL;
    }
    rc = 0;
    goto done;
oom:
    err_set(err, "%s: out of memory tokenizing %lld prompts", origin, (long long)n);
done:
    free(full);
    if (rc != 0) prompt_set_free(ps);
    return rc;
}

int runner_rank(const float *logits, int64_t V, int32_t target, int64_t *rank, double *margin,
                mp_err *err)
{
    if (target < 0 || target >= V)
        return err_set(err, "target token id %d is outside the vocabulary 0..%lld", (int)target,
                       (long long)V - 1);
    const float lt = logits[target];
    int64_t above = 0;
    double m = INFINITY;
    for (int64_t v = 0; v < V; v++) {
        if (!isfinite(logits[v]))
            return err_set(err,
                           "logit of token %lld is %s (expected a finite number; a "
                           "non-finite logit has no rank)",
                           (long long)v,
                           isnan(logits[v]) ? "NaN"
                           : logits[v] > 0  ? "+Inf"
                                            : "-Inf");
        if (v == target) continue;
        if (logits[v] >= lt) above++;
        double d = fabs((double)logits[v] - lt);
        if (d < m) m = d;
    }
    *rank = 1 + above;
    *margin = m;
    return 0;
}

typedef struct home_ctx {
    int64_t block; /* B */
    int size;
} home_ctx;

static int sample_home(void *ctx, int64_t sample)
{
    const home_ctx *h = ctx;
    return (int)((sample % (h->block * h->size)) / h->block);
}

/* ---- expert activations home ------------------------------------------------------------ */

/* Neuron activations are captured on the rank that computes the expert; analyses need them on
 * the rank that holds the sample. Wire format of one record: the hook_record fields as int64
 * (9 of them), then n * 4 bytes of data. */
#define ROUTE_HDR (9 * sizeof(int64_t))

typedef struct route_ctx {
    const home_ctx *hc;
    int rank;
    size_t *bytes; /* [size] bytes per destination */
    char *buf;     /* second pass: the packed records, destination after destination */
    size_t *fill;  /* [size] write offsets into buf */
    int pass;
} route_ctx;

static void route_visit(void *vctx, const hook_record *r)
{
    route_ctx *c = vctx;
    if (r->seq != -1) return; /* only records emitted on the expert side */
    int dst = sample_home((void *)c->hc, r->sample);
    if (dst == c->rank || dst < 0 || dst >= c->hc->size) return;
    size_t sz = ROUTE_HDR + (size_t)r->n * 4;
    if (c->pass == 0) {
        c->bytes[dst] += sz;
        return;
    }
    int64_t h[9] = {r->point, r->layer,  r->sample, r->pos, r->is_last,
                    r->slot,  r->expert, r->is_int, r->n};
    memcpy(c->buf + c->fill[dst], h, ROUTE_HDR);
    memcpy(c->buf + c->fill[dst] + ROUTE_HDR, r->data, (size_t)r->n * 4);
    c->fill[dst] += sz;
}

/* Collective: every expert-side record of `store` whose sample lives on another rank goes to
 * that rank, which adds it to its own store. */
static int route_records(runner *r, hook_store *store, const home_ctx *hc, mp_err *err)
{
    const int N = r->size;
    int rc = -1;
    route_ctx c = {
        hc, r->rank, calloc((size_t)N, sizeof(size_t)), NULL, calloc((size_t)N, sizeof(size_t)), 0};
    char *rbuf = NULL;
    size_t rlen = 0, total = 0;
    if (!c.bytes || !c.fill) goto oom;
    hook_store_each(store, route_visit, &c);
    for (int q = 0; q < N; q++) {
        c.fill[q] = total;
        total += c.bytes[q];
    }
    if (!(c.buf = malloc(total > 0 ? total : 1))) goto oom;
    c.pass = 1;
    hook_store_each(store, route_visit, &c);
    if (ep_alltoall_bytes(r->ep, c.buf, c.bytes, &rbuf, &rlen, err) != 0) goto done;
    for (size_t o = 0; o + ROUTE_HDR <= rlen;) {
        int64_t h[9];
        memcpy(h, rbuf + o, ROUTE_HDR);
        hook_record rec = {.point = (hook_point)h[0],
                           .layer = (int)h[1],
                           .seq = -1,
                           .sample = h[2],
                           .pos = (int)h[3],
                           .is_last = (int)h[4],
                           .slot = (int)h[5],
                           .expert = (int)h[6],
                           .is_int = (int)h[7],
                           .n = h[8],
                           .data = rbuf + o + ROUTE_HDR};
        hook_store_sink(store, &rec);
        o += ROUTE_HDR + (size_t)h[8] * 4;
    }
    rc = 0;
    goto done;
oom:
    err_set(err, "runner: out of memory routing captured activations");
done:
    free(c.bytes);
    free(c.fill);
    free(c.buf);
    free(rbuf);
    return rc;
}

int runner_fail(runner *r, mp_err *err, const char *label)
{
    if (r->size > 1) comm_fatal(label ? label : "runner", "%s", err->msg);
    return -1;
}

/* One runner_map call's working set; sized for one batch of B prompts. */
typedef struct map_state {
    int64_t B;       /* prompts per batch on each rank */
    hook_store *st;  /* this round's hook records */
    hook_set hs;     /* the job's requests, sinking into st */
    intervention iv; /* the job's, with this batch's force weights */
    int route;       /* expert activations travel to their sample's rank */
    home_ctx hc;
    float *logits; /* [B, V] */
    float *gap;    /* [B] routing gaps (runner_job.want_gap), else NULL */
    float *fw;     /* this batch's force weights, packed like its tokens */
    const int32_t **ids;
    int *lens;
    int64_t *sids;
    runner_sample *ss; /* this rank's samples of the round, for on_batch and on_sample */
    blob out, one;     /* the round's packed results; one sample's */
} map_state;

static void map_free(map_state *m)
{
    hook_store_free(m->st);
    blob_free(&m->out);
    blob_free(&m->one);
    free(m->logits);
    free(m->gap);
    free(m->fw);
    free(m->ids);
    free(m->lens);
    free(m->sids);
    free(m->ss);
}

static int map_init(runner *r, const runner_job *job, map_state *m, mp_err *err)
{
    const int64_t n = job->ps->n, N = r->size, V = r->model.cfg.vocab_size;
    int64_t B = r->opts.batch_size;
    memset(m, 0, sizeof *m);
    blob_init(&m->out);
    blob_init(&m->one);
    if (n > 0 && (n + N - 1) / N < B) B = (n + N - 1) / N; /* every rank gets a share */
    if (B < 1) B = 1;
    m->B = B;
    m->hc = (home_ctx){B, (int)N};
    m->st = hook_store_new();
    if (job->hooks)
        m->hs = *job->hooks;
    else
        hook_set_init(&m->hs);
    m->hs.sink = hook_store_sink;
    m->hs.sink_ctx = m->st;
    if (job->iv)
        m->iv = *job->iv;
    else
        intervention_init(&m->iv);
    m->route = hook_wants_layer(&m->hs, HP_EXPERT_ACT, -1) && r->size > 1;
    m->logits = malloc((size_t)(B * V) * sizeof *m->logits);
    m->ids = malloc((size_t)B * sizeof *m->ids);
    m->lens = malloc((size_t)B * sizeof *m->lens);
    m->sids = malloc((size_t)B * sizeof *m->sids);
    m->ss = malloc((size_t)B * sizeof *m->ss);
    if (job->want_gap && !(m->gap = malloc((size_t)B * sizeof *m->gap)))
        return err_set(err, "%s: out of memory", job->label ? job->label : "runner");
    if (!m->st || !m->logits || !m->ids || !m->lens || !m->sids || !m->ss)
        return err_set(err, "%s: out of memory", job->label ? job->label : "runner");
    return 0;
}

/* The batch of prompts [a, a + nb): token lists and, for a forced expert, its per-token
 * weights packed like the tokens. *T = the batch's tokens. */
static int map_inputs(const runner_job *job, map_state *m, int64_t a, int nb, int64_t *T,
                      mp_err *err)
{
    const prompt_set *ps = job->ps;
    *T = 0;
    for (int i = 0; i < nb; i++) {
        m->ids[i] = ps->ids[a + i];
        m->lens[i] = ps->len[a + i];
        m->sids[i] = a + i;
        *T += m->lens[i];
    }
    if (!job->force_weight) return 0;
    free(m->fw);
    m->fw = malloc((size_t)(*T > 0 ? *T : 1) * sizeof *m->fw);
    if (!m->fw) return err_set(err, "out of memory");
    int64_t o = 0;
    for (int i = 0; i < nb; i++) {
        memcpy(m->fw + o, job->force_weight[a + i], (size_t)m->lens[i] * sizeof *m->fw);
        o += m->lens[i];
    }
    m->iv.force_weight = m->fw;
    return 0;
}

/* The forward pass of one batch (collective), with expert activations routed home. */
static int map_forward(runner *r, map_state *m, int nb, int64_t T, mp_err *err)
{
    hook_store_clear(m->st);
    fwd_batch fb = {nb, m->ids, m->lens, m->sids};
    double t0 = monotonic_s();
    for (int i = 0; m->gap && i < nb; i++) m->gap[i] = INFINITY;
    fwd_set_route_gap(r->fwd, m->gap, r->screen.gap_scale);
    const int frc = fwd_run(r->fwd, &fb, &m->hs, &m->iv, m->logits, err);
    fwd_set_route_gap(r->fwd, NULL, NULL);
    if (frc != 0) return -1;
    if (m->route && route_records(r, m->st, &m->hc, err) != 0) return -1;
    r->forward_s += monotonic_s() - t0;
    r->tokens += T;
    return 0;
}

/* on_sample for each sample of the batch, packed as records (sample id, length, blob). */
static int map_pack(const runner_job *job, map_state *m, int64_t a, int nb, mp_err *err)
{
    blob_reset(&m->out);
    for (int i = 0; i < nb; i++) {
        blob_reset(&m->one);
        if (job->on_sample && job->on_sample(job->sample_ctx, &m->ss[i], &m->one, err) != 0)
            return err_prefix(err, "sample %lld", (long long)(a + i));
        int64_t sid = a + i;
        uint64_t len = m->one.len;
        blob_append(&m->out, &sid, 8);
        blob_append(&m->out, &len, 8);
        blob_append(&m->out, m->one.data, m->one.len);
    }
    if (m->out.failed || m->one.failed) return err_set(err, "out of memory packing results");
    return 0;
}

/* Every rank's packed records to rank 0 (collective), which hands them to on_collect in order. */
static int map_collect(runner *r, const runner_job *job, map_state *m, mp_err *err)
{
    void *gathered = NULL;
    size_t *glens = NULL;
    int rc = 0;
    comm_gather_bytes(m->out.data, m->out.len, &gathered, &glens, 0);
    if (r->rank == 0) {
        size_t total = 0;
        for (int q = 0; q < r->size; q++) total += glens[q];
        const char *g = gathered;
        for (size_t o = 0; o + 16 <= total && rc == 0;) {
            int64_t sid;
            uint64_t len;
            memcpy(&sid, g + o, 8);
            memcpy(&len, g + o + 8, 8);
            if (len > total - o - 16)
                rc = err_set(err, "runner: corrupt result record of sample %lld", (long long)sid);
            else if (job->on_collect &&
                     job->on_collect(job->collect_ctx, sid, g + o + 16, (size_t)len, err) != 0)
                rc = -1;
            o += 16 + (size_t)len;
        }
    }
    free(gathered);
    free(glens);
    return rc;
}

int runner_map(runner *r, const runner_job *job, mp_err *err)
{
    const prompt_set *ps = job->ps;
    const int64_t n = ps->n, N = r->size, V = r->model.cfg.vocab_size;
    int rc = -1;
    map_state m = {0};

    /* A shard rewritten or truncated since it was mapped would feed other weights (or SIGBUS):
     * stop the job before touching it. Fatal for the whole job, not just this pass. */
    if (fault_check_maps(err) != 0) comm_fatal(job->label ? job->label : "runner", "%s", err->msg);
    if (map_init(r, job, &m, err) != 0) goto done;
    const int64_t B = m.B, rounds = (n + N * B - 1) / (N * B);
    for (int64_t k = 0; k < rounds; k++) {
        int64_t a = k * N * B + r->rank * B, b = a + B, T;
        if (a > n) a = n;
        if (b > n) b = n;
        int nb = (int)(b - a);
        if (map_inputs(job, &m, a, nb, &T, err) != 0 || map_forward(r, &m, nb, T, err) != 0)
            goto done;
        for (int i = 0; i < nb; i++)
            m.ss[i] = (runner_sample){a + i, ps, m.logits + (int64_t)i * V,
                                      m.st,  r,  m.gap ? m.gap[i] : INFINITY};
        if ((job->on_batch && job->on_batch(job->batch_ctx, r, m.ss, nb, err) != 0) ||
            map_pack(job, &m, a, nb, err) != 0 || map_collect(r, job, &m, err) != 0)
            goto done;
    }
    rc = 0;
done:
    if (rc != 0) rc = runner_fail(r, err, job->label);
    map_free(&m);
    return rc;
}

/* ---- resources ----------------------------------------------------------------------------- */

static int64_t peak_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int64_t kb = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) {
            kb = strtoll(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

void runner_report(runner *r, FILE *f, blob *out)
{
    const mcfg *c = &r->model.cfg;
    const ep_stats *es = ep_get_stats(r->ep);
    double mine[7];
    int64_t owned = 0, bytes = 0, total_bytes = 0;
    for (int l = 0; l < c->num_hidden_layers; l++)
        for (int e = 0; e < c->num_experts; e++) {
            if (!c->layer_is_moe[l]) continue;
            int64_t b = (int64_t)model_expert_bytes(&r->model, l, e);
            total_bytes += b;
            if (ep_is_local(r->ep, e)) bytes += b;
        }
    for (int e = 0; e < c->num_experts; e++) owned += ep_is_local(r->ep, e);
    mine[0] = r->rank;
    mine[1] = (double)r->tokens;
    mine[2] = r->forward_s;
    mine[3] = es->alltoall_s;
    mine[4] = (double)owned;
    mine[5] = (double)bytes;
    mine[6] = (double)peak_rss_bytes();
    void *all = NULL;
    size_t *lens = NULL;
    comm_gather_bytes(mine, sizeof mine, &all, &lens, 0);
    if (r->rank == 0) {
        const double *v = all;
        int n = r->size;
        double tok = 0, fw = 0;
        for (int i = 0; i < n; i++) {
            tok += v[i * 7 + 1];
            if (v[i * 7 + 2] > fw) fw = v[i * 7 + 2];
        }
        if (f) {
            fprintf(f,
                    "moeprobe: %d rank%s, %.0f tokens, %.1f tokens/s (slowest rank's forward "
                    "time), expert weights %lld bytes (%.3f GB) in all\n",
                    n, n == 1 ? "" : "s", tok, fw > 0 ? tok / fw : 0.0, (long long)total_bytes,
                    (double)total_bytes / 1e9);
            for (int i = 0; i < n; i++) {
                const double *x = v + i * 7;
                fprintf(f,
                        "moeprobe:   rank %d: %.0f tokens, forward %.2fs, all-to-all %.2fs "
                        "(%.1f%%), %.0f experts/layer owned, expert weights %.0f bytes (%.3f GB), "
                        "peak RSS %.2f GB\n",
                        (int)x[0], x[1], x[2], x[3], x[2] > 0 ? 100.0 * x[3] / x[2] : 0.0, x[4],
                        x[5], x[5] / 1e9, x[6] / 1e9);
            }
        }
        if (out) {
            static const char *const names[7] = {"rank",          "tokens",        "forward_s",
                                                 "alltoall_s",    "experts_owned", "expert_bytes",
                                                 "peak_rss_bytes"};
            double *col = malloc((size_t)n * sizeof *col);
            for (int j = 0; col && j < 7; j++) {
                int64_t nn = n;
                for (int i = 0; i < n; i++) col[i] = v[i * 7 + j];
                blob_put(out, names[j], BLOB_F64, 1, &nn, col);
            }
            free(col);
        }
    }
    free(all);
    free(lens);
}

/* ---- the neuron ranking's remote access to routed experts ------------------------------------ */

typedef struct remote_job {
    runner *r;
    int failed;
} remote_job;

/* On the owner: rows x[n,H] (g) with meta [layer, -, -] -> y[n, 2I] = (W_down^T g, norms). */
static void serve_screen(void *ctx, int e, int64_t n, const float *x, const int64_t *meta, float *y)
{
    remote_job *j = ctx;
    const int64_t H = j->r->model.cfg.hidden_size, I = j->r->model.cfg.moe_intermediate_size;
    for (int64_t i = 0; i < n; i++)
        if (attr_screen_one(j->r->attr, (int)meta[i * EP_META], e, x + i * H, y + i * 2 * I,
                            y + i * 2 * I + I) != 0)
            j->failed = 1;
}

/* On the owner: meta [layer, neuron, -] -> y[n,H] = W_down[:, neuron]. */
static void serve_columns(void *ctx, int e, int64_t n, const float *x, const int64_t *meta,
                          float *y)
{
    remote_job *j = ctx;
    const int64_t H = j->r->model.cfg.hidden_size;
    (void)x;
    for (int64_t i = 0; i < n; i++)
        attr_column_one(j->r->attr, (int)meta[i * EP_META], e, (int)meta[i * EP_META + 1],
                        y + i * H);
}

static int remote_screen(void *ctx, int64_t n, const int *layer, const int *expert, const float *g,
                         float *u, float *norm, mp_err *err)
{
    runner *r = ctx;
    const int64_t I = r->model.cfg.moe_intermediate_size, H = r->model.cfg.hidden_size;
    remote_job job = {r, 0};
    int rc = -1;
    int64_t *meta = calloc((size_t)((n > 0 ? n : 1) * EP_META), sizeof *meta);
    float *y = malloc((size_t)((n > 0 ? n : 1) * 2 * I) * sizeof *y);
    if (!meta || !y) {
        err_set(err, "neuron screening: out of memory for %lld requests", (long long)n);
        goto done;
    }
    for (int64_t i = 0; i < n; i++) meta[i * EP_META] = layer[i];
    if (ep_exchange_w(r->ep, H, 2 * I, n, g, expert, meta, serve_screen, &job, y, err) != 0)
        goto done;
    if (job.failed) {
        err_set(err, "neuron screening: out of memory on the expert's rank");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        memcpy(u + i * I, y + i * 2 * I, (size_t)I * sizeof *u);
        memcpy(norm + i * I, y + i * 2 * I + I, (size_t)I * sizeof *norm);
    }
    rc = 0;
done:
    free(meta);
    free(y);
    return rc;
}

static int remote_columns(void *ctx, int64_t n, const int *layer, const int *expert,
                          const int *neuron, float *col, mp_err *err)
{
    runner *r = ctx;
    const int64_t H = r->model.cfg.hidden_size;
    remote_job job = {r, 0};
    int64_t *meta = calloc((size_t)((n > 0 ? n : 1) * EP_META), sizeof *meta);
    int rc;
    if (!meta) return err_set(err, "neuron scoring: out of memory for %lld requests", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        meta[i * EP_META] = layer[i];
        meta[i * EP_META + 1] = neuron[i];
    }
    rc = ep_exchange_w(r->ep, 0, H, n, NULL, expert, meta, serve_columns, &job, col, err);
    free(meta);
    return rc;
}

static int remote_any(void *ctx, int mine)
{
    (void)ctx;
    return !comm_all_ok(!mine);
}

attr_remote runner_attr_remote(runner *r)
{
    attr_remote rem = {remote_screen, remote_columns, remote_any, r};
    return rem;
}

int runner_attribute_batch(runner *r, const runner_sample *s, int n, int n_top, int brute,
                           sample_capture *caps, attr_result *res, mp_err *err)
{
    attr_sample *in = calloc((size_t)(n > 0 ? n : 1), sizeof *in);
    int rc = -1, got = 0;
    if (n > 0) {
        memset(caps, 0, (size_t)n * sizeof *caps);
        memset(res, 0, (size_t)n * sizeof *res);
    }
    if (!in) {
        err_set(err, "attribution: out of memory for %d samples", n);
        goto done;
    }
    for (; got < n; got++) {
        if (capture_last(&r->model, s[got].store, s[got].sample, s[got].ps->len[s[got].sample] - 1,
                         &caps[got], err) != 0)
            goto done;
        capture_attr_input(&caps[got], s[got].ps->target[s[got].sample], &in[got]);
    }
    attr_remote rem = runner_attr_remote(r);
    if (attr_batch_run(r->attr, n, in, n_top, brute, &rem, res, err) != 0) goto done;
    rc = 0;
done:
    if (rc != 0)
        for (int i = 0; i < got; i++) {
            capture_free(&caps[i]);
            attr_result_free(&res[i]);
        }
    free(in);
    return rc;
}
