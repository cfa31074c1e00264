/* data.c — what a unit writes: datasets (whole, chunked + shuffle + deflate above
 * ARC_COMPACT_BYTES, dimension labels), extendible streams for appending rows, and attributes.
 * See archive.h for the contract; commit and snapshot are elsewhere. */
#include "pipeline/archive/internal.h"
#include "pipeline/archive/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5_hl.h>

/* ---- datasets --------------------------------------------------------------------------- */

/* Checks a dataset path and splits it into parent group and leaf name. */
static int split_path(const arc_unit *u, const char *path, char *parent, char *leaf, mp_err *err)
{
    char buf[512];
    const char *p = path ? path : "";
    while (*p == '/') p++;
    if (!*p || strlen(p) >= sizeof buf)
        return err_set(err, "archive unit '%s': invalid object path '%s'", u->id, path ? path : "");
    strcpy(buf, p);
    for (char *c = buf, *next; c; c = next) {
        next = strchr(c, '/');
        size_t n = next ? (size_t)(next - c) : strlen(c);
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return err_set(err,
                           "archive unit '%s': invalid object path '%s' (empty, '.' or "
                           "'..' component)",
                           u->id, path);
        if (next) next++;
    }
    if (!strncmp(buf, ARC_UNITS_GROUP, strlen(ARC_UNITS_GROUP)) &&
        (buf[strlen(ARC_UNITS_GROUP)] == '/' || !buf[strlen(ARC_UNITS_GROUP)]))
        return err_set(err, "archive unit '%s': '%s': the top-level name '%s' is reserved", u->id,
                       path, ARC_UNITS_GROUP);
    char *slash = strrchr(buf, '/');
    if (slash) {
        *slash = '\0';
        strcpy(parent, buf);
        strcpy(leaf, slash + 1);
    } else {
        strcpy(parent, "");
        strcpy(leaf, buf);
    }
    return 0;
}

/* Chunk shape of about opts.chunk_bytes: whole trailing dimensions, leading ones halved. */
static void chunk_dims(const arc_options *o, int ndim, const int64_t *dims, int stream, size_t elem,
                       hsize_t *chunk)
{
    size_t row = elem;
    for (int i = 1; i < ndim; i++) row *= (size_t)(dims[i] > 0 ? dims[i] : 1);
    for (int i = 0; i < ndim; i++) chunk[i] = (hsize_t)(dims[i] > 0 ? dims[i] : 1);
    if (stream) {
        size_t rows = o->chunk_bytes / row;
        chunk[0] = rows > 0 ? (rows > (1u << 20) ? (1u << 20) : rows) : 1;
    }
    for (;;) {
        size_t bytes = elem;
        for (int i = 0; i < ndim; i++) bytes *= (size_t)chunk[i];
        if (bytes <= o->chunk_bytes) break;
        int i = 0;
        while (i < ndim && chunk[i] == 1) i++;
        if (i == ndim) break;
        chunk[i] = (chunk[i] + 1) / 2;
    }
}

static void set_labels(hid_t d, int ndim, const char *const *dim_names)
{
    if (!dim_names) return;
    for (int i = 0; i < ndim; i++)
        if (dim_names[i] && dim_names[i][0]) {
            char lab[ARC_DIM_NAME_LEN];
            snprintf(lab, sizeof lab, "%s", dim_names[i]);
            H5DSset_label(d, (unsigned)i, lab);
        }
}

/* Creates the dataset; returns its id or a negative id with err set. */
static hid_t create_dataset(arc_unit *u, const char *path, arc_type type, int ndim,
                            const int64_t *shape, int stream, mp_err *err)
{
    char parent[512], leaf[512];
    hsize_t dims[ARC_MAX_DIMS], maxd[ARC_MAX_DIMS], chunk[ARC_MAX_DIMS];
    hid_t g = H5I_INVALID_HID, sp = H5I_INVALID_HID, dcpl = H5I_INVALID_HID;
    hid_t ft = H5I_INVALID_HID, d = H5I_INVALID_HID;
    size_t bytes = arc_type_size(type);
    if (!u || u->file < 0) return err_set(err, "archive: unit is not open");
    if ((unsigned)type >= ARC_TYPE_COUNT)
        return err_set(err, "archive unit '%s': %s: invalid type %d", u->id, path, (int)type);
    if (ndim < (stream ? 1 : 0) || ndim > ARC_MAX_DIMS)
        return err_set(err, "archive unit '%s': %s: ndim %d out of range (expected %d..%d)", u->id,
                       path, ndim, stream ? 1 : 0, ARC_MAX_DIMS);
    if (split_path(u, path, parent, leaf, err) != 0) return -1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return err_set(err, "archive unit '%s': %s: negative dimension %d (%lld)", u->id, path,
                           i, (long long)shape[i]);
        dims[i] = (hsize_t)shape[i];
        maxd[i] = dims[i];
        bytes *= dims[i];
    }
    if (stream) maxd[0] = H5S_UNLIMITED;
    g = arc_h5_group(u->file, parent, 1);
    if (g < 0) {
        arc_h5_err(err, "archive unit '%s': cannot create group '%s' (is it a dataset?)", u->id,
                   parent);
        goto fail;
    }
    if (H5Lexists(g, leaf, H5P_DEFAULT) > 0) {
        err_set(err, "archive unit '%s': '%s' already exists", u->id, path);
        goto fail;
    }
    sp = ndim ? H5Screate_simple(ndim, dims, maxd) : H5Screate(H5S_SCALAR);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (stream || (ndim > 0 && bytes > ARC_COMPACT_BYTES)) {
        chunk_dims(&u->w->opts, ndim, shape, stream, type == ARC_STR ? 16 : arc_type_size(type),
                   chunk);
        H5Pset_chunk(dcpl, ndim, chunk);
        if (type != ARC_STR && u->w->opts.deflate_level > 0) {
            H5Pset_shuffle(dcpl);
            H5Pset_deflate(dcpl, (unsigned)u->w->opts.deflate_level);
        }
        /* last in the pipeline: a checksum of each stored (compressed) chunk, checked by every
         * HDF5 reader, so that a damaged chunk of a lone archive is an error, not numbers */
        if (type != ARC_STR) H5Pset_fletcher32(dcpl);
    }
    ft = arc_h5_file_type(type);
    /* A cache of a few chunks per dataset, evicting fully written chunks first: appends then
     * compress each chunk once instead of re-reading and re-compressing partial chunks. */
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    H5Pset_chunk_cache(dapl, 521, 4 * u->w->opts.chunk_bytes, 1.0);
    d = H5Dcreate2(g, leaf, ft, sp, H5P_DEFAULT, dcpl, dapl);
    H5Pclose(dapl);
    if (d < 0)
        arc_h5_err(err, "archive unit '%s': cannot create dataset '%s' in %s", u->id, path,
                   u->tmp_path);
fail:
    arc_h5_type_close(type, ft);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
    if (g >= 0) H5Gclose(g);
    return d;
}

static int check_strings(const arc_unit *u, const char *path, size_t count, const void *data,
                         mp_err *err)
{
    const char *const *s = data;
    for (size_t i = 0; i < count; i++)
        if (!s[i])
            return err_set(err, "archive unit '%s': %s: string element %zu is NULL", u->id, path,
                           i);
    return 0;
}

int arc_write(arc_unit *u, const char *path, arc_type type, int ndim, const int64_t *shape,
              const char *const *dim_names, const void *data, mp_err *err)
{
    size_t count = 1;
    hid_t d, mt = H5I_INVALID_HID;
    int rc = -1;
    for (int i = 0; i < ndim && i < ARC_MAX_DIMS && shape; i++)
        count *= (size_t)(shape[i] > 0 ? shape[i] : 0);
    if (ndim > 0 && !shape)
        return err_set(err, "archive: %s: shape is NULL for ndim %d", path, ndim);
    if (count > 0 && !data) return err_set(err, "archive: %s: data is NULL", path);
    if (type == ARC_STR && check_strings(u, path, count, data, err) != 0) return -1;
    d = create_dataset(u, path, type, ndim, shape, 0, err);
    if (d < 0) return -1;
    mt = arc_h5_mem_type(type);
    if (count > 0 && H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        arc_h5_err(err, "archive unit '%s': cannot write dataset '%s' to %s", u->id, path,
                   u->tmp_path);
        goto done;
    }
    set_labels(d, ndim, dim_names);
    rc = 0;
done:
    arc_h5_type_close(type, mt);
    if (H5Dclose(d) < 0 && rc == 0)
        rc = arc_h5_err(err, "archive unit '%s': cannot close dataset '%s' in %s", u->id, path,
                        u->tmp_path);
    return rc;
}

int arc_stream_open(arc_unit *u, const char *path, arc_type type, int ndim,
                    const int64_t *row_shape, const char *const *dim_names, arc_stream **out,
                    mp_err *err)
{
    int64_t shape[ARC_MAX_DIMS] = {0};
    arc_stream *s;
    *out = NULL;
    if (ndim < 1 || ndim > ARC_MAX_DIMS)
        return err_set(err, "archive: stream %s: ndim %d out of range (expected 1..%d)",
                       path ? path : "", ndim, ARC_MAX_DIMS);
    if (ndim > 1 && !row_shape)
        return err_set(err, "archive: stream %s: row_shape is NULL for ndim %d", path, ndim);
    for (int i = 1; i < ndim; i++) shape[i] = row_shape[i - 1];
    s = calloc(1, sizeof *s);
    if (!s) return err_set(err, "archive: out of memory");
    s->dset = create_dataset(u, path, type, ndim, shape, 1, err);
    if (s->dset < 0) {
        free(s);
        return -1;
    }
    set_labels(s->dset, ndim, dim_names);
    s->unit = u;
    s->type = type;
    s->ndim = ndim;
    memcpy(s->dims, shape, sizeof shape);
    snprintf(s->path, sizeof s->path, "%s", path);
    s->next = u->streams;
    u->streams = s;
    *out = s;
    return 0;
}

int64_t arc_stream_rows(const arc_stream *s)
{
    return s ? s->dims[0] : 0;
}

int arc_stream_append(arc_stream *s, int64_t nrows, const void *data, mp_err *err)
{
    hsize_t start[ARC_MAX_DIMS] = {0}, count[ARC_MAX_DIMS], ext[ARC_MAX_DIMS];
    hid_t fs = H5I_INVALID_HID, ms = H5I_INVALID_HID, mt = H5I_INVALID_HID;
    size_t n = (size_t)(nrows > 0 ? nrows : 0);
    int rc = -1;
    if (!s) return err_set(err, "archive: stream is NULL");
    if (nrows < 0)
        return err_set(err, "archive unit '%s': %s: negative row count %lld", s->unit->id, s->path,
                       (long long)nrows);
    if (nrows == 0) return 0;
    for (int i = 0; i < s->ndim; i++) {
        ext[i] = (hsize_t)s->dims[i];
        count[i] = (hsize_t)s->dims[i];
        if (i > 0) n *= (size_t)s->dims[i];
    }
    if (n > 0 && !data)
        return err_set(err, "archive unit '%s': %s: data is NULL", s->unit->id, s->path);
    if (s->type == ARC_STR && check_strings(s->unit, s->path, n, data, err) != 0) return -1;
    start[0] = ext[0];
    count[0] = (hsize_t)nrows;
    ext[0] += (hsize_t)nrows;
    if (H5Dset_extent(s->dset, ext) < 0) {
        arc_h5_err(err, "archive unit '%s': cannot extend dataset '%s' in %s", s->unit->id, s->path,
                   s->unit->tmp_path);
        goto done;
    }
    fs = H5Dget_space(s->dset);
    ms = H5Screate_simple(s->ndim, count, NULL);
    mt = arc_h5_mem_type(s->type);
    if (fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        (n > 0 && H5Dwrite(s->dset, mt, ms, fs, H5P_DEFAULT, data) < 0)) {
        arc_h5_err(err, "archive unit '%s': cannot append %lld rows to '%s' in %s", s->unit->id,
                   (long long)nrows, s->path, s->unit->tmp_path);
        goto done;
    }
    s->dims[0] = (int64_t)ext[0];
    rc = 0;
done:
    arc_h5_type_close(s->type, mt);
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return rc;
}

/* Unlinks s from its unit and closes it. */
int arc_stream_close(arc_stream *s, mp_err *err)
{
    int rc = 0;
    if (!s) return 0;
    for (arc_stream **p = &s->unit->streams; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            break;
        }
    if (H5Dclose(s->dset) < 0)
        rc = arc_h5_err(err, "archive unit '%s': cannot close dataset '%s' in %s", s->unit->id,
                        s->path, s->unit->tmp_path);
    free(s);
    return rc;
}

/* ---- attributes ------------------------------------------------------------------------- */

static int reserved_root_name(const char *name)
{
    /* the provenance: the schema's root attributes (pipeline/archive/schema_root.c) */
    for (size_t i = 0; i < SCH_ROOT_TABLE.n; i++) {
        const sch_entry *e = &SCH_ROOT_TABLE.e[i];
        if (e->kind == SCH_ATTR && !strcmp(e->path, "/") && !strcmp(name, e->name)) return 1;
    }
    return 0;
}

/* Opens the object at obj_path ("" or "/" = root), creating a group if it is missing. */
static hid_t attr_target(arc_unit *u, const char *obj_path, const char *name, mp_err *err)
{
    char parent[512], leaf[512];
    hid_t g, o;
    const char *p = obj_path ? obj_path : "";
    if (!u || u->file < 0) return err_set(err, "archive: unit is not open");
    if (!name || !name[0] || !strncmp(name, "moeprobe_", 9))
        return err_set(err,
                       "archive unit '%s': invalid attribute name '%s' (empty or "
                       "reserved prefix 'moeprobe_')",
                       u->id, name ? name : "");
    while (*p == '/') p++;
    if (!*p) {
        if (reserved_root_name(name))
            return err_set(err,
                           "archive unit '%s': root attribute '%s' is reserved for the "
                           "provenance",
                           u->id, name);
        return H5Gopen2(u->file, "/", H5P_DEFAULT);
    }
    if (split_path(u, p, parent, leaf, err) != 0) return -1;
    g = arc_h5_group(u->file, parent, 1);
    if (g < 0) return arc_h5_err(err, "archive unit '%s': cannot create group '%s'", u->id, parent);
    if (H5Lexists(g, leaf, H5P_DEFAULT) > 0)
        o = H5Oopen(g, leaf, H5P_DEFAULT);
    else
        o = H5Gcreate2(g, leaf, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
    if (o < 0) arc_h5_err(err, "archive unit '%s': cannot open or create '%s'", u->id, p);
    return o;
}

static int attr_set(arc_unit *u, const char *obj_path, const char *name, hid_t ftype, hid_t mtype,
                    int ndim, size_t n, const void *v, mp_err *err)
{
    hsize_t dims[1] = {(hsize_t)n};
    hid_t o = attr_target(u, obj_path, name, err), sp = H5I_INVALID_HID, a = H5I_INVALID_HID;
    int rc = -1;
    if (o < 0) return -1;
    if (n > 0 && !v) {
        err_set(err, "archive unit '%s': attribute '%s': values are NULL", u->id, name);
        goto done;
    }
    sp = ndim ? H5Screate_simple(1, dims, NULL) : H5Screate(H5S_SCALAR);
    if (sp < 0 || (H5Aexists(o, name) > 0 && H5Adelete(o, name) < 0)) goto h5fail;
    a = H5Acreate2(o, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || (n > 0 && H5Awrite(a, mtype, v) < 0)) goto h5fail;
    rc = 0;
    goto done;
h5fail:
    arc_h5_err(err, "archive unit '%s': cannot write attribute '%s' on '%s' in %s", u->id, name,
               obj_path && obj_path[0] ? obj_path : "/", u->tmp_path);
done:
    if (a >= 0 && H5Aclose(a) < 0 && rc == 0)
        rc = arc_h5_err(err, "archive unit '%s': cannot close attribute '%s'", u->id, name);
    if (sp >= 0) H5Sclose(sp);
    H5Oclose(o);
    return rc;
}

int arc_attr_f64(arc_unit *u, const char *obj_path, const char *name, double v, mp_err *err)
{
    return attr_set(u, obj_path, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, 1, &v, err);
}

int arc_attr_i64(arc_unit *u, const char *obj_path, const char *name, int64_t v, mp_err *err)
{
    return attr_set(u, obj_path, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 0, 1, &v, err);
}

int arc_attr_str(arc_unit *u, const char *obj_path, const char *name, const char *v, mp_err *err)
{
    hid_t t = arc_h5_mem_type(ARC_STR);
    int rc;
    if (!v) {
        H5Tclose(t);
        return err_set(err, "archive: attribute '%s': string is NULL", name ? name : "");
    }
    rc = attr_set(u, obj_path, name, t, t, 0, 1, &v, err);
    H5Tclose(t);
    return rc;
}

int arc_attr_f64_array(arc_unit *u, const char *obj_path, const char *name, size_t n,
                       const double *v, mp_err *err)
{
    return attr_set(u, obj_path, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, n, v, err);
}

int arc_attr_i64_array(arc_unit *u, const char *obj_path, const char *name, size_t n,
                       const int64_t *v, mp_err *err)
{
    return attr_set(u, obj_path, name, H5T_STD_I64LE, H5T_NATIVE_INT64, 1, n, v, err);
}
