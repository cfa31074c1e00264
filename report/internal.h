/* internal.h — the pieces of the report (the files of report/): what is read from an
 * archive (load*.c, read.c, query.c), the plots (svg.c, gnuplot.c), the HTML / Markdown
 * writer (doc.c) and what the sections share (cells.c, relation.c). The sections themselves
 * are in sections.h. Not a public interface.
 *
 * Numbers that an archive lacks are NAN; arrays that it lacks are NULL with count 0. Every
 * struct here owns its memory and is released by its _free function. */
#ifndef MOEPROBE_REPORT_INTERNAL_H
#define MOEPROBE_REPORT_INTERNAL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "pipeline/archive/archive.h"
#include "pipeline/archive/schema.h"
#include "pipeline/util/error.h"
#include "report/report.h"

/* An index or count that an archive holds as a number: -1 when it is not finite or beyond
 * +-2^53 (a damaged or hostile value; converting it as it is would be undefined behaviour). */
static inline int64_t rep_i64(double v)
{
    return isfinite(v) && fabs(v) <= 9007199254740992.0 ? (int64_t)v : -1;
}

/* ---- what an archive holds ------------------------------------------------------------- */

enum { REP_EARLY = 0, REP_MID, REP_LATE, REP_NSTAGE };
extern const char *const REP_STAGE_NAMES[REP_NSTAGE];

typedef struct rep_summary {
    int have;
    double n, total_ffn, total_attn, layer_eff, peak, peak_pct;
    double *ffn_curve, *attn_curve; /* [n_curve] */
    int64_t n_curve;
    double stage_gain[REP_NSTAGE], stage_share[REP_NSTAGE], stage_gpl[REP_NSTAGE];
    int64_t stage_first[REP_NSTAGE], stage_last[REP_NSTAGE]; /* 1-based; 0 = unknown */
} rep_summary;

/* A (head or expert) index pair [layer, index], 0-based. */
typedef struct rep_idx {
    int64_t l, i;
} rep_idx;

typedef struct rep_corr {
    rep_idx head, expert;
    double r, p, n;
    double q, p_perm; /* BH q-value; family-wise p against the permutation null */
    int survives;     /* 1 / 0 by the run's rule; -1 unknown */
} rep_corr;

typedef struct rep_head_expert {
    int have;  /* the group exists */
    double *r; /* [rows, cols] head x expert, NAN = undefined; may be NULL */
    int64_t rows, cols;
    rep_corr *strongest;
    size_t n_strongest;
    /* multiple testing (analyses/<rel>/head_expert/null) */
    int have_null;
    char significance[16]; /* "permutation" or "fdr" */
    double alpha, null_q95, null_q50, p_max, max_abs_r, permutations;
    double n_survivors, n_fdr, n_beat;
    int have_pair;
    rep_corr pair;
    double r_margin;
    double rank_in_top;
    int have_supp;
    rep_idx top4[16];
    int n_top4;
    double prob_base, prob_supp, prob_change, prob_change_rel;
    double hit10_base, mrr_base, hit10_supp, mrr_supp, mrr_drop, mrr_drop_rel;
    int have_forc;
    double hit10_forced, mrr_forced, recovery, forced_over_base, eprob_base, eprob_supp;
    int recovery_defined; /* 1, 0 (drop below min_mrr_drop), -1 not stored */
    double min_mrr_drop;
    int have_path;
    double share_own, share_all, share_pair_head, share_emb, share_ffn;
} rep_head_expert;

/* analyses/<rel>/neurons/top{N} and analyses/pooled/neurons/top{N} (stages/neurons.c). */
typedef struct rep_ntop {
    int64_t N;
    double n, frac_shared, frac_routed, frac_dense;
    double jaccard, overlap_pct, union_size, shared_jaccard, shared_overlap_pct, shared_union_size;
    int64_t top_experts[16][3]; /* (layer, expert, count) */
    int n_top_experts;
    int64_t top_shared[16][3]; /* (layer, neuron, count) */
    int n_top_shared;
    /* pooled only: relations [R] and [R, R] overlaps (NULL if absent) */
    char **relations;
    int64_t n_relations;
    double *pair_overlap, *shared_pair_overlap;
} rep_ntop;

/* A configuration's metrics (blocked top-N, top-k, named ablation). */
typedef struct rep_cfg {
    char name[48]; /* "1" for block1 / topk1, or "only_top1" */
    int64_t num;   /* N or k; -1 for named ones */
    double hit10, mrr;
} rep_cfg;

typedef struct rep_relation {
    char *name;
    int have_metrics;
    double n, hit10, mrr;
    int64_t top[10][3]; /* top_experts (layer, expert, count) */
    int n_top;
    rep_cfg *block, *topk, *named;
    size_t n_block, n_topk, n_named;
    rep_summary summary;
    rep_head_expert he;
    rep_ntop *ntop; /* sorted by N */
    size_t n_ntop;
    double *head_imp; /* [head_L * head_nH] mean head attribution over samples, or NULL */
    int64_t head_L, head_nH;
} rep_relation;

typedef struct rep_unit {
    char *id;
    double seconds;
    char *committed_at;
} rep_unit;

typedef struct rep_model {
    char *path, *name;
    /* provenance */
    char *version, *git, *model_config_json, *run_config_yaml, *hostname, *created, *updated;
    double mpi_ranks;
    /* schema version 2 on (NULL / NAN in older archives); schema_version 1 when absent */
    char *model_name, *kernel_isa, *hdf5_version, *mpi_library, *openblas, *compiler;
    double build_dirty;
    int schema_version;
    /* resolved from model_config_json (0 where unknown) */
    int cfg_ok;
    char arch[64];
    int L, nH, H, E, k, shared, renorm;
    int64_t V; /* vocab_size */
    /* the paper model this archive's model stands for (report/paper.c): paper_how 0 none,
     * 1 same config shape, 2 mapped by --paper-model or the run config's report.paper_models */
    char paper_id[24];
    int paper_how;
    char paper_problem[200]; /* a mapping that names no paper model */
    char *run_diff;          /* "key: value; ..." where archives of one model differ, or NULL */
    char cfg_problem[256];
    /* run_config_yaml through the run-config API (rcfg_load_stored); NULL if absent or not
     * readable (run_cfg_problem says why) */
    struct rcfg *run_cfg;
    char run_cfg_problem[256];
    const char *const *stages; /* the `stages:` list (owned by run_cfg) */
    size_t n_stages;
    rep_unit *units;
    size_t n_units;
    rep_relation *rel;
    size_t n_rel;
    rep_summary pooled;
    rep_ntop *pooled_ntop;
    size_t n_pooled_ntop;
} rep_model;

/* ---- readers (read.c, load_*.c): every field through its schema entry ---------------------- */

/* Any numeric array as malloc'd doubles (NULL for strings / OOM). */
double *rep_arr_f64(const arc_array *a);
/* An all-digit string as a number, else -1. */
int64_t rep_digits(const char *s);

void rep_head_expert_load(arc_reader *r, const char *rel, rep_head_expert *he);
void rep_heads_load(arc_reader *r, const char *rel, rep_relation *rl);
/* Archives of the same model (same file name) are named "NAME [key=value, ...]" by the run-config
 * keys that differ between them (labels.c), else "NAME (2)"; -1 when out of memory. */
int rep_label_runs(rep_model *m, size_t n);
/* The top{N} groups of a relation (rel) or, for rel NULL, the pooled ones; sorted by N. */
void rep_ntop_load(arc_reader *r, const char *rel, rep_ntop **out, size_t *nout);
void rep_ntop_free(rep_ntop *t, size_t n);

/* The parts of an archive (load_*.c); anything absent stays NAN / NULL / 0. */
void rep_provenance_load(arc_reader *r, rep_model *m);
void rep_metrics_load(arc_reader *r, const char *rel, rep_relation *rl);
/* rel: a relation id or "pooled". */
void rep_summary_load(arc_reader *r, const char *rel, rep_summary *s);
void rep_summary_free(rep_summary *s);

/* Loads an archive. -1: missing, unreadable or not a moeprobe archive (err says which). */
int rep_model_load(rep_model *m, const char *path, mp_err *err);
void rep_model_free(rep_model *m);

int rep_is_moe(const rep_model *m);
/* 1 if the run config lists `stage` in `stages:` (0 when not, or when the list is unknown). */
int rep_stage_listed(const rep_model *m, const char *stage);
/* 1 if a unit of that stage ("<stage>/...") is in /units. */
int rep_stage_has_units(const rep_model *m, const char *stage);
/* The relation named `name`, or NULL. */
const rep_relation *rep_find_relation(const rep_model *m, const char *name);
/* Number of layers: the config's, else the length of a gain curve; 0 if unknown. */
int rep_layers(const rep_model *m);
/* The 1-based stage bounds for the model: the summary's where stored, else from the
 * fractions of the run config. Returns 0 if L or both are unknown. */
int rep_stage_bounds(const rep_model *m, int64_t first[REP_NSTAGE], int64_t last[REP_NSTAGE]);

/* ---- plots -------------------------------------------------------------------------------- */

#define REP_MAX_SERIES 16

typedef struct rep_series {
    const char *name;
    const double *x, *y; /* [n]; y NAN = gap */
    int64_t n;
    int dashed;
    int markers;
} rep_series;

typedef struct rep_band {
    double x0, x1;
    const char *label;
} rep_band;

typedef struct rep_line_chart {
    const char *title, *xlabel, *ylabel;
    rep_series s[REP_MAX_SERIES];
    int n_series;
    rep_band band[4]; /* shaded x ranges (stages) */
    int n_band;
    int integer_x; /* ticks at integers only */
    int zero_line;
    double ymin_hint, ymax_hint; /* included in the y range unless NAN */
} rep_line_chart;

typedef struct rep_bar_chart {
    const char *title, *ylabel;
    const char *const *groups; /* [n_groups] category labels on the x axis */
    int n_groups;
    const char *const *series; /* [n_series] legend */
    int n_series;
    const double *v; /* [n_groups * n_series], NAN = no bar */
    int stacked;
    int value_labels;
    const char *value_fmt; /* printf format of the value labels, e.g. "%.2f" */
} rep_bar_chart;

typedef struct rep_heatmap {
    const char *title, *xlabel, *ylabel, *scale_label;
    int64_t rows, cols;
    const double *v;               /* [rows * cols], NAN = undefined (grey) */
    const char *const *row_labels; /* [rows] or NULL */
    const char *const *col_labels; /* [cols] or NULL */
    /* Group separators: rows/cols are split into blocks of this size (e.g. heads per layer)
     * with a line between blocks and one label per block (group_label_fmt with the block
     * index, e.g. "L%d"); 0 = none. Used instead of per-cell labels when labels are NULL. */
    int64_t row_group, col_group;
    const char *row_group_fmt, *col_group_fmt;
    double vmin, vmax;
    int diverging; /* blue - white - red around 0, else white - red */
    int annotate;  /* print each value in its cell */
    /* A cell outlined in black (e.g. the causal pair), drawn only when mark_label is set. */
    int64_t mark_row, mark_col;
    const char *mark_label; /* legend text of the outline */
    const char *value_fmt;
} rep_heatmap;

/* Nice axis ticks covering [lo, hi]: at most max_ticks values into t[]; returns the count. */
int rep_nice_ticks(double lo, double hi, int max_ticks, double *t);
/* printf of one double with fmt; a result of "-0.0..." loses its sign. */
void rep_fmt_value(char *buf, size_t len, const char *fmt, double v);
/* Formats a tick value with as few decimals as the step needs. */
void rep_fmt_tick(double v, double step, char *buf, size_t len);
/* Colour of value v on the heat map's scale, "#rrggbb" into buf[8]. */
void rep_heat_colour(const rep_heatmap *h, double v, char buf[8]);
/* Series colour i (colour-blind safe palette). */
const char *rep_palette(int i);
/* Writes s XML-escaped. */
void rep_xml_escape(FILE *f, const char *s);

int rep_svg_line(const char *path, const rep_line_chart *c, mp_err *err);
int rep_svg_bar(const char *path, const rep_bar_chart *c, mp_err *err);
int rep_svg_heatmap(const char *path, const rep_heatmap *h, mp_err *err);

int rep_gp_line(const char *png, const rep_line_chart *c, mp_err *err);
int rep_gp_bar(const char *png, const rep_bar_chart *c, mp_err *err);
int rep_gp_heatmap(const char *png, const rep_heatmap *h, mp_err *err);

/* ---- the document ------------------------------------------------------------------------ */

typedef struct rep_doc {
    FILE *f;
    report_format fmt;
    report_plots plots;
    report_png_tool png_tool; /* resolved: RSVG or GNUPLOT when plots is PNG */
    char *dir;                /* out_dir */
    char *plot_dir;           /* out_dir/plots */
    int n_plots;
    mp_err plot_err; /* the first plot failure */
    int plot_failed;
    const struct paper_data *paper; /* the paper's numbers; NULL if they could not be read */
    char paper_problem[256];
} rep_doc;

void doc_h(rep_doc *d, int level, const char *id, const char *text);
void doc_p(rep_doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A paragraph announcing missing data (styled as a note). */
void doc_note(rep_doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void doc_pre(rep_doc *d, const char *text);
void doc_details_begin(rep_doc *d, const char *summary);
void doc_details_end(rep_doc *d);
void doc_table_begin(rep_doc *d, int ncols, const char *const *head);
/* One row of ncols cells (plain text, escaped). */
void doc_table_row(rep_doc *d, int ncols, const char *const *cells);
void doc_table_end(rep_doc *d);
/* Writes the plot (stem = file name without extension) in the report's image format and
 * references it with a caption. A failure is remembered (d->plot_err) and the image skipped. */
void doc_line(rep_doc *d, const char *stem, const rep_line_chart *c, const char *caption);
/* A grid of plots, three per row (closed by doc_figs_end): for plots compared side by side. */
void doc_figs_grid_begin(rep_doc *d);
void doc_bar(rep_doc *d, const char *stem, const rep_bar_chart *c, const char *caption);
void doc_heatmap(rep_doc *d, const char *stem, const rep_heatmap *h, const char *caption);
/* Starts / ends a row of images shown side by side (HTML; Markdown ignores it). */
void doc_figs_begin(rep_doc *d);
void doc_figs_end(rep_doc *d);
void doc_begin(rep_doc *d, const char *title);
void doc_end(rep_doc *d);

/* Number formatting for cells: "%.*f", or "–" for NAN; never "-0.000". buf >= 32 bytes. */
const char *rep_num(char *buf, double v, int decimals);
/* Plot file stem from parts: letters, digits, '-', '_' kept, others become '_'. */
void rep_stem(char *buf, size_t len, const char *a, const char *b, const char *c);

/* ---- what the sections share (cells.c, relation.c) ------------------------------------- */

/* A table row being built: up to REP_MAX_COLS cells of text. */
#define REP_MAX_COLS 40
typedef struct rep_row {
    char c[REP_MAX_COLS][200];
    const char *p[REP_MAX_COLS];
    int n;
} rep_row;
void row_reset(rep_row *r);
void row_addf(rep_row *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Adds a number cell (rep_num). */
void row_num(rep_row *r, double v, int decimals);
/* A percentage cell: 100*v with `decimals` and "%", or "–" for NAN; never "-0.0%". */
void row_pct(rep_row *r, double v, int decimals);
/* A ratio as a percentage: "12.3%" (fmt applies to the percent value), "–" for NaN, and beyond
 * ±REP_PCT_MAX % "n/a (ratio over a near-zero base)": such a ratio divides by noise (the
 * analyses store NaN where they know the denominator's tolerance; this is the last guard). */
#define REP_PCT_MAX 1000.0
const char *rep_pct(char *buf, size_t len, const char *fmt, double frac);
void row_emit(rep_doc *d, rep_row *r);

/* Sample-weighted mean over the model's relations of a per-relation value (weights n; equal
 * weights where n is unknown); NAN if no relation has it. */
double rep_mean_rel(const rep_model *m, double (*get)(const rep_relation *, const void *),
                    const void *arg, int *count);
/* Unweighted mean over relations (blocking drops are per relation, as in Figure 7). */
double rep_mean_plain(const rep_model *m, double (*get)(const rep_relation *, const void *),
                      const void *arg, int *count);
/* Getters for the means: the relation's HIT@10 / MRR (arg unused), its MRR drop (absolute or
 * relative) at N = *(const int64_t *)arg blocked experts. */
double rep_get_hit10(const rep_relation *r, const void *arg);
double rep_get_mrr(const rep_relation *r, const void *arg);
double rep_get_drop_abs(const rep_relation *r, const void *arg);
double rep_get_drop_rel(const rep_relation *r, const void *arg);
/* MRR drop (base - blocked) of a relation with N experts blocked; relative when rel. */
double rep_block_drop(const rep_relation *r, int64_t N, int rel);
/* The configuration with number num (block{N} / topk{k}), or NULL. */
const rep_cfg *rep_find_cfg(const rep_cfg *v, size_t n, int64_t num);
/* The largest blocked N the model has, or -1. */
int64_t rep_max_block_n(const rep_model *m);
/* 1 if a relation of the model has blocking results. */
int rep_has_block(const rep_model *m);
/* Sorted union of the `num` of every relation's block (which = 0) or topk (1) configurations,
 * at most max into out; returns the count. */
int rep_union_nums(const rep_model *m, size_t n, int which, int64_t *out, int max);
/* A note "WHAT of MODEL: why" (rep_why_missing). */
void rep_note_missing(rep_doc *d, const rep_model *m, const char *what, const char *stage, int moe);

/* Why a section of model m is missing: "dense model: ..." / "stage X was not run" /
 * "stage X ran but ...". Into buf. */
const char *rep_why_missing(const rep_model *m, const char *stage, int needs_moe, char *buf,
                            size_t len);

/* The relation names of all models, in first-seen order of sorted lists. */
typedef struct rep_names {
    char **v;
    size_t n;
} rep_names;
void rep_all_relations(rep_model *m, size_t n, rep_names *out);
void rep_names_free(rep_names *n);

#endif
