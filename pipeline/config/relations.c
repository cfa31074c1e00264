/* relations.c — see relations.h. jansson decodes the JSON; this file checks the shape of
 * the LRE schema and builds prompts. */
#include "pipeline/config/relations.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

void lre_free(lre_relation *r)
{
    if (!r) return;
    free(r->id);
    free(r->name);
    free(r->path);
    free_strs(r->templates, r->n_templates);
    free_strs(r->templates_zs, r->n_templates_zs);
    free(r->properties_json);
    for (size_t i = 0; i < r->n_samples; i++) {
        free(r->samples[i].subject);
        free(r->samples[i].object);
    }
    free(r->samples);
    memset(r, 0, sizeof *r);
}

/* Copies a JSON array of template strings; each must contain "{}". absent_ok: a missing key
 * gives an empty list. */
static int load_templates(const char *path, json_t *root, const char *key, int absent_ok,
                          char ***out, size_t *n, mp_err *err)
{
    json_t *a = json_object_get(root, key);
    *out = NULL;
    *n = 0;
    if (!a && absent_ok) return 0;
    if (!a)
        return err_set(err, "%s: missing key '%s' (expected a list of template strings)", path,
                       key);
    if (!json_is_array(a))
        return err_set(err, "%s: '%s' is not a list (expected a list of template strings)", path,
                       key);
    size_t len = json_array_size(a);
    /* a required list must hold a template: otherwise every index is "out of range" later */
    if (len == 0 && !absent_ok)
        return err_set(err,
                       "%s: '%s' is an empty list (expected at least one template string "
                       "with a {} placeholder for the subject)",
                       path, key);
    *out = calloc(len ? len : 1, sizeof **out);
    if (!*out) return err_set(err, "%s: out of memory", path);
    for (size_t i = 0; i < len; i++) {
        json_t *s = json_array_get(a, i);
        if (!json_is_string(s))
            return err_set(err, "%s: %s[%zu] is not a string (expected a template with {})", path,
                           key, i);
        if (!strstr(json_string_value(s), "{}"))
            return err_set(err, "%s: %s[%zu] \"%s\" has no {} placeholder for the subject", path,
                           key, i, json_string_value(s));
        (*out)[i] = strdup(json_string_value(s));
        if (!(*out)[i]) return err_set(err, "%s: out of memory", path);
        (*n)++;
    }
    return 0;
}

static char *base_id(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 5 && !strcmp(b + n - 5, ".json")) n -= 5;
    return strndup(b, n);
}

int lre_load(lre_relation *r, const char *path, mp_err *err)
{
    json_error_t je;
    json_t *root = NULL;
    int rc = -1;
    memset(r, 0, sizeof *r);
    root = json_load_file(path, 0, &je);
    if (!root) {
        if (je.line <= 0) return err_set(err, "%s: cannot read relation file: %s", path, je.text);
        return err_set(err, "%s:%d:%d: bad JSON: %s", path, je.line, je.column, je.text);
    }
    if (!json_is_object(root)) {
        err_set(err, "%s: top level is not an object (expected an LRE relation)", path);
        goto done;
    }
    r->path = strdup(path);
    r->id = base_id(path);
    json_t *name = json_object_get(root, "name");
    if (!json_is_string(name)) {
        err_set(err, "%s: 'name' is %s (expected a string)", path,
                name ? "not a string" : "missing");
        goto done;
    }
    r->name = strdup(json_string_value(name));
    if (load_templates(path, root, "prompt_templates_zs", 0, &r->templates_zs, &r->n_templates_zs,
                       err) != 0 ||
        load_templates(path, root, "prompt_templates", 1, &r->templates, &r->n_templates, err) != 0)
        goto done;
    json_t *props = json_object_get(root, "properties");
    r->properties_json = props ? json_dumps(props, JSON_COMPACT | JSON_SORT_KEYS) : strdup("{}");
    json_t *samples = json_object_get(root, "samples");
    if (!samples) {
        err_set(err, "%s: missing key 'samples' (expected a list of {subject, object})", path);
        goto done;
    }
    if (!json_is_array(samples) || json_array_size(samples) == 0) {
        err_set(err, "%s: 'samples' is %s (expected a non-empty list of {subject, object})", path,
                json_is_array(samples) ? "empty" : "not a list");
        goto done;
    }
    size_t n = json_array_size(samples);
    r->samples = calloc(n, sizeof *r->samples);
    if (!r->id || !r->path || !r->name || !r->properties_json || !r->samples) {
        err_set(err, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(samples, i);
        if (!json_is_object(s)) {
            err_set(err, "%s: samples[%zu] is not an object (expected {subject, object})", path, i);
            goto done;
        }
        json_t *sub = json_object_get(s, "subject"), *obj = json_object_get(s, "object");
        if (!json_is_string(sub) || !json_is_string(obj)) {
            const char *which = !json_is_string(sub) ? "subject" : "object";
            err_set(err, "%s: samples[%zu].%s is %s (expected a string)", path, i, which,
                    json_object_get(s, which) ? "not a string" : "missing");
            goto done;
        }
        /* the object follows the prompt after one space that moeprobe adds itself; an empty
         * object, or one that brings its own leading space (the Hugging Face habit
         * " Paris"), would make the target a whitespace token (#13 point 7: refused) */
        const char *ov = json_string_value(obj);
        if (!*ov || strchr(" \t\n\r\v\f", *ov)) {
            err_set(err,
                    "%s: samples[%zu].object %s (moeprobe puts one space between prompt and "
                    "object: expected the object's words without leading whitespace)",
                    path, i, *ov ? "starts with whitespace" : "is empty");
            goto done;
        }
        r->samples[i].subject = strdup(json_string_value(sub));
        r->samples[i].object = strdup(json_string_value(obj));
        r->n_samples++;
        if (!r->samples[i].subject || !r->samples[i].object) {
            err_set(err, "%s: out of memory", path);
            goto done;
        }
    }
    rc = 0;
done:
    json_decref(root);
    if (rc != 0) lre_free(r);
    return rc;
}

void lre_set_free(lre_set *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) lre_free(&s->rel[i]);
    free(s->rel);
    s->rel = NULL;
    s->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int lre_load_dir(lre_set *s, const char *dir, mp_err *err)
{
    DIR *d;
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;
    memset(s, 0, sizeof *s);
    d = opendir(dir);
    if (!d) return err_set(err, "%s: cannot open relations folder: %s", dir, strerror(errno));
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len <= 5 || strcmp(e->d_name + len - 5, ".json") || e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                err_set(err, "%s: out of memory", dir);
                goto done;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) {
            err_set(err, "%s: out of memory", dir);
            goto done;
        }
        n++;
    }
    if (n == 0) {
        err_set(err, "%s: no .json relation files in the folder", dir);
        goto done;
    }
    qsort(names, n, sizeof *names, cmp_str);
    s->rel = calloc(n, sizeof *s->rel);
    if (!s->rel) {
        err_set(err, "%s: out of memory", dir);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path) {
            err_set(err, "%s/%s: path too long", dir, names[i]);
            goto done;
        }
        if (lre_load(&s->rel[i], path, err) != 0) goto done;
        s->n++;
    }
    rc = 0;
done:
    if (d) closedir(d);
    free_strs(names, n);
    if (rc != 0) lre_set_free(s);
    return rc;
}

size_t lre_template_count(const lre_relation *r, lre_template_kind kind)
{
    return kind == LRE_FS ? r->n_templates : r->n_templates_zs;
}

int lre_prompt(const lre_relation *r, lre_template_kind kind, size_t t, size_t i, char **out,
               mp_err *err)
{
    size_t nt = lre_template_count(r, kind);
    const char *tpl, *p;
    const char *kname = kind == LRE_FS ? "prompt_templates" : "prompt_templates_zs";
    *out = NULL;
    if (t >= nt)
        return err_set(err, "%s: template index %zu out of range (%s has %zu)", r->path, t, kname,
                       nt);
    if (i >= r->n_samples)
        return err_set(err, "%s: sample index %zu out of range (%zu samples)", r->path, i,
                       r->n_samples);
    tpl = (kind == LRE_FS ? r->templates : r->templates_zs)[t];
    const char *subj = r->samples[i].subject;
    size_t holes = 0, sl = strlen(subj);
    for (p = strstr(tpl, "{}"); p; p = strstr(p + 2, "{}")) holes++;
    if (holes == 0) return err_set(err, "%s: %s[%zu] has no {} placeholder", r->path, kname, t);
    char *buf = malloc(strlen(tpl) - 2 * holes + holes * sl + 1), *o = buf;
    if (!buf) return err_set(err, "%s: out of memory", r->path);
    for (p = tpl; *p;) {
        if (p[0] == '{' && p[1] == '}') {
            memcpy(o, subj, sl);
            o += sl;
            p += 2;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    *out = buf;
    return 0;
}
