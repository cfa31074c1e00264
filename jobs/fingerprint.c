/* fingerprint.c — see fingerprint.h. */
#include "jobs/fingerprint.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline/util/sha256.h"
#include "stages/analysis_def.h"

typedef struct fp_lines {
    char **v;
    size_t n, cap;
    int oom;
} fp_lines;

static void add(fp_lines *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(fp_lines *l, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < l->n; i++) /* the same key from two stages' views: once */
        if (!strcmp(l->v[i], buf)) return;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->oom = 1;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(buf)))
        l->oom = 1;
    else
        l->n++;
}

static void lines_free(fp_lines *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* SHA-256 of the first 8 + N bytes of a safetensors file (its header). */
static int header_hash(const char *path, char hex[65], mp_err *err)
{
    FILE *f = fopen(path, "rb");
    unsigned char len8[8];
    uint64_t n = 0;
    int rc = -1;
    if (!f) return err_set(err, "%s: cannot open: %s", path, strerror(errno));
    if (fread(len8, 1, 8, f) != 8) {
        err_set(err, "%s: shorter than a safetensors header (8 bytes)", path);
        goto done;
    }
    for (int i = 7; i >= 0; i--) n = n << 8 | len8[i];
    if (n > (100u << 20)) {
        err_set(err, "%s: header length %llu exceeds 100 MiB", path, (unsigned long long)n);
        goto done;
    }
    if (fseek(f, 0, SEEK_SET) != 0 || sha256_file(f, (int64_t)(8 + n), hex) != 0) {
        err_set(err, "%s: cannot read its %llu-byte header", path, (unsigned long long)n);
        goto done;
    }
    rc = 0;
done:
    fclose(f);
    return rc;
}

int fp_model_identity(const char *model_dir, fp_model *m, mp_err *err)
{
    char p[4300];
    struct stat st;
    snprintf(p, sizeof p, "%s/config.json", model_dir);
    if (sha256_path(p, m->config_json, err) != 0) return -1;
    snprintf(p, sizeof p, "%s/model.safetensors", model_dir);
    if (stat(p, &st) == 0) return header_hash(p, m->tensor_index, err);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", model_dir);
    return sha256_path(p, m->tensor_index, err);
}

/* The effective value of a key as text. */
static void key_value(const rcfg *cfg, const rcfg_key *k, char *out, size_t len)
{
    size_t o = 0;
    if ((k->flags & RCFG_ALL) && rcfg_is_all(cfg, k->path)) {
        snprintf(out, len, "all");
        return;
    }
    switch (k->type) {
    case RCFG_INT: snprintf(out, len, "%lld", (long long)rcfg_int(cfg, k->path)); break;
    case RCFG_FLOAT: { /* shortest text that reads back as the same double */
        double x = rcfg_float(cfg, k->path);
        snprintf(out, len, "%.15g", x);
        if (strtod(out, NULL) != x) snprintf(out, len, "%.17g", x);
        break;
    }
    case RCFG_BOOL: snprintf(out, len, "%s", rcfg_bool(cfg, k->path) ? "true" : "false"); break;
    case RCFG_INT_LIST: {
        const int64_t *v;
        size_t n = rcfg_int_list(cfg, k->path, &v);
        o += (size_t)snprintf(out + o, len - o, "[");
        for (size_t i = 0; i < n && o < len; i++)
            o += (size_t)snprintf(out + o, len - o, "%s%lld", i ? ", " : "", (long long)v[i]);
        if (o < len) snprintf(out + o, len - o, "]");
        break;
    }
    case RCFG_STR_LIST:
    case RCFG_ENUM_LIST:
    case RCFG_PATH_LIST: {
        const char *const *v;
        size_t n = rcfg_str_list(cfg, k->path, &v);
        o += (size_t)snprintf(out + o, len - o, "[");
        for (size_t i = 0; i < n && o < len; i++)
            o += (size_t)snprintf(out + o, len - o, "%s%s", i ? ", " : "", v[i]);
        if (o < len) snprintf(out + o, len - o, "]");
        break;
    }
    default: {
        const char *s = rcfg_str(cfg, k->path);
        snprintf(out, len, "%s", s ? s : "null");
    }
    }
}

/* Every key of stage `name`'s section(s). */
static void add_section(fp_lines *l, const rcfg *cfg, const char *name)
{
    int n;
    const analysis_def *const *all = analysis_all(&n);
    char v[4096];
    for (int i = 0; i < n; i++) {
        if (strcmp(all[i]->name, name)) continue;
        for (size_t k = 0; k < all[i]->config.n; k++) {
            const rcfg_key *key = &all[i]->config.keys[k];
            if (key->type == RCFG_MAP) continue;
            key_value(cfg, key, v, sizeof v);
            add(l, "config.%s = %s", key->path, v);
        }
        for (int k = 0; k < 4 && all[i]->run_keys[k]; k++) {
            /* analysis_config_schema() refused a name that is not a run key */
            const rcfg_key *key = rcfg_run_key(all[i]->run_keys[k]);
            key_value(cfg, key, v, sizeof v);
            add(l, "config.%s = %s", key->path, v);
        }
    }
}

/* Stage `name`, the stages it needs (transitively) and the stages computed inside them. */
static void add_stage(fp_lines *l, const rcfg *cfg, const char *name, int depth)
{
    int n;
    const analysis_def *const *all = analysis_all(&n);
    if (depth > 16) return;
    add_section(l, cfg, name);
    for (int i = 0; i < n; i++) {
        if (all[i]->part_of && !strcmp(all[i]->part_of, name)) {
            int on = rcfg_list_has(cfg, "stages", all[i]->name);
            add(l, "config.stages.%s = %s", all[i]->name, on ? "on" : "off");
            if (on) add_section(l, cfg, all[i]->name);
        }
        if (strcmp(all[i]->name, name)) continue;
        for (int a = 0; a < 6 && all[i]->after[a]; a++) {
            const analysis_def *d = analysis_find(all[i]->after[a]);
            add_stage(l, cfg, d && d->part_of ? d->part_of : all[i]->after[a], depth + 1);
            if (d && d->part_of) {
                add(l, "config.stages.%s = %s", d->name,
                    rcfg_list_has(cfg, "stages", d->name) ? "on" : "off");
                add_section(l, cfg, d->name);
            }
        }
    }
}

char *fp_unit(const rcfg *cfg, const lre_set *rels, const plan *pl, size_t i, const fp_model *m,
              mp_err *err)
{
    const plan_unit *u = &pl->u[i];
    fp_lines l = {0};
    char hex[65], v[256], *text = NULL;
    add(&l, "format = %s", FP_FORMAT);
    add(&l, "model.config_json = %s", m->config_json);
    add(&l, "model.tensor_index = %s", m->tensor_index);
    for (size_t r = 0; r < rels->n; r++) {
        if (u->relation >= 0 && (size_t)u->relation != r) continue;
        if (sha256_path(rels->rel[r].path, hex, err) != 0) goto done;
        add(&l, "relation.%s = %s", rels->rel[r].id, hex);
    }
    static const rcfg_key run_keys[] = {{"template", RCFG_INT, RCFG_ALL, NULL, 0, 0, NULL, NULL},
                                        {"max_samples", RCFG_INT, 0, NULL, 0, 0, NULL, NULL}};
    for (size_t k = 0; k < sizeof run_keys / sizeof run_keys[0]; k++) {
        key_value(cfg, &run_keys[k], v, sizeof v);
        add(&l, "config.%s = %s", run_keys[k].path, v);
    }
    add_stage(&l, cfg, u->stage->name, 0);
    if (l.oom) {
        err_set(err, "fingerprint of %s: out of memory", u->id);
        goto done;
    }
    qsort(l.v, l.n, sizeof *l.v, cmp_str);
    size_t total = 1;
    for (size_t k = 0; k < l.n; k++) total += strlen(l.v[k]) + 1;
    if (!(text = malloc(total))) {
        err_set(err, "fingerprint of %s: out of memory", u->id);
        goto done;
    }
    text[0] = '\0';
    size_t o = 0;
    for (size_t k = 0; k < l.n; k++) {
        size_t s = strlen(l.v[k]);
        memcpy(text + o, l.v[k], s);
        text[o + s] = '\n';
        o += s + 1;
    }
    text[o] = '\0';
done:
    lines_free(&l);
    return text;
}

/* The value of KEY in a fingerprint text, or NULL; *len its length. */
static const char *value_of(const char *text, const char *key, size_t klen, size_t *len)
{
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        if (ll > klen + 3 && !strncmp(p, key, klen) && !strncmp(p + klen, " = ", 3)) {
            *len = ll - klen - 3;
            return p + klen + 3;
        }
        p = nl ? nl + 1 : NULL;
    }
    return NULL;
}

static void put_value(char *out, size_t len, const char *v, size_t vl)
{
    if (!v)
        snprintf(out, len, "(none)");
    else if (vl == 64)
        snprintf(out, len, "%.12s...", v);
    else
        snprintf(out, len, "%.*s", (int)(vl < len - 1 ? vl : len - 1), v);
}

/* Appends the items of `a` whose values differ in `b` (or that b lacks) to out. */
static void diff_into(char **out, size_t *o, size_t *cap, const char *a, const char *b,
                      int a_is_stored)
{
    for (const char *p = a; p && *p;) {
        const char *nl = strchr(p, '\n'), *eq = strstr(p, " = ");
        size_t ll = nl ? (size_t)(nl - p) : strlen(p);
        if (eq && eq < p + ll) {
            size_t klen = (size_t)(eq - p), alen = ll - klen - 3, blen = 0;
            const char *av = eq + 3, *bv = value_of(b, p, klen, &blen);
            int same = bv && blen == alen && !strncmp(av, bv, alen);
            if (!same && (a_is_stored || !bv)) {
                char olds[200], news[200], item[700];
                put_value(olds, sizeof olds, a_is_stored ? av : bv, a_is_stored ? alen : blen);
                put_value(news, sizeof news, a_is_stored ? bv : av, a_is_stored ? blen : alen);
                int n = snprintf(item, sizeof item, "%s%.*s %s -> %s", *o ? "; " : "", (int)klen, p,
                                 olds, news);
                if (*o + (size_t)n + 1 > *cap) {
                    size_t nc = (*cap + (size_t)n + 1) * 2;
                    char *x = realloc(*out, nc);
                    if (!x) return;
                    *out = x;
                    *cap = nc;
                }
                memcpy(*out + *o, item, (size_t)n + 1);
                *o += (size_t)n;
            }
        }
        p = nl ? nl + 1 : NULL;
    }
}

char *fp_diff(const char *stored, const char *now)
{
    size_t o = 0, cap = 256;
    char *out = calloc(cap, 1);
    if (!out) return NULL;
    if (!stored) {
        snprintf(out, cap, "no fingerprint stored (a part written by an older moeprobe)");
        return out;
    }
    diff_into(&out, &o, &cap, stored, now, 1); /* changed or dropped keys */
    diff_into(&out, &o, &cap, now, stored, 0); /* keys that are new */
    return out;
}
