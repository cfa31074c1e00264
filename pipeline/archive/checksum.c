/* checksum.c — SHA-256 sidecars of parts and snapshots, and the deep read that `moeprobe verify`
 * and the part checks use (see CHECKSUMS in archive.h).
 *
 * Why a sidecar and not only HDF5's Fletcher32: Fletcher32 covers the chunks of chunked
 * datasets, not small contiguous datasets, attributes or HDF5's own metadata, and a damaged
 * part is copied into the snapshot chunk by chunk without being decoded. A hash of the whole
 * file, taken when the part is closed and recorded before it is renamed into place, catches a
 * flipped byte anywhere; the sidecar is in `sha256sum` format so that the coreutils check it
 * too. Fletcher32 (data.c) still lets a reader of a lone archive find a damaged chunk. */
#include "pipeline/archive/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/util/atomic_file.h"
#include "pipeline/util/sha256.h"

#define SHA256_HEX_LEN 64

int arc_sum_path(const char *file, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s.sha256", file);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

int arc_sum_record(const char *file, const char *final_path, mp_err *err)
{
    char hex[SHA256_HEX_LEN + 1], side[ARC_PATH_MAX + 16], line[ARC_PATH_MAX + 80];
    if (arc_sum_path(final_path, side, sizeof side) != 0)
        return err_set(err, "%s: path too long for its checksum file", final_path);
    if (sha256_path(file, hex, err) != 0) return -1;
    const char *base = strrchr(final_path, '/');
    int n = snprintf(line, sizeof line, "%s  %s\n", hex, base ? base + 1 : final_path);
    return af_write_atomic(side, line, (size_t)n, err);
}

int arc_sum_verify(const char *path, int required, mp_err *err)
{
    char side[ARC_PATH_MAX + 16], want[SHA256_HEX_LEN + 1], have[SHA256_HEX_LEN + 1];
    char line[200];
    if (arc_sum_path(path, side, sizeof side) != 0)
        return err_set(err, "%s: path too long for its checksum file", path);
    FILE *f = fopen(side, "r");
    if (!f) {
        if (errno == ENOENT && !required) return 1;
        return err_set(err,
                       "%s: its checksum file %s cannot be read (%s); every part gets one "
                       "when it is committed, so the part cannot be trusted",
                       path, side, strerror(errno));
    }
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    int ok = n >= SHA256_HEX_LEN;
    for (int i = 0; ok && i < SHA256_HEX_LEN; i++)
        ok = (line[i] >= '0' && line[i] <= '9') || (line[i] >= 'a' && line[i] <= 'f');
    if (!ok)
        return err_set(err,
                       "%s: checksum file %s does not start with 64 lowercase hex digits "
                       "(sha256sum format expected)",
                       path, side);
    memcpy(want, line, SHA256_HEX_LEN);
    want[SHA256_HEX_LEN] = '\0';
    if (sha256_path(path, have, err) != 0) return -1;
    if (strcmp(want, have))
        return err_set(err,
                       "%s: damaged after it was written: its SHA-256 is %.16s..., the "
                       "checksum recorded at commit (%s) is %.16s...",
                       path, have, side, want);
    return 0;
}

/* ---- deep read: every attribute and every dataset element, so that HDF5 checks every
 * metadata checksum, decompresses every chunk and verifies every Fletcher32 checksum ---- */

typedef struct deep_ctx {
    const char *file;
    mp_err *err;
    int failed;
} deep_ctx;

static herr_t read_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    deep_ctx *c = data;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT), t = H5I_INVALID_HID, s = H5I_INVALID_HID;
    hid_t mt = H5I_INVALID_HID;
    void *buf = NULL;
    int ok = 0;
    char why[900];
    (void)info;
    if (a < 0) goto done;
    t = H5Aget_type(a);
    s = H5Aget_space(a);
    if (t < 0 || s < 0) goto done;
    hssize_t n = H5Sget_simple_extent_npoints(s);
    mt = H5Tget_native_type(t, H5T_DIR_ASCEND);
    size_t sz = mt >= 0 ? H5Tget_size(mt) : 0;
    if (n < 0 || mt < 0 || sz == 0) goto done;
    buf = calloc((size_t)(n > 0 ? n : 1), sz);
    if (!buf || H5Aread(a, mt, buf) < 0) goto done;
    if (H5Tdetect_class(mt, H5T_VLEN) > 0 || H5Tis_variable_str(mt) > 0)
        ARC_VLEN_RECLAIM(mt, s, buf);
    ok = 1;
done:
    if (!ok) arc_h5_reason(why, sizeof why); /* before the closes reset HDF5's stack */
    free(buf);
    if (mt >= 0) H5Tclose(mt);
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    if (!ok) {
        if (why[0])
            err_set(c->err, "%s: attribute '%s' cannot be read (HDF5: %s)", c->file, name, why);
        else
            err_set(c->err, "%s: attribute '%s' cannot be read", c->file, name);
        c->failed = 1;
        return -1;
    }
    return 0;
}

/* Reads dataset d in slabs of whole rows of at most ~16 MiB. On failure `why` (given as "")
 * gets the reason: HDF5's (e.g. a Fletcher32 mismatch of a damaged chunk, taken before the
 * clean-up resets its stack) or ours. */
static int read_dataset(hid_t d, char *why, size_t why_len)
{
    hid_t t = H5Dget_type(d), s = H5Dget_space(d), mt = H5I_INVALID_HID;
    hid_t ms = H5I_INVALID_HID;
    hsize_t dims[H5S_MAX_RANK], start[H5S_MAX_RANK] = {0}, count[H5S_MAX_RANK];
    void *buf = NULL;
    int rc = -1;
    if (t < 0 || s < 0) goto done;
    mt = H5Tget_native_type(t, H5T_DIR_ASCEND);
    int nd = H5Sget_simple_extent_ndims(s);
    size_t sz = mt >= 0 ? H5Tget_size(mt) : 0;
    if (mt < 0 || nd < 0 || sz == 0) goto done;
    int vlen = H5Tdetect_class(mt, H5T_VLEN) > 0 || H5Tis_variable_str(mt) > 0;
    if (nd == 0) {
        buf = calloc(1, sz);
        if (!buf || H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) goto done;
        if (vlen) ARC_VLEN_RECLAIM(mt, s, buf);
        rc = 0;
        goto done;
    }
    H5Sget_simple_extent_dims(s, dims, NULL);
    /* a row's bytes from the file's shape: checked, a wrapped product would under-size buf */
    size_t row = sz;
    for (int i = 1; i < nd; i++)
        if (dims[i] > (hsize_t)SIZE_MAX || __builtin_mul_overflow(row, (size_t)dims[i], &row)) {
            snprintf(why, why_len, "its shape (dimension %d is %llu) overflows a row's size", i,
                     (unsigned long long)dims[i]);
            goto done;
        }
    hsize_t rows = row ? (hsize_t)((16u << 20) / row) : 1;
    if (rows < 1) rows = 1;
    if (rows > dims[0]) rows = dims[0];
    buf = malloc((size_t)(rows > 0 ? rows : 1) * (row ? row : 1));
    if (!buf) goto done;
    for (int i = 1; i < nd; i++) count[i] = dims[i];
    for (hsize_t r0 = 0; r0 < dims[0]; r0 += rows) {
        start[0] = r0;
        count[0] = dims[0] - r0 < rows ? dims[0] - r0 : rows;
        if (ms >= 0) H5Sclose(ms);
        ms = H5Screate_simple(nd, count, NULL);
        if (ms < 0 || H5Sselect_hyperslab(s, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
            H5Dread(d, mt, ms, s, H5P_DEFAULT, buf) < 0)
            goto done;
        if (vlen) ARC_VLEN_RECLAIM(mt, ms, buf);
    }
    rc = 0;
done:
    if (rc != 0 && !why[0]) arc_h5_reason(why, why_len);
    free(buf);
    if (ms >= 0) H5Sclose(ms);
    if (mt >= 0) H5Tclose(mt);
    if (s >= 0) H5Sclose(s);
    if (t >= 0) H5Tclose(t);
    return rc;
}

#if H5_VERSION_GE(1, 12, 0)
typedef H5O_info2_t deep_info;
#else
typedef H5O_info_t deep_info;
#endif

static herr_t visit(hid_t root, const char *name, const deep_info *info, void *data)
{
    deep_ctx *c = data;
    hid_t o = H5Oopen(root, name, H5P_DEFAULT);
    int rc = -1;
    if (o < 0) {
        arc_h5_err(c->err, "%s: object '/%s' cannot be opened", c->file, name);
        goto done;
    }
    hsize_t idx = 0;
    if (H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, &idx, read_attr, c) < 0) {
        if (!c->failed)
            arc_h5_err(c->err, "%s: attributes of '/%s' cannot be listed", c->file, name);
        goto done;
    }
    char why[900] = "";
    if (info->type == H5O_TYPE_DATASET && read_dataset(o, why, sizeof why) != 0) {
        if (why[0])
            err_set(c->err, "%s: dataset '/%s' cannot be read back (HDF5: %s)", c->file, name, why);
        else
            err_set(c->err, "%s: dataset '/%s' cannot be read back", c->file, name);
        goto done;
    }
    rc = 0;
done:
    if (o >= 0) H5Oclose(o);
    if (rc != 0) c->failed = 1;
    return rc;
}

int arc_deep_read(const char *path, mp_err *err)
{
    deep_ctx c = {path, err, 0};
    arc_h5_quiet();
    if (ARC_IS_HDF5(path) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return err_set(err, "%s: not an HDF5 file (or its superblock is damaged)", path);
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return arc_h5_err(err, "%s: cannot open", path);
#if H5_VERSION_GE(1, 12, 0)
    herr_t r = H5Ovisit3(f, H5_INDEX_NAME, H5_ITER_INC, visit, &c, H5O_INFO_BASIC);
#else
    herr_t r = H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_INC, visit, &c, H5O_INFO_BASIC);
#endif
    if (r < 0 && !c.failed) {
        arc_h5_err(err, "%s: its objects cannot be walked", path);
        c.failed = 1;
    }
    H5Fclose(f);
    H5Eclear2(H5E_DEFAULT);
    return c.failed ? -1 : 0;
}

int arc_part_verify(const char *path, char *id, size_t id_len, double *committed, mp_err *err)
{
    if (arc_sum_verify(path, 1, err) != 0) return -1;
    return arc_part_check(path, id, id_len, committed, err);
}

int arc_move_aside(const char *path, char *moved, size_t len)
{
    return arc_move_aside_as(path, ".bad", moved, len);
}

int arc_move_aside_as(const char *path, const char *suffix, char *moved, size_t len)
{
    char side[ARC_PATH_MAX + 16], mside[ARC_PATH_MAX + 40];
    struct stat st;
    for (int k = 1; k < 1000; k++) {
        int n = k == 1 ? snprintf(moved, len, "%s%s", path, suffix)
                       : snprintf(moved, len, "%s%s%d", path, suffix, k);
        if (n < 0 || (size_t)n >= len) return -1;
        if (lstat(moved, &st) != 0 && errno == ENOENT) break;
    }
    if (rename(path, moved) != 0) return -1;
    /* the checksum goes along, so that `sha256sum -c` still shows what was recorded */
    if (arc_sum_path(path, side, sizeof side) == 0 && arc_sum_path(moved, mside, sizeof mside) == 0)
        (void)rename(side, mside);
    return 0;
}

int arc_check_checksum(const char *path, mp_err *err)
{
    return arc_sum_verify(path, 0, err) < 0 ? -1 : 0;
}

int arc_verify_file(const char *path, int required, mp_err *err)
{
    if (arc_sum_verify(path, required, err) < 0) return -1;
    return arc_deep_read(path, err);
}

int arc_verify_part(const char *path, mp_err *err)
{
    char id[ARC_MAX_UNIT_ID + 1], want[ARC_MAX_UNIT_ID + 1], esc[ARC_PATH_MAX];
    double t;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (arc_part_verify(path, id, sizeof id, &t, err) != 0) return -1;
    if (n < 4 || strcmp(base + n - 3, ".h5") || n - 3 >= sizeof esc)
        return err_set(err, "%s: a part file name ends in .h5", path);
    snprintf(esc, sizeof esc, "%.*s", (int)(n - 3), base);
    if (arc_unescape_id(esc, want, sizeof want) != 0 || strcmp(want, id))
        return err_set(err, "%s: holds unit '%s', which does not match the file name", path, id);
    return arc_deep_read(path, err);
}

int arc_rename_snapshot(const char *from, const char *to, mp_err *err)
{
    char side[ARC_PATH_MAX + 16];
    if (af_rename_durable(from, to, err) != 0) return -1;
    if (arc_sum_path(from, side, sizeof side) == 0) unlink(side);
    return arc_sum_record(to, to, err);
}
