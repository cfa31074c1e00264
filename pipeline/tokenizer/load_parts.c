/* load_parts.c — reads the normalizer, pre_tokenizer, post_processor and decoder of
 * tokenizer.json. Supported components are listed in tokenizer.h; anything else is a load
 * error naming the component (the decoder excepted: it only affects tok_decode, which then
 * falls back to concatenating token strings). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/tokenizer/internal.h"

static const char *type_of(json_t *o)
{
    json_t *ty = json_object_get(o, "type");
    return json_is_string(ty) ? json_string_value(ty) : NULL;
}

static int dup_string(json_t *v, char **out, size_t *len)
{
    size_t n = json_string_length(v);
    *out = malloc(n + 1);
    if (!*out) return -1;
    memcpy(*out, json_string_value(v), n + 1);
    *len = n;
    return 0;
}

/* A JSON string holding exactly one Unicode char; its UTF-8 into out (NUL-terminated). */
static int one_char(json_t *v, char out[5], size_t *len)
{
    if (!json_is_string(v)) return -1;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    uint32_t cp;
    if (n == 0 || n > 4 || tok_utf8_next(s, n, &cp) != n) return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    *len = n;
    return 0;
}

static int get_bool(tokenizer *t, json_t *o, const char *what, const char *key, int dflt, int *out,
                    mp_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v))
        return err_set(err, "%s: %s.%s must be true or false", t->path, what, key);
    *out = json_is_true(v);
    return 0;
}

/* ---- normalizer ---------------------------------------------------------------------- */

static int add_normalizer(tokenizer *t, json_t *o, int depth, mp_err *err)
{
    if (depth > 8) return err_set(err, "%s: normalizer Sequences nested too deep", t->path);
    if (!json_is_object(o))
        return err_set(err, "%s: normalizer must be an object or null", t->path);
    const char *ty = type_of(o);
    if (!ty) return err_set(err, "%s: normalizer has no \"type\"", t->path);
    if (!strcmp(ty, "Sequence")) {
        json_t *list = json_object_get(o, "normalizers");
        if (!json_is_array(list))
            return err_set(err, "%s: normalizer Sequence needs a list \"normalizers\"", t->path);
        for (size_t i = 0; i < json_array_size(list); i++)
            if (add_normalizer(t, json_array_get(list, i), depth + 1, err)) return -1;
        return 0;
    }
    tok_normalizer nz;
    memset(&nz, 0, sizeof nz);
    if (!strcmp(ty, "NFC")) {
        nz.kind = TOK_NORM_NFC;
    } else if (!strcmp(ty, "Prepend")) {
        json_t *p = json_object_get(o, "prepend");
        if (!json_is_string(p))
            return err_set(err, "%s: normalizer Prepend needs a string \"prepend\"", t->path);
        nz.kind = TOK_NORM_PREPEND;
        if (dup_string(p, &nz.str, &nz.str_len)) return err_set(err, "out of memory");
    } else if (!strcmp(ty, "Replace")) {
        json_t *pat = json_object_get(o, "pattern");
        json_t *content = json_object_get(o, "content");
        json_t *ps = json_is_object(pat) ? json_object_get(pat, "String") : NULL;
        json_t *pr = json_is_object(pat) ? json_object_get(pat, "Regex") : NULL;
        if (!json_is_string(content) || !(json_is_string(ps) || json_is_string(pr)))
            return err_set(err,
                           "%s: normalizer Replace needs \"pattern\": {\"String\" or "
                           "\"Regex\": ...} and a string \"content\"",
                           t->path);
        nz.kind = TOK_NORM_REPLACE;
        if (json_is_string(ps) && json_string_length(ps) == 0)
            return err_set(err, "%s: normalizer Replace has an empty String pattern", t->path);
        if (dup_string(content, &nz.str, &nz.str_len)) return err_set(err, "out of memory");
        if (json_is_string(ps)) {
            if (dup_string(ps, &nz.pattern, &nz.pattern_len)) {
                free(nz.str);
                return err_set(err, "out of memory");
            }
        } else {
            char where[4200];
            snprintf(where, sizeof where, "%s: normalizer Replace", t->path);
            nz.re = tok_regex_compile(json_string_value(pr), json_string_length(pr), 0, where, err);
            if (!nz.re) {
                free(nz.str);
                return -1;
            }
        }
    } else {
        return err_set(err,
                       "%s: normalizer type \"%s\" is not supported (supported: NFC, Prepend, "
                       "Replace, Sequence)",
                       t->path, ty);
    }
    tok_normalizer *v = realloc(t->norm, (size_t)(t->n_norm + 1) * sizeof *v);
    if (!v) {
        free(nz.str);
        free(nz.pattern);
        if (nz.re) pcre2_code_free(nz.re);
        return err_set(err, "out of memory");
    }
    t->norm = v;
    t->norm[t->n_norm++] = nz;
    return 0;
}

int tok_load_normalizer(tokenizer *t, json_t *j, mp_err *err)
{
    if (!j || json_is_null(j)) return 0;
    return add_normalizer(t, j, 0, err);
}

/* ---- pre-tokenizer ------------------------------------------------------------------- */

static int add_pretok(tokenizer *t, json_t *o, int depth, mp_err *err)
{
    if (depth > 8) return err_set(err, "%s: pre_tokenizer Sequences nested too deep", t->path);
    if (!json_is_object(o))
        return err_set(err, "%s: pre_tokenizer must be an object or null", t->path);
    const char *ty = type_of(o);
    if (!ty) return err_set(err, "%s: pre_tokenizer has no \"type\"", t->path);
    if (!strcmp(ty, "Sequence")) {
        json_t *list = json_object_get(o, "pretokenizers");
        if (!json_is_array(list))
            return err_set(err, "%s: pre_tokenizer Sequence needs a list \"pretokenizers\"",
                           t->path);
        for (size_t i = 0; i < json_array_size(list); i++)
            if (add_pretok(t, json_array_get(list, i), depth + 1, err)) return -1;
        return 0;
    }
    tok_pretok p;
    memset(&p, 0, sizeof p);
    if (!strcmp(ty, "Split")) {
        static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious",
                                            "MergedWithNext", "Contiguous"};
        json_t *pat = json_object_get(o, "pattern");
        json_t *ps = json_is_object(pat) ? json_object_get(pat, "String") : NULL;
        json_t *pr = json_is_object(pat) ? json_object_get(pat, "Regex") : NULL;
        if (!json_is_string(ps) && !json_is_string(pr))
            return err_set(err,
                           "%s: pre_tokenizer Split needs \"pattern\": {\"String\" or "
                           "\"Regex\": ...}",
                           t->path);
        json_t *beh = json_object_get(o, "behavior");
        int b = -1;
        for (int k = 0; k < 5 && json_is_string(beh); k++)
            if (!strcmp(json_string_value(beh), names[k])) b = k;
        if (b < 0)
            return err_set(err,
                           "%s: pre_tokenizer Split behavior %s%s%s is not one of Removed, "
                           "Isolated, MergedWithPrevious, MergedWithNext, Contiguous",
                           t->path, json_is_string(beh) ? "\"" : "",
                           json_is_string(beh) ? json_string_value(beh) : "(missing)",
                           json_is_string(beh) ? "\"" : "");
        p.kind = TOK_PRE_SPLIT;
        p.behavior = (tok_split_behavior)b;
        if (get_bool(t, o, "pre_tokenizer Split", "invert", 0, &p.invert, err)) return -1;
        json_t *src = json_is_string(pr) ? pr : ps;
        char where[4200];
        snprintf(where, sizeof where, "%s: pre_tokenizer Split", t->path);
        p.re = tok_regex_compile(json_string_value(src), json_string_length(src), src == ps, where,
                                 err);
        if (!p.re) return -1;
    } else if (!strcmp(ty, "ByteLevel")) {
        p.kind = TOK_PRE_BYTELEVEL;
        if (get_bool(t, o, "pre_tokenizer ByteLevel", "add_prefix_space", 1, &p.add_prefix_space,
                     err) ||
            get_bool(t, o, "pre_tokenizer ByteLevel", "use_regex", 1, &p.use_regex, err))
            return -1;
        if (p.use_regex && !t->gpt2_re) {
            static const char gpt2[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}"
                                       "\\p{N}]+|\\s+(?!\\S)|\\s+";
            t->gpt2_re = tok_regex_compile(gpt2, sizeof gpt2 - 1, 0, t->path, err);
            if (!t->gpt2_re) return -1;
        }
    } else if (!strcmp(ty, "Metaspace")) {
        p.kind = TOK_PRE_METASPACE;
        if (one_char(json_object_get(o, "replacement"), p.repl, &p.repl_len))
            return err_set(err, "%s: pre_tokenizer Metaspace needs \"replacement\": one character",
                           t->path);
        json_t *sch = json_object_get(o, "prepend_scheme");
        p.prepend = TOK_PREPEND_ALWAYS;
        if (sch && !json_is_null(sch)) {
            const char *v = json_is_string(sch) ? json_string_value(sch) : "";
            if (!strcmp(v, "first"))
                p.prepend = TOK_PREPEND_FIRST;
            else if (!strcmp(v, "never"))
                p.prepend = TOK_PREPEND_NEVER;
            else if (strcmp(v, "always"))
                return err_set(err,
                               "%s: pre_tokenizer Metaspace prepend_scheme must be \"first\", "
                               "\"always\" or \"never\"",
                               t->path);
        }
        json_t *aps = json_object_get(o, "add_prefix_space");
        if (json_is_false(aps)) { /* legacy field, as HF's MetaspaceHelper */
            if (sch && !json_is_null(sch) && p.prepend != TOK_PREPEND_NEVER)
                return err_set(err,
                               "%s: pre_tokenizer Metaspace add_prefix_space false does not "
                               "match prepend_scheme",
                               t->path);
            p.prepend = TOK_PREPEND_NEVER;
        }
        if (get_bool(t, o, "pre_tokenizer Metaspace", "split", 1, &p.split, err)) return -1;
    } else {
        return err_set(err,
                       "%s: pre_tokenizer type \"%s\" is not supported (supported: Split, "
                       "ByteLevel, Metaspace, Sequence)",
                       t->path, ty);
    }
    tok_pretok *v = realloc(t->pre, (size_t)(t->n_pre + 1) * sizeof *v);
    if (!v) {
        if (p.re) pcre2_code_free(p.re);
        return err_set(err, "out of memory");
    }
    t->pre = v;
    t->pre[t->n_pre++] = p;
    return 0;
}

int tok_load_pretokenizer(tokenizer *t, json_t *j, mp_err *err)
{
    if (!j || json_is_null(j)) return 0;
    return add_pretok(t, j, 0, err);
}

/* ---- post-processor ------------------------------------------------------------------ */

static int load_template(tokenizer *t, json_t *o, mp_err *err)
{
    if (t->has_tpl)
        return err_set(err, "%s: post_processor has two TemplateProcessing steps (supported: one)",
                       t->path);
    json_t *single = json_object_get(o, "single");
    json_t *specials = json_object_get(o, "special_tokens");
    if (!json_is_array(single))
        return err_set(err, "%s: post_processor TemplateProcessing needs a list \"single\"",
                       t->path);
    if (specials && !json_is_null(specials) && !json_is_object(specials))
        return err_set(err,
                       "%s: post_processor TemplateProcessing special_tokens must be an "
                       "object",
                       t->path);
    size_t n = json_array_size(single);
    if (n > 1024)
        return err_set(err, "%s: post_processor template has %zu pieces (at most 1024)", t->path,
                       n);
    t->tpl = calloc(n ? n : 1, sizeof *t->tpl);
    if (!t->tpl) return err_set(err, "out of memory");
    t->has_tpl = 1;
    for (size_t i = 0; i < n; i++) {
        json_t *piece = json_array_get(single, i);
        json_t *seq = json_object_get(piece, "Sequence");
        json_t *sp = json_object_get(piece, "SpecialToken");
        tok_tpl_item *it = &t->tpl[t->n_tpl++]; /* counted now so tok_free sees its ids */
        if (json_is_object(seq)) {
            json_t *id = json_object_get(seq, "id");
            if (!json_is_string(id) || strcmp(json_string_value(id), "A"))
                return err_set(err,
                               "%s: post_processor single template piece %zu must be "
                               "Sequence \"A\" (a single sequence has no B)",
                               t->path, i);
            it->is_sequence = 1;
        } else if (json_is_object(sp)) {
            json_t *id = json_object_get(sp, "id");
            if (!json_is_string(id))
                return err_set(err, "%s: post_processor template piece %zu has no SpecialToken id",
                               t->path, i);
            json_t *def = specials ? json_object_get(specials, json_string_value(id)) : NULL;
            json_t *ids = def ? json_object_get(def, "ids") : NULL;
            if (!json_is_array(ids))
                return err_set(err,
                               "%s: post_processor template uses special token \"%s\" which "
                               "special_tokens does not define (with \"ids\")",
                               t->path, json_string_value(id));
            size_t k = json_array_size(ids);
            it->ids = malloc((k ? k : 1) * sizeof *it->ids);
            if (!it->ids) return err_set(err, "out of memory");
            for (size_t q = 0; q < k; q++) {
                json_t *v = json_array_get(ids, q);
                if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                    json_integer_value(v) >= TOK_MAX_ID)
                    return err_set(err,
                                   "%s: post_processor special token \"%s\" has a bad id "
                                   "(expected an integer 0 <= id < %d)",
                                   t->path, json_string_value(id), TOK_MAX_ID);
                it->ids[q] = (int32_t)json_integer_value(v);
                it->n_ids++;
            }
        } else {
            return err_set(err,
                           "%s: post_processor template piece %zu must be {\"Sequence\": ...} "
                           "or {\"SpecialToken\": ...}",
                           t->path, i);
        }
    }
    return 0;
}

static int add_post(tokenizer *t, json_t *o, int depth, mp_err *err)
{
    if (depth > 8) return err_set(err, "%s: post_processor Sequences nested too deep", t->path);
    if (!json_is_object(o))
        return err_set(err, "%s: post_processor must be an object or null", t->path);
    const char *ty = type_of(o);
    if (!ty) return err_set(err, "%s: post_processor has no \"type\"", t->path);
    if (!strcmp(ty, "ByteLevel")) return 0; /* only trims offsets; adds no ids */
    if (!strcmp(ty, "TemplateProcessing")) return load_template(t, o, err);
    if (!strcmp(ty, "Sequence")) {
        json_t *list = json_object_get(o, "processors");
        if (!json_is_array(list))
            return err_set(err, "%s: post_processor Sequence needs a list \"processors\"", t->path);
        for (size_t i = 0; i < json_array_size(list); i++)
            if (add_post(t, json_array_get(list, i), depth + 1, err)) return -1;
        return 0;
    }
    return err_set(err,
                   "%s: post_processor type \"%s\" is not supported (supported: "
                   "TemplateProcessing, ByteLevel, Sequence)",
                   t->path, ty);
}

int tok_load_post_processor(tokenizer *t, json_t *j, mp_err *err)
{
    if (!j || json_is_null(j)) return 0;
    return add_post(t, j, 0, err);
}

/* ---- decoder ------------------------------------------------------------------------- */

/* Returns 1 if supported and appended, 0 if unsupported, -1 on error. */
static int add_decoder(tokenizer *t, json_t *o, int depth, mp_err *err)
{
    if (depth > 8 || !json_is_object(o)) return 0;
    const char *ty = type_of(o);
    if (!ty) return 0;
    if (!strcmp(ty, "Sequence")) {
        json_t *list = json_object_get(o, "decoders");
        if (!json_is_array(list)) return 0;
        for (size_t i = 0; i < json_array_size(list); i++) {
            int rc = add_decoder(t, json_array_get(list, i), depth + 1, err);
            if (rc <= 0) return rc;
        }
        return 1;
    }
    tok_decoder d;
    memset(&d, 0, sizeof d);
    if (!strcmp(ty, "ByteLevel")) {
        d.kind = TOK_DEC_BYTELEVEL;
    } else if (!strcmp(ty, "ByteFallback")) {
        d.kind = TOK_DEC_BYTEFALLBACK;
    } else if (!strcmp(ty, "Fuse")) {
        d.kind = TOK_DEC_FUSE;
    } else if (!strcmp(ty, "Metaspace")) {
        char c[5];
        size_t n;
        if (one_char(json_object_get(o, "replacement"), c, &n)) return 0;
        d.kind = TOK_DEC_METASPACE;
        d.a = strdup(c);
        d.a_len = n;
        json_t *sch = json_object_get(o, "prepend_scheme");
        d.prepend_never = (json_is_string(sch) && !strcmp(json_string_value(sch), "never")) ||
                          json_is_false(json_object_get(o, "add_prefix_space"));
        if (!d.a) return err_set(err, "out of memory");
    } else if (!strcmp(ty, "Replace")) {
        json_t *pat = json_object_get(o, "pattern");
        json_t *ps = json_is_object(pat) ? json_object_get(pat, "String") : NULL;
        json_t *content = json_object_get(o, "content");
        if (!json_is_string(ps) || !json_is_string(content) || json_string_length(ps) == 0)
            return 0;
        d.kind = TOK_DEC_REPLACE;
        if (dup_string(ps, &d.a, &d.a_len) || dup_string(content, &d.b, &d.b_len)) {
            free(d.a);
            return err_set(err, "out of memory");
        }
    } else if (!strcmp(ty, "Strip")) {
        char c[5];
        size_t n;
        json_t *st = json_object_get(o, "start"), *sp = json_object_get(o, "stop");
        if (one_char(json_object_get(o, "content"), c, &n) || !json_is_integer(st) ||
            !json_is_integer(sp) || json_integer_value(st) < 0 || json_integer_value(sp) < 0 ||
            json_integer_value(st) > 1 << 20 || json_integer_value(sp) > 1 << 20)
            return 0;
        d.kind = TOK_DEC_STRIP;
        d.a = strdup(c);
        d.a_len = n;
        d.start = (int)json_integer_value(st);
        d.stop = (int)json_integer_value(sp);
        if (!d.a) return err_set(err, "out of memory");
    } else {
        return 0;
    }
    tok_decoder *v = realloc(t->dec, (size_t)(t->n_dec + 1) * sizeof *v);
    if (!v) {
        free(d.a);
        free(d.b);
        return err_set(err, "out of memory");
    }
    t->dec = v;
    t->dec[t->n_dec++] = d;
    return 1;
}

int tok_load_decoder(tokenizer *t, json_t *j, mp_err *err)
{
    t->n_dec = 0;
    if (!j || json_is_null(j)) {
        t->dec_kind = TOK_DECODE_JOIN_SPACE;
        return 0;
    }
    int rc = add_decoder(t, j, 0, err);
    if (rc < 0) return -1;
    t->dec_kind = rc ? TOK_DECODE_CHAIN : TOK_DECODE_CONCAT;
    return 0;
}
