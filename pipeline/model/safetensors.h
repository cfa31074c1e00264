/* safetensors.h — one .safetensors file, memory-mapped read-only and validated.
 *
 * Format (huggingface/safetensors): 8-byte little-endian header length N, N bytes of UTF-8
 * JSON (an object: optional "__metadata__" string map, and per tensor
 * {"dtype", "shape", "data_offsets": [begin, end]}), then the data section, to the end of the
 * file. st_open validates like the reference parser (safetensors/src/tensor.rs): N at most
 * 100,000,000 and inside the file, the header a JSON object without duplicate names, every
 * dtype known, shapes of non-negative integers, begin <= end, and the tensors sorted by offset
 * tiling the data section exactly (no gap, no overlap, nothing after the last one), each span
 * equal to numel x dtype size (overflow-checked). In addition moeprobe only accepts BF16, F16
 * and F32 tensors of at most MP_TENSOR_MAX_DIMS dimensions. Every failure is one message naming
 * the file, the tensor, the offset and what was expected.
 *
 * Only the header is read: the mapping is MAP_PRIVATE/PROT_READ, so tensor pages are read
 * from disk (or shared with the page cache) when first touched and nothing is copied. */
#ifndef MOEPROBE_SAFETENSORS_H
#define MOEPROBE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/util/error.h"
#include "pipeline/model/internal.h"
#include "pipeline/model/tensor.h"

#define ST_MAX_HEADER 100000000ull /* the reference parser's MAX_HEADER_SIZE */

typedef struct st_entry {
    const char *name; /* points into st_file.names */
    mp_dtype dtype;
    int ndim;
    int64_t shape[MP_TENSOR_MAX_DIMS];
    uint64_t begin, end; /* byte offsets within the data section */
} st_entry;

typedef struct st_file {
    char path[4096];
    const uint8_t *map;  /* whole file, NULL when closed */
    size_t map_len;      /* file size */
    uint64_t header_len; /* N */
    const uint8_t *data; /* map + 8 + N */
    uint64_t data_len;
    st_entry *entries; /* [n_entries], sorted by data offset */
    int n_entries;
    char *names;                   /* storage of the entry names */
    nmap by_name;                  /* name -> index into entries */
    char **meta_keys, **meta_vals; /* "__metadata__", [n_meta] */
    int n_meta;
} st_file;

/* Handles start invalid: st_init zeroes; st_close is safe on an initialised or failed file. */
void st_init(st_file *f);
/* Maps and validates PATH. On failure f is left closed and err names the problem. */
int st_open(st_file *f, const char *path, mp_err *err);
void st_close(st_file *f);

/* Index of the entry named NAME, or -1. */
int st_find(const st_file *f, const char *name);
/* A view of entry i (data points into the mapping; valid until st_close). */
void st_view(const st_file *f, int i, mp_tensor *out);
/* Value of "__metadata__"[key], or NULL. */
const char *st_meta(const st_file *f, const char *key);
/* Hints the kernel to read [p, p+len) ahead (madvise WILLNEED on the pages); p must lie in a
 * mapping made by st_open. Best effort: errors are ignored. */
void st_prefetch(const void *p, size_t len);

#endif
