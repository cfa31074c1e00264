/* schema.h — the archive's schema as code: every group, dataset and attribute an analysis
 * writes, with its type, dimension names, units and a one-line description. Each analysis
 * declares its entries in one table (stages/schema_*.c; the root provenance and /units in
 * pipeline/archive/schema_root.c). Writers write through the sch_* helpers below, which take
 * the type and dimension names from the entry and refuse a path that the entry does not
 * describe; the report reads through sch_get_*, which read exactly the entry's layout (no
 * fallbacks). docs/archive.md is generated from the tables (tests/tools/schema_doc.c) and
 * tests/tools/schema_check.c compares a produced archive with them in both directions.
 *
 * PATTERNS. A path or attribute name may hold placeholders, each standing for part of one
 * path segment:
 *   {rel}, {unit}, {name}  any text without '/' (a relation id, an escaped unit id, ...)
 *   {N}, {k}               a non-negative decimal integer
 *   {a|b|c}                exactly one of the listed words
 * e.g. "metrics/{rel}" with the attribute "mrr_block{N}", or
 * "block/{rel}/{only_top1|only_top2}". */
#ifndef MOEPROBE_ARCHIVE_SCHEMA_H
#define MOEPROBE_ARCHIVE_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/archive/archive.h"
#include "pipeline/util/error.h"

#define SCH_MAX_DIMS 4

typedef enum sch_kind { SCH_GROUP = 0, SCH_DATASET, SCH_ATTR } sch_kind;

/* When an entry is present, given that its analysis ran (tests/tools/schema_check.c requires
 * the entries whose condition holds). */
enum {
    SCH_ALWAYS = 0,
    SCH_MOE = 1 << 0,        /* models with routed experts only */
    SCH_SHARED = 1 << 1,     /* models with a shared expert only */
    SCH_DENSE = 1 << 2,      /* dense models only */
    SCH_OPTIONAL = 1 << 3,   /* depends on the run config (hook points, positions, modes) */
    SCH_TOKEN_ROWS = 1 << 4, /* first dimension "token" (one row per position) where the run
                              * config's capture.positions is all, else "sample" */
};

typedef struct sch_entry {
    sch_kind kind;
    const char *path; /* group or dataset path; for an attribute, its object's path */
    const char *name; /* attribute name (pattern); NULL for groups and datasets */
    arc_type type;    /* datasets and attributes */
    int ndim;         /* datasets: rank; attributes: 0 scalar, 1 array */
    /* Dimension names in order (h5py ds.dims[i].label), each described in SCH_DIMS. A name
     * may hold a placeholder of the path ("neuron_rank_top{N}"), replaced by the text it
     * matches there (sch_dim_name). Datasets only. */
    const char *dims[SCH_MAX_DIMS];
    const char *units; /* "1" dimensionless, "nats", "index", "count", "s", "%", ... ("text"
                        * for string datasets); every dataset has units */
    const char *description;
    unsigned when; /* SCH_ALWAYS or SCH_* flags */
} sch_entry;

/* One analysis' entries. `analysis` is the stage whose units write them ("capture", "block",
 * ...; "archive" for the root provenance and /units). */
typedef struct sch_table {
    const char *analysis;
    const char *summary; /* one sentence for docs/archive.md */
    const sch_entry *e;
    size_t n;
} sch_table;

/* 1 if the concrete path or name s matches pattern p (see PATTERNS). */
int sch_match(const char *p, const char *s);

/* The entry of `table` that describes (kind, path, name); NULL if none. */
const sch_entry *sch_find(const sch_table *t, sch_kind kind, const char *path, const char *name);

/* The entry's path with its placeholders replaced, in order, by the given strings (one per
 * placeholder; a number as its decimal text) into buf. -1 with err set (err may be NULL) if a
 * value is missing, does not fit its placeholder, or buf is too small. */
int sch_path(char *buf, size_t len, mp_err *err, const sch_entry *e, ...);

/* The text that placeholder {ph} (e.g. "N") of pattern p matches in the concrete path s, into
 * buf; -1 if p does not match s or has no such placeholder. */
int sch_bind(const char *p, const char *s, const char *ph, char *buf, size_t len);

/* Dimension i of dataset entry e written at `path`, its placeholders filled from the path
 * (first dimension "token" when rows_are_tokens); -1 if it does not fit or cannot be bound. */
int sch_dim_name(const sch_entry *e, const char *path, int i, int rows_are_tokens, char *buf,
                 size_t len);

/* "group", "dataset", "attribute". */
const char *sch_kind_name(sch_kind k);

/* ---- writing: each checks that path (and name) match the entry and the type agrees ---- */

/* The attributes every dataset carries (CF conventions): units, long_name (the description up
 * to its first parenthesis, colon or semicolon) and the whole description. */
#define SCH_ATTR_UNITS "units"
#define SCH_ATTR_LONG_NAME "long_name"
#define SCH_ATTR_DESCRIPTION "description"
/* The long_name of a description into buf. */
void sch_long_name(const char *description, char *buf, size_t len);

/* Dataset at `path` of the entry's type, rank and dimension names, with its units, long_name
 * and description; shape has e->ndim entries. */
int sch_write(arc_unit *u, const sch_entry *e, const char *path, const int64_t *shape,
              const void *data, mp_err *err);
/* Extendible dataset (arc_stream_open); row_shape has e->ndim - 1 entries. rows_are_tokens
 * (entries flagged SCH_TOKEN_ROWS only) names the first dimension "token" instead of the
 * entry's "sample". */
int sch_stream_open(arc_unit *u, const sch_entry *e, const char *path, const int64_t *row_shape,
                    int rows_are_tokens, arc_stream **s, mp_err *err);
/* Attributes on `obj`; name NULL = the entry's name (which must then be free of patterns). */
int sch_attr_f64(arc_unit *u, const sch_entry *e, const char *obj, const char *name, double v,
                 mp_err *err);
int sch_attr_i64(arc_unit *u, const sch_entry *e, const char *obj, const char *name, int64_t v,
                 mp_err *err);
int sch_attr_str(arc_unit *u, const sch_entry *e, const char *obj, const char *name, const char *v,
                 mp_err *err);
int sch_attr_f64_array(arc_unit *u, const sch_entry *e, const char *obj, const char *name, size_t n,
                       const double *v, mp_err *err);
int sch_attr_i64_array(arc_unit *u, const sch_entry *e, const char *obj, const char *name, size_t n,
                       const int64_t *v, mp_err *err);

/* ---- reading exactly the entry's layout; absent or unreadable = not found ------------------ */

/* A numeric dataset or attribute (name NULL = the entry's) flattened into malloc'd *v of *n
 * doubles; 0 if found. */
int sch_get_vec(arc_reader *r, const sch_entry *e, const char *path, const char *name, double **v,
                int64_t *n);
/* A numeric scalar (one element), else NAN. */
double sch_get_num(arc_reader *r, const sch_entry *e, const char *path, const char *name);
/* A string attribute or scalar string dataset, malloc'd, or NULL. */
char *sch_get_str(arc_reader *r, const sch_entry *e, const char *path, const char *name);
/* 1 if the group or dataset of the entry exists at path. */
int sch_has(arc_reader *r, const sch_entry *e, const char *path);

/* ---- dimensions ------------------------------------------------------------------------------
 * Every dimension name the entries use, with what it indexes. The snapshot gives each group one
 * HDF5 dimension scale per dimension name its datasets use (netCDF-4 / xarray coordinates):
 * a dataset of that name in the group when a writer wrote one (SCH_COORD_WRITTEN, e.g. the
 * model layers of captured_layer), else the 0-based positions 0..n-1. */
enum { SCH_COORD_INDEX = 0, SCH_COORD_WRITTEN = 1 };
typedef struct sch_dim {
    const char *name;        /* may hold a placeholder, as in entries' dims */
    const char *units;       /* of the coordinate values */
    const char *description; /* what one position along it is */
    int coord;               /* SCH_COORD_* */
} sch_dim;
extern const sch_dim SCH_DIMS[];
extern const size_t SCH_N_DIMS;
/* The SCH_DIMS entry of a concrete dimension name; NULL if none. */
const sch_dim *sch_dim_find(const char *name);

/* The archive layout's version (root attribute schema_version): 2 added the dimension scales,
 * CF attributes, the renamed dimensions and the tidy neuron and expert forms; archives without
 * the attribute are version 1. The report and resume read versions SCH_VERSION_MIN and up. */
#define SCH_VERSION 2
#define SCH_VERSION_MIN 1
#define SCH_CONVENTIONS "CF-1.8"

/* The tables of the root provenance and /units (pipeline/archive/schema_root.c). */
extern const sch_entry SCH_ROOT_ENTRIES[];
extern const sch_table SCH_ROOT_TABLE;
enum sch_root_id {
    ROOT_GROUP,
    ROOT_VERSION,
    ROOT_GIT_COMMIT,
    ROOT_MODEL_CONFIG_JSON,
    ROOT_RUN_CONFIG_YAML,
    ROOT_MPI_RANKS,
    ROOT_HOSTNAME,
    ROOT_CREATED,
    ROOT_UPDATED,
    ROOT_UNITS_COMPLETE,
    ROOT_CONVENTIONS,
    ROOT_SCHEMA_VERSION,
    ROOT_MODEL_NAME,
    ROOT_CHECKPOINT,
    ROOT_RELATION_FILES,
    ROOT_COMMAND_LINE,
    ROOT_HDF5_VERSION,
    ROOT_MPI_LIBRARY,
    ROOT_OPENBLAS,
    ROOT_LIBYAML,
    ROOT_COMPILER,
    ROOT_KERNEL_ISA,
    ROOT_BUILD_DIRTY,
    ROOT_UNITS,
    ROOT_UNIT,
    ROOT_UNIT_ID,
    ROOT_UNIT_COMMITTED_AT,
    ROOT_UNIT_COMMITTED_UNIX,
    ROOT_UNIT_SECONDS,
    ROOT_UNIT_PART_FILE,
    ROOT_UNIT_VERSION,
    ROOT_UNIT_GIT_COMMIT,
    ROOT_UNIT_HOSTNAME,
    ROOT_COUNT
};
#define SCH_ROOT(id) (&SCH_ROOT_ENTRIES[ROOT_##id])

#endif
