/* sections.h — the sections of the report, one file per analysis (sec_*.c), in the order of
 * report.c's SECTIONS[] table. A section gets every model's data and writes its part of the
 * document under the heading that the table gives it; a model that lacks the data gets one
 * sentence saying why (rep_why_missing), never an error. */
#ifndef MOEPROBE_REPORT_SECTIONS_H
#define MOEPROBE_REPORT_SECTIONS_H

#include "report/internal.h"

typedef void (*rep_section_fn)(rep_doc *d, rep_model *m, size_t n);

typedef struct rep_section {
    const char *id;    /* HTML anchor */
    const char *toc;   /* entry of the table of contents */
    const char *title; /* heading */
    rep_section_fn fn;
    /* NULL: always shown; else shown only when it returns 1 (e.g. trace archives only) */
    int (*shown)(rep_model *m, size_t n);
} rep_section;

void sec_glance(rep_doc *d, rep_model *m, size_t n);
void sec_attribution(rep_doc *d, rep_model *m, size_t n);
void sec_gains(rep_doc *d, rep_model *m, size_t n);
void sec_stages(rep_doc *d, rep_model *m, size_t n);
void sec_blocking(rep_doc *d, rep_model *m, size_t n);
void sec_ablations(rep_doc *d, rep_model *m, size_t n);
void sec_heads_experts(rep_doc *d, rep_model *m, size_t n);
void sec_neurons(rep_doc *d, rep_model *m, size_t n);
void sec_provenance(rep_doc *d, rep_model *m, size_t n);
void sec_paper(rep_doc *d, rep_model *m, size_t n);
void sec_views(rep_doc *d, rep_model *m, size_t n);
void sec_trace(rep_doc *d, rep_model *m, size_t n);
int sec_trace_shown(rep_model *m, size_t n);
/* 1 if the archive is a `moeprobe trace` file (it has a group /prompt00). */
int rep_is_trace(const rep_model *m);

struct paper_data;
/* Which archive models stand for paper models (sec_paper.c): --paper-model entries "NAME=ID"
 * first, then the archive's run config report.paper_models, else the same config shape. -1 with
 * err for a --paper-model entry that names no paper model. */
int rep_paper_map(rep_model *m, size_t n, const struct paper_data *p, const char *const *cli,
                  size_t ncli, mp_err *err);

#endif
