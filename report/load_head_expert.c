/* load_head_expert.c — the head-expert analyses of a relation (analyses/<rel>/head_expert,
 * written by stages/heads_experts.c; entries in stages/schema_heads_experts.c): the correlation
 * matrix, the strongest pairs, the causal pair, its suppression, forcing and path analysis, and
 * the multiple-testing control (q-values, permutation null, survivors). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/archive.h"
#include "report/internal.h"
#include "stages/schema_heads_experts.h"

/* A (layer, index) pair dataset; 0 if read. */
static int get_idx(arc_reader *r, const sch_entry *e, const char *path, rep_idx *out)
{
    double *v;
    int64_t n;
    if (sch_get_vec(r, e, path, NULL, &v, &n) != 0) return -1;
    int ok = n == 2 && !isnan(v[0]) && !isnan(v[1]);
    if (ok) *out = (rep_idx){rep_i64(v[0]), rep_i64(v[1])};
    free(v);
    return ok ? 0 : -1;
}

/* `strongest`: datasets head [K,2], expert [K,2], r, p, n [K]. */
static void strongest_load(arc_reader *r, const char *g, rep_head_expert *he)
{
    char ph[512], pe[512], pr[512], pp[512], pn[512], pq[512], pm[512], ps[512];
    double *hv = NULL, *ev = NULL, *rv = NULL, *pv = NULL, *nv = NULL, *qv = NULL, *mv = NULL,
           *sv = NULL;
    int64_t nh = 0, ne = 0, nr = 0, np = 0, nn = 0, nq = 0, nm = 0, ns = 0;
    snprintf(ph, sizeof ph, "%s/strongest/head", g);
    snprintf(pe, sizeof pe, "%s/strongest/expert", g);
    snprintf(pr, sizeof pr, "%s/strongest/r", g);
    snprintf(pp, sizeof pp, "%s/strongest/p", g);
    snprintf(pn, sizeof pn, "%s/strongest/n", g);
    if (sch_get_vec(r, HE(STRONGEST_HEAD), ph, NULL, &hv, &nh) == 0 &&
        sch_get_vec(r, HE(STRONGEST_EXPERT), pe, NULL, &ev, &ne) == 0 &&
        sch_get_vec(r, HE(STRONGEST_R), pr, NULL, &rv, &nr) == 0 && nh == 2 * nr && ne == 2 * nr &&
        nr > 0 && (he->strongest = calloc((size_t)nr, sizeof *he->strongest))) {
        sch_get_vec(r, HE(STRONGEST_P), pp, NULL, &pv, &np);
        sch_get_vec(r, HE(STRONGEST_N), pn, NULL, &nv, &nn);
        snprintf(pq, sizeof pq, "%s/strongest/q", g);
        snprintf(pm, sizeof pm, "%s/strongest/p_perm", g);
        snprintf(ps, sizeof ps, "%s/strongest/survives", g);
        sch_get_vec(r, HE(STRONGEST_Q), pq, NULL, &qv, &nq);
        sch_get_vec(r, HE(STRONGEST_P_PERM), pm, NULL, &mv, &nm);
        sch_get_vec(r, HE(STRONGEST_SURVIVES), ps, NULL, &sv, &ns);
        he->n_strongest = (size_t)nr;
        for (int64_t i = 0; i < nr; i++) {
            rep_corr *c = &he->strongest[i];
            c->head = (rep_idx){rep_i64(hv[2 * i]), rep_i64(hv[2 * i + 1])};
            c->expert = (rep_idx){rep_i64(ev[2 * i]), rep_i64(ev[2 * i + 1])};
            c->r = rv[i];
            c->p = np == nr ? pv[i] : NAN;
            c->n = nn == nr ? nv[i] : NAN;
            c->q = nq == nr ? qv[i] : NAN;
            c->p_perm = nm == nr ? mv[i] : NAN;
            c->survives = ns == nr ? (int)rep_i64(sv[i]) : -1;
        }
    }
    free(qv);
    free(mv);
    free(sv);
    free(hv);
    free(ev);
    free(rv);
    free(pv);
    free(nv);
}

static void pair_load(arc_reader *r, const char *g, rep_head_expert *he)
{
    char p[512], q[600];
    snprintf(p, sizeof p, "%s/pair", g);
    snprintf(q, sizeof q, "%s/head", p);
    if (get_idx(r, HE(PAIR_HEAD), q, &he->pair.head) != 0) return;
    snprintf(q, sizeof q, "%s/expert", p);
    if (get_idx(r, HE(PAIR_EXPERT), q, &he->pair.expert) != 0) return;
    he->have_pair = 1;
    he->pair.r = sch_get_num(r, HE(PAIR_R), p, NULL);
    he->pair.p = sch_get_num(r, HE(PAIR_P), p, NULL);
    he->pair.n = sch_get_num(r, HE(PAIR_N), p, NULL);
    he->r_margin = sch_get_num(r, HE(PAIR_R_MARGIN), p, NULL);
    he->rank_in_top = sch_get_num(r, HE(PAIR_RANK_IN_TOP), p, NULL);
    he->pair.q = sch_get_num(r, HE(PAIR_Q), p, NULL);
    he->pair.p_perm = sch_get_num(r, HE(PAIR_P_PERM), p, NULL);
    double sv = sch_get_num(r, HE(PAIR_SURVIVES), p, NULL);
    he->pair.survives = isnan(sv) ? -1 : (int)rep_i64(sv);
}

/* The permutation null and the counts of survivors (analyses/<rel>/head_expert/null). */
static void null_load(arc_reader *r, const char *g, rep_head_expert *he)
{
    char p[512], q[600];
    snprintf(p, sizeof p, "%s/null", g);
    if (!sch_has(r, HE(NULL), p)) return;
    he->have_null = 1;
    char *s = sch_get_str(r, HE(SIGNIFICANCE), g, NULL);
    snprintf(he->significance, sizeof he->significance, "%s", s ? s : "?");
    free(s);
    he->alpha = sch_get_num(r, HE(ALPHA), p, NULL);
    he->p_max = sch_get_num(r, HE(NULL_P_MAX), p, NULL);
    he->max_abs_r = sch_get_num(r, HE(NULL_MAX_ABS_R_OBSERVED), p, NULL);
    he->permutations = sch_get_num(r, HE(NULL_PERMUTATIONS), p, NULL);
    he->n_survivors = sch_get_num(r, HE(N_SURVIVORS), p, NULL);
    he->n_fdr = sch_get_num(r, HE(N_FDR), p, NULL);
    he->n_beat = sch_get_num(r, HE(N_PERM_SIG), p, NULL);
    he->null_q50 = he->null_q95 = NAN;
    double *lv = NULL, *qv = NULL;
    int64_t nl = 0, nq = 0;
    snprintf(q, sizeof q, "%s/quantile_level", p);
    if (sch_get_vec(r, HE(NULL_QUANTILE_LEVEL), q, NULL, &lv, &nl) == 0) {
        snprintf(q, sizeof q, "%s/quantile", p);
        if (sch_get_vec(r, HE(NULL_QUANTILE), q, NULL, &qv, &nq) == 0 && nq == nl)
            for (int64_t t = 0; t < nl; t++) {
                if (lv[t] == 0.5) he->null_q50 = qv[t];
                if (lv[t] == 0.95) he->null_q95 = qv[t];
            }
    }
    free(lv);
    free(qv);
}

/* The watched experts: the one dataset top{N}_experts (N = suppression_top_experts). */
static void watched_load(arc_reader *r, const char *p, rep_head_expert *he)
{
    arc_names nm = {0};
    mp_err e;
    err_init(&e);
    if (arc_list(r, p, ARC_DATASET, &nm, &e) != 0) return;
    for (size_t i = 0; i < nm.n; i++) {
        char q[700];
        double *v;
        int64_t n;
        snprintf(q, sizeof q, "%s/%s", p, nm.v[i]);
        if (!sch_match(HE(SUPP_TOP_EXPERTS)->path, q) ||
            sch_get_vec(r, HE(SUPP_TOP_EXPERTS), q, NULL, &v, &n) != 0)
            continue;
        for (int64_t j = 0; j + 1 < n && he->n_top4 < 16; j += 2)
            he->top4[he->n_top4++] = (rep_idx){rep_i64(v[j]), rep_i64(v[j + 1])};
        free(v);
        break;
    }
    arc_names_free(&nm);
}

static void suppression_load(arc_reader *r, const char *g, rep_head_expert *he)
{
    char p[512];
    snprintf(p, sizeof p, "%s/suppression", g);
    if (!sch_has(r, HE(SUPP), p)) return;
    he->have_supp = 1;
    watched_load(r, p, he);
    he->prob_base = sch_get_num(r, HE(SUPP_MEAN_PROB_BASE), p, NULL);
    he->prob_supp = sch_get_num(r, HE(SUPP_MEAN_PROB_SUPPRESSED), p, NULL);
    he->prob_change = sch_get_num(r, HE(SUPP_PROB_CHANGE), p, NULL);
    he->prob_change_rel = sch_get_num(r, HE(SUPP_PROB_CHANGE_REL), p, NULL);
    he->hit10_base = sch_get_num(r, HE(SUPP_HIT10_BASE), p, NULL);
    he->mrr_base = sch_get_num(r, HE(SUPP_MRR_BASE), p, NULL);
    he->hit10_supp = sch_get_num(r, HE(SUPP_HIT10_SUPPRESSED), p, NULL);
    he->mrr_supp = sch_get_num(r, HE(SUPP_MRR_SUPPRESSED), p, NULL);
    he->mrr_drop = sch_get_num(r, HE(SUPP_MRR_DROP), p, NULL);
    he->mrr_drop_rel = sch_get_num(r, HE(SUPP_MRR_DROP_REL), p, NULL);
}

static void forcing_load(arc_reader *r, const char *g, rep_head_expert *he)
{
    char p[512];
    snprintf(p, sizeof p, "%s/forcing", g);
    if (!sch_has(r, HE(FORC), p)) return;
    he->have_forc = 1;
    he->hit10_forced = sch_get_num(r, HE(FORC_HIT10_FORCED), p, NULL);
    he->mrr_forced = sch_get_num(r, HE(FORC_MRR_FORCED), p, NULL);
    he->recovery = sch_get_num(r, HE(FORC_RECOVERY_FRACTION), p, NULL);
    double rd = sch_get_num(r, HE(FORC_RECOVERY_DEFINED), p, NULL);
    he->recovery_defined = isnan(rd) ? -1 : (int)rep_i64(rd);
    he->min_mrr_drop = sch_get_num(r, HE(FORC_MIN_MRR_DROP), p, NULL);
    he->forced_over_base = sch_get_num(r, HE(FORC_MRR_FORCED_OVER_BASE), p, NULL);
    he->eprob_base = sch_get_num(r, HE(FORC_EXPERT_PROB_BASE), p, NULL);
    he->eprob_supp = sch_get_num(r, HE(FORC_EXPERT_PROB_SUPPRESSED), p, NULL);
}

static void path_load(arc_reader *r, const char *g, rep_head_expert *he)
{
    char p[512];
    snprintf(p, sizeof p, "%s/path", g);
    if (!sch_has(r, HE(PATH), p)) return;
    he->have_path = 1;
    he->share_own = sch_get_num(r, HE(PATH_SHARE_OWN_LAYER_HEADS), p, NULL);
    he->share_all = sch_get_num(r, HE(PATH_SHARE_ALL_HEADS), p, NULL);
    he->share_pair_head = sch_get_num(r, HE(PATH_SHARE_PAIR_HEAD), p, NULL);
    he->share_emb = sch_get_num(r, HE(PATH_SHARE_EMBEDDING), p, NULL);
    he->share_ffn = sch_get_num(r, HE(PATH_SHARE_FFN), p, NULL);
}

void rep_head_expert_load(arc_reader *r, const char *rel, rep_head_expert *he)
{
    char g[512], p[600];
    memset(he, 0, sizeof *he);
    if (sch_path(g, sizeof g, NULL, HE(GROUP), rel) != 0 || !sch_has(r, HE(GROUP), g)) return;
    he->have = 1;
    snprintf(p, sizeof p, "%s/r", g);
    arc_array a;
    mp_err e;
    err_init(&e);
    if (sch_has(r, HE(R), p) && arc_read(r, p, &a, &e) == 0) {
        if (a.ndim == 2 && a.count > 0) {
            he->r = rep_arr_f64(&a);
            he->rows = a.shape[0];
            he->cols = a.shape[1];
        }
        arc_array_free(&a);
    }
    strongest_load(r, g, he);
    he->pair.survives = -1;
    pair_load(r, g, he);
    null_load(r, g, he);
    suppression_load(r, g, he);
    forcing_load(r, g, he);
    path_load(r, g, he);
}
