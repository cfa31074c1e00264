/* run_config.h — the YAML run / sweep config of `moeprobe run CONFIG.yaml` (libyaml).
 *
 * ONE SCHEMA (schema.h). Every key is one entry of a table: key path ("block.top_n"), type,
 * default, allowed values or range, flags and a one-line doc. The run's own keys are in
 * schema.c; each analysis declares its section next to its code, and the analysis registry
 * builds the whole schema (analysis_config_schema, stages/analysis_def.h). Parsing, validation,
 * defaults, the typed accessors below, rcfg_to_yaml_text and `moeprobe config --explain` all
 * read the schema the config was loaded with.
 *
 * A config needs only `model` (or `models` for a sweep), `relations` and `out`; every other key
 * takes its default. Relative paths are taken from the working directory.
 *   model:      a Hugging Face checkpoint folder, or a model YAML file (keys name, path,
 *               batch_size, ranks; see `moeprobe config --explain`)
 *   models:     the sweep form: a list of such folders / model files (exclusive with model)
 *   relations:  a folder of LRE .json files, one file, a relation name (looked up in
 *               relations_dir), or a list of files and names
 *
 * VALIDATION happens entirely in rcfg_load, before any work: YAML syntax, unknown keys (with
 * "did you mean" suggestions), wrong types, values out of range or not among the allowed ones,
 * missing required keys, paths that do not exist, unknown relations, relation files that do
 * not load, template indices no relation has, stage fractions that do not sum to 1, model
 * files and their own keys, and each analysis's checks across its keys. ALL problems are collected, each as one line
 * "FILE:LINE:COLUMN: what is wrong (expected ...)" (1-based; problems without a place in the
 * file use the position of the top-level mapping). A YAML syntax error is one problem at the
 * position libyaml reports.
 *
 * ACCESSORS take a key path of the schema. A key path that is not in the schema, or a call
 * whose type does not match the key's type, is a programming error: it prints the key and
 * aborts (tests catch misspellings at once instead of silently reading a default). Input
 * errors never abort. Returned strings and arrays belong to the rcfg and live until rcfg_free.
 *
 * MPI. rank 0 calls rcfg_load, then rcfg_pack; the bytes travel by MPI_Bcast (done by the
 * caller); other ranks call rcfg_unpack, which does no file I/O and no validation beyond the
 * buffer's own integrity (bounds, magic, schema fingerprint). */
#ifndef MOEPROBE_RUN_CONFIG_H
#define MOEPROBE_RUN_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pipeline/config/schema.h"
#include "pipeline/util/error.h"

/* Validation messages, one "FILE:LINE:COL: ..." line each (no newline). */
typedef struct rcfg_problems {
    char **msg;
    size_t n;
} rcfg_problems;
void rcfg_problems_free(rcfg_problems *p);

/* Parses and validates `path`. On success *cfg is set and 0 returned. On failure *cfg is NULL,
 * every problem is appended to `probs` (may be NULL) and err holds a one-line summary
 * ("FILE: N problems; the first: ..."). */
int rcfg_load(rcfg **cfg, const char *path, const rcfg_schema *s, rcfg_problems *probs,
              mp_err *err);

/* The same for YAML text in memory; `name` is used in messages in place of a file name. */
int rcfg_load_text(rcfg **cfg, const char *text, const char *name, const rcfg_schema *s,
                   rcfg_problems *probs, mp_err *err);

/* A config stored in an archive (root attribute run_config_yaml, written by rcfg_to_yaml_text):
 * keys, types, ranges and defaults are checked as for rcfg_load_text, but no path is looked
 * at (the run may have been elsewhere), so models and relations stay unresolved
 * (rcfg_model_count and rcfg_relation_count are 0). err names the first problem. */
int rcfg_load_stored(rcfg **cfg, const char *text, const char *name, const rcfg_schema *s,
                     mp_err *err);

void rcfg_free(rcfg *cfg); /* NULL is fine */

/* ---- typed access by key path ------------------------------------------------------------ */
int64_t rcfg_int(const rcfg *c, const char *key);     /* int keys; "all" reads as -1 */
double rcfg_float(const rcfg *c, const char *key);    /* float keys */
int rcfg_bool(const rcfg *c, const char *key);        /* bool keys: 0 / 1 */
const char *rcfg_str(const rcfg *c, const char *key); /* string, path, enum keys; NULL if null */
/* Index of an enum key's value in the schema's list of allowed values. */
int rcfg_enum(const rcfg *c, const char *key);
/* List keys: the count; *v points at the elements (NULL when empty or "all"). */
size_t rcfg_int_list(const rcfg *c, const char *key, const int64_t **v);
size_t rcfg_str_list(const rcfg *c, const char *key, const char *const **v);
/* 1 if a key that accepts "all" holds "all". */
int rcfg_is_all(const rcfg *c, const char *key);
/* 1 if the key was given in the file (0: default). */
int rcfg_is_set(const rcfg *c, const char *key);
/* 1 if the string-list key holds `value` (e.g. rcfg_list_has(c, "stages", "block")). */
int rcfg_list_has(const rcfg *c, const char *key, const char *value);

/* ---- resolved values --------------------------------------------------------------------- */
const char *rcfg_source(const rcfg *c); /* the file name (or name given to rcfg_load_text) */
int rcfg_is_sweep(const rcfg *c);       /* 1 if `models:` was used */

typedef struct rcfg_model {
    char *name;         /* model file's `name`; else `name:` (single runs); else folder name */
    char *path;         /* checkpoint folder */
    char *source;       /* the model YAML file, or NULL when given as a folder */
    int64_t batch_size; /* 0 = the run's batch_size */
    int64_t ranks;      /* 0 = not specified */
} rcfg_model;
size_t rcfg_model_count(const rcfg *c);
const rcfg_model *rcfg_model_at(const rcfg *c, size_t i);

/* The relations to run, in order (a folder expands sorted by file name), each with its id
 * (file name without .json) and the path of its JSON file. */
size_t rcfg_relation_count(const rcfg *c);
const char *rcfg_relation_id(const rcfg *c, size_t i);
const char *rcfg_relation_path(const rcfg *c, size_t i);

/* Names that become file names (a model's `name`: OUT/NAME.h5, NAME.h5.parts/; a relation's
 * id: unit ids and part files) must be plain file names: not empty, at most RCFG_NAME_MAX
 * bytes, no '/' or '\\', not starting with '.' (hidden, "..", "."), no control character
 * (a newline would break the "last stdout line is the archive path" contract). 0 if name is
 * one, else -1 with why ("contains '/' at byte 3", ...). */
#define RCFG_NAME_MAX 200
int rcfg_name_check(const char *name, char *why, size_t len);

/* The candidate closest to word within a small edit distance (a third of its length, at least
 * 2), or NULL: the "did you mean" of config keys, values and command-line names. */
const char *rcfg_suggest(const char *word, const char *const *cands, size_t n);

/* ---- text, explain, transport ------------------------------------------------------------- */

/* The effective config as YAML: every key of the schema in table order, defaults filled in.
 * Parsing it again gives the same config. malloc'd; NULL only when out of memory. */
char *rcfg_to_yaml_text(const rcfg *c);

/* Serialises c into a malloc'd buffer (*buf, *len). */
int rcfg_pack(const rcfg *c, void **buf, size_t *len, mp_err *err);
/* Rebuilds a config from rcfg_pack's bytes (no file access); s must be the schema rcfg_pack's
 * config was loaded with (the bytes carry its fingerprint). */
int rcfg_unpack(rcfg **c, const void *buf, size_t len, const rcfg_schema *s, mp_err *err);

#endif
