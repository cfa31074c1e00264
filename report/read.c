/* read.c — lenient readers of archive fields for the report: a field may be an
 * attribute or a dataset, a nested object a sub-group or "name_member" attributes. Anything
 * absent or unreadable is "not found" (-1 / NAN / NULL), never an error: the report announces
 * missing data instead of failing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/archive.h"
#include "report/internal.h"

/* ---- flexible readers ----------------------------------------------------------------------- */

/* Array of any numeric type as doubles; NULL for strings or on OOM. */
double *rep_arr_f64(const arc_array *a)
{
    if (a->type == ARC_STR) return NULL;
    double *v = malloc((a->count ? a->count : 1) * sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < a->count; i++) {
        switch (a->type) {
        case ARC_F32: v[i] = ((const float *)a->data)[i]; break;
        case ARC_F64: v[i] = ((const double *)a->data)[i]; break;
        case ARC_I32: v[i] = ((const int32_t *)a->data)[i]; break;
        case ARC_I64: v[i] = (double)((const int64_t *)a->data)[i]; break;
        default: v[i] = NAN;
        }
    }
    return v;
}

/* Reads group/name as an attribute of `group` or as a dataset `group/name`. 0 if found. */
int rep_read_any(arc_reader *r, const char *group, const char *name, arc_array *a)
{
    mp_err e;
    char p[512];
    err_init(&e);
    memset(a, 0, sizeof *a);
    if (arc_has_attr(r, group, name)) return arc_read_attr(r, group, name, a, &e);
    snprintf(p, sizeof p, "%s/%s", group, name);
    if (arc_kind_of(r, p) == ARC_DATASET) return arc_read(r, p, a, &e);
    return -1;
}

/* A numeric vector (any shape, flattened). 0 and *v malloc'd if found. */
int rep_get_vec(arc_reader *r, const char *group, const char *name, double **v, int64_t *n)
{
    arc_array a;
    *v = NULL;
    *n = 0;
    if (rep_read_any(r, group, name, &a) != 0) return -1;
    *v = rep_arr_f64(&a);
    *n = (int64_t)a.count;
    arc_array_free(&a);
    return *v ? 0 : -1;
}

double rep_get_num(arc_reader *r, const char *group, const char *name)
{
    double *v, x = NAN;
    int64_t n;
    if (rep_get_vec(r, group, name, &v, &n) == 0 && n == 1) x = v[0];
    if (n == 1 || v) free(v);
    return x;
}

/* group.name.member: a sub-group (or dataset) name/member, an attribute name_member or
 * name.member, or element `idx` of a vector `name`. */
double rep_get_member(arc_reader *r, const char *group, const char *name, const char *member,
                         int idx)
{
    char p[512], nm[256];
    double x;
    snprintf(p, sizeof p, "%s/%s", group, name);
    if (arc_kind_of(r, p) == ARC_GROUP && !isnan(x = rep_get_num(r, p, member))) return x;
    snprintf(nm, sizeof nm, "%s_%s", name, member);
    if (!isnan(x = rep_get_num(r, group, nm))) return x;
    snprintf(nm, sizeof nm, "%s.%s", name, member);
    if (!isnan(x = rep_get_num(r, group, nm))) return x;
    double *v;
    int64_t n;
    x = NAN;
    if (idx >= 0 && rep_get_vec(r, group, name, &v, &n) == 0) {
        if (idx < n) x = v[idx];
        free(v);
    }
    return x;
}

/* [layer, index] pair. 0 if found. */
int rep_get_idx(arc_reader *r, const char *group, const char *name, rep_idx *out)
{
    double *v;
    int64_t n;
    if (rep_get_vec(r, group, name, &v, &n) != 0) return -1;
    int ok = n == 2 && !isnan(v[0]) && !isnan(v[1]);
    if (ok) {
        out->l = (int64_t)v[0];
        out->i = (int64_t)v[1];
    }
    free(v);
    return ok ? 0 : -1;
}

char *rep_get_str(arc_reader *r, const char *path, const char *name)
{
    char *s = NULL;
    mp_err e;
    err_init(&e);
    if (!arc_has_attr(r, path, name)) return NULL;
    if (arc_read_attr_str(r, path, name, &s, &e) != 0) return NULL;
    return s;
}

/* All-digit suffix as a number, else -1. */
int64_t rep_digits(const char *s)
{
    if (!*s || strlen(s) > 9) return -1;
    for (const char *c = s; *c; c++)
        if (*c < '0' || *c > '9') return -1;
    return atol(s);
}

