/* run_config.c — rcfg_load: parse (parse.c), fill defaults, then the checks that
 * span keys or touch the file system: model / models (folders or model YAML files),
 * relations (folders, files, names), required keys, template range, stage fractions.
 * Then the typed accessors, which abort on key paths that are not in the schema. */
#include "pipeline/config/internal.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/config/relations.h"

typedef struct load_ctx {
    rcfg *c;
    const char *file;
    rcfg_probs *p;
    int root_line, root_col;
    int name_line, name_col; /* of the run's `name` */
} load_ctx;

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static rcfg_val *val(const rcfg *c, const char *key)
{
    int i = rcfg_schema_find(c->schema, key);
    return i < 0 ? NULL : &c->vals[i];
}

/* Folder name of a checkpoint path ("models/tiny-olmoe/" -> "tiny-olmoe"). */
static char *folder_name(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    return strndup(path + b, n - b);
}

/* ---- names ------------------------------------------------------------------------------ */

int rcfg_name_check(const char *name, char *why, size_t len)
{
    size_t n = strlen(name);
    if (n == 0) return snprintf(why, len, "is empty"), -1;
    if (n > RCFG_NAME_MAX)
        return snprintf(why, len, "is %zu bytes long, more than %d", n, RCFG_NAME_MAX), -1;
    if (name[0] == '.')
        return snprintf(why, len, "starts with '.' (a hidden file, or a path up)"), -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)name[i];
        if (ch == '/' || ch == '\\')
            return snprintf(why, len, "contains '%c' at byte %zu (a path)", ch, i), -1;
        if (ch < 0x20 || ch == 0x7f)
            return snprintf(why, len, "contains a control character (byte 0x%02X at byte %zu)", ch,
                            i),
                   -1;
    }
    return 0;
}

/* name for a one-line message: control characters as \n, \t, \xNN; cut at about len. */
static const char *printable(const char *name, char *buf, size_t len)
{
    size_t o = 0;
    for (const unsigned char *c = (const unsigned char *)name; *c && o + 5 < len; c++) {
        if (*c == '\n')
            o += (size_t)snprintf(buf + o, len - o, "\\n");
        else if (*c == '\t')
            o += (size_t)snprintf(buf + o, len - o, "\\t");
        else if (*c < 0x20 || *c == 0x7f)
            o += (size_t)snprintf(buf + o, len - o, "\\x%02X", *c);
        else
            buf[o++] = (char)*c;
    }
    buf[o] = '\0';
    return buf;
}

/* A model's name, where it came from (file:line:col); a problem if it is no plain file name. */
static int check_model_name(load_ctx *L, const char *name, const char *file, int line, int col,
                            const char *what)
{
    char why[160], shown[300];
    if (rcfg_name_check(name, why, sizeof why) == 0) return 0;
    rcfg_problem(L->p, file, line, col,
                 "%s \"%s\" %s (it names OUT/NAME.h5: expected a plain "
                 "file name without '/', control characters or a leading '.')",
                 what, printable(name, shown, sizeof shown), why);
    return -1;
}

/* ---- models ----------------------------------------------------------------------------- */

static int add_model(rcfg *c, const char *name, const char *path, const char *source, int64_t batch,
                     int64_t ranks)
{
    rcfg_model *m = realloc(c->models, (c->n_models + 1) * sizeof *m);
    if (!m) return -1;
    c->models = m;
    m += c->n_models++;
    m->name = strdup(name);
    m->path = strdup(path);
    m->source = source ? strdup(source) : NULL;
    m->batch_size = batch;
    m->ranks = ranks;
    return 0;
}

/* A model YAML file: its own schema, its own line:column. */
static void load_model_file(load_ctx *L, const char *path, int line, int col)
{
    size_t len = 0;
    mp_err e;
    yaml_document_t doc;
    rcfg_val vals[8] = {{0}};
    size_t before = L->p->count;
    err_init(&e);
    char *text = rcfg_read_file(path, &len, &e);
    if (!text) {
        rcfg_problem(L->p, L->file, line, col, "model file \"%s\" cannot be read (%s)", path,
                     e.msg);
        return;
    }
    if (rcfg_yaml_load(&doc, text, len, path, L->p) == 0) {
        rcfg_walk(&RCFG_MODEL_SCHEMA, &doc, vals, path, L->p);
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        int rl = root ? (int)root->start_mark.line + 1 : 1;
        int rcl = root ? (int)root->start_mark.column + 1 : 1;
        int mapping = root && root->type == YAML_MAPPING_NODE;
        yaml_document_delete(&doc);
        for (size_t i = 0; i < RCFG_MODEL_SCHEMA.n; i++) {
            const rcfg_key *k = &RCFG_MODEL_SCHEMA.keys[i];
            if (vals[i].set) continue;
            if ((k->flags & RCFG_REQUIRED) && mapping)
                rcfg_problem(L->p, path, rl, rcl, "missing required key '%s' (%s)", k->path,
                             k->doc);
            rcfg_default(k, &vals[i]);
        }
        char cj[4200];
        snprintf(cj, sizeof cj, "%s/config.json", vals[1].s ? vals[1].s : "");
        if (L->p->count == before && vals[1].s && !is_file(cj))
            rcfg_problem(L->p, path, vals[1].line, vals[1].col,
                         "'path': folder \"%s\" has no "
                         "config.json (expected a Hugging Face checkpoint folder)",
                         vals[1].s);
        if (L->p->count == before && vals[0].s &&
            check_model_name(L, vals[0].s, path, vals[0].line, vals[0].col, "'name'") != 0)
            before = (size_t)-1; /* reported */
        if (L->p->count == before && vals[0].s && vals[1].s)
            add_model(L->c, vals[0].s, vals[1].s, path, vals[2].is_null ? 0 : vals[2].i,
                      vals[3].is_null ? 0 : vals[3].i);
    }
    for (size_t i = 0; i < RCFG_MODEL_SCHEMA.n; i++) rcfg_val_clear(&vals[i]);
    free(text);
}

static void resolve_model(load_ctx *L, const char *entry, int line, int col, const char *name)
{
    if (!entry) return; /* a value of the wrong type (e.g. a mapping): the walk reported it */
    if (ends_with(entry, ".yaml") || ends_with(entry, ".yml")) {
        if (!is_file(entry)) {
            rcfg_problem(L->p, L->file, line, col,
                         "model file \"%s\" does not exist (expected "
                         "a model YAML file or a checkpoint folder)",
                         entry);
            return;
        }
        load_model_file(L, entry, line, col);
        return;
    }
    if (!is_dir(entry)) {
        rcfg_problem(L->p, L->file, line, col,
                     "model folder \"%s\" does not exist (expected a "
                     "Hugging Face checkpoint folder or a model .yaml file)",
                     entry);
        return;
    }
    char cj[4200];
    snprintf(cj, sizeof cj, "%s/config.json", entry);
    if (!is_file(cj)) {
        rcfg_problem(L->p, L->file, line, col,
                     "model folder \"%s\" has no config.json "
                     "(expected a Hugging Face checkpoint folder)",
                     entry);
        return;
    }
    char *fname = folder_name(entry);
    if (check_model_name(L, name ? name : fname, L->file, name ? L->name_line : line,
                         name ? L->name_col : col,
                         name ? "'name'" : "the model folder's name (no 'name' given)") == 0)
        add_model(L->c, name ? name : fname, entry, NULL, 0, 0);
    free(fname);
}

static void resolve_models(load_ctx *L)
{
    rcfg_val *m = val(L->c, "model"), *ms = val(L->c, "models"), *nm = val(L->c, "name");
    int has_m = m->set && !m->is_null, has_ms = ms->set && !ms->is_null;
    if (has_m && has_ms) {
        rcfg_problem(L->p, L->file, ms->line, ms->col,
                     "both 'model' and 'models' are given "
                     "(expected 'model' for one model or 'models' for a sweep)");
        return;
    }
    if (!has_m && !has_ms) {
        rcfg_problem(L->p, L->file, L->root_line, L->root_col,
                     "missing required key 'model' "
                     "(a checkpoint folder; or 'models', a list, for a sweep)");
        return;
    }
    if (has_m) {
        L->name_line = nm->line;
        L->name_col = nm->col;
        resolve_model(L, m->s, m->line, m->col, nm->is_null ? NULL : nm->s);
        return;
    }
    L->c->sweep = 1;
    if (nm->set && !nm->is_null)
        rcfg_problem(L->p, L->file, nm->line, nm->col,
                     "'name' applies to single-model runs "
                     "(expected no 'name' with 'models'; give each model a name in its model "
                     "file)");
    if (!ms->is_list) {
        resolve_model(L, ms->s, ms->line, ms->col, NULL);
    } else {
        if (ms->n == 0)
            rcfg_problem(L->p, L->file, ms->line, ms->col,
                         "'models' is an empty list "
                         "(expected at least one model)");
        for (size_t i = 0; i < ms->n; i++)
            resolve_model(L, ms->sv[i], ms->elem_pos[2 * i], ms->elem_pos[2 * i + 1], NULL);
    }
    for (size_t i = 0; i < L->c->n_models; i++)
        for (size_t j = 0; j < i; j++)
            if (!strcmp(L->c->models[i].name, L->c->models[j].name))
                rcfg_problem(L->p, L->file, ms->line, ms->col,
                             "two models are named '%s' "
                             "(expected unique names: each writes OUT/NAME.h5)",
                             L->c->models[i].name);
}

/* ---- relations -------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted .json file names of a folder (NULL-free list, count in *n). */
static char **json_files(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **v = NULL;
    *n = 0;
    if (!d) return NULL;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !ends_with(e->d_name, ".json")) continue;
        char **nv = realloc(v, (*n + 1) * sizeof *nv);
        if (!nv) break;
        v = nv;
        v[(*n)++] = strdup(e->d_name);
    }
    closedir(d);
    if (*n > 1) qsort(v, *n, sizeof *v, cmp_str);
    return v;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

static void add_rel(load_ctx *L, const char *path, int line, int col)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    char *id = strndup(b, ends_with(b, ".json") ? strlen(b) - 5 : strlen(b));
    char why[160], shown[300], shown_path[4200];
    if (!id) return;
    if (rcfg_name_check(id, why, sizeof why) != 0) {
        rcfg_problem(L->p, L->file, line, col,
                     "relation file \"%s\": its id \"%s\" %s (the file "
                     "name without .json names units and part files: expected a plain name)",
                     printable(path, shown_path, sizeof shown_path),
                     printable(id, shown, sizeof shown), why);
        free(id);
        return;
    }
    for (size_t i = 0; i < L->c->schema->n_reserved; i++)
        if (!strcmp(id, L->c->schema->reserved_ids[i])) {
            rcfg_problem(L->p, L->file, line, col,
                         "relation file \"%s\": the id '%s' is reserved "
                         "for the per-model units (such as summarise/pooled and neurons/cross); "
                         "rename the file",
                         path, id);
            free(id);
            return;
        }
    for (size_t i = 0; i < L->c->n_rels; i++)
        if (!strcmp(L->c->rels[i].id, id)) {
            rcfg_problem(L->p, L->file, line, col, "relation '%s' is listed twice", id);
            free(id);
            return;
        }
    rcfg_rel *r = realloc(L->c->rels, (L->c->n_rels + 1) * sizeof *r);
    if (!r) {
        free(id);
        return;
    }
    L->c->rels = r;
    r[L->c->n_rels].id = id;
    r[L->c->n_rels].path = strdup(path);
    L->c->n_rels++;
}

static void resolve_relation(load_ctx *L, const char *entry, int line, int col, const char *rel_dir)
{
    char buf[4200];
    if (is_dir(entry)) {
        size_t n = 0;
        char **names = json_files(entry, &n);
        if (n == 0)
            rcfg_problem(L->p, L->file, line, col,
                         "relations folder \"%s\" has no .json files "
                         "(expected LRE relation files)",
                         entry);
        for (size_t i = 0; i < n; i++) {
            snprintf(buf, sizeof buf, "%s/%s", entry, names[i]);
            add_rel(L, buf, line, col);
        }
        free_list(names, n);
        return;
    }
    if (is_file(entry)) {
        add_rel(L, entry, line, col);
        return;
    }
    if (strchr(entry, '/') || ends_with(entry, ".json")) {
        rcfg_problem(L->p, L->file, line, col,
                     "relation file \"%s\" does not exist (expected "
                     "an LRE .json file, a folder of them, or a relation name)",
                     entry);
        return;
    }
    /* a relation name, looked up in relations_dir */
    snprintf(buf, sizeof buf, "%s/%s.json", rel_dir, entry);
    if (is_file(buf)) {
        add_rel(L, buf, line, col);
        return;
    }
    size_t n = 0;
    char **names = json_files(rel_dir, &n);
    char hint[300] = "";
    for (size_t i = 0; i < n; i++) names[i][strlen(names[i]) - 5] = '\0';
    const char *s = rcfg_suggest(entry, (const char *const *)names, n);
    if (s) snprintf(hint, sizeof hint, "; did you mean '%s'?", s);
    if (!is_dir(rel_dir))
        rcfg_problem(L->p, L->file, line, col,
                     "unknown relation '%s' (relations_dir \"%s\" "
                     "does not exist)",
                     entry, rel_dir);
    else
        rcfg_problem(L->p, L->file, line, col,
                     "unknown relation '%s' (expected the name of a "
                     ".json file in %s%s)",
                     entry, rel_dir, hint);
    free_list(names, n);
}

static void resolve_relations(load_ctx *L)
{
    rcfg_val *r = val(L->c, "relations"), *rd = val(L->c, "relations_dir");
    rcfg_val *t = val(L->c, "template");
    rcfg *c = L->c;
    if (!r->set || r->is_null) {
        rcfg_problem(L->p, L->file, r->set ? r->line : L->root_line, r->set ? r->col : L->root_col,
                     "missing required key 'relations' (a "
                     "folder of LRE .json files, a file, a relation name, or a list)");
        return;
    }
    /* a value of the wrong type (e.g. a mapping) was reported by the walk; nothing to resolve */
    if (r->is_list ? (r->n > 0 && !r->sv) : !r->s) return;
    for (size_t i = 0; r->is_list && i < r->n; i++)
        if (!r->sv[i]) return;
    const char *rel_dir = rd->s ? rd->s : "";
    /* a relations_dir given but missing is a mistake even when no relation is looked up in it
     * (every relation a path): refused rather than ignored */
    if (rd->set && !rd->is_null && rd->s && !is_dir(rd->s))
        rcfg_problem(L->p, L->file, rd->line, rd->col,
                     "'relations_dir' is \"%s\", which %s (expected a folder of LRE .json "
                     "files; leave the key out when every relation is given as a file)",
                     rd->s, access(rd->s, F_OK) == 0 ? "is not a folder" : "does not exist");
    c->rel_spec_list = r->is_list;
    if (r->is_list) {
        c->n_rel_spec = r->n;
        c->rel_spec = calloc(r->n ? r->n : 1, sizeof *c->rel_spec);
        for (size_t i = 0; c->rel_spec && i < r->n; i++) c->rel_spec[i] = strdup(r->sv[i]);
        if (r->n == 0)
            rcfg_problem(L->p, L->file, r->line, r->col,
                         "'relations' is an empty list "
                         "(expected at least one relation)");
        for (size_t i = 0; i < r->n; i++)
            resolve_relation(L, r->sv[i], r->elem_pos[2 * i], r->elem_pos[2 * i + 1], rel_dir);
    } else {
        c->n_rel_spec = 1;
        c->rel_spec = calloc(1, sizeof *c->rel_spec);
        if (c->rel_spec) c->rel_spec[0] = strdup(r->s);
        resolve_relation(L, r->s, r->line, r->col, rel_dir);
    }
    /* every relation file must load, and have the template asked for */
    size_t too_few = 0, min_t = (size_t)-1;
    const char *example = NULL;
    for (size_t i = 0; i < c->n_rels; i++) {
        lre_relation rel;
        mp_err e;
        err_init(&e);
        if (lre_load(&rel, c->rels[i].path, &e) != 0) {
            rcfg_problem(L->p, L->file, r->line, r->col, "relation '%s' does not load: %s",
                         c->rels[i].id, e.msg);
            continue;
        }
        if (!t->is_all && (size_t)t->i >= rel.n_templates_zs) {
            if (!too_few++) example = c->rels[i].id;
            if (rel.n_templates_zs < min_t) min_t = rel.n_templates_zs;
        }
        lre_free(&rel);
    }
    if (too_few)
        rcfg_problem(L->p, L->file, t->set ? t->line : L->root_line, t->set ? t->col : L->root_col,
                     "template %lld is out of range for %zu "
                     "relation(s), e.g. '%s' (expected an index below %zu, the fewest "
                     "prompt_templates_zs of a relation, or \"all\")",
                     (long long)t->i, too_few, example, min_t);
}

/* ---- load ------------------------------------------------------------------------------- */

static void cross_checks(load_ctx *L)
{
    rcfg_val *o = val(L->c, "out");
    if (!o->set || o->is_null)
        rcfg_problem(L->p, L->file, o->set ? o->line : L->root_line, o->set ? o->col : L->root_col,
                     "missing required key 'out' (the output "
                     "folder for archives and the report)");
    /* the analyses' rules across their keys */
    const rcfg_schema *s = L->c->schema;
    for (size_t i = 0; i < s->n_checked; i++) {
        char msg[512];
        if (s->checked[i]->check(L->c, msg, sizeof msg) == 0) continue;
        rcfg_val *at = val(L->c, s->checked[i]->check_at);
        rcfg_problem(L->p, L->file, at && at->set ? at->line : L->root_line,
                     at && at->set ? at->col : L->root_col, "%s", msg);
    }
}

static int load_impl(rcfg **out, const char *text, size_t len, const char *name,
                     const rcfg_schema *s, int stored, rcfg_problems *probs, mp_err *err)
{
    rcfg_probs p = {probs, 0, NULL, "", stored};
    yaml_document_t doc;
    rcfg *c = calloc(1, sizeof *c);
    *out = NULL;
    if (c) c->schema = s;
    if (!c || !(c->vals = calloc(s->n, sizeof *c->vals)) || !(c->source = strdup(name))) {
        rcfg_free(c);
        return err_set(err, "%s: out of memory", name);
    }
    if (rcfg_yaml_load(&doc, text, len, name, &p) == 0) {
        load_ctx L = {c, name, &p, 1, 1, 1, 1};
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (root) {
            L.root_line = (int)root->start_mark.line + 1;
            L.root_col = (int)root->start_mark.column + 1;
        }
        rcfg_walk(s, &doc, c->vals, name, &p);
        int mapping = root && root->type == YAML_MAPPING_NODE;
        yaml_document_delete(&doc);
        for (size_t i = 0; i < s->n; i++) {
            const rcfg_key *k = &s->keys[i];
            if (!c->vals[i].set && !(k->flags & (RCFG_SPECIAL | RCFG_REQUIRED)))
                rcfg_default(k, &c->vals[i]);
            else if (!c->vals[i].set)
                c->vals[i].is_null = k->type != RCFG_MAP;
        }
        if (mapping && !stored) {
            resolve_models(&L);
            resolve_relations(&L);
        }
        if (mapping) cross_checks(&L);
    }
    rcfg_probs_finish(&p);
    if (p.count) {
        err_set(err, "%s: %zu problem%s; the first: %s", name, p.count, p.count > 1 ? "s" : "",
                p.first);
        rcfg_free(c);
        return -1;
    }
    *out = c;
    return 0;
}

int rcfg_load_text(rcfg **cfg, const char *text, const char *name, const rcfg_schema *s,
                   rcfg_problems *probs, mp_err *err)
{
    return load_impl(cfg, text, strlen(text), name, s, 0, probs, err);
}

int rcfg_load_stored(rcfg **cfg, const char *text, const char *name, const rcfg_schema *s,
                     mp_err *err)
{
    return load_impl(cfg, text, strlen(text), name, s, 1, NULL, err);
}

int rcfg_load(rcfg **cfg, const char *path, const rcfg_schema *s, rcfg_problems *probs, mp_err *err)
{
    size_t len = 0;
    char *text = rcfg_read_file(path, &len, err);
    *cfg = NULL;
    if (!text) {
        if (probs) {
            rcfg_probs p = {probs, 0, NULL, "", 0};
            rcfg_problem(&p, path, 1, 1, "%s", err->msg);
            rcfg_probs_finish(&p);
        }
        return -1;
    }
    int rc = load_impl(cfg, text, len, path, s, 0, probs, err);
    free(text);
    return rc;
}

void rcfg_free(rcfg *c)
{
    if (!c) return;
    if (c->vals)
        for (size_t i = 0; i < c->schema->n; i++) rcfg_val_clear(&c->vals[i]);
    free(c->vals);
    for (size_t i = 0; i < c->n_models; i++) {
        free(c->models[i].name);
        free(c->models[i].path);
        free(c->models[i].source);
    }
    free(c->models);
    for (size_t i = 0; i < c->n_rels; i++) {
        free(c->rels[i].id);
        free(c->rels[i].path);
    }
    free(c->rels);
    free_list(c->rel_spec, c->n_rel_spec);
    free(c->source);
    free(c);
}

/* ---- accessors -------------------------------------------------------------------------- */

/* Programming errors (a key path not in the schema, a type mismatch) abort loudly. */
static const rcfg_val *get(const rcfg *c, const char *key, unsigned types, const char *fn)
{
    int i = rcfg_schema_find(c->schema, key);
    if (i < 0) {
        fprintf(stderr,
                "moeprobe: internal error: %s(\"%s\"): no such config key in the "
                "run config's schema (pipeline/config/schema.c, or the analysis's "
                "section)\n",
                fn, key);
        abort();
    }
    if (!(types & (1u << c->schema->keys[i].type))) {
        fprintf(stderr,
                "moeprobe: internal error: %s(\"%s\"): the key's type does not fit "
                "this accessor\n",
                fn, key);
        abort();
    }
    return &c->vals[i];
}

#define T(x) (1u << (x))

int64_t rcfg_int(const rcfg *c, const char *key)
{
    const rcfg_val *v = get(c, key, T(RCFG_INT), "rcfg_int");
    return v->is_all ? -1 : v->i;
}

double rcfg_float(const rcfg *c, const char *key)
{
    return get(c, key, T(RCFG_FLOAT), "rcfg_float")->f;
}

int rcfg_bool(const rcfg *c, const char *key)
{
    return (int)get(c, key, T(RCFG_BOOL), "rcfg_bool")->i;
}

const char *rcfg_str(const rcfg *c, const char *key)
{
    const rcfg_val *v = get(c, key, T(RCFG_STR) | T(RCFG_PATH) | T(RCFG_ENUM), "rcfg_str");
    return v->is_null ? NULL : v->s;
}

int rcfg_enum(const rcfg *c, const char *key)
{
    return (int)get(c, key, T(RCFG_ENUM), "rcfg_enum")->i;
}

size_t rcfg_int_list(const rcfg *c, const char *key, const int64_t **out)
{
    const rcfg_val *v = get(c, key, T(RCFG_INT_LIST), "rcfg_int_list");
    *out = v->n ? v->iv : NULL;
    return v->n;
}

size_t rcfg_str_list(const rcfg *c, const char *key, const char *const **out)
{
    const rcfg_val *v =
        get(c, key, T(RCFG_STR_LIST) | T(RCFG_ENUM_LIST) | T(RCFG_PATH_LIST), "rcfg_str_list");
    *out = v->n ? (const char *const *)v->sv : NULL;
    return v->n;
}

int rcfg_is_all(const rcfg *c, const char *key)
{
    return get(c, key, ~0u, "rcfg_is_all")->is_all;
}

int rcfg_is_set(const rcfg *c, const char *key)
{
    return get(c, key, ~0u, "rcfg_is_set")->set;
}

int rcfg_list_has(const rcfg *c, const char *key, const char *value)
{
    const char *const *v;
    size_t n = rcfg_str_list(c, key, &v);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i], value)) return 1;
    return 0;
}

const char *rcfg_source(const rcfg *c)
{
    return c->source;
}
int rcfg_is_sweep(const rcfg *c)
{
    return c->sweep;
}
size_t rcfg_model_count(const rcfg *c)
{
    return c->n_models;
}
const rcfg_model *rcfg_model_at(const rcfg *c, size_t i)
{
    return i < c->n_models ? &c->models[i] : NULL;
}
size_t rcfg_relation_count(const rcfg *c)
{
    return c->n_rels;
}
const char *rcfg_relation_id(const rcfg *c, size_t i)
{
    return i < c->n_rels ? c->rels[i].id : NULL;
}
const char *rcfg_relation_path(const rcfg *c, size_t i)
{
    return i < c->n_rels ? c->rels[i].path : NULL;
}
