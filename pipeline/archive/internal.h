/* internal.h — shared by pipeline/archive*.c only: HDF5 handles, the writer's state,
 * and helpers (error stack to mp_err, type mapping, unit id escaping). Never include it
 * outside the archive module: it is the one place hdf5.h enters moeprobe. */
#ifndef MOEPROBE_ARCHIVE_INTERNAL_H
#define MOEPROBE_ARCHIVE_INTERNAL_H

#include <hdf5.h>

#include "pipeline/archive/archive.h"

/* HDF5 1.10 (Debian 12) names; 1.12 renamed them and keeps the old ones as deprecated. */
#if H5_VERSION_GE(1, 12, 0)
#define ARC_IS_HDF5(path) H5Fis_accessible((path), H5P_DEFAULT)
#define ARC_VLEN_RECLAIM(t, sp, buf) H5Treclaim((t), (sp), H5P_DEFAULT, (buf))
#else
#define ARC_IS_HDF5(path) H5Fis_hdf5(path)
#define ARC_VLEN_RECLAIM(t, sp, buf) H5Dvlen_reclaim((t), (sp), H5P_DEFAULT, (buf))
#endif

#define ARC_PATH_MAX 4096
#define ARC_MARK_COMPLETE "moeprobe_unit_complete"
#define ARC_MARK_ID "moeprobe_unit_id"
#define ARC_MARK_TIME "moeprobe_unit_committed"
#define ARC_MARK_UNIX "moeprobe_unit_committed_unix"
#define ARC_MARK_SECONDS "moeprobe_unit_seconds"
#define ARC_MARK_VERSION "moeprobe_unit_version"
#define ARC_MARK_GIT "moeprobe_unit_git_commit"
#define ARC_MARK_HOST "moeprobe_unit_hostname"
#define ARC_MARK_SCHEMA "moeprobe_unit_schema_version" /* absent: version 1 */
#define ARC_MARK_FINGERPRINT "moeprobe_unit_fingerprint"
#define ARC_UNITS_GROUP "units"

struct arc_stream {
    arc_unit *unit;
    hid_t dset;
    arc_type type;
    int ndim;
    int64_t dims[ARC_MAX_DIMS]; /* current extent; dims[0] = rows */
    char path[512];
    arc_stream *next;
};

struct arc_unit {
    arc_writer *w;
    char id[ARC_MAX_UNIT_ID + 1];
    char tmp_path[ARC_PATH_MAX];
    char part_path[ARC_PATH_MAX];
    hid_t file;
    double t_begin;
    arc_stream *streams;
    arc_unit *next;
    int lock_fd;                  /* flock on lock_path while the unit is open; -1 = none */
    char lock_path[ARC_PATH_MAX]; /* OUT/NAME.h5.parts/<escaped id>.h5.lock */
    char *fingerprint;            /* written with the commit marks; NULL: none */
};

typedef struct arc_done { /* one complete unit */
    char *id;
    double committed_unix;
} arc_done;

struct arc_writer {
    char path[ARC_PATH_MAX];      /* OUT/NAME.h5 */
    char parts_dir[ARC_PATH_MAX]; /* OUT/NAME.h5.parts */
    char *prov_version, *prov_git, *prov_model_json, *prov_run_yaml;
    char *prov_run[8]; /* model_name ... kernel_isa of arc_provenance, in that order */
    int prov_ranks;
    char created[32]; /* of the first snapshot (kept across reruns) */
    arc_options opts;
    arc_done *done; /* sorted by (committed_unix, id) */
    size_t n_done, cap_done;
    const char **done_ids; /* view for arc_writer_units */
    arc_unit *open_units;
    char **moved_ids; /* units whose damaged part this writer moved aside */
    size_t n_moved;
    int dirty;            /* snapshot out of date */
    double last_snapshot; /* monotonic seconds */
    arc_stats stats;
};

/* Silences HDF5's automatic error printing (once per process). */
void arc_h5_quiet(void);
/* err_set with the innermost HDF5 error-stack messages appended, then clears the stack. */
int arc_h5_err(mp_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Those messages alone into buf ("" when the stack is empty), then clears the stack: for a
 * failure whose clean-up (any HDF5 call resets the stack) runs before the message is made. */
void arc_h5_reason(char *buf, size_t len);
/* Label of dimension i of dataset d (rank ndim) into buf, as H5DSget_label, but only from a
 * DIMENSION_LABELS attribute of the layout H5DS writes (ndim variable-length strings); 1 if
 * labelled, else 0 with buf "" (also for an attribute of another shape or type). */
int arc_h5_label(hid_t d, int ndim, int i, char *buf, size_t len);
void arc_warn(const arc_options *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

hid_t arc_h5_file_type(arc_type t); /* on-disk type (caller closes ARC_STR's copy) */
hid_t arc_h5_mem_type(arc_type t);  /* in-memory type (caller closes ARC_STR's copy) */
void arc_h5_type_close(arc_type t, hid_t h);
/* Maps a stored datatype to the arc_type it is read as; -1 if unsupported. */
int arc_type_of_h5(hid_t dtype, arc_type *t);

/* File access / creation property lists used for every file we create (1.8 format: dense
 * attributes, readable by any HDF5 >= 1.8). Caller closes. */
hid_t arc_h5_fapl(void);
hid_t arc_h5_fcpl(void);

/* Escapes a unit id into a file-name-safe token: [A-Za-z0-9_-] and '.' (not first) kept,
 * every other byte as %XX. Returns -1 if it does not fit in len. */
int arc_escape_id(const char *id, char *buf, size_t len);
/* Inverse; -1 if malformed. */
int arc_unescape_id(const char *esc, char *buf, size_t len);
/* 0 if id is a valid unit id, else -1 with err. */
int arc_check_id(const char *id, mp_err *err);

double arc_now_unix(void);
void arc_iso_time(double unix_s, char buf[32]);
void arc_crash_point(const char *point);

/* Validates a part file: 0 and its id / commit time if complete; -1 with err otherwise. */
int arc_part_check(const char *path, char *id, size_t id_len, double *committed, mp_err *err);

/* Kind of the object linked as `name` in loc: H5I_GROUP, H5I_DATASET, ...; H5I_BADID if none.
 * (H5Oopen + H5Iget_type: the same code on HDF5 1.10 and 1.12+.) */
H5I_type_t arc_h5_obj_type(hid_t loc, const char *name);

/* Opens or creates group `path` below loc (intermediate groups created). */
hid_t arc_h5_group(hid_t loc, const char *path, int create);

/* Copies every attribute of src onto dst (replacing same-named ones), skipping names for
 * which skip(name) returns 1 (skip may be NULL). `replaced` counts replaced attributes. */
int arc_h5_copy_attrs(hid_t src, hid_t dst, int (*skip)(const char *name), int *replaced,
                      mp_err *err);

/* Writes scalar attributes (replacing). */
int arc_h5_attr_f64(hid_t obj, const char *name, double v);
int arc_h5_attr_i64(hid_t obj, const char *name, int64_t v);
int arc_h5_attr_str(hid_t obj, const char *name, const char *v);
/* Reads a string attribute into a malloc'd string; NULL if absent / not a string. */
char *arc_h5_attr_get_str(hid_t obj, const char *name);
int arc_h5_attr_get_f64(hid_t obj, const char *name, double *v);
int arc_h5_attr_get_i64(hid_t obj, const char *name, int64_t *v);

/* Concurrency (lock.c; see CONCURRENCY in archive.h). */
/* Takes the exclusive snapshot lock OUT/NAME.h5.lock for `archive_path` (blocking). Returns
 * the fd to pass to arc_lock_release, -1 where the file system has no flock (a warning is
 * emitted once; the caller goes on unlocked), or -2 with err on a real failure. */
int arc_lock_snapshot(const char *archive_path, const arc_options *o, mp_err *err);
void arc_lock_release(int fd); /* -1 is fine */
/* Takes u's unit lock (u->part_path must be set): 0, or -1 with err when another live process
 * holds it (the message names its pid and host) or the lock file cannot be made. */
int arc_unit_lock(arc_unit *u, mp_err *err);
/* Releases u's unit lock and removes its lock file (while holding it). */
void arc_unit_unlock(arc_unit *u);
/* For a temp part "X.h5.tmp" (full path): 1 if a live process holds X.h5.lock, else 0. When
 * not held and `remove_stale`, a stale lock file is removed (under the lock). */
int arc_tmp_part_is_live(const char *tmp_path, int remove_stale);

/* Checksums (checksum.c; CHECKSUMS in archive.h). */
/* "<file>.sha256" into buf; -1 if it does not fit. */
int arc_sum_path(const char *file, char *buf, size_t len);
/* Hashes `file` (as it is now) and writes the sidecar of `final_path` (durably, sha256sum
 * format naming final_path's base name). Called before the rename that makes final_path. */
int arc_sum_record(const char *file, const char *final_path, mp_err *err);
/* 0 when path's sidecar exists and matches; 1 when it is absent and not `required`; -1 with
 * err (absent and required, unreadable, malformed, or a mismatch: "damaged after ..."). */
int arc_sum_verify(const char *path, int required, mp_err *err);
/* Opens path and reads every attribute and every dataset element (all HDF5 checksums and
 * filters run); -1 with err naming the first object that fails. */
int arc_deep_read(const char *path, mp_err *err);
/* arc_sum_verify (required) and then arc_part_check. */
int arc_part_verify(const char *path, char *id, size_t id_len, double *committed, mp_err *err);
/* Renames path to "<path>.bad" (or .bad2, .bad3 ... when taken), its sidecar along; moved gets
 * the new name. -1 (errno set) if it cannot. */
int arc_move_aside(const char *path, char *moved, size_t len);
/* The same with another suffix (".stale": computed under another setup). */
int arc_move_aside_as(const char *path, const char *suffix, char *moved, size_t len);

/* write.c: moves the part at `full` (escaped id `esc`) aside with a warning saying why, and
 * remembers the unit as moved; drops w->done[i]. */
void arc_part_set_aside(arc_writer *w, const char *full, const char *esc, const char *why);
void arc_done_remove(arc_writer *w, size_t i);

/* Snapshot rebuild (snapshot.c). */
int arc_snapshot_build(arc_writer *w, mp_err *err);
/* Dimension scales for every labelled dimension of every group of the snapshot file (scales.c);
 * `name` names the snapshot in messages. */
int arc_scales_build(hid_t file, const arc_options *o, const char *name, mp_err *err);
/* Unit ids listed in an existing snapshot's /units group (empty if none / unreadable). */
int arc_snapshot_units(const char *path, arc_names *out, char created[32]);

#endif
