/* h5read.c — see h5read.h. Test support only; pipeline code goes through archive.h. */
#include "tests/unit/h5read.h"

#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

double *h5r_read(const char *file, const char *path, int *ndim, int64_t dims[4])
{
    double *out = NULL;
    hid_t f = -1, d = -1, sp = -1;
    H5Eset_auto(H5E_DEFAULT, NULL, NULL);
    f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) goto done;
    d = H5Dopen(f, path, H5P_DEFAULT);
    if (d < 0) goto done;
    sp = H5Dget_space(d);
    hsize_t hd[8] = {0};
    int nd = H5Sget_simple_extent_ndims(sp);
    if (nd < 0 || nd > 4) goto done;
    H5Sget_simple_extent_dims(sp, hd, NULL);
    int64_t n = 1;
    for (int i = 0; i < nd; i++) {
        dims[i] = (int64_t)hd[i];
        n *= (int64_t)hd[i];
    }
    *ndim = nd;
    out = malloc((size_t)(n > 0 ? n : 1) * sizeof *out);
    if (out && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
        free(out);
        out = NULL;
    }
done:
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    if (f >= 0) H5Fclose(f);
    return out;
}

char *h5r_attr_str(const char *file, const char *obj, const char *name)
{
    char *out = NULL;
    hid_t f = -1, a = -1, t = -1, mt = -1;
    H5Eset_auto(H5E_DEFAULT, NULL, NULL);
    f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) goto done;
    a = H5Aopen_by_name(f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) goto done;
    t = H5Aget_type(a);
    if (H5Tis_variable_str(t) > 0) {
        char *s = NULL;
        mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5T_CSET_UTF8);
        if (H5Aread(a, mt, &s) >= 0 && s) {
            out = strdup(s);
            H5free_memory(s);
        }
    } else {
        size_t sz = H5Tget_size(t);
        out = calloc(sz + 1, 1);
        mt = H5Tcopy(t);
        if (out && H5Aread(a, mt, out) < 0) {
            free(out);
            out = NULL;
        }
    }
done:
    if (mt >= 0) H5Tclose(mt);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    if (f >= 0) H5Fclose(f);
    return out;
}

double *h5r_attr_num(const char *file, const char *obj, const char *name, int64_t *n)
{
    double *out = NULL;
    hid_t f = -1, a = -1, sp = -1;
    H5Eset_auto(H5E_DEFAULT, NULL, NULL);
    f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) goto done;
    a = H5Aopen_by_name(f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) goto done;
    sp = H5Aget_space(a);
    hssize_t cnt = H5Sget_simple_extent_npoints(sp);
    if (cnt < 0) goto done;
    *n = (int64_t)cnt;
    out = malloc((size_t)(cnt > 0 ? cnt : 1) * sizeof *out);
    if (out && H5Aread(a, H5T_NATIVE_DOUBLE, out) < 0) {
        free(out);
        out = NULL;
    }
done:
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    if (f >= 0) H5Fclose(f);
    return out;
}

typedef struct {
    const char *prefix;
    int n;
} count_ctx;

static herr_t count_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    count_ctx *c = data;
    (void)g;
    (void)info;
    if (!strncmp(name, c->prefix, strlen(c->prefix))) c->n++;
    return 0;
}

int h5r_count(const char *file, const char *group, const char *prefix)
{
    count_ctx c = {prefix, 0};
    hid_t f, g;
    H5Eset_auto(H5E_DEFAULT, NULL, NULL);
    f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return -1;
    g = H5Gopen(f, group, H5P_DEFAULT);
    if (g >= 0) {
        H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, count_cb, &c);
        H5Gclose(g);
    }
    H5Fclose(f);
    return c.n;
}
