/* write.c — the archive writer: opening (cleanup, bad parts, resume), units and the
 * durable commit (mark, flush, close, fsync, rename, fsync dir). What units write is in
 * data.c, the snapshot rebuild in snapshot.c. See archive.h. */
#include "pipeline/archive/internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/util/atomic_file.h"
#include "pipeline/util/build_info.h"
#include "pipeline/archive/schema.h"
#include "pipeline/util/monotonic.h"

arc_options arc_options_default(void)
{
    arc_options o = {0};
    o.snapshot_every_s = 0;
    o.deflate_level = 1;
    o.chunk_bytes = 1 << 20;
    return o;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

static int done_cmp(const void *pa, const void *pb)
{
    const arc_done *a = pa, *b = pb;
    if (a->committed_unix != b->committed_unix)
        return a->committed_unix < b->committed_unix ? -1 : 1;
    return strcmp(a->id, b->id);
}

static int done_add(arc_writer *w, const char *id, double t)
{
    if (arc_unit_is_complete(w, id)) return 0; /* a refresh finding a unit it knows */
    if (w->n_done == w->cap_done) {
        size_t cap = w->cap_done ? 2 * w->cap_done : 16;
        arc_done *d = realloc(w->done, cap * sizeof *d);
        const char **ids = realloc(w->done_ids, cap * sizeof *ids);
        if (d) w->done = d;
        if (ids) w->done_ids = ids;
        if (!d || !ids) return -1;
        w->cap_done = cap;
    }
    w->done[w->n_done].id = strdup(id);
    if (!w->done[w->n_done].id) return -1;
    w->done[w->n_done].committed_unix = t;
    w->n_done++;
    qsort(w->done, w->n_done, sizeof *w->done, done_cmp);
    for (size_t i = 0; i < w->n_done; i++) w->done_ids[i] = w->done[i].id;
    return 0;
}

void arc_done_remove(arc_writer *w, size_t i)
{
    free(w->done[i].id);
    memmove(w->done + i, w->done + i + 1, (w->n_done - i - 1) * sizeof *w->done);
    w->n_done--;
    for (size_t k = 0; k < w->n_done; k++) w->done_ids[k] = w->done[k].id;
}

int arc_part_check(const char *path, char *id, size_t id_len, double *committed, mp_err *err)
{
    hid_t f, root = H5I_INVALID_HID;
    int64_t mark = 0;
    char *sid = NULL;
    int rc = -1;
    arc_h5_quiet();
    if (ARC_IS_HDF5(path) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return err_set(err, "%s: not an HDF5 file", path);
    }
    f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return arc_h5_err(err, "%s: cannot open", path);
    root = H5Gopen2(f, "/", H5P_DEFAULT);
    if (root < 0) {
        arc_h5_err(err, "%s: cannot open the root group", path);
        goto done;
    }
    if (arc_h5_attr_get_i64(root, ARC_MARK_COMPLETE, &mark) != 0 || mark != 1) {
        err_set(err, "%s: no %s = 1 mark (the unit was never committed)", path, ARC_MARK_COMPLETE);
        goto done;
    }
    sid = arc_h5_attr_get_str(root, ARC_MARK_ID);
    if (!sid || arc_check_id(sid, err) != 0) {
        err_set(err, "%s: missing or invalid %s attribute", path, ARC_MARK_ID);
        goto done;
    }
    if (strlen(sid) >= id_len) {
        err_set(err, "%s: unit id too long", path);
        goto done;
    }
    strcpy(id, sid);
    *committed = 0;
    arc_h5_attr_get_f64(root, ARC_MARK_UNIX, committed);
    rc = 0;
done:
    free(sid);
    if (root >= 0) H5Gclose(root);
    H5Fclose(f);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

/* Moves a damaged or incomplete part aside (kept for inspection) and remembers its unit, whose
 * listing in the old snapshot then no longer counts as a missing part: it is recomputed. */
void arc_part_set_aside(arc_writer *w, const char *full, const char *esc, const char *why)
{
    char moved[ARC_PATH_MAX + 330], id[ARC_MAX_UNIT_ID + 1];
    if (arc_move_aside(full, moved, sizeof moved) != 0) {
        arc_warn(&w->opts, "%s; cannot move it aside: %s", why, strerror(errno));
        return;
    }
    arc_warn(&w->opts,
             "%s; the unit counts as not done and is recomputed (the part is kept as "
             "%s)",
             why, moved);
    if (arc_unescape_id(esc, id, sizeof id) != 0) return;
    char **v = realloc(w->moved_ids, (w->n_moved + 1) * sizeof *v);
    if (!v) return;
    w->moved_ids = v;
    if ((v[w->n_moved] = strdup(id))) w->n_moved++;
}

/* 1 if this writer, or an earlier run, set unit id's part aside (damaged or stale): the unit
 * is to be recomputed, not restored. */
static int was_moved(const arc_writer *w, const char *id)
{
    char part[ARC_PATH_MAX], aside[ARC_PATH_MAX + 16];
    struct stat st;
    for (size_t i = 0; i < w->n_moved; i++)
        if (!strcmp(w->moved_ids[i], id)) return 1;
    if (arc_unit_part_path(w, id, part, sizeof part) != 0) return 0;
    snprintf(aside, sizeof aside, "%s.bad", part);
    if (stat(aside, &st) == 0) return 1;
    snprintf(aside, sizeof aside, "%s.stale", part);
    return stat(aside, &st) == 0;
}

int arc_unit_set_fingerprint(arc_unit *u, const char *text, mp_err *err)
{
    char *c = strdup(text ? text : "");
    if (!c) return err_set(err, "archive unit '%s': out of memory", u->id);
    free(u->fingerprint);
    u->fingerprint = c;
    return 0;
}

int arc_unit_fingerprint(const arc_writer *w, const char *unit_id, char **text, mp_err *err)
{
    return arc_part_fingerprint(w->path, unit_id, text, err);
}

int arc_part_fingerprint(const char *archive_path, const char *unit_id, char **text, mp_err *err)
{
    char part[ARC_PATH_MAX + 700], esc[3 * ARC_MAX_UNIT_ID + 1];
    *text = NULL;
    arc_h5_quiet();
    if (arc_escape_id(unit_id, esc, sizeof esc) != 0 ||
        snprintf(part, sizeof part, "%s.parts/%s.h5", archive_path, esc) >= (int)sizeof part)
        return err_set(err, "archive %s: part path of unit '%s' is too long", archive_path,
                       unit_id);
    hid_t f = H5Fopen(part, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return arc_h5_err(err, "archive %s: cannot open part %s of unit '%s'", archive_path, part,
                          unit_id);
    hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
    if (root >= 0) {
        if (H5Aexists(root, ARC_MARK_FINGERPRINT) > 0)
            *text = arc_h5_attr_get_str(root, ARC_MARK_FINGERPRINT);
        H5Gclose(root);
    }
    H5Fclose(f);
    H5Eclear2(H5E_DEFAULT);
    return 0;
}

int arc_unit_set_aside(arc_writer *w, const char *unit_id, mp_err *err)
{
    char part[ARC_PATH_MAX], moved[ARC_PATH_MAX + 32];
    size_t i;
    for (i = 0; i < w->n_done && strcmp(w->done[i].id, unit_id); i++)
        ;
    if (i == w->n_done)
        return err_set(err, "archive %s: unit '%s' is not complete", w->path, unit_id);
    if (arc_unit_part_path(w, unit_id, part, sizeof part) != 0 ||
        arc_move_aside_as(part, ".stale", moved, sizeof moved) != 0)
        return err_set(err, "archive %s: cannot set the part of unit '%s' aside: %s", w->path,
                       unit_id, strerror(errno));
    char **v = realloc(w->moved_ids, (w->n_moved + 1) * sizeof *v);
    if (v) {
        w->moved_ids = v;
        if ((v[w->n_moved] = strdup(unit_id))) w->n_moved++;
    }
    arc_done_remove(w, i);
    w->dirty = 1;
    return 0;
}

/* Scans the parts folder and records the complete parts. With `cleanup` (at open, under the
 * snapshot lock) it also deletes temp parts abandoned by dead processes (live ones hold their
 * unit lock) and moves bad parts aside; without (a refresh) it only reads. */
/* A complete part of an older layout cannot be merged with this build's parts (dimension names,
 * tidy forms and provenance differ): the run must be finished by the moeprobe that began it. */
static int check_part_schema(const char *path, const char *id, mp_err *err)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t root = f >= 0 ? H5Gopen2(f, "/", H5P_DEFAULT) : H5I_INVALID_HID;
    int64_t v = 1;
    char *ver = NULL, *git = NULL;
    if (root < 0) { /* unreadable: damage, which the checksum check sets aside */
        if (f >= 0) H5Fclose(f);
        H5Eclear2(H5E_DEFAULT);
        return 0;
    }
    if (arc_h5_attr_get_i64(root, ARC_MARK_SCHEMA, &v) != 0) v = 1;
    if (root >= 0 && v != SCH_VERSION) {
        ver = arc_h5_attr_get_str(root, ARC_MARK_VERSION);
        git = arc_h5_attr_get_str(root, ARC_MARK_GIT);
    }
    if (root >= 0) H5Gclose(root);
    if (f >= 0) H5Fclose(f);
    H5Eclear2(H5E_DEFAULT);
    int rc = 0;
    if (v != SCH_VERSION)
        rc = err_set(err,
                     "%s: unit '%s' was written with archive schema version %lld (moeprobe "
                     "%s, git %s); this moeprobe writes schema version %d and cannot add units to "
                     "it: finish the run with the moeprobe that began it, or run into a new out "
                     "folder (reading it with moeprobe report works)",
                     path, id, (long long)v, ver ? ver : "?", git ? git : "?", SCH_VERSION);
    free(ver);
    free(git);
    return rc;
}

static int scan_parts(arc_writer *w, int cleanup, mp_err *err)
{
    DIR *d = opendir(w->parts_dir);
    struct dirent *e;
    char full[ARC_PATH_MAX + 300], id[ARC_MAX_UNIT_ID + 1], want[ARC_MAX_UNIT_ID + 1];
    if (!d)
        return err_set(err, "%s: cannot list the parts folder: %s", w->parts_dir, strerror(errno));
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(full, sizeof full, "%s/%s", w->parts_dir, e->d_name);
        if (ends_with(e->d_name, ".h5.tmp")) {
            if (cleanup && !arc_tmp_part_is_live(full, 1) && unlink(full) != 0 && errno != ENOENT)
                arc_warn(&w->opts, "%s: cannot delete abandoned part: %s", full, strerror(errno));
            continue;
        }
        if (!ends_with(e->d_name, ".h5")) continue;
        if (!cleanup) { /* a refresh: known units need no second look, bad parts stay */
            char esc0[300];
            snprintf(esc0, sizeof esc0, "%.*s", (int)(strlen(e->d_name) - 3), e->d_name);
            if (arc_unescape_id(esc0, want, sizeof want) == 0 && arc_unit_is_complete(w, want))
                continue;
        }
        mp_err pe;
        err_init(&pe);
        double t = 0;
        char esc[300];
        snprintf(esc, sizeof esc, "%.*s", (int)(strlen(e->d_name) - 3), e->d_name);
        /* an older layout is refused before its checksum is looked at: parts written before
         * checksums existed have none, and must not be recomputed into a mixed archive */
        if (arc_unescape_id(esc, want, sizeof want) == 0 &&
            check_part_schema(full, want, err) != 0) {
            closedir(d);
            return -1;
        }
        int bad = arc_part_verify(full, id, sizeof id, &t, &pe) != 0;
        if (!bad && (arc_unescape_id(esc, want, sizeof want) != 0 || strcmp(want, id) != 0)) {
            err_set(&pe, "%s: unit id '%s' does not match the file name", full, id);
            bad = 1;
        }
        if (bad && !cleanup) continue;
        if (bad) {
            arc_part_set_aside(w, full, esc, pe.msg);
            continue;
        }
        if (done_add(w, id, t) != 0) {
            closedir(d);
            return err_set(err, "%s: out of memory", w->parts_dir);
        }
    }
    closedir(d);
    return 0;
}

int arc_writer_open(arc_writer **out, const char *archive_path, const arc_provenance *prov,
                    const arc_options *opts, mp_err *err)
{
    arc_writer *w = NULL;
    char dir[ARC_PATH_MAX], tmp[ARC_PATH_MAX + 8];
    arc_names snap = {0};
    struct stat st;
    int rc = -1, lock_fd = -1;
    *out = NULL;
    arc_h5_quiet();
    if (!archive_path || !archive_path[0] || strlen(archive_path) + 16 >= ARC_PATH_MAX)
        return err_set(err, "archive: invalid path '%s'", archive_path ? archive_path : "");
    w = calloc(1, sizeof *w);
    if (!w) return err_set(err, "%s: out of memory", archive_path);
    w->opts = opts ? *opts : arc_options_default();
    if (w->opts.deflate_level < 0 || w->opts.deflate_level > 9) w->opts.deflate_level = 1;
    if (w->opts.chunk_bytes < 1024) w->opts.chunk_bytes = 1024;
    snprintf(w->path, sizeof w->path, "%s", archive_path);
    snprintf(w->parts_dir, sizeof w->parts_dir, "%s.parts", archive_path);
    if (prov) {
        w->prov_version = dup_or_null(prov->moeprobe_version);
        w->prov_git = dup_or_null(prov->git_commit);
        w->prov_model_json = dup_or_null(prov->model_config_json);
        w->prov_run_yaml = dup_or_null(prov->run_config_yaml);
        w->prov_ranks = prov->mpi_ranks;
        const char *run[8] = {prov->model_name,   prov->checkpoint_json, prov->relations_json,
                              prov->command_line, prov->mpi_library,     prov->openblas,
                              prov->libyaml,      prov->kernel_isa};
        for (int i = 0; i < 8; i++) w->prov_run[i] = dup_or_null(run[i]);
    }
    if (!w->prov_version) w->prov_version = strdup(build_version());
    if (!w->prov_git) w->prov_git = strdup(build_git_commit());

    snprintf(dir, sizeof dir, "%s", archive_path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (af_mkdir_p(dir, err) != 0) {
            err_prefix(err, "archive %s", archive_path);
            goto done;
        }
    }
    if (mkdir(w->parts_dir, 0777) != 0 && errno != EEXIST) {
        err_set(err, "archive %s: cannot create the parts folder %s: %s", archive_path,
                w->parts_dir, strerror(errno));
        goto done;
    }
    if (stat(w->parts_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        err_set(err, "archive %s: %s exists and is not a directory", archive_path, w->parts_dir);
        goto done;
    }
    if (stat(archive_path, &st) == 0 && !S_ISREG(st.st_mode)) {
        err_set(err, "archive %s: exists and is not a regular file", archive_path);
        goto done;
    }
    /* under the snapshot lock: another process may be rebuilding NAME.h5.tmp right now */
    lock_fd = arc_lock_snapshot(archive_path, &w->opts, err);
    if (lock_fd == -2) goto done;
    snprintf(tmp, sizeof tmp, "%s.tmp", archive_path);
    if (unlink(tmp) != 0 && errno != ENOENT)
        arc_warn(&w->opts, "%s: cannot delete stale snapshot temp file: %s", tmp, strerror(errno));
    if (scan_parts(w, 1, err) != 0) goto done;

    /* The snapshot is derived from the parts; it must not know units the parts lack. */
    w->dirty = 1;
    if (stat(archive_path, &st) == 0) {
        mp_err se;
        err_init(&se);
        if (arc_sum_verify(archive_path, 1, &se) != 0) {
            /* derived from the parts: a damaged (or pre-checksum) snapshot is kept aside and
             * rebuilt */
            char moved[ARC_PATH_MAX + 16];
            if (arc_move_aside(archive_path, moved, sizeof moved) == 0)
                arc_warn(&w->opts, "%s; it is rebuilt from the parts (the old one is kept as %s)",
                         se.msg, moved);
            else
                arc_warn(&w->opts, "%s; it is rebuilt from the parts", se.msg);
        }
    }
    if (stat(archive_path, &st) == 0) {
        if (arc_snapshot_units(archive_path, &snap, w->created) != 0) {
            arc_warn(&w->opts, "%s: unreadable snapshot, it will be rebuilt from the parts",
                     archive_path);
        } else {
            size_t missing = 0;
            const char *first = NULL;
            for (size_t i = 0; i < snap.n; i++)
                if (!arc_unit_is_complete(w, snap.v[i]) && !was_moved(w, snap.v[i]) &&
                    missing++ == 0)
                    first = snap.v[i];
            if (missing) {
                err_set(err,
                        "archive %s lists %zu unit(s) whose part files are missing from "
                        "%s (first: '%s'); restore the parts folder or move the archive "
                        "away before rerunning",
                        archive_path, missing, w->parts_dir, first);
                goto done;
            }
            w->dirty = snap.n != w->n_done;
        }
    }
    if (!w->created[0]) arc_iso_time(arc_now_unix(), w->created);
    w->last_snapshot = monotonic_s();
    rc = 0;
done:
    arc_lock_release(lock_fd);
    arc_names_free(&snap);
    if (rc != 0)
        arc_writer_free(w);
    else
        *out = w;
    return rc;
}

int arc_writer_refresh(arc_writer *w, mp_err *err)
{
    size_t before = w->n_done;
    if (scan_parts(w, 0, err) != 0) return -1;
    if (w->n_done != before) w->dirty = 1;
    return 0;
}

int arc_unit_is_complete(const arc_writer *w, const char *unit_id)
{
    if (!w || !unit_id) return 0;
    for (size_t i = 0; i < w->n_done; i++)
        if (!strcmp(w->done[i].id, unit_id)) return 1;
    return 0;
}

size_t arc_writer_units(const arc_writer *w, const char *const **ids)
{
    *ids = w->done_ids;
    return w->n_done;
}

arc_stats arc_writer_stats(const arc_writer *w)
{
    return w->stats;
}

int arc_unit_part_path(const arc_writer *w, const char *unit_id, char *buf, size_t len)
{
    char esc[3 * ARC_MAX_UNIT_ID + 1];
    if (!unit_id || arc_escape_id(unit_id, esc, sizeof esc) != 0) return -1;
    int n = snprintf(buf, len, "%s/%s.h5", w->parts_dir, esc);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int arc_unit_begin(arc_writer *w, const char *unit_id, arc_unit **out, mp_err *err)
{
    arc_unit *u = NULL;
    hid_t fapl = H5I_INVALID_HID, fcpl = H5I_INVALID_HID;
    *out = NULL;
    if (arc_check_id(unit_id, err) != 0) return -1;
    if (arc_unit_is_complete(w, unit_id))
        return err_set(err,
                       "archive %s: unit '%s' is already complete (delete its part file "
                       "to redo it)",
                       w->path, unit_id);
    for (arc_unit *o = w->open_units; o; o = o->next)
        if (!strcmp(o->id, unit_id))
            return err_set(err, "archive %s: unit '%s' is already begun", w->path, unit_id);
    u = calloc(1, sizeof *u);
    if (!u) return err_set(err, "archive %s: out of memory", w->path);
    u->w = w;
    u->file = H5I_INVALID_HID;
    u->lock_fd = -1;
    snprintf(u->id, sizeof u->id, "%s", unit_id);
    if (arc_unit_part_path(w, unit_id, u->part_path, sizeof u->part_path) != 0 ||
        snprintf(u->tmp_path, sizeof u->tmp_path, "%s.tmp", u->part_path) >=
            (int)sizeof u->tmp_path) {
        free(u);
        return err_set(err, "archive %s: part path of unit '%s' is too long", w->path, unit_id);
    }
    if (arc_unit_lock(u, err) != 0) {
        free(u);
        return -1;
    }
    /* committed by another process since this writer last looked? */
    struct stat pst;
    if (stat(u->part_path, &pst) == 0) {
        mp_err e2;
        err_init(&e2);
        if (arc_writer_refresh(w, &e2) == 0 && arc_unit_is_complete(w, unit_id)) {
            arc_unit_unlock(u);
            free(u);
            return err_set(err,
                           "archive %s: unit '%s' is already complete (committed by "
                           "another process)",
                           w->path, unit_id);
        }
    }
    fapl = arc_h5_fapl();
    fcpl = arc_h5_fcpl();
    u->file = H5Fcreate(u->tmp_path, H5F_ACC_TRUNC, fcpl, fapl);
    H5Pclose(fapl);
    H5Pclose(fcpl);
    if (u->file < 0) {
        arc_h5_err(err, "archive %s: cannot create part file %s for unit '%s'", w->path,
                   u->tmp_path, unit_id);
        arc_unit_unlock(u);
        free(u);
        return -1;
    }
    u->t_begin = monotonic_s();
    u->next = w->open_units;
    w->open_units = u;
    *out = u;
    return 0;
}

/* ---- commit / abort / close ------------------------------------------------------------- */

static void unit_unlink(arc_writer *w, arc_unit *u)
{
    for (arc_unit **p = &w->open_units; *p; p = &(*p)->next)
        if (*p == u) {
            *p = u->next;
            break;
        }
}

/* Closes the unit's HDF5 handles (streams, file); -1 with err if any close failed. */
static int unit_close_h5(arc_unit *u, mp_err *err)
{
    int rc = 0;
    while (u->streams) {
        mp_err e2;
        err_init(&e2);
        if (arc_stream_close(u->streams, &e2) != 0 && rc == 0) {
            if (err) *err = e2;
            rc = -1;
        }
    }
    if (u->file >= 0) {
        if (H5Fclose(u->file) < 0 && rc == 0) {
            if (err)
                arc_h5_err(err, "archive unit '%s': closing part file %s failed", u->id,
                           u->tmp_path);
            rc = -1;
        }
        u->file = H5I_INVALID_HID;
    }
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

void arc_unit_abort(arc_writer *w, arc_unit *u)
{
    if (!u) return;
    unit_close_h5(u, NULL);
    unlink(u->tmp_path);
    arc_unit_unlock(u);
    unit_unlink(w ? w : u->w, u);
    free(u->fingerprint);
    free(u);
}

static int write_marks(arc_unit *u, mp_err *err)
{
    char host[256] = "", iso[32];
    double now = arc_now_unix();
    hid_t root = H5Gopen2(u->file, "/", H5P_DEFAULT);
    int ok;
    if (root < 0)
        return arc_h5_err(err, "archive unit '%s': cannot open root of %s", u->id, u->tmp_path);
    gethostname(host, sizeof host - 1);
    arc_iso_time(now, iso);
    ok = arc_h5_attr_str(root, ARC_MARK_ID, u->id) == 0 &&
         arc_h5_attr_str(root, ARC_MARK_TIME, iso) == 0 &&
         arc_h5_attr_f64(root, ARC_MARK_UNIX, now) == 0 &&
         arc_h5_attr_f64(root, ARC_MARK_SECONDS, monotonic_s() - u->t_begin) == 0 &&
         arc_h5_attr_str(root, ARC_MARK_VERSION, u->w->prov_version) == 0 &&
         arc_h5_attr_str(root, ARC_MARK_GIT, u->w->prov_git) == 0 &&
         arc_h5_attr_str(root, ARC_MARK_HOST, host) == 0 &&
         arc_h5_attr_i64(root, ARC_MARK_SCHEMA, SCH_VERSION) == 0 &&
         (!u->fingerprint || arc_h5_attr_str(root, ARC_MARK_FINGERPRINT, u->fingerprint) == 0) &&
         /* the complete mark goes last: it is what makes the part count */
         arc_h5_attr_i64(root, ARC_MARK_COMPLETE, 1) == 0;
    H5Gclose(root);
    if (!ok)
        return arc_h5_err(err, "archive unit '%s': cannot write the commit mark into %s", u->id,
                          u->tmp_path);
    return 0;
}

int arc_unit_commit(arc_writer *w, arc_unit *u, mp_err *err)
{
    double committed = arc_now_unix();
    int rc = -1;
    if (!u || u->w != w)
        return err_set(err, "archive: commit of a unit that is not open in this writer");
    while (u->streams)
        if (arc_stream_close(u->streams, err) != 0) goto fail;
    if (write_marks(u, err) != 0) goto fail;
    arc_crash_point("commit:marked");
    if (H5Fflush(u->file, H5F_SCOPE_GLOBAL) < 0) {
        arc_h5_err(err, "archive unit '%s': flushing part file %s failed", u->id, u->tmp_path);
        goto fail;
    }
    if (unit_close_h5(u, err) != 0) goto fail;
    arc_crash_point("commit:closed");
    if (af_fsync_path(u->tmp_path, err) != 0 ||
        arc_sum_record(u->tmp_path, u->part_path, err) != 0 ||
        af_rename_durable(u->tmp_path, u->part_path, err) != 0) {
        err_prefix(err, "archive unit '%s'", u->id);
        goto fail;
    }
    arc_crash_point("commit:renamed");
    if (done_add(w, u->id, committed) != 0) {
        err_set(err, "archive unit '%s': out of memory", u->id);
        goto fail;
    }
    w->dirty = 1;
    arc_unit_unlock(u);
    unit_unlink(w, u);
    free(u->fingerprint);
    free(u);
    if (w->opts.snapshot_every_s <= 0 ||
        monotonic_s() - w->last_snapshot >= w->opts.snapshot_every_s) {
        if (arc_snapshot_build(w, err) != 0)
            return err_prefix(err, "unit committed, but the snapshot rebuild failed");
    }
    return 0;
fail:
    arc_unit_abort(w, u);
    return rc;
}

int arc_snapshot(arc_writer *w, mp_err *err)
{
    return arc_snapshot_build(w, err);
}

void arc_writer_free(arc_writer *w)
{
    if (!w) return;
    while (w->open_units) arc_unit_abort(w, w->open_units);
    for (size_t i = 0; i < w->n_done; i++) free(w->done[i].id);
    for (size_t i = 0; i < w->n_moved; i++) free(w->moved_ids[i]);
    free(w->moved_ids);
    free(w->done);
    free(w->done_ids);
    free(w->prov_version);
    free(w->prov_git);
    free(w->prov_model_json);
    free(w->prov_run_yaml);
    for (int i = 0; i < 8; i++) free(w->prov_run[i]);
    free(w);
}

int arc_writer_close(arc_writer *w, mp_err *err)
{
    int rc = 0;
    if (!w) return 0;
    while (w->open_units) arc_unit_abort(w, w->open_units);
    if (w->dirty) rc = arc_snapshot_build(w, err);
    arc_writer_free(w);
    return rc;
}
