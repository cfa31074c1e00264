/* relations.h — LRE relation files (the .json files of data/lre, from Hernandez et al.'s
 * Linear Relational Embedding dataset): name, prompt templates, properties and samples.
 *
 * Samples are kept in file order with duplicates, exactly as Python's json decodes them (a
 * file holding "Bras\\u00edlia" gives the 12 characters Bras\u00edlia, not Brasília).
 * Every template must contain at least one "{}"; building a prompt replaces every "{}" with
 * the subject (all LRE templates have exactly one).
 *
 * Errors (return -1, err names the file and, for JSON syntax, line:column): missing file, bad
 * JSON, a missing or non-string `name`, missing or non-list `prompt_templates_zs` /
 * `prompt_templates` (an absent `prompt_templates` is allowed: empty), non-string templates,
 * a template without "{}", missing, non-list or empty `samples`, a sample that is not an object
 * or lacks a string `subject` / `object`, an `object` that is empty or starts with whitespace
 * (the target is the first token of prompt + " " + object, so " Paris" would make it a
 * whitespace token: write "Paris"), a template or sample index out of range. */
#ifndef MOEPROBE_RELATIONS_H
#define MOEPROBE_RELATIONS_H

#include <stddef.h>

#include "pipeline/util/error.h"

typedef struct lre_sample {
    char *subject;
    char *object;
} lre_sample;

typedef struct lre_relation {
    char *id;         /* file name without ".json", e.g. "country_capital_city" */
    char *name;       /* the `name` field, e.g. "country capital city" */
    char *path;       /* the file it was read from */
    char **templates; /* prompt_templates (few-shot style), n_templates of them */
    size_t n_templates;
    char **templates_zs; /* prompt_templates_zs (zero-shot; moeprobe's default) */
    size_t n_templates_zs;
    char *properties_json; /* the `properties` object as compact JSON ("{}" if absent) */
    lre_sample *samples;   /* n_samples, file order, duplicates kept */
    size_t n_samples;
} lre_relation;

/* A zeroed lre_relation is valid and empty; lre_free returns it to that state. */
void lre_free(lre_relation *r);

/* Loads one relation file. On failure *r is left zeroed. The id is the file's base name
 * without ".json". */
int lre_load(lre_relation *r, const char *path, mp_err *err);

typedef struct lre_set {
    lre_relation *rel; /* n relations, sorted by file name */
    size_t n;
} lre_set;

void lre_set_free(lre_set *s);

/* Loads every *.json file of a folder (other files such as LICENSE are ignored), sorted by
 * file name. A folder without any .json file is an error. */
int lre_load_dir(lre_set *s, const char *dir, mp_err *err);

typedef enum lre_template_kind {
    LRE_ZS = 0, /* prompt_templates_zs — the default of method.md */
    LRE_FS = 1  /* prompt_templates */
} lre_template_kind;

/* Number of templates of that kind. */
size_t lre_template_count(const lre_relation *r, lre_template_kind kind);

/* The prompt of sample i with template t of `kind`: every "{}" replaced by the subject.
 * *out is malloc'd (caller frees). */
int lre_prompt(const lre_relation *r, lre_template_kind kind, size_t t, size_t i, char **out,
               mp_err *err);

#endif
