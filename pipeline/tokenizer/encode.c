/* encode.c — tok_encode: the stages of HF's TokenizerImpl::encode in order (see
 * internal.h), then the post-processor template. */
#include <stdlib.h>
#include <string.h>

#include "pipeline/tokenizer/internal.h"

/* Everything between the template's special tokens: the ids of one text. */
static int encode_sequence(const tokenizer *t, const char *text, size_t len, tok_scratch *sc,
                           tok_ids *out, mp_err *err)
{
    tok_pieces raw = {0}, npieces = {0}, words = {0};
    tok_buf nbuf = {0};
    int rc = -1;
    if (tok_added_split(t, &t->trie_raw, text, len, 1, &raw)) {
        err_set(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < raw.n; i++) {
        const tok_piece *rp = &raw.v[i];
        if (rp->id >= 0) {
            if (tok_ids_push(out, rp->id)) {
                err_set(err, "out of memory");
                goto done;
            }
            continue;
        }
        if (tok_normalize(t, raw.text.p + rp->off, rp->len, &nbuf, sc, err)) goto done;
        tok_pieces_clear(&npieces);
        if (tok_added_split(t, &t->trie_norm, nbuf.p, nbuf.len, rp->at_origin, &npieces)) {
            err_set(err, "out of memory");
            goto done;
        }
        for (size_t j = 0; j < npieces.n; j++) {
            const tok_piece *np = &npieces.v[j];
            if (np->id >= 0) {
                if (tok_ids_push(out, np->id)) {
                    err_set(err, "out of memory");
                    goto done;
                }
                continue;
            }
            tok_pieces_clear(&words);
            if (tok_pretokenize(t, npieces.text.p + np->off, np->len, np->at_origin, sc, &words,
                                err))
                goto done;
            for (size_t k = 0; k < words.n; k++)
                if (tok_bpe_word(t, words.text.p + words.v[k].off, words.v[k].len, sc, out, err))
                    goto done;
        }
    }
    rc = 0;
done:
    tok_pieces_free(&raw);
    tok_pieces_free(&npieces);
    tok_pieces_free(&words);
    free(nbuf.p);
    return rc;
}

int tok_encode(const tokenizer *t, const char *text, size_t len, int add_special, int32_t **ids,
               size_t *n, mp_err *err)
{
    *ids = NULL;
    *n = 0;
    if (!t) return err_set(err, "tok_encode: no tokenizer loaded");
    if (!text && len) return err_set(err, "tok_encode: text is NULL but its length is %zu", len);
    if (!text) text = "";
    size_t bad = tok_utf8_check(text, len);
    if (bad < len)
        return err_set(err,
                       "text is not valid UTF-8: invalid or truncated sequence at byte "
                       "offset %zu (byte 0x%02X)",
                       bad, (unsigned char)text[bad]);
    tok_scratch sc = {0};
    tok_ids out = {0};
    int rc = -1;
    if (!t->has_tpl) {
        if (encode_sequence(t, text, len, &sc, &out, err)) goto done;
    } else {
        for (int i = 0; i < t->n_tpl; i++) {
            const tok_tpl_item *it = &t->tpl[i];
            if (it->is_sequence) {
                if (encode_sequence(t, text, len, &sc, &out, err)) goto done;
            } else if (add_special) {
                for (int k = 0; k < it->n_ids; k++)
                    if (tok_ids_push(&out, it->ids[k])) {
                        err_set(err, "out of memory");
                        goto done;
                    }
            }
        }
    }
    if (!out.v) {
        out.v = malloc(sizeof *out.v); /* a valid pointer even for no ids */
        if (!out.v) {
            err_set(err, "out of memory");
            goto done;
        }
    }
    *ids = out.v;
    *n = out.n;
    out.v = NULL;
    rc = 0;
done:
    free(out.v);
    tok_scratch_free(&sc);
    return rc;
}
