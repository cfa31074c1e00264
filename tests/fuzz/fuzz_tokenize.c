/* fuzz_tokenize.c — the text given to the tokenizer: tok_encode with each of the six fixture
 * tokenizers (qwen, mistral, olmo, and the tiny models' tiny-sp, tiny-qwen, tiny-neox). The
 * first byte picks add_special_tokens; the rest is the text (any bytes: invalid UTF-8 must be
 * an error naming the offset). Every id must be inside the vocabulary and decode must not
 * break. */
#include "pipeline/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

#define N_TOK 6
static tokenizer *g_tok[N_TOK];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char p[N_TOK][4300];
    snprintf(p[0], sizeof p[0], "%s/fixtures/tokenizer/qwen.tokenizer.json", fuzz_shared());
    snprintf(p[1], sizeof p[1], "%s/fixtures/tokenizer/mistral.tokenizer.json", fuzz_shared());
    snprintf(p[2], sizeof p[2], "%s/fixtures/tokenizer/olmo.tokenizer.json", fuzz_shared());
    snprintf(p[3], sizeof p[3], "%s/models/tiny-llama/tokenizer.json", fuzz_root());
    snprintf(p[4], sizeof p[4], "%s/models/tiny-qwen2moe/tokenizer.json", fuzz_root());
    snprintf(p[5], sizeof p[5], "%s/models/tiny-olmoe/tokenizer.json", fuzz_root());
    for (int i = 0; i < N_TOK; i++) {
        mp_err err;
        err_init(&err);
        if (tok_load(&g_tok[i], p[i], &err) != 0) {
            fprintf(stderr, "fuzz_tokenize: %s\n", err.msg);
            abort();
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) return 0;
    int sp = data[0] & 1;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    for (int k = 0; k < N_TOK; k++) {
        int32_t *ids = NULL;
        size_t n = 0;
        mp_err err;
        err_init(&err);
        int rc = tok_encode(g_tok[k], text, len, sp, &ids, &n, &err);
        fuzz_check_err(rc, &err);
        if (rc != 0) {
            FUZZ_REQUIRE(ids == NULL && n == 0, "ids left on failure");
            FUZZ_REQUIRE(strstr(err.msg, "offset") || strstr(err.msg, "byte"),
                         "message names no offset: %s", err.msg);
            continue;
        }
        FUZZ_REQUIRE(ids != NULL, "NULL ids on success");
        int V = tok_vocab_size(g_tok[k]);
        for (size_t i = 0; i < n; i++)
            FUZZ_REQUIRE(ids[i] >= 0 && ids[i] < V, "tokenizer %d: id %d at %zu outside 0..%d", k,
                         ids[i], i, V - 1);
        char *s = tok_decode(g_tok[k], ids, n);
        FUZZ_REQUIRE(s != NULL, "decode returned NULL");
        free(s);
        free(ids);
    }
    return 0;
}
