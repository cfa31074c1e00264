/* fuzz_report.c — structure-aware fuzzing of what `report`, `verify` and `status` make of an
 * archive whose content, not its bytes, is wrong (#13 point 9). Byte-level mutation of HDF5
 * files (fuzz_archive) mostly breaks libhdf5's own parsing; this harness keeps the file valid
 * HDF5 and lets the input edit it through the HDF5 API: the first byte picks one of the real
 * archives of tests/fuzz/corpus/fuzz_archive as the base, then each 8-byte op deletes an object,
 * replaces a dataset by one of another type and shape (0..3 dimensions of 0..9, the values from
 * the input, NaN and infinities included), replaces or deletes an attribute, or gives an
 * attribute a string or an extreme number. The edited archive gets a matching sidecar and goes
 * through arc_verify_file, arc_units_scan and report_render_to (markdown + SVG). Every shape,
 * type and value the report reads through its schema is thereby wrong in every way; any crash or
 * sanitizer report here is moeprobe's, since HDF5 only ever sees files it wrote itself. */
#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <sys/stat.h>

#include "pipeline/archive/archive.h"
#include "report/report.h"
#include "tests/fuzz/fuzz_util.h"

#define MAX_BASE 16
#define MAX_OBJ 4096
static uint8_t *g_base[MAX_BASE];
static size_t g_base_len[MAX_BASE], g_n_base;
static char g_dir[4096], g_arch[4200], g_out[4200];
static char *g_obj[MAX_OBJ];
static int g_obj_is_ds[MAX_OBJ];
static size_t g_n_obj;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char dir[4300];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/fuzz_archive", fuzz_root());
    DIR *d = opendir(dir);
    struct dirent *de;
    char *names[MAX_BASE];
    size_t n = 0;
    while (d && (de = readdir(d)) && n < MAX_BASE)
        if (!strncmp(de->d_name, "seed-", 5)) names[n++] = strdup(de->d_name);
    if (d) closedir(d);
    if (n == 0) {
        fprintf(stderr, "fuzz_report: no seed archives in %s\n", dir);
        abort();
    }
    qsort(names, n, sizeof *names, cmp_str); /* the same base for the same byte everywhere */
    for (size_t i = 0; i < n; i++) {
        char p[4600];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        FILE *f = fopen(p, "rb");
        if (!f) abort();
        fseek(f, 0, SEEK_END);
        long len = ftell(f);
        fseek(f, 0, SEEK_SET);
        g_base[i] = malloc((size_t)len);
        if (!g_base[i] || fread(g_base[i], 1, (size_t)len, f) != (size_t)len) abort();
        g_base_len[i] = (size_t)len;
        fclose(f);
        free(names[i]);
    }
    g_n_base = n;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    fuzz_scratch_dir("report", g_dir, sizeof g_dir);
    snprintf(g_arch, sizeof g_arch, "%s/tiny.h5", g_dir);
    snprintf(g_out, sizeof g_out, "%s/report", g_dir);
    return 0;
}

/* HDF5 1.10 and 1.12+ name the object-info calls differently (as in pipeline/archive) */
#if H5_VERSION_GE(1, 12, 0)
typedef H5O_info2_t obj_info;
#define OBJ_VISIT(f, cb) H5Ovisit3((f), H5_INDEX_NAME, H5_ITER_INC, (cb), NULL, H5O_INFO_BASIC)
#define OBJ_INFO(o, i) H5Oget_info3((o), (i), H5O_INFO_NUM_ATTRS)
#else
typedef H5O_info_t obj_info;
#define OBJ_VISIT(f, cb) H5Ovisit2((f), H5_INDEX_NAME, H5_ITER_INC, (cb), NULL, H5O_INFO_BASIC)
#define OBJ_INFO(o, i) H5Oget_info2((o), (i), H5O_INFO_NUM_ATTRS)
#endif

static herr_t collect(hid_t o, const char *name, const obj_info *info, void *data)
{
    (void)o;
    (void)data;
    if (g_n_obj < MAX_OBJ && strcmp(name, ".")) {
        g_obj_is_ds[g_n_obj] = info->type == H5O_TYPE_DATASET;
        g_obj[g_n_obj++] = strdup(name);
    }
    return 0;
}

static void free_objs(void)
{
    for (size_t i = 0; i < g_n_obj; i++) free(g_obj[i]);
    g_n_obj = 0;
}

/* A value from 8 input bytes: mostly ordinary numbers, sometimes the awkward ones. */
static double value_of(const uint8_t *p)
{
    static const double odd[] = {NAN,   INFINITY, -INFINITY,    0.0,    -0.0,  -1.0,
                                 1e308, -1e308,   2147483648.0, 1e-320, 255.0, 65536.0};
    if (p[0] < 40) return odd[p[1] % (sizeof odd / sizeof *odd)];
    int64_t v;
    memcpy(&v, p, sizeof v);
    return (double)(v % 2000) / (p[2] & 1 ? 7.0 : 1.0);
}

static hid_t type_of(int k)
{
    switch (k % 5) {
    case 0: return H5T_NATIVE_FLOAT;
    case 1: return H5T_NATIVE_DOUBLE;
    case 2: return H5T_NATIVE_INT32;
    case 3: return H5T_NATIVE_INT64;
    default: return -1; /* a variable-length string */
    }
}

/* Writes name (a dataset, or an attribute of loc when attr) with type k, ndim 0..3, dims from
 * the input, values from the input. */
static void write_thing(hid_t loc, const char *name, int attr, int k, int ndim, const uint8_t *dimb,
                        const uint8_t *data, size_t len)
{
    hsize_t dims[3];
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        dims[i] = dimb[i] % 10;
        count *= dims[i];
    }
    hid_t sp = ndim ? H5Screate_simple(ndim, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t t = type_of(k), st = -1;
    void *buf = NULL;
    char **strs = NULL;
    if (t < 0) {
        st = H5Tcopy(H5T_C_S1);
        H5Tset_size(st, H5T_VARIABLE);
        H5Tset_cset(st, H5T_CSET_UTF8);
        strs = calloc(count ? count : 1, sizeof *strs);
        for (size_t i = 0; i < count; i++) {
            size_t l = len ? (i * 3) % (len + 1) : 0;
            strs[i] = malloc(l + 1);
            memcpy(strs[i], data, l);
            strs[i][l] = '\0';
        }
        buf = strs;
        t = st;
    } else {
        buf = calloc(count ? count : 1, 8);
        for (size_t i = 0; i < count; i++) {
            uint8_t b[8] = {0};
            for (int j = 0; j < 8 && len; j++) b[j] = data[(i * 8 + (size_t)j) % len];
            double v = value_of(b);
            if (t == H5T_NATIVE_FLOAT)
                ((float *)buf)[i] = (float)v;
            else if (t == H5T_NATIVE_DOUBLE)
                ((double *)buf)[i] = v;
            else if (t == H5T_NATIVE_INT32)
                ((int32_t *)buf)[i] = isfinite(v) ? (int32_t)fmod(v, 3e9 / 2) : -1;
            else
                ((int64_t *)buf)[i] = isfinite(v) ? (int64_t)fmod(v, 9e18) : -1;
        }
    }
    if (attr) {
        if (H5Aexists(loc, name) > 0) H5Adelete(loc, name);
        hid_t a = H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
        if (a >= 0) {
            H5Awrite(a, t, buf);
            H5Aclose(a);
        }
    } else {
        H5Ldelete(loc, name, H5P_DEFAULT);
        hid_t ds = H5Dcreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (ds >= 0) {
            H5Dwrite(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
            H5Dclose(ds);
        }
    }
    if (strs)
        for (size_t i = 0; i < count; i++) free(strs[i]);
    free(buf);
    if (st >= 0) H5Tclose(st);
    H5Sclose(sp);
}

/* The name of attribute number i of obj (there may be none): into buf, or "" */
static void attr_name(hid_t obj, unsigned i, char *buf, size_t len)
{
    obj_info info;
    buf[0] = '\0';
    if (OBJ_INFO(obj, &info) < 0 || info.num_attrs == 0) return;
    H5Aget_name_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, i % info.num_attrs, buf, len,
                       H5P_DEFAULT);
}

static void edit(const uint8_t *data, size_t size)
{
    hid_t f = H5Fopen(g_arch, H5F_ACC_RDWR, H5P_DEFAULT);
    FUZZ_REQUIRE(f >= 0, "the base archive does not open");
    free_objs();
    OBJ_VISIT(f, collect);
    size_t n_ops = 0;
    for (size_t off = 0; off + 8 <= size && n_ops < 12; off += 8, n_ops++) {
        uint8_t op[16] = {0}; /* the op's 8 bytes, zero-padded: write_thing may read op[8] */
        memcpy(op, data + off, 8);
        const uint8_t *rest = data + off + 8;
        size_t rest_len = size - off - 8 < 16 ? size - off - 8 : 16;
        int root = op[1] == 255;
        size_t idx = ((size_t)op[1] << 8 | op[2]) % (g_n_obj ? g_n_obj : 1);
        if (!g_n_obj && !root) break;
        const char *path = root ? "/" : g_obj[idx];
        hid_t o = H5Oopen(f, path, H5P_DEFAULT);
        if (o < 0) continue; /* deleted by an earlier op */
        char an[256];
        switch (op[0] % 6) {
        case 0: /* delete the object */
            H5Oclose(o);
            o = -1;
            if (!root) H5Ldelete(f, path, H5P_DEFAULT);
            break;
        case 1: /* a dataset of another type and shape */
            if (!root && g_obj_is_ds[idx]) {
                H5Oclose(o);
                o = -1;
                write_thing(f, path, 0, op[3], op[4] % 4, op + 5, rest, rest_len);
            }
            break;
        case 2: /* an existing attribute of another type and shape */
            attr_name(o, op[3], an, sizeof an);
            if (an[0]) write_thing(o, an, 1, op[4], op[5] % 4, op + 6, rest, rest_len);
            break;
        case 3: /* an attribute deleted */
            attr_name(o, op[3], an, sizeof an);
            if (an[0]) H5Adelete(o, an);
            break;
        case 4: /* an attribute that is a string of the input's bytes */
            attr_name(o, op[3], an, sizeof an);
            if (an[0]) write_thing(o, an, 1, 4, 0, op + 6, rest, rest_len);
            break;
        default: /* an attribute that is one awkward number */
            attr_name(o, op[3], an, sizeof an);
            if (an[0]) write_thing(o, an, 1, op[4] % 4, 0, op + 6, op + 2, 6);
            break;
        }
        if (o >= 0) H5Oclose(o);
    }
    free_objs();
    FUZZ_REQUIRE(H5Fclose(f) >= 0, "the edited archive does not close");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    mp_err e;
    fuzz_clear_dir(g_dir);
    size_t b = data[0] % g_n_base;
    fuzz_write_file(g_arch, g_base[b], g_base_len[b]);
    edit(data + 1, size - 1);
    /* the sidecar of the edited file, so that the content (not a checksum) is what is judged */
    {
        FILE *fh = fopen(g_arch, "rb");
        FUZZ_REQUIRE(fh != NULL, "the edited archive is gone");
        fseek(fh, 0, SEEK_END);
        long len = ftell(fh);
        fseek(fh, 0, SEEK_SET);
        uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
        FUZZ_REQUIRE(buf && fread(buf, 1, (size_t)len, fh) == (size_t)len, "cannot read back");
        fclose(fh);
        fuzz_write_sidecar(g_arch, buf, (size_t)len);
        free(buf);
    }
    err_init(&e);
    fuzz_check_err(arc_verify_file(g_arch, 1, &e), &e);
    arc_names done = {0}, bad = {0}, why = {0};
    err_init(&e);
    fuzz_check_err(arc_units_scan(g_arch, &done, &bad, &why, &e), &e);
    arc_names_free(&done);
    arc_names_free(&bad);
    arc_names_free(&why);
    report_opts ro = report_opts_default();
    ro.format = REPORT_MARKDOWN;
    const char *arch = g_arch;
    char *written = NULL;
    err_init(&e);
    int rrc = report_render_to(&arch, 1, g_out, &ro, &written, &e);
    fuzz_check_err(rrc, &e);
    free(written);
    return 0;
}
