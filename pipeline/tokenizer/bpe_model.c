/* bpe_model.c — loads tokenizer.json "model" (BPE only) into the vocab and merge maps,
 * with the checks of HF's BpeBuilder::build (every merge's parts and result in the vocab)
 * plus ours: ids are integers in [0, TOK_MAX_ID) and no id is used twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/tokenizer/internal.h"

static int opt_bool(tokenizer *t, json_t *m, const char *key, int *out, mp_err *err)
{
    json_t *v = json_object_get(m, key);
    *out = 0;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v))
        return err_set(err, "%s: model.%s must be true, false or null", t->path, key);
    *out = json_is_true(v);
    return 0;
}

/* NULL or a non-empty copy (an empty prefix/suffix behaves exactly like none). */
static int opt_string(tokenizer *t, json_t *m, const char *key, char **out, mp_err *err)
{
    json_t *v = json_object_get(m, key);
    *out = NULL;
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v))
        return err_set(err, "%s: model.%s must be a string or null", t->path, key);
    if (json_string_length(v) == 0) return 0;
    if (strlen(json_string_value(v)) != json_string_length(v))
        return err_set(err, "%s: model.%s contains a NUL character", t->path, key);
    *out = strdup(json_string_value(v));
    return *out ? 0 : err_set(err, "out of memory");
}

static int load_vocab(tokenizer *t, json_t *vocab, mp_err *err)
{
    if (!json_is_object(vocab))
        return err_set(err, "%s: model.vocab must be an object of token -> id", t->path);
    size_t n = json_object_size(vocab);
    if (n == 0) return err_set(err, "%s: model.vocab is empty", t->path);
    if (n >= TOK_MAX_ID)
        return err_set(err, "%s: model.vocab has %zu tokens (at most %d supported)", t->path, n,
                       TOK_MAX_ID - 1);
    /* Which id is taken by which entry, to report duplicates by name. */
    int32_t *owner = NULL;
    int32_t max_id = -1;
    int rc = -1;
    const char *key;
    size_t klen;
    json_t *val;
    size_t pool = 0;
    json_object_keylen_foreach(vocab, key, klen, val) pool += klen + 1;
    if (tok_strmap_reserve(&t->vocab, (uint32_t)n, pool)) return err_set(err, "out of memory");
    json_object_keylen_foreach(vocab, key, klen, val)
    {
        if (!json_is_integer(val)) {
            err_set(err, "%s: model.vocab[\"%.100s\"] must be an integer id", t->path, key);
            goto done;
        }
        json_int_t id = json_integer_value(val);
        if (id < 0 || id >= TOK_MAX_ID) {
            err_set(err, "%s: model.vocab[\"%.100s\"] has id %lld (expected 0 <= id < %d)", t->path,
                    key, (long long)id, TOK_MAX_ID);
            goto done;
        }
        if (tok_utf8_check(key, klen) != klen) {
            err_set(err, "%s: model.vocab key \"%.100s\" is not valid UTF-8", t->path, key);
            goto done;
        }
        int32_t old;
        int put = tok_strmap_put(&t->vocab, key, klen, (int32_t)id, &old);
        if (put < 0) {
            err_set(err, "out of memory");
            goto done;
        }
        if (id > max_id) max_id = (int32_t)id;
    }
    /* Duplicate ids would make id -> token ambiguous (HF keeps an arbitrary one). */
    owner = malloc((size_t)(max_id + 1) * sizeof *owner);
    if (!owner) {
        err_set(err, "out of memory");
        goto done;
    }
    for (int32_t i = 0; i <= max_id; i++) owner[i] = -1;
    for (uint32_t e = 0; e < t->vocab.n; e++) {
        int32_t id = t->vocab.val[e];
        if (owner[id] >= 0) {
            err_set(err,
                    "%s: model.vocab gives id %d to both \"%.100s\" and \"%.100s\" "
                    "(expected each id once)",
                    t->path, id, tok_strmap_key(&t->vocab, (uint32_t)owner[id]),
                    tok_strmap_key(&t->vocab, e));
            goto done;
        }
        owner[id] = (int32_t)e;
    }
    rc = 0;
done:
    free(owner);
    return rc;
}

static int merge_parts(tokenizer *t, json_t *item, size_t i, const char **a, size_t *alen,
                       const char **b, size_t *blen, mp_err *err)
{
    if (json_is_string(item)) {
        const char *s = json_string_value(item);
        size_t len = json_string_length(item);
        const char *sp = memchr(s, ' ', len);
        if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp + 1 - s)))
            return err_set(err,
                           "%s: model.merges[%zu] \"%.100s\" must be two tokens separated "
                           "by one space",
                           t->path, i, s);
        *a = s;
        *alen = (size_t)(sp - s);
        *b = sp + 1;
        *blen = len - *alen - 1;
        return 0;
    }
    if (json_is_array(item) && json_array_size(item) == 2 &&
        json_is_string(json_array_get(item, 0)) && json_is_string(json_array_get(item, 1))) {
        *a = json_string_value(json_array_get(item, 0));
        *alen = json_string_length(json_array_get(item, 0));
        *b = json_string_value(json_array_get(item, 1));
        *blen = json_string_length(json_array_get(item, 1));
        return 0;
    }
    return err_set(err, "%s: model.merges[%zu] must be a string \"a b\" or a pair [\"a\", \"b\"]",
                   t->path, i);
}

static int load_merges(tokenizer *t, json_t *merges, mp_err *err)
{
    if (!json_is_array(merges)) return err_set(err, "%s: model.merges must be a list", t->path);
    size_t n = json_array_size(merges);
    if (n >= TOK_MAX_ID)
        return err_set(err, "%s: model.merges has %zu entries (at most %d supported)", t->path, n,
                       TOK_MAX_ID - 1);
    if (tok_pairmap_reserve(&t->merges, (uint32_t)n)) return err_set(err, "out of memory");
    size_t plen = t->cont_prefix ? strlen(t->cont_prefix) : 0;
    tok_buf cat = {0};
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        const char *a = NULL, *b = NULL;
        size_t alen = 0, blen = 0;
        if (merge_parts(t, json_array_get(merges, i), i, &a, &alen, &b, &blen, err)) goto done;
        int32_t ia = tok_strmap_get(&t->vocab, a, alen);
        int32_t ib = tok_strmap_get(&t->vocab, b, blen);
        if (ia < 0 || ib < 0) {
            const char *miss = ia < 0 ? a : b;
            size_t mlen = ia < 0 ? alen : blen;
            err_set(err,
                    "%s: model.merges[%zu] (\"%.*s\", \"%.*s\") uses token \"%.*s\" which is "
                    "not in model.vocab",
                    t->path, i, (int)(alen > 100 ? 100 : alen), a, (int)(blen > 100 ? 100 : blen),
                    b, (int)(mlen > 100 ? 100 : mlen), miss);
            goto done;
        }
        if (blen < plen) {
            err_set(err,
                    "%s: model.merges[%zu] right token \"%.*s\" is shorter than "
                    "continuing_subword_prefix \"%s\"",
                    t->path, i, (int)(blen > 100 ? 100 : blen), b, t->cont_prefix);
            goto done;
        }
        cat.len = 0;
        if (tok_buf_add(&cat, a, alen) || tok_buf_add(&cat, b + plen, blen - plen)) {
            err_set(err, "out of memory");
            goto done;
        }
        int32_t inew = tok_strmap_get(&t->vocab, cat.p, cat.len);
        if (inew < 0) {
            err_set(err,
                    "%s: model.merges[%zu] (\"%.*s\", \"%.*s\") makes \"%.*s\" which is not in "
                    "model.vocab",
                    t->path, i, (int)(alen > 100 ? 100 : alen), a, (int)(blen > 100 ? 100 : blen),
                    b, (int)(cat.len > 200 ? 200 : cat.len), cat.p);
            goto done;
        }
        tok_pairmap_put(&t->merges, ia, ib, (int32_t)i, inew);
    }
    rc = 0;
done:
    free(cat.p);
    return rc;
}

int tok_load_model(tokenizer *t, json_t *m, mp_err *err)
{
    if (!json_is_object(m)) return err_set(err, "%s: \"model\" must be an object", t->path);
    json_t *type = json_object_get(m, "type");
    if (type && !json_is_null(type)) {
        if (!json_is_string(type)) return err_set(err, "%s: model.type must be a string", t->path);
        if (strcmp(json_string_value(type), "BPE"))
            return err_set(err, "%s: model type \"%s\" is not supported (supported: BPE)", t->path,
                           json_string_value(type));
    } else if (!json_object_get(m, "merges")) {
        return err_set(err,
                       "%s: model has no \"type\" and no \"merges\" (only BPE models are "
                       "supported)",
                       t->path);
    }
    json_t *dropout = json_object_get(m, "dropout");
    if (dropout && !json_is_null(dropout)) {
        if (!json_is_number(dropout))
            return err_set(err, "%s: model.dropout must be a number or null", t->path);
        if (json_number_value(dropout) != 0.0)
            return err_set(err,
                           "%s: model.dropout is %g; BPE dropout is random and not supported "
                           "(expected null)",
                           t->path, json_number_value(dropout));
    }
    if (opt_bool(t, m, "fuse_unk", &t->fuse_unk, err) ||
        opt_bool(t, m, "byte_fallback", &t->byte_fallback, err) ||
        opt_bool(t, m, "ignore_merges", &t->ignore_merges, err) ||
        opt_string(t, m, "continuing_subword_prefix", &t->cont_prefix, err) ||
        opt_string(t, m, "end_of_word_suffix", &t->eow_suffix, err))
        return -1;
    json_t *unk = json_object_get(m, "unk_token");
    if (unk && !json_is_null(unk)) {
        if (!json_is_string(unk))
            return err_set(err, "%s: model.unk_token must be a string or null", t->path);
        t->unk_token = strdup(json_string_value(unk));
        if (!t->unk_token) return err_set(err, "out of memory");
    }
    json_t *vocab = json_object_get(m, "vocab");
    json_t *merges = json_object_get(m, "merges");
    if (!vocab) return err_set(err, "%s: model.vocab is missing", t->path);
    if (!merges) return err_set(err, "%s: model.merges is missing", t->path);
    if (load_vocab(t, vocab, err) || load_merges(t, merges, err)) return -1;
    t->unk_id = t->unk_token ? tok_strmap_get(&t->vocab, t->unk_token, strlen(t->unk_token)) : -1;
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_fallback_id[b] = tok_strmap_get(&t->vocab, name, strlen(name));
    }
    return 0;
}
