/* jsonl.c — `tokenize --stdin-jsonl`'s input: one JSON string per line (jsonl.h), read with
 * getline and decoded by jansson with the flags the command has always used (any top-level
 * value, NUL allowed), so that a non-string value gets its own message. */
#include "pipeline/tokenizer/jsonl.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* Decodes one line (trailing \r / \n already dropped) into a jansson string value. */
static json_t *parse_value(const char *line, size_t len, const char *name, long lineno, mp_err *err)
{
    json_error_t jerr;
    json_t *j = json_loadb(line, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!j) {
        err_set(err, "%s line %ld: not valid JSON (column %d): %s", name, lineno, jerr.column,
                jerr.text);
        return NULL;
    }
    if (!json_is_string(j)) {
        json_decref(j);
        err_set(err, "%s line %ld: expected a JSON string, got another JSON value", name, lineno);
        return NULL;
    }
    return j;
}

int tok_jsonl_parse(const char *line, size_t len, const char *name, long lineno, char **out,
                    size_t *out_len, mp_err *err)
{
    *out = NULL;
    *out_len = 0;
    json_t *j = parse_value(line, len, name, lineno, err);
    if (!j) return -1;
    size_t n = json_string_length(j);
    char *s = malloc(n + 1);
    if (!s) {
        json_decref(j);
        return err_set(err, "%s line %ld: out of memory", name, lineno);
    }
    memcpy(s, json_string_value(j), n);
    s[n] = '\0';
    json_decref(j);
    *out = s;
    *out_len = n;
    return 0;
}

void tok_jsonl_init(tok_jsonl *r, FILE *in, const char *name)
{
    memset(r, 0, sizeof *r);
    r->in = in;
    r->name = name ? name : "input";
}

int tok_jsonl_next(tok_jsonl *r, mp_err *err)
{
    json_decref(r->value);
    r->value = NULL;
    r->text = NULL;
    r->len = 0;
    ssize_t got = getline(&r->line, &r->cap, r->in);
    if (got < 0) {
        if (ferror(r->in)) return err_set(err, "cannot read %s", r->name);
        return 0;
    }
    r->lineno++;
    size_t len = (size_t)got;
    while (len > 0 && (r->line[len - 1] == '\n' || r->line[len - 1] == '\r')) len--;
    r->value = parse_value(r->line, len, r->name, r->lineno, err);
    if (!r->value) return -1;
    r->text = json_string_value(r->value);
    r->len = json_string_length(r->value);
    return 1;
}

void tok_jsonl_free(tok_jsonl *r)
{
    if (!r) return;
    json_decref(r->value);
    free(r->line);
    memset(r, 0, sizeof *r);
}
