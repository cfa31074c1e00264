/* load.c — tok_load / tok_free and the id -> token table: reads tokenizer.json
 * with jansson and hands each part to its loader (bpe_model.c, load_parts.c,
 * added.c). The normalizer is loaded before the added tokens because tokens with
 * normalized=true are matched in their normalized form. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline/tokenizer/internal.h"

/* Whole file into memory; messages name the path. */
static char *read_file(const char *path, size_t *len, mp_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        err_set(err, "cannot open tokenizer file %s: %s", path, strerror(errno));
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        err_set(err, "%s is a directory (expected a tokenizer.json file)", path);
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set(err, "cannot open tokenizer file %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int rd_err = buf ? ferror(f) : 0;
    fclose(f);
    if (!buf) {
        err_set(err, "out of memory reading %s", path);
        return NULL;
    }
    if (rd_err) {
        free(buf);
        err_set(err, "cannot read tokenizer file %s", path);
        return NULL;
    }
    *len = n;
    return buf;
}

static int must_be_null(tokenizer *t, json_t *root, const char *key, mp_err *err)
{
    json_t *v = json_object_get(root, key);
    if (v && !json_is_null(v))
        return err_set(err, "%s: \"%s\" is set; %s is not supported (expected null)", t->path, key,
                       key);
    return 0;
}

static int build_id_table(tokenizer *t, mp_err *err)
{
    int32_t max_id = -1;
    for (uint32_t e = 0; e < t->vocab.n; e++)
        if (t->vocab.val[e] > max_id) max_id = t->vocab.val[e];
    for (int k = 0; k < t->n_added; k++)
        if (t->added[k].id > max_id) max_id = t->added[k].id;
    for (int i = 0; i < t->n_tpl; i++)
        for (int k = 0; k < t->tpl[i].n_ids; k++)
            if (t->tpl[i].ids[k] > max_id) max_id = t->tpl[i].ids[k];
    t->n_ids = max_id + 1;
    t->id_tok = calloc((size_t)(t->n_ids > 0 ? t->n_ids : 1), sizeof *t->id_tok);
    if (!t->id_tok) return err_set(err, "out of memory");
    for (uint32_t e = 0; e < t->vocab.n; e++)
        t->id_tok[t->vocab.val[e]] = tok_strmap_key(&t->vocab, e);
    for (int k = 0; k < t->n_added; k++) /* HF: the added vocabulary wins */
        t->id_tok[t->added[k].id] = t->added[k].content;
    return 0;
}

int tok_load(tokenizer **out, const char *path, mp_err *err)
{
    *out = NULL;
    size_t len = 0;
    char *buf = read_file(path, &len, err);
    if (!buf) return -1;
    int rc = tok_load_mem(out, buf, len, path, err);
    free(buf);
    return rc;
}

int tok_load_mem(tokenizer **out, const char *json, size_t len, const char *path, mp_err *err)
{
    *out = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_ALLOW_NUL, &jerr);
    if (!root)
        return err_set(err, "%s: not valid JSON (line %d, column %d, byte offset %d): %s", path,
                       jerr.line, jerr.column, jerr.position, jerr.text);
    tokenizer *t = calloc(1, sizeof *t);
    int rc = -1;
    if (!t) {
        err_set(err, "out of memory");
        goto done;
    }
    t->unk_id = -1;
    t->path = strdup(path);
    if (!t->path) {
        err_set(err, "out of memory");
        goto done;
    }
    if (!json_is_object(root)) {
        err_set(err, "%s: expected a JSON object (a Hugging Face tokenizer.json)", path);
        goto done;
    }
    json_t *version = json_object_get(root, "version");
    if (version && !(json_is_string(version) && !strcmp(json_string_value(version), "1.0"))) {
        err_set(err, "%s: tokenizer.json version %s is not supported (expected \"1.0\")", path,
                json_is_string(version) ? json_string_value(version) : "(not a string)");
        goto done;
    }
    json_t *model = json_object_get(root, "model");
    if (!model) {
        err_set(err, "%s: no \"model\" (expected a Hugging Face tokenizer.json)", path);
        goto done;
    }
    if (must_be_null(t, root, "truncation", err) || must_be_null(t, root, "padding", err) ||
        tok_load_model(t, model, err) ||
        tok_load_normalizer(t, json_object_get(root, "normalizer"), err) ||
        tok_load_pretokenizer(t, json_object_get(root, "pre_tokenizer"), err) ||
        tok_load_post_processor(t, json_object_get(root, "post_processor"), err) ||
        tok_load_decoder(t, json_object_get(root, "decoder"), err) ||
        tok_load_added(t, json_object_get(root, "added_tokens"), err) || build_id_table(t, err))
        goto done;
    *out = t;
    t = NULL;
    rc = 0;
done:
    json_decref(root);
    tok_free(t);
    return rc;
}

void tok_free(tokenizer *t)
{
    if (!t) return;
    free(t->path);
    tok_strmap_free(&t->vocab);
    tok_pairmap_free(&t->merges);
    free(t->unk_token);
    free(t->cont_prefix);
    free(t->eow_suffix);
    free(t->id_tok);
    for (int k = 0; k < t->n_added; k++) {
        free(t->added[k].content);
        free(t->added[k].norm);
    }
    free(t->added);
    tok_trie_free(&t->trie_raw);
    tok_trie_free(&t->trie_norm);
    for (int k = 0; k < t->n_norm; k++) {
        free(t->norm[k].str);
        free(t->norm[k].pattern);
        if (t->norm[k].re) pcre2_code_free(t->norm[k].re);
    }
    free(t->norm);
    for (int k = 0; k < t->n_pre; k++)
        if (t->pre[k].re) pcre2_code_free(t->pre[k].re);
    free(t->pre);
    if (t->gpt2_re) pcre2_code_free(t->gpt2_re);
    if (t->word_re) pcre2_code_free(t->word_re);
    for (int i = 0; i < t->n_tpl; i++) free(t->tpl[i].ids);
    free(t->tpl);
    for (int k = 0; k < t->n_dec; k++) {
        free(t->dec[k].a);
        free(t->dec[k].b);
    }
    free(t->dec);
    free(t);
}

int tok_vocab_size(const tokenizer *t)
{
    return t ? t->n_ids : 0;
}

const char *tok_id_to_token(const tokenizer *t, int32_t id)
{
    if (!t || id < 0 || id >= t->n_ids) return NULL;
    return t->id_tok[id];
}

int32_t tok_token_to_id(const tokenizer *t, const char *token)
{
    if (!t || !token) return -1;
    size_t len = strlen(token);
    for (int k = 0; k < t->n_added; k++)
        if (t->added[k].len == len && !memcmp(t->added[k].content, token, len))
            return t->added[k].id;
    return tok_strmap_get(&t->vocab, token, len);
}
