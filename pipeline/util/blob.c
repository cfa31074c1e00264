/* blob.c — see blob.h. */
#include "pipeline/util/blob.h"

#include <stdlib.h>
#include <string.h>

static size_t type_size(blob_type t)
{
    switch (t) {
    case BLOB_F32:
    case BLOB_I32: return 4;
    case BLOB_F64:
    case BLOB_I64: return 8;
    case BLOB_STR: return 1;
    }
    return 0;
}

void blob_init(blob *b)
{
    memset(b, 0, sizeof *b);
}

void blob_free(blob *b)
{
    free(b->data);
    blob_init(b);
}

void blob_reset(blob *b)
{
    b->len = 0;
}

static int reserve(blob *b, size_t more)
{
    if (b->failed) return -1;
    if (b->len + more <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more) cap *= 2;
    char *d = realloc(b->data, cap);
    if (!d) {
        b->failed = 1;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

static void put_raw(blob *b, const void *p, size_t n)
{
    if (reserve(b, n) != 0) return;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
}

void blob_put(blob *b, const char *name, blob_type type, int ndim, const int64_t *shape,
              const void *data)
{
    uint32_t nl = (uint32_t)strlen(name);
    uint8_t t = (uint8_t)type, nd = (uint8_t)ndim;
    uint64_t nbytes;
    if (type == BLOB_STR) {
        nd = 0;
        nbytes = strlen((const char *)data) + 1;
    } else {
        int64_t count = 1;
        for (int i = 0; i < ndim; i++) count *= shape[i];
        nbytes = (uint64_t)count * type_size(type);
    }
    put_raw(b, &nl, 4);
    put_raw(b, name, nl);
    put_raw(b, &t, 1);
    put_raw(b, &nd, 1);
    if (type != BLOB_STR) put_raw(b, shape, (size_t)ndim * 8);
    put_raw(b, &nbytes, 8);
    put_raw(b, data, (size_t)nbytes);
}

void blob_put_f64(blob *b, const char *name, double v)
{
    blob_put(b, name, BLOB_F64, 0, NULL, &v);
}

void blob_put_i64(blob *b, const char *name, int64_t v)
{
    blob_put(b, name, BLOB_I64, 0, NULL, &v);
}

void blob_put_str(blob *b, const char *name, const char *s)
{
    blob_put(b, name, BLOB_STR, 0, NULL, s);
}

void blob_append(blob *b, const void *items, size_t len)
{
    put_raw(b, items, len);
}

int blob_next(const void *buf, size_t len, size_t *off, blob_item *it, mp_err *err)
{
    const char *p = buf;
    size_t o = *off;
    uint32_t nl;
    uint8_t t, nd;
    uint64_t nbytes;
    if (o == len) return 0;
    if (len - o < 4) goto bad;
    memcpy(&nl, p + o, 4);
    o += 4;
    if (nl >= sizeof it->name || len - o < (size_t)nl + 2) goto bad;
    memcpy(it->name, p + o, nl);
    it->name[nl] = '\0';
    o += nl;
    t = (uint8_t)p[o++];
    nd = (uint8_t)p[o++];
    if (t > BLOB_STR || nd > BLOB_MAX_DIMS) goto bad;
    it->type = (blob_type)t;
    it->ndim = nd;
    it->count = 1;
    if (len - o < (size_t)nd * 8) goto bad;
    for (int i = 0; i < nd; i++) {
        memcpy(&it->shape[i], p + o, 8);
        o += 8;
        if (it->shape[i] < 0 || (it->shape[i] > 0 && it->count > INT64_MAX / it->shape[i]))
            goto bad;
        it->count *= it->shape[i];
    }
    if (len - o < 8) goto bad;
    memcpy(&nbytes, p + o, 8);
    o += 8;
    if (nbytes > len - o) goto bad;
    if (it->type != BLOB_STR && (uint64_t)it->count * type_size(it->type) != nbytes) goto bad;
    if (it->type == BLOB_STR && (nbytes == 0 || p[o + nbytes - 1] != '\0')) goto bad;
    if (it->type == BLOB_STR) it->count = 1;
    it->data = p + o;
    it->nbytes = (size_t)nbytes;
    *off = o + (size_t)nbytes;
    return 1;
bad:
    err_set(err, "blob: malformed record at byte %zu of %zu", *off, len);
    return -1;
}

int blob_find(const void *buf, size_t len, const char *name, blob_item *it, mp_err *err)
{
    size_t off = 0;
    int rc;
    while ((rc = blob_next(buf, len, &off, it, err)) == 1)
        if (!strcmp(it->name, name)) return 1;
    return rc;
}

static double elem_f64(const blob_item *it, int64_t i)
{
    const char *p = (const char *)it->data + (size_t)i * type_size(it->type);
    switch (it->type) {
    case BLOB_F32: {
        float v;
        memcpy(&v, p, 4);
        return v;
    }
    case BLOB_F64: {
        double v;
        memcpy(&v, p, 8);
        return v;
    }
    case BLOB_I32: {
        int32_t v;
        memcpy(&v, p, 4);
        return v;
    }
    case BLOB_I64: {
        int64_t v;
        memcpy(&v, p, 8);
        return (double)v;
    }
    default: return 0;
    }
}

double *blob_to_f64(const blob_item *it)
{
    double *o = malloc((size_t)(it->count > 0 ? it->count : 1) * sizeof *o);
    if (!o || it->type == BLOB_STR) {
        free(o);
        return NULL;
    }
    for (int64_t i = 0; i < it->count; i++) o[i] = elem_f64(it, i);
    return o;
}

float *blob_to_f32(const blob_item *it)
{
    float *o = malloc((size_t)(it->count > 0 ? it->count : 1) * sizeof *o);
    if (!o || it->type == BLOB_STR) {
        free(o);
        return NULL;
    }
    if (it->type == BLOB_F32)
        memcpy(o, it->data, (size_t)it->count * 4);
    else
        for (int64_t i = 0; i < it->count; i++) o[i] = (float)elem_f64(it, i);
    return o;
}

int64_t *blob_to_i64(const blob_item *it)
{
    int64_t *o = malloc((size_t)(it->count > 0 ? it->count : 1) * sizeof *o);
    if (!o || it->type == BLOB_STR) {
        free(o);
        return NULL;
    }
    for (int64_t i = 0; i < it->count; i++) {
        if (it->type == BLOB_I64)
            memcpy(&o[i], (const char *)it->data + 8 * i, 8);
        else
            o[i] = (int64_t)elem_f64(it, i);
    }
    return o;
}
