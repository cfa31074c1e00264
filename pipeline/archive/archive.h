/* archive.h — moeprobe's HDF5 archive: crash-safe writing by units, and reading.
 *
 * The archive module (pipeline/archive*.c) is the only code that includes hdf5.h. It is used
 * by rank 0 only and knows nothing of MPI. Types here are opaque or plain C.
 *
 * ON DISK. An archive `OUT/NAME.h5` is a plain HDF5 file readable by h5py/xarray:
 *   - datasets are float32, float64, int32, int64 or variable-length UTF-8 strings; anything
 *     over ARC_COMPACT_BYTES is chunked (~1 MiB chunks) with shuffle + deflate; dimension
 *     names are H5DS dimension labels (h5py: ds.dims[i].label); the snapshot adds one H5DS
 *     dimension scale per label and group (scales.c), so netCDF-4 / xarray see named axes;
 *   - root attributes carry the provenance: moeprobe_version, git_commit, model_config_json,
 *     run_config_yaml, mpi_ranks, hostname, created, updated (ISO 8601 UTC), units_complete,
 *     plus whatever units wrote onto "/";
 *   - group `/units/<escaped id>` per complete unit with attributes unit_id, committed_at,
 *     committed_unix, seconds (begin to commit), part_file, moeprobe_version, git_commit,
 *     hostname (of the process that committed it). The name `units` is reserved.
 *
 * CRASH SAFETY. Work is split into units (caller-chosen ids such as "capture/adj_antonym").
 * A unit is written into its own part file `OUT/NAME.h5.parts/<escaped id>.h5.tmp`.
 * arc_unit_commit marks it (root attributes moeprobe_unit_complete = 1, moeprobe_unit_id,
 * moeprobe_unit_committed, ...), closes it, fsyncs it, renames it to `<escaped id>.h5` and
 * fsyncs the directory: only a renamed part is complete. Then (per the snapshot cadence) the
 * snapshot OUT/NAME.h5 is rebuilt into `NAME.h5.tmp` from the provenance and every complete
 * part (H5Ocopy, which copies compressed chunks without decoding), fsynced and renamed over
 * NAME.h5. So after kill -9 at any moment NAME.h5 is the previous or the new snapshot, every
 * unit it lists reads back intact, and every complete part survives for the rerun.
 * arc_writer_open deletes abandoned `*.h5.tmp` files and the stale `NAME.h5.tmp`.
 * The parts folder is the source of truth; NAME.h5 is derived from it. Keep the parts until
 * the run is finished: reopening for writing an archive whose snapshot lists units whose parts
 * are gone is an error (the snapshot could not be rebuilt without losing them).
 *
 * MERGING. Parts are merged in commit order (then unit id). A top-level object absent from the
 * snapshot is copied whole. Two units may write into the same group (e.g. metrics/<rel> from
 * one unit and analyses/<rel> from another, or both writing attributes onto metrics/<rel>):
 * groups merge recursively; an attribute set by two units takes the value of the unit
 * committed later (a warning is emitted). The same dataset path in two units, or a dataset in
 * one and a group in another, is an error naming both units.
 *
 * CHECKSUMS. At commit, after the part is closed and fsynced and before it is renamed into
 * place, its SHA-256 goes into `<part>.h5.sha256` (sha256sum format, written durably); every
 * snapshot gets `NAME.h5.sha256` the same way. Chunked numeric datasets also carry HDF5's
 * Fletcher32 filter (after deflate), so a damaged chunk of a lone archive is a read error.
 * Parts are checked against their checksum when the writer opens (resume), before each is
 * copied into a snapshot, and by arc_units_scan (status, progress) and `moeprobe verify`; the
 * snapshot when the writer opens (a snapshot that does not match, or has no checksum, is
 * derived data: it is set aside as NAME.h5.bad and rebuilt from the parts).
 *
 * BAD PARTS. A `*.h5` part whose content does not match its checksum (or has none), that HDF5
 * cannot open, that lacks moeprobe_unit_complete = 1, or whose moeprobe_unit_id does not match
 * its file name, is treated as INCOMPLETE: the writer renames it to `<file>.bad` (`.bad2`, ...
 * when taken; the checksum file goes along; kept for inspection), emits a warning, and the unit
 * is redone; a unit the old snapshot lists whose part was set aside is not "missing". Damage
 * found by a snapshot rebuild sets the part aside the same way, leaves the unit out of the
 * snapshot and makes the rebuild (so the commit or close that ran it) return -1 naming it.
 * arc_units_complete (read-only) skips such parts with a warning.
 *
 * ERRORS. Every int function returns 0 on success and -1 with `err` set to one sentence that
 * names the file, the HDF5 object path and the operation; HDF5's own error stack is never
 * printed, its innermost messages (e.g. "No space left on device") are folded into err.
 * Write errors (ENOSPC, EFBIG, EIO) from writes, flushes, closes and fsync are all caught.
 * After a failed unit call the unit must be aborted (arc_unit_abort). Warnings go to the
 * arc_options.warn callback (default: stderr, "moeprobe: warning: ...").
 *
 * CONCURRENCY (several processes on one archive, e.g. Slurm array tasks writing different units
 * of the same model). Each open unit holds an flock(2) on `NAME.h5.parts/<escaped id>.h5.lock`
 * (content: "pid host start_unix"), removed at commit/abort; a second process beginning the same
 * unit gets an error naming the holder, and arc_writer_open deletes only temp parts whose lock
 * nobody holds (abandoned by a dead process). Every snapshot rebuild, and the cleanup in
 * arc_writer_open, runs under an exclusive flock on `NAME.h5.lock` and first re-reads the parts
 * folder, so the snapshot holds every unit committed by any process and two rebuilds never
 * share NAME.h5.tmp. flock works across nodes on NFS (Linux emulates it with POSIX locks) and
 * on Lustre mounted with -o flock; where the file system refuses flock a warning is printed
 * once and the archive works unlocked (then only one process may write an archive at a time).
 *
 * HOSTILE FILES. libhdf5 is not hardened against damaged or hostile files: fed mutated parts
 * and archives (tests/fuzz/fuzz_part.c, fuzz_archive.c) it reads out of bounds, frees garbage,
 * dereferences NULL, loops or leaks inside itself (global heaps of variable-length strings,
 * object headers, link tables, H5Ocopy of a damaged object). moeprobe cannot fix those; it keeps
 * damage away from HDF5 and checks what HDF5 hands back:
 *   - every part's SHA-256 is checked before HDF5 opens it (resume, snapshot rebuild, status,
 *     verify), the snapshot's when a writer opens it and before `report` reads it, so damage
 *     after commit is found by hashing bytes, not by HDF5 parsing them;
 *   - what is read from a file is checked before it is used: ranks (<= ARC_MAX_DIMS), element
 *     counts and byte sizes of datasets and attributes (no overflowing product), the row size of
 *     the deep read, the commit marks and unit id of a part against its file name, every field
 *     against its schema entry (report), types and lengths of attributes;
 *   - what is left reaches HDF5 only from a file whose checksum was made after the damage, or a
 *     lone archive without its sidecar (`verify FILE`, `report FILE`). A crash there is HDF5's:
 *     tests/fuzz/classify_crash.py tells it from ours (its faulting frame is inside libhdf5, on
 *     memory libhdf5 allocated), tests/fuzz/run.sh records it, and any other crash fails.
 *
 * THREADS. Not thread-safe (HDF5 serial build): one thread uses the archive. */
#ifndef MOEPROBE_ARCHIVE_H
#define MOEPROBE_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/util/error.h"

#define ARC_MAX_DIMS 8
#define ARC_DIM_NAME_LEN 64    /* dimension labels are truncated to 63 bytes */
#define ARC_MAX_UNIT_ID 200    /* bytes of a unit id */
#define ARC_COMPACT_BYTES 4096 /* datasets up to this size are stored contiguous, unfiltered */

typedef enum arc_type {
    ARC_F32 = 0, /* float (IEEE 754 binary32, little endian on disk) */
    ARC_F64,     /* double */
    ARC_I32,     /* int32_t */
    ARC_I64,     /* int64_t */
    ARC_STR,     /* data is `const char *const *`: one NUL-terminated UTF-8 string per element */
    ARC_TYPE_COUNT
} arc_type;

const char *arc_type_name(arc_type t); /* "float32", "float64", "int32", "int64", "string" */
size_t arc_type_size(arc_type t);      /* bytes per element in memory (ARC_STR: sizeof(char *)) */

/* Root provenance. Strings may be NULL (omitted; version and git_commit default to the build's
 * MOEPROBE_VERSION / MOEPROBE_GIT). Copied by arc_writer_open; the caller keeps ownership. */
typedef struct arc_provenance {
    const char *moeprobe_version;
    const char *git_commit;
    const char *model_config_json; /* config.json text of the model */
    const char *run_config_yaml;   /* the effective run config (rcfg_to_yaml_text) */
    int mpi_ranks;                 /* 0 = not recorded */
    /* Identity of the run (root attributes; NULL = omitted): the model's name in the run
     * config, its checkpoint (JSON: files, sizes, SHA-256 of each safetensors header and of
     * config.json / tokenizer.json), the relation files (JSON: id, file, SHA-256), the command
     * line, the MPI / OpenBLAS / libyaml versions and the kernels' ISA path. The archive adds
     * the HDF5 version, the compiler and the build's dirty flag itself. */
    const char *model_name;
    const char *checkpoint_json;
    const char *relations_json;
    const char *command_line;
    const char *mpi_library;
    const char *openblas;
    const char *libyaml;
    const char *kernel_isa;
} arc_provenance;

typedef struct arc_options {
    /* Snapshot cadence: 0 = rebuild NAME.h5 after every commit; S > 0 = after a commit only if
     * the last rebuild is at least S seconds old. arc_writer_close always rebuilds if needed. */
    double snapshot_every_s;
    int deflate_level;  /* 0..9; 0 = no compression (shuffle also off). Default 1. */
    size_t chunk_bytes; /* target chunk size; default 1 MiB */
    void (*warn)(void *ctx, const char *msg); /* NULL = stderr */
    void *warn_ctx;
} arc_options;

/* Defaults: snapshot_every_s 0, deflate_level 1, chunk_bytes 1 MiB, warn NULL. */
arc_options arc_options_default(void);

typedef struct arc_writer arc_writer;
typedef struct arc_unit arc_unit;
typedef struct arc_stream arc_stream;

/* ---- writing ---------------------------------------------------------------------------- */

/* Opens (creating OUT and OUT/NAME.h5.parts as needed) the archive at `archive_path`
 * ("OUT/NAME.h5"), removes abandoned temp files, moves bad parts aside, and loads the list of
 * complete units. `opts` may be NULL (defaults). If complete parts exist that the snapshot
 * does not list, the next commit or close rebuilds it. *w is NULL on failure. */
int arc_writer_open(arc_writer **w, const char *archive_path, const arc_provenance *prov,
                    const arc_options *opts, mp_err *err);

/* 1 if unit_id has a complete part, else 0 (also for invalid ids). */
int arc_unit_is_complete(const arc_writer *w, const char *unit_id);

/* Complete unit ids in commit order. The array belongs to w and is valid until the next
 * commit or close. */
size_t arc_writer_units(const arc_writer *w, const char *const **ids);

/* Starts unit `unit_id` (1..ARC_MAX_UNIT_ID bytes, any characters but NUL): creates its temp
 * part file. Errors: id invalid, already complete, or already begun and not finished.
 * *u belongs to w until arc_unit_commit / arc_unit_abort. */
int arc_unit_begin(arc_writer *w, const char *unit_id, arc_unit **u, mp_err *err);

/* Path of the part file of unit `unit_id` ("OUT/NAME.h5.parts/<escaped>.h5"), whether or not
 * it exists, into buf (size len). A complete unit's part is an ordinary archive: open it with
 * arc_open_read to read a unit before the next snapshot. Returns -1 if it does not fit. */
int arc_unit_part_path(const arc_writer *w, const char *unit_id, char *buf, size_t len);

/* Writes a whole dataset at `path` ("a/b/name", relative to the root; intermediate groups
 * are created; the leaf must not exist yet; the top-level name "units" is reserved).
 * ndim 0..ARC_MAX_DIMS (0 = scalar, shape may then be NULL); shape[i] >= 0. `data` holds
 * prod(shape) elements of `type` in C order (ARC_STR: an array of non-NULL char pointers).
 * `dim_names` is NULL or ndim entries (each may be NULL) set as dimension labels. */
int arc_write(arc_unit *u, const char *path, arc_type type, int ndim, const int64_t *shape,
              const char *const *dim_names, const void *data, mp_err *err);

/* Opens an extendible dataset of shape [0, row_shape...] (ndim includes the row dimension,
 * 1..ARC_MAX_DIMS; row_shape has ndim-1 entries, NULL if ndim is 1) for appending rows.
 * Chunked and compressed (strings: chunked, unfiltered). The stream belongs to u: it is
 * closed by arc_stream_close or, at the latest, by commit/abort of u. */
int arc_stream_open(arc_unit *u, const char *path, arc_type type, int ndim,
                    const int64_t *row_shape, const char *const *dim_names, arc_stream **s,
                    mp_err *err);

/* Appends nrows >= 0 rows (nrows * prod(row_shape) elements, C order) at the end. */
int arc_stream_append(arc_stream *s, int64_t nrows, const void *data, mp_err *err);

/* Rows written so far. */
int64_t arc_stream_rows(const arc_stream *s);

/* Closes the dataset early (flushes its chunks). Optional; s is invalid afterwards. */
int arc_stream_close(arc_stream *s, mp_err *err);

/* Attributes on the object at obj_path ("/" or "" = root; a missing path is created as a
 * group; an existing dataset takes the attribute). Re-setting a name replaces the value.
 * Root attribute names of the provenance and names starting "moeprobe_" are reserved. */
int arc_attr_f64(arc_unit *u, const char *obj_path, const char *name, double v, mp_err *err);
int arc_attr_i64(arc_unit *u, const char *obj_path, const char *name, int64_t v, mp_err *err);
int arc_attr_str(arc_unit *u, const char *obj_path, const char *name, const char *v, mp_err *err);
int arc_attr_f64_array(arc_unit *u, const char *obj_path, const char *name, size_t n,
                       const double *v, mp_err *err);
int arc_attr_i64_array(arc_unit *u, const char *obj_path, const char *name, size_t n,
                       const int64_t *v, mp_err *err);

/* Commits u (see CRASH SAFETY): closes its streams, marks, fsyncs and renames the part, then
 * rebuilds the snapshot per the cadence. u is freed in every case. On -1 the unit is not
 * complete (its temp file is removed), unless the failure came from the snapshot rebuild:
 * then the unit IS complete (its part is durable) and the error says so; NAME.h5 keeps the
 * previous snapshot. */
int arc_unit_commit(arc_writer *w, arc_unit *u, mp_err *err);

/* Drops u: closes and deletes its temp part file. Never fails; u is freed. NULL is fine. */
void arc_unit_abort(arc_writer *w, arc_unit *u);

/* FINGERPRINTS. A unit may carry a text saying what determined its result (jobs/fingerprint.h),
 * stored in its part as the root attribute moeprobe_unit_fingerprint at commit. */
int arc_unit_set_fingerprint(arc_unit *u, const char *text, mp_err *err);
/* The fingerprint stored in complete unit unit_id's part: *text malloc'd, or NULL when the part
 * has none (written by an older moeprobe). */
int arc_unit_fingerprint(const arc_writer *w, const char *unit_id, char **text, mp_err *err);
/* The same without a writer: the part of unit_id of the archive at archive_path (read-only). */
int arc_part_fingerprint(const char *archive_path, const char *unit_id, char **text, mp_err *err);
/* Sets complete unit unit_id's part aside as "<part>.stale" (kept; `.stale2` ... when taken):
 * the unit is no longer complete and is recomputed; the snapshot is rebuilt without it at the
 * next commit or close. */
int arc_unit_set_aside(arc_writer *w, const char *unit_id, mp_err *err);

/* Re-reads the parts folder: units committed by other processes since the writer was opened
 * become complete for w (arc_unit_is_complete, arc_writer_units). Deletes nothing. */
int arc_writer_refresh(arc_writer *w, mp_err *err);

/* 1 if a live process holds unit_id open for writing in the archive at archive_path (its unit
 * lock is held), else 0. `who` (may be NULL) gets the holder's "pid host start_unix". */
int arc_unit_running(const char *archive_path, const char *unit_id, char *who, size_t who_len);

/* Rebuilds NAME.h5 now from all complete parts. */
int arc_snapshot(arc_writer *w, mp_err *err);

/* Aborts units still open, rebuilds the snapshot if it is out of date, frees w (always, also
 * on -1). NULL is fine. */
int arc_writer_close(arc_writer *w, mp_err *err);

/* Frees w without a snapshot (open units are aborted). For error paths. NULL is fine. */
void arc_writer_free(arc_writer *w);

typedef struct arc_stats {
    int snapshots;               /* rebuilds done by this writer */
    double last_snapshot_s;      /* wall seconds of the last rebuild */
    int64_t last_snapshot_bytes; /* size of the last NAME.h5 */
} arc_stats;
arc_stats arc_writer_stats(const arc_writer *w);

/* ---- reading ---------------------------------------------------------------------------- */

typedef struct arc_reader arc_reader;

/* Opens any HDF5 file read-only (a snapshot, a complete part, a fixture). */
int arc_open_read(arc_reader **r, const char *path, mp_err *err);
void arc_reader_close(arc_reader *r); /* NULL is fine */

typedef enum arc_kind { ARC_NONE = 0, ARC_GROUP, ARC_DATASET } arc_kind;
/* What is at `path` ("/" = root); ARC_NONE if nothing (never an error). */
arc_kind arc_kind_of(arc_reader *r, const char *path);

/* A list of malloc'd strings; free with arc_names_free. */
typedef struct arc_names {
    char **v;
    size_t n;
} arc_names;
void arc_names_free(arc_names *n);

/* Names of the links in group `path`, sorted by name (bytewise). kinds: ARC_NONE = all,
 * ARC_GROUP / ARC_DATASET = only those. */
int arc_list(arc_reader *r, const char *path, arc_kind kinds, arc_names *out, mp_err *err);
/* Attribute names of the object at `path`, sorted. */
int arc_list_attrs(arc_reader *r, const char *path, arc_names *out, mp_err *err);

/* An n-dimensional array read from a file. data is malloc'd (one block; for ARC_STR it is a
 * `char **` of count pointers into the same block). Free with arc_array_free. Integer types
 * of 1..4 bytes read as ARC_I32, wider as ARC_I64; floats as ARC_F32 / ARC_F64; fixed or
 * variable-length strings as ARC_STR. */
typedef struct arc_array {
    arc_type type;
    int ndim;
    int64_t shape[ARC_MAX_DIMS];
    char dim_names[ARC_MAX_DIMS][ARC_DIM_NAME_LEN]; /* "" where unlabelled */
    size_t count;                                   /* prod(shape) */
    void *data;
} arc_array;
void arc_array_free(arc_array *a); /* frees data, zeroes a; a zeroed array is fine */

/* Reads the whole dataset at path. */
int arc_read(arc_reader *r, const char *path, arc_array *out, mp_err *err);
/* Reads rows [row0, row0 + nrows) of the first dimension (ndim >= 1). */
int arc_read_rows(arc_reader *r, const char *path, int64_t row0, int64_t nrows, arc_array *out,
                  mp_err *err);

int arc_has_attr(arc_reader *r, const char *path, const char *name); /* 1 / 0 */
/* Scalar (or one-element) numeric attribute, converted to double. */
int arc_read_attr_f64(arc_reader *r, const char *path, const char *name, double *v, mp_err *err);
/* Scalar (or one-element) integer attribute; a float attribute is an error. */
int arc_read_attr_i64(arc_reader *r, const char *path, const char *name, int64_t *v, mp_err *err);
/* String attribute (fixed or variable length); *v is malloc'd. */
int arc_read_attr_str(arc_reader *r, const char *path, const char *name, char **v, mp_err *err);
/* Any attribute as an array (numeric or strings; scalars have ndim 0, count 1). */
int arc_read_attr(arc_reader *r, const char *path, const char *name, arc_array *out, mp_err *err);

/* Complete units of the archive at `path` (OUT/NAME.h5, or a folder holding exactly one
 * archive): the union of the valid parts in NAME.h5.parts and the units NAME.h5 lists,
 * sorted by id. Read-only: modifies nothing (bad parts only produce warnings on stderr).
 * No archive at all gives an empty list, not an error. */
int arc_units_complete(const char *path, arc_names *out, mp_err *err);
/* The same, checking every part against its commit checksum (CHECKSUMS), and listing the units
 * that are not done because of damage: bad->v[i] (unit id) with why->v[i] (the reason: the
 * verification failure, or a part already set aside as *.bad). bad and why may be NULL
 * together (then damage is only warned about, as arc_units_complete does). */
int arc_units_scan(const char *path, arc_names *out, arc_names *bad, arc_names *why, mp_err *err);

/* ---- verification (`moeprobe verify`) --------------------------------------------------- */

/* The file against its SHA-256 sidecar (PATH.sha256), when it has one: 0 when it matches or
 * there is none, -1 with err when it does not (damaged after it was written) or cannot be read.
 * `report` checks each archive so before it reads it. */
int arc_check_checksum(const char *path, mp_err *err);

/* Verifies one HDF5 file of an archive: its SHA-256 sidecar when there is one (`required`: its
 * absence is damage too) and a deep read (every attribute, every dataset element, so that every
 * HDF5 checksum, filter and Fletcher32 runs). 0 intact, -1 with err naming the file and the
 * first problem. */
int arc_verify_file(const char *path, int required, mp_err *err);
/* Verifies a part file (OUT/NAME.h5.parts/<escaped id>.h5): its sidecar (required), the commit
 * marks, the unit id against the file name, and a deep read. 0 intact, -1 with err. */
int arc_verify_part(const char *path, mp_err *err);

/* ---- testing ---------------------------------------------------------------------------- */

/* Called at named points of commit and snapshot ("commit:marked", "commit:closed",
 * "commit:renamed", "snapshot:created", "snapshot:copied", "snapshot:closed",
 * "snapshot:renamed") so tests can kill the process there. NULL = none. */
void arc_set_crash_hook(void (*hook)(const char *point));

/* Moves a closed snapshot file `from` to `to` (same file system, durable rename) with its
 * checksum: `to`.sha256 is written for the new name and `from`.sha256 removed (a one-shot file
 * such as a trace, written under a temp name). 0, or -1 with err. */
int arc_rename_snapshot(const char *from, const char *to, mp_err *err);

#endif
