/* name_map.c — see internal.h. Linear probing keeps the table a pair of flat arrays. */
#include "pipeline/model/internal.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h ^ (h >> 29);
}

void nmap_init(nmap *m)
{
    memset(m, 0, sizeof *m);
}

void nmap_free(nmap *m)
{
    free(m->keys);
    free(m->vals);
    nmap_init(m);
}

static size_t find_slot(const char **keys, size_t cap, const char *key)
{
    size_t i = (size_t)hash_str(key) & (cap - 1);
    while (keys[i] && strcmp(keys[i], key) != 0) i = (i + 1) & (cap - 1);
    return i;
}

static int grow(nmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    const char **keys = calloc(cap, sizeof *keys);
    int64_t *vals = calloc(cap, sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = find_slot(keys, cap, m->keys[i]);
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

int nmap_put(nmap *m, const char *key, int64_t val, int64_t *old)
{
    if ((m->count + 1) * 2 > m->cap && grow(m) != 0) return -1;
    size_t i = find_slot(m->keys, m->cap, key);
    if (m->keys[i]) {
        if (old) *old = m->vals[i];
        return 1;
    }
    m->keys[i] = key;
    m->vals[i] = val;
    m->count++;
    return 0;
}

int nmap_get(const nmap *m, const char *key, int64_t *val)
{
    if (!m->cap) return 0;
    size_t i = find_slot(m->keys, m->cap, key);
    if (!m->keys[i]) return 0;
    if (val) *val = m->vals[i];
    return 1;
}
