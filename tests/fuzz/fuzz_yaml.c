/* fuzz_yaml.c — the YAML run config through rcfg_load_text (libyaml, schema validation, every
 * problem collected). Runs from the repository root so the seeds' relative paths (models/,
 * data/lre) resolve and validation goes past the path checks. A config that loads must pack,
 * unpack and print as YAML that loads again. */
#include "pipeline/config/run_config.h"
#include "stages/analysis_def.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (chdir(fuzz_root()) != 0) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    rcfg *c = NULL;
    rcfg_problems probs = {0};
    mp_err err;
    err_init(&err);
    int rc = rcfg_load_text(&c, text, "fuzz.yaml", analysis_config_schema(), &probs, &err);
    fuzz_check_err(rc, &err);
    if (rc != 0) {
        FUZZ_REQUIRE(c == NULL, "config set on failure");
        FUZZ_REQUIRE(probs.n >= 1, "failure without problems");
        for (size_t i = 0; i < probs.n; i++) FUZZ_REQUIRE(probs.msg[i] != NULL, "NULL problem");
    } else {
        void *buf = NULL;
        size_t len = 0;
        rcfg *u = NULL;
        FUZZ_REQUIRE(rcfg_pack(c, &buf, &len, &err) == 0, "pack: %s", err.msg);
        FUZZ_REQUIRE(rcfg_unpack(&u, buf, len, analysis_config_schema(), &err) == 0, "unpack: %s",
                     err.msg);
        /* a truncated buffer must be refused, not read past */
        rcfg *v = NULL;
        mp_err e2;
        err_init(&e2);
        if (len > 1) {
            FUZZ_REQUIRE(rcfg_unpack(&v, buf, len / 2, analysis_config_schema(), &e2) != 0,
                         "half buffer accepted");
            rcfg_free(v);
        }
        char *y = rcfg_to_yaml_text(c);
        FUZZ_REQUIRE(y != NULL, "to_yaml");
        rcfg *again = NULL;
        rcfg_problems p2 = {0};
        err_init(&err);
        FUZZ_REQUIRE(rcfg_load_text(&again, y, "fuzz-effective.yaml", analysis_config_schema(), &p2,
                                    &err) == 0,
                     "effective YAML does not load again: %s", err.msg);
        rcfg_problems_free(&p2);
        rcfg_free(again);
        free(y);
        free(buf);
        rcfg_free(u);
        rcfg_free(c);
    }
    rcfg_problems_free(&probs);
    free(text);
    return 0;
}
