/* load_head_expert.c — the head-expert analyses of a relation (analyses/<rel>/head_expert,
 * written by stages/heads_experts.c): the correlation matrix, the strongest pairs, the causal
 * pair, its suppression, forcing and path analysis. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/archive.h"
#include "report/internal.h"

/* ---- head-expert --------------------------------------------------------------------------- */

static void corr_fill(arc_reader *r, const char *g, rep_corr *c)
{
    c->r = rep_get_num(r, g, "r");
    c->p = rep_get_num(r, g, "p");
    c->n = rep_get_num(r, g, "n");
}

/* `strongest`: datasets head [K,2], expert [K,2], r, p, n [K] in a group, or one sub-group
 * per entry ("0", "1", ...; sorted numerically) with head, expert, r, p, n. */
static void strongest_load(arc_reader *r, const char *g, rep_head_expert *he)
{
    char p[512];
    snprintf(p, sizeof p, "%s/strongest", g);
    if (arc_kind_of(r, p) != ARC_GROUP) return;
    double *hv = NULL, *ev = NULL, *rv = NULL, *pv = NULL, *nv = NULL;
    int64_t nh = 0, ne = 0, nr = 0, np = 0, nn = 0;
    if (rep_get_vec(r, p, "head", &hv, &nh) == 0 && rep_get_vec(r, p, "expert", &ev, &ne) == 0 &&
        rep_get_vec(r, p, "r", &rv, &nr) == 0 && nh == 2 * nr && ne == 2 * nr && nr > 0) {
        rep_get_vec(r, p, "p", &pv, &np);
        rep_get_vec(r, p, "n", &nv, &nn);
        he->strongest = calloc((size_t)nr, sizeof *he->strongest);
        if (he->strongest) {
            he->n_strongest = (size_t)nr;
            for (int64_t i = 0; i < nr; i++) {
                rep_corr *c = &he->strongest[i];
                c->head = (rep_idx){(int64_t)hv[2 * i], (int64_t)hv[2 * i + 1]};
                c->expert = (rep_idx){(int64_t)ev[2 * i], (int64_t)ev[2 * i + 1]};
                c->r = rv[i];
                c->p = np == nr ? pv[i] : NAN;
                c->n = nn == nr ? nv[i] : nn == 1 ? nv[0] : NAN;
            }
        }
    } else {
        arc_names names;
        mp_err e;
        err_init(&e);
        if (arc_list(r, p, ARC_GROUP, &names, &e) == 0 && names.n > 0) {
            he->strongest = calloc(names.n, sizeof *he->strongest);
            /* entries named by number: order by value, not bytewise ("10" after "9") */
            for (size_t i = 0; he->strongest && i < names.n; i++) {
                for (size_t j = i + 1; j < names.n; j++)
                    if (atol(names.v[j]) < atol(names.v[i])) {
                        char *t = names.v[i];
                        names.v[i] = names.v[j];
                        names.v[j] = t;
                    }
                char q[600];
                rep_corr c;
                snprintf(q, sizeof q, "%s/%s", p, names.v[i]);
                if (rep_get_idx(r, q, "head", &c.head) != 0 || rep_get_idx(r, q, "expert", &c.expert) != 0)
                    continue;
                corr_fill(r, q, &c);
                he->strongest[he->n_strongest++] = c;
            }
            arc_names_free(&names);
        }
    }
    free(hv);
    free(ev);
    free(rv);
    free(pv);
    free(nv);
}

void rep_head_expert_load(arc_reader *r, const char *g, rep_head_expert *he)
{
    char p[512];
    memset(he, 0, sizeof *he);
    if (arc_kind_of(r, g) != ARC_GROUP) return;
    he->have = 1;
    snprintf(p, sizeof p, "%s/r", g);
    if (arc_kind_of(r, p) == ARC_DATASET) {
        arc_array a;
        mp_err e;
        err_init(&e);
        if (arc_read(r, p, &a, &e) == 0) {
            if (a.ndim == 2 && a.count > 0) {
                he->r = rep_arr_f64(&a);
                he->rows = a.shape[0];
                he->cols = a.shape[1];
            }
            arc_array_free(&a);
        }
    }
    strongest_load(r, g, he);
    snprintf(p, sizeof p, "%s/pair", g);
    if (arc_kind_of(r, p) == ARC_GROUP && rep_get_idx(r, p, "head", &he->pair.head) == 0 &&
        rep_get_idx(r, p, "expert", &he->pair.expert) == 0) {
        he->have_pair = 1;
        corr_fill(r, p, &he->pair);
        he->r_margin = rep_get_num(r, p, "r_margin_to_next");
        he->rank_in_top = rep_get_num(r, p, "expert_rank_in_top_experts");
    }
    snprintf(p, sizeof p, "%s/suppression", g);
    if (arc_kind_of(r, p) == ARC_GROUP) {
        double *v;
        int64_t n;
        he->have_supp = 1;
        /* top4_experts, or top{N}_experts for heads_experts.suppression_top_experts = N */
        arc_names nm = {0}, na = {0};
        mp_err e;
        err_init(&e);
        arc_list(r, p, ARC_DATASET, &nm, &e);
        arc_list_attrs(r, p, &na, &e);
        const char *found = NULL;
        for (size_t i = 0; i < nm.n + na.n && !found; i++) {
            const char *s = i < nm.n ? nm.v[i] : na.v[i - nm.n];
            size_t sl = strlen(s);
            if (!strncmp(s, "top", 3) && sl > 11 && !strcmp(s + sl - 8, "_experts")) found = s;
        }
        if (found && rep_get_vec(r, p, found, &v, &n) == 0) {
            for (int64_t i = 0; i + 1 < n && he->n_top4 < 16; i += 2)
                he->top4[he->n_top4++] = (rep_idx){(int64_t)v[i], (int64_t)v[i + 1]};
            free(v);
        }
        arc_names_free(&nm);
        arc_names_free(&na);
        he->prob_base = rep_get_num(r, p, "mean_prob_base");
        he->prob_supp = rep_get_num(r, p, "mean_prob_suppressed");
        he->prob_change = rep_get_num(r, p, "prob_change");
        he->prob_change_rel = rep_get_num(r, p, "prob_change_rel");
        he->hit10_base = rep_get_num(r, p, "hit10_base");
        he->mrr_base = rep_get_num(r, p, "mrr_base");
        he->hit10_supp = rep_get_num(r, p, "hit10_suppressed");
        he->mrr_supp = rep_get_num(r, p, "mrr_suppressed");
        he->mrr_drop = rep_get_num(r, p, "mrr_drop");
        he->mrr_drop_rel = rep_get_num(r, p, "mrr_drop_rel");
    }
    snprintf(p, sizeof p, "%s/forcing", g);
    if (arc_kind_of(r, p) == ARC_GROUP) {
        he->have_forc = 1;
        he->hit10_forced = rep_get_num(r, p, "hit10_forced");
        he->mrr_forced = rep_get_num(r, p, "mrr_forced");
        he->recovery = rep_get_num(r, p, "recovery_fraction");
        he->forced_over_base = rep_get_num(r, p, "mrr_forced_over_base");
        he->eprob_base = rep_get_num(r, p, "expert_prob_base");
        he->eprob_supp = rep_get_num(r, p, "expert_prob_suppressed");
    }
    snprintf(p, sizeof p, "%s/path", g);
    if (arc_kind_of(r, p) == ARC_GROUP) {
        he->have_path = 1;
        he->share_own = rep_get_num(r, p, "share_own_layer_heads");
        he->share_all = rep_get_num(r, p, "share_all_heads");
        he->share_pair_head = rep_get_num(r, p, "share_pair_head");
        he->share_emb = rep_get_num(r, p, "share_embedding");
        he->share_ffn = rep_get_num(r, p, "share_ffn");
    }
}
