/* parse.c — from YAML text to typed values: libyaml's document API (every node
 * keeps its line:column), a walk of the mappings against a schema table, scalar conversion
 * with range / enum / path checks, "did you mean" suggestions, and the problem list. */
#include "pipeline/config/internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

int rcfg_yaml_load(yaml_document_t *doc, const char *text, size_t len, const char *file,
                   rcfg_probs *p)
{
    yaml_parser_t parser;
    int rc = 0;
    if (!yaml_parser_initialize(&parser)) {
        rcfg_problem(p, file, 1, 1, "cannot initialise the YAML parser");
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, doc) && parser.error == YAML_READER_ERROR) {
        /* encoding errors carry a byte offset, not a mark: place them ourselves */
        size_t off = parser.problem_offset < len ? parser.problem_offset : len;
        int line = 1, col = 1;
        for (size_t i = 0; i < off; i++) {
            if (text[i] == '\n') {
                line++;
                col = 1;
            } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
                col++;
            }
        }
        rcfg_problem(p, file, line, col,
                     "%s at byte offset %zu (byte 0x%02X; expected UTF-8 "
                     "text)",
                     parser.problem ? parser.problem : "unreadable input", off,
                     off < len ? (unsigned)(unsigned char)text[off] : 0u);
        rc = -1;
    } else if (parser.error != YAML_NO_ERROR) {
        rcfg_problem(p, file, (int)parser.problem_mark.line + 1,
                     (int)parser.problem_mark.column + 1, "YAML syntax error: %s%s%s",
                     parser.problem ? parser.problem : "unknown", parser.context ? " " : "",
                     parser.context ? parser.context : "");
        rc = -1;
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* ---- suggestions ------------------------------------------------------------------------ */

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), prev[128], cur[128];
    if (la >= 127 || lb >= 127) return 1000;
    for (size_t j = 0; j <= lb; j++) prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

const char *rcfg_suggest(const char *word, const char *const *cands, size_t n)
{
    const char *best = NULL;
    size_t bd = 1000, wl = strlen(word);
    size_t limit = wl / 3 > 2 ? wl / 3 : 2;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, cands[i]);
        if (d < bd) {
            bd = d;
            best = cands[i];
        }
    }
    return bd <= limit ? best : NULL;
}

/* ---- scalars ---------------------------------------------------------------------------- */

static const char *scalar(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static int is_plain(const yaml_node_t *n)
{
    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ||
           n->data.scalar.style == YAML_ANY_SCALAR_STYLE;
}

static int is_null_node(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || !is_plain(n)) return 0;
    const char *s = scalar(n);
    return !s[0] || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") ||
           !strcmp(s, "NULL");
}

static const char *kind_name(const yaml_node_t *n)
{
    return n->type == YAML_MAPPING_NODE    ? "a section (mapping)"
           : n->type == YAML_SEQUENCE_NODE ? "a list"
                                           : "a scalar";
}

static int in_values(const char *values, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = values; p && *p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, v, n)) return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

static int enum_index(const char *values, const char *v)
{
    int i = 0;
    size_t n = strlen(v);
    for (const char *p = values; p && *p; i++) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, v, n)) return i;
        p = bar ? bar + 1 : NULL;
    }
    return -1;
}

/* Closest allowed enum value, copied into buf. */
static const char *enum_suggest(const char *values, const char *v, char *buf, size_t len)
{
    const char *c[64];
    char tmp[512];
    size_t n = 0;
    snprintf(tmp, sizeof tmp, "%s", values);
    for (char *save = NULL, *t = strtok_r(tmp, "|", &save); t && n < 64;
         t = strtok_r(NULL, "|", &save))
        c[n++] = t;
    const char *s = rcfg_suggest(v, c, n);
    if (!s) return NULL;
    snprintf(buf, len, "%s", s);
    return buf;
}

static int parse_bool(const char *s, int *b)
{
    static const char *t[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
    static const char *f[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        if (!strcmp(s, t[i])) {
            *b = 1;
            return 0;
        }
        if (!strcmp(s, f[i])) {
            *b = 0;
            return 0;
        }
    }
    return -1;
}

typedef struct walk_ctx {
    const rcfg_schema *s;
    yaml_document_t *doc;
    rcfg_val *vals;
    const char *file;
    rcfg_probs *p;
} walk_ctx;

#define POS(n) (int)(n)->start_mark.line + 1, (int)(n)->start_mark.column + 1

/* Converts one scalar element of key k (element type for lists) into *i / *f / *s. Returns 0
 * or reports a problem and returns -1. */
static int convert_scalar(walk_ctx *c, const rcfg_key *k, const yaml_node_t *n, rcfg_type t,
                          int64_t *i, double *f, char **s)
{
    char range[96] = "";
    const char *v = scalar(n);
    char *end = NULL;
    if (k->max > k->min) snprintf(range, sizeof range, " in %g..%g", k->min, k->max);
    switch (t) {
    case RCFG_INT: {
        errno = 0;
        long long x = is_plain(n) ? strtoll(v, &end, 10) : 0;
        if (!is_plain(n) || !v[0] || *end || errno) {
            rcfg_problem(c->p, c->file, POS(n), "'%s' is \"%s\" (expected an integer%s%s)", k->path,
                         v, range, (k->flags & RCFG_ALL) ? " or \"all\"" : "");
            return -1;
        }
        if (k->max > k->min && (x < k->min || x > k->max)) {
            rcfg_problem(c->p, c->file, POS(n),
                         "'%s' is %lld, out of range (expected an "
                         "integer%s)",
                         k->path, x, range);
            return -1;
        }
        *i = x;
        return 0;
    }
    case RCFG_FLOAT: {
        double x = is_plain(n) ? strtod(v, &end) : 0;
        if (!is_plain(n) || !v[0] || *end || !isfinite(x)) {
            rcfg_problem(c->p, c->file, POS(n), "'%s' is \"%s\" (expected a number%s)", k->path, v,
                         range);
            return -1;
        }
        if (k->max > k->min && (x < k->min || x > k->max)) {
            rcfg_problem(c->p, c->file, POS(n),
                         "'%s' is %g, out of range (expected a "
                         "number%s)",
                         k->path, x, range);
            return -1;
        }
        *f = x;
        return 0;
    }
    case RCFG_BOOL: {
        int b;
        if (!is_plain(n) || parse_bool(v, &b) != 0) {
            rcfg_problem(c->p, c->file, POS(n), "'%s' is \"%s\" (expected true or false)", k->path,
                         v);
            return -1;
        }
        *i = b;
        return 0;
    }
    case RCFG_ENUM: {
        char sug[128], hint[200] = "";
        if (!in_values(k->values, v)) {
            if (enum_suggest(k->values, v, sug, sizeof sug))
                snprintf(hint, sizeof hint, "; did you mean '%s'?", sug);
            rcfg_problem(c->p, c->file, POS(n),
                         "'%s' has the value \"%s\" (expected one of "
                         "%s%s)",
                         k->path, v, k->values, hint);
            return -1;
        }
        *i = enum_index(k->values, v);
        *s = strdup(v);
        return 0;
    }
    case RCFG_PATH: {
        struct stat st;
        int exists = stat(v, &st) == 0;
        if (!v[0]) {
            rcfg_problem(c->p, c->file, POS(n), "'%s' is empty (expected a path)", k->path);
            return -1;
        }
        if (c->p->stored) {
            *s = strdup(v);
            return 0;
        }
        if ((k->flags & RCFG_DIR) && (!exists || !S_ISDIR(st.st_mode))) {
            rcfg_problem(c->p, c->file, POS(n),
                         "'%s': folder \"%s\" %s (expected an existing "
                         "folder)",
                         k->path, v, exists ? "is not a folder" : "does not exist");
            return -1;
        }
        if ((k->flags & RCFG_FILE) && (!exists || !S_ISREG(st.st_mode))) {
            rcfg_problem(c->p, c->file, POS(n),
                         "'%s': file \"%s\" %s (expected an existing "
                         "file)",
                         k->path, v, exists ? "is not a file" : "does not exist");
            return -1;
        }
        if ((k->flags & RCFG_NOT_FILE) && exists && !S_ISDIR(st.st_mode)) {
            rcfg_problem(c->p, c->file, POS(n),
                         "'%s': \"%s\" exists and is not a folder "
                         "(expected a folder, created if missing)",
                         k->path, v);
            return -1;
        }
        *s = strdup(v);
        return 0;
    }
    default: *s = strdup(v); return 0;
    }
}

static rcfg_type elem_type(rcfg_type t)
{
    switch (t) {
    case RCFG_INT_LIST: return RCFG_INT;
    case RCFG_ENUM_LIST: return RCFG_ENUM;
    case RCFG_PATH_LIST: return RCFG_PATH;
    default: return RCFG_STR;
    }
}

static const char *expect_text(const rcfg_key *k, char *buf, size_t len)
{
    return rcfg_type_text(k, buf, len);
}

/* Stores value node n of key k into v. */
static void convert(walk_ctx *c, const rcfg_key *k, yaml_node_t *n, rcfg_val *v)
{
    char tt[512];
    rcfg_val_clear(v);
    v->set = 1;
    v->line = (int)n->start_mark.line + 1;
    v->col = (int)n->start_mark.column + 1;
    if (is_null_node(n)) {
        if (!(k->flags & RCFG_NULLABLE))
            rcfg_problem(c->p, c->file, POS(n),
                         "'%s' is null (expected %s; leave the key out "
                         "to use the default%s%s)",
                         k->path, expect_text(k, tt, sizeof tt), k->def ? " " : "",
                         k->def ? k->def : "");
        v->is_null = 1;
        return;
    }
    if (n->type == YAML_SCALAR_NODE && (k->flags & RCFG_ALL) && !strcmp(scalar(n), "all")) {
        v->is_all = 1;
        v->i = -1;
        return;
    }
    if (k->flags & RCFG_SPECIAL) {
        /* kept raw (strings and their positions) for run_config.c to resolve */
        if (n->type == YAML_SCALAR_NODE) {
            v->s = strdup(scalar(n));
            return;
        }
        if (n->type == YAML_SEQUENCE_NODE && k->type == RCFG_PATH_LIST) {
            size_t cnt = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
            v->sv = calloc(cnt ? cnt : 1, sizeof *v->sv);
            v->elem_pos = calloc(cnt ? 2 * cnt : 2, sizeof *v->elem_pos);
            v->is_list = 1;
            for (size_t i = 0; v->sv && v->elem_pos && i < cnt; i++) {
                yaml_node_t *e = yaml_document_get_node(c->doc, n->data.sequence.items.start[i]);
                if (!e || e->type != YAML_SCALAR_NODE || is_null_node(e)) {
                    rcfg_problem(c->p, c->file, POS(e ? e : n),
                                 "'%s' item %zu is %s (expected "
                                 "a path or name)",
                                 k->path, i + 1,
                                 !e                            ? "missing"
                                 : e->type == YAML_SCALAR_NODE ? "null"
                                                               : kind_name(e));
                    continue;
                }
                v->elem_pos[2 * v->n] = (int)e->start_mark.line + 1;
                v->elem_pos[2 * v->n + 1] = (int)e->start_mark.column + 1;
                v->sv[v->n++] = strdup(scalar(e));
            }
            return;
        }
        rcfg_problem(c->p, c->file, POS(n), "'%s' is %s (expected %s)", k->path, kind_name(n),
                     expect_text(k, tt, sizeof tt));
        return;
    }
    switch (k->type) {
    case RCFG_INT_LIST:
    case RCFG_STR_LIST:
    case RCFG_ENUM_LIST:
    case RCFG_PATH_LIST: {
        yaml_node_item_t *items = NULL;
        size_t cnt = 1;
        if (n->type == YAML_SEQUENCE_NODE) {
            items = n->data.sequence.items.start;
            cnt = (size_t)(n->data.sequence.items.top - items);
        } else if (n->type != YAML_SCALAR_NODE) {
            rcfg_problem(c->p, c->file, POS(n), "'%s' is %s (expected %s)", k->path, kind_name(n),
                         expect_text(k, tt, sizeof tt));
            return;
        }
        if (k->type == RCFG_INT_LIST)
            v->iv = calloc(cnt ? cnt : 1, sizeof *v->iv);
        else
            v->sv = calloc(cnt ? cnt : 1, sizeof *v->sv);
        for (size_t i = 0; i < cnt; i++) {
            yaml_node_t *e = items ? yaml_document_get_node(c->doc, items[i]) : n;
            if (!e || e->type != YAML_SCALAR_NODE) {
                rcfg_problem(c->p, c->file, POS(e ? e : n), "'%s' item %zu is %s (expected %s)",
                             k->path, i + 1, e ? kind_name(e) : "missing",
                             expect_text(k, tt, sizeof tt));
                continue;
            }
            int64_t x = 0;
            double f = 0;
            char *s = NULL;
            if (convert_scalar(c, k, e, elem_type(k->type), &x, &f, &s) != 0) continue;
            if (k->type == RCFG_INT_LIST) {
                v->iv[v->n++] = x;
            } else {
                v->sv[v->n++] = s;
            }
            if (k->type == RCFG_INT_LIST) free(s);
        }
        return;
    }
    default:
        if (n->type != YAML_SCALAR_NODE) {
            rcfg_problem(c->p, c->file, POS(n), "'%s' is %s (expected %s)", k->path, kind_name(n),
                         expect_text(k, tt, sizeof tt));
            return;
        }
        convert_scalar(c, k, n, k->type, &v->i, &v->f, &v->s);
    }
}

/* Leaf names of the keys directly under `prefix` ("" = top level). */
static size_t children(const rcfg_schema *s, const char *prefix, const char **out, size_t max)
{
    size_t n = 0, pl = strlen(prefix);
    for (size_t i = 0; i < s->n && n < max; i++) {
        const char *p = s->keys[i].path;
        if (pl && (strncmp(p, prefix, pl) || p[pl] != '.')) continue;
        const char *leaf = pl ? p + pl + 1 : p;
        if (!strchr(leaf, '.')) out[n++] = leaf;
    }
    return n;
}

static void unknown_key(walk_ctx *c, const char *prefix, const char *key, yaml_node_t *kn)
{
    const char *cands[128];
    char full[512], hint[600] = "";
    size_t n = children(c->s, prefix, cands, 128);
    const char *s = rcfg_suggest(key, cands, n);
    snprintf(full, sizeof full, "%s%s%s", prefix, prefix[0] ? "." : "", key);
    if (s) {
        snprintf(hint, sizeof hint, "; did you mean '%s%s%s'?", prefix, prefix[0] ? "." : "", s);
    } else {
        /* the right key in the wrong section, e.g. top_n at the top level */
        for (size_t i = 0; i < c->s->n; i++) {
            const char *p = c->s->keys[i].path, *dot = strrchr(p, '.');
            const char *leaf = dot ? dot + 1 : p;
            if (edit_distance(leaf, key) <= 1) {
                snprintf(hint, sizeof hint, "; did you mean '%s'?", p);
                break;
            }
        }
    }
    rcfg_problem(c->p, c->file, POS(kn), "unknown key '%s' in the %s%s", full, c->s->what, hint);
}

static void walk_map(walk_ctx *c, yaml_node_t *map, const char *prefix)
{
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *kn = yaml_document_get_node(c->doc, pr->key);
        yaml_node_t *vn = yaml_document_get_node(c->doc, pr->value);
        char full[512];
        if (!kn || !vn) continue;
        if (kn->type != YAML_SCALAR_NODE) {
            rcfg_problem(c->p, c->file, POS(kn), "a key is %s (expected a plain name)",
                         kind_name(kn));
            continue;
        }
        const char *key = scalar(kn);
        /* duplicates within this mapping */
        int dup_line = 0;
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < pr && !dup_line; q++) {
            yaml_node_t *qk = yaml_document_get_node(c->doc, q->key);
            if (qk && qk->type == YAML_SCALAR_NODE && !strcmp(scalar(qk), key))
                dup_line = (int)qk->start_mark.line + 1;
        }
        snprintf(full, sizeof full, "%s%s%s", prefix, prefix[0] ? "." : "", key);
        if (dup_line) {
            rcfg_problem(c->p, c->file, POS(kn), "duplicate key '%s' (first given on line %d)",
                         full, dup_line);
            continue;
        }
        int idx = rcfg_schema_find(c->s, full);
        if (idx < 0) {
            unknown_key(c, prefix, key, kn);
            continue;
        }
        const rcfg_key *k = &c->s->keys[idx];
        if (k->type == RCFG_MAP) {
            c->vals[idx].set = 1;
            c->vals[idx].line = (int)vn->start_mark.line + 1;
            c->vals[idx].col = (int)vn->start_mark.column + 1;
            if (vn->type == YAML_MAPPING_NODE) {
                walk_map(c, vn, full);
            } else if (!is_null_node(vn)) {
                const char *cands[64];
                char list[512] = "";
                size_t n = children(c->s, full, cands, 64);
                for (size_t i = 0; i < n; i++)
                    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                             cands[i]);
                rcfg_problem(c->p, c->file, POS(vn),
                             "'%s' is %s (expected a section with the "
                             "keys %s)",
                             full, kind_name(vn), list);
            }
            continue;
        }
        convert(c, k, vn, &c->vals[idx]);
    }
}

void rcfg_walk(const rcfg_schema *s, yaml_document_t *doc, rcfg_val *vals, const char *file,
               rcfg_probs *p)
{
    walk_ctx c = {s, doc, vals, file, p};
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root || is_null_node(root)) {
        rcfg_problem(p, file, 1, 1, "empty %s (expected a mapping of keys%s)", s->what, s->example);
        return;
    }
    if (root->type != YAML_MAPPING_NODE) {
        rcfg_problem(p, file, POS(root), "the %s is %s (expected a mapping of keys)", s->what,
                     kind_name(root));
        return;
    }
    walk_map(&c, root, "");
}

void rcfg_val_clear(rcfg_val *v)
{
    free(v->s);
    if (v->sv)
        for (size_t i = 0; i < v->n; i++) free(v->sv[i]);
    free(v->sv);
    free(v->iv);
    free(v->elem_pos);
    memset(v, 0, sizeof *v);
}

void rcfg_default(const rcfg_key *k, rcfg_val *v)
{
    yaml_document_t doc;
    rcfg_probs p = {NULL, 0, NULL, "", 0};
    rcfg_val_clear(v);
    if (!k->def || k->type == RCFG_MAP) {
        v->is_null = k->type != RCFG_MAP;
        return;
    }
    if (rcfg_yaml_load(&doc, k->def, strlen(k->def), "schema", &p) == 0) {
        walk_ctx c = {&RCFG_MODEL_SCHEMA, &doc, NULL, "schema default", &p}; /* no key lookups */
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (root)
            convert(&c, k, root, v);
        else
            p.count++;
        yaml_document_delete(&doc);
    }
    v->set = 0;
    v->line = v->col = 0;
    rcfg_probs_finish(&p);
    if (p.count) {
        fprintf(stderr,
                "moeprobe: internal error: the default \"%s\" of config key '%s' is "
                "invalid: %s\n",
                k->def, k->path, p.first);
        abort();
    }
}
