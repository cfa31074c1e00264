/* safetensors.c — see safetensors.h. Reads the header through the mapping, validates it the way
 * huggingface/safetensors' Metadata::validate does, and keeps only a compact entry table. */
#include "pipeline/model/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/model/fault.h"

/* Every dtype the reference knows, so that a valid file with, say, I64 tensors is reported as
 * unsupported rather than corrupt. */
static const struct {
    const char *name;
    int bits;
} ST_DTYPES[] = {
    {"BOOL", 8},        {"F4", 4},      {"F6_E2M3", 6}, {"F6_E3M2", 6}, {"U8", 8},
    {"I8", 8},          {"F8_E5M2", 8}, {"F8_E4M3", 8}, {"F8_E8M0", 8}, {"F8_E4M3FNUZ", 8},
    {"F8_E5M2FNUZ", 8}, {"I16", 16},    {"U16", 16},    {"F16", 16},    {"BF16", 16},
    {"I32", 32},        {"U32", 32},    {"F32", 32},    {"C64", 64},    {"F64", 64},
    {"I64", 64},        {"U64", 64},
};

void st_init(st_file *f)
{
    memset(f, 0, sizeof *f);
    nmap_init(&f->by_name);
}

void st_close(st_file *f)
{
    if (f->map) {
        fault_unregister_map(f->map);
        munmap((void *)f->map, f->map_len);
    }
    free(f->entries);
    free(f->names);
    for (int i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_vals[i]);
    }
    free(f->meta_keys);
    free(f->meta_vals);
    nmap_free(&f->by_name);
    st_init(f);
}

/* "[a,b,c]" of a shape, for messages. */
static void fmt_shape(char *buf, size_t n, const uint64_t *shape, int ndim)
{
    size_t o = 0;
    o += (size_t)snprintf(buf + o, n - o, "[");
    for (int i = 0; i < ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%llu", i ? "," : "", (unsigned long long)shape[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

/* Compact JSON of v (truncated), for messages. */
static void fmt_json(char *buf, size_t n, const json_t *v)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(buf, n, "%s", s ? s : "?");
    if (s && strlen(s) >= n && n > 4) memcpy(buf + n - 4, "...", 4);
    free(s);
}

/* One tensor of the header, before the offset checks. */
typedef struct raw_entry {
    const char *name; /* borrowed from the JSON until copied */
    mp_dtype dtype;
    int ndim;
    uint64_t shape[MP_TENSOR_MAX_DIMS];
    uint64_t begin, end, bytes;
} raw_entry;

static int parse_entry(const char *path, const char *name, json_t *info, raw_entry *e, mp_err *err)
{
    char v[256];
    if (!json_is_object(info)) {
        fmt_json(v, sizeof v, info);
        return err_set(err,
                       "%s: header entry \"%s\" = %s, expected an object with dtype, shape "
                       "and data_offsets",
                       path, name, v);
    }
    json_t *jd = json_object_get(info, "dtype");
    json_t *js = json_object_get(info, "shape");
    json_t *jo = json_object_get(info, "data_offsets");
    const char *missing = !jd ? "dtype" : !js ? "shape" : !jo ? "data_offsets" : NULL;
    if (missing)
        return err_set(err,
                       "%s: tensor \"%s\" has no \"%s\" in the header, expected dtype, shape "
                       "and data_offsets",
                       path, name, missing);
    if (!json_is_string(jd)) {
        fmt_json(v, sizeof v, jd);
        return err_set(err, "%s: tensor \"%s\": \"dtype\" = %s, expected a string such as \"BF16\"",
                       path, name, v);
    }
    const char *ds = json_string_value(jd);
    int bits = 0;
    for (size_t i = 0; i < sizeof ST_DTYPES / sizeof ST_DTYPES[0]; i++)
        if (!strcmp(ds, ST_DTYPES[i].name)) bits = ST_DTYPES[i].bits;
    if (!bits)
        return err_set(err,
                       "%s: tensor \"%s\": dtype \"%s\" is not a safetensors dtype (expected "
                       "BF16, F16, F32, ...)",
                       path, name, ds);
    if (dtype_parse(ds, &e->dtype) != 0)
        return err_set(err, "%s: dtype %s of tensor \"%s\" is not supported (BF16, F16, F32)", path,
                       ds, name);

    if (!json_is_array(js)) {
        fmt_json(v, sizeof v, js);
        return err_set(err,
                       "%s: tensor \"%s\": \"shape\" = %s, expected an array of non-negative "
                       "integers",
                       path, name, v);
    }
    size_t nd = json_array_size(js);
    if (nd > MP_TENSOR_MAX_DIMS)
        return err_set(err, "%s: tensor \"%s\" has %zu dimensions, expected at most %d", path, name,
                       nd, MP_TENSOR_MAX_DIMS);
    e->ndim = (int)nd;
    uint64_t numel = 1;
    int overflow = 0;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(js, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0) {
            fmt_json(v, sizeof v, d);
            return err_set(err,
                           "%s: tensor \"%s\": shape[%zu] = %s, expected a non-negative "
                           "integer",
                           path, name, i, v);
        }
        e->shape[i] = (uint64_t)json_integer_value(d);
        if (__builtin_mul_overflow(numel, e->shape[i], &numel)) overflow = 1;
    }
    char sh[256];
    fmt_shape(sh, sizeof sh, e->shape, e->ndim);
    uint64_t nbits = 0;
    if (overflow || __builtin_mul_overflow(numel, (uint64_t)bits, &nbits))
        return err_set(err,
                       "%s: tensor \"%s\": shape %s overflows a 64-bit byte count, expected "
                       "a size that fits the file",
                       path, name, sh);
    e->bytes = nbits / 8;

    if (!json_is_array(jo) || json_array_size(jo) != 2 || !json_is_integer(json_array_get(jo, 0)) ||
        !json_is_integer(json_array_get(jo, 1)) || json_integer_value(json_array_get(jo, 0)) < 0 ||
        json_integer_value(json_array_get(jo, 1)) < 0) {
        fmt_json(v, sizeof v, jo);
        return err_set(err,
                       "%s: tensor \"%s\": \"data_offsets\" = %s, expected [begin, end] of "
                       "two non-negative integers",
                       path, name, v);
    }
    e->begin = (uint64_t)json_integer_value(json_array_get(jo, 0));
    e->end = (uint64_t)json_integer_value(json_array_get(jo, 1));
    if (e->begin > e->end)
        return err_set(err,
                       "%s: tensor \"%s\": data_offsets [%llu, %llu] has begin > end, "
                       "expected begin <= end",
                       path, name, (unsigned long long)e->begin, (unsigned long long)e->end);
    return 0;
}

static int cmp_raw(const void *a, const void *b)
{
    const raw_entry *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int parse_metadata(st_file *f, json_t *meta, mp_err *err)
{
    char v[256];
    if (!json_is_object(meta)) {
        fmt_json(v, sizeof v, meta);
        return err_set(err, "%s: \"__metadata__\" = %s, expected an object of strings", f->path, v);
    }
    size_t n = json_object_size(meta);
    f->meta_keys = calloc(n ? n : 1, sizeof *f->meta_keys);
    f->meta_vals = calloc(n ? n : 1, sizeof *f->meta_vals);
    if (!f->meta_keys || !f->meta_vals) return err_set(err, "%s: out of memory", f->path);
    const char *k;
    json_t *val;
    json_object_foreach(meta, k, val)
    {
        if (!json_is_string(val)) {
            fmt_json(v, sizeof v, val);
            return err_set(err, "%s: \"__metadata__\".\"%s\" = %s, expected a string", f->path, k,
                           v);
        }
        f->meta_keys[f->n_meta] = strdup(k);
        f->meta_vals[f->n_meta] = strdup(json_string_value(val));
        f->n_meta++;
        if (!f->meta_keys[f->n_meta - 1] || !f->meta_vals[f->n_meta - 1])
            return err_set(err, "%s: out of memory", f->path);
    }
    return 0;
}

/* Sorted entries must tile [0, data_len) exactly; each span must equal its byte size. */
static int check_tiling(const st_file *f, const raw_entry *r, int n, mp_err *err)
{
    uint64_t at = 0;
    uint64_t base = 8 + f->header_len; /* file offset of the data section */
    for (int i = 0; i < n; i++) {
        const raw_entry *e = &r[i];
        if (e->begin != at) {
            if (e->begin < at)
                return err_set(err,
                               "%s: tensor \"%s\" starts at data offset %llu (file offset "
                               "%llu), overlapping tensor \"%s\" which ends at %llu; expected "
                               "it to start at %llu",
                               f->path, e->name, (unsigned long long)e->begin,
                               (unsigned long long)(base + e->begin), r[i - 1].name,
                               (unsigned long long)at, (unsigned long long)at);
            return err_set(err,
                           "%s: tensor \"%s\" starts at data offset %llu (file offset %llu), "
                           "expected %llu (%s): a gap of %llu bytes",
                           f->path, e->name, (unsigned long long)e->begin,
                           (unsigned long long)(base + e->begin), (unsigned long long)at,
                           i ? "the end of the previous tensor" : "the start of the data section",
                           (unsigned long long)(e->begin - at));
        }
        if (e->end > f->data_len)
            return err_set(err,
                           "%s: tensor \"%s\": data_offsets [%llu, %llu] end beyond the data "
                           "section of %llu bytes (file size %zu), expected end <= %llu",
                           f->path, e->name, (unsigned long long)e->begin,
                           (unsigned long long)e->end, (unsigned long long)f->data_len, f->map_len,
                           (unsigned long long)f->data_len);
        if (e->end - e->begin != e->bytes) {
            char sh[256];
            fmt_shape(sh, sizeof sh, e->shape, e->ndim);
            return err_set(err,
                           "%s: tensor \"%s\": data_offsets [%llu, %llu] span %llu bytes at "
                           "file offset %llu, expected %llu (shape %s x %s)",
                           f->path, e->name, (unsigned long long)e->begin,
                           (unsigned long long)e->end, (unsigned long long)(e->end - e->begin),
                           (unsigned long long)(base + e->begin), (unsigned long long)e->bytes, sh,
                           dtype_name(e->dtype));
        }
        at = e->end;
    }
    if (at != f->data_len)
        return err_set(err,
                       "%s: tensors cover %llu bytes of the data section but it holds %llu "
                       "(file size %zu): %llu unclaimed bytes from file offset %llu, expected "
                       "none",
                       f->path, (unsigned long long)at, (unsigned long long)f->data_len, f->map_len,
                       (unsigned long long)(f->data_len - at), (unsigned long long)(base + at));
    return 0;
}

static int parse_header(st_file *f, mp_err *err)
{
    int rc = -1;
    raw_entry *raw = NULL;
    json_error_t jerr;
    json_t *root =
        json_loadb((const char *)f->map + 8, (size_t)f->header_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        err_set(err,
                "%s: header (file bytes 8..%llu) is not valid JSON: %s at file offset %llu, "
                "expected a UTF-8 JSON object",
                f->path, (unsigned long long)(8 + f->header_len), jerr.text,
                (unsigned long long)(8 + (jerr.position > 0 ? (uint64_t)jerr.position : 0)));
        goto done;
    }
    if (!json_is_object(root)) {
        char v[64];
        fmt_json(v, sizeof v, root);
        err_set(err, "%s: header (file bytes 8..%llu) is %s, expected a JSON object", f->path,
                (unsigned long long)(8 + f->header_len), v);
        goto done;
    }
    size_t n = json_object_size(root);
    raw = calloc(n ? n : 1, sizeof *raw);
    if (!raw) {
        err_set(err, "%s: out of memory for %zu header entries", f->path, n);
        goto done;
    }
    int nt = 0;
    size_t names_len = 0;
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        if (!strcmp(key, "__metadata__")) {
            if (parse_metadata(f, val, err) != 0) goto done;
            continue;
        }
        raw[nt].name = key;
        if (parse_entry(f->path, key, val, &raw[nt], err) != 0) goto done;
        names_len += strlen(key) + 1;
        nt++;
    }
    qsort(raw, (size_t)nt, sizeof *raw, cmp_raw);
    if (check_tiling(f, raw, nt, err) != 0) goto done;

    f->entries = calloc(nt ? (size_t)nt : 1, sizeof *f->entries);
    f->names = malloc(names_len ? names_len : 1);
    if (!f->entries || !f->names) {
        err_set(err, "%s: out of memory for %d tensor entries", f->path, nt);
        goto done;
    }
    char *p = f->names;
    for (int i = 0; i < nt; i++) {
        st_entry *e = &f->entries[i];
        size_t len = strlen(raw[i].name) + 1;
        memcpy(p, raw[i].name, len);
        e->name = p;
        p += len;
        e->dtype = raw[i].dtype;
        e->ndim = raw[i].ndim;
        for (int d = 0; d < e->ndim; d++) e->shape[d] = (int64_t)raw[i].shape[d];
        e->begin = raw[i].begin;
        e->end = raw[i].end;
        if (nmap_put(&f->by_name, e->name, i, NULL) < 0) {
            err_set(err, "%s: out of memory for the name table", f->path);
            goto done;
        }
    }
    f->n_entries = nt;
    rc = 0;
done:
    free(raw);
    json_decref(root);
    return rc;
}

int st_open(st_file *f, const char *path, mp_err *err)
{
    int rc = -1;
    int fd = -1;
    st_init(f);
    snprintf(f->path, sizeof f->path, "%s", path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        err_set(err, "%s: cannot open: %s", path, strerror(errno));
        goto done;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        err_set(err, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        err_set(err, "%s: not a regular file, expected a .safetensors file", path);
        goto done;
    }
    if (sb.st_size < 8) {
        err_set(err, "%s: file is %lld bytes, expected at least 8 (the header length)", path,
                (long long)sb.st_size);
        goto done;
    }
    f->map_len = (size_t)sb.st_size;
    void *m = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
        err_set(err, "%s: cannot mmap %zu bytes: %s", path, f->map_len, strerror(errno));
        goto done;
    }
    f->map = m;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | f->map[i];
    if (n > ST_MAX_HEADER) {
        err_set(err,
                "%s: header length %llu (bytes 0..8) exceeds the limit of %llu bytes, "
                "expected a safetensors file",
                path, (unsigned long long)n, ST_MAX_HEADER);
        goto done;
    }
    if (n > f->map_len - 8) {
        err_set(err,
                "%s: header length %llu (bytes 0..8) goes beyond the end of the file (size "
                "%zu), expected at most %zu",
                path, (unsigned long long)n, f->map_len, f->map_len - 8);
        goto done;
    }
    f->header_len = n;
    f->data = f->map + 8 + n;
    f->data_len = f->map_len - 8 - n;
    if (parse_header(f, err) != 0) goto done;
    /* a SIGBUS on this mapping (the file truncated under us) becomes one clear message */
    fault_register_map(f->map, f->map_len, f->path, f->entries, f->n_entries, 8 + n);
    rc = 0;
done:
    if (fd >= 0) close(fd);
    if (rc != 0) st_close(f);
    return rc;
}

int st_find(const st_file *f, const char *name)
{
    int64_t i;
    return nmap_get(&f->by_name, name, &i) ? (int)i : -1;
}

void st_view(const st_file *f, int i, mp_tensor *out)
{
    const st_entry *e = &f->entries[i];
    memset(out, 0, sizeof *out);
    out->data = f->data + e->begin;
    out->dtype = e->dtype;
    out->ndim = e->ndim;
    for (int d = 0; d < e->ndim; d++) out->shape[d] = e->shape[d];
}

const char *st_meta(const st_file *f, const char *key)
{
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta_keys[i], key)) return f->meta_vals[i];
    return NULL;
}

void st_prefetch(const void *p, size_t len)
{
    if (!p || !len) return;
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)(pg - 1);
    (void)madvise((void *)a, len + ((uintptr_t)p - a), MADV_WILLNEED);
}
