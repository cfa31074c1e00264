/* fuzz_relations.c — an LRE relation file through lre_load; a relation that loads must build
 * the prompt of every template and sample. */
#include "pipeline/config/relations.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    lre_relation r;
    mp_err err;
    err_init(&err);
    fuzz_memfile(data, size, path, sizeof path);
    int rc = lre_load(&r, path, &err);
    fuzz_check_err(rc, &err);
    if (rc == 0) {
        FUZZ_REQUIRE(r.n_samples > 0 && r.name && r.id, "loaded relation incomplete");
        for (int kind = LRE_ZS; kind <= LRE_FS; kind++) {
            size_t nt = lre_template_count(&r, (lre_template_kind)kind);
            for (size_t t = 0; t < nt && t < 8; t++)
                for (size_t i = 0; i < r.n_samples && i < 64; i++) {
                    char *p = NULL;
                    err_init(&err);
                    int prc = lre_prompt(&r, (lre_template_kind)kind, t, i, &p, &err);
                    fuzz_check_err(prc, &err);
                    free(p);
                }
            /* out of range indices are errors, not reads */
            char *p = NULL;
            err_init(&err);
            FUZZ_REQUIRE(lre_prompt(&r, (lre_template_kind)kind, nt, 0, &p, &err) != 0,
                         "template index %zu accepted", nt);
            free(p);
        }
        lre_free(&r);
    }
    return 0;
}
