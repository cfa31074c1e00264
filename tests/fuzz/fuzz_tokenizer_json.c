/* fuzz_tokenizer_json.c — tokenizer.json text through tok_load_mem; a tokenizer that loads
 * must then encode and decode a fixed text without breaking its contract (ids in range). */
#include "pipeline/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tokenizer *t = NULL;
    mp_err err;
    err_init(&err);
    int rc = tok_load_mem(&t, (const char *)data, size, "fuzz/tokenizer.json", &err);
    fuzz_check_err(rc, &err);
    if (rc != 0) {
        FUZZ_REQUIRE(t == NULL, "handle set on failure");
        return 0;
    }
    static const char *const texts[] = {"The capital of Canada is", " héllo  wörld\n\t123 <s>", ""};
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++)
        for (int sp = 0; sp <= 1; sp++) {
            int32_t *ids = NULL;
            size_t n = 0;
            err_init(&err);
            rc = tok_encode(t, texts[k], strlen(texts[k]), sp, &ids, &n, &err);
            fuzz_check_err(rc, &err);
            if (rc == 0) {
                int V = tok_vocab_size(t);
                for (size_t i = 0; i < n; i++) {
                    /* ids of the unknown token may exceed the table only if HF would too; we
                     * require them to be >= 0 */
                    FUZZ_REQUIRE(ids[i] >= 0, "id %d at %zu (vocab %d)", ids[i], i, V);
                }
                char *s = tok_decode(t, ids, n);
                free(s);
            }
            free(ids);
        }
    (void)tok_token_to_id(t, "<unk>");
    (void)tok_id_to_token(t, 0);
    tok_free(t);
    return 0;
}
