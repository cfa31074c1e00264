/* sample_capture.c — the forward unit of a relation, "capture/<rel>": one pass over the relation's
 * prompts that evaluates (rank of the target, HIT@10, MRR), attributes (layers, heads, experts,
 * neurons; stage `attribute`), records routing at the last position (and the relation's expert
 * frequency ranking) and stores the configured hook points (stage `capture`).
 *
 * Per sample, on the rank that ran it, everything becomes one blob of named arrays; rank 0
 * streams them into the archive in sample order. Item names carry how they are stored:
 *   "S:path"  one row per sample: dataset [n, <item shape>]
 *   "R:path"  the item's first dimension are rows (all-position captures: [tokens, ...])
 *   "M:name"  kept in memory on rank 0 for the relation's metrics, not stored per sample. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/attribution/sample_capture.h"
#include "pipeline/ops/ops.h"
#include "stages/schema_attribute.h"
#include "stages/schema_capture.h"
#include "stages/schema_evaluate.h"
#include "stages/analysis.h"
#include "stages/stats.h"

typedef struct cap_opts {
    int attribute;       /* stage `attribute` selected */
    int capture;         /* stage `capture` selected */
    int all_pos;         /* capture.positions == all */
    int point[HP_COUNT]; /* hook points stored */
    int want_logits;
    unsigned char layer[HOOK_MAX_LAYERS];
    int n_top; /* largest neurons_top */
    const int64_t *tops;
    size_t n_tops;
    int screen;
} cap_opts;

enum { CAP_MAX_STREAMS = 64 };

typedef struct cap_state {
    analysis_ctx *c;
    cap_opts o;
    /* this rank's current batch: captures and attributions made by cap_batch (collectively,
     * so that neuron screening runs on the ranks holding the experts) */
    int64_t batch_first;
    int batch_n;
    sample_capture *caps;
    attr_result *res;
    /* rank 0 accumulators */
    int64_t n;
    int64_t *rank;
    double *margin;
    double min_gap;
    int64_t *freq;    /* [L*E] top-k membership counts at the last position */
    double *attr_sum; /* [L*E] summed expert attribution */
    int64_t exact, total;
    /* one per captured dataset: the schema's capture entries, far fewer than this (checked) */
    arc_stream *streams[CAP_MAX_STREAMS];
    char stream_path[CAP_MAX_STREAMS][160];
    int n_streams;
} cap_state;

static void put_s(blob *b, const char *path, blob_type t, int nd, const int64_t *sh, const void *d)
{
    char name[200];
    snprintf(name, sizeof name, "S:%s", path);
    blob_put(b, name, t, nd, sh, d);
}

/* The hook points the `capture.points` names stand for. */
static void select_points(const rcfg *cfg, cap_opts *o)
{
    const char *const *pts;
    size_t n = rcfg_str_list(cfg, "capture.points", &pts);
    for (size_t i = 0; i < n; i++) {
        hook_point p;
        if (!strcmp(pts[i], "topk")) {
            o->point[HP_TOPK_IDX] = o->point[HP_TOPK_WEIGHT] = 1;
        } else if (!strcmp(pts[i], "shared_expert")) {
            o->point[HP_SHARED_OUT] = o->point[HP_SHARED_GATE] = 1;
        } else if (!strcmp(pts[i], "logits")) {
            o->want_logits = 1;
        } else if (hook_point_parse(pts[i], &p) == 0) {
            o->point[p] = 1;
        }
    }
}

static int layer_kept(const cap_opts *o, int l)
{
    return l < HOOK_MAX_LAYERS && o->layer[l];
}

/* ---- per batch, on every rank --------------------------------------------------------------- */

static void batch_free(cap_state *st)
{
    for (int i = 0; i < st->batch_n; i++) {
        if (st->caps) capture_free(&st->caps[i]);
        if (st->res) attr_result_free(&st->res[i]);
    }
    free(st->caps);
    free(st->res);
    st->caps = NULL;
    st->res = NULL;
    st->batch_n = 0;
}

static int cap_batch(void *vctx, runner *r, const runner_sample *s, int n, mp_err *err)
{
    cap_state *st = vctx;
    batch_free(st);
    st->caps = calloc((size_t)(n > 0 ? n : 1), sizeof *st->caps);
    st->res = calloc((size_t)(n > 0 ? n : 1), sizeof *st->res);
    if (!st->caps || !st->res) return err_set(err, "out of memory");
    if (runner_attribute_batch(r, s, n, st->o.n_top, !st->o.screen, st->caps, st->res, err) != 0)
        return -1;
    st->batch_first = n > 0 ? s[0].sample : 0;
    st->batch_n = n;
    return 0;
}

/* ---- per sample, on the rank that ran it ------------------------------------------------- */

/* Routing at the last position (routing/<rel>) and the smallest k-th vs (k+1)-th router
 * probability gap at any position and layer (how close the routing came to another choice). */
static int sample_routing(const runner_sample *s, const sample_capture *cap, blob *out)
{
    const mcfg *cf = &s->r->model.cfg;
    const int64_t L = cf->num_hidden_layers, E = cf->num_experts, k = cf->num_experts_per_tok;
    const int T = s->ps->len[s->sample];
    float *prob = calloc((size_t)(L * E), sizeof *prob), *p = malloc((size_t)E * sizeof *p);
    double gap = INFINITY;
    int rc = -1;
    if (!prob || !p) goto done;
    for (int64_t l = 0; l < L; l++) {
        if (!cf->layer_is_moe[l]) continue;
        for (int t = 0; t < T; t++) {
            const hook_record *rr =
                hook_store_find(s->store, HP_ROUTER_LOGITS, s->sample, (int)l, t, -1);
            if (!rr) continue;
            memcpy(p, rr->data, (size_t)E * sizeof *p);
            ops_softmax(p, E);
            double g = stats_kth_gap(p, E, k);
            if (g < gap) gap = g;
            if (t == T - 1) memcpy(prob + l * E, p, (size_t)E * sizeof *p);
        }
    }
    int64_t sh2[2] = {L, k}, she[2] = {L, E};
    put_s(out, "routing/topk_idx", BLOB_I32, 2, sh2, cap->topk_idx);
    put_s(out, "routing/topk_weight", BLOB_F32, 2, sh2, cap->topk_weight);
    put_s(out, "routing/router_prob", BLOB_F32, 2, she, prob);
    blob_put(out, "M:topk_idx", BLOB_I32, 2, sh2, cap->topk_idx);
    blob_put_f64(out, "M:router_gap", gap);
    rc = 0;
done:
    free(prob);
    free(p);
    return rc;
}

/* The top-N neurons of one sample for every N of attribute.neurons_top: [N, 3] (layer, expert,
 * neuron) and their scores, padded with -1 / NaN when the model has fewer than N neurons. */
static int put_neuron_tops(const cap_opts *o, const attr_result *res, blob *out)
{
    for (size_t i = 0; i < o->n_tops; i++) {
        char path[64];
        int64_t N = o->tops[i];
        int32_t *nb = calloc((size_t)N * 3, sizeof *nb);
        double *sb = malloc((size_t)N * sizeof *sb);
        if (!nb || !sb) {
            free(nb);
            free(sb);
            return -1;
        }
        for (int64_t j = 0; j < N; j++) {
            if (j < res->n_top) {
                memcpy(nb + 3 * j, res->neuron + 3 * j, 3 * sizeof *nb);
                sb[j] = res->neuron_score[j];
            } else {
                nb[3 * j] = nb[3 * j + 1] = nb[3 * j + 2] = -1;
                sb[j] = NAN;
            }
        }
        int64_t shn[2] = {N, 3};
        snprintf(path, sizeof path, "attribution/neuron_top%lld", (long long)N);
        put_s(out, path, BLOB_I32, 2, shn, nb);
        snprintf(path, sizeof path, "attribution/neuron_top%lld_score", (long long)N);
        put_s(out, path, BLOB_F64, 1, &N, sb);
        /* the tidy form: one variable per column along rank */
        static const char *const col[3] = {"layer", "expert", "neuron"};
        int32_t *cb = malloc((size_t)N * sizeof *cb);
        for (int c = 0; cb && c < 3; c++) {
            for (int64_t j = 0; j < N; j++) cb[j] = nb[3 * j + c];
            snprintf(path, sizeof path, "attribution/neuron_top%lld_ranking/%s", (long long)N,
                     col[c]);
            put_s(out, path, BLOB_I32, 1, &N, cb);
        }
        int ok = cb != NULL;
        free(cb);
        if (!ok) {
            free(nb);
            free(sb);
            return -1;
        }
        snprintf(path, sizeof path, "attribution/neuron_top%lld_ranking/score", (long long)N);
        put_s(out, path, BLOB_F64, 1, &N, sb);
        free(nb);
        free(sb);
    }
    return 0;
}

/* The sample's gains of layers, heads, experts, shared expert and its top neurons. */
/* The expert gains by expert id [L, E]: each slot's gain at its chosen expert, 0 elsewhere. */
static int put_expert_by_id(const mcfg *cf, const attr_result *res, const int32_t *topk_idx,
                            blob *out)
{
    const int64_t L = cf->num_hidden_layers, E = cf->num_experts, k = cf->num_experts_per_tok;
    double *g = calloc((size_t)(L * E), sizeof *g);
    int64_t she[2] = {L, E};
    if (!g) return -1;
    for (int64_t l = 0; l < L; l++)
        for (int64_t j = 0; j < k; j++) {
            int32_t e = topk_idx ? topk_idx[l * k + j] : -1;
            if (e >= 0 && e < E) g[l * E + e] += res->expert[l * k + j];
        }
    put_s(out, "attribution/expert_by_id", BLOB_F64, 2, she, g);
    free(g);
    return 0;
}

static int sample_attribution(const cap_opts *o, const mcfg *cf, const attr_result *res,
                              const int32_t *topk_idx, blob *out)
{
    const int64_t L = cf->num_hidden_layers, nH = cf->num_attention_heads;
    const int64_t E = cf->num_experts, k = cf->num_experts_per_tok;
    int64_t shl[1] = {L}, shh[2] = {L, nH}, shk[2] = {L, k};
    put_s(out, "attribution/final_norm_scale", BLOB_F64, 0, NULL, &res->final_norm_scale);
    put_s(out, "attribution/attn_gain", BLOB_F64, 1, shl, res->attn_gain);
    put_s(out, "attribution/ffn_gain", BLOB_F64, 1, shl, res->ffn_gain);
    put_s(out, "attribution/head", BLOB_F64, 2, shh, res->head);
    if (E > 0) {
        put_s(out, "attribution/expert", BLOB_F64, 2, shk, res->expert);
        if (put_expert_by_id(cf, res, topk_idx, out) != 0) return -1;
        blob_put(out, "M:attr_expert", BLOB_F64, 2, shk, res->expert);
    }
    if (cf->shared_expert_intermediate_size > 0)
        put_s(out, "attribution/shared", BLOB_F64, 1, shl, res->shared);
    if (put_neuron_tops(o, res, out) != 0) return -1;
    put_s(out, "attribution/neurons_exact", BLOB_I64, 0, NULL, &res->neurons_exact);
    put_s(out, "attribution/neurons_total", BLOB_I64, 0, NULL, &res->neurons_total);
    return 0;
}

/* One float hook point at the kept layers lmap[0..Lk): the last position [Lk, ...dims] or all
 * positions [T, Lk, ...dims] (dims: n, or a x H for head_out / expert_out). */
static int put_capture(const cap_opts *o, const runner_sample *s, hook_point p, const char *pname,
                       int64_t n, int64_t a, const int64_t *lmap, int64_t Lk, blob *out)
{
    const int T = s->ps->len[s->sample], npos = o->all_pos ? T : 1, pos0 = o->all_pos ? 0 : T - 1;
    float *buf = calloc((size_t)(npos * Lk * n) + 1, sizeof *buf);
    char name[200];
    if (!buf) return -1;
    for (int q = 0; q < npos; q++)
        for (int64_t j = 0; j < Lk; j++) {
            const hook_record *rr =
                hook_store_find(s->store, p, s->sample, (int)lmap[j], pos0 + q, -1);
            if (rr && rr->n == n) memcpy(buf + (q * Lk + j) * n, rr->data, (size_t)n * 4);
        }
    snprintf(name, sizeof name, "%c:captures/%s", o->all_pos ? 'R' : 'S', pname);
    /* [.., nH, H] / [.., k, H] keep their two trailing dimensions */
    int64_t sh[4] = {npos, Lk, a ? a : n, a ? n / a : 0};
    int nd = (a ? 3 : 2) + (o->all_pos ? 1 : 0);
    blob_put(out, name, BLOB_F32, nd, o->all_pos ? sh : sh + 1, buf);
    free(buf);
    return 0;
}

/* The hook points of capture.points at the kept layers, the logits, the token count. */
static int sample_captures(const cap_opts *o, const runner_sample *s, blob *out)
{
    const mcfg *cf = &s->r->model.cfg;
    const int64_t L = cf->num_hidden_layers, H = cf->hidden_size, nH = cf->num_attention_heads;
    const int64_t E = cf->num_experts, k = cf->num_experts_per_tok, V = cf->vocab_size;
    const int T = s->ps->len[s->sample];
    const int shared = cf->shared_expert_intermediate_size > 0;
    int64_t Lk = 0, lmap[HOOK_MAX_LAYERS];
    for (int64_t l = 0; l < L; l++)
        if (layer_kept(o, (int)l)) lmap[Lk++] = l;
    const struct {
        hook_point p;
        const char *name;
        int64_t n, a;
        int on;
    } pts[] = {{HP_RESID_PRE, "resid_pre", H, 0, 1},
               {HP_ATTN_OUT, "attn_out", H, 0, 1},
               {HP_MLP_OUT, "mlp_out", H, 0, 1},
               {HP_RESID_POST, "resid_post", H, 0, 1},
               {HP_HEAD_OUT, "head_out", nH * H, nH, 1},
               {HP_ROUTER_LOGITS, "router_logits", E, 0, 1},
               {HP_TOPK_WEIGHT, "topk_weight", k, 0, 1},
               {HP_EXPERT_OUT, "expert_out", k * H, k, 1},
               {HP_SHARED_OUT, "shared_out", H, 0, shared},
               {HP_SHARED_GATE, "shared_gate", 1, 0, shared}};
    for (size_t i = 0; i < sizeof pts / sizeof *pts; i++)
        if (o->point[pts[i].p] && pts[i].n > 0 && pts[i].on &&
            put_capture(o, s, pts[i].p, pts[i].name, pts[i].n, pts[i].a, lmap, Lk, out) != 0)
            return -1;
    if (o->point[HP_TOPK_IDX] && E > 0) {
        int npos = o->all_pos ? T : 1, pos0 = o->all_pos ? 0 : T - 1;
        int32_t *ib = malloc((size_t)(npos * Lk * k + 1) * sizeof *ib);
        if (!ib) return -1;
        for (int q = 0; q < npos; q++)
            for (int64_t j = 0; j < Lk; j++) {
                const hook_record *rr =
                    hook_store_find(s->store, HP_TOPK_IDX, s->sample, (int)lmap[j], pos0 + q, -1);
                for (int64_t x = 0; x < k; x++)
                    ib[(q * Lk + j) * k + x] = rr ? ((const int32_t *)rr->data)[x] : -1;
            }
        int64_t sh[3] = {npos, Lk, k};
        blob_put(out, o->all_pos ? "R:captures/topk_idx" : "S:captures/topk_idx", BLOB_I32,
                 o->all_pos ? 3 : 2, o->all_pos ? sh : sh + 1, ib);
        free(ib);
    }
    if (o->want_logits) put_s(out, "captures/logits", BLOB_F32, 1, &V, s->logits);
    if (o->all_pos) {
        int64_t tt = T;
        put_s(out, "captures/n_tokens", BLOB_I64, 0, NULL, &tt);
    }
    return 0;
}

/* One sample's results, keyed "M:" (rank 0's metrics), "S:" (a per-sample row of a dataset)
 * or "R:" (rows per token): rank and margin, routing, attribution, captures. */
static int cap_sample(void *vctx, const runner_sample *s, blob *out, mp_err *err)
{
    cap_state *st = vctx;
    const cap_opts *o = &st->o;
    const mp_model *m = &s->r->model;
    const mcfg *cf = &m->cfg;
    const int T = s->ps->len[s->sample];
    sample_capture own, *cap = &own;
    const attr_result *res = NULL;
    int rc = -1;
    int64_t rank;
    double margin;

    memset(&own, 0, sizeof own);
    if (runner_rank(s->logits, cf->vocab_size, s->ps->target[s->sample], &rank, &margin, err) != 0)
        return -1;
    blob_put_i64(out, "M:rank", rank);
    blob_put_f64(out, "M:margin", margin);
    if (o->attribute && s->sample >= st->batch_first && s->sample < st->batch_first + st->batch_n) {
        res = &st->res[s->sample - st->batch_first];
        cap = &st->caps[s->sample - st->batch_first];
    } else if (o->attribute) {
        return err_set(err, "capture: no attribution for sample %lld", (long long)s->sample);
    } else if (capture_last(m, s->store, s->sample, T - 1, &own, err) != 0) {
        return -1;
    }
    if ((cf->num_experts > 0 && sample_routing(s, cap, out) != 0) ||
        (o->attribute && sample_attribution(o, cf, res, cap->topk_idx, out) != 0) ||
        (o->capture && sample_captures(o, s, out) != 0)) {
        err_set(err, "out of memory");
        goto done;
    }
    rc = out->failed ? err_set(err, "out of memory packing results") : 0;
done:
    capture_free(&own);
    return rc;
}

/* ---- rank 0: stream into the archive ------------------------------------------------------ */

/* The schema entry of a per-sample dataset: routing, attribution or captures. */
static const sch_entry *stream_entry(const char *path)
{
    const sch_table *const tables[] = {&SCH_EVALUATE_TABLE, &SCH_ATTRIBUTE_TABLE,
                                       &SCH_CAPTURE_TABLE};
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
        const sch_entry *e = sch_find(tables[i], SCH_DATASET, path, NULL);
        if (e) return e;
    }
    return NULL;
}

static arc_stream *stream_for(cap_state *st, const char *path, arc_type t, int nd,
                              const int64_t *row_shape, int rows_mode, mp_err *err)
{
    for (int i = 0; i < st->n_streams; i++)
        if (!strcmp(st->stream_path[i], path)) return st->streams[i];
    if (st->n_streams >= CAP_MAX_STREAMS) {
        err_set(err, "capture: more than %d datasets (CAP_MAX_STREAMS)", CAP_MAX_STREAMS);
        return NULL;
    }
    arc_stream *s = NULL;
    const sch_entry *e = stream_entry(path);
    if (!e) {
        err_set(err, "capture: %s has no entry in the archive schema (stages/schema_*.c)", path);
        return NULL;
    }
    if (e->type != t || e->ndim != nd) {
        err_set(err, "capture: %s is %s[%d], its schema entry says %s[%d]", path, arc_type_name(t),
                nd, arc_type_name(e->type), e->ndim);
        return NULL;
    }
    if (sch_stream_open(st->c->out, e, path, row_shape, rows_mode, &s, err) != 0) return NULL;
    snprintf(st->stream_path[st->n_streams], sizeof st->stream_path[0], "%s", path);
    st->streams[st->n_streams++] = s;
    return s;
}

static int cap_collect(void *vctx, int64_t sample, const void *data, size_t len, mp_err *err)
{
    cap_state *st = vctx;
    const char *rel = st->c->rel->id;
    size_t off = 0;
    blob_item it;
    int rc;
    while ((rc = blob_next(data, len, &off, &it, err)) == 1) {
        if (it.name[0] == 'M') {
            const char *nm = it.name + 2;
            if (!strcmp(nm, "rank"))
                memcpy(&st->rank[sample], it.data, 8);
            else if (!strcmp(nm, "margin"))
                memcpy(&st->margin[sample], it.data, 8);
            else if (!strcmp(nm, "router_gap")) {
                double g;
                memcpy(&g, it.data, 8);
                if (g < st->min_gap) st->min_gap = g;
            } else if (!strcmp(nm, "topk_idx")) {
                int64_t *ids = blob_to_i64(&it);
                if (!ids) return err_set(err, "out of memory");
                int64_t E = st->c->model_cfg->num_experts, k = it.shape[1];
                for (int64_t l = 0; l < it.shape[0]; l++)
                    for (int64_t j = 0; j < k; j++)
                        if (ids[l * k + j] >= 0) st->freq[l * E + ids[l * k + j]]++;
                free(ids);
            } else if (!strcmp(nm, "attr_expert")) {
                /* summed per (layer, expert): the expert ids come from the same sample's top-k,
                 * which precedes this item in the blob */
                blob_item ti;
                if (blob_find(data, len, "M:topk_idx", &ti, err) != 1) return -1;
                int64_t *ids = blob_to_i64(&ti);
                double *a = blob_to_f64(&it);
                int64_t E = st->c->model_cfg->num_experts, k = it.shape[1];
                if (!ids || !a) {
                    free(ids);
                    free(a);
                    return err_set(err, "out of memory");
                }
                for (int64_t l = 0; l < it.shape[0]; l++)
                    for (int64_t j = 0; j < k; j++)
                        if (ids[l * k + j] >= 0)
                            st->attr_sum[l * E + ids[l * k + j]] += a[l * k + j];
                free(ids);
                free(a);
            }
            continue;
        }
        char path[200];
        /* "group/name" -> "group/<rel>/name" */
        const char *sl = strchr(it.name + 2, '/');
        snprintf(path, sizeof path, "%.*s/%s/%s", (int)(sl - (it.name + 2)), it.name + 2, rel,
                 sl + 1);
        arc_type t = it.type == BLOB_F32   ? ARC_F32
                     : it.type == BLOB_F64 ? ARC_F64
                     : it.type == BLOB_I32 ? ARC_I32
                                           : ARC_I64;
        int rows_mode = it.name[0] == 'R';
        int nd = rows_mode ? it.ndim : it.ndim + 1;
        const int64_t *row_shape = rows_mode ? it.shape + 1 : it.shape;
        arc_stream *s = stream_for(st, path, t, nd, nd > 1 ? row_shape : NULL, rows_mode, err);
        if (!s) return -1;
        void *tmp = malloc(it.nbytes > 0 ? it.nbytes : 1);
        if (!tmp) return err_set(err, "out of memory");
        memcpy(tmp, it.data, it.nbytes);
        int arc = arc_stream_append(s, rows_mode ? it.shape[0] : 1, tmp, err);
        free(tmp);
        if (arc != 0) return -1;
    }
    return rc < 0 ? -1 : 0;
}

/* The relation's (layer, expert) ranking: descending count (or summed attribution), ties by
 * lower layer, then lower id. out[L*E*3] = (layer, expert, count). */
typedef struct rank_item {
    double key;
    int64_t layer, expert, count;
} rank_item;

static int rank_cmp(const void *a, const void *b)
{
    const rank_item *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? 1 : -1;
    if (x->layer != y->layer) return x->layer < y->layer ? -1 : 1;
    return x->expert < y->expert ? -1 : x->expert > y->expert;
}

static int write_relation_info(cap_state *st, mp_err *err)
{
    const analysis_ctx *c = st->c;
    const prompt_set *ps = c->ps;
    const lre_relation *rel = c->rel;
    char g[200];
    int64_t n = ps->n;
    int rc = -1;
    const char **subj = calloc((size_t)(n > 0 ? n : 1), sizeof *subj);
    int64_t *offs = calloc((size_t)n + 1, sizeof *offs);
    int32_t *ids = NULL;
    if (!subj || !offs) goto oom;
    size_t ns = rel->n_samples;
    int64_t max = rcfg_int(c->cfg, "max_samples");
    if (max > 0 && (size_t)max < ns) ns = (size_t)max;
    for (int64_t i = 0; i < n; i++) {
        subj[i] = rel->samples[(size_t)i % ns].subject;
        offs[i + 1] = offs[i] + ps->len[i];
    }
    ids = malloc((size_t)(offs[n] > 0 ? offs[n] : 1) * sizeof *ids);
    if (!ids) goto oom;
    for (int64_t i = 0; i < n; i++)
        memcpy(ids + offs[i], ps->ids[i], (size_t)ps->len[i] * sizeof *ids);
    char p[260];
    int64_t n1 = n + 1;
    const struct {
        const sch_entry *e;
        const int64_t *n;
        const void *v;
    } ds[] = {{EVAL(REL_PROMPT), &n, ps->prompt},   {EVAL(REL_SUBJECT), &n, subj},
              {EVAL(REL_OBJECT), &n, ps->object},   {EVAL(REL_TARGET_ID), &n, ps->target},
              {EVAL(REL_INPUT_IDS), &offs[n], ids}, {EVAL(REL_INPUT_OFFSETS), &n1, offs}};
    if (sch_path(g, sizeof g, err, EVAL(RELATION), rel->id) != 0) goto done;
    for (size_t i = 0; i < sizeof ds / sizeof *ds; i++)
        if (sch_path(p, sizeof p, err, ds[i].e, rel->id) != 0 ||
            sch_write(c->out, ds[i].e, p, ds[i].n, ds[i].v, err) != 0)
            goto done;
    if (sch_attr_str(c->out, EVAL(REL_NAME), g, NULL, rel->name, err) != 0 ||
        sch_attr_str(c->out, EVAL(REL_FILE), g, NULL, rel->path, err) != 0 ||
        sch_attr_i64(c->out, EVAL(REL_N), g, NULL, n, err) != 0)
        goto done;
    if (rcfg_is_all(c->cfg, "template")) {
        if (sch_attr_str(c->out, EVAL(REL_TEMPLATE), g, NULL, "all", err) != 0) goto done;
    } else {
        int64_t t = rcfg_int(c->cfg, "template");
        if (sch_attr_str(c->out, EVAL(REL_TEMPLATE), g, NULL, rel->templates_zs[t], err) != 0 ||
            sch_attr_i64(c->out, EVAL(REL_TEMPLATE_INDEX), g, NULL, t, err) != 0)
            goto done;
    }
    rc = 0;
    goto done;
oom:
    err_set(err, "out of memory");
done:
    free(subj);
    free(offs);
    free(ids);
    return rc;
}

static int write_metrics(cap_state *st, mp_err *err)
{
    const analysis_ctx *c = st->c;
    const mcfg *cf = c->model_cfg;
    const int64_t n = st->n, L = cf->num_hidden_layers, E = cf->num_experts;
    char g[200], p[260];
    const stats_eval ev = stats_evaluate(st->rank, st->margin, n);
    if (sch_path(g, sizeof g, err, EVAL(METRICS_REL), c->rel->id) != 0) return -1;
    if (sch_attr_f64(c->out, EVAL(MET_HIT10), g, NULL, ev.hit10, err) != 0 ||
        sch_attr_f64(c->out, EVAL(MET_MRR), g, NULL, ev.mrr, err) != 0 ||
        sch_attr_i64(c->out, EVAL(MET_N), g, NULL, n, err) != 0 ||
        sch_attr_f64(c->out, EVAL(MET_MIN_LOGIT_MARGIN), g, NULL, ev.min_margin, err) != 0)
        return -1;
    if (sch_path(p, sizeof p, err, EVAL(EVAL_RANK), c->rel->id) != 0 ||
        sch_write(c->out, EVAL(EVAL_RANK), p, &n, st->rank, err) != 0 ||
        sch_path(p, sizeof p, err, EVAL(EVAL_MARGIN), c->rel->id) != 0 ||
        sch_write(c->out, EVAL(EVAL_MARGIN), p, &n, st->margin, err) != 0)
        return -1;
    if (E == 0) return 0;
    if (sch_attr_f64(c->out, EVAL(MET_MIN_ROUTER_GAP), g, NULL, st->min_gap, err) != 0) return -1;
    /* rankings by frequency and by summed attribution; top_experts follows block.rank_by */
    rank_item *items = malloc((size_t)(L * E) * sizeof *items);
    int64_t *tab = malloc((size_t)(L * E * 3) * sizeof *tab);
    int rc = -1;
    if (!items || !tab) {
        err_set(err, "out of memory");
        goto done;
    }
    for (int by = 0; by < 2; by++) {
        int64_t m = 0;
        for (int64_t l = 0; l < L; l++) {
            if (!cf->layer_is_moe[l]) continue;
            for (int64_t e = 0; e < E; e++)
                items[m++] = (rank_item){by ? st->attr_sum[l * E + e] : (double)st->freq[l * E + e],
                                         l, e, st->freq[l * E + e]};
        }
        qsort(items, (size_t)m, sizeof *items, rank_cmp);
        for (int64_t i = 0; i < m; i++) {
            tab[3 * i] = items[i].layer;
            tab[3 * i + 1] = items[i].expert;
            tab[3 * i + 2] = items[i].count;
        }
        int64_t sh[2] = {m, 3};
        const sch_entry *re = by ? ATTR(RANKING_ATTRIBUTION) : EVAL(ROUTING_RANKING_FREQUENCY);
        if (by == 1 && !rcfg_list_has(c->cfg, "stages", "attribute")) continue;
        if (sch_path(p, sizeof p, err, re, c->rel->id) != 0 ||
            sch_write(c->out, re, p, sh, tab, err) != 0)
            goto done;
        if (by == rcfg_enum(c->cfg, "block.rank_by") ||
            (by == 0 && !rcfg_list_has(c->cfg, "stages", "attribute"))) {
            int64_t nt = m < 10 ? m : 10, sht[2] = {nt, 3};
            int32_t top32[30];
            for (int64_t q = 0; q < nt * 3; q++) top32[q] = (int32_t)tab[q];
            if (sch_path(p, sizeof p, err, EVAL(MET_TOP_EXPERTS), c->rel->id) != 0 ||
                sch_write(c->out, EVAL(MET_TOP_EXPERTS), p, sht, top32, err) != 0)
                goto done;
            if (sch_attr_str(c->out, EVAL(MET_TOP_EXPERTS_RANK_BY), g, NULL,
                             by ? "attribution" : "frequency", err) != 0)
                goto done;
        }
    }
    rc = 0;
done:
    free(items);
    free(tab);
    return rc;
}

/* The coordinate of the captured_layer axis: the model layer of each kept layer. */
static int write_captured_layers(cap_state *st, mp_err *err)
{
    const int64_t L = st->c->model_cfg->num_hidden_layers;
    int64_t lmap[HOOK_MAX_LAYERS], n = 0;
    char p[300];
    for (int64_t l = 0; l < L; l++)
        if (layer_kept(&st->o, (int)l)) lmap[n++] = l;
    if (sch_path(p, sizeof p, err, CAP(CAPTURED_LAYER), st->c->rel->id) != 0) return -1;
    return sch_write(st->c->out, CAP(CAPTURED_LAYER), p, &n, lmap, err);
}

static int capture_run(analysis_ctx *c, mp_err *err)
{
    const mcfg *cf = c->model_cfg;
    const int64_t L = cf->num_hidden_layers, E = cf->num_experts;
    cap_state st;
    hook_set hs;
    int rc = -1;
    memset(&st, 0, sizeof st);
    st.c = c;
    st.o.attribute = rcfg_list_has(c->cfg, "stages", "attribute");
    st.o.capture = rcfg_list_has(c->cfg, "stages", "capture");
    st.o.all_pos = !strcmp(rcfg_str(c->cfg, "capture.positions"), "all");
    st.o.screen = rcfg_bool(c->cfg, "attribute.neuron_screen");
    st.o.n_tops = rcfg_int_list(c->cfg, "attribute.neurons_top", &st.o.tops);
    for (size_t i = 0; i < st.o.n_tops; i++)
        if (st.o.tops[i] > st.o.n_top) st.o.n_top = (int)st.o.tops[i];
    select_points(c->cfg, &st.o);
    if (rcfg_is_all(c->cfg, "capture.layers")) {
        memset(st.o.layer, 1, sizeof st.o.layer);
    } else {
        const int64_t *ls;
        size_t nl = rcfg_int_list(c->cfg, "capture.layers", &ls);
        for (size_t i = 0; i < nl; i++) {
            if (ls[i] >= L)
                return err_set(err, "%s: capture.layers has layer %lld; %s has layers 0..%lld",
                               rcfg_source(c->cfg), (long long)ls[i], c->model_name,
                               (long long)L - 1);
            st.o.layer[ls[i]] = 1;
        }
    }
    /* hooks: what attribution and routing need at the last position, plus the stored points */
    hook_set_init(&hs);
    capture_request_attribution(&hs, &c->r->model);
    if (E > 0) hook_request_all(&hs, HP_ROUTER_LOGITS, HOOK_POS_ALL);
    if (st.o.capture && st.o.all_pos)
        for (int p = 0; p < HP_COUNT; p++)
            if (st.o.point[p]) hook_request_all(&hs, (hook_point)p, HOOK_POS_ALL);
    st.n = c->ps->n;
    st.min_gap = INFINITY;
    if (c->rank == 0) {
        st.rank = calloc((size_t)(st.n > 0 ? st.n : 1), sizeof *st.rank);
        st.margin = calloc((size_t)(st.n > 0 ? st.n : 1), sizeof *st.margin);
        st.freq = calloc((size_t)(L * (E > 0 ? E : 1)), sizeof *st.freq);
        st.attr_sum = calloc((size_t)(L * (E > 0 ? E : 1)), sizeof *st.attr_sum);
        if (!st.rank || !st.margin || !st.freq || !st.attr_sum) {
            err_set(err, "out of memory");
            goto done;
        }
    }
    runner_job job = {0};
    job.ps = c->ps;
    job.hooks = &hs;
    job.on_sample = cap_sample;
    job.sample_ctx = &st;
    if (st.o.attribute) {
        job.on_batch = cap_batch;
        job.batch_ctx = &st;
    }
    job.on_collect = cap_collect;
    job.collect_ctx = &st;
    job.label = c->unit_id;
    if (runner_map(c->r, &job, err) != 0) goto done;
    if (c->rank == 0) {
        int per_layer = 0;
        for (int i = 0; i < st.n_streams; i++) {
            const char *leaf = strrchr(st.stream_path[i], '/');
            per_layer |= !strncmp(st.stream_path[i], "captures/", 9) && strcmp(leaf, "/logits") &&
                         strcmp(leaf, "/n_tokens");
            if (arc_stream_close(st.streams[i], err) != 0) goto done;
        }
        st.n_streams = 0;
        if (per_layer && write_captured_layers(&st, err) != 0) goto done;
        if (write_relation_info(&st, err) != 0 || write_metrics(&st, err) != 0) goto done;
    }
    rc = 0;
done:
    batch_free(&st);
    free(st.rank);
    free(st.margin);
    free(st.freq);
    free(st.attr_sum);
    return rc;
}

/* Allowed values ("a|b") and the default (a YAML list) of capture.points. */
#define POINTS                                                                                     \
    "resid_pre|attn_out|mlp_out|resid_post|head_out|router_logits|topk|expert_out|"                \
    "shared_expert|logits"
#define POINTS_ALL                                                                                 \
    "[resid_pre, attn_out, mlp_out, resid_post, head_out, router_logits, topk, "                   \
    "expert_out, shared_expert, logits]"

/* What the hooks copy into the archive. */
/* clang-format off */
static const rcfg_key CAPTURE_KEYS[] = {
    {"capture", RCFG_MAP, 0, NULL, RCFG_NOLIM, NULL, "Hooked activations stored in the archive."},
    {"capture.points", RCFG_ENUM_LIST, 0, POINTS_ALL, RCFG_NOLIM, POINTS,
     "Hook points to store (names as in the trace archive)."},
    {"capture.positions", RCFG_ENUM, 0, "last", RCFG_NOLIM, "last|all",
     "Store the last prompt position only, or every position."},
    {"capture.layers", RCFG_INT_LIST, RCFG_ALL, "all", 0, 1e6, NULL,
     "Layers to store (0-based), or \"all\"."},
};
/* clang-format on */

/* The attribution computed in the capture pass. */
/* clang-format off */
static const rcfg_key ATTRIBUTE_KEYS[] = {
    {"attribute", RCFG_MAP, 0, NULL, RCFG_NOLIM, NULL,
     "Log-probability-increase attribution (frozen final norm)."},
    {"attribute.neurons_top", RCFG_INT_LIST, 0, "[100, 300]", 1, 1e7, NULL,
     "Sizes N of the per-sample top-N neuron sets to compute exactly."},
    {"attribute.neuron_screen", RCFG_BOOL, 0, "true", RCFG_NOLIM, NULL,
     "Screen neurons with the first-order bound before exact scoring (same top-N, faster); "
     "false scores every neuron exactly."},
};
/* clang-format on */

const analysis_def analysis_capture = {
    .name = "capture",
    .order = 10,
    .scope = ANALYSIS_PER_RELATION,
    .needs_model = 1,
    .run = capture_run,
    .doc = "one forward pass per relation: ranks, HIT@10/MRR, routing, attributions (stage "
           "attribute), stored hook points (stage capture)",
    .config = RCFG_SECTION(CAPTURE_KEYS),
};

const analysis_def analysis_evaluate = {
    .name = "evaluate",
    .order = 11,
    .scope = ANALYSIS_PER_RELATION,
    .part_of = "capture",
    .doc = "HIT@10 and MRR per relation (metrics/<rel>), computed in the capture pass",
};

const analysis_def analysis_attribute = {
    .name = "attribute",
    .order = 12,
    .scope = ANALYSIS_PER_RELATION,
    .part_of = "capture",
    .doc = "per-sample log-probability increase of layers, heads, experts and the top-N "
           "neurons (attribution/<rel>), computed in the capture pass",
    .config = RCFG_SECTION(ATTRIBUTE_KEYS),
};
