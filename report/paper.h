/* paper.h — the paper's reported numbers (data/paper/NAME.yaml, embedded at build time by
 * scripts/gen-paper-data.sh) and which archive models are paper models (report/paper.c). */
#ifndef MOEPROBE_REPORT_PAPER_H
#define MOEPROBE_REPORT_PAPER_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/util/error.h"

/* One reported value: where it stands in the paper and what moeprobe measures it by. */
typedef struct paper_value {
    char file[32];
    int line;       /* 1-based line in its file */
    char table[24]; /* "1", "8", "abstract", "section 4.3" */
    char row[128];  /* as the paper labels it */
    char column[64];
    char model[24];    /* paper model id (models.yaml) */
    char versus[24];   /* compared model, or "" */
    char relation[48]; /* or "" */
    char key[48];      /* measured counterpart (see the files' headers) */
    double value;
} paper_value;

/* A paper model and the shape of its config.json. */
typedef struct paper_model {
    char id[24], name[48], checkpoint[48], architecture[64], dense_sibling[24];
    int64_t num_hidden_layers, hidden_size, num_attention_heads, num_experts, num_experts_per_tok,
        vocab_size;
    int shared_expert;
} paper_model;

typedef struct paper_data {
    paper_value *v;
    size_t n;
    paper_model *m;
    size_t nm;
} paper_data;

/* Parses one file's text (name for messages) into p (appending). Every value needs table, row,
 * column, model (a known id once models are read), key and a numeric value; a model needs id,
 * name, architecture and the shape fields. Errors name the file, line and key. */
int paper_parse(paper_data *p, const char *name, const char *text, size_t len, mp_err *err);
/* The embedded copy of data/paper/NAME.yaml; then checks that every value's model exists. */
int paper_load_embedded(paper_data *p, mp_err *err);
/* The files of a folder (data/paper), for the tests; same checks. */
int paper_load_dir(paper_data *p, const char *dir, mp_err *err);
void paper_free(paper_data *p);

const paper_model *paper_model_find(const paper_data *p, const char *id);
/* The paper value of (table, model, relation or NULL, key), or NULL. */
const paper_value *paper_find(const paper_data *p, const char *table, const char *model,
                              const char *relation, const char *key);

#endif
