/* schema.c — pattern matching of archive paths against the schema tables, and the writers and
 * readers that go through an entry. A writer that passes a path its entry does not describe
 * gets an error naming both: the schema and the code must change together. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/schema.h"

/* Matches the placeholder body ph (without braces, length n) at the start of s; tries every
 * length for the rest of the pattern to match. */
static int match_at(const char *p, const char *s);

static int match_ph(const char *ph, size_t n, const char *rest, const char *s)
{
    if (memchr(ph, '|', n)) {
        const char *a = ph, *end = ph + n;
        while (a < end) {
            const char *b = memchr(a, '|', (size_t)(end - a));
            if (!b) b = end;
            size_t l = (size_t)(b - a);
            if (!strncmp(s, a, l) && match_at(rest, s + l)) return 1;
            a = b + 1;
        }
        return 0;
    }
    int digits = (n == 1 && (ph[0] == 'N' || ph[0] == 'k'));
    for (size_t l = 1; s[l - 1] && s[l - 1] != '/'; l++) {
        if (digits && (s[l - 1] < '0' || s[l - 1] > '9')) return 0;
        if (match_at(rest, s + l)) return 1;
    }
    return 0;
}

static int match_at(const char *p, const char *s)
{
    for (;;) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (!close) return 0;
            return match_ph(p + 1, (size_t)(close - p - 1), close + 1, s);
        }
        if (*p != *s) return 0;
        if (!*p) return 1;
        p++;
        s++;
    }
}

int sch_match(const char *p, const char *s)
{
    return p && s && match_at(p, s);
}

/* match_at that also records what placeholder `ph` matched (the first way the pattern matches,
 * as match_at takes it). */
static int bind_at(const char *p, const char *s, const char *ph, const char **b, size_t *bl)
{
    for (;;) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            if (!close) return 0;
            size_t n = (size_t)(close - p - 1);
            int want = strlen(ph) == n && !strncmp(p + 1, ph, n);
            for (size_t l = 1; s[l - 1] && s[l - 1] != '/'; l++) {
                char sub[256];
                /* the placeholder alone must match s[0..l) */
                if (n + 3 > sizeof sub || l >= sizeof sub) return 0;
                memcpy(sub, p, n + 2);
                sub[n + 2] = '\0';
                char piece[256];
                memcpy(piece, s, l);
                piece[l] = '\0';
                if (!match_at(sub, piece)) continue;
                if (bind_at(close + 1, s + l, ph, b, bl)) {
                    if (want) *b = s, *bl = l;
                    return 1;
                }
            }
            return 0;
        }
        if (*p != *s) return 0;
        if (!*p) return 1;
        p++;
        s++;
    }
}

int sch_bind(const char *p, const char *s, const char *ph, char *buf, size_t len)
{
    const char *b = NULL;
    size_t bl = 0;
    if (!p || !s || !bind_at(p, s, ph, &b, &bl) || !b || bl + 1 > len) return -1;
    memcpy(buf, b, bl);
    buf[bl] = '\0';
    return 0;
}

int sch_dim_name(const sch_entry *e, const char *path, int i, int rows_are_tokens, char *buf,
                 size_t len)
{
    const char *d = (i == 0 && rows_are_tokens) ? "token" : e->dims[i];
    size_t o = 0;
    if (!d) return -1;
    for (const char *q = d; *q; q++) {
        char v[128];
        const char *src = q;
        size_t n = 1;
        if (*q == '{') {
            const char *close = strchr(q, '}');
            char ph[64];
            if (!close || (size_t)(close - q - 1) >= sizeof ph) return -1;
            memcpy(ph, q + 1, (size_t)(close - q - 1));
            ph[close - q - 1] = '\0';
            if (sch_bind(e->path, path, ph, v, sizeof v) != 0) return -1;
            src = v;
            n = strlen(v);
            q = close;
        }
        if (o + n + 1 > len) return -1;
        memcpy(buf + o, src, n);
        o += n;
    }
    buf[o] = '\0';
    return 0;
}

void sch_long_name(const char *description, char *buf, size_t len)
{
    size_t n = description ? strcspn(description, "(:;") : 0;
    while (n > 0 && description[n - 1] == ' ') n--;
    if (n + 1 > len) n = len ? len - 1 : 0;
    if (len) {
        if (n) memcpy(buf, description, n);
        buf[n] = '\0';
    }
}

const sch_dim *sch_dim_find(const char *name)
{
    for (size_t i = 0; i < SCH_N_DIMS; i++)
        if (sch_match(SCH_DIMS[i].name, name)) return &SCH_DIMS[i];
    return NULL;
}

const sch_entry *sch_find(const sch_table *t, sch_kind kind, const char *path, const char *name)
{
    for (size_t i = 0; i < t->n; i++) {
        const sch_entry *e = &t->e[i];
        if (e->kind == kind && sch_match(e->path, path) &&
            (kind != SCH_ATTR || sch_match(e->name, name)))
            return e;
    }
    return NULL;
}

int sch_path(char *buf, size_t len, mp_err *err, const sch_entry *e, ...)
{
    va_list ap;
    size_t o = 0;
    int rc = 0;
    va_start(ap, e);
    for (const char *p = e->path; *p && rc == 0; p++) {
        const char *v = NULL;
        size_t n = 1;
        if (*p == '{') {
            const char *close = strchr(p, '}');
            v = va_arg(ap, const char *);
            if (!close || !v || !*v || strchr(v, '/'))
                rc = -1;
            else
                n = strlen(v), p = close;
        }
        if (rc == 0 && o + n < len)
            memcpy(buf + o, v ? v : p, n), o += n;
        else
            rc = -1;
    }
    va_end(ap);
    if (len) buf[rc == 0 ? o : 0] = '\0';
    if (rc == 0 && sch_match(e->path, buf)) return 0;
    if (err)
        err_set(err,
                "archive schema: no valid path of the form %s fits %zu bytes with the values "
                "given (a relation id with '/' or too long?)",
                e->path, len);
    return -1;
}

const char *sch_kind_name(sch_kind k)
{
    return k == SCH_GROUP ? "group" : k == SCH_DATASET ? "dataset" : "attribute";
}

/* ---- writing ------------------------------------------------------------------------------- */

static int check_path(const sch_entry *e, sch_kind kind, const char *path, mp_err *err)
{
    if (e->kind != kind)
        return err_set(err, "archive schema: %s is written as a %s, but its entry \"%s\" is a %s",
                       path, sch_kind_name(kind), e->path, sch_kind_name(e->kind));
    if (!sch_match(e->path, path))
        return err_set(err, "archive schema: path %s does not match its entry \"%s\"", path,
                       e->path);
    return 0;
}

static int check_attr(const sch_entry *e, const char *obj, const char **name, arc_type t, int ndim,
                      mp_err *err)
{
    if (check_path(e, SCH_ATTR, obj, err) != 0) return -1;
    if (!*name) *name = e->name;
    if (!sch_match(e->name, *name))
        return err_set(err, "archive schema: attribute %s of %s does not match its entry \"%s\"",
                       *name, obj, e->name);
    if (e->type != t || e->ndim != ndim)
        return err_set(err,
                       "archive schema: attribute %s of %s is written as %s[%d], its entry "
                       "says %s[%d]",
                       *name, obj, arc_type_name(t), ndim, arc_type_name(e->type), e->ndim);
    return 0;
}

/* The entry's dimension names bound to path into names / dims. */
static int bind_dims(const sch_entry *e, const char *path, int rows_are_tokens,
                     char names[SCH_MAX_DIMS][ARC_DIM_NAME_LEN], const char *dims[SCH_MAX_DIMS],
                     mp_err *err)
{
    for (int i = 0; i < SCH_MAX_DIMS; i++) {
        dims[i] = NULL;
        if (i >= e->ndim) continue;
        if (sch_dim_name(e, path, i, rows_are_tokens, names[i], ARC_DIM_NAME_LEN) != 0)
            return err_set(err,
                           "archive schema: dimension %d (\"%s\") of %s cannot be named from "
                           "the path (entry \"%s\")",
                           i, e->dims[i] ? e->dims[i] : "(none)", path, e->path);
        dims[i] = names[i];
    }
    return 0;
}

/* units, long_name and description on the dataset just written. */
static int cf_attrs(arc_unit *u, const sch_entry *e, const char *path, mp_err *err)
{
    char ln[256];
    sch_long_name(e->description, ln, sizeof ln);
    if (!e->units || !e->description)
        return err_set(err, "archive schema: entry \"%s\" has no units or description", e->path);
    if (arc_attr_str(u, path, SCH_ATTR_UNITS, e->units, err) != 0 ||
        arc_attr_str(u, path, SCH_ATTR_LONG_NAME, ln, err) != 0 ||
        arc_attr_str(u, path, SCH_ATTR_DESCRIPTION, e->description, err) != 0)
        return -1;
    return 0;
}

int sch_write(arc_unit *u, const sch_entry *e, const char *path, const int64_t *shape,
              const void *data, mp_err *err)
{
    char names[SCH_MAX_DIMS][ARC_DIM_NAME_LEN];
    const char *dims[SCH_MAX_DIMS];
    if (check_path(e, SCH_DATASET, path, err) != 0 || bind_dims(e, path, 0, names, dims, err) != 0)
        return -1;
    if (arc_write(u, path, e->type, e->ndim, shape, dims, data, err) != 0) return -1;
    return cf_attrs(u, e, path, err);
}

int sch_stream_open(arc_unit *u, const sch_entry *e, const char *path, const int64_t *row_shape,
                    int rows_are_tokens, arc_stream **s, mp_err *err)
{
    char names[SCH_MAX_DIMS][ARC_DIM_NAME_LEN];
    const char *dims[SCH_MAX_DIMS];
    if (check_path(e, SCH_DATASET, path, err) != 0) return -1;
    if (rows_are_tokens && !(e->when & SCH_TOKEN_ROWS))
        return err_set(err,
                       "archive schema: %s is written with one row per token, but its entry "
                       "\"%s\" has one row per sample",
                       path, e->path);
    if (bind_dims(e, path, rows_are_tokens, names, dims, err) != 0) return -1;
    if (arc_stream_open(u, path, e->type, e->ndim, row_shape, dims, s, err) != 0) return -1;
    return cf_attrs(u, e, path, err);
}

int sch_attr_f64(arc_unit *u, const sch_entry *e, const char *obj, const char *name, double v,
                 mp_err *err)
{
    if (check_attr(e, obj, &name, ARC_F64, 0, err) != 0) return -1;
    return arc_attr_f64(u, obj, name, v, err);
}

int sch_attr_i64(arc_unit *u, const sch_entry *e, const char *obj, const char *name, int64_t v,
                 mp_err *err)
{
    if (check_attr(e, obj, &name, ARC_I64, 0, err) != 0) return -1;
    return arc_attr_i64(u, obj, name, v, err);
}

int sch_attr_str(arc_unit *u, const sch_entry *e, const char *obj, const char *name, const char *v,
                 mp_err *err)
{
    if (check_attr(e, obj, &name, ARC_STR, 0, err) != 0) return -1;
    return arc_attr_str(u, obj, name, v, err);
}

int sch_attr_f64_array(arc_unit *u, const sch_entry *e, const char *obj, const char *name, size_t n,
                       const double *v, mp_err *err)
{
    if (check_attr(e, obj, &name, ARC_F64, 1, err) != 0) return -1;
    return arc_attr_f64_array(u, obj, name, n, v, err);
}

int sch_attr_i64_array(arc_unit *u, const sch_entry *e, const char *obj, const char *name, size_t n,
                       const int64_t *v, mp_err *err)
{
    if (check_attr(e, obj, &name, ARC_I64, 1, err) != 0) return -1;
    return arc_attr_i64_array(u, obj, name, n, v, err);
}

/* ---- reading ------------------------------------------------------------------------------- */

/* The entry's object at path (name NULL = the entry's) into a; 0 if read. A path or name that
 * the entry does not describe is "not found": the caller asked for another layout. */
static int read_entry(arc_reader *r, const sch_entry *e, const char *path, const char *name,
                      arc_array *a)
{
    mp_err err;
    err_init(&err);
    memset(a, 0, sizeof *a);
    if (!sch_match(e->path, path)) return -1;
    if (e->kind == SCH_ATTR) {
        if (!name) name = e->name;
        if (!sch_match(e->name, name) || !arc_has_attr(r, path, name)) return -1;
        return arc_read_attr(r, path, name, a, &err);
    }
    if (e->kind != SCH_DATASET || arc_kind_of(r, path) != ARC_DATASET) return -1;
    return arc_read(r, path, a, &err);
}

static double *to_f64(const arc_array *a)
{
    if (a->type == ARC_STR) return NULL;
    double *v = malloc((a->count ? a->count : 1) * sizeof *v);
    for (size_t i = 0; v && i < a->count; i++) {
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

int sch_get_vec(arc_reader *r, const sch_entry *e, const char *path, const char *name, double **v,
                int64_t *n)
{
    arc_array a;
    *v = NULL;
    *n = 0;
    if (read_entry(r, e, path, name, &a) != 0) return -1;
    *v = to_f64(&a);
    *n = (int64_t)a.count;
    arc_array_free(&a);
    if (!*v) *n = 0;
    return *v ? 0 : -1;
}

double sch_get_num(arc_reader *r, const sch_entry *e, const char *path, const char *name)
{
    double *v, x = NAN;
    int64_t n;
    if (sch_get_vec(r, e, path, name, &v, &n) != 0) return NAN;
    if (n == 1) x = v[0];
    free(v);
    return x;
}

char *sch_get_str(arc_reader *r, const sch_entry *e, const char *path, const char *name)
{
    arc_array a;
    char *s = NULL;
    if (read_entry(r, e, path, name, &a) != 0) return NULL;
    if (a.type == ARC_STR && a.count == 1) s = strdup(((char **)a.data)[0]);
    arc_array_free(&a);
    return s;
}

int sch_has(arc_reader *r, const sch_entry *e, const char *path)
{
    if (e->kind == SCH_ATTR || !sch_match(e->path, path)) return 0;
    return arc_kind_of(r, path) == (e->kind == SCH_GROUP ? ARC_GROUP : ARC_DATASET);
}
