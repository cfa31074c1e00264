/* regex.c — the regexes of tokenizer.json on PCRE2. HF compiles them with
 * Oniguruma, whose escapes differ from PCRE2's in a few places; the pattern is translated so
 * that they mean what Oniguruma means:
 *   \s  White_Space (PCRE2 adds U+180E)            -> [\t-\r\x{85}\p{Z}]
 *   \w  Letter|Mark|Decimal_Number|Connector_Punct  (PCRE2 10.42: L, N and _)
 *   \h  hex digit (PCRE2: horizontal space)
 * (and \S, \W, \H outside character classes). Matching follows HF's Pattern::find_matches
 * for a regex, with onig's find_iter rule for empty matches. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/tokenizer/internal.h"

#define ONIG_S "\\t-\\r\\x{85}\\p{Z}"
#define ONIG_W "\\p{L}\\p{M}\\p{Nd}\\p{Pc}"
#define ONIG_H "0-9a-fA-F"

/* Oniguruma pattern -> PCRE2 pattern (malloc'd, *out_len bytes). NULL on out of memory. */
static char *translate(const char *pat, size_t len, size_t *out_len)
{
    tok_buf b = {0};
    int depth = 0; /* character class nesting (Oniguruma allows [a-z&&[^x]]) */
    int ok = 1;
    for (size_t i = 0; i < len && ok; i++) {
        char c = pat[i];
        if (c == '\\' && i + 1 < len) {
            char e = pat[++i];
            if (e == 'Q') { /* \Q...\E: literal text, copied as is */
                const char *end = NULL;
                for (size_t k = i + 1; k + 1 < len && !end; k++)
                    if (pat[k] == '\\' && pat[k + 1] == 'E') end = pat + k + 2;
                size_t stop = end ? (size_t)(end - pat) : len;
                ok = !tok_buf_add(&b, pat + i - 1, stop - (i - 1));
                i = stop - 1;
                continue;
            }
            const char *in = NULL, *out = NULL;
            switch (e) {
            case 's':
                in = ONIG_S;
                out = "[" ONIG_S "]";
                break;
            case 'S': out = "[^" ONIG_S "]"; break;
            case 'w':
                in = ONIG_W;
                out = "[" ONIG_W "]";
                break;
            case 'W': out = "[^" ONIG_W "]"; break;
            case 'h':
                in = ONIG_H;
                out = "[" ONIG_H "]";
                break;
            case 'H': out = "[^" ONIG_H "]"; break;
            default: break;
            }
            const char *rep = depth ? in : out;
            if (rep)
                ok = !tok_buf_add(&b, rep, strlen(rep));
            else /* any other escape (or a negated one inside a class) stays PCRE2's */
                ok = !tok_buf_add(&b, pat + i - 1, 2);
            continue;
        }
        if (c == '[') {
            if (depth && i + 1 < len && pat[i + 1] == ':') { /* POSIX [:alpha:] */
                const char *end = NULL;
                for (size_t k = i + 2; k + 1 < len && !end; k++)
                    if (pat[k] == ':' && pat[k + 1] == ']') end = pat + k + 2;
                if (end) {
                    ok = !tok_buf_add(&b, pat + i, (size_t)(end - pat) - i);
                    i = (size_t)(end - pat) - 1;
                    continue;
                }
            }
            depth++;
            ok = !tok_buf_add(&b, "[", 1);
            /* a ']' right after '[' or '[^' is a literal */
            if (ok && i + 1 < len && pat[i + 1] == '^') {
                ok = !tok_buf_add(&b, "^", 1);
                i++;
            }
            if (ok && i + 1 < len && pat[i + 1] == ']') {
                ok = !tok_buf_add(&b, "]", 1);
                i++;
            }
            continue;
        }
        if (c == ']' && depth) depth--;
        ok = !tok_buf_add(&b, &c, 1);
    }
    if (!ok) {
        free(b.p);
        return NULL;
    }
    if (!b.p && !(b.p = malloc(1))) return NULL;
    *out_len = b.len;
    return b.p;
}

pcre2_code *tok_regex_compile(const char *pat, size_t len, int literal, const char *where,
                              mp_err *err)
{
    int code;
    PCRE2_SIZE off;
    uint32_t opts = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    size_t tlen = len;
    char *tpat = literal ? NULL : translate(pat, len, &tlen);
    if (!literal && !tpat) {
        err_set(err, "out of memory");
        return NULL;
    }
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)(tpat ? tpat : pat), tlen, opts, &code, &off, NULL);
    free(tpat);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        /* the offset is in the translated pattern; the message names the original */
        err_set(err, "%s: regex \"%.*s\" does not compile: %s", where, (int)(len > 200 ? 200 : len),
                pat, (const char *)msg);
        return NULL;
    }
    /* JIT is only an accelerator: without it (unsupported platform) matching still works. */
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
    return re;
}

static int matches_push(tok_matches *m, size_t start, size_t end, int is_match)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        tok_match *v = realloc(m->v, cap * sizeof *v);
        if (!v) return -1;
        m->v = v;
        m->cap = cap;
    }
    m->v[m->n].start = start;
    m->v[m->n].end = end;
    m->v[m->n].is_match = is_match;
    m->n++;
    return 0;
}

int tok_regex_find(const pcre2_code *re, pcre2_match_data *md, const char *s, size_t len,
                   tok_matches *out, mp_err *err)
{
    out->n = 0;
    if (len == 0) return matches_push(out, 0, 0, 0) ? err_set(err, "out of memory") : 0;
    size_t prev = 0;   /* end of the last match (start of the pending gap) */
    size_t search = 0; /* where the next search starts */
    int have_last = 0;
    size_t last_end = 0;
    while (search <= len) {
        /* The text was validated as UTF-8 once; PCRE2 need not re-check it per match. */
        int rc = pcre2_match(re, (PCRE2_SPTR)s, len, search, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return err_set(err, "regex match failed at byte offset %zu: %s", search,
                           (const char *)msg);
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (ms > me || me > len) /* \K tricks; never produced by tokenizer patterns */
            return err_set(err, "regex returned an invalid match at byte offset %zu", search);
        if (ms == me && have_last && last_end == me) {
            /* onig find_iter: an empty match right after the previous match is skipped by
             * advancing one character. */
            if (search >= len) break;
            uint32_t cp;
            search += tok_utf8_next(s + search, len - search, &cp);
            continue;
        }
        if (prev != ms && matches_push(out, prev, ms, 0)) return err_set(err, "out of memory");
        if (matches_push(out, ms, me, 1)) return err_set(err, "out of memory");
        prev = me;
        have_last = 1;
        last_end = me;
        search = me;
        if (ms == me) {
            if (search >= len) break;
            uint32_t cp;
            search += tok_utf8_next(s + search, len - search, &cp);
        }
    }
    if (prev != len && matches_push(out, prev, len, 0)) return err_set(err, "out of memory");
    return 0;
}
