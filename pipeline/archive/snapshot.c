/* snapshot.c — rebuilds OUT/NAME.h5 from the complete parts: a fresh NAME.h5.tmp gets
 * every part's objects (H5Ocopy copies whole subtrees chunk by chunk, compressed chunks
 * unchanged), groups shared by several units merged, the /units listing and the provenance;
 * then flush, close, fsync, rename over NAME.h5, fsync the directory. A kill at any moment
 * leaves the previous NAME.h5 in place. Merge rules are in archive.h. */
#include "pipeline/archive/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "pipeline/util/atomic_file.h"
#include "pipeline/util/build_info.h"
#include "pipeline/util/monotonic.h"
#include "pipeline/archive/schema.h"

/* Names of the root provenance and /units attributes (pipeline/archive/schema_root.c). */
#define RN(id) (SCH_ROOT(id)->name)

typedef struct merge_ctx {
    arc_writer *w;
    size_t unit;     /* index into w->done */
    hid_t dst;       /* destination group of this level */
    char path[1024]; /* path of this level, "" at the root */
    mp_err *err;
    int failed;
} merge_ctx;

static int skip_marks(const char *name)
{
    return !strncmp(name, "moeprobe_", 9);
}

/* Name of the earlier unit whose part holds `path` (for conflict messages). */
static const char *owner_of(arc_writer *w, size_t upto, const char *path)
{
    char part[ARC_PATH_MAX];
    for (size_t i = 0; i < upto; i++) {
        hid_t f;
        htri_t ex = 0;
        if (arc_unit_part_path(w, w->done[i].id, part, sizeof part) != 0) continue;
        f = H5Fopen(part, H5F_ACC_RDONLY, H5P_DEFAULT);
        if (f < 0) continue;
        hid_t g = arc_h5_group(f, "", 0);
        if (g >= 0) {
            /* walk the components: H5Lexists needs every parent to exist */
            char buf[1024], *tok, *save = NULL;
            hid_t cur = g;
            ex = 1;
            snprintf(buf, sizeof buf, "%s", path);
            for (tok = strtok_r(buf, "/", &save); tok && ex > 0; tok = strtok_r(NULL, "/", &save)) {
                ex = H5Lexists(cur, tok, H5P_DEFAULT);
                if (ex > 0) {
                    hid_t nx = H5Oopen(cur, tok, H5P_DEFAULT);
                    H5Oclose(cur);
                    cur = nx;
                    if (cur < 0) ex = 0;
                }
            }
            if (cur >= 0) H5Oclose(cur);
        }
        H5Fclose(f);
        H5Eclear2(H5E_DEFAULT);
        if (ex > 0) return w->done[i].id;
    }
    return "an earlier unit";
}

static herr_t merge_link(hid_t src, const char *name, const H5L_info_t *info, void *data);

/* Merges group src into group dst: attributes, then links. */
static int merge_group(merge_ctx *c, hid_t src, hid_t dst)
{
    int replaced = 0;
    const char *uid = c->w->done[c->unit].id;
    if (arc_h5_copy_attrs(src, dst, c->path[0] ? NULL : skip_marks, &replaced, c->err) != 0) {
        err_prefix(c->err, "snapshot %s: unit '%s', group '/%s'", c->w->path, uid, c->path);
        return -1;
    }
    if (replaced)
        arc_warn(&c->w->opts,
                 "snapshot %s: unit '%s' replaced %d attribute(s) of '/%s' set by "
                 "an earlier unit",
                 c->w->path, uid, replaced, c->path);
    merge_ctx sub = *c;
    sub.dst = dst;
    sub.failed = 0;
    hsize_t idx = 0;
    if (H5Literate(src, H5_INDEX_NAME, H5_ITER_INC, &idx, merge_link, &sub) < 0 || sub.failed) {
        if (!sub.failed)
            arc_h5_err(c->err, "snapshot %s: cannot list '/%s' of unit '%s'", c->w->path, c->path,
                       uid);
        return -1;
    }
    return 0;
}

static herr_t merge_link(hid_t src, const char *name, const H5L_info_t *info, void *data)
{
    merge_ctx *c = data;
    const char *uid = c->w->done[c->unit].id;
    char path[1024];
    snprintf(path, sizeof path, "%s%s%s", c->path, c->path[0] ? "/" : "", name);
    if (!c->path[0] && !strcmp(name, ARC_UNITS_GROUP)) return 0;
    if (info->type != H5L_TYPE_HARD) {
        arc_warn(&c->w->opts, "snapshot %s: unit '%s': '/%s' is not a hard link, skipped",
                 c->w->path, uid, path);
        return 0;
    }
    htri_t ex = H5Lexists(c->dst, name, H5P_DEFAULT);
    if (ex < 0) goto h5fail;
    if (ex == 0) {
        if (H5Ocopy(src, name, c->dst, name, H5P_DEFAULT, H5P_DEFAULT) < 0) goto h5fail;
        return 0;
    }
    H5I_type_t st = arc_h5_obj_type(src, name), dt = arc_h5_obj_type(c->dst, name);
    if (st == H5I_BADID || dt == H5I_BADID) goto h5fail;
    if (st != H5I_GROUP || dt != H5I_GROUP) {
        err_set(c->err,
                "snapshot %s: unit '%s' and unit '%s' both write '/%s' (%s and %s); "
                "only groups can be shared between units",
                c->w->path, owner_of(c->w, c->unit, path), uid, path,
                dt == H5I_GROUP ? "group" : "dataset", st == H5I_GROUP ? "group" : "dataset");
        c->failed = 1;
        return -1;
    }
    hid_t sg = H5Gopen2(src, name, H5P_DEFAULT), dg = H5Gopen2(c->dst, name, H5P_DEFAULT);
    int rc = -1;
    if (sg >= 0 && dg >= 0) {
        merge_ctx sub = *c;
        snprintf(sub.path, sizeof sub.path, "%s", path);
        rc = merge_group(&sub, sg, dg);
    } else {
        arc_h5_err(c->err, "snapshot %s: cannot open group '/%s'", c->w->path, path);
    }
    if (sg >= 0) H5Gclose(sg);
    if (dg >= 0) H5Gclose(dg);
    if (rc != 0) {
        c->failed = 1;
        return -1;
    }
    return 0;
h5fail:
    arc_h5_err(c->err, "snapshot %s: cannot copy '/%s' of unit '%s'", c->w->path, path, uid);
    c->failed = 1;
    return -1;
}

/* Copies part i into the snapshot file and adds its /units entry. */
static int merge_part(arc_writer *w, size_t i, hid_t dst_file, hid_t units, mp_err *err)
{
    char part[ARC_PATH_MAX], esc[3 * ARC_MAX_UNIT_ID + 1];
    hid_t f = H5I_INVALID_HID, sroot = H5I_INVALID_HID, droot = H5I_INVALID_HID;
    hid_t ug = H5I_INVALID_HID;
    int rc = -1;
    const char *uid = w->done[i].id;
    if (arc_unit_part_path(w, uid, part, sizeof part) != 0 ||
        arc_escape_id(uid, esc, sizeof esc) != 0)
        return err_set(err, "snapshot %s: unit id '%s' too long", w->path, uid);
    f = H5Fopen(part, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return arc_h5_err(err, "snapshot %s: cannot open part %s of unit '%s'", w->path, part, uid);
    sroot = H5Gopen2(f, "/", H5P_DEFAULT);
    droot = H5Gopen2(dst_file, "/", H5P_DEFAULT);
    if (sroot < 0 || droot < 0) {
        arc_h5_err(err, "snapshot %s: cannot open root groups", w->path);
        goto done;
    }
    merge_ctx c = {w, i, droot, "", err, 0};
    if (merge_group(&c, sroot, droot) != 0) goto done;

    /* /units/<escaped id>: when, how long, by which build and host */
    ug = H5Gcreate2(units, esc, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (ug < 0) {
        arc_h5_err(err, "snapshot %s: cannot create /units/%s", w->path, esc);
        goto done;
    }
    const struct {
        const char *from, *to;
    } strs[] = {{ARC_MARK_TIME, RN(UNIT_COMMITTED_AT)},
                {ARC_MARK_VERSION, RN(UNIT_VERSION)},
                {ARC_MARK_GIT, RN(UNIT_GIT_COMMIT)},
                {ARC_MARK_HOST, RN(UNIT_HOSTNAME)}};
    int ok = arc_h5_attr_str(ug, RN(UNIT_ID), uid) == 0;
    const char *slash = strrchr(part, '/');
    ok = ok && arc_h5_attr_str(ug, RN(UNIT_PART_FILE), slash ? slash + 1 : part) == 0;
    for (size_t k = 0; ok && k < sizeof strs / sizeof strs[0]; k++) {
        char *v = arc_h5_attr_get_str(sroot, strs[k].from);
        ok = arc_h5_attr_str(ug, strs[k].to, v ? v : "") == 0;
        free(v);
    }
    double t = 0, secs = 0;
    arc_h5_attr_get_f64(sroot, ARC_MARK_UNIX, &t);
    arc_h5_attr_get_f64(sroot, ARC_MARK_SECONDS, &secs);
    ok = ok && arc_h5_attr_f64(ug, RN(UNIT_COMMITTED_UNIX), t) == 0 &&
         arc_h5_attr_f64(ug, RN(UNIT_SECONDS), secs) == 0;
    if (!ok) {
        arc_h5_err(err, "snapshot %s: cannot write /units/%s", w->path, esc);
        goto done;
    }
    rc = 0;
done:
    if (ug >= 0) H5Gclose(ug);
    if (droot >= 0) H5Gclose(droot);
    if (sroot >= 0) H5Gclose(sroot);
    H5Fclose(f);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

static int write_provenance(arc_writer *w, hid_t root)
{
    char host[256] = "", now[32];
    gethostname(host, sizeof host - 1);
    arc_iso_time(arc_now_unix(), now);
    int ok = arc_h5_attr_str(root, RN(VERSION), w->prov_version) == 0 &&
             arc_h5_attr_str(root, RN(GIT_COMMIT), w->prov_git) == 0 &&
             arc_h5_attr_str(root, RN(HOSTNAME), host) == 0 &&
             arc_h5_attr_str(root, RN(CREATED), w->created) == 0 &&
             arc_h5_attr_str(root, RN(UPDATED), now) == 0 &&
             arc_h5_attr_i64(root, RN(UNITS_COMPLETE), (int64_t)w->n_done) == 0 &&
             arc_h5_attr_str(root, RN(CONVENTIONS), SCH_CONVENTIONS) == 0 &&
             arc_h5_attr_i64(root, RN(SCHEMA_VERSION), SCH_VERSION) == 0;
    if (ok && w->prov_model_json)
        ok = arc_h5_attr_str(root, RN(MODEL_CONFIG_JSON), w->prov_model_json) == 0;
    if (ok && w->prov_run_yaml)
        ok = arc_h5_attr_str(root, RN(RUN_CONFIG_YAML), w->prov_run_yaml) == 0;
    if (ok && w->prov_ranks > 0) ok = arc_h5_attr_i64(root, RN(MPI_RANKS), w->prov_ranks) == 0;
    static const int run_ids[8] = {ROOT_MODEL_NAME,   ROOT_CHECKPOINT,  ROOT_RELATION_FILES,
                                   ROOT_COMMAND_LINE, ROOT_MPI_LIBRARY, ROOT_OPENBLAS,
                                   ROOT_LIBYAML,      ROOT_KERNEL_ISA};
    for (int i = 0; ok && i < 8; i++)
        if (w->prov_run[i])
            ok = arc_h5_attr_str(root, SCH_ROOT_ENTRIES[run_ids[i]].name, w->prov_run[i]) == 0;
    unsigned maj = 0, min = 0, rel = 0;
    char h5v[64];
    H5get_libversion(&maj, &min, &rel);
    snprintf(h5v, sizeof h5v, "%u.%u.%u", maj, min, rel);
    ok = ok && arc_h5_attr_str(root, RN(HDF5_VERSION), h5v) == 0 &&
         arc_h5_attr_str(root, RN(COMPILER), build_compiler()) == 0 &&
         arc_h5_attr_i64(root, RN(BUILD_DIRTY), build_dirty()) == 0;
    return ok ? 0 : -1;
}

static int snapshot_build_locked(arc_writer *w, mp_err *err);

/* Under the snapshot lock, after a refresh: units other processes committed are included. */
int arc_snapshot_build(arc_writer *w, mp_err *err)
{
    int fd = arc_lock_snapshot(w->path, &w->opts, err);
    if (fd == -2) return -1;
    int rc = arc_writer_refresh(w, err);
    if (rc == 0) rc = snapshot_build_locked(w, err);
    arc_lock_release(fd);
    return rc;
}

/* HDF5 (1.10) can crash inside H5Ocopy when a write fails for lack of space, so the space is
 * secured before copying: the snapshot is at most about the size of the parts together, which is
 * reserved in the temp file with fallocate(KEEP_SIZE) (blocks allocated, the size HDF5 sees
 * unchanged; released again by truncating to the final size). Where the filesystem cannot
 * reserve, the free space must cover it (statvfs). Returns 0, or -1 with an ENOSPC message. */
static int reserve_space(arc_writer *w, const char *tmp, mp_err *err)
{
    uint64_t need = 256u << 10, parts = 0; /* + metadata and /units */
    char part[ARC_PATH_MAX];
    struct stat st;
    struct statvfs vfs;
    for (size_t i = 0; i < w->n_done; i++)
        if (arc_unit_part_path(w, w->done[i].id, part, sizeof part) == 0 && stat(part, &st) == 0)
            parts += (uint64_t)st.st_size;
    need += parts + parts / 32; /* H5Ocopy moves compressed chunks as they are */
    int fd = open(tmp, O_WRONLY | O_CLOEXEC);
    int rc = fd >= 0 ? fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)need) : -1;
    int e = rc == 0 ? 0 : errno;
    if (fd >= 0) close(fd);
    if (rc == 0) return 0;
    if (e != ENOSPC && e != EDQUOT) { /* cannot reserve here (NFS, Lustre ...): check instead */
        char dir[ARC_PATH_MAX];
        snprintf(dir, sizeof dir, "%s", tmp);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(dir, sizeof dir, ".");
        if (statvfs(dir, &vfs) != 0 || (uint64_t)vfs.f_bavail * vfs.f_frsize >= need) return 0;
    } else if (statvfs(tmp, &vfs) != 0) {
        vfs.f_bavail = 0;
        vfs.f_frsize = 0;
    }
    return err_set(err,
                   "snapshot %s: %s: the snapshot needs about %llu bytes, %llu are free on "
                   "the filesystem of %s (the complete units are kept in %s; free space "
                   "and run again)",
                   w->path, strerror(e == EDQUOT ? EDQUOT : ENOSPC), (unsigned long long)need,
                   (unsigned long long)((uint64_t)vfs.f_bavail * vfs.f_frsize), tmp, w->parts_dir);
}

static int snapshot_build_locked(arc_writer *w, mp_err *err)
{
    char tmp[ARC_PATH_MAX + 8];
    hid_t fapl = arc_h5_fapl(), fcpl = arc_h5_fcpl(), f, root = H5I_INVALID_HID;
    hid_t units = H5I_INVALID_HID;
    double t0 = monotonic_s();
    struct stat st;
    int rc = -1;
    snprintf(tmp, sizeof tmp, "%s.tmp", w->path);
    f = H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl);
    H5Pclose(fapl);
    H5Pclose(fcpl);
    if (f < 0) return arc_h5_err(err, "snapshot %s: cannot create %s", w->path, tmp);
    arc_crash_point("snapshot:created");
    if (reserve_space(w, tmp, err) != 0) goto fail;
    root = H5Gopen2(f, "/", H5P_DEFAULT);
    units = H5Gcreate2(f, ARC_UNITS_GROUP, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (root < 0 || units < 0) {
        arc_h5_err(err, "snapshot %s: cannot create the root groups in %s", w->path, tmp);
        goto fail;
    }
    /* every part is checked against its commit checksum before it is copied: a damaged part
     * is set aside and left out (its unit becomes not done), and the build ends with an error
     * naming it after writing a snapshot of the rest, so the run does not end 0 */
    size_t dropped = 0;
    char first_bad[ARC_MAX_UNIT_ID + 1] = "";
    for (size_t i = 0; i < w->n_done;) {
        char part[ARC_PATH_MAX], id[ARC_MAX_UNIT_ID + 1], esc[3 * ARC_MAX_UNIT_ID + 1];
        double t;
        mp_err pe;
        err_init(&pe);
        if (arc_unit_part_path(w, w->done[i].id, part, sizeof part) == 0 &&
            arc_escape_id(w->done[i].id, esc, sizeof esc) == 0 &&
            arc_part_verify(part, id, sizeof id, &t, &pe) != 0) {
            if (!dropped++) snprintf(first_bad, sizeof first_bad, "%s", w->done[i].id);
            arc_part_set_aside(w, part, esc, pe.msg);
            arc_done_remove(w, i);
            continue;
        }
        if (merge_part(w, i, f, units, err) != 0) goto fail;
        i++;
    }
    if (arc_scales_build(f, &w->opts, w->path, err) != 0) goto fail;
    arc_crash_point("snapshot:copied");
    /* written last so that units cannot override it */
    if (write_provenance(w, root) != 0) {
        arc_h5_err(err, "snapshot %s: cannot write the provenance attributes", w->path);
        goto fail;
    }
    H5Gclose(units);
    H5Gclose(root);
    units = root = H5I_INVALID_HID;
    if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0) {
        arc_h5_err(err, "snapshot %s: flushing %s failed", w->path, tmp);
        goto fail;
    }
    herr_t cr = H5Fclose(f);
    f = H5I_INVALID_HID;
    if (cr < 0) {
        arc_h5_err(err, "snapshot %s: closing %s failed", w->path, tmp);
        goto fail;
    }
    arc_crash_point("snapshot:closed");
    if (stat(tmp, &st) == 0) /* drops the blocks reserved past the end */
        (void)!truncate(tmp, st.st_size);
    if (af_fsync_path(tmp, err) != 0 || arc_sum_record(tmp, w->path, err) != 0 ||
        af_rename_durable(tmp, w->path, err) != 0) {
        err_prefix(err, "snapshot %s", w->path);
        goto fail;
    }
    arc_crash_point("snapshot:renamed");
    w->dirty = 0;
    w->last_snapshot = monotonic_s();
    w->stats.snapshots++;
    w->stats.last_snapshot_s = w->last_snapshot - t0;
    w->stats.last_snapshot_bytes = stat(w->path, &st) == 0 ? (int64_t)st.st_size : -1;
    if (dropped)
        return err_set(err,
                       "snapshot %s: %zu unit part(s) were damaged since their commit "
                       "(first: '%s'); they were set aside and left out, and the next run "
                       "recomputes them",
                       w->path, dropped, first_bad);
    return 0;
fail:
    if (units >= 0) H5Gclose(units);
    if (root >= 0) H5Gclose(root);
    if (f >= 0) H5Fclose(f);
    H5Eclear2(H5E_DEFAULT);
    unlink(tmp);
    return rc;
}

int arc_snapshot_units(const char *path, arc_names *out, char created[32])
{
    arc_reader *r = NULL;
    arc_names groups = {0};
    mp_err e;
    int rc = -1;
    err_init(&e);
    memset(out, 0, sizeof *out);
    if (arc_open_read(&r, path, &e) != 0) return -1;
    if (created) {
        char *c = NULL;
        created[0] = '\0';
        if (arc_read_attr_str(r, "/", "created", &c, &e) == 0) snprintf(created, 32, "%s", c);
        free(c);
    }
    if (arc_kind_of(r, "/" ARC_UNITS_GROUP) != ARC_GROUP) {
        rc = 0;
        goto done;
    }
    if (arc_list(r, "/" ARC_UNITS_GROUP, ARC_GROUP, &groups, &e) != 0) goto done;
    out->v = calloc(groups.n ? groups.n : 1, sizeof *out->v);
    if (!out->v) goto done;
    for (size_t i = 0; i < groups.n; i++) {
        char gp[600], *id = NULL;
        snprintf(gp, sizeof gp, "/%s/%s", ARC_UNITS_GROUP, groups.v[i]);
        if (arc_read_attr_str(r, gp, "unit_id", &id, &e) != 0) goto done;
        out->v[out->n++] = id;
    }
    rc = 0;
done:
    if (rc != 0) arc_names_free(out);
    arc_names_free(&groups);
    arc_reader_close(r);
    return rc;
}
