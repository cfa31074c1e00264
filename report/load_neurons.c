/* load_neurons.c — the neuron analyses (analyses/<rel>/neurons/top{N} and
 * analyses/pooled/neurons/top{N}, written by stages/neurons.c), and every field of a neurons
 * group as text for the key / value tables. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/archive.h"
#include "report/internal.h"


void rep_fields_add(rep_fields *f, const char *key, const arc_array *a)
{
    char buf[1024];
    size_t o = 0;
    double num = NAN;
    buf[0] = 0;
    if (a->type == ARC_STR) {
        char **s = a->data;
        for (size_t i = 0; i < a->count && i < 12 && o < sizeof buf - 64; i++)
            o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", i ? ", " : "", s[i]);
        if (a->count > 12) snprintf(buf + o, sizeof buf - o, ", … (%zu)", a->count);
    } else {
        double *v = rep_arr_f64(a);
        if (!v) return;
        int64_t cols = a->ndim >= 2 ? a->shape[a->ndim - 1] : 1;
        int tuple = a->ndim >= 2 && cols <= 4;
        size_t shown = 0, limit = tuple ? 10 : 12;
        if (a->count == 1) num = v[0];
        for (size_t i = 0; i < a->count && o < sizeof buf - 80; i += tuple ? (size_t)cols : 1) {
            if (shown == limit) {
                snprintf(buf + o, sizeof buf - o, ", … (%lld)", (long long)(tuple ? a->count / (size_t)cols : a->count));
                o = strlen(buf);
                break;
            }
            if (shown) o += (size_t)snprintf(buf + o, sizeof buf - o, ", ");
            if (tuple) {
                o += (size_t)snprintf(buf + o, sizeof buf - o, "(");
                for (int64_t j = 0; j < cols; j++)
                    o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%.4g", j ? ", " : "", v[i + (size_t)j]);
                o += (size_t)snprintf(buf + o, sizeof buf - o, ")");
            } else {
                o += (size_t)snprintf(buf + o, sizeof buf - o, "%.4g", v[i]);
            }
            shown++;
        }
        free(v);
    }
    rep_field *nv = realloc(f->v, (f->n + 1) * sizeof *nv);
    if (!nv) return;
    f->v = nv;
    nv[f->n].key = strdup(key);
    nv[f->n].text = strdup(buf);
    nv[f->n].num = num;
    if (nv[f->n].key && nv[f->n].text) f->n++;
    else {
        free(nv[f->n].key);
        free(nv[f->n].text);
    }
}

/* Every attribute and dataset under group g (recursively, depth <= 4); keys relative to base. */
void rep_fields_load(arc_reader *r, const char *g, size_t base, rep_fields *f, int depth)
{
    arc_names names;
    mp_err e;
    err_init(&e);
    if (depth > 4) return;
    if (arc_list_attrs(r, g, &names, &e) == 0) {
        for (size_t i = 0; i < names.n; i++) {
            arc_array a;
            char key[600];
            if (!strcmp(names.v[i], "DIMENSION_LABELS")) continue;
            if (arc_read_attr(r, g, names.v[i], &a, &e) != 0) continue;
            snprintf(key, sizeof key, "%s%s%s", g + base, g[base] ? "/" : "", names.v[i]);
            rep_fields_add(f, key, &a);
            arc_array_free(&a);
        }
        arc_names_free(&names);
    }
    if (arc_list(r, g, ARC_NONE, &names, &e) != 0) return;
    for (size_t i = 0; i < names.n; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", g, names.v[i]);
        arc_kind k = arc_kind_of(r, p);
        if (k == ARC_GROUP) {
            rep_fields_load(r, p, base, f, depth + 1);
        } else if (k == ARC_DATASET) {
            arc_array a;
            if (arc_read(r, p, &a, &e) == 0) {
                rep_fields_add(f, p + base, &a);
                arc_array_free(&a);
            }
        }
    }
    arc_names_free(&names);
}

/* (a, b, c) rows of an [K, 3] integer dataset. */
static int triples(arc_reader *r, const char *g, const char *name, int64_t out[16][3])
{
    double *v;
    int64_t n;
    int k = 0;
    if (rep_get_vec(r, g, name, &v, &n) != 0) return 0;
    for (int64_t i = 0; i + 2 < n && k < 16; i += 3, k++)
        for (int j = 0; j < 3; j++) out[k][j] = (int64_t)v[i + j];
    free(v);
    return k;
}

static int ntop_cmp(const void *a, const void *b)
{
    const rep_ntop *x = a, *y = b;
    return x->N < y->N ? -1 : x->N > y->N;
}

/* The top{N} groups under g (a neurons group), sorted by N. */
void rep_ntop_load(arc_reader *r, const char *g, rep_ntop **out, size_t *nout)
{
    arc_names names;
    mp_err e;
    err_init(&e);
    *out = NULL;
    *nout = 0;
    if (arc_kind_of(r, g) != ARC_GROUP || arc_list(r, g, ARC_GROUP, &names, &e) != 0) return;
    for (size_t i = 0; i < names.n; i++) {
        if (strncmp(names.v[i], "top", 3) != 0 || rep_digits(names.v[i] + 3) < 0) continue;
        rep_ntop *nv = realloc(*out, (*nout + 1) * sizeof *nv);
        if (!nv) break;
        *out = nv;
        rep_ntop *t = &nv[*nout];
        char p[600];
        memset(t, 0, sizeof *t);
        snprintf(p, sizeof p, "%s/%s", g, names.v[i]);
        t->N = rep_digits(names.v[i] + 3);
        t->n = rep_get_num(r, p, "n");
        t->frac_shared = rep_get_num(r, p, "frac_shared");
        t->frac_routed = rep_get_num(r, p, "frac_routed");
        t->frac_dense = rep_get_num(r, p, "frac_dense");
        t->jaccard = rep_get_num(r, p, "jaccard");
        t->overlap_pct = rep_get_num(r, p, "overlap_pct");
        t->union_size = rep_get_num(r, p, "union_size");
        t->shared_jaccard = rep_get_num(r, p, "shared_jaccard");
        t->shared_overlap_pct = rep_get_num(r, p, "shared_overlap_pct");
        t->shared_union_size = rep_get_num(r, p, "shared_union_size");
        t->n_top_experts = triples(r, p, "top_experts", t->top_experts);
        t->n_top_shared = triples(r, p, "top_shared_neurons", t->top_shared);
        /* pooled: the relations and their [R, R] overlaps */
        char q[700];
        snprintf(q, sizeof q, "%s/relations", p);
        arc_array a;
        if (arc_kind_of(r, q) == ARC_DATASET && arc_read(r, q, &a, &e) == 0) {
            if (a.type == ARC_STR && a.count > 0 && (t->relations = calloc(a.count, sizeof *t->relations))) {
                for (size_t j = 0; j < a.count; j++) t->relations[j] = strdup(((char **)a.data)[j]);
                t->n_relations = (int64_t)a.count;
            }
            arc_array_free(&a);
        }
        int64_t nn;
        if (t->n_relations && rep_get_vec(r, p, "pair_overlap_pct", &t->pair_overlap, &nn) == 0 &&
            nn != t->n_relations * t->n_relations) {
            free(t->pair_overlap);
            t->pair_overlap = NULL;
        }
        if (t->n_relations && rep_get_vec(r, p, "shared_pair_overlap_pct", &t->shared_pair_overlap, &nn) == 0 &&
            nn != t->n_relations * t->n_relations) {
            free(t->shared_pair_overlap);
            t->shared_pair_overlap = NULL;
        }
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

void rep_fields_free(rep_fields *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].key);
        free(f->v[i].text);
    }
    free(f->v);
    memset(f, 0, sizeof *f);
}
