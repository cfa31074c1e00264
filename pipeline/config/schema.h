/* schema.h — how run-config keys are declared, and the run-config schema built from them.
 *
 * The config module owns the keys of the run itself (model, relations, out, batch_size,
 * stages, archive.*, ...; schema.c). Every analysis owns the keys of its own section: it
 * declares them as a table of rcfg_key next to its code (stages/block.c: "block",
 * "block.top_n", ...) and the analysis registry hands all of them to rcfg_schema_build. So the
 * config module never lists analyses, and a new analysis brings its keys with it.
 *
 * A key: its path ("block.top_n"), type, flags, default as YAML text (parsed like user input;
 * a test checks that every default validates), range or allowed values, one-line doc.
 * Parsing, validation, defaults, the typed accessors, rcfg_to_yaml_text and `moeprobe config
 * --explain` all read the schema. */
#ifndef MOEPROBE_RCFG_SCHEMA_H
#define MOEPROBE_RCFG_SCHEMA_H

#include <stddef.h>
#include <stdio.h>

#include "pipeline/util/error.h"

typedef enum rcfg_type {
    RCFG_MAP = 0, /* a section holding other keys */
    RCFG_STR,
    RCFG_PATH, /* a string naming a file or folder (see the RCFG_* path flags) */
    RCFG_INT,
    RCFG_FLOAT,
    RCFG_BOOL,
    RCFG_ENUM, /* one of `values` */
    RCFG_INT_LIST,
    RCFG_STR_LIST,
    RCFG_ENUM_LIST, /* each one of `values` */
    RCFG_PATH_LIST,
    RCFG_TYPE_COUNT
} rcfg_type;

enum {
    RCFG_REQUIRED = 1 << 0,  /* no default; must be given (model/models handled specially) */
    RCFG_NULLABLE = 1 << 1,  /* null is a valid value */
    RCFG_ALL = 1 << 2,       /* the scalar "all" is a valid value */
    RCFG_DIR = 1 << 3,       /* path: must be an existing folder */
    RCFG_FILE = 1 << 4,      /* path: must be an existing file */
    RCFG_NOT_FILE = 1 << 5,  /* path: may be missing (created later) but not a file */
    RCFG_HIDE_NULL = 1 << 6, /* rcfg_to_yaml_text leaves the key out while it is null */
    RCFG_SPECIAL = 1 << 7,   /* checked and resolved by code in run_config.c */
};

#define RCFG_NOLIM 0, 0 /* min, max of a key without a range */

typedef struct rcfg_key {
    const char *path; /* "block.top_n" */
    rcfg_type type;
    unsigned flags;
    const char *def;    /* default as YAML text ("[1, 5, 10]"); NULL: none (null) */
    double min, max;    /* range of int / float values and of list elements */
    const char *values; /* allowed values "a|b|c" of enum types */
    const char *doc;
} rcfg_key;

typedef struct rcfg rcfg;

/* An analysis's section of the run config. keys[0] is the section itself (type RCFG_MAP,
 * path = the analysis's name); every other key lies below it, sections before their keys.
 * check, if set, runs after every key is valid on its own, for rules across keys (fractions
 * that must sum to 1): 0 if fine, else -1 with the problem in msg, reported at the place of
 * key check_at in the file. */
typedef struct rcfg_section {
    const rcfg_key *keys;
    size_t n;
    const char *check_at;
    int (*check)(const rcfg *c, char *msg, size_t len);
} rcfg_section;

/* A section from a key table: .config = RCFG_SECTION(BLOCK_KEYS). */
#define RCFG_SECTION(table)                                                                        \
    {                                                                                              \
        (table), sizeof(table) / sizeof((table)[0]), NULL, NULL                                    \
    }

/* One analysis as the run config sees it: a value of `stages`, with its section (or NULL) and
 * the name of its per-model unit (NULL if none): "<name>/<unit_name>" would be the unit of a
 * relation of that id too, so no relation may take it (the config refuses such a relation). */
typedef struct rcfg_analysis {
    const char *name;
    const rcfg_section *section;
    const char *unit_name;
} rcfg_analysis;

typedef struct rcfg_schema rcfg_schema;

/* The run-config schema: the run's keys, then each analysis's section in the order given,
 * then the archive's keys. `stages` accepts the analyses' names, and lists all of them by
 * default. A section that breaks the rules above (a key outside its section, a duplicate, a
 * key before its section) is a programming error: -1 with err naming the key. */
int rcfg_schema_build(rcfg_schema **s, const rcfg_analysis *a, size_t n, mp_err *err);
void rcfg_schema_free(rcfg_schema *s); /* NULL is fine */

/* The run's own key `path` (not a stage's, not the archive's), NULL if there is none. */
const rcfg_key *rcfg_run_key(const char *path);

/* Prints every key: path, type, constraints, default and doc, then the model-file keys. */
void rcfg_explain(FILE *f, const rcfg_schema *s);

#endif
