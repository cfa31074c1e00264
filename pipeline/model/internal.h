/* internal.h — a string -> int64 hash map (open addressing, FNV-1a) for tensor-name lookup.
 *
 * Keys are borrowed: the map stores the pointers, so the strings must outlive the map (the
 * checkpoint keeps them in its own storage). Lookups are O(1); the table grows at 50% load.
 * Nothing here reads outside input, so the only failure is running out of memory. */
#ifndef MOEPROBE_NAME_MAP_H
#define MOEPROBE_NAME_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct nmap {
    const char **keys; /* [cap], NULL = empty slot */
    int64_t *vals;     /* [cap] */
    size_t cap;        /* 0 or a power of two */
    size_t count;
} nmap;

void nmap_init(nmap *m);
void nmap_free(nmap *m);
/* Inserts key -> val. Returns 0 if inserted, 1 if the key was already there (its value is
 * left unchanged and *old, if non-NULL, receives it), -1 when out of memory. */
int nmap_put(nmap *m, const char *key, int64_t val, int64_t *old);
/* Returns 1 and sets *val (if non-NULL) when key is present, else 0. */
int nmap_get(const nmap *m, const char *key, int64_t *val);

#endif
