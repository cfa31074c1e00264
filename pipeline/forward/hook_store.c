/* hook_store.c — records copied into one growing arena, indexed by an open-addressing hash on
 * (point, sample, layer, pos, slot). */
#include "pipeline/forward/hook_store.h"

#include <stdlib.h>
#include <string.h>

typedef struct stored {
    hook_record rec; /* rec.data points into the arena chunk */
} stored;

struct hook_store {
    stored *recs;
    size_t n, cap;
    char **chunks; /* payload arena: chunks never move, so rec.data stays valid */
    size_t n_chunks, chunks_cap, chunk_used, chunk_size;
    int64_t *index; /* slots hold record index + 1; 0 = empty */
    size_t index_cap;
};

static uint64_t key_hash(int p, int64_t sample, int layer, int pos, int slot)
{
    uint64_t h = 1469598103934665603ULL;
    int64_t parts[5] = {p, sample, layer, pos, slot};
    for (int i = 0; i < 5; i++) {
        h ^= (uint64_t)parts[i] + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
        h *= 1099511628211ULL;
    }
    return h;
}

hook_store *hook_store_new(void)
{
    hook_store *s = calloc(1, sizeof *s);
    if (s) s->chunk_size = 1 << 20;
    return s;
}

void hook_store_clear(hook_store *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n_chunks; i++) free(s->chunks[i]);
    s->n_chunks = 0;
    s->chunk_used = 0;
    s->n = 0;
    if (s->index) memset(s->index, 0, s->index_cap * sizeof *s->index);
}

void hook_store_free(hook_store *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n_chunks; i++) free(s->chunks[i]);
    free(s->chunks);
    free(s->recs);
    free(s->index);
    free(s);
}

static void *arena_alloc(hook_store *s, size_t bytes)
{
    bytes = (bytes + 15) & ~(size_t)15;
    if (s->n_chunks == 0 || s->chunk_used + bytes > s->chunk_size) {
        size_t size = bytes > s->chunk_size ? bytes : s->chunk_size;
        if (s->n_chunks == s->chunks_cap) {
            size_t nc = s->chunks_cap ? 2 * s->chunks_cap : 16;
            char **c = realloc(s->chunks, nc * sizeof *c);
            if (!c) return NULL;
            s->chunks = c;
            s->chunks_cap = nc;
        }
        char *mem = malloc(size);
        if (!mem) return NULL;
        s->chunks[s->n_chunks++] = mem;
        s->chunk_used = 0;
        if (size > s->chunk_size) { /* an oversized payload gets a chunk of its own */
            s->chunk_used = size;
            return mem;
        }
    }
    void *p = s->chunks[s->n_chunks - 1] + s->chunk_used;
    s->chunk_used += bytes;
    return p;
}

static int index_grow(hook_store *s)
{
    size_t cap = s->index_cap ? 2 * s->index_cap : 1024;
    int64_t *idx = calloc(cap, sizeof *idx);
    if (!idx) return -1;
    for (size_t i = 0; i < s->n; i++) {
        const hook_record *r = &s->recs[i].rec;
        uint64_t h = key_hash(r->point, r->sample, r->layer, r->pos, r->slot) & (cap - 1);
        while (idx[h]) h = (h + 1) & (cap - 1);
        idx[h] = (int64_t)i + 1;
    }
    free(s->index);
    s->index = idx;
    s->index_cap = cap;
    return 0;
}

void hook_store_sink(void *ctx, const hook_record *r)
{
    hook_store *s = ctx;
    size_t esize = 4;
    if (s->n == s->cap) {
        size_t nc = s->cap ? 2 * s->cap : 1024;
        stored *nr = realloc(s->recs, nc * sizeof *nr);
        if (!nr) abort(); /* out of memory while capturing: cannot keep a consistent store */
        s->recs = nr;
        s->cap = nc;
    }
    if (2 * (s->n + 1) > s->index_cap && index_grow(s) != 0) abort();
    void *payload = arena_alloc(s, (size_t)r->n * esize);
    if (!payload && r->n) abort();
    if (r->n) memcpy(payload, r->data, (size_t)r->n * esize);
    stored *st = &s->recs[s->n];
    st->rec = *r;
    st->rec.data = payload;
    /* A later record with the same key replaces the earlier one in the index. */
    uint64_t h = key_hash(r->point, r->sample, r->layer, r->pos, r->slot) & (s->index_cap - 1);
    while (s->index[h]) {
        const hook_record *o = &s->recs[s->index[h] - 1].rec;
        if (o->point == r->point && o->sample == r->sample && o->layer == r->layer &&
            o->pos == r->pos && o->slot == r->slot)
            break;
        h = (h + 1) & (s->index_cap - 1);
    }
    s->index[h] = (int64_t)s->n + 1;
    s->n++;
}

const hook_record *hook_store_find(const hook_store *s, hook_point p, int64_t sample, int layer,
                                   int pos, int slot)
{
    if (!s->index_cap) return NULL;
    uint64_t h = key_hash(p, sample, layer, pos, slot) & (s->index_cap - 1);
    while (s->index[h]) {
        const hook_record *o = &s->recs[s->index[h] - 1].rec;
        if ((int)o->point == (int)p && o->sample == sample && o->layer == layer && o->pos == pos &&
            o->slot == slot)
            return o;
        h = (h + 1) & (s->index_cap - 1);
    }
    return NULL;
}

int64_t hook_store_dense(const hook_store *s, hook_point p, int64_t sample, int L, int pos0,
                         int npos, int slot, int64_t n, float *out)
{
    int64_t found = 0;
    for (int l = 0; l < L; l++)
        for (int i = 0; i < npos; i++) {
            float *dst = out + ((int64_t)l * npos + i) * n;
            const hook_record *r =
                hook_store_find(s, p, sample, p == HP_LOGITS ? -1 : l, pos0 + i, slot);
            if (r && r->n == n) {
                memcpy(dst, r->data, (size_t)n * 4);
                found++;
            } else {
                memset(dst, 0, (size_t)n * 4);
            }
        }
    return found;
}

size_t hook_store_count(const hook_store *s)
{
    return s->n;
}

void hook_store_each(const hook_store *s, void (*fn)(void *ctx, const hook_record *r), void *ctx)
{
    for (size_t i = 0; i < s->n; i++) fn(ctx, &s->recs[i].rec);
}
