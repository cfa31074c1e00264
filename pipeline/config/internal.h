/* internal.h — shared by the files of pipeline/config/ only: the schema's insides, the value
 * store and the problem list. */
#ifndef MOEPROBE_RUN_CONFIG_INTERNAL_H
#define MOEPROBE_RUN_CONFIG_INTERNAL_H

#include <yaml.h>

#include "pipeline/config/run_config.h"
#include "pipeline/config/schema.h"

struct rcfg_schema {
    const rcfg_key *keys;
    size_t n;
    const char *what;    /* "run config", "model file" */
    const char *example; /* the keys an empty file is told to hold */
    /* built by rcfg_schema_build: the keys it owns, the values and default of `stages`, and
     * the analyses' sections with a check across keys */
    rcfg_key *own;
    char *analysis_values, *analysis_default;
    const rcfg_section **checked;
    size_t n_checked;
    /* the analyses' per-model unit names: no relation id may equal one */
    const char **reserved_ids;
    size_t n_reserved;
};

extern const rcfg_schema RCFG_MODEL_SCHEMA;

/* Index of key path in the schema, -1 if none. */
int rcfg_schema_find(const rcfg_schema *s, const char *path);
/* "list of int", "path (folder)" ... */
const char *rcfg_type_text(const rcfg_key *k, char *buf, size_t len);

typedef struct rcfg_val {
    int set;       /* given in the file */
    int line, col; /* 1-based position of the value (0 if default) */
    int is_null, is_all;
    int is_list;   /* RCFG_SPECIAL keys: given as a sequence (sv) rather than a scalar (s) */
    int64_t i;     /* INT, BOOL (0/1), ENUM (index) */
    double f;      /* FLOAT */
    char *s;       /* STR, PATH, ENUM */
    int64_t *iv;   /* INT_LIST */
    char **sv;     /* STR_LIST, ENUM_LIST, PATH_LIST */
    size_t n;      /* list length */
    int *elem_pos; /* RCFG_SPECIAL lists: line, col of each element (2n ints) */
} rcfg_val;

void rcfg_val_clear(rcfg_val *v);

typedef struct rcfg_rel {
    char *id, *path;
} rcfg_rel;

struct rcfg {
    const rcfg_schema *schema; /* the run-config schema it was loaded with */
    char *source;
    rcfg_val *vals; /* one per schema key */
    int sweep;
    rcfg_model *models;
    size_t n_models;
    rcfg_rel *rels;
    size_t n_rels;
    /* `relations` as written: a scalar or a list of scalars (kept for rcfg_to_yaml_text) */
    char **rel_spec;
    size_t n_rel_spec;
    int rel_spec_list;
};

/* ---- parsing (parse.c) --------------------------------------------------------- */

typedef struct rcfg_prob {
    char *file;
    int line, col;
    char *text; /* the whole "FILE:LINE:COL: ..." line */
} rcfg_prob;

/* Problems as they are found; rcfg_probs_finish sorts them into file order (files in order
 * of first appearance, then line, column) and hands them to `out`. */
typedef struct rcfg_probs {
    rcfg_problems *out; /* may be NULL */
    size_t count;
    rcfg_prob *v;
    char first[MP_ERR_LEN]; /* set by rcfg_probs_finish */
    int stored;             /* a stored config (rcfg_load_stored): paths are not looked at */
} rcfg_probs;

void rcfg_probs_finish(rcfg_probs *p);

void rcfg_problem(rcfg_probs *p, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Loads the first YAML document of text; a syntax error becomes one problem. 0 / -1. */
int rcfg_yaml_load(yaml_document_t *doc, const char *text, size_t len, const char *file,
                   rcfg_probs *p);

/* Walks the root mapping of doc against schema s, filling vals (one per key). Problems for
 * unknown keys, duplicates, wrong types and ranges. The RCFG_SPECIAL keys are stored as raw
 * values: scalars in s, sequences of scalars in sv with is_list = 1. */
void rcfg_walk(const rcfg_schema *s, yaml_document_t *doc, rcfg_val *vals, const char *file,
               rcfg_probs *p);

/* Parses a default text of key k into v (aborts if the schema's default is invalid). */
void rcfg_default(const rcfg_key *k, rcfg_val *v);

/* Reads a whole file into a malloc'd NUL-terminated buffer. */
char *rcfg_read_file(const char *path, size_t *len, mp_err *err);

#endif
