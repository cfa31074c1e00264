/* load_neurons.c — the neuron analyses (analyses/<rel>/neurons/top{N} and
 * analyses/pooled/neurons/top{N}, written by stages/neurons.c; entries in
 * stages/schema_neurons.c): kind shares, overlaps, the top experts and shared neurons, and the
 * pooled [relation, relation] overlap matrices. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/archive.h"
#include "report/internal.h"
#include "stages/schema_neurons.h"

/* (a, b, c) rows of an [K, 3] integer dataset g/name. */
static int triples(arc_reader *r, const sch_entry *e, const char *g, const char *name,
                   int64_t out[16][3])
{
    char p[700];
    double *v;
    int64_t n;
    int k = 0;
    snprintf(p, sizeof p, "%s/%s", g, name);
    if (sch_get_vec(r, e, p, NULL, &v, &n) != 0) return 0;
    for (int64_t i = 0; i + 2 < n && k < 16; i += 3, k++)
        for (int j = 0; j < 3; j++) out[k][j] = rep_i64(v[i + j]);
    free(v);
    return k;
}

/* A [R, R] matrix g/name, or NULL if absent or not R x R. */
static double *matrix(arc_reader *r, const sch_entry *e, const char *g, const char *name, int64_t R)
{
    char p[700];
    double *v;
    int64_t n;
    snprintf(p, sizeof p, "%s/%s", g, name);
    if (sch_get_vec(r, e, p, NULL, &v, &n) != 0) return NULL;
    if (n == R * R) return v;
    free(v);
    return NULL;
}

static void relations_load(arc_reader *r, const char *g, rep_ntop *t)
{
    char q[700];
    arc_array a;
    mp_err e;
    err_init(&e);
    snprintf(q, sizeof q, "%s/relations", g);
    if (!sch_has(r, NEU(POOLED_RELATIONS), q) || arc_read(r, q, &a, &e) != 0) return;
    if (a.type == ARC_STR && a.count > 0 &&
        (t->relations = calloc(a.count, sizeof *t->relations))) {
        for (size_t j = 0; j < a.count; j++) t->relations[j] = strdup(((char **)a.data)[j]);
        t->n_relations = (int64_t)a.count;
    }
    arc_array_free(&a);
    t->pair_overlap =
        matrix(r, NEU(POOLED_PAIR_OVERLAP_PCT), g, "pair_overlap_pct", t->n_relations);
    t->shared_pair_overlap = matrix(r, NEU(POOLED_SHARED_PAIR_OVERLAP_PCT), g,
                                    "shared_pair_overlap_pct", t->n_relations);
}

/* One top{N} group g: a relation's, or (pooled) the cross-relation one. */
static void ntop_fill(arc_reader *r, const char *g, int pooled, int64_t N, rep_ntop *t)
{
    memset(t, 0, sizeof *t);
    t->N = N;
    t->n = sch_get_num(r, pooled ? NEU(POOLED_SAMPLES) : NEU(REL_SAMPLES), g, NULL);
    t->frac_shared =
        sch_get_num(r, pooled ? NEU(POOLED_FRAC_SHARED) : NEU(REL_FRAC_SHARED), g, NULL);
    t->frac_routed =
        sch_get_num(r, pooled ? NEU(POOLED_FRAC_ROUTED) : NEU(REL_FRAC_ROUTED), g, NULL);
    t->frac_dense = sch_get_num(r, pooled ? NEU(POOLED_FRAC_DENSE) : NEU(REL_FRAC_DENSE), g, NULL);
    t->jaccard = t->overlap_pct = t->union_size = NAN;
    t->shared_jaccard = t->shared_overlap_pct = t->shared_union_size = NAN;
    if (pooled) {
        relations_load(r, g, t);
        return;
    }
    t->jaccard = sch_get_num(r, NEU(REL_JACCARD), g, NULL);
    t->overlap_pct = sch_get_num(r, NEU(REL_OVERLAP_PCT), g, NULL);
    t->union_size = sch_get_num(r, NEU(REL_UNION_SIZE), g, NULL);
    t->shared_jaccard = sch_get_num(r, NEU(REL_SHARED_JACCARD), g, NULL);
    t->shared_overlap_pct = sch_get_num(r, NEU(REL_SHARED_OVERLAP_PCT), g, NULL);
    t->shared_union_size = sch_get_num(r, NEU(REL_SHARED_UNION_SIZE), g, NULL);
    t->n_top_experts = triples(r, NEU(REL_TOP_EXPERTS), g, "top_experts", t->top_experts);
    t->n_top_shared = triples(r, NEU(REL_TOP_SHARED), g, "top_shared_neurons", t->top_shared);
}

static int ntop_cmp(const void *a, const void *b)
{
    const rep_ntop *x = a, *y = b;
    return x->N < y->N ? -1 : x->N > y->N;
}

void rep_ntop_load(arc_reader *r, const char *rel, rep_ntop **out, size_t *nout)
{
    const sch_entry *ge = rel ? NEU(REL) : NEU(POOLED), *te = rel ? NEU(REL_TOP) : NEU(POOLED_TOP);
    char g[512];
    arc_names names;
    mp_err e;
    err_init(&e);
    *out = NULL;
    *nout = 0;
    if ((rel ? sch_path(g, sizeof g, NULL, ge, rel) : sch_path(g, sizeof g, NULL, ge)) != 0 ||
        !sch_has(r, ge, g) || arc_list(r, g, ARC_GROUP, &names, &e) != 0)
        return;
    for (size_t i = 0; i < names.n; i++) {
        char p[700];
        snprintf(p, sizeof p, "%s/%s", g, names.v[i]);
        if (!sch_match(te->path, p)) continue;
        rep_ntop *nv = realloc(*out, (*nout + 1) * sizeof *nv);
        if (!nv) break;
        *out = nv;
        ntop_fill(r, p, !rel, rep_digits(names.v[i] + 3), &nv[*nout]);
        (*nout)++;
    }
    arc_names_free(&names);
    if (*nout > 1) qsort(*out, *nout, sizeof **out, ntop_cmp);
}

void rep_ntop_free(rep_ntop *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < t[i].n_relations; j++) free(t[i].relations[j]);
        free(t[i].relations);
        free(t[i].pair_overlap);
        free(t[i].shared_pair_overlap);
    }
    free(t);
}
