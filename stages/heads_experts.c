/* heads_experts.c — unit "heads_experts/<rel>" (MoE models; after capture with attribute):
 * attention heads and experts, Table 4 and the causal checks of section 4.3. Definitions are
 * those of docs/method.md ("Attention heads and experts"), as the fixtures' reference
 * analyses compute them; indices are 0-based.
 *
 * CORRELATION (heads_experts.correlation)
 *   static (default): Pearson r over the relation's samples between head [l,h]'s importance
 *     (attribution/<rel>/head) and expert [l',e]'s routing probability at the last position
 *     (routing/<rel>/router_prob: softmax over all routed experts of layer l', before top-k),
 *     for l' >= l; NaN where l' < l or a variable is constant. n = samples.
 *   temporal: the same matrix, read within prompts. For every prompt and position t, x = the
 *     L2 norm of head [l,h]'s output at t (o_proj's columns of h times z_h, hook head_out) and
 *     y = expert [l',e]'s routing probability at t. Both are centred on their mean over the
 *     prompt's positions, and r = sum(xc yc) / sqrt(sum xc^2 sum yc^2) with the sums over all
 *     positions of all prompts (the pooled within-prompt correlation: differences between
 *     prompts do not count). n = tokens; the p-value uses N - P - 1 degrees of freedom (N
 *     tokens, P prompts: one mean per prompt is estimated). One extra unsuppressed pass with
 *     head_out and router_logits at every position (memory: the hook store holds
 *     batch_size * tokens * L * nH * H floats per round).
 *   `strongest`: the heads_experts.strongest largest |r| (ties: head layer, head, expert layer,
 *     expert, ascending) with n and the two-sided p-value (stats_pearson_p).
 *
 * THE PAIR: the defined entry with the highest signed r (same tie order) whose expert is among
 *   the relation's first heads_experts.top_experts_for_pair experts of its ranking
 *   (routing/<rel>/expert_ranking_frequency, or _attribution when block.rank_by says so; the
 *   first 10 rows are metrics/<rel>/top_experts). expert_rank_in_top_experts is 1-based;
 *   r_margin_to_next = r minus the next eligible r (NaN if none).
 *
 * SUPPRESSION: z_h of the pair's head = 0 at every position; routing recomputed normally. The
 *   experts reported are the first heads_experts.suppression_top_experts (4) of the same
 *   ranking with layer >= the head's layer. Base values come from the capture unit (same
 *   forward pass): router_prob, evaluate/<rel>/rank.
 *
 * FORCING: head still suppressed; at the pair's expert layer l', for every position, the expert
 *   is put into the top-k (replacing the k-th member if absent) with weight w0 = the weight it
 *   gets at that position in the unsuppressed run under the same forcing and the model's rule
 *   (p0_e, or p0_e / sum over S0 with e in it when the model renormalises); the other selected
 *   experts keep the model's rule in the suppressed run, renormalised over the final set with
 *   e at its suppressed p'_e (pipeline/forward/moe.c route_token does this, then overrides e's weight).
 *   min_router_gap_other_layers is read from the forced run, every layer but l'.
 *
 * PATH: with the router input norm of layer l' frozen at the last position, the logit
 *   W_gate[e] . (w_post * s' * h), h = resid_pre[l'] + attn_out[l'], s' = 1/sqrt(mean(h^2)+eps),
 *   splits into the embedding (resid_pre[0]), each head of layers 0..l' (head_out), each FFN /
 *   MoE output of layers < l' (mlp_out, with the shared expert), and, in models whose o_proj has
 *   a bias, that bias per layer (reported as share_attn_bias; none of the fixtures has one).
 *   The split is computed on each sample's rank and checked: the parts must sum to the logit
 *   within 1e-5 of sum |parts|, and that logit must equal the router's own (float32) logit, or
 *   the unit fails. Shares are |part| / sum |parts| per sample, averaged; pooled_* divide sums.
 *
 * MULTIPLE TESTING (heads_experts_null.c, docs/method.md): BH q-values of every defined pair and
 *   a permutation null of the largest |r| (heads_experts.permutations, .seed); a pair survives
 *   by heads_experts.significance at heads_experts.alpha. The pair is the first eligible entry
 *   with r > 0 that survives, else the first eligible entry with pair/survives = 0.
 *
 * ARCHIVE (G = analyses/<rel>/head_expert): scalars are attributes, lists datasets.
 *   G attrs n, correlation, top_experts_rank_by, significance (temporal: n_prompts, n_tokens)
 *   G/q                [L*nH, L*E] BH q-values;  G/null max_abs_r [B] sorted, quantile_level,
 *                      quantile [4]; attrs permutations, seed, alpha, max_abs_r_observed,
 *                      p_max, n_survivors, n_fdr_significant, n_beat_null
 *                      (numbers only: HDF5 1.10 crashes copying groups whose string attributes
 *                      are in dense storage, more than 8 attributes)
 *   G/strongest/q, p_perm [K] float64, survives [K] int32;  G/pair attrs q, p_perm, survives
 *   G/r                [L*nH, L*E] float64, row l*nH+h, column l'*E+e, NaN = null
 *   G/strongest/head, expert [K,2] int32;  r, p [K] float64;  n [K] int64
 *   G/pair             head, expert [2] int32; attrs r, n, p, r_margin_to_next,
 *                      expert_rank_in_top_experts
 *   G/suppression      head [2], top4_experts [N,2] (named top{N}_experts); attrs
 *                      mean_prob_base, mean_prob_suppressed, prob_change, prob_change_rel,
 *                      hit10_base, mrr_base, hit10_suppressed, mrr_suppressed, mrr_drop,
 *                      mrr_drop_rel, min_logit_margin, min_router_gap
 *   G/forcing          expert [2]; attrs hit10_forced, mrr_forced, recovery_fraction (NaN and
 *                      recovery_defined = 0 when mrr_drop < heads_experts.min_mrr_drop, stored
 *                      as min_mrr_drop),
 *                      mrr_forced_over_base, expert_prob_base, expert_prob_suppressed,
 *                      min_logit_margin, min_router_gap_other_layers
 *   G/path             expert [2]; attrs share_own_layer_heads, share_all_heads,
 *                      share_pair_head, share_embedding, share_ffn and pooled_share_* of each,
 *                      parts_max_rel_error (the check above)
 *   null (ratio over 0, no next r) is NaN. Without an eligible pair only n, r and strongest are
 *   written (G attr pair_found = 0). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages/heads_experts.h"
#include "stages/heads_experts_null.h"
#include "stages/schema_heads_experts.h"
#include "stages/stats.h"

typedef struct he_entry {
    double r;
    int64_t i, j; /* row l*nH+h, column l'*E+e */
} he_entry;

/* Rank-0 state: what the capture unit says and what the correlation decided. */
typedef struct he_state {
    analysis_ctx *c;
    he_plan pl;
    int temporal;
    double *r;      /* [R*C] */
    int64_t n_corr; /* n of r (samples or tokens) */
    int64_t df_n;   /* n given to stats_pearson_p */
    he_temporal tmp;
    int64_t *ranking; /* [m*3] (layer, expert, count) */
    int64_t n_ranking;
    char rank_by[16];
    he_entry *strongest;
    int64_t n_strongest;
    he_entry pair;
    double pair_margin;
    /* multiple testing (heads_experts_null.c) */
    double *q;        /* [R*C] BH q-values, NaN where r is */
    double *null_max; /* [B] sorted null of the largest |r| */
    int64_t n_perm;   /* B */
    double max_abs_r; /* observed */
    int64_t n_survivors, n_fdr, n_perm_sig;
    int pair_survives;
    int64_t pair_rank_in_top;
    /* base values */
    int64_t *rank_base;
    double mean_prob_base, expert_prob_base;
    float *prob; /* router_prob [n*L*E] */
} he_state;

static int cmp_abs(const void *a, const void *b)
{
    const he_entry *x = a, *y = b;
    double ax = fabs(x->r), ay = fabs(y->r);
    if (ax != ay) return ax < ay ? 1 : -1;
    if (x->i != y->i) return x->i < y->i ? -1 : 1;
    return (x->j > y->j) - (x->j < y->j);
}

static int cmp_signed(const void *a, const void *b)
{
    const he_entry *x = a, *y = b;
    if (x->r != y->r) return x->r < y->r ? 1 : -1;
    if (x->i != y->i) return x->i < y->i ? -1 : 1;
    return (x->j > y->j) - (x->j < y->j);
}

/* A pair survives multiple testing by heads_experts.significance: its |r| beats the permutation
 * null of the largest |r| (family-wise p <= alpha), or its BH q-value is <= alpha. */
static int survives(const he_state *st, const rcfg *cfg, int64_t k)
{
    double a = rcfg_float(cfg, "heads_experts.alpha");
    if (isnan(st->r[k])) return 0;
    if (rcfg_enum(cfg, "heads_experts.significance") == 1) return st->q[k] <= a;
    return he_null_p(st->null_max, st->n_perm, fabs(st->r[k])) <= a;
}

/* Rank 0: the q-values and the permutation null of one relation's matrix. */
static int multiple_testing(he_state *st, const double *hv, const double *pv, mp_err *err)
{
    analysis_ctx *c = st->c;
    const he_plan *pl = &st->pl;
    const int64_t R = pl->L * pl->nH, C = pl->L * pl->E;
    double *p = malloc((size_t)(R * C + 1) * sizeof *p);
    int64_t blk[2] = {0, pl->n};
    int rc = -1;
    st->n_perm = rcfg_int(c->cfg, "heads_experts.permutations");
    st->q = malloc((size_t)(R * C + 1) * sizeof *st->q);
    st->null_max = malloc((size_t)(st->n_perm + 1) * sizeof *st->null_max);
    if (!p || !st->q || !st->null_max) {
        err_set(err, "%s: out of memory", c->unit_id);
        goto done;
    }
    st->max_abs_r = 0;
    for (int64_t k = 0; k < R * C; k++) {
        p[k] = isnan(st->r[k]) ? NAN : stats_pearson_p(st->r[k], st->df_n);
        if (!isnan(st->r[k]) && fabs(st->r[k]) > st->max_abs_r) st->max_abs_r = fabs(st->r[k]);
    }
    if (he_bh_qvalues(p, R * C, st->q) != 0) {
        err_set(err, "%s: out of memory", c->unit_id);
        goto done;
    }
    he_null_in in = {hv, pv, pl->n, R, C, pl->nH, pl->E, blk, 1};
    if (st->temporal) {
        in.x = st->tmp.x;
        in.y = st->tmp.y;
        in.N = st->tmp.n_tokens;
        in.block = st->tmp.block;
        in.nb = st->tmp.n_prompts;
    }
    uint64_t seed = he_null_seed((uint64_t)rcfg_int(c->cfg, "heads_experts.seed"), c->rel->id);
    if (he_null_max(&in, st->n_perm, seed, st->null_max, err) != 0) goto done;
    const double a = rcfg_float(c->cfg, "heads_experts.alpha");
    for (int64_t k = 0; k < R * C; k++) {
        if (isnan(st->r[k])) continue;
        st->n_fdr += st->q[k] <= a;
        st->n_perm_sig += he_null_p(st->null_max, st->n_perm, fabs(st->r[k])) <= a;
        st->n_survivors += survives(st, c->cfg, k);
    }
    rc = 0;
done:
    free(p);
    return rc;
}

/* Reads a dataset of the capture part and checks its shape (-1 = any). */
static int read_checked(arc_reader *rd, const char *path, int ndim, const int64_t *shape,
                        arc_array *a, mp_err *err)
{
    if (arc_kind_of(rd, path) != ARC_DATASET)
        return err_set(err,
                       "the capture unit has no dataset %s (heads_experts needs stages "
                       "capture and attribute)",
                       path);
    if (arc_read(rd, path, a, err) != 0) return -1;
    int ok = a->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++) ok = shape[d] < 0 || a->shape[d] == shape[d];
    if (!ok)
        return err_set(err, "%s: unexpected shape (ndim %d, first dimension %lld)", path, a->ndim,
                       (long long)(a->ndim > 0 ? a->shape[0] : 0));
    return 0;
}

static double *as_f64(const arc_array *a)
{
    double *v = malloc((a->count > 0 ? a->count : 1) * sizeof *v);
    if (!v) return NULL;
    for (size_t q = 0; q < a->count; q++)
        v[q] = a->type == ARC_F64   ? ((const double *)a->data)[q]
               : a->type == ARC_F32 ? (double)((const float *)a->data)[q]
               : a->type == ARC_I32 ? (double)((const int32_t *)a->data)[q]
                                    : (double)((const int64_t *)a->data)[q];
    return v;
}

/* Rank 0: reads the capture unit, computes the static correlation (unless temporal already
 * did), the strongest entries and the pair, and fills the plan. */
static int decide(he_state *st, mp_err *err)
{
    analysis_ctx *c = st->c;
    he_plan *pl = &st->pl;
    const char *rel = c->rel->id;
    const int64_t n = pl->n, L = pl->L, nH = pl->nH, E = pl->E, R = L * nH, C = L * E;
    arc_reader *rd = NULL;
    arc_array head = {0}, prob = {0}, rk = {0}, rank = {0};
    double *hv = NULL, *pv = NULL;
    he_entry *all = NULL;
    char unit[300], p[300];
    int rc = -1;

    snprintf(unit, sizeof unit, "capture/%s", rel);
    if (analysis_open_unit(c, unit, &rd, err) != 0) goto done;
    int64_t sp[3] = {n, L, E}, sr[1] = {n}, sk[2] = {-1, 3};
    snprintf(p, sizeof p, "routing/%s/router_prob", rel);
    if (read_checked(rd, p, 3, sp, &prob, err) != 0) goto done;
    snprintf(p, sizeof p, "evaluate/%s/rank", rel);
    if (read_checked(rd, p, 1, sr, &rank, err) != 0) goto done;
    snprintf(st->rank_by, sizeof st->rank_by, "%s",
             rcfg_enum(c->cfg, "block.rank_by") == 1 ? "attribution" : "frequency");
    snprintf(p, sizeof p, "routing/%s/expert_ranking_%s", rel, st->rank_by);
    if (read_checked(rd, p, 2, sk, &rk, err) != 0) goto done;
    pv = as_f64(&prob);
    st->n_ranking = rk.shape[0];
    st->ranking = malloc((size_t)(st->n_ranking * 3 + 1) * sizeof *st->ranking);
    st->rank_base = malloc((size_t)(n > 0 ? n : 1) * sizeof *st->rank_base);
    st->prob = malloc((size_t)(n * C > 0 ? n * C : 1) * sizeof *st->prob);
    if (!pv || !st->ranking || !st->rank_base || !st->prob) goto oom;
    for (int64_t q = 0; q < st->n_ranking * 3; q++)
        st->ranking[q] = rk.type == ARC_I64 ? ((int64_t *)rk.data)[q] : ((int32_t *)rk.data)[q];
    for (int64_t q = 0; q < st->n_ranking; q++)
        if (st->ranking[3 * q] < 0 || st->ranking[3 * q] >= L || st->ranking[3 * q + 1] < 0 ||
            st->ranking[3 * q + 1] >= E) {
            err_set(err, "%s row %lld: expert [%lld,%lld] outside the model (L %lld, E %lld)", p,
                    (long long)q, (long long)st->ranking[3 * q], (long long)st->ranking[3 * q + 1],
                    (long long)L, (long long)E);
            goto done;
        }
    for (int64_t q = 0; q < n; q++)
        st->rank_base[q] =
            rank.type == ARC_I64 ? ((int64_t *)rank.data)[q] : ((int32_t *)rank.data)[q];
    for (int64_t q = 0; q < n * C; q++) st->prob[q] = (float)pv[q];

    if (!st->temporal) {
        int64_t sh[3] = {n, L, nH};
        snprintf(p, sizeof p, "attribution/%s/head", rel);
        if (read_checked(rd, p, 3, sh, &head, err) != 0) goto done;
        hv = as_f64(&head);
        st->r = malloc((size_t)(R * C) * sizeof *st->r);
        if (!hv || !st->r) goto oom;
        for (int64_t i = 0; i < R; i++)
            for (int64_t j = 0; j < C; j++)
                st->r[i * C + j] = j / E < i / nH ? NAN : stats_pearson(hv + i, R, pv + j, C, n);
        st->n_corr = st->df_n = n;
    } else {
        st->r = st->tmp.r;
        st->tmp.r = NULL;
        st->n_corr = st->tmp.n_tokens;
        st->df_n = st->tmp.n_tokens - st->tmp.n_prompts + 1;
    }

    if (multiple_testing(st, st->temporal ? NULL : hv, st->temporal ? NULL : pv, err) != 0)
        goto done;

    /* strongest by |r| */
    all = malloc((size_t)(R * C) * sizeof *all);
    if (!all) goto oom;
    int64_t m = 0;
    for (int64_t i = 0; i < R; i++)
        for (int64_t j = 0; j < C; j++)
            if (!isnan(st->r[i * C + j])) all[m++] = (he_entry){st->r[i * C + j], i, j};
    qsort(all, (size_t)m, sizeof *all, cmp_abs);
    st->n_strongest = rcfg_int(c->cfg, "heads_experts.strongest");
    if (st->n_strongest > m) st->n_strongest = m;
    st->strongest = malloc((size_t)(st->n_strongest + 1) * sizeof *st->strongest);
    if (!st->strongest) goto oom;
    memcpy(st->strongest, all, (size_t)st->n_strongest * sizeof *all);

    /* the pair: highest signed r among the eligible experts */
    int64_t ntop = rcfg_int(c->cfg, "heads_experts.top_experts_for_pair");
    if (ntop > st->n_ranking) ntop = st->n_ranking;
    int64_t ne = 0;
    for (int64_t q = 0; q < m; q++) {
        int64_t l2 = all[q].j / E, e = all[q].j % E;
        for (int64_t t = 0; t < ntop; t++)
            if (st->ranking[3 * t] == l2 && st->ranking[3 * t + 1] == e) {
                all[ne++] = all[q];
                break;
            }
    }
    qsort(all, (size_t)ne, sizeof *all, cmp_signed);
    pl->have_pair = ne > 0;
    if (pl->have_pair) {
        /* the first eligible entry with r > 0 that survives multiple testing (the pair is a
         * head that raises the expert's routing); when none does, the first eligible one, flagged (pair_survives = 0) so that nothing presents it as found */
        int64_t at = 0;
        while (at < ne && all[at].r > 0 && !survives(st, c->cfg, all[at].i * C + all[at].j)) at++;
        if (at < ne && !(all[at].r > 0)) at = ne;
        st->pair_survives = at < ne;
        if (at == ne) at = 0;
        st->pair = all[at];
        st->pair_margin = at + 1 < ne ? all[at].r - all[at + 1].r : NAN;
        pl->head_l = (int)(st->pair.i / nH);
        pl->head_h = (int)(st->pair.i % nH);
        pl->exp_l = (int)(st->pair.j / E);
        pl->exp_e = (int)(st->pair.j % E);
        for (int64_t t = 0; t < ntop; t++)
            if (st->ranking[3 * t] == pl->exp_l && st->ranking[3 * t + 1] == pl->exp_e)
                st->pair_rank_in_top = t + 1;
        /* suppression's experts: filtered by layer first, then cut */
        int64_t want = rcfg_int(c->cfg, "heads_experts.suppression_top_experts");
        pl->top = malloc((size_t)(2 * (want < st->n_ranking ? want : st->n_ranking) + 2) *
                         sizeof *pl->top);
        if (!pl->top) goto oom;
        pl->n_top = 0;
        for (int64_t q = 0; q < st->n_ranking && pl->n_top < want; q++)
            if (st->ranking[3 * q] >= pl->head_l) {
                pl->top[2 * pl->n_top] = (int)st->ranking[3 * q];
                pl->top[2 * pl->n_top + 1] = (int)st->ranking[3 * q + 1];
                pl->n_top++;
            }
        double s = 0, se = 0;
        for (int64_t q = 0; q < n; q++) {
            for (int t = 0; t < pl->n_top; t++)
                s += st->prob[q * C + pl->top[2 * t] * E + pl->top[2 * t + 1]];
            se += st->prob[q * C + pl->exp_l * E + pl->exp_e];
        }
        st->mean_prob_base = n && pl->n_top ? s / (double)(n * pl->n_top) : NAN;
        st->expert_prob_base = n ? se / (double)n : NAN;
    }
    rc = 0;
    goto done;
oom:
    err_set(err, "%s: out of memory", c->unit_id);
done:
    arc_array_free(&head);
    arc_array_free(&prob);
    arc_array_free(&rk);
    arc_array_free(&rank);
    arc_reader_close(rd);
    free(hv);
    free(pv);
    free(all);
    return rc;
}

/* ---- plan broadcast ------------------------------------------------------------------------ */

static int share_plan(analysis_ctx *c, he_plan *pl, int ok, mp_err *err)
{
    blob b;
    blob_item it;
    int rc = -1;
    blob_init(&b);
    if (c->rank == 0) {
        int64_t v[6] = {ok, pl->have_pair, pl->head_l, pl->head_h, pl->exp_l, pl->exp_e};
        int64_t s6 = 6, st = 2 * (int64_t)pl->n_top;
        blob_put(&b, "plan", BLOB_I64, 1, &s6, v);
        blob_put(&b, "top", BLOB_I32, 1, &st, pl->top ? (const void *)pl->top : (const void *)v);
        blob_put_str(&b, "msg", ok ? "" : err->msg);
    }
    analysis_bcast(&b);
    if (c->rank != 0) {
        int64_t v[6];
        if (blob_find(b.data, b.len, "plan", &it, err) != 1 || it.count != 6) goto bad;
        memcpy(v, it.data, sizeof v);
        ok = (int)v[0];
        pl->have_pair = (int)v[1];
        pl->head_l = (int)v[2];
        pl->head_h = (int)v[3];
        pl->exp_l = (int)v[4];
        pl->exp_e = (int)v[5];
        if (blob_find(b.data, b.len, "top", &it, err) != 1) goto bad;
        pl->n_top = (int)(it.count / 2);
        free(pl->top);
        pl->top = malloc((size_t)(it.count + 2) * sizeof *pl->top);
        if (!pl->top) {
            err_set(err, "%s: out of memory", c->unit_id);
            goto done;
        }
        memcpy(pl->top, it.data, it.nbytes);
        if (!ok) {
            if (blob_find(b.data, b.len, "msg", &it, err) != 1) goto bad;
            err_set(err, "rank 0 failed: %.*s", (int)it.nbytes, (const char *)it.data);
            goto done;
        }
    }
    rc = ok ? 0 : -1;
    goto done;
bad:
    if (!err->set) err_set(err, "%s: the plan from rank 0 is malformed", c->unit_id);
done:
    blob_free(&b);
    return rc;
}

/* ---- archive output ------------------------------------------------------------------------ */

static int put_pair(arc_unit *u, const sch_entry *e, const char *path, int64_t a, int64_t b,
                    mp_err *err)
{
    int32_t v[2] = {(int32_t)a, (int32_t)b};
    int64_t two = 2;
    return sch_write(u, e, path, &two, v, err);
}

static double ratio(double a, double b)
{
    return b != 0 ? a / b : NAN;
}

static int write_results(he_state *st, const he_sup *sup, const he_base *base, const he_forced *fo,
                         mp_err *err)
{
    analysis_ctx *c = st->c;
    arc_unit *u = c->out;
    const he_plan *pl = &st->pl;
    const int64_t R = pl->L * pl->nH, C = pl->L * pl->E, K = st->n_strongest, n = pl->n;
    char g[300], q[400];
    int rc = -1;
    int32_t *hs = malloc((size_t)(2 * K + 2) * sizeof *hs),
            *es = malloc((size_t)(2 * K + 2) * sizeof *es);
    double *rs = malloc((size_t)(K + 1) * sizeof *rs), *ps = malloc((size_t)(K + 1) * sizeof *ps);
    double *qs = malloc((size_t)(K + 1) * sizeof *qs), *pps = malloc((size_t)(K + 1) * sizeof *pps);
    int32_t *sv_k = malloc((size_t)(K + 1) * sizeof *sv_k);
    int64_t *ns = malloc((size_t)(K + 1) * sizeof *ns);
    if (!hs || !es || !rs || !ps || !ns || !qs || !pps || !sv_k) {
        err_set(err, "%s: out of memory", c->unit_id);
        goto done;
    }
    int64_t shr[2] = {R, C};
    if (sch_path(g, sizeof g, err, HE(GROUP), c->rel->id) != 0) goto done;
    snprintf(q, sizeof q, "%s/r", g);
    if (sch_write(u, HE(R), q, shr, st->r, err) != 0 ||
        sch_attr_i64(u, HE(N), g, NULL, st->n_corr, err) != 0 ||
        sch_attr_str(u, HE(CORRELATION), g, NULL, st->temporal ? "temporal" : "static", err) != 0 ||
        sch_attr_str(u, HE(RANK_BY), g, NULL, st->rank_by, err) != 0 ||
        sch_attr_i64(u, HE(PAIR_FOUND), g, NULL, pl->have_pair, err) != 0 ||
        sch_attr_str(u, HE(SIGNIFICANCE), g, NULL, rcfg_str(c->cfg, "heads_experts.significance"),
                     err) != 0)
        goto done;
    snprintf(q, sizeof q, "%s/q", g);
    if (sch_write(u, HE(Q), q, shr, st->q, err) != 0) goto done;
    {
        static const double lv[] = {0.5, 0.9, 0.95, 0.99};
        double qv[4];
        int64_t four = 4, B = st->n_perm;
        for (int t = 0; t < 4; t++) qv[t] = he_null_quantile(st->null_max, B, lv[t]);
        snprintf(q, sizeof q, "%s/null", g);
        char d0[460];
        /* HDF5 (1.10) crashes copying a group whose string attributes sit in dense storage
         * (more than 8 attributes): the numbers go here, the group's strings stay few */
        if (sch_attr_i64(u, HE(NULL_PERMUTATIONS), q, NULL, B, err) != 0 ||
            sch_attr_i64(u, HE(N_SURVIVORS), q, NULL, st->n_survivors, err) != 0 ||
            sch_attr_i64(u, HE(N_FDR), q, NULL, st->n_fdr, err) != 0 ||
            sch_attr_i64(u, HE(N_PERM_SIG), q, NULL, st->n_perm_sig, err) != 0 ||
            sch_attr_f64(u, HE(ALPHA), q, NULL, rcfg_float(c->cfg, "heads_experts.alpha"), err) !=
                0)
            goto done;
        if (sch_attr_i64(u, HE(NULL_SEED), q, NULL, rcfg_int(c->cfg, "heads_experts.seed"), err) !=
                0 ||
            sch_attr_f64(u, HE(NULL_MAX_ABS_R_OBSERVED), q, NULL, st->max_abs_r, err) != 0 ||
            sch_attr_f64(u, HE(NULL_P_MAX), q, NULL, he_null_p(st->null_max, B, st->max_abs_r),
                         err) != 0)
            goto done;
        snprintf(d0, sizeof d0, "%s/max_abs_r", q);
        if (sch_write(u, HE(NULL_MAX_ABS_R), d0, &B, st->null_max, err) != 0) goto done;
        snprintf(d0, sizeof d0, "%s/quantile_level", q);
        if (sch_write(u, HE(NULL_QUANTILE_LEVEL), d0, &four, lv, err) != 0) goto done;
        snprintf(d0, sizeof d0, "%s/quantile", q);
        if (sch_write(u, HE(NULL_QUANTILE), d0, &four, qv, err) != 0) goto done;
    }
    if (st->temporal && (sch_attr_i64(u, HE(N_PROMPTS), g, NULL, st->tmp.n_prompts, err) != 0 ||
                         sch_attr_i64(u, HE(N_TOKENS), g, NULL, st->tmp.n_tokens, err) != 0))
        goto done;
    for (int64_t t = 0; t < K; t++) {
        const he_entry *e = &st->strongest[t];
        hs[2 * t] = (int32_t)(e->i / pl->nH);
        hs[2 * t + 1] = (int32_t)(e->i % pl->nH);
        es[2 * t] = (int32_t)(e->j / pl->E);
        es[2 * t + 1] = (int32_t)(e->j % pl->E);
        rs[t] = e->r;
        ns[t] = st->n_corr;
        ps[t] = stats_pearson_p(e->r, st->df_n);
        qs[t] = st->q[e->i * C + e->j];
        pps[t] = he_null_p(st->null_max, st->n_perm, fabs(e->r));
        sv_k[t] = survives(st, c->cfg, e->i * C + e->j);
    }
    int64_t sk2[2] = {K, 2};
    const struct {
        const sch_entry *e;
        const int64_t *shape;
        const void *v;
    } sw[] = {{HE(STRONGEST_HEAD), sk2, hs},   {HE(STRONGEST_EXPERT), sk2, es},
              {HE(STRONGEST_R), &K, rs},       {HE(STRONGEST_N), &K, ns},
              {HE(STRONGEST_P), &K, ps},       {HE(STRONGEST_Q), &K, qs},
              {HE(STRONGEST_P_PERM), &K, pps}, {HE(STRONGEST_SURVIVES), &K, sv_k}};
    for (size_t t = 0; t < sizeof sw / sizeof *sw; t++)
        if (sch_path(q, sizeof q, err, sw[t].e, c->rel->id) != 0 ||
            sch_write(u, sw[t].e, q, sw[t].shape, sw[t].v, err) != 0)
            goto done;
    if (!pl->have_pair) {
        rc = 0;
        goto done;
    }

    /* pair */
    snprintf(q, sizeof q, "%s/pair", g);
    char d[460];
    snprintf(d, sizeof d, "%s/head", q);
    if (put_pair(u, HE(PAIR_HEAD), d, pl->head_l, pl->head_h, err) != 0) goto done;
    snprintf(d, sizeof d, "%s/expert", q);
    if (put_pair(u, HE(PAIR_EXPERT), d, pl->exp_l, pl->exp_e, err) != 0) goto done;
    if (sch_attr_f64(u, HE(PAIR_R), q, NULL, st->pair.r, err) != 0 ||
        sch_attr_i64(u, HE(PAIR_N), q, NULL, st->n_corr, err) != 0 ||
        sch_attr_f64(u, HE(PAIR_P), q, NULL, stats_pearson_p(st->pair.r, st->df_n), err) != 0 ||
        sch_attr_f64(u, HE(PAIR_R_MARGIN), q, NULL, st->pair_margin, err) != 0 ||
        sch_attr_i64(u, HE(PAIR_RANK_IN_TOP), q, NULL, st->pair_rank_in_top, err) != 0 ||
        sch_attr_f64(u, HE(PAIR_Q), q, NULL, st->q[st->pair.i * C + st->pair.j], err) != 0 ||
        sch_attr_f64(u, HE(PAIR_P_PERM), q, NULL,
                     he_null_p(st->null_max, st->n_perm, fabs(st->pair.r)), err) != 0 ||
        sch_attr_i64(u, HE(PAIR_SURVIVES), q, NULL, st->pair_survives, err) != 0)
        goto done;

    /* suppression */
    double hit_b, mrr_b, hit_s, mrr_s, hit_f, mrr_f;
    stats_hit_mrr(st->rank_base, n, &hit_b, &mrr_b);
    stats_hit_mrr(sup->rank, n, &hit_s, &mrr_s);
    stats_hit_mrr(fo->rank, n, &hit_f, &mrr_f);
    double mp_s = n && pl->n_top ? sup->top_prob_sum / (double)(n * pl->n_top) : NAN;
    double mm_s = INFINITY, mm_f = INFINITY;
    for (int64_t i = 0; i < n; i++) {
        if (sup->margin[i] < mm_s) mm_s = sup->margin[i];
        if (fo->margin[i] < mm_f) mm_f = fo->margin[i];
    }
    snprintf(q, sizeof q, "%s/suppression", g);
    snprintf(d, sizeof d, "%s/head", q);
    if (put_pair(u, HE(SUPP_HEAD), d, pl->head_l, pl->head_h, err) != 0) goto done;
    {
        int32_t *tv = malloc((size_t)(2 * pl->n_top + 2) * sizeof *tv);
        if (!tv) {
            err_set(err, "%s: out of memory", c->unit_id);
            goto done;
        }
        for (int t = 0; t < 2 * pl->n_top; t++) tv[t] = pl->top[t];
        int64_t stp[2] = {pl->n_top, 2};
        snprintf(d, sizeof d, "%s/top%d_experts", q,
                 (int)rcfg_int(c->cfg, "heads_experts.suppression_top_experts"));
        int wrc = sch_write(u, HE(SUPP_TOP_EXPERTS), d, stp, tv, err);
        free(tv);
        if (wrc != 0) goto done;
    }
    const double mrr_drop = mrr_b - mrr_s;
    struct {
        const sch_entry *e;
        double v;
    } sv[] = {{HE(SUPP_MEAN_PROB_BASE), st->mean_prob_base},
              {HE(SUPP_MEAN_PROB_SUPPRESSED), mp_s},
              {HE(SUPP_PROB_CHANGE), mp_s - st->mean_prob_base},
              {HE(SUPP_PROB_CHANGE_REL), ratio(mp_s - st->mean_prob_base, st->mean_prob_base)},
              {HE(SUPP_HIT10_BASE), hit_b},
              {HE(SUPP_MRR_BASE), mrr_b},
              {HE(SUPP_HIT10_SUPPRESSED), hit_s},
              {HE(SUPP_MRR_SUPPRESSED), mrr_s},
              {HE(SUPP_MRR_DROP), mrr_drop},
              {HE(SUPP_MRR_DROP_REL), mrr_b >= rcfg_float(c->cfg, "heads_experts.min_mrr_drop")
                                          ? ratio(mrr_drop, mrr_b)
                                          : NAN},
              {HE(SUPP_MIN_LOGIT_MARGIN), mm_s},
              {HE(SUPP_MIN_ROUTER_GAP), sup->min_gap}};
    for (size_t t = 0; t < sizeof sv / sizeof *sv; t++)
        if (sch_attr_f64(u, sv[t].e, q, NULL, sv[t].v, err) != 0) goto done;

    /* forcing */
    snprintf(q, sizeof q, "%s/forcing", g);
    snprintf(d, sizeof d, "%s/expert", q);
    if (put_pair(u, HE(FORC_EXPERT), d, pl->exp_l, pl->exp_e, err) != 0) goto done;
    /* recovery is a ratio over the suppression's drop: below the tolerance (or a rise) it is
     * noise over noise (-160 %, 29306 %), so NaN with recovery_defined = 0 */
    const double tol = rcfg_float(c->cfg, "heads_experts.min_mrr_drop");
    const int rec_ok = mrr_drop >= tol && mrr_drop > 0;
    struct {
        const sch_entry *e;
        double v;
    } fv[] = {{HE(FORC_HIT10_FORCED), hit_f},
              {HE(FORC_MRR_FORCED), mrr_f},
              {HE(FORC_RECOVERY_FRACTION), rec_ok ? ratio(mrr_f - mrr_s, mrr_drop) : NAN},
              {HE(FORC_RECOVERY_DEFINED), rec_ok},
              {HE(FORC_MIN_MRR_DROP), tol},
              {HE(FORC_MRR_FORCED_OVER_BASE), mrr_b >= tol ? ratio(mrr_f, mrr_b) : NAN},
              {HE(FORC_EXPERT_PROB_BASE), st->expert_prob_base},
              {HE(FORC_EXPERT_PROB_SUPPRESSED), n ? sup->pair_prob_sum / (double)n : NAN},
              {HE(FORC_MIN_LOGIT_MARGIN), mm_f},
              {HE(FORC_MIN_ROUTER_GAP_OTHER_LAYERS), fo->min_gap_other}};
    for (size_t t = 0; t < sizeof fv / sizeof *fv; t++)
        if (fv[t].e == HE(FORC_RECOVERY_DEFINED)
                ? sch_attr_i64(u, fv[t].e, q, NULL, (int64_t)fv[t].v, err) != 0
                : sch_attr_f64(u, fv[t].e, q, NULL, fv[t].v, err) != 0)
            goto done;

    /* path */
    snprintf(q, sizeof q, "%s/path", g);
    snprintf(d, sizeof d, "%s/expert", q);
    if (put_pair(u, HE(PATH_EXPERT), d, pl->exp_l, pl->exp_e, err) != 0) goto done;
    static const sch_entry *const share[6][2] = {
        {HE(PATH_SHARE_OWN_LAYER_HEADS), HE(PATH_POOLED_SHARE_OWN_LAYER_HEADS)},
        {HE(PATH_SHARE_ALL_HEADS), HE(PATH_POOLED_SHARE_ALL_HEADS)},
        {HE(PATH_SHARE_PAIR_HEAD), HE(PATH_POOLED_SHARE_PAIR_HEAD)},
        {HE(PATH_SHARE_EMBEDDING), HE(PATH_POOLED_SHARE_EMBEDDING)},
        {HE(PATH_SHARE_FFN), HE(PATH_POOLED_SHARE_FFN)},
        {HE(PATH_SHARE_ATTN_BIAS), HE(PATH_POOLED_SHARE_ATTN_BIAS)}};
    int has_bias = base->abs_sum[5] > 0;
    for (int t = 0; t < 6; t++) {
        if (t == 5 && !has_bias) continue;
        if (sch_attr_f64(u, share[t][0], q, NULL, n ? base->share_sum[t] / (double)n : NAN, err) !=
                0 ||
            sch_attr_f64(u, share[t][1], q, NULL, ratio(base->abs_sum[t], base->abs_total), err) !=
                0)
            goto done;
    }
    if (sch_attr_f64(u, HE(PATH_MAX_REL_ERROR), q, NULL, base->worst_rel_err, err) != 0) goto done;
    rc = 0;
done:
    free(hs);
    free(es);
    free(rs);
    free(ps);
    free(ns);
    free(qs);
    free(pps);
    free(sv_k);
    return rc;
}

static int heads_experts_run(analysis_ctx *c, mp_err *err)
{
    const mcfg *cf = c->model_cfg;
    he_state st;
    he_sup sup;
    he_base base;
    he_forced fo;
    int rc = -1, ok = 1;
    memset(&st, 0, sizeof st);
    memset(&sup, 0, sizeof sup);
    memset(&base, 0, sizeof base);
    memset(&fo, 0, sizeof fo);
    st.c = c;
    st.pl.n = c->ps->n;
    st.pl.L = cf->num_hidden_layers;
    st.pl.nH = cf->num_attention_heads;
    st.pl.E = cf->num_experts;
    st.pl.k = cf->num_experts_per_tok;
    st.pl.H = cf->hidden_size;
    st.temporal = !strcmp(rcfg_str(c->cfg, "heads_experts.correlation"), "temporal");
    if (st.pl.E <= 0 || st.pl.E > 1024 || st.pl.k <= 0 || st.pl.k > st.pl.E)
        return err_set(err,
                       "%s: %s has %lld experts, top-%lld (expected a MoE model with at "
                       "most 1024 experts)",
                       c->unit_id, c->model_name, (long long)st.pl.E, (long long)st.pl.k);
    if (st.temporal && he_run_temporal(c, &st.tmp, err) != 0) ok = 0;
    if (c->rank == 0 && ok && decide(&st, err) != 0) ok = 0;
    if (share_plan(c, &st.pl, ok, err) != 0) goto done;
    if (st.pl.have_pair) {
        if (he_run_suppressed(c, &st.pl, &sup, err) != 0 ||
            he_run_base(c, &st.pl, &base, err) != 0 ||
            he_run_forced(c, &st.pl, &base, &fo, err) != 0)
            goto done;
    }
    if (c->rank == 0 && write_results(&st, &sup, &base, &fo, err) != 0) goto done;
    rc = 0;
done:
    he_sup_free(&sup);
    he_base_free(&base);
    he_forced_free(&fo);
    he_temporal_free(&st.tmp);
    free(st.pl.top);
    free(st.r);
    free(st.ranking);
    free(st.strongest);
    free(st.q);
    free(st.null_max);
    free(st.rank_base);
    free(st.prob);
    return rc;
}

/* Head / expert analyses (Table 4, section 4.3). */
/* clang-format off */
static const rcfg_key HEADS_EXPERTS_KEYS[] = {
    {"heads_experts", RCFG_MAP, 0, NULL, RCFG_NOLIM, NULL,
     "Attention head / expert correlation, suppression, forcing and path analysis."},
    {"heads_experts.correlation", RCFG_ENUM, 0, "static", RCFG_NOLIM, "static|temporal",
     "static: Pearson r over samples; temporal: over token positions with head output norms."},
    {"heads_experts.strongest", RCFG_INT, 0, "10", 1, 1e6, NULL,
     "How many strongest (largest |r|) pairs to report."},
    {"heads_experts.top_experts_for_pair", RCFG_INT, 0, "10", 1, 1e6, NULL,
     "The causal pair's expert must be among the relation's top this-many experts."},
    {"heads_experts.suppression_top_experts", RCFG_INT, 0, "4", 1, 1e6, NULL,
     "Top experts (layer >= the head's) whose routing probability suppression reports."},
    {"heads_experts.min_mrr_drop", RCFG_FLOAT, 0, "0.01", 0, 1, NULL,
     "Tolerance of the ratios over MRR: forcing's recovery fraction is undefined (NaN, "
     "recovery_defined = 0) when the suppression lowers the MRR by less; relative drops when the "
     "base MRR is below it."},
    {"heads_experts.permutations", RCFG_INT, 0, "1000", 20, 1e7, NULL,
     "Permutations of the null of the largest |r| per relation (multiple-testing control)."},
    {"heads_experts.seed", RCFG_INT, 0, "1", 0, 9e15, NULL,
     "Seed of the permutations (mixed with the relation id; a rerun draws the same ones)."},
    {"heads_experts.alpha", RCFG_FLOAT, 0, "0.05", 1e-9, 0.5, NULL,
     "Level at which a head-expert correlation survives multiple testing."},
    {"heads_experts.significance", RCFG_ENUM, 0, "permutation", RCFG_NOLIM, "permutation|fdr",
     "permutation: |r| beats the permutation null of the largest |r| (family-wise); fdr: "
     "Benjamini-Hochberg q-value <= alpha. The causal pair is chosen among survivors."},
};
/* clang-format on */

const analysis_def analysis_heads_experts = {
    .name = "heads_experts",
    .order = 40,
    .scope = ANALYSIS_PER_RELATION,
    .needs_model = 1,
    .moe_only = 1,
    .after = {"capture", "attribute", NULL},
    .run = heads_experts_run,
    .doc = "attention head / expert correlation (Table 4), head suppression, expert forcing "
           "and the path split of the router logit (section 4.3), analyses/<rel>/head_expert",
    .config = RCFG_SECTION(HEADS_EXPERTS_KEYS),
};
