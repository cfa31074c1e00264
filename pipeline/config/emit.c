/* emit.c — the effective config as YAML text (libyaml's emitter, so quoting is
 * always right) and the flat byte form for MPI_Bcast (rcfg_pack / rcfg_unpack). */
#include "pipeline/config/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- YAML text -------------------------------------------------------------------------- */

typedef struct strbuf {
    char *p;
    size_t n, cap;
    int oom;
} strbuf;

static int sb_write(void *data, unsigned char *buf, size_t size)
{
    strbuf *b = data;
    if (b->n + size + 1 > b->cap) {
        size_t cap = (b->n + size + 1) * 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = 1;
            return 0;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, buf, size);
    b->n += size;
    b->p[b->n] = '\0';
    return 1;
}

/* Would this string read back as something other than a string (null, bool, number, all)? */
static int ambiguous(const char *s)
{
    static const char *words[] = {"",      "~",     "null",  "Null", "NULL", "true", "True", "TRUE",
                                  "false", "False", "FALSE", "yes",  "Yes",  "YES",  "no",   "No",
                                  "NO",    "on",    "On",    "ON",   "off",  "Off",  "OFF",  "all"};
    char *end;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strcmp(s, words[i])) return 1;
    strtod(s, &end);
    return end != s && *end == '\0';
}

static int emit_scalar(yaml_emitter_t *em, const char *s, int quote)
{
    yaml_event_t ev;
    yaml_scalar_style_t style =
        quote || ambiguous(s) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
                                      style))
        return -1;
    return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

static int emit_plain(yaml_emitter_t *em, const char *s)
{
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)strlen(s), 1, 1,
                                      YAML_PLAIN_SCALAR_STYLE))
        return -1;
    return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

/* Shortest decimal that reads back as the same double. */
static void fmt_double(double x, char *buf, size_t len)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) return;
    }
}

static int emit_seq_start(yaml_emitter_t *em)
{
    yaml_event_t ev;
    yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_FLOW_SEQUENCE_STYLE);
    return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

static int emit_seq_end(yaml_emitter_t *em)
{
    yaml_event_t ev;
    yaml_sequence_end_event_initialize(&ev);
    return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

static int emit_strs(yaml_emitter_t *em, char **v, size_t n, int list)
{
    if (!list) return emit_scalar(em, n ? v[0] : "", 0);
    int rc = emit_seq_start(em);
    for (size_t i = 0; rc == 0 && i < n; i++) rc = emit_scalar(em, v[i], 0);
    return rc == 0 ? emit_seq_end(em) : -1;
}

static int emit_value(yaml_emitter_t *em, const rcfg *c, const rcfg_key *k, const rcfg_val *v)
{
    char num[64];
    if (!strcmp(k->path, "relations"))
        return emit_strs(em, c->rel_spec, c->n_rel_spec, c->rel_spec_list);
    if (v->is_null) return emit_plain(em, "null");
    if (v->is_all) return emit_plain(em, "all");
    if (k->flags & RCFG_SPECIAL)
        return v->is_list ? emit_strs(em, v->sv, v->n, 1) : emit_scalar(em, v->s, 0);
    switch (k->type) {
    case RCFG_INT: snprintf(num, sizeof num, "%lld", (long long)v->i); return emit_plain(em, num);
    case RCFG_FLOAT: fmt_double(v->f, num, sizeof num); return emit_plain(em, num);
    case RCFG_BOOL: return emit_plain(em, v->i ? "true" : "false");
    case RCFG_ENUM: return emit_plain(em, v->s);
    case RCFG_INT_LIST: {
        int rc = emit_seq_start(em);
        for (size_t i = 0; rc == 0 && i < v->n; i++) {
            snprintf(num, sizeof num, "%lld", (long long)v->iv[i]);
            rc = emit_plain(em, num);
        }
        return rc == 0 ? emit_seq_end(em) : -1;
    }
    case RCFG_STR_LIST:
    case RCFG_ENUM_LIST:
    case RCFG_PATH_LIST: return emit_strs(em, v->sv, v->n, 1);
    default: return emit_scalar(em, v->s ? v->s : "", 0);
    }
}

static int is_child(const char *path, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (pl && (strncmp(path, prefix, pl) || path[pl] != '.')) return 0;
    return !strchr(pl ? path + pl + 1 : path, '.');
}

static int emit_map(yaml_emitter_t *em, const rcfg *c, const char *prefix)
{
    yaml_event_t ev;
    size_t pl = strlen(prefix);
    yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE);
    if (!yaml_emitter_emit(em, &ev)) return -1;
    for (size_t i = 0; i < c->schema->n; i++) {
        const rcfg_key *k = &c->schema->keys[i];
        if (!is_child(k->path, prefix)) continue;
        if ((k->flags & RCFG_HIDE_NULL) && c->vals[i].is_null) continue;
        if (emit_plain(em, pl ? k->path + pl + 1 : k->path) != 0) return -1;
        int rc = k->type == RCFG_MAP ? emit_map(em, c, k->path) : emit_value(em, c, k, &c->vals[i]);
        if (rc != 0) return -1;
    }
    yaml_mapping_end_event_initialize(&ev);
    return yaml_emitter_emit(em, &ev) ? 0 : -1;
}

char *rcfg_to_yaml_text(const rcfg *c)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    strbuf b = {0};
    int ok;
    if (!yaml_emitter_initialize(&em)) return NULL;
    yaml_emitter_set_output(&em, sb_write, &b);
    yaml_emitter_set_width(&em, 100);
    yaml_emitter_set_unicode(&em, 1);
    yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
    ok = yaml_emitter_emit(&em, &ev);
    yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
    ok = ok && yaml_emitter_emit(&em, &ev);
    ok = ok && emit_map(&em, c, "") == 0;
    yaml_document_end_event_initialize(&ev, 1);
    ok = ok && yaml_emitter_emit(&em, &ev);
    yaml_stream_end_event_initialize(&ev);
    ok = ok && yaml_emitter_emit(&em, &ev);
    ok = ok && yaml_emitter_flush(&em);
    yaml_emitter_delete(&em);
    if (!ok || b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- flat bytes ------------------------------------------------------------------------- */

#define PACK_MAGIC "RCFG"
#define PACK_VERSION 1u
#define NO_STR 0xFFFFFFFFu

/* FNV-1a over key paths and types: ranks built from different schemas refuse each other. */
static uint64_t fingerprint(const rcfg_schema *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < s->n; i++) {
        for (const char *p = s->keys[i].path; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        h = (h ^ (unsigned)s->keys[i].type) * 1099511628211ULL;
    }
    return h;
}

static void put(strbuf *b, const void *p, size_t n)
{
    sb_write(b, (unsigned char *)p, n);
}
static void put_u8(strbuf *b, unsigned v)
{
    unsigned char c = (unsigned char)v;
    put(b, &c, 1);
}
static void put_u32(strbuf *b, uint32_t v)
{
    put(b, &v, 4);
}
static void put_i64(strbuf *b, int64_t v)
{
    put(b, &v, 8);
}
static void put_f64(strbuf *b, double v)
{
    put(b, &v, 8);
}
static void put_str(strbuf *b, const char *s)
{
    if (!s) {
        put_u32(b, NO_STR);
        return;
    }
    put_u32(b, (uint32_t)strlen(s));
    put(b, s, strlen(s));
}

int rcfg_pack(const rcfg *c, void **buf, size_t *len, mp_err *err)
{
    strbuf b = {0};
    uint64_t fp = fingerprint(c->schema);
    put(&b, PACK_MAGIC, 4);
    put_u32(&b, PACK_VERSION);
    put(&b, &fp, 8);
    put_str(&b, c->source);
    put_u8(&b, (unsigned)c->sweep);
    put_u32(&b, (uint32_t)c->schema->n);
    for (size_t i = 0; i < c->schema->n; i++) {
        const rcfg_val *v = &c->vals[i];
        put_u8(&b, (unsigned)v->set);
        put_u8(&b, (unsigned)v->is_null);
        put_u8(&b, (unsigned)v->is_all);
        put_u8(&b, (unsigned)v->is_list);
        put_i64(&b, v->i);
        put_f64(&b, v->f);
        put_str(&b, v->s);
        put_u8(&b, v->iv ? 1 : v->sv ? 2 : 0);
        put_u32(&b, (uint32_t)v->n);
        for (size_t j = 0; j < v->n; j++) {
            if (v->iv)
                put_i64(&b, v->iv[j]);
            else if (v->sv)
                put_str(&b, v->sv[j]);
        }
    }
    put_u32(&b, (uint32_t)c->n_models);
    for (size_t i = 0; i < c->n_models; i++) {
        put_str(&b, c->models[i].name);
        put_str(&b, c->models[i].path);
        put_str(&b, c->models[i].source);
        put_i64(&b, c->models[i].batch_size);
        put_i64(&b, c->models[i].ranks);
    }
    put_u32(&b, (uint32_t)c->n_rels);
    for (size_t i = 0; i < c->n_rels; i++) {
        put_str(&b, c->rels[i].id);
        put_str(&b, c->rels[i].path);
    }
    put_u8(&b, (unsigned)c->rel_spec_list);
    put_u32(&b, (uint32_t)c->n_rel_spec);
    for (size_t i = 0; i < c->n_rel_spec; i++) put_str(&b, c->rel_spec[i]);
    if (b.oom) {
        free(b.p);
        return err_set(err, "config: out of memory while packing");
    }
    *buf = b.p;
    *len = b.n;
    return 0;
}

typedef struct reader {
    const unsigned char *p;
    size_t n, off;
    int bad;
} reader;

static int take(reader *r, void *dst, size_t n)
{
    if (r->bad || n > r->n - r->off) {
        r->bad = 1;
        memset(dst, 0, n);
        return -1;
    }
    memcpy(dst, r->p + r->off, n);
    r->off += n;
    return 0;
}

static unsigned get_u8(reader *r)
{
    unsigned char c = 0;
    take(r, &c, 1);
    return c;
}
static uint32_t get_u32(reader *r)
{
    uint32_t v = 0;
    take(r, &v, 4);
    return v;
}
static int64_t get_i64(reader *r)
{
    int64_t v = 0;
    take(r, &v, 8);
    return v;
}
static double get_f64(reader *r)
{
    double v = 0;
    take(r, &v, 8);
    return v;
}

static char *get_str(reader *r)
{
    uint32_t n = get_u32(r);
    if (n == NO_STR || r->bad) return NULL;
    if (n > r->n - r->off) {
        r->bad = 1;
        return NULL;
    }
    char *s = strndup((const char *)r->p + r->off, n);
    r->off += n;
    if (!s) r->bad = 1;
    return s;
}

/* A count that cannot exceed the bytes left (each element takes at least `min` bytes). */
static size_t get_count(reader *r, size_t min)
{
    uint32_t n = get_u32(r);
    if (r->bad || (size_t)n > (r->n - r->off) / min) {
        r->bad = 1;
        return 0;
    }
    return n;
}

int rcfg_unpack(rcfg **out, const void *buf, size_t len, const rcfg_schema *s, mp_err *err)
{
    reader r = {buf, len, 0, 0};
    char magic[4];
    uint64_t fp = 0;
    rcfg *c = NULL;
    *out = NULL;
    if (take(&r, magic, 4) != 0 || memcmp(magic, PACK_MAGIC, 4) != 0)
        return err_set(err, "config buffer: bad magic (expected rcfg_pack output)");
    if (get_u32(&r) != PACK_VERSION || take(&r, &fp, 8) != 0 || fp != fingerprint(s))
        return err_set(err, "config buffer: version or schema fingerprint differs (ranks built "
                            "from different moeprobe versions?)");
    c = calloc(1, sizeof *c);
    if (c) c->schema = s;
    if (!c || !(c->vals = calloc(s->n, sizeof *c->vals))) {
        free(c);
        return err_set(err, "config buffer: out of memory");
    }
    c->source = get_str(&r);
    c->sweep = (int)get_u8(&r);
    if (get_u32(&r) != s->n) r.bad = 1;
    for (size_t i = 0; i < s->n && !r.bad; i++) {
        rcfg_val *v = &c->vals[i];
        v->set = (int)get_u8(&r);
        v->is_null = (int)get_u8(&r);
        v->is_all = (int)get_u8(&r);
        v->is_list = (int)get_u8(&r);
        v->i = get_i64(&r);
        v->f = get_f64(&r);
        v->s = get_str(&r);
        unsigned kind = get_u8(&r);
        size_t n = get_count(&r, kind == 1 ? 8 : 4);
        if (kind == 1)
            v->iv = calloc(n ? n : 1, sizeof *v->iv);
        else if (kind == 2)
            v->sv = calloc(n ? n : 1, sizeof *v->sv);
        else if (n)
            r.bad = 1;
        if ((kind == 1 && !v->iv) || (kind == 2 && !v->sv)) r.bad = 1;
        for (size_t j = 0; j < n && !r.bad; j++) {
            if (kind == 1)
                v->iv[j] = get_i64(&r);
            else
                v->sv[j] = get_str(&r);
            v->n = j + 1;
        }
    }
    size_t nm = get_count(&r, 28);
    c->models = calloc(nm ? nm : 1, sizeof *c->models);
    for (size_t i = 0; c->models && i < nm && !r.bad; i++) {
        rcfg_model *m = &c->models[i];
        c->n_models = i + 1;
        m->name = get_str(&r);
        m->path = get_str(&r);
        m->source = get_str(&r);
        m->batch_size = get_i64(&r);
        m->ranks = get_i64(&r);
        if (!m->name || !m->path) r.bad = 1;
    }
    size_t nr = get_count(&r, 8);
    c->rels = calloc(nr ? nr : 1, sizeof *c->rels);
    for (size_t i = 0; c->rels && i < nr && !r.bad; i++) {
        c->n_rels = i + 1;
        c->rels[i].id = get_str(&r);
        c->rels[i].path = get_str(&r);
        if (!c->rels[i].id || !c->rels[i].path) r.bad = 1;
    }
    c->rel_spec_list = (int)get_u8(&r);
    size_t ns = get_count(&r, 4);
    c->rel_spec = calloc(ns ? ns : 1, sizeof *c->rel_spec);
    for (size_t i = 0; c->rel_spec && i < ns && !r.bad; i++) {
        c->n_rel_spec = i + 1;
        c->rel_spec[i] = get_str(&r);
        if (!c->rel_spec[i]) r.bad = 1;
    }
    if (r.bad || !c->source || !c->models || !c->rels || !c->rel_spec || r.off != r.n) {
        err_set(err, "config buffer: truncated or corrupt near byte %zu of %zu", r.off, len);
        rcfg_free(c);
        return -1;
    }
    *out = c;
    return 0;
}
