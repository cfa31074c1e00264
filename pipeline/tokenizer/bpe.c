/* bpe.c — the BPE model on one word, as HF's models/bpe/{model,word}.rs:
 * chars -> ids (continuing_subword_prefix / end_of_word_suffix, byte_fallback, unk with
 * fuse_unk; a char with neither is dropped), then the merge loop: a min-heap of candidate
 * merges ordered by (rank, position), stale entries skipped when popped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/tokenizer/internal.h"

static int heap_less(const tok_bpe_merge *a, const tok_bpe_merge *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static int heap_push(tok_scratch *sc, tok_bpe_merge m)
{
    if (sc->heap_n == sc->heap_cap) {
        size_t cap = sc->heap_cap ? sc->heap_cap * 2 : 64;
        tok_bpe_merge *v = realloc(sc->heap, cap * sizeof *v);
        if (!v) return -1;
        sc->heap = v;
        sc->heap_cap = cap;
    }
    size_t i = sc->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_less(&m, &sc->heap[parent])) break;
        sc->heap[i] = sc->heap[parent];
        i = parent;
    }
    sc->heap[i] = m;
    return 0;
}

static tok_bpe_merge heap_pop(tok_scratch *sc)
{
    tok_bpe_merge top = sc->heap[0];
    tok_bpe_merge last = sc->heap[--sc->heap_n];
    size_t n = sc->heap_n, i = 0;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n) break;
        size_t c = (l + 1 < n && heap_less(&sc->heap[l + 1], &sc->heap[l])) ? l + 1 : l;
        if (!heap_less(&sc->heap[c], &last)) break;
        sc->heap[i] = sc->heap[c];
        i = c;
    }
    if (n) sc->heap[i] = last;
    return top;
}

static int sym_add(tok_scratch *sc, size_t *n, int32_t c, uint32_t len)
{
    if (*n == sc->sym_cap) {
        size_t cap = sc->sym_cap ? sc->sym_cap * 2 : 64;
        tok_bpe_sym *v = realloc(sc->sym, cap * sizeof *v);
        if (!v) return -1;
        sc->sym = v;
        sc->sym_cap = cap;
    }
    tok_bpe_sym *s = &sc->sym[*n];
    s->c = c;
    s->len = len;
    s->next = -1;
    s->prev = *n > 0 ? (int32_t)(*n - 1) : -1;
    if (*n > 0) sc->sym[*n - 1].next = (int32_t)*n;
    (*n)++;
    return 0;
}

/* Id of the char w[i..i+clen) with the configured prefix/suffix, -1 if not in the vocab. */
static int32_t char_id(const tokenizer *t, const char *w, size_t i, size_t clen, size_t len,
                       tok_scratch *sc)
{
    int first = i == 0, last = i + clen == len;
    const char *pre = (!first && t->cont_prefix) ? t->cont_prefix : NULL;
    const char *suf = (last && t->eow_suffix) ? t->eow_suffix : NULL;
    if (!pre && !suf) return tok_strmap_get(&t->vocab, w + i, clen);
    tok_buf *k = &sc->tmp;
    k->len = 0;
    if ((pre && tok_buf_add(k, pre, strlen(pre))) || tok_buf_add(k, w + i, clen) ||
        (suf && tok_buf_add(k, suf, strlen(suf))))
        return -2;
    return tok_strmap_get(&t->vocab, k->p, k->len);
}

int tok_bpe_word(const tokenizer *t, const char *w, size_t len, tok_scratch *sc, tok_ids *out,
                 mp_err *err)
{
    if (len == 0) return 0;
    if (t->ignore_merges) {
        int32_t id = tok_strmap_get(&t->vocab, w, len);
        if (id >= 0) return tok_ids_push(out, id) ? err_set(err, "out of memory") : 0;
    }
    size_t n = 0;
    int32_t unk = -1; /* pending unk id */
    uint32_t unk_len = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t clen = tok_utf8_next(w + i, len - i, &cp);
        int32_t id = char_id(t, w, i, clen, len, sc);
        if (id == -2) return err_set(err, "out of memory");
        if (id >= 0) {
            if (unk >= 0) {
                if (sym_add(sc, &n, unk, unk_len)) return err_set(err, "out of memory");
                unk = -1;
            }
            if (sym_add(sc, &n, id, (uint32_t)clen)) return err_set(err, "out of memory");
            i += clen;
            continue;
        }
        if (t->byte_fallback) {
            /* HF looks up "<0xNN>" for the bytes of the char as looked up (with any prefix or
             * suffix); all must exist. A pending unk is not flushed first (HF's order). */
            const char *cs = w + i;
            size_t cl = clen;
            if ((i > 0 && t->cont_prefix) || (i + clen == len && t->eow_suffix)) {
                cs = sc->tmp.p;
                cl = sc->tmp.len;
            }
            int all = 1;
            for (size_t b = 0; b < cl; b++)
                if (t->byte_fallback_id[(unsigned char)cs[b]] < 0) all = 0;
            if (all) {
                for (size_t b = 0; b < cl; b++)
                    if (sym_add(sc, &n, t->byte_fallback_id[(unsigned char)cs[b]], 1))
                        return err_set(err, "out of memory");
                i += clen;
                continue;
            }
        }
        if (t->unk_token) {
            if (t->unk_id < 0)
                return err_set(err,
                               "%s: unk_token \"%s\" is not in the vocab but is needed for "
                               "the text at byte offset %zu of a word",
                               t->path, t->unk_token, i);
            if (unk >= 0 && t->fuse_unk)
                unk_len += (uint32_t)clen;
            else {
                if (unk >= 0 && sym_add(sc, &n, unk, unk_len)) return err_set(err, "out of memory");
                unk = t->unk_id;
                unk_len = (uint32_t)clen;
            }
        }
        i += clen; /* no unk token: HF drops the char */
    }
    if (unk >= 0 && sym_add(sc, &n, unk, unk_len)) return err_set(err, "out of memory");

    tok_bpe_sym *sym = sc->sym;
    sc->heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        int32_t rank, nid;
        if (tok_pairmap_get(&t->merges, sym[i].c, sym[i + 1].c, &rank, &nid) &&
            heap_push(sc, (tok_bpe_merge){rank, (int32_t)i, nid}))
            return err_set(err, "out of memory");
    }
    while (sc->heap_n > 0) {
        tok_bpe_merge top = heap_pop(sc);
        tok_bpe_sym *cur = &sym[top.pos];
        if (cur->len == 0 || cur->next < 0) continue;
        int32_t next_pos = cur->next;
        tok_bpe_sym right = sym[next_pos];
        int32_t rank, nid;
        if (!tok_pairmap_get(&t->merges, cur->c, right.c, &rank, &nid) || nid != top.new_id)
            continue; /* stale entry */
        cur->c = top.new_id;
        cur->len += right.len;
        cur->next = right.next;
        sym[next_pos].len = 0;
        if (right.next >= 0) sym[right.next].prev = top.pos;
        if (cur->prev >= 0 && tok_pairmap_get(&t->merges, sym[cur->prev].c, cur->c, &rank, &nid) &&
            heap_push(sc, (tok_bpe_merge){rank, cur->prev, nid}))
            return err_set(err, "out of memory");
        cur = &sym[top.pos]; /* heap_push does not move sym, but keep it obvious */
        if (cur->next >= 0 && tok_pairmap_get(&t->merges, cur->c, sym[cur->next].c, &rank, &nid) &&
            heap_push(sc, (tok_bpe_merge){rank, top.pos, nid}))
            return err_set(err, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        if (sym[i].len && tok_ids_push(out, sym[i].c)) return err_set(err, "out of memory");
    return 0;
}
