/* attribution.c — see attribution.h for the method and the neuron bound. */
#include "pipeline/attribution/attribution.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/attribution/internal.h"
#include "pipeline/ops/ops.h"

int attr_init(attr_ctx **out, const mp_model *m, mp_err *err)
{
    attr_ctx *a = calloc(1, sizeof *a);
    *out = NULL;
    if (!a) return err_set(err, "attribution: out of memory");
    a->m = m;
    a->H = m->cfg.hidden_size;
    a->V = m->cfg.vocab_size;
    a->L = m->cfg.num_hidden_layers;
    a->w_norm = malloc((size_t)a->H * sizeof *a->w_norm);
    a->colnorm = calloc((size_t)(a->L * (m->cfg.num_experts + 1)), sizeof *a->colnorm);
    if (!a->w_norm || !a->colnorm) {
        attr_free(a);
        return err_set(err, "attribution: out of memory");
    }
    ops_flat_f32(a->w_norm, &m->norm, 0, a->H);
    *out = a;
    return 0;
}

void attr_free(attr_ctx *a)
{
    if (!a) return;
    if (a->colnorm)
        for (int64_t i = 0; i < a->L * (a->m->cfg.num_experts + 1); i++) free(a->colnorm[i]);
    free(a->colnorm);
    free(a->w_norm);
    free(a);
}

void attr_result_init(attr_result *r)
{
    memset(r, 0, sizeof *r);
}

void attr_result_free(attr_result *r)
{
    free(r->attn_gain);
    free(r->ffn_gain);
    free(r->head);
    free(r->expert);
    free(r->shared);
    free(r->neuron);
    free(r->neuron_score);
    attr_result_init(r);
}

void attr_project(attr_ctx *a, int64_t n, const float *v, const double *s, float *u, float *z)
{
    const int64_t H = a->H;
    for (int64_t i = 0; i < n; i++)
        for (int64_t h = 0; h < H; h++)
            u[i * H + h] = (float)((double)a->w_norm[h] * s[i]) * v[i * H + h];
    ops_linear(z, u, n, &a->m->lm_head, NULL); /* z[n,V] = u W_U^T */
}

/* expm1 for the small logit changes a single neuron makes: the series to x^5 is exact to double
 * rounding below 1e-3 and several times cheaper than libm's expm1. */
static inline double fast_expm1(double x)
{
    if (fabs(x) < 1e-3)
        return x * (1 + x * (0.5 + x * (1.0 / 6 + x * (1.0 / 24 + x * (1.0 / 120)))));
    return expm1(x);
}

int attr_logp(attr_ctx *a, int64_t M, const float *v, const double *s, const int32_t *t,
              double *logp, float *grad, float *probs, mp_err *err)
{
    const int64_t H = a->H, V = a->V;
    const mp_tensor *WU = &a->m->lm_head;
    int64_t ch = M < ATTR_CHUNK ? M : ATTR_CHUNK;
    float *u = malloc((size_t)((ch > 0 ? ch : 1) * H) * sizeof *u);
    float *z = malloc((size_t)((ch > 0 ? ch : 1) * V) * sizeof *z);
    if (!u || !z) {
        free(u);
        free(z);
        return err_set(err, "attribution: out of memory for %lld x %lld logits", (long long)ch,
                       (long long)V);
    }
    for (int64_t i0 = 0; i0 < M; i0 += ch) {
        int64_t c = M - i0 < ch ? M - i0 : ch;
        attr_project(a, c, v + i0 * H, s + i0, u, z);
        for (int64_t i = 0; i < c; i++) {
            const float *zi = z + i * V;
            double lse = ops_logsumexp(zi, V);
            logp[i0 + i] = (double)zi[t[i0 + i]] - lse;
            if (probs)
                for (int64_t j = 0; j < V; j++)
                    probs[(i0 + i) * V + j] = (float)exp((double)zi[j] - lse);
            if (grad) { /* turn z into (e_t - softmax(z)) in place */
                float *zw = z + i * V;
                for (int64_t j = 0; j < V; j++) zw[j] = (float)-exp((double)zw[j] - lse);
                zw[t[i0 + i]] += 1.0f;
            }
        }
        if (grad) {
            float *g = grad + i0 * H;
            ops_matmul_nn(g, z, c, WU, 0.0f); /* g[c,H] = (e_t - p) W_U */
            for (int64_t i = 0; i < c; i++)
                for (int64_t h = 0; h < H; h++)
                    g[i * H + h] = (float)((double)g[i * H + h] * a->w_norm[h] * s[i0 + i]);
        }
    }
    free(u);
    free(z);
    return 0;
}

int attr_delta_logp(attr_ctx *a, int64_t M, const float *c, const double *s, const int32_t *t,
                    const float *const *p, double *delta, mp_err *err)
{
    const int64_t H = a->H, V = a->V;
    int64_t ch = M < ATTR_CHUNK ? M : ATTR_CHUNK;
    float *u = malloc((size_t)((ch > 0 ? ch : 1) * H) * sizeof *u);
    float *z = malloc((size_t)((ch > 0 ? ch : 1) * V) * sizeof *z);
    if (!u || !z) {
        free(u);
        free(z);
        return err_set(err, "attribution: out of memory for %lld x %lld logits", (long long)ch,
                       (long long)V);
    }
    for (int64_t i0 = 0; i0 < M; i0 += ch) {
        int64_t n = M - i0 < ch ? M - i0 : ch;
        attr_project(a, n, c + i0 * H, s + i0, u, z); /* z = W_U' c */
        for (int64_t i = 0; i < n; i++) {
            const float *zi = z + i * V, *pi = p[i0 + i];
            double acc = 0.0;
            for (int64_t v = 0; v < V; v++) acc += (double)pi[v] * fast_expm1((double)zi[v]);
            delta[i0 + i] = (double)zi[t[i0 + i]] - log1p(acc);
        }
    }
    free(u);
    free(z);
    return 0;
}

/* Gains of one sample; with want_bases, *pra [L,V] and *gra [L,H] receive the softmax and the
 * gradient at every layer's r+a (the neuron ranking's bases; malloc'd). */
static int gains_run(attr_ctx *a, const attr_sample *in, int want_bases, attr_result *out,
                     float **pra_out, float **gra_out, mp_err *err)
{
    const mcfg *c = &a->m->cfg;
    const int64_t H = a->H, L = a->L, V = a->V, nH = c->num_attention_heads;
    const int64_t k = c->num_experts_per_tok;
    const int moe = c->num_experts > 0;
    const int has_shared = c->shared_expert_intermediate_size > 0 && in->shared_out;
    /* Bases per layer: r and r+a, scored once with their softmax. Every gain is then the
     * change a contribution makes to its base, computed as a difference (attr_delta_logp) so
     * that its error scales with the contribution, not with the logits. Contributions per
     * layer: a (on r), m (on r+a), nH heads (on r), k experts (on r+a), 1 shared (on r+a). */
    const int64_t per = 2 + nH + (moe ? k : 0) + (has_shared ? 1 : 0);
    const int64_t M = L * per;
    int rc = -1;
    float *bases = NULL, *grad = NULL, *probs = NULL, *cv = NULL;
    double *s = NULL, *lpb = NULL, *d = NULL;
    int32_t *t = NULL;
    const float **pv = NULL;

    attr_result_init(out);
    out->final_norm_scale = ops_rms_scale(in->resid_final, H, c->rms_norm_eps);
    bases = calloc((size_t)(2 * L * H), sizeof *bases);
    probs = malloc((size_t)(2 * L * V) * sizeof *probs);
    grad = malloc((size_t)(2 * L * H) * sizeof *grad);
    lpb = malloc((size_t)(2 * L) * sizeof *lpb);
    cv = calloc((size_t)(M * H), sizeof *cv);
    pv = calloc((size_t)M, sizeof *pv);
    d = malloc((size_t)M * sizeof *d);
    s = malloc((size_t)(M > 2 * L ? M : 2 * L) * sizeof *s);
    t = malloc((size_t)(M > 2 * L ? M : 2 * L) * sizeof *t);
    out->attn_gain = calloc((size_t)L, sizeof(double));
    out->ffn_gain = calloc((size_t)L, sizeof(double));
    out->head = calloc((size_t)(L * nH), sizeof(double));
    out->expert = calloc((size_t)(L * (k > 0 ? k : 1)), sizeof(double));
    out->shared = calloc((size_t)L, sizeof(double));
    if (!bases || !probs || !grad || !lpb || !cv || !pv || !d || !s || !t || !out->attn_gain ||
        !out->ffn_gain || !out->head || !out->expert || !out->shared)
        goto oom;
    for (int64_t i = 0; i < (M > 2 * L ? M : 2 * L); i++) {
        s[i] = out->final_norm_scale;
        t[i] = in->target;
    }
    for (int64_t l = 0; l < L; l++) {
        const float *r = in->resid_pre + l * H, *at = in->attn_out + l * H;
        for (int64_t h = 0; h < H; h++) {
            bases[2 * l * H + h] = r[h];
            bases[(2 * l + 1) * H + h] = r[h] + at[h];
        }
    }
    if (attr_logp(a, 2 * L, bases, s, t, lpb, grad, probs, err) != 0) goto done;
    for (int64_t l = 0; l < L; l++) {
        const float *p_r = probs + 2 * l * V, *p_ra = probs + (2 * l + 1) * V;
        float *cl = cv + l * per * H;
        const float **pl = pv + l * per;
        int64_t q = 0;
        memcpy(cl + q * H, in->attn_out + l * H, (size_t)H * sizeof *cl);
        pl[q++] = p_r;
        memcpy(cl + q * H, in->mlp_out + l * H, (size_t)H * sizeof *cl);
        pl[q++] = p_ra;
        for (int64_t hh = 0; hh < nH; hh++) {
            memcpy(cl + q * H, in->head_out + (l * nH + hh) * H, (size_t)H * sizeof *cl);
            pl[q++] = p_r;
        }
        if (moe)
            for (int64_t j = 0; j < k; j++) {
                const float *eo = in->expert_out + (l * k + j) * H;
                float w = in->topk_idx[l * k + j] >= 0 ? in->topk_weight[l * k + j] : 0.0f;
                for (int64_t h = 0; h < H; h++) cl[q * H + h] = w * eo[h];
                pl[q++] = p_ra;
            }
        if (has_shared) {
            const float *so = in->shared_out + l * H;
            float g = in->shared_gate[l];
            for (int64_t h = 0; h < H; h++) cl[q * H + h] = g * so[h];
            pl[q++] = p_ra;
        }
    }
    if (attr_delta_logp(a, M, cv, s, t, pv, d, err) != 0) goto done;
    for (int64_t l = 0; l < L; l++) {
        const double *dl = d + l * per;
        int64_t q = 0;
        out->attn_gain[l] = dl[q++];
        out->ffn_gain[l] = dl[q++];
        for (int64_t hh = 0; hh < nH; hh++) out->head[l * nH + hh] = dl[q++];
        if (moe)
            for (int64_t j = 0; j < k; j++, q++)
                out->expert[l * k + j] = in->topk_idx[l * k + j] >= 0 ? dl[q] : 0.0;
        if (has_shared) out->shared[l] = dl[q++];
    }
    if (want_bases) {
        /* the neuron bases are r+a: every other row of probs / grad */
        float *pra = malloc((size_t)(L * V) * sizeof *pra);
        float *gra = malloc((size_t)(L * H) * sizeof *gra);
        if (!pra || !gra) {
            free(pra);
            free(gra);
            goto oom;
        }
        for (int64_t l = 0; l < L; l++) {
            memcpy(pra + l * V, probs + (2 * l + 1) * V, (size_t)V * sizeof *pra);
            memcpy(gra + l * H, grad + (2 * l + 1) * H, (size_t)H * sizeof *gra);
        }
        *pra_out = pra;
        *gra_out = gra;
    }
    rc = 0;
    goto done;
oom:
    err_set(err, "attribution: out of memory for %lld vectors", (long long)M);
done:
    free(bases);
    free(probs);
    free(grad);
    free(lpb);
    free(cv);
    free(pv);
    free(d);
    free(s);
    free(t);
    if (rc != 0) attr_result_free(out);
    return rc;
}

int attr_batch_run(attr_ctx *a, int n, const attr_sample *in, int top_n, int brute_force,
                   const attr_remote *rem, attr_result *out, mp_err *err)
{
    int rc = -1, want = top_n > 0;
    float **pra = calloc((size_t)(n > 0 ? n : 1), sizeof *pra);
    float **gra = calloc((size_t)(n > 0 ? n : 1), sizeof *gra);
    double *scale = calloc((size_t)(n > 0 ? n : 1), sizeof *scale);
    for (int i = 0; i < n; i++) attr_result_init(&out[i]);
    if (!pra || !gra || !scale) {
        err_set(err, "attribution: out of memory for %d samples", n);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        int wb = want && (in[i].expert_act || in[i].mlp_act);
        if (gains_run(a, &in[i], wb, &out[i], &pra[i], &gra[i], err) != 0) goto done;
        scale[i] = out[i].final_norm_scale;
    }
    /* every rank takes part in the neuron ranking's exchanges, also with n == 0 */
    if (want && attr_neurons_rank(a, n, in, (const float *const *)pra, (const float *const *)gra,
                                  scale, top_n, brute_force, rem, out, err) != 0)
        goto done;
    rc = 0;
done:
    for (int i = 0; pra && i < n; i++) {
        free(pra[i]);
        free(gra[i]);
    }
    free(pra);
    free(gra);
    free(scale);
    if (rc != 0)
        for (int i = 0; i < n; i++) attr_result_free(&out[i]);
    return rc;
}

int attr_sample_run(attr_ctx *a, const attr_sample *in, int top_n, int brute_force,
                    attr_result *out, mp_err *err)
{
    return attr_batch_run(a, 1, in, top_n, brute_force, NULL, out, err);
}
