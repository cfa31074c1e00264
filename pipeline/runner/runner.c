/* runner.c — see runner.h.
 *
 * Round k covers samples [k*N*B, (k+1)*N*B) (N ranks, B prompts per rank per round); rank r
 * runs the slice [k*N*B + r*B, +B). Gathering the round's blobs in rank order therefore yields
 * global sample order, and every rank knows the number of rounds without communicating.
 * B shrinks for small sets so that all ranks get work. */
#include "pipeline/runner/runner.h"

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

static int fail(runner *r, mp_err *err, const char *label)
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
    if (rc != 0) rc = fail(r, err, job->label);
    map_free(&m);
    return rc;
}

/* ---- evaluation -------------------------------------------------------------------------- */

/* One evaluation pass's collection (rank 0): ranks, margins, routing gaps; for calibration also
 * every sample's logits and router probabilities. */
typedef struct eval_ctx {
    eval_result *out;
    float *gap;           /* [n] or NULL */
    int calib;            /* pack logits and router probabilities */
    float **logits;       /* [n][V] (calib) */
    float **prob;         /* [n][moe layers * len * E] router logits (calib) */
    int64_t *nprob;       /* [n] */
    const int64_t *index; /* the pass's sample i is result index[i] (a recomputed subset) */
} eval_ctx;

/* The router logits of every MoE layer and position (after blocking), layer after layer. */
static int pack_router(const runner_sample *s, blob *out, mp_err *err)
{
    const mcfg *c = &s->r->model.cfg;
    const int len = s->ps->len[s->sample], E = c->num_experts;
    int64_t nl = 0;
    for (int l = 0; l < c->num_hidden_layers; l++) nl += c->layer_is_moe[l] != 0;
    int64_t n = nl * len * E, o = 0;
    float *p = malloc((size_t)(n > 0 ? n : 1) * sizeof *p);
    if (!p) return err_set(err, "calibration: out of memory");
    for (int l = 0; l < c->num_hidden_layers; l++) {
        if (!c->layer_is_moe[l]) continue;
        for (int pos = 0; pos < len; pos++, o += E) {
            const hook_record *h =
                hook_store_find(s->store, HP_ROUTER_LOGITS, s->sample, l, pos, -1);
            if (!h || h->n != E) {
                free(p);
                return err_set(err, "calibration: no router logits for layer %d position %d", l,
                               pos);
            }
            memcpy(p + o, h->data, (size_t)E * sizeof *p);
        }
    }
    blob_put(out, "prob", BLOB_F32, 1, &n, p);
    free(p);
    return 0;
}

static int eval_sample(void *ctx, const runner_sample *s, blob *out, mp_err *err)
{
    const eval_ctx *c = ctx;
    int64_t rank;
    double margin;
    if (s->ps->target[s->sample] < 0)
        return err_set(err, "no target for prompt \"%s\" (an object is needed to evaluate)",
                       s->ps->prompt[s->sample]);
    if (runner_rank(s->logits, s->r->model.cfg.vocab_size, s->ps->target[s->sample], &rank, &margin,
                    err) != 0)
        return -1;
    blob_put_i64(out, "rank", rank);
    blob_put_f64(out, "margin", margin);
    if (c->gap) blob_put_f64(out, "gap", s->route_gap);
    if (c->calib) {
        int64_t V = s->r->model.cfg.vocab_size;
        blob_put(out, "logits", BLOB_F32, 1, &V, s->logits);
        return pack_router(s, out, err);
    }
    return 0;
}

static int eval_collect(void *ctx, int64_t sample, const void *data, size_t len, mp_err *err)
{
    eval_ctx *c = ctx;
    eval_result *e = c->out;
    const int64_t at = c->index ? c->index[sample] : sample;
    blob_item it;
    if (blob_find(data, len, "rank", &it, err) != 1) return -1;
    memcpy(&e->rank[at], it.data, 8);
    if (blob_find(data, len, "margin", &it, err) != 1) return -1;
    memcpy(&e->margin[at], it.data, 8);
    if (c->gap) {
        double g;
        if (blob_find(data, len, "gap", &it, err) != 1) return -1;
        memcpy(&g, it.data, 8);
        c->gap[at] = (float)g;
    }
    if (c->calib) {
        if (blob_find(data, len, "logits", &it, err) != 1 || !(c->logits[at] = blob_to_f32(&it)))
            return err_set(err, "calibration: logits missing or out of memory");
        if (blob_find(data, len, "prob", &it, err) != 1 || !(c->prob[at] = blob_to_f32(&it)))
            return err_set(err, "calibration: router probabilities missing or out of memory");
        c->nprob[at] = it.count;
    }
    return 0;
}

void eval_result_free(eval_result *e)
{
    free(e->rank);
    free(e->margin);
    memset(e, 0, sizeof *e);
}

/* rank 0's nb bytes at dst to every rank */
static void bcast_into(void *dst, size_t nb)
{
    void *p = dst;
    comm_bcast_bytes(&p, &nb, 0);
    if (p != dst) {
        memcpy(dst, p, nb);
        free(p);
    }
}

/* One pass over ps (or its samples sel[0..nsel) when sel is set), in float32 or with bf16
 * products, into out / gap at the samples' indices; every rank gets the results. */
static int eval_pass(runner *r, const prompt_set *ps, const int64_t *sel, int64_t nsel,
                     const intervention *iv, const float *const *force_weight, int bf16,
                     eval_ctx *c, mp_err *err)
{
    prompt_set sub = {0};
    const float **fw = NULL;
    hook_set hs;
    runner_job job = {0};
    int rc = -1;
    if (sel) { /* a view of the selected samples: the pointers stay ps's */
        sub.n = nsel;
        sub.prompt = malloc((size_t)(nsel > 0 ? nsel : 1) * sizeof *sub.prompt);
        sub.object = malloc((size_t)(nsel > 0 ? nsel : 1) * sizeof *sub.object);
        sub.ids = malloc((size_t)(nsel > 0 ? nsel : 1) * sizeof *sub.ids);
        sub.len = malloc((size_t)(nsel > 0 ? nsel : 1) * sizeof *sub.len);
        sub.target = malloc((size_t)(nsel > 0 ? nsel : 1) * sizeof *sub.target);
        if (force_weight) fw = malloc((size_t)(nsel > 0 ? nsel : 1) * sizeof *fw);
        if (!sub.prompt || !sub.object || !sub.ids || !sub.len || !sub.target ||
            (force_weight && !fw)) {
            err_set(err, "evaluation: out of memory");
            goto done;
        }
        for (int64_t i = 0; i < nsel; i++) {
            const int64_t k = sel[i];
            sub.prompt[i] = ps->prompt[k];
            sub.object[i] = ps->object[k];
            sub.ids[i] = ps->ids[k];
            sub.len[i] = ps->len[k];
            sub.target[i] = ps->target[k];
            if (fw) fw[i] = force_weight[k];
        }
    }
    job.ps = sel ? &sub : ps;
    job.iv = iv;
    job.force_weight = sel ? (const float *const *)fw : force_weight;
    job.on_sample = eval_sample;
    job.sample_ctx = c;
    job.on_collect = eval_collect;
    job.collect_ctx = c;
    job.want_gap = c->gap != NULL;
    job.label = "evaluation";
    c->index = sel;
    if (c->calib) {
        hook_set_init(&hs);
        hook_request_all(&hs, HP_ROUTER_LOGITS, HOOK_POS_ALL);
        job.hooks = &hs;
    }
    const int was = gemm_set_bf16(bf16);
    rc = runner_map(r, &job, err);
    gemm_set_bf16(was);
    c->index = NULL;
    if (rc != 0) goto done;
    /* every rank gets the ranks: later decisions (top experts, pairs) must agree */
    bcast_into(c->out->rank, (size_t)ps->n * 8);
    bcast_into(c->out->margin, (size_t)ps->n * 8);
    if (c->gap) bcast_into(c->gap, (size_t)ps->n * sizeof *c->gap);
done:
    free(sub.prompt);
    free(sub.object);
    free(sub.ids);
    free(sub.len);
    free(sub.target);
    free(fw);
    return rc;
}

static double env_double(const char *name, double dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtod(v, NULL) : dflt;
}

#define SCREEN_SAFETY 4.0  /* bound = SAFETY x the largest discrepancy calibration saw */
#define SCREEN_CALIB 32    /* samples run both ways to calibrate: n/8, 4 .. 32 of them */
#define SCREEN_SENTINEL 16 /* every 16th sample not close is recomputed too */

/* A bf16 checkpoint: every weight the forward pass multiplies by is BF16 (else screening has
 * nothing to gain and runs float32). */
static int model_is_bf16(const mp_model *m)
{
    if (m->lm_head.dtype != MP_BF16) return 0;
    for (int l = 0; l < m->cfg.num_hidden_layers; l++)
        if (m->layers[l].q_proj.dtype != MP_BF16 || m->layers[l].o_proj.dtype != MP_BF16) return 0;
    return 1;
}

/* Every screened pass calibrates on its own first samples (so a pass's result does not depend
 * on which passes this process ran before: resumed and array-split runs record the same): they
 * run in float32 and with bf16 products. The bounds are SAFETY x the largest discrepancy seen:
 * of a logit difference (l_v - l_target) for the margin, and per layer twice that of a router
 * logit for the routing gap (a gap between two logits moves by at most twice the largest move
 * of one). The float32 results of those samples go to keep (they are final); *ncal = their
 * number. */
static int screen_calibrate(runner *r, const prompt_set *ps, const intervention *iv,
                            const float *const *force_weight, eval_result *keep, int64_t *ncal,
                            mp_err *err)
{
    runner_screen *sc = &r->screen;
    const mcfg *mc = &r->model.cfg;
    const int L = mc->num_hidden_layers, E = mc->num_experts;
    const int64_t want = ps->n / 8 < 4 ? 4 : ps->n / 8 > SCREEN_CALIB ? SCREEN_CALIB : ps->n / 8;
    const int64_t n = ps->n < want ? ps->n : want, V = mc->vocab_size;
    int64_t *sel = malloc((size_t)(n > 0 ? n : 1) * sizeof *sel);
    double *d = calloc((size_t)(2 + 2 * L), sizeof *d); /* logit, |logit|, router[L], |router|[L] */
    eval_result tmp[2] = {{0}, {0}};
    eval_ctx c[2];
    int rc = -1;
    memset(c, 0, sizeof c);
    if (!sel || !d) {
        err_set(err, "calibration: out of memory");
        goto done;
    }
    if (!sc->d_router) sc->d_router = calloc((size_t)L, sizeof *sc->d_router);
    if (!sc->gap_scale) sc->gap_scale = calloc((size_t)L, sizeof *sc->gap_scale);
    if (!sc->d_router || !sc->gap_scale) {
        err_set(err, "calibration: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) sel[i] = i;
    for (int w = 0; w < 2; w++) {
        tmp[w].n = ps->n;
        tmp[w].rank = calloc((size_t)(ps->n > 0 ? ps->n : 1), sizeof *tmp[w].rank);
        tmp[w].margin = calloc((size_t)(ps->n > 0 ? ps->n : 1), sizeof *tmp[w].margin);
        c[w].out = &tmp[w];
        c[w].calib = 1;
        c[w].logits = calloc((size_t)(ps->n > 0 ? ps->n : 1), sizeof *c[w].logits);
        c[w].prob = calloc((size_t)(ps->n > 0 ? ps->n : 1), sizeof *c[w].prob);
        c[w].nprob = calloc((size_t)(ps->n > 0 ? ps->n : 1), sizeof *c[w].nprob);
        if (!tmp[w].rank || !tmp[w].margin || !c[w].logits || !c[w].prob || !c[w].nprob) {
            err_set(err, "calibration: out of memory");
            goto done;
        }
        if (eval_pass(r, ps, sel, n, iv, force_weight, w, &c[w], err) != 0) goto done;
    }
    if (r->rank == 0)
        for (int64_t i = 0; i < n; i++) {
            const float *f = c[0].logits[i], *b = c[1].logits[i];
            const int32_t t = ps->target[i];
            for (int64_t v = 0; v < V; v++) {
                const double e = fabs(((double)b[v] - b[t]) - ((double)f[v] - f[t]));
                if (e > d[0]) d[0] = e;
                if (fabs(f[v]) > d[1]) d[1] = fabs(f[v]);
            }
            int64_t o = 0;
            for (int l = 0; l < L; l++) {
                if (!mc->layer_is_moe[l]) continue;
                for (int64_t q = 0; q < (int64_t)ps->len[i] * E; q++, o++) {
                    if (o >= c[0].nprob[i] || o >= c[1].nprob[i]) break;
                    const float fr = c[0].prob[i][o], br = c[1].prob[i][o];
                    if (isinf(fr) && fr == br) continue; /* blocked in both */
                    const double e = fabs((double)br - fr);
                    if (e > d[2 + l]) d[2 + l] = e;
                    if (fabs(fr) > d[2 + L + l]) d[2 + L + l] = fabs(fr);
                }
            }
        }
    bcast_into(d, (size_t)(2 + 2 * L) * sizeof *d);
    /* floors of a few float32 ulps: a discrepancy of exactly 0 on the calibration samples says
     * little about the others */
    sc->d_logit = d[0];
    sc->bound_logit = SCREEN_SAFETY * fmax(d[0], 8.0 * FLT_EPSILON * d[1]);
    double dmax = 0, bmin = INFINITY, bmax = 0;
    for (int l = 0; l < L; l++) {
        sc->d_router[l] = d[2 + l];
        const double b = SCREEN_SAFETY * 2.0 * fmax(d[2 + l], 8.0 * FLT_EPSILON * d[2 + L + l]);
        sc->gap_scale[l] = mc->layer_is_moe[l] && b > 0 ? (float)(1.0 / b) : 1.0f;
        if (!mc->layer_is_moe[l]) continue;
        dmax = fmax(dmax, d[2 + l]);
        bmin = fmin(bmin, b);
        bmax = fmax(bmax, b);
    }
    sc->calib_samples = n;
    sc->calibrated = 1;
    memcpy(keep->rank, tmp[0].rank, (size_t)n * sizeof *keep->rank);
    memcpy(keep->margin, tmp[0].margin, (size_t)n * sizeof *keep->margin);
    *ncal = n;
    if (r->rank == 0 && !sc->logged++)
        fprintf(stderr,
                "moeprobe: bf16 screening calibrated on %lld samples: largest discrepancy %.3g "
                "(logit difference), %.3g (router logit); close below %.3g (margin), %.3g .. "
                "%.3g by layer (routing gap in router logits)\n",
                (long long)n, d[0], dmax, sc->bound_logit, isinf(bmin) ? 0.0 : bmin, bmax);
    rc = 0;
done:
    for (int w = 0; w < 2; w++) {
        for (int64_t i = 0; i < ps->n && c[w].logits; i++) free(c[w].logits[i]);
        for (int64_t i = 0; i < ps->n && c[w].prob; i++) free(c[w].prob[i]);
        free(c[w].logits);
        free(c[w].prob);
        free(c[w].nprob);
        eval_result_free(&tmp[w]);
    }
    free(sel);
    free(d);
    return rc;
}

/* The screened pass (runner.h): calibration samples in float32, the rest in bf16, then float32
 * again for the close ones and the sentinel. */
static int eval_screened(runner *r, const prompt_set *ps, const intervention *iv,
                         const float *const *force_weight, eval_result *out, mp_err *err)
{
    runner_screen *sc = &r->screen;
    const int64_t n = ps->n;
    float *gap = malloc((size_t)(n > 0 ? n : 1) * sizeof *gap);
    float *gap32 = malloc((size_t)(n > 0 ? n : 1) * sizeof *gap32);
    int64_t *sel = malloc((size_t)(n > 0 ? n : 1) * sizeof *sel), nsel = 0, nclose = 0, ncal = 0;
    int64_t *rest = malloc((size_t)(n > 0 ? n : 1) * sizeof *rest), nrest = 0;
    eval_result f32 = {0};
    int rc = -1;
    f32.n = n;
    f32.rank = malloc((size_t)(n > 0 ? n : 1) * sizeof *f32.rank);
    f32.margin = malloc((size_t)(n > 0 ? n : 1) * sizeof *f32.margin);
    if (!gap || !gap32 || !sel || !rest || !f32.rank || !f32.margin) {
        err_set(err, "evaluation: out of memory");
        goto done;
    }
    if (screen_calibrate(r, ps, iv, force_weight, out, &ncal, err) != 0) goto done;
    const double scale = env_double("MOEPROBE_BF16_BOUND_SCALE", 1.0);
    const int64_t stride = (int64_t)env_double("MOEPROBE_BF16_SENTINEL", SCREEN_SENTINEL);
    /* gaps come scaled by 1 / their layer's bound (fwd_set_route_gap): close at or below 1 */
    const double bl = sc->bound_logit * scale, bg = scale;
    for (int64_t i = ncal; i < n; i++) rest[nrest++] = i;
    eval_ctx c = {out, gap, 0, NULL, NULL, NULL, NULL};
    if (eval_pass(r, ps, rest, nrest, iv, force_weight, 1, &c, err) != 0) goto done;
    for (int64_t q = 0; q < nrest; q++) {
        const int64_t i = rest[q];
        const int close = out->margin[i] <= bl || gap[i] <= bg;
        nclose += close;
        if (close || (stride > 0 && i % stride == 0)) sel[nsel++] = i;
    }
    /* the float32 results of the selected samples, kept apart to compare the sentinels */
    memcpy(f32.rank, out->rank, (size_t)n * sizeof *f32.rank);
    memcpy(f32.margin, out->margin, (size_t)n * sizeof *f32.margin);
    memcpy(gap32, gap, (size_t)n * sizeof *gap32);
    eval_ctx c32 = {&f32, gap32, 0, NULL, NULL, NULL, NULL};
    if (eval_pass(r, ps, sel, nsel, iv, force_weight, 0, &c32, err) != 0) goto done;
    /* a sentinel (not close) whose float32 margin or gap moved by more than the bound (a scaled
     * gap by more than 1), or whose rank changed, shows the bound too tight for this pass: it is
     * recomputed whole */
    double worst_l = 0, worst_g = 0;
    int64_t bad = -1;
    for (int64_t q = 0; q < nsel; q++) {
        const int64_t i = sel[q];
        if (out->margin[i] <= bl || gap[i] <= bg) continue;
        const double dl = fabs(f32.margin[i] - out->margin[i]);
        const double dg = isinf(gap[i]) && isinf(gap32[i]) ? 0.0 : fabs((double)gap32[i] - gap[i]);
        if (dl > worst_l) worst_l = dl;
        if (dg > worst_g) worst_g = dg;
        if ((dl > sc->bound_logit || dg > 1.0 || f32.rank[i] != out->rank[i]) && bad < 0) bad = i;
    }
    out->screened = 1;
    out->close = nclose;
    if (bad >= 0) {
        sc->widened++;
        if (r->rank == 0)
            fprintf(stderr,
                    "moeprobe: bf16 screening: sentinel sample %lld disagrees with float32 "
                    "(rank %lld in bf16, %lld in float32; sentinels moved by up to %.3g in "
                    "margin, %.3g of the bound in routing gap): the whole pass recomputed in "
                    "float32\n",
                    (long long)bad, (long long)out->rank[bad], (long long)f32.rank[bad], worst_l,
                    worst_g);
        eval_ctx ca = {out, NULL, 0, NULL, NULL, NULL, NULL};
        if (eval_pass(r, ps, rest, nrest, iv, force_weight, 0, &ca, err) != 0) goto done;
        out->recomputed = n;
    } else {
        for (int64_t q = 0; q < nsel; q++) {
            out->rank[sel[q]] = f32.rank[sel[q]];
            out->margin[sel[q]] = f32.margin[sel[q]];
        }
        out->recomputed = ncal + nsel;
    }
    rc = 0;
done:
    eval_result_free(&f32);
    free(gap);
    free(gap32);
    free(sel);
    free(rest);
    return rc;
}

int runner_eval(runner *r, const prompt_set *ps, const intervention *iv,
                const float *const *force_weight, eval_result *out, mp_err *err)
{
    memset(out, 0, sizeof *out);
    out->n = ps->n;
    out->rank = calloc((size_t)(ps->n > 0 ? ps->n : 1), sizeof *out->rank);
    out->margin = calloc((size_t)(ps->n > 0 ? ps->n : 1), sizeof *out->margin);
    if (!out->rank || !out->margin) {
        eval_result_free(out);
        return err_set(err, "evaluation: out of memory");
    }
    int rc;
    if (r->opts.eval_bf16 && model_is_bf16(&r->model)) {
        rc = eval_screened(r, ps, iv, force_weight, out, err);
    } else {
        eval_ctx c = {out, NULL, 0, NULL, NULL, NULL, NULL};
        rc = eval_pass(r, ps, NULL, 0, iv, force_weight, 0, &c, err);
    }
    if (rc != 0) {
        eval_result_free(out);
        return fail(r, err, "evaluation");
    }
    return 0;
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
