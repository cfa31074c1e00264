/* pretok.c — the pre-tokenizers, as HF's pre_tokenizers/{split,byte_level,
 * metaspace}.rs and NormalizedString::split: each stage turns every piece into sub-pieces;
 * empty pieces are dropped between stages (PreTokenizedString::split). */
#include <stdlib.h>
#include <string.h>

#include "pipeline/tokenizer/internal.h"

/* Applies a split behavior to a list of (start, end, is_match) covering a piece, in place;
 * afterwards is_match = 1 means "remove". */
static void apply_behavior(tok_matches *m, tok_split_behavior b)
{
    size_t n = m->n, w = 0;
    tok_match *v = m->v;
    int prev = 0;
    switch (b) {
    case TOK_SPLIT_ISOLATED:
        for (size_t i = 0; i < n; i++) v[i].is_match = 0;
        return;
    case TOK_SPLIT_REMOVED: return;
    case TOK_SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < n; i++) {
            int im = v[i].is_match;
            if (im == prev && w > 0)
                v[w - 1].end = v[i].end;
            else {
                v[w] = v[i];
                v[w++].is_match = 0;
            }
            prev = im;
        }
        break;
    case TOK_SPLIT_MERGED_PREV:
        for (size_t i = 0; i < n; i++) {
            int im = v[i].is_match;
            if (im && !prev && w > 0)
                v[w - 1].end = v[i].end;
            else {
                v[w] = v[i];
                v[w++].is_match = 0;
            }
            prev = im;
        }
        break;
    case TOK_SPLIT_MERGED_NEXT: {
        /* HF folds from the right; do the same, writing from the end of the array. */
        size_t r = n; /* v[r..n) is the result, in order */
        for (size_t i = n; i-- > 0;) {
            tok_match cur = v[i];
            int im = cur.is_match;
            if (im && !prev && r < n)
                v[r].start = cur.start;
            else {
                v[--r] = cur;
                v[r].is_match = 0;
            }
            prev = im;
        }
        memmove(v, v + r, (n - r) * sizeof *v);
        w = n - r;
        break;
    }
    }
    m->n = w;
}

static int push_ranges(const tok_matches *m, const char *s, int at_origin, tok_pieces *out,
                       mp_err *err)
{
    for (size_t i = 0; i < m->n; i++) {
        const tok_match *r = &m->v[i];
        if (r->is_match || r->end <= r->start) continue;
        if (tok_pieces_push(out, s + r->start, r->end - r->start, -1, at_origin && r->start == 0))
            return err_set(err, "out of memory");
    }
    return 0;
}

/* Every byte as its GPT-2 char. */
static int push_byte_level(tok_pieces *out, const char *s, size_t len, int at_origin, mp_err *err)
{
    if (tok_pieces_push(out, "", 0, -1, at_origin) || tok_buf_reserve(&out->text, 2 * len))
        return err_set(err, "out of memory");
    tok_piece *pc = &out->v[out->n - 1];
    char *o = out->text.p + out->text.len;
    size_t k = 0;
    for (size_t i = 0; i < len; i++) {
        const char *c = tok_byte_char[(unsigned char)s[i]];
        o[k++] = c[0];
        if (c[1]) o[k++] = c[1];
    }
    out->text.len += k;
    pc->len = k;
    return 0;
}

static int stage_split(const tok_pretok *p, const char *s, size_t len, int at_origin,
                       tok_scratch *sc, tok_pieces *out, mp_err *err)
{
    pcre2_match_data *md = tok_scratch_md(sc, err);
    if (!md || tok_regex_find(p->re, md, s, len, &sc->matches, err)) return -1;
    if (p->invert)
        for (size_t i = 0; i < sc->matches.n; i++)
            sc->matches.v[i].is_match = !sc->matches.v[i].is_match;
    apply_behavior(&sc->matches, p->behavior);
    return push_ranges(&sc->matches, s, at_origin, out, err);
}

static int stage_byte_level(const tokenizer *t, const tok_pretok *p, const char *s, size_t len,
                            int at_origin, tok_scratch *sc, tok_pieces *out, mp_err *err)
{
    if (p->add_prefix_space && (len == 0 || s[0] != ' ')) {
        sc->tmp.len = 0;
        if (tok_buf_add(&sc->tmp, " ", 1) || tok_buf_add(&sc->tmp, s, len))
            return err_set(err, "out of memory");
        s = sc->tmp.p;
        len = sc->tmp.len;
    }
    if (!p->use_regex) return len ? push_byte_level(out, s, len, at_origin, err) : 0;
    pcre2_match_data *md = tok_scratch_md(sc, err);
    if (!md || tok_regex_find(t->gpt2_re, md, s, len, &sc->matches, err)) return -1;
    for (size_t i = 0; i < sc->matches.n; i++) {
        const tok_match *r = &sc->matches.v[i];
        if (r->end > r->start &&
            push_byte_level(out, s + r->start, r->end - r->start, at_origin && r->start == 0, err))
            return -1;
    }
    return 0;
}

static int stage_metaspace(const tok_pretok *p, const char *s, size_t len, int at_origin,
                           tok_scratch *sc, tok_pieces *out, mp_err *err)
{
    tok_buf *b = &sc->tmp;
    b->len = 0;
    int starts_with_repl = 0;
    /* replace(' ', replacement) */
    if (len >= p->repl_len && !memcmp(s, p->repl, p->repl_len))
        starts_with_repl = 1;
    else if (len > 0 && s[0] == ' ')
        starts_with_repl = 1;
    int prepend = !starts_with_repl && (p->prepend == TOK_PREPEND_ALWAYS ||
                                        (p->prepend == TOK_PREPEND_FIRST && at_origin));
    if (prepend && tok_buf_add(b, p->repl, p->repl_len)) return err_set(err, "out of memory");
    for (size_t i = 0; i < len; i++) {
        int rc = s[i] == ' ' ? tok_buf_add(b, p->repl, p->repl_len) : tok_buf_add(b, s + i, 1);
        if (rc) return err_set(err, "out of memory");
    }
    if (!p->split)
        return b->len ? (tok_pieces_push(out, b->p, b->len, -1, at_origin)
                             ? err_set(err, "out of memory")
                             : 0)
                      : 0;
    /* Each occurrence of the replacement char is a match (HF's char Pattern), then
     * MergedWithNext. */
    tok_matches *m = &sc->matches;
    m->n = 0;
    size_t last = 0, i = 0;
    while (i < b->len) {
        if (b->len - i >= p->repl_len && !memcmp(b->p + i, p->repl, p->repl_len)) {
            tok_match gap = {last, i, 0}, hit = {i, i + p->repl_len, 1};
            for (int k = 0; k < 2; k++) {
                const tok_match *x = k ? &hit : &gap;
                if (!k && last >= i) continue;
                if (m->n == m->cap) {
                    size_t cap = m->cap ? m->cap * 2 : 64;
                    tok_match *v = realloc(m->v, cap * sizeof *v);
                    if (!v) return err_set(err, "out of memory");
                    m->v = v;
                    m->cap = cap;
                }
                m->v[m->n++] = *x;
            }
            i += p->repl_len;
            last = i;
        } else
            i++;
    }
    if (last < b->len) {
        if (m->n == m->cap) {
            size_t cap = m->cap ? m->cap * 2 : 64;
            tok_match *v = realloc(m->v, cap * sizeof *v);
            if (!v) return err_set(err, "out of memory");
            m->v = v;
            m->cap = cap;
        }
        m->v[m->n++] = (tok_match){last, b->len, 0};
    }
    apply_behavior(m, TOK_SPLIT_MERGED_NEXT);
    return push_ranges(m, b->p, at_origin, out, err);
}

int tok_pretokenize(const tokenizer *t, const char *s, size_t len, int at_origin, tok_scratch *sc,
                    tok_pieces *out, mp_err *err)
{
    if (len == 0) return 0;
    if (t->n_pre == 0)
        return tok_pieces_push(out, s, len, -1, at_origin) ? err_set(err, "out of memory") : 0;
    tok_pieces *cur = &sc->pa, *nxt = &sc->pb;
    tok_pieces_clear(cur);
    if (tok_pieces_push(cur, s, len, -1, at_origin)) return err_set(err, "out of memory");
    for (int k = 0; k < t->n_pre; k++) {
        const tok_pretok *p = &t->pre[k];
        tok_pieces *dst = (k == t->n_pre - 1) ? out : nxt;
        if (dst == nxt) tok_pieces_clear(nxt);
        for (size_t i = 0; i < cur->n; i++) {
            const tok_piece *pc = &cur->v[i];
            const char *ps = cur->text.p + pc->off;
            int rc = 0;
            switch (p->kind) {
            case TOK_PRE_SPLIT:
                rc = stage_split(p, ps, pc->len, pc->at_origin, sc, dst, err);
                break;
            case TOK_PRE_BYTELEVEL:
                rc = stage_byte_level(t, p, ps, pc->len, pc->at_origin, sc, dst, err);
                break;
            case TOK_PRE_METASPACE:
                rc = stage_metaspace(p, ps, pc->len, pc->at_origin, sc, dst, err);
                break;
            }
            if (rc) return -1;
        }
        tok_pieces *tmp = cur;
        cur = nxt;
        nxt = tmp;
    }
    return 0;
}
