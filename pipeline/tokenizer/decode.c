/* decode.c — tok_decode: ids -> token strings -> the decoder chain of
 * tokenizer.json (HF's decoders/{byte_level,metaspace,replace,byte_fallback,fuse,strip}.rs),
 * with special tokens kept (skip_special_tokens=False). For display only. */
#include <stdlib.h>
#include <string.h>

#include "pipeline/tokenizer/internal.h"

/* Appends b[0..n) to out as Rust's String::from_utf8_lossy: each maximal invalid
 * subsequence becomes one U+FFFD. */
static int add_lossy(tok_buf *out, const unsigned char *b, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t ok = tok_utf8_check((const char *)b + i, n - i);
        if (tok_buf_add(out, (const char *)b + i, ok)) return -1;
        i += ok;
        if (i >= n) break;
        /* Skip the longest prefix of a valid sequence starting at b[i]. */
        unsigned c = b[i];
        size_t need = (c >= 0xC2 && c <= 0xDF)   ? 2
                      : (c >= 0xE0 && c <= 0xEF) ? 3
                      : (c >= 0xF0 && c <= 0xF4) ? 4
                                                 : 1;
        size_t k = 1;
        if (need > 1) {
            unsigned lo = 0x80, hi = 0xBF;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
            else if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
            if (i + 1 < n && b[i + 1] >= lo && b[i + 1] <= hi) {
                k = 2;
                while (k < need && i + k < n && (b[i + k] & 0xC0) == 0x80) k++;
            }
        }
        if (tok_buf_add(out, "\xEF\xBF\xBD", 3)) return -1;
        i += k;
    }
    return 0;
}

static int push(tok_pieces *p, const char *s, size_t n)
{
    return tok_pieces_push(p, s, n, -1, 0);
}

static int dec_step(const tok_decoder *d, const tok_pieces *in, tok_pieces *out, tok_buf *tmp)
{
    tok_pieces_clear(out);
    switch (d->kind) {
    case TOK_DEC_BYTELEVEL: {
        tmp->len = 0;
        for (size_t i = 0; i < in->n; i++) {
            const char *s = in->text.p + in->v[i].off;
            size_t n = in->v[i].len, start = tmp->len;
            int all = 1;
            for (size_t j = 0; j < n;) {
                uint32_t cp;
                j += tok_utf8_next(s + j, n - j, &cp);
                int b = tok_char_byte(cp);
                if (b < 0) {
                    all = 0;
                    break;
                }
                char c = (char)b;
                if (tok_buf_add(tmp, &c, 1)) return -1;
            }
            if (!all) { /* not byte-level chars: the token's own bytes */
                tmp->len = start;
                if (tok_buf_add(tmp, s, n)) return -1;
            }
        }
        tok_buf fixed = {0};
        int rc = add_lossy(&fixed, (const unsigned char *)tmp->p, tmp->len) ||
                 push(out, fixed.p ? fixed.p : "", fixed.len);
        free(fixed.p);
        return rc ? -1 : 0;
    }
    case TOK_DEC_FUSE:
        tmp->len = 0;
        for (size_t i = 0; i < in->n; i++)
            if (tok_buf_add(tmp, in->text.p + in->v[i].off, in->v[i].len)) return -1;
        return push(out, tmp->p ? tmp->p : "", tmp->len);
    case TOK_DEC_BYTEFALLBACK: {
        tok_buf bytes = {0};
        int rc = 0;
        for (size_t i = 0; i <= in->n && !rc; i++) {
            const char *s = i < in->n ? in->text.p + in->v[i].off : "";
            size_t n = i < in->n ? in->v[i].len : 0;
            int is_byte = 0;
            unsigned v = 0;
            if (i < in->n && n == 6 && !memcmp(s, "<0x", 3) && s[5] == '>') {
                is_byte = 1;
                for (int k = 3; k < 5; k++) {
                    char c = s[k];
                    int h = (c >= '0' && c <= '9')   ? c - '0'
                            : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                            : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                                     : -1;
                    if (h < 0) is_byte = 0;
                    v = v * 16 + (unsigned)(h < 0 ? 0 : h);
                }
            }
            if (is_byte) {
                char c = (char)v;
                rc = tok_buf_add(&bytes, &c, 1);
                continue;
            }
            if (bytes.len) {
                if (tok_utf8_check(bytes.p, bytes.len) == bytes.len)
                    rc = push(out, bytes.p, bytes.len);
                else
                    for (size_t k = 0; k < bytes.len && !rc; k++) rc = push(out, "\xEF\xBF\xBD", 3);
                bytes.len = 0;
            }
            if (i < in->n && !rc) rc = push(out, s, n);
        }
        free(bytes.p);
        return rc;
    }
    default: break;
    }
    /* Per-token decoders. */
    for (size_t i = 0; i < in->n; i++) {
        const char *s = in->text.p + in->v[i].off;
        size_t n = in->v[i].len;
        tmp->len = 0;
        if (d->kind == TOK_DEC_METASPACE || d->kind == TOK_DEC_REPLACE) {
            int drop = d->kind == TOK_DEC_METASPACE && i == 0 && !d->prepend_never;
            const char *with = d->kind == TOK_DEC_METASPACE ? " " : d->b;
            size_t with_len = d->kind == TOK_DEC_METASPACE ? 1 : d->b_len;
            for (size_t j = 0; j < n;) {
                if (n - j >= d->a_len && !memcmp(s + j, d->a, d->a_len)) {
                    if (!drop && tok_buf_add(tmp, with, with_len)) return -1;
                    j += d->a_len;
                } else {
                    if (tok_buf_add(tmp, s + j, 1)) return -1;
                    j++;
                }
            }
        } else { /* Strip: up to `start` leading and `stop` trailing copies of the char */
            size_t a = 0, b = n;
            for (int k = 0; k < d->start && b - a >= d->a_len && !memcmp(s + a, d->a, d->a_len);
                 k++)
                a += d->a_len;
            for (int k = 0;
                 k < d->stop && b - a >= d->a_len && !memcmp(s + b - d->a_len, d->a, d->a_len); k++)
                b -= d->a_len;
            if (tok_buf_add(tmp, s + a, b - a)) return -1;
        }
        if (push(out, tmp->p ? tmp->p : "", tmp->len)) return -1;
    }
    return 0;
}

/* HF simple_id_to_token: a normalized added token decodes from its normalized form. */
static const char *decode_token(const tokenizer *t, int32_t id, size_t *len)
{
    const char *s = tok_id_to_token(t, id);
    if (!s) return NULL;
    *len = strlen(s);
    for (int k = 0; k < t->n_added; k++)
        if (t->added[k].id == id) {
            if (t->added[k].normalized && t->added[k].norm) {
                *len = t->added[k].norm_len;
                return t->added[k].norm;
            }
            *len = t->added[k].len;
            return t->added[k].content;
        }
    return s;
}

char *tok_decode(const tokenizer *t, const int32_t *ids, size_t n)
{
    tok_pieces a = {0}, b = {0};
    tok_buf tmp = {0}, res = {0};
    char *ret = NULL;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *s = decode_token(t, ids[i], &len);
        if (!s) continue; /* HF skips ids it does not know */
        if (t->dec_kind == TOK_DECODE_JOIN_SPACE && a.n && push(&a, " ", 1)) goto done;
        if (push(&a, s, len)) goto done;
    }
    tok_pieces *cur = &a, *nxt = &b;
    if (t && t->dec_kind == TOK_DECODE_CHAIN)
        for (int k = 0; k < t->n_dec; k++) {
            if (dec_step(&t->dec[k], cur, nxt, &tmp)) goto done;
            tok_pieces *x = cur;
            cur = nxt;
            nxt = x;
        }
    for (size_t i = 0; i < cur->n; i++)
        if (tok_buf_add(&res, cur->text.p + cur->v[i].off, cur->v[i].len)) goto done;
    if (tok_buf_add(&res, "", 1)) goto done;
    ret = res.p;
    res.p = NULL;
done:
    tok_pieces_free(&a);
    tok_pieces_free(&b);
    free(tmp.p);
    free(res.p);
    return ret;
}
