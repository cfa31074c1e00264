/* heads_experts_temporal.c — the pass of the temporal correlation option of the heads_experts
 * stage (definition in heads_experts.c): head output norms and router probabilities at every
 * position of every prompt, accumulated on rank 0 into the pooled within-prompt correlation
 * (each prompt's variables centred on their own mean over its positions). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/ops/ops.h"
#include "stages/heads_experts.h"
#include "stages/stats.h"

/* ---- temporal correlation ------------------------------------------------------------------ */

typedef struct temp_ctx {
    int64_t L, nH, E;
    double *sxy; /* [L*nH, L*E] within-prompt co-deviations */
    double *sxx; /* [L*nH] */
    double *syy; /* [L*E] */
    he_temporal *out;
} temp_ctx;

static int temp_sample(void *vctx, const runner_sample *s, blob *out, mp_err *err)
{
    const temp_ctx *x = vctx;
    const int64_t L = x->L, nH = x->nH, E = x->E, H = s->r->model.cfg.hidden_size;
    const int T = s->ps->len[s->sample];
    double *nrm = calloc((size_t)(T * L * nH) + 1, sizeof *nrm);
    float *prob = calloc((size_t)(T * L * E) + 1, sizeof *prob);
    if (!nrm || !prob) {
        free(nrm);
        free(prob);
        return err_set(err, "heads_experts: out of memory");
    }
    for (int t = 0; t < T; t++)
        for (int64_t l = 0; l < L; l++) {
            const hook_record *ho =
                hook_store_find(s->store, HP_HEAD_OUT, s->sample, (int)l, t, -1);
            const hook_record *rl =
                hook_store_find(s->store, HP_ROUTER_LOGITS, s->sample, (int)l, t, -1);
            if (ho && ho->n == nH * H)
                for (int64_t hh = 0; hh < nH; hh++) {
                    const float *v = (const float *)ho->data + hh * H;
                    double q = 0.0;
                    for (int64_t i = 0; i < H; i++) q += (double)v[i] * v[i];
                    nrm[(t * L + l) * nH + hh] = sqrt(q);
                }
            if (rl && rl->n == E) {
                float *p = prob + (t * L + l) * E;
                memcpy(p, rl->data, (size_t)E * sizeof *p);
                ops_softmax(p, E);
            }
        }
    int64_t sn[2] = {T, L * nH}, sp[2] = {T, L * E};
    blob_put(out, "norm", BLOB_F64, 2, sn, nrm);
    blob_put(out, "prob", BLOB_F32, 2, sp, prob);
    free(nrm);
    free(prob);
    return out->failed ? err_set(err, "heads_experts: out of memory") : 0;
}

static int temp_collect(void *vctx, int64_t sample, const void *d, size_t len, mp_err *err)
{
    temp_ctx *x = vctx;
    const int64_t R = x->L * x->nH, C = x->L * x->E;
    blob_item a, b;
    (void)sample;
    if (blob_find(d, len, "norm", &a, err) != 1 || blob_find(d, len, "prob", &b, err) != 1)
        return err->set ? -1 : err_set(err, "heads_experts: result items missing");
    const int64_t T = a.shape[0];
    double *xs = blob_to_f64(&a), *ys = blob_to_f64(&b), *mx = calloc((size_t)R, sizeof *mx),
           *my = calloc((size_t)C, sizeof *my);
    int rc = -1;
    if (!xs || !ys || !mx || !my) {
        err_set(err, "heads_experts: out of memory");
        goto done;
    }
    if (b.shape[0] != T || a.shape[1] != R || b.shape[1] != C) {
        err_set(err, "heads_experts: temporal result of sample %lld has the wrong shape",
                (long long)sample);
        goto done;
    }
    he_temporal *o = x->out;
    if (o->n_tokens + T > o->cap) {
        int64_t cap = 2 * (o->n_tokens + T);
        double *nx = realloc(o->x, (size_t)(cap * R) * sizeof *nx);
        if (nx) o->x = nx;
        double *ny = nx ? realloc(o->y, (size_t)(cap * C) * sizeof *ny) : NULL;
        if (ny) o->y = ny;
        int64_t *nb = ny ? realloc(o->block, (size_t)(o->n_prompts + 2 + cap) * sizeof *nb) : NULL;
        if (!nb) {
            err_set(err,
                    "heads_experts: out of memory keeping %lld tokens for the permutation null",
                    (long long)(o->n_tokens + T));
            goto done;
        }
        o->block = nb;
        o->cap = cap;
    }
    memcpy(o->x + o->n_tokens * R, xs, (size_t)(T * R) * sizeof *xs);
    memcpy(o->y + o->n_tokens * C, ys, (size_t)(T * C) * sizeof *ys);
    o->block[o->n_prompts] = o->n_tokens;
    o->block[o->n_prompts + 1] = o->n_tokens + T;
    for (int64_t t = 0; t < T; t++) {
        for (int64_t i = 0; i < R; i++) mx[i] += xs[t * R + i] / (double)T;
        for (int64_t j = 0; j < C; j++) my[j] += ys[t * C + j] / (double)T;
    }
    for (int64_t t = 0; t < T; t++) {
        double *xr = xs + t * R, *yr = ys + t * C;
        for (int64_t i = 0; i < R; i++) xr[i] -= mx[i];
        for (int64_t j = 0; j < C; j++) yr[j] -= my[j];
        for (int64_t i = 0; i < R; i++) {
            x->sxx[i] += xr[i] * xr[i];
            double *row = x->sxy + i * C;
            for (int64_t j = 0; j < C; j++) row[j] += xr[i] * yr[j];
        }
        for (int64_t j = 0; j < C; j++) x->syy[j] += yr[j] * yr[j];
    }
    x->out->n_tokens += T;
    x->out->n_prompts++;
    rc = 0;
done:
    free(xs);
    free(ys);
    free(mx);
    free(my);
    return rc;
}

int he_run_temporal(analysis_ctx *c, he_temporal *out, mp_err *err)
{
    const mcfg *cf = c->model_cfg;
    temp_ctx x = {
        cf->num_hidden_layers, cf->num_attention_heads, cf->num_experts, NULL, NULL, NULL, out};
    const int64_t R = x.L * x.nH, C = x.L * x.E;
    hook_set hs;
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (c->rank == 0) {
        x.sxy = calloc((size_t)(R * C), sizeof *x.sxy);
        x.sxx = calloc((size_t)R, sizeof *x.sxx);
        x.syy = calloc((size_t)C, sizeof *x.syy);
        out->r = malloc((size_t)(R * C) * sizeof *out->r);
        if (!x.sxy || !x.sxx || !x.syy || !out->r) {
            /* fail on every rank alike: the other ranks would wait in the pass */
            err_set(err, "%s: out of memory", c->unit_id);
        }
    }
    hook_set_init(&hs);
    hook_request_all(&hs, HP_HEAD_OUT, HOOK_POS_ALL);
    hook_request_all(&hs, HP_ROUTER_LOGITS, HOOK_POS_ALL);
    runner_job job = {0};
    job.ps = c->ps;
    job.hooks = &hs;
    job.on_sample = temp_sample;
    job.sample_ctx = &x;
    job.on_collect = c->rank == 0 && !err->set ? temp_collect : NULL;
    job.collect_ctx = &x;
    job.quiet = 1;
    job.label = "heads_experts (temporal correlation)";
    if (runner_map(c->r, &job, err) != 0 || err->set) goto done;
    if (c->rank == 0)
        for (int64_t i = 0; i < R; i++)
            for (int64_t j = 0; j < C; j++) {
                double den = x.sxx[i] * x.syy[j];
                double r = den > 0 ? x.sxy[i * C + j] / sqrt(den) : NAN;
                if (r > 1) r = 1;
                if (r < -1) r = -1;
                out->r[i * C + j] = (j / x.E) < (i / x.nH) ? NAN : r;
            }
    rc = 0;
done:
    free(x.sxy);
    free(x.sxx);
    free(x.syy);
    return rc;
}

void he_temporal_free(he_temporal *t)
{
    free(t->r);
    free(t->x);
    free(t->y);
    free(t->block);
    memset(t, 0, sizeof *t);
}
