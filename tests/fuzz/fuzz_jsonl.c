/* fuzz_jsonl.c — `moeprobe tokenize --stdin-jsonl` (#13 point 9): the input is the whole of
 * stdin, read by tok_jsonl_next line by line as the command does, and each text is encoded with
 * the tiny-llama tokenizer (tiny-sp). A bad line must stop the reading with a message that names
 * "stdin line N"; each text must equal what tok_jsonl_parse makes of the same line, and every id
 * must lie inside the vocabulary. */
#include "pipeline/tokenizer/jsonl.h"
#include "pipeline/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

static tokenizer *g_tok;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char p[4300];
    mp_err err;
    err_init(&err);
    snprintf(p, sizeof p, "%s/models/tiny-llama/tokenizer.json", fuzz_root());
    if (tok_load(&g_tok, p, &err) != 0) {
        fprintf(stderr, "fuzz_jsonl: %s\n", err.msg);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    fuzz_memfile(data, size, path, sizeof path);
    FILE *in = fopen(path, "rb");
    FUZZ_REQUIRE(in != NULL, "cannot reopen the input");
    tok_jsonl r;
    mp_err err;
    err_init(&err);
    tok_jsonl_init(&r, in, "stdin");
    int got;
    long prev = 0;
    size_t off = 0;
    while ((got = tok_jsonl_next(&r, &err)) > 0) {
        FUZZ_REQUIRE(r.lineno == prev + 1, "line %ld after %ld", r.lineno, prev);
        prev = r.lineno;
        FUZZ_REQUIRE(r.text != NULL && r.text[r.len] == '\0', "text not terminated");
        /* the same line, split here independently, through the one-line API */
        FUZZ_REQUIRE(off < size, "a text after the end of the input");
        const uint8_t *nl = memchr(data + off, '\n', size - off);
        size_t len = nl ? (size_t)(nl - (data + off)) : size - off;
        const char *line = (const char *)data + off;
        off += len + (nl ? 1 : 0);
        while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n')) len--;
        char *t = NULL;
        size_t tl = 0;
        mp_err e2;
        err_init(&e2);
        int prc = tok_jsonl_parse(line, len, "stdin", r.lineno, &t, &tl, &e2);
        FUZZ_REQUIRE(prc == 0, "tok_jsonl_parse refused what tok_jsonl_next read: %s", e2.msg);
        FUZZ_REQUIRE(tl == r.len && memcmp(t, r.text, tl) == 0, "the two APIs disagree");
        free(t);
        int32_t *ids = NULL;
        size_t n = 0;
        mp_err e3;
        err_init(&e3);
        int rc = tok_encode(g_tok, r.text, r.len, 1, &ids, &n, &e3);
        fuzz_check_err(rc, &e3);
        int V = tok_vocab_size(g_tok);
        for (size_t i = 0; rc == 0 && i < n; i++)
            FUZZ_REQUIRE(ids[i] >= 0 && ids[i] < V, "id %d outside 0..%d", ids[i], V - 1);
        free(ids);
    }
    fuzz_check_err(got < 0 ? -1 : 0, &err);
    if (got < 0) {
        char want[64];
        snprintf(want, sizeof want, "stdin line %ld: ", prev + 1);
        FUZZ_REQUIRE(!strncmp(err.msg, want, strlen(want)), "message names no line: %s", err.msg);
    }
    tok_jsonl_free(&r);
    fclose(in);
    return 0;
}
