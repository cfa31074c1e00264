/* neurons.c — the exact top-N neurons of many samples at once, with the first-order
 * screening of attribution.h, such that the down_proj of a routed expert is only ever read on
 * the rank that holds the expert.
 *
 * Per sample: groups = the neurons of each selected routed expert, the shared expert and the
 * dense MLP, per layer. Screening needs u = W_down^T g for every group (g = d logp / dv at r+a);
 * exact scoring of a candidate needs the column W_down[:, n]. Both go through attr_remote for
 * routed experts (the runner sends them to the expert's rank; one exchange for the screening of
 * all samples of a batch, then one exchange per round of exact scoring); shared experts and
 * dense MLPs are replicated and read locally. Candidates are scored in decreasing upper bound,
 * ATTR_CHUNK per sample per round, until the next upper bound falls below the N-th best exact
 * score; all ranks run the same number of rounds (attr_remote.any). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/attribution/internal.h"
#include "pipeline/ops/ops.h"

double attr_r_max(attr_ctx *a)
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
        free(acc);
        free(row);
        free(out);
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
    int layer, expert; /* expert -1: shared expert / dense MLP */
    const mp_mlp *mlp;
    const float *act;
    float w;
} group;

typedef struct cand {
    double ub, lb; /* first-order value (upper bound) and lower bound */
    int32_t g, n;  /* group, neuron */
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

const mp_mlp *attr_mlp(const attr_ctx *a, int layer, int expert)
{
    const mp_layer *ly = &a->m->layers[layer];
    if (expert >= 0) return &ly->experts[expert];
    return ly->is_moe ? &ly->shared_expert : &ly->mlp;
}

int attr_screen_one(attr_ctx *a, int layer, int expert, const float *g, float *u, float *norm)
{
    const mp_tensor *down = &attr_mlp(a, layer, expert)->down_proj;
    const int64_t I = down->shape[1];
    const float *cn = col_norms(a, layer, expert < 0 ? a->m->cfg.num_experts : expert, down);
    if (!cn) return -1;
    ops_matmul_nn(u, g, 1, down, 0.0f); /* u = g W_down */
    memcpy(norm, cn, (size_t)I * sizeof *norm);
    return 0;
}

void attr_column_one(attr_ctx *a, int layer, int expert, int neuron, float *col)
{
    const mp_tensor *down = &attr_mlp(a, layer, expert)->down_proj;
    const int64_t H = down->shape[0], I = down->shape[1];
    for (int64_t h = 0; h < H; h++) ops_flat_f32(&col[h], down, h * I + neuron, 1);
}

typedef struct nsample {
    const attr_sample *in;
    const float *probs, *grad; /* [L,V], [L,H] at the bases r+a */
    double s;
    group *gs;
    int64_t ng;
    cand *cs;
    int64_t nc;
    scored *best;
    int64_t n_best, done_n, chunk;
    double theta;
    int finished;
} nsample;

/* The groups of one sample. */
static int build_groups(attr_ctx *a, nsample *ns)
{
    const mcfg *c = &a->m->cfg;
    const attr_sample *in = ns->in;
    const int64_t L = a->L, k = c->num_experts_per_tok;
    ns->gs = calloc((size_t)(L * (k + 1)), sizeof *ns->gs);
    if (!ns->gs) return -1;
    for (int64_t l = 0; l < L; l++) {
        const mp_layer *ly = &a->m->layers[l];
        if (ly->is_moe) {
            if (!in->expert_act) continue;
            for (int64_t j = 0; j < k; j++) {
                int e = in->topk_idx[l * k + j];
                float w = in->topk_weight[l * k + j];
                if (e < 0 || w == 0.0f) continue;
                ns->gs[ns->ng++] =
                    (group){(int)l, e, &ly->experts[e],
                            in->expert_act + (l * k + j) * c->moe_intermediate_size, w};
            }
            if (ly->shared_expert.down_proj.data && in->shared_act)
                ns->gs[ns->ng++] = (group){(int)l, -1, &ly->shared_expert,
                                           in->shared_act + l * c->shared_expert_intermediate_size,
                                           in->shared_gate[l]};
        } else if (in->mlp_act) {
            ns->gs[ns->ng++] =
                (group){(int)l, -1, &ly->mlp, in->mlp_act + l * c->intermediate_size, 1.0f};
        }
    }
    for (int64_t i = 0; i < ns->ng; i++) ns->nc += ns->gs[i].mlp->down_proj.shape[1];
    ns->cs = malloc((size_t)(ns->nc > 0 ? ns->nc : 1) * sizeof *ns->cs);
    ns->best = malloc((size_t)(ns->nc > 0 ? ns->nc : 1) * sizeof *ns->best);
    ns->theta = -INFINITY;
    return ns->cs && ns->best ? 0 : -1;
}

/* First-order values and bounds of a group's neurons from u and the column norms. */
static void screen_group(const nsample *ns, int64_t gi, const float *u, const float *norm,
                         double rm, int64_t *ci, cand *cs)
{
    const group *gr = &ns->gs[gi];
    const int64_t I = gr->mlp->down_proj.shape[1];
    for (int64_t n = 0; n < I; n++) {
        double coef = (double)gr->w * gr->act[n];
        double fo = coef * u[n];
        double d = ns->s * rm * fabs(coef) * norm[n];
        cs[(*ci)++] = (cand){fo, fo - 0.5 * d * d, (int32_t)gi, (int32_t)n};
    }
}

/* One remote screening call for every routed group of every sample; shared / dense locally. */
static int screen_all(attr_ctx *a, int n, nsample *ns, const attr_remote *rem, mp_err *err)
{
    const int64_t H = a->H, I = a->m->cfg.moe_intermediate_size;
    const double rm = attr_r_max(a);
    int64_t nr = 0, q = 0, maxi = 1;
    int rc = -1;
    int *lay = NULL, *ex = NULL;
    float *g = NULL, *u = NULL, *nm = NULL, *lu = NULL, *ln = NULL;
    for (int i = 0; i < n; i++)
        for (int64_t gi = 0; gi < ns[i].ng; gi++) {
            nr += ns[i].gs[gi].expert >= 0;
            int64_t gI = ns[i].gs[gi].mlp->down_proj.shape[1];
            if (gI > maxi) maxi = gI;
        }
    lay = malloc((size_t)(nr > 0 ? nr : 1) * sizeof *lay);
    ex = malloc((size_t)(nr > 0 ? nr : 1) * sizeof *ex);
    g = malloc((size_t)((nr > 0 ? nr : 1) * H) * sizeof *g);
    u = malloc((size_t)((nr > 0 ? nr : 1) * (I > 0 ? I : 1)) * sizeof *u);
    nm = malloc((size_t)((nr > 0 ? nr : 1) * (I > 0 ? I : 1)) * sizeof *nm);
    lu = malloc((size_t)maxi * sizeof *lu);
    ln = malloc((size_t)maxi * sizeof *ln);
    if (!lay || !ex || !g || !u || !nm || !lu || !ln) goto oom;
    for (int i = 0; i < n; i++)
        for (int64_t gi = 0; gi < ns[i].ng; gi++) {
            const group *gr = &ns[i].gs[gi];
            if (gr->expert < 0) continue;
            lay[q] = gr->layer;
            ex[q] = gr->expert;
            memcpy(g + q * H, ns[i].grad + (int64_t)gr->layer * H, (size_t)H * sizeof *g);
            q++;
        }
    if (rem) {
        if (rem->screen(rem->ctx, nr, lay, ex, g, u, nm, err) != 0) goto done;
    } else {
        for (int64_t r = 0; r < nr; r++)
            if (attr_screen_one(a, lay[r], ex[r], g + r * H, u + r * I, nm + r * I) != 0) goto oom;
    }
    q = 0;
    for (int i = 0; i < n; i++) {
        int64_t ci = 0;
        for (int64_t gi = 0; gi < ns[i].ng; gi++) {
            const group *gr = &ns[i].gs[gi];
            if (gr->expert >= 0) {
                screen_group(&ns[i], gi, u + q * I, nm + q * I, rm, &ci, ns[i].cs);
                q++;
            } else {
                if (attr_screen_one(a, gr->layer, -1, ns[i].grad + (int64_t)gr->layer * H, lu,
                                    ln) != 0)
                    goto oom;
                screen_group(&ns[i], gi, lu, ln, rm, &ci, ns[i].cs);
            }
        }
        qsort(ns[i].cs, (size_t)ns[i].nc, sizeof *ns[i].cs, cand_by_ub);
    }
    rc = 0;
    goto done;
oom:
    err_set(err, "attribution: out of memory screening neurons");
done:
    free(lay);
    free(ex);
    free(g);
    free(u);
    free(nm);
    free(lu);
    free(ln);
    return rc;
}

/* Decides each sample's next chunk; returns whether this rank has any. */
static int next_chunks(int n, nsample *ns, int top_n, int brute)
{
    int any = 0;
    for (int i = 0; i < n; i++) {
        nsample *x = &ns[i];
        x->chunk = 0;
        if (x->finished) continue;
        if (x->done_n >= x->nc ||
            (!brute && x->n_best >= top_n &&
             x->cs[x->done_n].ub < x->theta - (1e-5 + 1e-5 * fabs(x->theta)))) {
            x->finished = 1;
            continue;
        }
        x->chunk = x->nc - x->done_n < ATTR_CHUNK ? x->nc - x->done_n : ATTR_CHUNK;
        any = 1;
    }
    return any;
}

/* Exact scores of every sample's current chunk (columns of routed experts via rem). */
static int score_chunks(attr_ctx *a, int n, nsample *ns, int top_n, int brute,
                        const attr_remote *rem, mp_err *err)
{
    const int64_t H = a->H;
    int64_t nr = 0, q = 0;
    int rc = -1;
    int *lay = NULL, *ex = NULL, *nu = NULL;
    float *col = NULL, *vecs = NULL;
    double *lp = NULL, *sv = NULL;
    int32_t *tv = NULL;
    const float **pv = NULL;
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; j < ns[i].chunk; j++)
            nr += ns[i].gs[ns[i].cs[ns[i].done_n + j].g].expert >= 0;
    lay = malloc((size_t)(nr > 0 ? nr : 1) * sizeof *lay);
    ex = malloc((size_t)(nr > 0 ? nr : 1) * sizeof *ex);
    nu = malloc((size_t)(nr > 0 ? nr : 1) * sizeof *nu);
    col = malloc((size_t)((nr > 0 ? nr : 1) * H) * sizeof *col);
    vecs = malloc((size_t)(ATTR_CHUNK * H) * sizeof *vecs);
    lp = malloc(ATTR_CHUNK * sizeof *lp);
    sv = malloc(ATTR_CHUNK * sizeof *sv);
    tv = malloc(ATTR_CHUNK * sizeof *tv);
    pv = malloc(ATTR_CHUNK * sizeof *pv);
    if (!lay || !ex || !nu || !col || !vecs || !lp || !sv || !tv || !pv) goto oom;
    for (int i = 0; i < n; i++)
        for (int64_t j = 0; j < ns[i].chunk; j++) {
            const cand *cd = &ns[i].cs[ns[i].done_n + j];
            const group *gr = &ns[i].gs[cd->g];
            if (gr->expert < 0) continue;
            lay[q] = gr->layer;
            ex[q] = gr->expert;
            nu[q] = cd->n;
            q++;
        }
    if (rem) {
        if (rem->columns(rem->ctx, nr, lay, ex, nu, col, err) != 0) goto done;
    } else {
        for (int64_t r = 0; r < nr; r++) attr_column_one(a, lay[r], ex[r], nu[r], col + r * H);
    }
    q = 0;
    for (int i = 0; i < n; i++) {
        nsample *x = &ns[i];
        if (!x->chunk) continue;
        for (int64_t j = 0; j < x->chunk; j++) {
            const cand *cd = &x->cs[x->done_n + j];
            const group *gr = &x->gs[cd->g];
            float *vv = vecs + j * H;
            if (gr->expert >= 0)
                memcpy(vv, col + (q++) * H, (size_t)H * sizeof *vv);
            else
                attr_column_one(a, gr->layer, -1, cd->n, vv);
            float coef = gr->w * gr->act[cd->n];
            for (int64_t h = 0; h < H; h++) vv[h] *= coef; /* c = w act_n W_down[:, n] */
            sv[j] = x->s;
            tv[j] = x->in->target;
            pv[j] = x->probs + (int64_t)gr->layer * a->V;
        }
        if (attr_delta_logp(a, x->chunk, vecs, sv, tv, pv, lp, err) != 0) goto done;
        for (int64_t j = 0; j < x->chunk; j++) {
            const cand *cd = &x->cs[x->done_n + j];
            const group *gr = &x->gs[cd->g];
            x->best[x->n_best++] = (scored){lp[j], gr->layer, gr->expert, cd->n};
        }
        x->done_n += x->chunk;
        qsort(x->best, (size_t)x->n_best, sizeof *x->best, scored_desc);
        if (x->n_best > top_n && !brute) x->n_best = top_n;
        if (x->n_best >= top_n) x->theta = x->best[top_n - 1].score;
    }
    rc = 0;
    goto done;
oom:
    err_set(err, "attribution: out of memory scoring neurons");
done:
    free(lay);
    free(ex);
    free(nu);
    free(col);
    free(vecs);
    free(lp);
    free(sv);
    free(tv);
    free(pv);
    return rc;
}

int attr_neurons_rank(attr_ctx *a, int n, const attr_sample *in, const float *const *probs,
                      const float *const *grad, const double *scale, int top_n, int brute,
                      const attr_remote *rem, attr_result *out, mp_err *err)
{
    int rc = -1;
    nsample *ns = calloc((size_t)(n > 0 ? n : 1), sizeof *ns);
    if (!ns) return err_set(err, "attribution: out of memory");
    for (int i = 0; i < n; i++) {
        ns[i].in = &in[i];
        ns[i].probs = probs[i];
        ns[i].grad = grad[i];
        ns[i].s = scale[i];
        if (!probs[i]) { /* no activations captured: nothing to rank */
            ns[i].finished = 1;
            continue;
        }
        if (build_groups(a, &ns[i]) != 0) {
            err_set(err, "attribution: out of memory for neuron groups");
            goto done;
        }
    }
    if (screen_all(a, n, ns, rem, err) != 0) goto done;
    for (;;) {
        int mine = next_chunks(n, ns, top_n, brute);
        if (!(rem && rem->any ? rem->any(rem->ctx, mine) : mine)) break;
        if (score_chunks(a, n, ns, top_n, brute, rem, err) != 0) goto done;
    }
    for (int i = 0; i < n; i++) {
        nsample *x = &ns[i];
        attr_result *o = &out[i];
        int64_t nb = x->n_best < top_n ? x->n_best : top_n;
        if (!x->probs) continue;
        o->n_top = (int)nb;
        o->neuron = malloc((size_t)(nb > 0 ? nb : 1) * 3 * sizeof *o->neuron);
        o->neuron_score = malloc((size_t)(nb > 0 ? nb : 1) * sizeof *o->neuron_score);
        if (!o->neuron || !o->neuron_score) {
            err_set(err, "attribution: out of memory");
            goto done;
        }
        for (int64_t j = 0; j < nb; j++) {
            o->neuron[j * 3 + 0] = x->best[j].layer;
            o->neuron[j * 3 + 1] = x->best[j].expert;
            o->neuron[j * 3 + 2] = x->best[j].neuron;
            o->neuron_score[j] = x->best[j].score;
        }
        o->neurons_total = x->nc;
        o->neurons_exact = x->done_n;
    }
    rc = 0;
done:
    for (int i = 0; i < n; i++) {
        free(ns[i].gs);
        free(ns[i].cs);
        free(ns[i].best);
    }
    free(ns);
    return rc;
}
