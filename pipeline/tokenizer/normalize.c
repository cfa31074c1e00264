/* normalize.c — the normalizers HF applies to each piece of text between added
 * tokens: NFC (utf8proc), Prepend (only to a non-empty piece) and Replace (every
 * non-overlapping occurrence, leftmost first, of a literal string or a regex). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "pipeline/tokenizer/internal.h"

static int has_non_ascii(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0x80) return 1;
    return 0;
}

static int swap_in(tok_buf *a, tok_buf *b)
{
    tok_buf t = *a;
    *a = *b;
    *b = t;
    return 0;
}

static int norm_nfc(tok_buf *cur, tok_buf *tmp, mp_err *err)
{
    if (!has_non_ascii(cur->p, cur->len)) /* ASCII is already NFC */
        return 0;
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)cur->p, (utf8proc_ssize_t)cur->len,
                                      &dst, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (n < 0) return err_set(err, "NFC normalization failed: %s", utf8proc_errmsg(n));
    tmp->len = 0;
    int rc = tok_buf_add(tmp, (const char *)dst, (size_t)n);
    free(dst);
    if (rc) return err_set(err, "out of memory");
    return swap_in(cur, tmp);
}

static int norm_replace(const tok_normalizer *nz, tok_buf *cur, tok_buf *tmp, tok_scratch *sc,
                        mp_err *err)
{
    tmp->len = 0;
    if (nz->re) {
        pcre2_match_data *md = tok_scratch_md(sc, err);
        if (!md || tok_regex_find(nz->re, md, cur->p, cur->len, &sc->matches, err)) return -1;
        for (size_t i = 0; i < sc->matches.n; i++) {
            const tok_match *m = &sc->matches.v[i];
            int rc = m->is_match ? tok_buf_add(tmp, nz->str, nz->str_len)
                                 : tok_buf_add(tmp, cur->p + m->start, m->end - m->start);
            if (rc) return err_set(err, "out of memory");
        }
        return swap_in(cur, tmp);
    }
    size_t i = 0, last = 0;
    const size_t pl = nz->pattern_len;
    if (pl == 0 || cur->len < pl) return 0;
    while (i + pl <= cur->len) {
        if (!memcmp(cur->p + i, nz->pattern, pl)) {
            if (tok_buf_add(tmp, cur->p + last, i - last) || tok_buf_add(tmp, nz->str, nz->str_len))
                return err_set(err, "out of memory");
            i += pl;
            last = i;
        } else
            i++;
    }
    if (last == 0) return 0; /* nothing replaced */
    if (tok_buf_add(tmp, cur->p + last, cur->len - last)) return err_set(err, "out of memory");
    return swap_in(cur, tmp);
}

int tok_normalize(const tokenizer *t, const char *in, size_t len, tok_buf *out, tok_scratch *sc,
                  mp_err *err)
{
    out->len = 0;
    if (tok_buf_add(out, in, len)) return err_set(err, "out of memory");
    for (int k = 0; k < t->n_norm; k++) {
        const tok_normalizer *nz = &t->norm[k];
        switch (nz->kind) {
        case TOK_NORM_NFC:
            if (norm_nfc(out, &sc->tmp, err)) return -1;
            break;
        case TOK_NORM_PREPEND:
            if (out->len > 0) {
                sc->tmp.len = 0;
                if (tok_buf_add(&sc->tmp, nz->str, nz->str_len) ||
                    tok_buf_add(&sc->tmp, out->p, out->len))
                    return err_set(err, "out of memory");
                swap_in(out, &sc->tmp);
            }
            break;
        case TOK_NORM_REPLACE:
            if (norm_replace(nz, out, &sc->tmp, sc, err)) return -1;
            break;
        }
    }
    return 0;
}
