/* paper.c — reads the paper's reported numbers (data/paper/NAME.yaml: one flat list of values per
 * table, the paper's models with their config shapes) with libyaml. The files are embedded in
 * the binary (build/gen/paper_data.c), so the report needs no data folder at run time. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "report/paper.h"

extern const char *const PAPER_DATA_NAMES[];
extern const char *const PAPER_DATA_TEXT[];

static const char *scalar(yaml_document_t *d, yaml_node_t *n)
{
    (void)d;
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *m, const char *key)
{
    if (!m || m->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *k = scalar(d, yaml_document_get_node(d, p->key));
        if (k && !strcmp(k, key)) return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

/* A string field into buf; -1 (err set) if required and missing or too long. */
static int get_str(yaml_document_t *d, yaml_node_t *m, const char *key, char *buf, size_t len,
                   int required, const char *name, mp_err *err)
{
    const char *s = scalar(d, map_get(d, m, key));
    buf[0] = 0;
    if (!s) {
        if (!required) return 0;
        return err_set(err, "%s:%lu: the entry has no '%s' (expected a string)", name,
                       (unsigned long)m->start_mark.line + 1, key);
    }
    if (strlen(s) >= len)
        return err_set(err, "%s:%lu: '%s' is \"%.40s...\", longer than %zu characters", name,
                       (unsigned long)m->start_mark.line + 1, key, s, len - 1);
    snprintf(buf, len, "%s", s);
    return 0;
}

static int get_num(yaml_document_t *d, yaml_node_t *m, const char *key, double *v, const char *name,
                   mp_err *err)
{
    const char *s = scalar(d, map_get(d, m, key));
    char *end = NULL;
    if (!s)
        return err_set(err, "%s:%lu: the entry has no '%s' (expected a number)", name,
                       (unsigned long)m->start_mark.line + 1, key);
    errno = 0;
    *v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(*v))
        return err_set(err, "%s:%lu: '%s' is \"%s\", expected a finite number", name,
                       (unsigned long)m->start_mark.line + 1, key, s);
    return 0;
}

static int parse_value(paper_data *p, yaml_document_t *d, yaml_node_t *m, const char *name,
                       mp_err *err)
{
    paper_value v;
    memset(&v, 0, sizeof v);
    if (m->type != YAML_MAPPING_NODE)
        return err_set(err, "%s:%lu: a value must be a mapping", name,
                       (unsigned long)m->start_mark.line + 1);
    snprintf(v.file, sizeof v.file, "%s", name);
    v.line = (int)m->start_mark.line + 1;
    if (get_str(d, m, "table", v.table, sizeof v.table, 1, name, err) != 0 ||
        get_str(d, m, "row", v.row, sizeof v.row, 1, name, err) != 0 ||
        get_str(d, m, "column", v.column, sizeof v.column, 1, name, err) != 0 ||
        get_str(d, m, "model", v.model, sizeof v.model, 1, name, err) != 0 ||
        get_str(d, m, "versus", v.versus, sizeof v.versus, 0, name, err) != 0 ||
        get_str(d, m, "relation", v.relation, sizeof v.relation, 0, name, err) != 0 ||
        get_str(d, m, "key", v.key, sizeof v.key, 1, name, err) != 0 ||
        get_num(d, m, "value", &v.value, name, err) != 0)
        return -1;
    paper_value *nv = realloc(p->v, (p->n + 1) * sizeof *nv);
    if (!nv) return err_set(err, "%s: out of memory", name);
    p->v = nv;
    p->v[p->n++] = v;
    return 0;
}

static int parse_model(paper_data *p, yaml_document_t *d, yaml_node_t *m, const char *name,
                       mp_err *err)
{
    paper_model pm;
    char sh[16];
    double x[6];
    static const char *const K[6] = {"num_hidden_layers",   "hidden_size",
                                     "num_attention_heads", "num_experts",
                                     "num_experts_per_tok", "vocab_size"};
    memset(&pm, 0, sizeof pm);
    if (m->type != YAML_MAPPING_NODE)
        return err_set(err, "%s:%lu: a model must be a mapping", name,
                       (unsigned long)m->start_mark.line + 1);
    if (get_str(d, m, "id", pm.id, sizeof pm.id, 1, name, err) != 0 ||
        get_str(d, m, "name", pm.name, sizeof pm.name, 1, name, err) != 0 ||
        get_str(d, m, "checkpoint", pm.checkpoint, sizeof pm.checkpoint, 0, name, err) != 0 ||
        get_str(d, m, "architecture", pm.architecture, sizeof pm.architecture, 1, name, err) != 0 ||
        get_str(d, m, "dense_sibling", pm.dense_sibling, sizeof pm.dense_sibling, 0, name, err) !=
            0 ||
        get_str(d, m, "shared_expert", sh, sizeof sh, 1, name, err) != 0)
        return -1;
    if (strcmp(sh, "true") && strcmp(sh, "false"))
        return err_set(err, "%s:%lu: 'shared_expert' is \"%s\", expected true or false", name,
                       (unsigned long)m->start_mark.line + 1, sh);
    pm.shared_expert = !strcmp(sh, "true");
    for (int i = 0; i < 6; i++) {
        if (get_num(d, m, K[i], &x[i], name, err) != 0) return -1;
        if (x[i] < 0 || x[i] != floor(x[i]) || x[i] > 9007199254740992.0)
            return err_set(err, "%s:%lu: '%s' is %g, expected a whole number in 0..2^53", name,
                           (unsigned long)m->start_mark.line + 1, K[i], x[i]);
    }
    pm.num_hidden_layers = (int64_t)x[0];
    pm.hidden_size = (int64_t)x[1];
    pm.num_attention_heads = (int64_t)x[2];
    pm.num_experts = (int64_t)x[3];
    pm.num_experts_per_tok = (int64_t)x[4];
    pm.vocab_size = (int64_t)x[5];
    paper_model *nm = realloc(p->m, (p->nm + 1) * sizeof *nm);
    if (!nm) return err_set(err, "%s: out of memory", name);
    p->m = nm;
    p->m[p->nm++] = pm;
    return 0;
}

int paper_parse(paper_data *p, const char *name, const char *text, size_t len, mp_err *err)
{
    yaml_parser_t ps;
    yaml_document_t d;
    int rc = -1, have_doc = 0;
    if (!yaml_parser_initialize(&ps)) return err_set(err, "%s: out of memory", name);
    yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
    if (!yaml_parser_load(&ps, &d)) {
        err_set(err, "%s:%lu:%lu: YAML syntax error: %s", name,
                (unsigned long)ps.problem_mark.line + 1, (unsigned long)ps.problem_mark.column + 1,
                ps.problem ? ps.problem : "?");
        goto done;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&d);
    yaml_node_t *vals = map_get(&d, root, "values"), *mods = map_get(&d, root, "models");
    if ((!vals && !mods) || (vals && vals->type != YAML_SEQUENCE_NODE) ||
        (mods && mods->type != YAML_SEQUENCE_NODE)) {
        err_set(err, "%s: expected a mapping with a list 'values' or 'models'", name);
        goto done;
    }
    yaml_node_t *seq = vals ? vals : mods;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *n = yaml_document_get_node(&d, *it);
        if ((vals ? parse_value(p, &d, n, name, err) : parse_model(p, &d, n, name, err)) != 0)
            goto done;
    }
    rc = 0;
done:
    if (have_doc) yaml_document_delete(&d);
    yaml_parser_delete(&ps);
    return rc;
}

/* Every value's model (and versus) must be a model of models.yaml. */
static int check_models(const paper_data *p, mp_err *err)
{
    if (p->nm == 0) return err_set(err, "paper data: no models (models.yaml missing or empty)");
    for (size_t i = 0; i < p->n; i++) {
        const paper_value *v = &p->v[i];
        if (!paper_model_find(p, v->model))
            return err_set(err, "%s:%d: model '%s' is not in models.yaml", v->file, v->line,
                           v->model);
        if (v->versus[0] && !paper_model_find(p, v->versus))
            return err_set(err, "%s:%d: versus '%s' is not in models.yaml", v->file, v->line,
                           v->versus);
    }
    for (size_t i = 0; i < p->nm; i++)
        if (p->m[i].dense_sibling[0] && !paper_model_find(p, p->m[i].dense_sibling))
            return err_set(err, "models.yaml: %s's dense_sibling '%s' is not a model", p->m[i].id,
                           p->m[i].dense_sibling);
    return 0;
}

int paper_load_embedded(paper_data *p, mp_err *err)
{
    memset(p, 0, sizeof *p);
    for (size_t i = 0; PAPER_DATA_NAMES[i]; i++)
        if (paper_parse(p, PAPER_DATA_NAMES[i], PAPER_DATA_TEXT[i], strlen(PAPER_DATA_TEXT[i]),
                        err) != 0) {
            paper_free(p);
            return -1;
        }
    if (check_models(p, err) != 0) {
        paper_free(p);
        return -1;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int paper_load_dir(paper_data *p, const char *dir, mp_err *err)
{
    DIR *dh = opendir(dir);
    char *names[64];
    size_t nn = 0;
    int rc = -1;
    memset(p, 0, sizeof *p);
    if (!dh) return err_set(err, "%s: cannot open the folder: %s", dir, strerror(errno));
    for (struct dirent *e; (e = readdir(dh)) && nn < 64;) {
        size_t l = strlen(e->d_name);
        if (l > 5 && !strcmp(e->d_name + l - 5, ".yaml")) names[nn++] = strdup(e->d_name);
    }
    closedir(dh);
    qsort(names, nn, sizeof *names, cmp_str);
    for (size_t i = 0; i < nn; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        if (!f) {
            err_set(err, "%s: cannot open: %s", path, strerror(errno));
            goto done;
        }
        char *buf = NULL;
        size_t len = 0;
        FILE *mem = open_memstream(&buf, &len);
        char chunk[4096];
        size_t k;
        while (mem && (k = fread(chunk, 1, sizeof chunk, f)) > 0) fwrite(chunk, 1, k, mem);
        fclose(f);
        if (mem) fclose(mem);
        int prc =
            buf ? paper_parse(p, names[i], buf, len, err) : err_set(err, "%s: out of memory", path);
        free(buf);
        if (prc != 0) goto done;
    }
    rc = check_models(p, err);
done:
    for (size_t i = 0; i < nn; i++) free(names[i]);
    if (rc != 0) paper_free(p);
    return rc;
}

void paper_free(paper_data *p)
{
    free(p->v);
    free(p->m);
    memset(p, 0, sizeof *p);
}

const paper_model *paper_model_find(const paper_data *p, const char *id)
{
    for (size_t i = 0; i < p->nm; i++)
        if (!strcmp(p->m[i].id, id)) return &p->m[i];
    return NULL;
}

const paper_value *paper_find(const paper_data *p, const char *table, const char *model,
                              const char *relation, const char *key)
{
    for (size_t i = 0; i < p->n; i++) {
        const paper_value *v = &p->v[i];
        if (!strcmp(v->table, table) && !strcmp(v->model, model) && !strcmp(v->key, key) &&
            !strcmp(v->relation, relation ? relation : ""))
            return v;
    }
    return NULL;
}
