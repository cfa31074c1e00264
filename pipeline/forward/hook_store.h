/* hook_store.h — an in-memory hook sink: keeps a copy of every record it receives and finds
 * them again by (point, sample, layer, position, slot). Used by trace, by attribution and by the
 * tests; the archive streams instead.
 *
 * Memory: the store owns copies of all payloads (arena); hook_store_free releases them. */
#ifndef MOEPROBE_HOOK_STORE_H
#define MOEPROBE_HOOK_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/forward/hooks.h"

typedef struct hook_store hook_store;

hook_store *hook_store_new(void); /* NULL on out of memory */
void hook_store_free(hook_store *s);
void hook_store_clear(hook_store *s); /* forget everything, keep the memory */
/* The hook_sink_fn to put in hook_set.sink with the store as ctx. */
void hook_store_sink(void *ctx, const hook_record *r);

/* The stored record, or NULL. slot is -1 for points without slots. */
const hook_record *hook_store_find(const hook_store *s, hook_point p, int64_t sample, int layer,
                                   int pos, int slot);
/* Copies payloads into out[L][npos][n] for positions pos0..pos0+npos-1 of all L layers;
 * missing records are zero-filled. Returns the number of records found. */
int64_t hook_store_dense(const hook_store *s, hook_point p, int64_t sample, int L, int pos0,
                         int npos, int slot, int64_t n, float *out);
size_t hook_store_count(const hook_store *s);
/* Calls fn for every record, in arrival order. */
void hook_store_each(const hook_store *s, void (*fn)(void *ctx, const hook_record *r), void *ctx);

#endif
