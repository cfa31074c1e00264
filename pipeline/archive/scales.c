/* scales.c — the snapshot's netCDF-4 view: in every group, one HDF5 dimension scale per
 * dimension label its datasets carry, attached to those datasets, so that netCDF-4 and xarray
 * (h5netcdf) see named dimensions with coordinates instead of phony_dim_*. A dataset that a
 * writer stored under the label's own name (1-D, along that label: e.g. captures' captured_layer)
 * becomes the scale; otherwise a new int64 dataset of that name holds 0..n-1. Scales carry units,
 * long_name and description from the schema's dimension table (SCH_DIMS).
 * Done on the snapshot only, after the parts are merged: parts stay plain (H5Ocopy would not
 * carry the object references between files) and two units may share a group. A label used with
 * two lengths in one group, or a dataset of the label's name that cannot be its coordinate,
 * is left without a scale and reported as a warning; tests/cli/archive_xarray.sh fails on it. */
#include "pipeline/archive/internal.h"

#include <hdf5_hl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/schema.h"

#define SC_MAX_DS 256 /* datasets per group considered */
#define SC_MAX_LAB 64 /* distinct labels per group */

typedef struct sc_ds {
    char name[256];
    hid_t id;
    int ndim;
    hsize_t dims[ARC_MAX_DIMS];
    char lab[ARC_MAX_DIMS][ARC_DIM_NAME_LEN];
} sc_ds;

typedef struct sc_group {
    sc_ds ds[SC_MAX_DS];
    int n;
    const arc_options *o;
    const char *file;
    const char *path;
} sc_group;

static herr_t collect(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    sc_group *sg = data;
    (void)info;
    if (arc_h5_obj_type(g, name) != H5I_DATASET || sg->n >= SC_MAX_DS) return 0;
    sc_ds *d = &sg->ds[sg->n];
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", name);
    d->id = H5Dopen2(g, name, H5P_DEFAULT);
    if (d->id < 0) return 0;
    hid_t sp = H5Dget_space(d->id);
    int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (nd < 0 || nd > ARC_MAX_DIMS) nd = 0;
    if (nd > 0) H5Sget_simple_extent_dims(sp, d->dims, NULL);
    if (sp >= 0) H5Sclose(sp);
    d->ndim = nd;
    for (int i = 0; i < nd; i++) arc_h5_label(d->id, nd, i, d->lab[i], sizeof d->lab[i]);
    sg->n++;
    return 0;
}

static int put_str(hid_t obj, const char *name, const char *v)
{
    return v ? arc_h5_attr_str(obj, name, v) : 0;
}

/* The scale for label `lab` of length n: the group's own dataset of that name, or a new one. */
static hid_t scale_for(sc_group *sg, hid_t g, const char *lab, hsize_t n, mp_err *err)
{
    for (int i = 0; i < sg->n; i++) {
        sc_ds *d = &sg->ds[i];
        if (strcmp(d->name, lab) != 0) continue;
        if (d->ndim == 1 && d->dims[0] == n && (!d->lab[0][0] || !strcmp(d->lab[0], lab)))
            return d->id;
        arc_warn(sg->o,
                 "snapshot %s: /%s: dataset %s clashes with the dimension of that name; "
                 "no dimension scale",
                 sg->file, sg->path, lab);
        return H5I_INVALID_HID;
    }
    hsize_t dn = n;
    hid_t sp = H5Screate_simple(1, &dn, NULL);
    hid_t d = sp >= 0 ? H5Dcreate2(g, lab, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
                      : H5I_INVALID_HID;
    if (sp >= 0) H5Sclose(sp);
    int64_t *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (d < 0 || !v) {
        free(v);
        if (d >= 0) H5Dclose(d);
        arc_h5_err(err, "snapshot %s: cannot create the dimension scale /%s/%s", sg->file, sg->path,
                   lab);
        return -2;
    }
    for (hsize_t i = 0; i < n; i++) v[i] = (int64_t)i;
    herr_t w = n ? H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) : 0;
    if (w >= 0) w = H5DSset_label(d, 0, lab);
    free(v);
    const sch_dim *sd = sch_dim_find(lab);
    char ln[256];
    sch_long_name(sd ? sd->description : "position along the axis", ln, sizeof ln);
    if (w < 0 || put_str(d, SCH_ATTR_UNITS, sd ? sd->units : "index") != 0 ||
        put_str(d, SCH_ATTR_LONG_NAME, ln) != 0 ||
        put_str(d, SCH_ATTR_DESCRIPTION, sd ? sd->description : "position along the axis") != 0) {
        H5Dclose(d);
        arc_h5_err(err, "snapshot %s: cannot write the dimension scale /%s/%s", sg->file, sg->path,
                   lab);
        return -2;
    }
    if (sg->n < SC_MAX_DS) { /* closed with the others */
        sc_ds *nd = &sg->ds[sg->n++];
        memset(nd, 0, sizeof *nd);
        snprintf(nd->name, sizeof nd->name, "%s", lab);
        nd->id = d;
        nd->ndim = 1;
        nd->dims[0] = n;
        snprintf(nd->lab[0], sizeof nd->lab[0], "%s", lab);
    }
    return d;
}

static int group_scales(sc_group *sg, hid_t g, mp_err *err)
{
    char labs[SC_MAX_LAB][ARC_DIM_NAME_LEN];
    hsize_t len[SC_MAX_LAB];
    int bad[SC_MAX_LAB], nl = 0, n0 = sg->n, rc = 0;
    for (int i = 0; i < n0; i++)
        for (int k = 0; k < sg->ds[i].ndim; k++) {
            const char *l = sg->ds[i].lab[k];
            int j = 0;
            if (!l[0]) continue;
            while (j < nl && strcmp(labs[j], l)) j++;
            if (j == nl) {
                if (nl == SC_MAX_LAB) continue;
                snprintf(labs[nl], sizeof labs[nl], "%s", l);
                len[nl] = sg->ds[i].dims[k];
                bad[nl++] = 0;
            } else if (len[j] != sg->ds[i].dims[k] && !bad[j]) {
                bad[j] = 1;
                arc_warn(sg->o,
                         "snapshot %s: /%s: dimension %s has lengths %llu and %llu (%s); "
                         "no dimension scale",
                         sg->file, sg->path, l, (unsigned long long)len[j],
                         (unsigned long long)sg->ds[i].dims[k], sg->ds[i].name);
            }
        }
    for (int j = 0; j < nl && rc == 0; j++) {
        if (bad[j]) continue;
        hid_t s = scale_for(sg, g, labs[j], len[j], err);
        if (s == -2) return -1;
        if (s < 0) continue;
        if (H5DSset_scale(s, labs[j]) < 0)
            return arc_h5_err(err, "snapshot %s: cannot make /%s/%s a dimension scale", sg->file,
                              sg->path, labs[j]);
        for (int i = 0; i < n0; i++) {
            sc_ds *d = &sg->ds[i];
            if (d->id == s) continue;
            for (int k = 0; k < d->ndim; k++)
                if (!strcmp(d->lab[k], labs[j]) && H5DSattach_scale(d->id, s, (unsigned)k) < 0)
                    return arc_h5_err(err,
                                      "snapshot %s: cannot attach the dimension scale %s to "
                                      "/%s/%s",
                                      sg->file, labs[j], sg->path, d->name);
        }
    }
    return rc;
}

static int walk(hid_t g, const char *path, const arc_options *o, const char *file, int depth,
                mp_err *err);

typedef struct sc_walk {
    const arc_options *o;
    const char *file;
    const char *path;
    int depth;
    mp_err *err;
    int failed;
} sc_walk;

static herr_t subgroup(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    sc_walk *w = data;
    char p[1024];
    (void)info;
    if (!w->path[0] && !strcmp(name, ARC_UNITS_GROUP)) return 0;
    if (arc_h5_obj_type(g, name) != H5I_GROUP) return 0;
    snprintf(p, sizeof p, "%s%s%s", w->path, w->path[0] ? "/" : "", name);
    hid_t sg = H5Gopen2(g, name, H5P_DEFAULT);
    if (sg < 0 || walk(sg, p, w->o, w->file, w->depth + 1, w->err) != 0) {
        if (sg < 0) arc_h5_err(w->err, "snapshot %s: cannot open /%s", w->file, p);
        w->failed = 1;
    }
    if (sg >= 0) H5Gclose(sg);
    return w->failed ? -1 : 0;
}

static int walk(hid_t g, const char *path, const arc_options *o, const char *file, int depth,
                mp_err *err)
{
    sc_group *sg = calloc(1, sizeof *sg);
    hsize_t idx = 0;
    int rc = -1;
    if (!sg) return err_set(err, "snapshot %s: out of memory", file);
    sg->o = o;
    sg->file = file;
    sg->path = path;
    if (H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, collect, sg) < 0) {
        arc_h5_err(err, "snapshot %s: cannot list /%s", file, path);
        goto done;
    }
    if (group_scales(sg, g, err) != 0) goto done;
    for (int i = 0; i < sg->n; i++) H5Dclose(sg->ds[i].id);
    sg->n = 0;
    if (depth < 32) {
        sc_walk w = {o, file, path, depth, err, 0};
        idx = 0;
        if (H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, subgroup, &w) < 0 || w.failed) {
            if (!w.failed) arc_h5_err(err, "snapshot %s: cannot list /%s", file, path);
            goto done;
        }
    }
    rc = 0;
done:
    for (int i = 0; i < sg->n; i++) H5Dclose(sg->ds[i].id);
    free(sg);
    return rc;
}

int arc_scales_build(hid_t file, const arc_options *o, const char *name, mp_err *err)
{
    hid_t root = H5Gopen2(file, "/", H5P_DEFAULT);
    if (root < 0) return arc_h5_err(err, "snapshot %s: cannot open the root group", name);
    int rc = walk(root, "", o, name, 0, err);
    H5Gclose(root);
    return rc;
}
