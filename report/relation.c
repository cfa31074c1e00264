/* relation.c — per-relation numbers that several sections share: the metrics getters, a
 * relation's configurations (block{N}, topk{k}), blocking drops, means over relations and the
 * one-sentence note for a section whose data a model lacks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/internal.h"

double rep_mean_rel(const rep_model *m, double (*get)(const rep_relation *, const void *),
                    const void *arg, int *count)
{
    double sw = 0, s = 0;
    int c = 0;
    for (size_t i = 0; i < m->n_rel; i++) {
        double v = get(&m->rel[i], arg);
        if (!isfinite(v)) continue;
        double w = isfinite(m->rel[i].n) && m->rel[i].n > 0 ? m->rel[i].n : 1;
        s += w * v;
        sw += w;
        c++;
    }
    if (count) *count = c;
    return c ? s / sw : NAN;
}

double rep_get_hit10(const rep_relation *r, const void *a)
{
    (void)a;
    return r->have_metrics ? r->hit10 : NAN;
}

double rep_get_mrr(const rep_relation *r, const void *a)
{
    (void)a;
    return r->have_metrics ? r->mrr : NAN;
}

/* The largest blocked N the model has, or -1. */
int64_t rep_max_block_n(const rep_model *m)
{
    int64_t best = -1;
    for (size_t i = 0; i < m->n_rel; i++)
        for (size_t j = 0; j < m->rel[i].n_block; j++)
            if (m->rel[i].block[j].num > best) best = m->rel[i].block[j].num;
    return best;
}

const rep_cfg *rep_find_cfg(const rep_cfg *v, size_t n, int64_t num)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].num == num) return &v[i];
    return NULL;
}

/* MRR drop (base - blocked) of a relation at N = *(int64_t *)arg; relative when rel. */
double rep_block_drop(const rep_relation *r, int64_t N, int rel)
{
    const rep_cfg *c = rep_find_cfg(r->block, r->n_block, N);
    if (!c || !isfinite(c->mrr) || !isfinite(r->mrr)) return NAN;
    if (rel) return r->mrr > 0 ? (r->mrr - c->mrr) / r->mrr : NAN;
    return r->mrr - c->mrr;
}

double rep_get_drop_abs(const rep_relation *r, const void *a)
{
    return rep_block_drop(r, *(const int64_t *)a, 0);
}

double rep_get_drop_rel(const rep_relation *r, const void *a)
{
    return rep_block_drop(r, *(const int64_t *)a, 1);
}

/* Unweighted mean over relations (blocking drops are per relation, as in Figure 7). */
double rep_mean_plain(const rep_model *m, double (*get)(const rep_relation *, const void *),
                      const void *arg, int *count)
{
    double s = 0;
    int c = 0;
    for (size_t i = 0; i < m->n_rel; i++) {
        double v = get(&m->rel[i], arg);
        if (isfinite(v)) s += v, c++;
    }
    if (count) *count = c;
    return c ? s / c : NAN;
}

/* Sorted union of the `num` of every relation's block (which = 0) or topk (1) configs. */
int rep_union_nums(const rep_model *m, size_t n, int which, int64_t *out, int max)
{
    int k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m[i].n_rel; j++) {
            const rep_relation *r = &m[i].rel[j];
            const rep_cfg *v = which ? r->topk : r->block;
            size_t nv = which ? r->n_topk : r->n_block;
            for (size_t q = 0; q < nv; q++) {
                int seen = 0;
                for (int t = 0; t < k && !seen; t++) seen = out[t] == v[q].num;
                if (!seen && k < max) out[k++] = v[q].num;
            }
        }
    for (int a = 1; a < k; a++)
        for (int b = a; b > 0 && out[b - 1] > out[b]; b--) {
            int64_t t = out[b];
            out[b] = out[b - 1];
            out[b - 1] = t;
        }
    return k;
}

int rep_has_block(const rep_model *m)
{
    for (size_t j = 0; j < m->n_rel; j++)
        if (m->rel[j].n_block) return 1;
    return 0;
}

void rep_note_missing(rep_doc *d, const rep_model *m, const char *what, const char *stage, int moe)
{
    char why[400];
    doc_note(d, "%s of %s: %s.", what, m->name, rep_why_missing(m, stage, moe, why, sizeof why));
}
