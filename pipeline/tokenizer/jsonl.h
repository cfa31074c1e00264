/* jsonl.h — texts to tokenize, one JSON string per line (`moeprobe tokenize --stdin-jsonl`,
 * docs/interface.md): the line reader and parser, apart from the CLI so that it can be fuzzed
 * (tests/fuzz/fuzz_jsonl.c).
 *
 * FORMAT. Each line (ended by "\n"; trailing "\r" and "\n" are dropped; the last line may lack
 * its newline) is one JSON value that must be a string: JSON escapes are decoded, "\u0000" is
 * kept (the text has a length, not a terminator), a lone surrogate is an error. An empty line
 * is not valid JSON. Reading stops at the first bad line: the error names the source ("stdin"),
 * the 1-based line number and, for JSON syntax errors, jansson's column and reason. */
#ifndef MOEPROBE_TOK_JSONL_H
#define MOEPROBE_TOK_JSONL_H

#include <stddef.h>
#include <stdio.h>

#include "pipeline/util/error.h"

struct json_t;

typedef struct tok_jsonl {
    FILE *in;         /* not owned */
    const char *name; /* the source in messages, e.g. "stdin" (not owned) */
    long lineno;      /* 1-based number of the line last read (0 before the first) */
    const char *text; /* the current text: NUL-terminated, but may hold NULs (use len) */
    size_t len;       /* its length in bytes */
    char *line;       /* getline buffer */
    size_t cap;
    struct json_t *value; /* holds text until the next call */
} tok_jsonl;

/* Starts reading `in`; `name` names it in messages. Never fails. */
void tok_jsonl_init(tok_jsonl *r, FILE *in, const char *name);
/* The next text into r->text / r->len. Returns 1 (a text), 0 (end of input) or -1 with err:
 * "<name> line N: not valid JSON (column C): ...", "<name> line N: expected a JSON string, got
 * another JSON value", or "cannot read <name>". */
int tok_jsonl_next(tok_jsonl *r, mp_err *err);
/* Frees the buffers (not `in`). A zeroed or initialised reader is fine. */
void tok_jsonl_free(tok_jsonl *r);

/* One line's text (`len` bytes, without its newline) as a JSON string: *out (malloc'd,
 * NUL-terminated, may hold NULs) and *out_len. `name` and `lineno` only go into messages, as for
 * tok_jsonl_next. 0, or -1 with err and *out NULL. */
int tok_jsonl_parse(const char *line, size_t len, const char *name, long lineno, char **out,
                    size_t *out_len, mp_err *err);

#endif
