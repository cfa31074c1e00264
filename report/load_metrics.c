/* load_metrics.c — a relation's metrics (metrics/<rel>, written by stages/capture.c and
 * stages/block.c): HIT@10, MRR, n, the top experts and every configuration's HIT@10 / MRR
 * (block{N}, topk{k}, the named shared-expert ablations in the paper's order). Entries:
 * stages/schema_evaluate.c and stages/schema_block.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/archive.h"
#include "report/internal.h"
#include "stages/schema_block.h"
#include "stages/schema_evaluate.h"

static int cfg_cmp(const void *a, const void *b)
{
    const rep_cfg *x = a, *y = b;
    return x->num < y->num ? -1 : x->num > y->num;
}

/* Named ablations in the paper's order (Table 2); others follow sorted by name. */
static const char *const NAMED_ORDER[] = {"only_top1",  "only_top2",   "only_shared",
                                          "shared_2nd", "shared_top1", "shared_top2"};

static int named_rank(const char *s)
{
    for (size_t i = 0; i < sizeof NAMED_ORDER / sizeof *NAMED_ORDER; i++)
        if (!strcmp(s, NAMED_ORDER[i])) return (int)i;
    return 100;
}

static int named_cmp(const void *a, const void *b)
{
    const rep_cfg *x = a, *y = b;
    int rx = named_rank(x->name), ry = named_rank(y->name);
    return rx != ry ? rx - ry : strcmp(x->name, y->name);
}

static void cfg_push(rep_cfg **v, size_t *n, const char *name, int64_t num, double hit, double mrr)
{
    rep_cfg *nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv) return;
    *v = nv;
    snprintf(nv[*n].name, sizeof nv[*n].name, "%s", name);
    nv[*n].num = num;
    nv[*n].hit10 = hit;
    nv[*n].mrr = mrr;
    (*n)++;
}

void rep_metrics_load(arc_reader *r, const char *rel, rep_relation *rl)
{
    arc_names names;
    mp_err e;
    char g[512], p[512];
    err_init(&e);
    rl->n = rl->hit10 = rl->mrr = NAN;
    if (sch_path(g, sizeof g, NULL, EVAL(METRICS_REL), rel) != 0 ||
        !sch_has(r, EVAL(METRICS_REL), g))
        return;
    rl->have_metrics = 1;
    rl->n = sch_get_num(r, EVAL(MET_N), g, NULL);
    rl->hit10 = sch_get_num(r, EVAL(MET_HIT10), g, NULL);
    rl->mrr = sch_get_num(r, EVAL(MET_MRR), g, NULL);
    double *v;
    int64_t n;
    if (sch_path(p, sizeof p, NULL, EVAL(MET_TOP_EXPERTS), rel) == 0 &&
        sch_get_vec(r, EVAL(MET_TOP_EXPERTS), p, NULL, &v, &n) == 0) {
        for (int64_t i = 0; i + 2 < n && rl->n_top < 10; i += 3) {
            rl->top[rl->n_top][0] = rep_i64(v[i]);
            rl->top[rl->n_top][1] = rep_i64(v[i + 1]);
            rl->top[rl->n_top][2] = rep_i64(v[i + 2]);
            rl->n_top++;
        }
        free(v);
    }
    /* every configuration's MRR attribute (block{N}, topk{k}, the named ones) with its HIT@10 */
    static const struct {
        const sch_entry *mrr, *hit;
        int kind;
    } CFG[] = {{BLK(MET_MRR_BLOCK), BLK(MET_HIT10_BLOCK), 0},
               {BLK(MET_MRR_TOPK), BLK(MET_HIT10_TOPK), 1},
               {BLK(MET_MRR_NAMED), BLK(MET_HIT10_NAMED), 2},
               {BLK(MET_MRR_ONLY), BLK(MET_HIT10_ONLY), 3}};
    if (arc_list_attrs(r, g, &names, &e) != 0) return;
    for (size_t i = 0; i < names.n; i++) {
        const char *a = names.v[i];
        for (size_t k = 0; k < sizeof CFG / sizeof *CFG; k++) {
            if (!sch_match(CFG[k].mrr->name, a)) continue;
            const char *cfg = a + 4; /* after "mrr_" */
            char hn[128];
            snprintf(hn, sizeof hn, "hit10_%s", cfg);
            double mrr = sch_get_num(r, CFG[k].mrr, g, a), hit = sch_get_num(r, CFG[k].hit, g, hn);
            if (CFG[k].kind == 0)
                cfg_push(&rl->block, &rl->n_block, cfg + 5, rep_digits(cfg + 5), hit, mrr);
            else if (CFG[k].kind == 1)
                cfg_push(&rl->topk, &rl->n_topk, cfg + 4, rep_digits(cfg + 4), hit, mrr);
            else if (CFG[k].kind == 3) /* only_rank{j}: named, numbered by j */
                cfg_push(&rl->named, &rl->n_named, cfg, rep_digits(cfg + 9), hit, mrr);
            else
                cfg_push(&rl->named, &rl->n_named, cfg, -1, hit, mrr);
        }
    }
    arc_names_free(&names);
    if (rl->n_block > 1) qsort(rl->block, rl->n_block, sizeof *rl->block, cfg_cmp);
    if (rl->n_topk > 1) qsort(rl->topk, rl->n_topk, sizeof *rl->topk, cfg_cmp);
    if (rl->n_named > 1) qsort(rl->named, rl->n_named, sizeof *rl->named, named_cmp);
}
