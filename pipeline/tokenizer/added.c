/* added.c — added tokens (tokenizer.json "added_tokens"), as HF's
 * tokenizer/added_vocabulary.rs: ids come from the model vocab when the content is there,
 * else the next id after the model vocab (the "id" field only warns in HF); tokens with
 * normalized=false are matched on the raw text, the others on the normalized text;
 * leftmost-longest, non-overlapping matching; then single_word, lstrip and rstrip. */
#include <stdlib.h>
#include <string.h>

#include "pipeline/tokenizer/internal.h"

static int json_flag(json_t *o, const char *key, int dflt, int *out, const char *path, size_t i,
                     mp_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v))
        return err_set(err, "%s: added_tokens[%zu].%s must be true or false", path, i, key);
    *out = json_is_true(v);
    return 0;
}

int tok_load_added(tokenizer *t, json_t *arr, mp_err *err)
{
    if (!arr || json_is_null(arr))
        return (tok_trie_build(t, 0, err) || tok_trie_build(t, 1, err)) ? -1 : 0;
    if (!json_is_array(arr)) return err_set(err, "%s: added_tokens must be a list", t->path);
    size_t n = json_array_size(arr);
    if (n > (size_t)TOK_MAX_ID)
        return err_set(err, "%s: added_tokens has %zu entries (at most %d supported)", t->path, n,
                       TOK_MAX_ID);
    t->added = calloc(n ? n : 1, sizeof *t->added);
    if (!t->added) return err_set(err, "out of memory");
    /* HF: next_id = model vocab size (number of entries), not largest id + 1. */
    int64_t next_id = (int64_t)t->vocab.n;
    tok_strmap by_content;
    tok_strmap_init(&by_content);
    tok_scratch sc = {0};
    tok_buf nb = {0};
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        if (!json_is_object(o)) {
            err_set(err, "%s: added_tokens[%zu] must be an object", t->path, i);
            goto done;
        }
        json_t *c = json_object_get(o, "content");
        if (!json_is_string(c)) {
            err_set(err, "%s: added_tokens[%zu].content must be a string", t->path, i);
            goto done;
        }
        const char *content = json_string_value(c);
        size_t len = json_string_length(c);
        if (tok_utf8_check(content, len) != len) {
            err_set(err, "%s: added_tokens[%zu].content is not valid UTF-8", t->path, i);
            goto done;
        }
        int sw = 0, ls = 0, rs = 0, nz = 1, sp = 0;
        if (json_flag(o, "single_word", 0, &sw, t->path, i, err) ||
            json_flag(o, "lstrip", 0, &ls, t->path, i, err) ||
            json_flag(o, "rstrip", 0, &rs, t->path, i, err) ||
            json_flag(o, "normalized", 1, &nz, t->path, i, err) ||
            json_flag(o, "special", 0, &sp, t->path, i, err))
            goto done;
        if (len == 0) continue; /* HF ignores empty added tokens */
        int32_t id = tok_strmap_get(&by_content, content, len);
        if (id < 0) id = tok_strmap_get(&t->vocab, content, len);
        if (id < 0) {
            if (next_id >= TOK_MAX_ID) {
                err_set(err, "%s: added_tokens[%zu] would get id %lld (at most %d supported)",
                        t->path, i, (long long)next_id, TOK_MAX_ID - 1);
                goto done;
            }
            id = (int32_t)next_id++;
        }
        if (tok_strmap_put(&by_content, content, len, id, NULL) < 0) {
            err_set(err, "out of memory");
            goto done;
        }
        /* One entry per id: a later definition replaces the earlier one (HF's map by id). */
        tok_added *a = NULL;
        for (int k = 0; k < t->n_added; k++)
            if (t->added[k].id == id) a = &t->added[k];
        if (!a) a = &t->added[t->n_added++];
        free(a->content);
        free(a->norm);
        memset(a, 0, sizeof *a);
        a->content = malloc(len + 1);
        if (!a->content) {
            err_set(err, "out of memory");
            goto done;
        }
        memcpy(a->content, content, len + 1);
        a->len = len;
        a->id = id;
        a->special = (uint8_t)sp;
        a->normalized = (uint8_t)nz;
        a->lstrip = (uint8_t)ls;
        a->rstrip = (uint8_t)rs;
        a->single_word = (uint8_t)sw;
        if (nz) {
            if (tok_normalize(t, content, len, &nb, &sc, err)) {
                err_prefix(err, "%s: added_tokens[%zu]", t->path, i);
                goto done;
            }
            a->norm = malloc(nb.len + 1);
            if (!a->norm) {
                err_set(err, "out of memory");
                goto done;
            }
            if (nb.len) memcpy(a->norm, nb.p, nb.len);
            a->norm[nb.len] = '\0';
            a->norm_len = nb.len;
        }
    }
    if (tok_trie_build(t, 0, err) || tok_trie_build(t, 1, err)) goto done;
    for (int k = 0; k < t->n_added && !t->word_re; k++)
        if (t->added[k].single_word) {
            /* Rust regex's Unicode \w, which HF uses to decide what a word is. */
            static const char w[] = "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]";
            t->word_re = tok_regex_compile(w, sizeof w - 1, 0, t->path, err);
            if (!t->word_re) goto done;
        }
    rc = 0;
done:
    tok_strmap_free(&by_content);
    tok_scratch_free(&sc);
    free(nb.p);
    return rc;
}

void tok_trie_free(tok_trie *tr)
{
    free(tr->nodes);
    memset(tr, 0, sizeof *tr);
}

static int32_t trie_new_node(tok_trie *tr, uint8_t byte)
{
    if (tr->n == tr->cap) {
        int32_t cap = tr->cap ? tr->cap * 2 : 64;
        tok_trie_node *v = realloc(tr->nodes, (size_t)cap * sizeof *v);
        if (!v) return -1;
        tr->nodes = v;
        tr->cap = cap;
    }
    tok_trie_node *nd = &tr->nodes[tr->n];
    nd->child = -1;
    nd->sibling = -1;
    nd->term = -1;
    nd->byte = byte;
    return tr->n++;
}

int tok_trie_build(tokenizer *t, int which, mp_err *err)
{
    tok_trie *tr = which ? &t->trie_norm : &t->trie_raw;
    tok_trie_free(tr);
    for (int b = 0; b < 256; b++) tr->root_child[b] = -1;
    tr->empty = 1;
    if (trie_new_node(tr, 0) < 0) return err_set(err, "out of memory");
    for (int k = 0; k < t->n_added; k++) {
        const tok_added *a = &t->added[k];
        if (a->normalized != which) continue;
        const char *s = which ? a->norm : a->content;
        size_t len = which ? a->norm_len : a->len;
        if (len == 0) continue; /* normalized to nothing: can never match */
        int32_t node = 0;
        for (size_t i = 0; i < len; i++) {
            uint8_t byte = (uint8_t)s[i];
            int32_t c = node == 0 ? tr->root_child[byte] : tr->nodes[node].child;
            if (node != 0)
                while (c >= 0 && tr->nodes[c].byte != byte) c = tr->nodes[c].sibling;
            if (c < 0) {
                c = trie_new_node(tr, byte);
                if (c < 0) return err_set(err, "out of memory");
                if (node == 0)
                    tr->root_child[byte] = c;
                else {
                    tr->nodes[c].sibling = tr->nodes[node].child;
                    tr->nodes[node].child = c;
                }
            }
            node = c;
        }
        if (tr->nodes[node].term < 0) /* the same pattern twice: the first one stays */
            tr->nodes[node].term = k;
        tr->empty = 0;
    }
    return 0;
}

/* Longest token starting at s[pos]; returns its added index and sets *end, or -1. */
static int trie_longest(const tok_trie *tr, const char *s, size_t len, size_t pos, size_t *end)
{
    int32_t node = tr->root_child[(uint8_t)s[pos]];
    int best = -1;
    size_t i = pos;
    while (node >= 0) {
        i++;
        if (tr->nodes[node].term >= 0) {
            best = tr->nodes[node].term;
            *end = i;
        }
        if (i >= len) break;
        uint8_t byte = (uint8_t)s[i];
        int32_t c = tr->nodes[node].child;
        while (c >= 0 && tr->nodes[c].byte != byte) c = tr->nodes[c].sibling;
        node = c;
    }
    return best;
}

/* The last char before s[pos] (pos > 0). */
static uint32_t char_before(const char *s, size_t pos)
{
    size_t i = pos - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
    uint32_t cp;
    tok_utf8_next(s + i, pos - i, &cp);
    return cp;
}

int tok_added_split(const tokenizer *t, const tok_trie *tr, const char *s, size_t len,
                    int at_origin, tok_pieces *out)
{
    if (len == 0) return 0;
    if (tr->empty) return tok_pieces_push(out, s, len, -1, at_origin);
    size_t start_offset = 0;
    size_t pos = 0;
    while (pos < len) {
        size_t mend = 0;
        int k = trie_longest(tr, s, len, pos, &mend);
        if (k < 0) {
            pos++;
            continue;
        }
        size_t start = pos, stop = mend;
        pos = mend; /* the trie's own iteration continues after the match, kept or not */
        const tok_added *a = &t->added[k];
        if (a->single_word) {
            uint32_t cp;
            int start_space = start == 0 || !tok_is_word_char(t, char_before(s, start));
            int stop_space =
                stop == len || (tok_utf8_next(s + stop, len - stop, &cp), !tok_is_word_char(t, cp));
            if (!start_space || !stop_space) continue;
        }
        if (a->lstrip) {
            size_t ns = start;
            while (ns > 0) {
                uint32_t cp = char_before(s, ns);
                if (!tok_is_white_space(cp)) break;
                ns -= cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
            }
            start = ns > start_offset ? ns : start_offset;
        }
        if (a->rstrip) {
            while (stop < len) {
                uint32_t cp;
                size_t n = tok_utf8_next(s + stop, len - stop, &cp);
                if (!tok_is_white_space(cp)) break;
                stop += n;
            }
        }
        /* A match may start inside the spaces an earlier rstrip took; HF then emits the token
         * anyway (its text overlaps the previous one), and so do we. */
        if (start_offset < start && tok_pieces_push(out, s + start_offset, start - start_offset, -1,
                                                    at_origin && start_offset == 0))
            return -1;
        if (tok_pieces_push(out, s + start, stop - start, a->id, 0)) return -1;
        start_offset = stop;
    }
    if (start_offset < len && tok_pieces_push(out, s + start_offset, len - start_offset, -1,
                                              at_origin && start_offset == 0))
        return -1;
    return 0;
}
