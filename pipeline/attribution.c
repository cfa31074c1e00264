/* attribution.c — see attribution.h for the method and the neuron bound. */
#include "pipeline/attribution.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/ops.h"

#define ATTR_CHUNK 128  /* vectors per W_U pass: z[CHUNK, V] stays a few hundred MB at most */

struct attr_ctx {
    const mp_model *m;
    int64_t H, V, L;
    float *w_norm;      /* [H] final norm weight */
    double r_max;       /* max_v ||W_U[v] * w_norm||, 0 until computed */
    float **colnorm;    /* [L*(E+1)] lazily: ||W_down[:,n]|| per neuron; slot E = shared/dense */
};

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
    free(r->attn_gain); free(r->ffn_gain); free(r->head); free(r->expert); free(r->shared);
    free(r->neuron); free(r->neuron_score);
    attr_result_init(r);
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
        for (int64_t i = 0; i < c; i++)
            for (int64_t h = 0; h < H; h++)
                u[i * H + h] = (float)((double)a->w_norm[h] * s[i0 + i]) * v[(i0 + i) * H + h];
        ops_linear(z, u, c, WU, NULL); /* z[c,V] = u W_U^T */
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
        for (int64_t i = 0; i < n; i++)
            for (int64_t h = 0; h < H; h++)
                u[i * H + h] = (float)((double)a->w_norm[h] * s[i0 + i]) * c[(i0 + i) * H + h];
        ops_linear(z, u, n, &a->m->lm_head, NULL); /* z = W_U' c */
        for (int64_t i = 0; i < n; i++) {
            const float *zi = z + i * V, *pi = p[i0 + i];
            double acc = 0.0;
            for (int64_t v = 0; v < V; v++) acc += (double)pi[v] * expm1((double)zi[v]);
            delta[i0 + i] = (double)zi[t[i0 + i]] - log1p(acc);
        }
    }
    free(u);
    free(z);
    return 0;
}

/* max_v ||W_U[v] * w_norm||_2, once per model. */
static double r_max(attr_ctx *a)
{
    if (a->r_max > 0) return a->r_max;
    float *row = malloc((size_t)a->H * sizeof *row);
    double best = 0;
    if (!row) return INFINITY; /* no bound: every neuron gets scored exactly */
    for (int64_t vv = 0; vv < a->V; vv++) {
        double ss = 0;
        ops_row_f32(row, &a->m->lm_head, vv);
        for (int64_t h = 0; h < a->H; h++) {
            double x = (double)row[h] * a->w_norm[h];
            ss += x * x;
        }
        if (ss > best) best = ss;
    }
    free(row);
    a->r_max = sqrt(best);
    return a->r_max;
}

/* ||W_down[:,n]|| for every neuron n of one MLP (W_down [H,I]), cached per (layer, slot). */
static const float *col_norms(attr_ctx *a, int l, int slot, const mp_tensor *down)
{
    float **cache = &a->colnorm[(int64_t)l * (a->m->cfg.num_experts + 1) + slot];
    if (*cache) return *cache;
    const int64_t H = down->shape[0], I = down->shape[1];
    double *acc = calloc((size_t)I, sizeof *acc);
    float *row = malloc((size_t)I * sizeof *row);
    float *out = malloc((size_t)I * sizeof *out);
    if (!acc || !row || !out) {
        free(acc); free(row); free(out);
        return NULL;
    }
    for (int64_t h = 0; h < H; h++) {
        ops_row_f32(row, down, h);
        for (int64_t n = 0; n < I; n++) acc[n] += (double)row[n] * row[n];
    }
    for (int64_t n = 0; n < I; n++) out[n] = (float)sqrt(acc[n]);
    free(acc);
    free(row);
    *cache = out;
    return out;
}

/* One group of neurons: the neurons of one MLP (routed expert, shared expert or dense MLP) at
 * one layer, with their weight w and activations act[I]. */
typedef struct group {
    int layer, expert;          /* expert -1: shared expert / dense MLP */
    const mp_mlp *mlp;
    const float *act;
    float w;
} group;

typedef struct cand {
    double ub, lb;              /* first-order value (upper bound) and lower bound */
    int32_t g, n;               /* group, neuron */
} cand;

static int cand_by_ub(const void *x, const void *y)
{
    const cand *a = x, *b = y;
    if (a->ub != b->ub) return a->ub < b->ub ? 1 : -1;
    if (a->g != b->g) return a->g < b->g ? -1 : 1;
    return a->n < b->n ? -1 : a->n > b->n;
}

typedef struct scored {
    double score;
    int32_t layer, expert, neuron;
} scored;

static int scored_desc(const void *x, const void *y)
{
    const scored *a = x, *b = y;
    if (a->score != b->score) return a->score < b->score ? 1 : -1;
    if (a->layer != b->layer) return a->layer < b->layer ? -1 : 1;
    if (a->expert != b->expert) return a->expert < b->expert ? -1 : 1;
    return a->neuron < b->neuron ? -1 : a->neuron > b->neuron;
}

/* c[H] = w act_n W_down[:, n] */
static void neuron_contrib(const group *gr, int n, float *c)
{
    const mp_tensor *down = &gr->mlp->down_proj;
    const int64_t H = down->shape[0], I = down->shape[1];
    float coef = gr->w * gr->act[n];
    for (int64_t h = 0; h < H; h++) {
        float x;
        ops_flat_f32(&x, down, h * I + n, 1);
        c[h] = coef * x;
    }
}

static int neuron_top(attr_ctx *a, const attr_sample *in, const float *probs_base,
                      const float *grad_base, double s, int top_n, int brute, attr_result *out,
                      mp_err *err)
{
    const mcfg *c = &a->m->cfg;
    const int64_t H = a->H, L = a->L, k = c->num_experts_per_tok;
    int rc = -1;
    group *gs = NULL;
    cand *cs = NULL;
    scored *best = NULL;
    float *u = NULL, *vecs = NULL;
    const float **pv = NULL;
    double *lp = NULL, *sv = NULL;
    int32_t *tv = NULL;
    int64_t ng = 0, nc = 0, n_best = 0, max_i = 0;
    double rm = r_max(a);

    gs = calloc((size_t)(L * (k + 1)), sizeof *gs);
    if (!gs) goto oom;
    for (int64_t l = 0; l < L; l++) {
        const mp_layer *ly = &a->m->layers[l];
        if (ly->is_moe) {
            if (!in->expert_act) continue;
            for (int64_t j = 0; j < k; j++) {
                int e = in->topk_idx[l * k + j];
                float w = in->topk_weight[l * k + j];
                if (e < 0 || w == 0.0f) continue;
                int64_t I = ly->experts[e].down_proj.shape[1];
                gs[ng++] = (group){(int)l, e, &ly->experts[e],
                                   in->expert_act + (l * k + j) * c->moe_intermediate_size, w};
                if (I > max_i) max_i = I;
            }
            if (ly->shared_expert.down_proj.data && in->shared_act) {
                int64_t Is = ly->shared_expert.down_proj.shape[1];
                gs[ng++] = (group){(int)l, -1, &ly->shared_expert,
                                   in->shared_act + l * c->shared_expert_intermediate_size,
                                   in->shared_gate[l]};
                if (Is > max_i) max_i = Is;
            }
        } else if (in->mlp_act) {
            int64_t I = ly->mlp.down_proj.shape[1];
            gs[ng++] = (group){(int)l, -1, &ly->mlp, in->mlp_act + l * c->intermediate_size, 1.0f};
            if (I > max_i) max_i = I;
        }
    }
    for (int64_t i = 0; i < ng; i++) nc += gs[i].mlp->down_proj.shape[1];
    cs = malloc((size_t)(nc > 0 ? nc : 1) * sizeof *cs);
    u = malloc((size_t)(max_i > 0 ? max_i : 1) * sizeof *u);
    if (!cs || !u) goto oom;

    /* screening: first-order value and bound of every neuron */
    int64_t ci = 0;
    for (int64_t gi = 0; gi < ng; gi++) {
        const group *gr = &gs[gi];
        const mp_tensor *down = &gr->mlp->down_proj;
        const int64_t I = down->shape[1];
        const float *cn = col_norms(a, gr->layer, gr->expert < 0 ? c->num_experts : gr->expert, down);
        if (!cn) goto oom;
        ops_matmul_nn(u, grad_base + (int64_t)gr->layer * H, 1, down, 0.0f); /* u = g W_down */
        for (int64_t n = 0; n < I; n++) {
            double coef = (double)gr->w * gr->act[n];
            double fo = coef * u[n];
            double d = s * rm * fabs(coef) * cn[n];
            cs[ci++] = (cand){fo, fo - 0.5 * d * d, (int32_t)gi, (int32_t)n};
        }
    }
    qsort(cs, (size_t)nc, sizeof *cs, cand_by_ub);

    /* exact scoring in decreasing upper bound until no candidate left can enter the top-N */
    best = malloc((size_t)(nc > 0 ? nc : 1) * sizeof *best);
    vecs = malloc((size_t)(ATTR_CHUNK * H) * sizeof *vecs);
    lp = malloc(ATTR_CHUNK * sizeof *lp);
    sv = malloc(ATTR_CHUNK * sizeof *sv);
    tv = malloc(ATTR_CHUNK * sizeof *tv);
    pv = malloc(ATTR_CHUNK * sizeof *pv);
    if (!best || !vecs || !lp || !sv || !tv || !pv) goto oom;
    int64_t done_n = 0;
    double theta = -INFINITY;
    while (done_n < nc) {
        if (!brute && n_best >= top_n) {
            double tol = 1e-5 + 1e-5 * fabs(theta);
            if (cs[done_n].ub < theta - tol) break;
        }
        int64_t chn = nc - done_n < ATTR_CHUNK ? nc - done_n : ATTR_CHUNK;
        for (int64_t i = 0; i < chn; i++) {
            const cand *cd = &cs[done_n + i];
            const group *gr = &gs[cd->g];
            float *vv = vecs + i * H;
            neuron_contrib(gr, cd->n, vv);
            sv[i] = s;
            tv[i] = in->target;
            pv[i] = probs_base + (int64_t)gr->layer * a->V;
        }
        if (attr_delta_logp(a, chn, vecs, sv, tv, pv, lp, err) != 0) goto done;
        for (int64_t i = 0; i < chn; i++) {
            const cand *cd = &cs[done_n + i];
            const group *gr = &gs[cd->g];
            best[n_best++] = (scored){lp[i], gr->layer, gr->expert, cd->n};
        }
        done_n += chn;
        qsort(best, (size_t)n_best, sizeof *best, scored_desc);
        if (n_best > top_n && !brute) n_best = top_n;
        if (n_best >= top_n) theta = best[top_n - 1].score;
    }
    if (n_best > top_n) n_best = top_n;
    out->n_top = (int)n_best;
    out->neuron = malloc((size_t)(n_best > 0 ? n_best : 1) * 3 * sizeof *out->neuron);
    out->neuron_score = malloc((size_t)(n_best > 0 ? n_best : 1) * sizeof *out->neuron_score);
    if (!out->neuron || !out->neuron_score) goto oom;
    for (int64_t i = 0; i < n_best; i++) {
        out->neuron[i * 3 + 0] = best[i].layer;
        out->neuron[i * 3 + 1] = best[i].expert;
        out->neuron[i * 3 + 2] = best[i].neuron;
        out->neuron_score[i] = best[i].score;
    }
    out->neurons_total = nc;
    out->neurons_exact = done_n;
    rc = 0;
    goto done;
oom:
    err_set(err, "attribution: out of memory ranking %lld neurons", (long long)nc);
done:
    free(gs); free(cs); free(best); free(u); free(vecs); free(pv); free(lp); free(sv); free(tv);
    return rc;
}

int attr_sample_run(attr_ctx *a, const attr_sample *in, int top_n, int brute_force,
                    attr_result *out, mp_err *err)
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
    if (top_n > 0 && (in->expert_act || in->mlp_act)) {
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
        int nrc = neuron_top(a, in, pra, gra, out->final_norm_scale, top_n, brute_force, out, err);
        free(pra);
        free(gra);
        if (nrc != 0) goto done;
    }
    rc = 0;
    goto done;
oom:
    err_set(err, "attribution: out of memory for %lld vectors", (long long)M);
done:
    free(bases); free(probs); free(grad); free(lpb); free(cv); free(pv); free(d); free(s); free(t);
    if (rc != 0) attr_result_free(out);
    return rc;
}
