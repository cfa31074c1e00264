/* h5.c — HDF5 plumbing shared by the archive module: quiet error handling that folds
 * HDF5's error stack into one mp_err sentence, type mapping, property lists, groups and
 * attributes, unit id escaping, clocks and the test crash hook. */
#include "pipeline/archive/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hdf5_hl.h>

/* HDF5 closes every file still open at exit (atexit). A file whose close failed (ENOSPC, EIO)
 * stays registered in a broken state, and that second close at exit crashes inside HDF5 1.10
 * (H5F__close_cb). The archive closes its own files, so the exit-time pass is switched off; it
 * must be switched off before HDF5 initialises, hence a constructor. */
__attribute__((constructor)) static void arc_h5_no_atexit(void)
{
    H5dont_atexit();
}

static void (*crash_hook)(const char *point);

void arc_set_crash_hook(void (*hook)(const char *point))
{
    crash_hook = hook;
}

void arc_crash_point(const char *point)
{
    if (crash_hook) crash_hook(point);
}

void arc_h5_quiet(void)
{
    static int done = 0;
    if (!done) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        done = 1;
    }
}

/* ---- error stack ------------------------------------------------------------------------ */

typedef struct {
    char text[900];
    int count;
} stack_text;

/* Keeps the 3 innermost descriptions; a system error's "error message = '...'" is shortened to
 * the message itself, which is what a user can act on (e.g. No space left on device). */
static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    stack_text *st = data;
    char piece[300];
    const char *desc = e->desc ? e->desc : "";
    const char *em = strstr(desc, "error message = '");
    (void)n;
    if (st->count >= 3) return 0;
    if (em) {
        em += strlen("error message = '");
        const char *end = strchr(em, '\'');
        int len = end ? (int)(end - em) : (int)strlen(em);
        snprintf(piece, sizeof piece, "%.*s", len, em);
    } else {
        snprintf(piece, sizeof piece, "%s", desc);
    }
    if (!piece[0] || strstr(st->text, piece)) return 0;
    size_t used = strlen(st->text);
    snprintf(st->text + used, sizeof st->text - used, "%s%s", used ? "; " : "", piece);
    st->count++;
    return 0;
}

int arc_h5_label(hid_t d, int ndim, int i, char *buf, size_t len)
{
    /* H5DSget_label reads DIMENSION_LABELS with the attribute's own type into a table of `ndim`
     * string pointers: an attribute of another type or size (a hostile or foreign file) would be
     * written past that table, so its shape and type are checked first */
    hid_t a = H5I_INVALID_HID, sp = H5I_INVALID_HID, t = H5I_INVALID_HID;
    int ok = 0;
    buf[0] = '\0';
    if (i < 0 || i >= ndim || H5Aexists(d, "DIMENSION_LABELS") <= 0) goto done;
    a = H5Aopen(d, "DIMENSION_LABELS", H5P_DEFAULT);
    sp = a >= 0 ? H5Aget_space(a) : H5I_INVALID_HID;
    t = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
    hsize_t n = 0;
    ok = sp >= 0 && t >= 0 && H5Sget_simple_extent_type(sp) == H5S_SIMPLE &&
         H5Sget_simple_extent_ndims(sp) == 1 && H5Sget_simple_extent_dims(sp, &n, NULL) == 1 &&
         n == (hsize_t)ndim && H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0;
done:
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    H5Eclear2(H5E_DEFAULT);
    if (!ok || H5DSget_label(d, (unsigned)i, buf, len) <= 0) {
        buf[0] = '\0';
        return 0;
    }
    return 1;
}

void arc_h5_reason(char *buf, size_t len)
{
    stack_text st = {{0}, 0};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, walk_cb, &st);
    H5Eclear2(H5E_DEFAULT);
    if (len) snprintf(buf, len, "%s", st.text);
}

int arc_h5_err(mp_err *err, const char *fmt, ...)
{
    char head[MP_ERR_LEN], why[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    arc_h5_reason(why, sizeof why);
    if (why[0]) return err_set(err, "%s (HDF5: %s)", head, why);
    return err_set(err, "%s", head);
}

void arc_warn(const arc_options *o, const char *fmt, ...)
{
    char msg[MP_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (o && o->warn)
        o->warn(o->warn_ctx, msg);
    else
        fprintf(stderr, "moeprobe: warning: %s\n", msg);
}

/* ---- types ------------------------------------------------------------------------------ */

const char *arc_type_name(arc_type t)
{
    static const char *names[] = {"float32", "float64", "int32", "int64", "string"};
    return (unsigned)t < ARC_TYPE_COUNT ? names[t] : "invalid";
}

size_t arc_type_size(arc_type t)
{
    switch (t) {
    case ARC_F32: return 4;
    case ARC_F64: return 8;
    case ARC_I32: return 4;
    case ARC_I64: return 8;
    case ARC_STR: return sizeof(char *);
    default: return 0;
    }
}

static hid_t vlen_str(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

hid_t arc_h5_file_type(arc_type t)
{
    switch (t) {
    case ARC_F32: return H5T_IEEE_F32LE;
    case ARC_F64: return H5T_IEEE_F64LE;
    case ARC_I32: return H5T_STD_I32LE;
    case ARC_I64: return H5T_STD_I64LE;
    case ARC_STR: return vlen_str();
    default: return H5I_INVALID_HID;
    }
}

hid_t arc_h5_mem_type(arc_type t)
{
    switch (t) {
    case ARC_F32: return H5T_NATIVE_FLOAT;
    case ARC_F64: return H5T_NATIVE_DOUBLE;
    case ARC_I32: return H5T_NATIVE_INT32;
    case ARC_I64: return H5T_NATIVE_INT64;
    case ARC_STR: return vlen_str();
    default: return H5I_INVALID_HID;
    }
}

void arc_h5_type_close(arc_type t, hid_t h)
{
    if (t == ARC_STR && h >= 0) H5Tclose(h);
}

int arc_type_of_h5(hid_t dtype, arc_type *t)
{
    size_t size = H5Tget_size(dtype);
    switch (H5Tget_class(dtype)) {
    case H5T_INTEGER: *t = size <= 4 ? ARC_I32 : ARC_I64; return 0;
    case H5T_FLOAT: *t = size <= 4 ? ARC_F32 : ARC_F64; return 0;
    case H5T_STRING: *t = ARC_STR; return 0;
    default: return -1;
    }
}

hid_t arc_h5_fapl(void)
{
    hid_t p = H5Pcreate(H5P_FILE_ACCESS);
    /* 1.8 object format: dense attribute storage (no 64 KiB header limit), readable by every
     * HDF5 >= 1.8 and so by any h5py. */
    H5Pset_libver_bounds(p, H5F_LIBVER_V18, H5F_LIBVER_V18);
    /* Closing a file closes whatever an error path left open. */
    H5Pset_fclose_degree(p, H5F_CLOSE_STRONG);
    return p;
}

hid_t arc_h5_fcpl(void)
{
    return H5Pcreate(H5P_FILE_CREATE);
}

/* ---- unit ids --------------------------------------------------------------------------- */

int arc_escape_id(const char *id, char *buf, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; id[i]; i++) {
        unsigned char c = (unsigned char)id[i];
        int keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '-' || (c == '.' && i > 0);
        if (o + (keep ? 1 : 3) >= len) return -1;
        if (keep) {
            buf[o++] = (char)c;
        } else {
            buf[o++] = '%';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        }
    }
    if (o >= len) return -1;
    buf[o] = '\0';
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int arc_unescape_id(const char *esc, char *buf, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; esc[i]; i++) {
        int c = (unsigned char)esc[i];
        if (c == '%') {
            int h = hexval(esc[i + 1]), l = h >= 0 ? hexval(esc[i + 2]) : -1;
            if (h < 0 || l < 0) return -1;
            c = h * 16 + l;
            if (c == 0) return -1;
            i += 2;
        }
        if (o + 1 >= len) return -1;
        buf[o++] = (char)c;
    }
    buf[o] = '\0';
    return 0;
}

int arc_check_id(const char *id, mp_err *err)
{
    if (!id || !id[0])
        return err_set(err, "archive: empty unit id (expected 1..%d bytes)", ARC_MAX_UNIT_ID);
    if (strlen(id) > ARC_MAX_UNIT_ID)
        return err_set(err, "archive: unit id '%.40s...' is %zu bytes (expected at most %d)", id,
                       strlen(id), ARC_MAX_UNIT_ID);
    return 0;
}

/* ---- clocks ----------------------------------------------------------------------------- */

double arc_now_unix(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void arc_iso_time(double unix_s, char buf[32])
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- groups ----------------------------------------------------------------------------- */

H5I_type_t arc_h5_obj_type(hid_t loc, const char *name)
{
    hid_t o = H5Oopen(loc, name, H5P_DEFAULT);
    H5I_type_t t = o >= 0 ? H5Iget_type(o) : H5I_BADID;
    if (o >= 0) H5Oclose(o);
    H5Eclear2(H5E_DEFAULT);
    return t;
}

hid_t arc_h5_group(hid_t loc, const char *path, int create)
{
    char buf[ARC_PATH_MAX];
    hid_t cur;
    while (*path == '/') path++;
    cur = H5Gopen2(loc, "/", H5P_DEFAULT);
    if (cur < 0 || !*path) return cur;
    if (strlen(path) >= sizeof buf) {
        H5Gclose(cur);
        return H5I_INVALID_HID;
    }
    strcpy(buf, path);
    for (char *tok = buf, *next; tok && *tok; tok = next) {
        hid_t g;
        next = strchr(tok, '/');
        if (next) *next++ = '\0';
        htri_t ex = H5Lexists(cur, tok, H5P_DEFAULT);
        if (ex > 0)
            g = H5Gopen2(cur, tok, H5P_DEFAULT);
        else if (ex == 0 && create)
            g = H5Gcreate2(cur, tok, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        else
            g = H5I_INVALID_HID;
        H5Gclose(cur);
        if (g < 0) return H5I_INVALID_HID;
        cur = g;
    }
    return cur;
}

/* ---- attributes ------------------------------------------------------------------------- */

static int attr_write(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *v)
{
    hid_t sp = H5Screate(H5S_SCALAR), a = H5I_INVALID_HID;
    int rc = -1;
    if (sp < 0) goto done;
    if (H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0) goto done;
    a = H5Acreate2(obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0 || H5Awrite(a, mtype, v) < 0) goto done;
    rc = 0;
done:
    if (a >= 0 && H5Aclose(a) < 0) rc = -1;
    if (sp >= 0) H5Sclose(sp);
    return rc;
}

int arc_h5_attr_f64(hid_t obj, const char *name, double v)
{
    return attr_write(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

int arc_h5_attr_i64(hid_t obj, const char *name, int64_t v)
{
    return attr_write(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
}

int arc_h5_attr_str(hid_t obj, const char *name, const char *v)
{
    hid_t t = vlen_str();
    int rc = attr_write(obj, name, t, t, &v);
    H5Tclose(t);
    return rc;
}

char *arc_h5_attr_get_str(hid_t obj, const char *name)
{
    hid_t a = H5I_INVALID_HID, ft = H5I_INVALID_HID, mt = H5I_INVALID_HID;
    hid_t sp = H5I_INVALID_HID;
    char *out = NULL;
    if (H5Aexists(obj, name) <= 0) return NULL;
    a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) goto done;
    ft = H5Aget_type(a);
    sp = H5Aget_space(a);
    if (ft < 0 || sp < 0 || H5Tget_class(ft) != H5T_STRING || H5Sget_simple_extent_npoints(sp) != 1)
        goto done;
    if (H5Tis_variable_str(ft) > 0) {
        char *s = NULL;
        mt = vlen_str();
        if (H5Aread(a, mt, &s) < 0) goto done;
        out = strdup(s ? s : "");
        ARC_VLEN_RECLAIM(mt, sp, &s);
    } else {
        size_t n = H5Tget_size(ft);
        char *buf = calloc(1, n + 1);
        mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, n + 1);
        if (buf && H5Aread(a, mt, buf) >= 0)
            out = buf;
        else
            free(buf);
    }
done:
    if (mt >= 0) H5Tclose(mt);
    if (ft >= 0) H5Tclose(ft);
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    H5Eclear2(H5E_DEFAULT);
    return out;
}

static int attr_get_num(hid_t obj, const char *name, hid_t mtype, void *v, int want_int)
{
    hid_t a = H5I_INVALID_HID, ft = H5I_INVALID_HID, sp = H5I_INVALID_HID;
    int rc = -1;
    if (H5Aexists(obj, name) <= 0) return -1;
    a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) goto done;
    ft = H5Aget_type(a);
    sp = H5Aget_space(a);
    if (ft < 0 || sp < 0 || H5Sget_simple_extent_npoints(sp) != 1) goto done;
    H5T_class_t c = H5Tget_class(ft);
    if (c != H5T_INTEGER && (want_int || c != H5T_FLOAT)) goto done;
    if (H5Aread(a, mtype, v) < 0) goto done;
    rc = 0;
done:
    if (ft >= 0) H5Tclose(ft);
    if (sp >= 0) H5Sclose(sp);
    if (a >= 0) H5Aclose(a);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

int arc_h5_attr_get_f64(hid_t obj, const char *name, double *v)
{
    return attr_get_num(obj, name, H5T_NATIVE_DOUBLE, v, 0);
}

int arc_h5_attr_get_i64(hid_t obj, const char *name, int64_t *v)
{
    return attr_get_num(obj, name, H5T_NATIVE_INT64, v, 1);
}

/* Reads attribute `a` into a malloc'd buffer in memory type mt. */
static void *attr_read_all(hid_t a, hid_t mt, hssize_t *npts)
{
    hid_t sp = H5Aget_space(a);
    void *buf = NULL;
    *npts = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (*npts >= 0) {
        size_t bytes = (size_t)(*npts > 0 ? *npts : 1) * H5Tget_size(mt);
        buf = calloc(1, bytes);
        if (buf && H5Aread(a, mt, buf) < 0) {
            free(buf);
            buf = NULL;
        }
    }
    if (sp >= 0) H5Sclose(sp);
    return buf;
}

/* 1 if attributes a and b hold the same type class, shape and values. */
static int attr_equal(hid_t a, hid_t b)
{
    hid_t ta = H5Aget_type(a), tb = H5Aget_type(b), mt = H5I_INVALID_HID;
    hid_t sa = H5Aget_space(a), sb = H5Aget_space(b);
    void *va = NULL, *vb = NULL;
    hssize_t na = -1, nb = -1;
    int eq = 0;
    if (ta < 0 || tb < 0 || sa < 0 || sb < 0 || H5Tget_class(ta) != H5Tget_class(tb) ||
        H5Sextent_equal(sa, sb) <= 0)
        goto done;
    int vl = H5Tget_class(ta) == H5T_STRING && H5Tis_variable_str(ta) > 0;
    if (H5Tget_class(ta) == H5T_STRING && (H5Tis_variable_str(tb) > 0) != vl) goto done;
    mt = vl ? vlen_str() : H5Tget_native_type(ta, H5T_DIR_DEFAULT);
    if (!vl && H5Tget_size(ta) != H5Tget_size(tb)) goto done;
    va = attr_read_all(a, mt, &na);
    vb = attr_read_all(b, mt, &nb);
    if (!va || !vb || na != nb) goto done;
    if (vl) {
        eq = 1;
        for (hssize_t i = 0; i < na; i++) {
            const char *x = ((char **)va)[i], *y = ((char **)vb)[i];
            if (strcmp(x ? x : "", y ? y : "") != 0) eq = 0;
        }
        ARC_VLEN_RECLAIM(mt, sa, va);
        ARC_VLEN_RECLAIM(mt, sb, vb);
    } else {
        eq = memcmp(va, vb, (size_t)na * H5Tget_size(mt)) == 0;
    }
done:
    free(va);
    free(vb);
    if (mt >= 0) H5Tclose(mt);
    if (ta >= 0) H5Tclose(ta);
    if (tb >= 0) H5Tclose(tb);
    if (sa >= 0) H5Sclose(sa);
    if (sb >= 0) H5Sclose(sb);
    H5Eclear2(H5E_DEFAULT);
    return eq;
}

typedef struct {
    hid_t dst;
    int (*skip)(const char *);
    int replaced;
    int failed;
    char bad[256];
} copy_ctx;

static herr_t copy_attr_cb(hid_t src, const char *name, const H5A_info_t *info, void *data)
{
    copy_ctx *c = data;
    hid_t a = H5I_INVALID_HID, t = H5I_INVALID_HID, sp = H5I_INVALID_HID, na = H5I_INVALID_HID;
    void *buf = NULL;
    (void)info;
    if (c->skip && c->skip(name)) return 0;
    a = H5Aopen(src, name, H5P_DEFAULT);
    if (a < 0) goto fail;
    if (H5Aexists(c->dst, name) > 0) {
        hid_t old = H5Aopen(c->dst, name, H5P_DEFAULT);
        int same = old >= 0 && attr_equal(a, old);
        if (old >= 0) H5Aclose(old);
        if (same) {
            H5Aclose(a);
            return 0;
        }
        if (H5Adelete(c->dst, name) < 0) goto fail;
        c->replaced++;
    }
    /* Raw copy in the file type: no conversion, works for every type (VL strings included,
     * which H5Aread/H5Awrite hand over as pointers in the same process). */
    t = H5Aget_type(a);
    sp = H5Aget_space(a);
    if (t < 0 || sp < 0) goto fail;
    hssize_t n = H5Sget_simple_extent_npoints(sp);
    hid_t mt = H5Tget_native_type(t, H5T_DIR_DEFAULT);
    if (mt < 0) goto fail;
    buf = calloc((size_t)(n > 0 ? n : 1), H5Tget_size(mt) + 1);
    na = H5Acreate2(c->dst, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    int got = buf && na >= 0 && H5Aread(a, mt, buf) >= 0;
    int ok = got && H5Awrite(na, mt, buf) >= 0;
    if (got && (H5Tdetect_class(t, H5T_VLEN) > 0 || H5Tis_variable_str(t) > 0))
        ARC_VLEN_RECLAIM(mt, sp, buf);
    H5Tclose(mt);
    if (!ok) goto fail;
    free(buf);
    H5Aclose(na);
    H5Sclose(sp);
    H5Tclose(t);
    H5Aclose(a);
    return 0;
fail:
    free(buf);
    if (na >= 0) H5Aclose(na);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    c->failed = 1;
    snprintf(c->bad, sizeof c->bad, "%s", name);
    return -1;
}

int arc_h5_copy_attrs(hid_t src, hid_t dst, int (*skip)(const char *name), int *replaced,
                      mp_err *err)
{
    copy_ctx c = {dst, skip, 0, 0, {0}};
    hsize_t idx = 0;
    herr_t r = H5Aiterate2(src, H5_INDEX_NAME, H5_ITER_INC, &idx, copy_attr_cb, &c);
    if (replaced) *replaced = c.replaced;
    if (r < 0 || c.failed)
        return arc_h5_err(err, "cannot copy attribute '%s'", c.bad[0] ? c.bad : "?");
    return 0;
}
