/* maps.c — the two hash maps of the BPE model: token string -> id and
 * (left id, right id) -> (merge rank, merged id). Open addressing with linear probing keeps
 * lookups to one or two cache lines; both are filled once at load and then only read. */
#include <stdlib.h>
#include <string.h>

#include "pipeline/tokenizer/internal.h"

static uint64_t hash_bytes(const char *s, size_t len)
{
    /* FNV-1a with a final avalanche: tokens are short, so a byte loop is cheap. */
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_pair(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

void tok_strmap_init(tok_strmap *m)
{
    memset(m, 0, sizeof *m);
}

void tok_strmap_free(tok_strmap *m)
{
    free(m->pool);
    free(m->key_off);
    free(m->key_len);
    free(m->val);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

static int strmap_rehash(tok_strmap *m, uint32_t nslots)
{
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots) return -1;
    uint32_t mask = nslots - 1;
    for (uint32_t i = 0; i < m->n; i++) {
        uint32_t h = (uint32_t)hash_bytes(m->pool + m->key_off[i], m->key_len[i]) & mask;
        while (slots[h]) h = (h + 1) & mask;
        slots[h] = i + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->mask = mask;
    return 0;
}

static uint32_t *strmap_find(const tok_strmap *m, const char *key, size_t len)
{
    if (!m->slots) return NULL;
    uint32_t h = (uint32_t)hash_bytes(key, len) & m->mask;
    for (;;) {
        uint32_t e = m->slots[h];
        if (!e) return &m->slots[h];
        e--;
        if (m->key_len[e] == len && !memcmp(m->pool + m->key_off[e], key, len)) return &m->slots[h];
        h = (h + 1) & m->mask;
    }
}

int tok_strmap_reserve(tok_strmap *m, uint32_t n, size_t pool_bytes)
{
    uint64_t nslots = 1024;
    while (nslots < (uint64_t)n * 2) nslots *= 2;
    if (nslots > (1ULL << 31) || pool_bytes > UINT32_MAX) return -1;
    if (n > m->cap) {
        uint32_t *ko = realloc(m->key_off, n * sizeof *ko);
        if (!ko) return -1;
        m->key_off = ko;
        uint32_t *kl = realloc(m->key_len, n * sizeof *kl);
        if (!kl) return -1;
        m->key_len = kl;
        int32_t *v = realloc(m->val, n * sizeof *v);
        if (!v) return -1;
        m->val = v;
        m->cap = n;
    }
    if (pool_bytes > m->pool_cap) {
        char *p = realloc(m->pool, pool_bytes);
        if (!p) return -1;
        m->pool = p;
        m->pool_cap = pool_bytes;
    }
    if (!m->slots || nslots > (uint64_t)m->mask + 1) return strmap_rehash(m, (uint32_t)nslots);
    return 0;
}

int tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t val, int32_t *old)
{
    if (len > UINT32_MAX / 2 || m->pool_len + len + 1 > UINT32_MAX) return -1;
    if (!m->slots || (uint64_t)(m->n + 1) * 2 > (uint64_t)m->mask + 1) {
        uint32_t nslots = m->slots ? (m->mask + 1) * 2 : 1024;
        if (nslots == 0 || strmap_rehash(m, nslots)) return -1;
    }
    uint32_t *slot = strmap_find(m, key, len);
    if (*slot) {
        if (old) *old = m->val[*slot - 1];
        m->val[*slot - 1] = val;
        return 1;
    }
    if (m->n == m->cap) {
        uint32_t cap = m->cap ? m->cap * 2 : 1024;
        uint32_t *ko = realloc(m->key_off, cap * sizeof *ko);
        if (!ko) return -1;
        m->key_off = ko;
        uint32_t *kl = realloc(m->key_len, cap * sizeof *kl);
        if (!kl) return -1;
        m->key_len = kl;
        int32_t *v = realloc(m->val, cap * sizeof *v);
        if (!v) return -1;
        m->val = v;
        m->cap = cap;
    }
    if (m->pool_len + len + 1 > m->pool_cap) {
        size_t cap = m->pool_cap ? m->pool_cap * 2 : 65536;
        while (cap < m->pool_len + len + 1) cap *= 2;
        char *p = realloc(m->pool, cap);
        if (!p) return -1;
        m->pool = p;
        m->pool_cap = cap;
    }
    memcpy(m->pool + m->pool_len, key, len);
    m->pool[m->pool_len + len] = '\0';
    m->key_off[m->n] = (uint32_t)m->pool_len;
    m->key_len[m->n] = (uint32_t)len;
    m->val[m->n] = val;
    m->pool_len += len + 1;
    *slot = ++m->n;
    return 0;
}

int32_t tok_strmap_get(const tok_strmap *m, const char *key, size_t len)
{
    const uint32_t *slot = strmap_find(m, key, len);
    return slot && *slot ? m->val[*slot - 1] : -1;
}

void tok_pairmap_free(tok_pairmap *m)
{
    free(m->keys);
    free(m->rank);
    free(m->new_id);
    memset(m, 0, sizeof *m);
}

int tok_pairmap_reserve(tok_pairmap *m, uint32_t n)
{
    uint64_t nslots = 1024;
    while (nslots < (uint64_t)n * 2) nslots *= 2;
    if (nslots > (1ULL << 31)) return -1;
    tok_pairmap_free(m);
    m->keys = malloc(nslots * sizeof *m->keys);
    m->rank = malloc(nslots * sizeof *m->rank);
    m->new_id = malloc(nslots * sizeof *m->new_id);
    if (!m->keys || !m->rank || !m->new_id) {
        tok_pairmap_free(m);
        return -1;
    }
    for (uint64_t i = 0; i < nslots; i++) m->keys[i] = TOK_PAIR_EMPTY;
    m->mask = (uint32_t)(nslots - 1);
    return 0;
}

void tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t new_id)
{
    uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint32_t h = (uint32_t)hash_pair(k) & m->mask;
    while (m->keys[h] != TOK_PAIR_EMPTY && m->keys[h] != k) h = (h + 1) & m->mask;
    if (m->keys[h] == TOK_PAIR_EMPTY) m->n++;
    m->keys[h] = k;
    m->rank[h] = rank;
    m->new_id[h] = new_id;
}

int tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *new_id)
{
    if (!m->keys) return 0;
    uint64_t k = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint32_t h = (uint32_t)hash_pair(k) & m->mask;
    for (;;) {
        uint64_t kk = m->keys[h];
        if (kk == k) {
            *rank = m->rank[h];
            *new_id = m->new_id[h];
            return 1;
        }
        if (kk == TOK_PAIR_EMPTY) return 0;
        h = (h + 1) & m->mask;
    }
}
