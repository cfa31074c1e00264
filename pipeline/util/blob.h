/* blob.h — a flat, self-describing byte record of named arrays: how per-sample results travel
 * from the rank that computed them to rank 0 (one MPI_Gatherv of bytes) and how stage results
 * are handed around without a struct per stage.
 *
 * Layout of one item (native endianness; the job's ranks share one architecture):
 *   u32 name_len, name bytes, u8 type, u8 ndim, int64 shape[ndim], u64 nbytes, data bytes.
 * blob_next validates every length against the buffer before use, so a truncated or corrupt
 * buffer is an error, never an out-of-bounds read. */
#ifndef MOEPROBE_BLOB_H
#define MOEPROBE_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/util/error.h"

#define BLOB_MAX_DIMS 8

typedef enum blob_type { BLOB_F32 = 0, BLOB_F64, BLOB_I32, BLOB_I64, BLOB_STR } blob_type;

typedef struct blob {
    char *data;
    size_t len, cap;
    int failed; /* an allocation failed: the blob is unusable */
} blob;

void blob_init(blob *b);
void blob_free(blob *b);
void blob_reset(blob *b); /* len = 0, memory kept */
/* Appends an array (prod(shape) elements). BLOB_STR: data is one NUL-terminated string, ndim 0. */
void blob_put(blob *b, const char *name, blob_type type, int ndim, const int64_t *shape,
              const void *data);
void blob_put_f64(blob *b, const char *name, double v);
void blob_put_i64(blob *b, const char *name, int64_t v);
void blob_put_str(blob *b, const char *name, const char *s);
/* Appends raw bytes of another blob (already encoded items). */
void blob_append(blob *b, const void *items, size_t len);

typedef struct blob_item {
    char name[128];
    blob_type type;
    int ndim;
    int64_t shape[BLOB_MAX_DIMS];
    int64_t count;
    const void *data; /* points into the buffer; may be unaligned: memcpy before use */
    size_t nbytes;
} blob_item;

/* Reads the item at *off and advances *off. Returns 1 for an item, 0 at the end, -1 (err set)
 * on a malformed buffer. */
int blob_next(const void *buf, size_t len, size_t *off, blob_item *it, mp_err *err);
/* Finds the first item named `name`: 1 found, 0 not found, -1 malformed. */
int blob_find(const void *buf, size_t len, const char *name, blob_item *it, mp_err *err);
/* Copies a found numeric item into a malloc'd array of doubles / floats / int64 (converting). */
double *blob_to_f64(const blob_item *it);
float *blob_to_f32(const blob_item *it);
int64_t *blob_to_i64(const blob_item *it);

#endif
