/* read.c — reading archives (snapshots, parts, any plain HDF5 file): listing groups,
 * datasets and attributes, reading datasets (whole or by rows) and attributes into malloc'd
 * buffers, and the read-only list of complete units used by resume and `moeprobe status`. */
#include "pipeline/archive/internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5_hl.h>

struct arc_reader {
    hid_t file;
    char path[ARC_PATH_MAX];
};

int arc_open_read(arc_reader **out, const char *path, mp_err *err)
{
    arc_reader *r;
    hid_t fapl;
    *out = NULL;
    arc_h5_quiet();
    if (ARC_IS_HDF5(path) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        struct stat st;
        if (stat(path, &st) != 0)
            return err_set(err, "%s: cannot open archive: %s", path, strerror(errno));
        return err_set(err, "%s: not an HDF5 file", path);
    }
    r = calloc(1, sizeof *r);
    if (!r) return err_set(err, "%s: out of memory", path);
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    r->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    if (r->file < 0) {
        free(r);
        return arc_h5_err(err, "%s: cannot open archive", path);
    }
    snprintf(r->path, sizeof r->path, "%s", path);
    *out = r;
    return 0;
}

void arc_reader_close(arc_reader *r)
{
    if (!r) return;
    H5Fclose(r->file);
    H5Eclear2(H5E_DEFAULT);
    free(r);
}

/* Opens the object at path (any depth); negative if absent. Never leaves errors behind. */
static hid_t open_obj(arc_reader *r, const char *path)
{
    char buf[1024], *tok, *save = NULL;
    const char *p = path ? path : "";
    hid_t cur;
    while (*p == '/') p++;
    if (strlen(p) >= sizeof buf) return H5I_INVALID_HID;
    cur = H5Oopen(r->file, "/", H5P_DEFAULT);
    strcpy(buf, p);
    for (tok = strtok_r(buf, "/", &save); tok && cur >= 0; tok = strtok_r(NULL, "/", &save)) {
        hid_t nx = H5I_INVALID_HID;
        if (H5Lexists(cur, tok, H5P_DEFAULT) > 0) nx = H5Oopen(cur, tok, H5P_DEFAULT);
        H5Oclose(cur);
        cur = nx;
    }
    H5Eclear2(H5E_DEFAULT);
    return cur;
}

arc_kind arc_kind_of(arc_reader *r, const char *path)
{
    hid_t o = open_obj(r, path);
    arc_kind k = ARC_NONE;
    if (o < 0) return ARC_NONE;
    H5I_type_t t = H5Iget_type(o);
    if (t == H5I_GROUP)
        k = ARC_GROUP;
    else if (t == H5I_DATASET)
        k = ARC_DATASET;
    H5Oclose(o);
    return k;
}

void arc_names_free(arc_names *n)
{
    if (!n) return;
    for (size_t i = 0; i < n->n; i++) free(n->v[i]);
    free(n->v);
    n->v = NULL;
    n->n = 0;
}

static int names_push(arc_names *n, size_t *cap, const char *s)
{
    if (n->n == *cap) {
        size_t c = *cap ? 2 * *cap : 16;
        char **v = realloc(n->v, c * sizeof *v);
        if (!v) return -1;
        n->v = v;
        *cap = c;
    }
    n->v[n->n] = strdup(s);
    if (!n->v[n->n]) return -1;
    n->n++;
    return 0;
}

typedef struct {
    arc_names *out;
    size_t cap;
    arc_kind kinds;
    int oom;
} list_ctx;

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    list_ctx *c = data;
    (void)info;
    if (c->kinds != ARC_NONE) {
        H5I_type_t t = arc_h5_obj_type(g, name);
        if (t != (c->kinds == ARC_GROUP ? H5I_GROUP : H5I_DATASET)) return 0;
    }
    if (names_push(c->out, &c->cap, name) != 0) {
        c->oom = 1;
        return -1;
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int arc_list(arc_reader *r, const char *path, arc_kind kinds, arc_names *out, mp_err *err)
{
    hid_t g = open_obj(r, path);
    list_ctx c = {out, 0, kinds, 0};
    hsize_t idx = 0;
    memset(out, 0, sizeof *out);
    if (g < 0 || H5Iget_type(g) != H5I_GROUP) {
        if (g >= 0) H5Oclose(g);
        return err_set(err, "%s: no group '%s'", r->path, path);
    }
    herr_t rc = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, list_cb, &c);
    H5Oclose(g);
    if (rc < 0 || c.oom) {
        arc_names_free(out);
        return arc_h5_err(err, "%s: cannot list group '%s'", r->path, path);
    }
    if (out->n > 1) qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return 0;
}

static herr_t attr_name_cb(hid_t o, const char *name, const H5A_info_t *info, void *data)
{
    list_ctx *c = data;
    (void)o;
    (void)info;
    if (names_push(c->out, &c->cap, name) != 0) {
        c->oom = 1;
        return -1;
    }
    return 0;
}

int arc_list_attrs(arc_reader *r, const char *path, arc_names *out, mp_err *err)
{
    hid_t o = open_obj(r, path);
    list_ctx c = {out, 0, ARC_NONE, 0};
    hsize_t idx = 0;
    memset(out, 0, sizeof *out);
    if (o < 0) return err_set(err, "%s: no object '%s'", r->path, path);
    herr_t rc = H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_name_cb, &c);
    H5Oclose(o);
    if (rc < 0 || c.oom) {
        arc_names_free(out);
        return arc_h5_err(err, "%s: cannot list attributes of '%s'", r->path, path);
    }
    if (out->n > 1) qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return 0;
}

void arc_array_free(arc_array *a)
{
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

/* Packs count VL strings into one block: pointer table, then the bytes. */
static void *pack_strings(char **s, size_t count)
{
    size_t bytes = count * sizeof(char *);
    for (size_t i = 0; i < count; i++) bytes += strlen(s[i] ? s[i] : "") + 1;
    char **blk = malloc(bytes ? bytes : 1);
    if (!blk) return NULL;
    char *p = (char *)(blk + count);
    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(s[i] ? s[i] : "") + 1;
        memcpy(p, s[i] ? s[i] : "", n);
        blk[i] = p;
        p += n;
    }
    return blk;
}

/* Reads `count` elements of a dataset or attribute whose stored type is ftype into out->data.
 * read(mtype, buf) does the actual H5Dread/H5Aread. */
typedef herr_t (*read_fn)(void *ctx, hid_t mtype, void *buf);

static int read_typed(hid_t ftype, size_t count, read_fn rd, void *ctx, arc_array *out)
{
    arc_type t;
    if (arc_type_of_h5(ftype, &t) != 0) return -1;
    out->type = t;
    out->count = count;
    if (t != ARC_STR) {
        out->data = malloc(count ? count * arc_type_size(t) : 1);
        if (!out->data || (count && rd(ctx, arc_h5_mem_type(t), out->data) < 0)) return -1;
        return 0;
    }
    int rc = -1;
    if (H5Tis_variable_str(ftype) > 0) {
        hid_t mt = arc_h5_mem_type(ARC_STR);
        char **tmp = calloc(count ? count : 1, sizeof *tmp);
        if (tmp && (!count || rd(ctx, mt, tmp) >= 0)) {
            out->data = pack_strings(tmp, count);
            rc = out->data ? 0 : -1;
            hsize_t d = count;
            hid_t sp = H5Screate_simple(1, &d, NULL);
            if (count) ARC_VLEN_RECLAIM(mt, sp, tmp);
            H5Sclose(sp);
        }
        free(tmp);
        H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(ftype);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, n + 1);
        char *raw = calloc(count ? count : 1, n + 1);
        char **ptrs = calloc(count ? count : 1, sizeof *ptrs);
        if (raw && ptrs && (!count || rd(ctx, mt, raw) >= 0)) {
            for (size_t i = 0; i < count; i++) ptrs[i] = raw + i * (n + 1);
            out->data = pack_strings(ptrs, count);
            rc = out->data ? 0 : -1;
        }
        free(raw);
        free(ptrs);
        H5Tclose(mt);
    }
    return rc;
}

typedef struct {
    hid_t d, ms, fs;
} dread_ctx;

static herr_t dread(void *ctx, hid_t mt, void *buf)
{
    dread_ctx *c = ctx;
    return H5Dread(c->d, mt, c->ms, c->fs, H5P_DEFAULT, buf);
}

static int read_impl(arc_reader *r, const char *path, int rows, int64_t row0, int64_t nrows,
                     arc_array *out, mp_err *err)
{
    hid_t d = open_obj(r, path), ft = H5I_INVALID_HID, fs = H5I_INVALID_HID;
    hid_t ms = H5I_INVALID_HID;
    hsize_t dims[ARC_MAX_DIMS];
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (d < 0 || H5Iget_type(d) != H5I_DATASET) {
        if (d >= 0) H5Oclose(d);
        return err_set(err, "%s: no dataset '%s'", r->path, path);
    }
    ft = H5Dget_type(d);
    fs = H5Dget_space(d);
    int nd = fs >= 0 ? H5Sget_simple_extent_ndims(fs) : -1;
    if (nd < 0 || nd > ARC_MAX_DIMS) {
        err_set(err, "%s: dataset '%s' has %d dimensions (expected 0..%d)", r->path, path, nd,
                ARC_MAX_DIMS);
        goto done;
    }
    H5Sget_simple_extent_dims(fs, dims, NULL);
    if (rows) {
        if (nd < 1 || row0 < 0 || nrows < 0 || (hsize_t)row0 + (hsize_t)nrows > dims[0]) {
            err_set(err, "%s: dataset '%s': rows [%lld, %lld) out of range (it has %llu)", r->path,
                    path, (long long)row0, (long long)(row0 + nrows),
                    nd ? (unsigned long long)dims[0] : 0ULL);
            goto done;
        }
        hsize_t start[ARC_MAX_DIMS] = {0};
        start[0] = (hsize_t)row0;
        dims[0] = (hsize_t)nrows;
        if (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, dims, NULL) < 0) goto h5fail;
        ms = H5Screate_simple(nd, dims, NULL);
    } else {
        ms = H5Scopy(fs);
    }
    size_t count = 1, bytes;
    out->ndim = nd;
    for (int i = 0; i < nd; i++) {
        /* the shape comes from the file: its element count (and bytes) must fit in memory
         * arithmetic before anything is allocated from it */
        if (dims[i] > (hsize_t)INT64_MAX ||
            __builtin_mul_overflow(count, (size_t)dims[i], &count) ||
            __builtin_mul_overflow(count, (size_t)16, &bytes)) {
            err_set(err, "%s: dataset '%s' has an impossible shape (dimension %d is %llu)", r->path,
                    path, i, (unsigned long long)dims[i]);
            goto done;
        }
        out->shape[i] = (int64_t)dims[i];
        char lab[ARC_DIM_NAME_LEN] = "";
        if (arc_h5_label(d, nd, i, lab, sizeof lab) > 0)
            snprintf(out->dim_names[i], ARC_DIM_NAME_LEN, "%s", lab);
    }
    dread_ctx c = {d, ms, fs};
    if (read_typed(ft, count, dread, &c, out) != 0) {
        free(out->data);
        out->data = NULL;
        goto h5fail;
    }
    rc = 0;
    goto done;
h5fail:
    arc_h5_err(err, "%s: cannot read dataset '%s'", r->path, path);
done:
    if (rc != 0) arc_array_free(out);
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (ft >= 0) H5Tclose(ft);
    H5Oclose(d);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

int arc_read(arc_reader *r, const char *path, arc_array *out, mp_err *err)
{
    return read_impl(r, path, 0, 0, 0, out, err);
}

int arc_read_rows(arc_reader *r, const char *path, int64_t row0, int64_t nrows, arc_array *out,
                  mp_err *err)
{
    return read_impl(r, path, 1, row0, nrows, out, err);
}

int arc_has_attr(arc_reader *r, const char *path, const char *name)
{
    hid_t o = open_obj(r, path);
    int has = 0;
    if (o >= 0) {
        has = H5Aexists(o, name) > 0;
        H5Oclose(o);
    }
    H5Eclear2(H5E_DEFAULT);
    return has;
}

static herr_t aread(void *ctx, hid_t mt, void *buf)
{
    return H5Aread(*(hid_t *)ctx, mt, buf);
}

int arc_read_attr(arc_reader *r, const char *path, const char *name, arc_array *out, mp_err *err)
{
    hid_t o = open_obj(r, path), a = H5I_INVALID_HID, t = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    hsize_t dims[ARC_MAX_DIMS];
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (o < 0) return err_set(err, "%s: no object '%s'", r->path, path);
    if (H5Aexists(o, name) <= 0) {
        err_set(err, "%s: '%s' has no attribute '%s'", r->path, path, name);
        goto done;
    }
    a = H5Aopen(o, name, H5P_DEFAULT);
    t = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
    sp = a >= 0 ? H5Aget_space(a) : H5I_INVALID_HID;
    int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (t < 0 || nd < 0 || nd > ARC_MAX_DIMS) {
        arc_h5_err(err, "%s: cannot read attribute '%s' of '%s'", r->path, name, path);
        goto done;
    }
    H5Sget_simple_extent_dims(sp, dims, NULL);
    hssize_t npoints = H5Sget_simple_extent_npoints(sp);
    size_t count = 1, bytes;
    for (int i = 0; i < nd; i++)
        if (dims[i] > (hsize_t)INT64_MAX || __builtin_mul_overflow(count, (size_t)dims[i], &count))
            npoints = -1;
    if (npoints < 0 || (size_t)npoints != count ||
        __builtin_mul_overflow(count, (size_t)16, &bytes)) {
        err_set(err, "%s: attribute '%s' of '%s' has an impossible shape", r->path, name, path);
        goto done;
    }
    out->ndim = nd;
    for (int i = 0; i < nd; i++) out->shape[i] = (int64_t)dims[i];
    if (read_typed(t, count, aread, &a, out) != 0) {
        arc_array_free(out);
        arc_h5_err(err, "%s: cannot read attribute '%s' of '%s' (unsupported type?)", r->path, name,
                   path);
        goto done;
    }
    rc = 0;
done:
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    H5Oclose(o);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

int arc_read_attr_f64(arc_reader *r, const char *path, const char *name, double *v, mp_err *err)
{
    arc_array a;
    if (arc_read_attr(r, path, name, &a, err) != 0) return -1;
    int rc = 0;
    if (a.count != 1 || a.type == ARC_STR)
        rc = err_set(err, "%s: attribute '%s' of '%s' is not a numeric scalar (%s, %zu values)",
                     r->path, name, path, arc_type_name(a.type), a.count);
    else if (a.type == ARC_F32)
        *v = *(float *)a.data;
    else if (a.type == ARC_F64)
        *v = *(double *)a.data;
    else if (a.type == ARC_I32)
        *v = *(int32_t *)a.data;
    else
        *v = (double)*(int64_t *)a.data;
    arc_array_free(&a);
    return rc;
}

int arc_read_attr_i64(arc_reader *r, const char *path, const char *name, int64_t *v, mp_err *err)
{
    arc_array a;
    if (arc_read_attr(r, path, name, &a, err) != 0) return -1;
    int rc = 0;
    if (a.count != 1 || (a.type != ARC_I32 && a.type != ARC_I64))
        rc = err_set(err,
                     "%s: attribute '%s' of '%s' is not an integer scalar (%s, %zu "
                     "values)",
                     r->path, name, path, arc_type_name(a.type), a.count);
    else
        *v = a.type == ARC_I32 ? *(int32_t *)a.data : *(int64_t *)a.data;
    arc_array_free(&a);
    return rc;
}

int arc_read_attr_str(arc_reader *r, const char *path, const char *name, char **v, mp_err *err)
{
    arc_array a;
    *v = NULL;
    if (arc_read_attr(r, path, name, &a, err) != 0) return -1;
    int rc = 0;
    if (a.count != 1 || a.type != ARC_STR)
        rc = err_set(err, "%s: attribute '%s' of '%s' is not a string (%s, %zu values)", r->path,
                     name, path, arc_type_name(a.type), a.count);
    else if (!(*v = strdup(((char **)a.data)[0])))
        rc = err_set(err, "%s: out of memory", r->path);
    arc_array_free(&a);
    return rc;
}

/* ---- complete units (read-only) --------------------------------------------------------- */

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Resolves a folder to the one archive in it ("" if none). */
static int find_archive(const char *dir, char *out, size_t len, mp_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    char first[512] = "", second[512] = "";
    out[0] = '\0';
    if (!d) return err_set(err, "%s: cannot list folder: %s", dir, strerror(errno));
    while ((e = readdir(d))) {
        char base[512];
        if (ends_with(e->d_name, ".h5"))
            snprintf(base, sizeof base, "%s", e->d_name);
        else if (ends_with(e->d_name, ".h5.parts"))
            snprintf(base, sizeof base, "%.*s", (int)(strlen(e->d_name) - 6), e->d_name);
        else
            continue;
        if (!strcmp(base, first) || !strcmp(base, second)) continue;
        if (!found++)
            snprintf(first, sizeof first, "%s", base);
        else if (found == 2)
            snprintf(second, sizeof second, "%s", base);
    }
    closedir(d);
    if (found > 1)
        return err_set(err, "%s: holds %d archives (%s, %s, ...); name one", dir, found, first,
                       second);
    if (found == 1 && snprintf(out, len, "%s/%s", dir, first) >= (int)len)
        return err_set(err, "%s: path too long", dir);
    return 0;
}

static int in_names(const arc_names *n, const char *s)
{
    for (size_t i = 0; n && i < n->n; i++)
        if (!strcmp(n->v[i], s)) return 1;
    return 0;
}

/* A unit that is not done: its id and why (bad->v / why->v in step). */
static int push_bad(arc_names *bad, size_t *cap_b, arc_names *why, size_t *cap_w, const char *id,
                    const char *msg)
{
    if (in_names(bad, id)) return 0;
    if (names_push(bad, cap_b, id) != 0 || names_push(why, cap_w, msg) != 0) return -1;
    return 0;
}

int arc_units_scan(const char *path, arc_names *out, arc_names *bad, arc_names *why, mp_err *err)
{
    char arch[ARC_PATH_MAX], parts[ARC_PATH_MAX + 8], full[ARC_PATH_MAX + 320];
    char id[ARC_MAX_UNIT_ID + 1], want[ARC_MAX_UNIT_ID + 1];
    arc_names snap = {0}, setaside = {0}, stale = {0}, own_bad = {0}, own_why = {0};
    size_t cap = 0, cap_b = 0, cap_w = 0, cap_s = 0, cap_t = 0;
    struct stat st;
    DIR *d;
    int oom = 0;
    const int quiet = bad != NULL;
    memset(out, 0, sizeof *out);
    if (!bad || !why) {
        bad = &own_bad;
        why = &own_why;
    }
    memset(bad, 0, sizeof *bad);
    memset(why, 0, sizeof *why);
    arc_h5_quiet();
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        if (find_archive(path, arch, sizeof arch, err) != 0) return -1;
        if (!arch[0]) return 0;
    } else {
        snprintf(arch, sizeof arch, "%s", path);
    }
    snprintf(parts, sizeof parts, "%s.parts", arch);
    if ((d = opendir(parts))) {
        struct dirent *e;
        while ((e = readdir(d)) && !oom) {
            char esc[320];
            const char *bad_at = strstr(e->d_name, ".h5.bad");
            const char *stale_at = strstr(e->d_name, ".h5.stale");
            if (stale_at && !ends_with(e->d_name, ".sha256")) { /* another setup's part */
                snprintf(esc, sizeof esc, "%.*s", (int)(stale_at - e->d_name), e->d_name);
                if (arc_unescape_id(esc, want, sizeof want) == 0 && !in_names(&stale, want))
                    oom = names_push(&stale, &cap_t, want) != 0;
                continue;
            }
            if (bad_at && !ends_with(e->d_name, ".sha256")) { /* a part set aside earlier */
                snprintf(esc, sizeof esc, "%.*s", (int)(bad_at - e->d_name), e->d_name);
                if (arc_unescape_id(esc, want, sizeof want) == 0 && !in_names(&setaside, want))
                    oom = names_push(&setaside, &cap_s, want) != 0;
                continue;
            }
            if (!ends_with(e->d_name, ".h5")) continue;
            mp_err pe;
            double t;
            err_init(&pe);
            snprintf(full, sizeof full, "%s/%s", parts, e->d_name);
            snprintf(esc, sizeof esc, "%.*s", (int)(strlen(e->d_name) - 3), e->d_name);
            int ok = arc_unescape_id(esc, want, sizeof want) == 0;
            if (ok && arc_part_verify(full, id, sizeof id, &t, &pe) != 0) {
                if (!quiet) arc_warn(NULL, "%s; the unit counts as not done", pe.msg);
                oom = push_bad(bad, &cap_b, why, &cap_w, want, pe.msg) != 0;
                continue;
            }
            if (!ok || strcmp(want, id) != 0) {
                arc_warn(NULL,
                         "%s: unit id '%s' does not match the file name; the unit counts "
                         "as not done",
                         full, id);
                continue;
            }
            oom = names_push(out, &cap, id) != 0;
        }
        closedir(d);
    }
    mp_err se;
    err_init(&se);
    /* units the snapshot lists count when the snapshot is intact and their part is not known
     * to be damaged (a finished run may have removed the parts folder) */
    if (!oom && stat(arch, &st) == 0 && arc_sum_verify(arch, 0, &se) < 0) {
        if (!quiet) arc_warn(NULL, "%s; its unit list is not trusted", se.msg);
    } else if (!oom && stat(arch, &st) == 0 && arc_snapshot_units(arch, &snap, NULL) == 0) {
        for (size_t i = 0; i < snap.n && !oom; i++)
            if (!in_names(out, snap.v[i]) && !in_names(bad, snap.v[i]) &&
                !in_names(&setaside, snap.v[i]) && !in_names(&stale, snap.v[i]))
                oom = names_push(out, &cap, snap.v[i]) != 0;
    }
    for (size_t i = 0; i < setaside.n && !oom; i++)
        if (!in_names(out, setaside.v[i])) {
            char msg[ARC_PATH_MAX + 200];
            snprintf(msg, sizeof msg,
                     "its part was damaged and is set aside in %s (*.bad); "
                     "rerun to recompute the unit",
                     parts);
            oom = push_bad(bad, &cap_b, why, &cap_w, setaside.v[i], msg) != 0;
        }
    for (size_t i = 0; i < stale.n && !oom; i++)
        if (!in_names(out, stale.v[i])) {
            char msg[ARC_PATH_MAX + 200];
            snprintf(msg, sizeof msg,
                     "its part was computed under another setup and is set "
                     "aside in %s (*.stale); rerun to recompute the unit",
                     parts);
            oom = push_bad(bad, &cap_b, why, &cap_w, stale.v[i], msg) != 0;
        }
    arc_names_free(&snap);
    arc_names_free(&setaside);
    arc_names_free(&stale);
    arc_names_free(&own_bad);
    arc_names_free(&own_why);
    if (oom) {
        arc_names_free(out);
        arc_names_free(bad);
        arc_names_free(why);
        return err_set(err, "%s: out of memory", parts);
    }
    if (out->n > 1) qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return 0;
}

int arc_units_complete(const char *path, arc_names *out, mp_err *err)
{
    return arc_units_scan(path, out, NULL, NULL, err);
}
