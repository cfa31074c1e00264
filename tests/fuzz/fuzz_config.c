/* fuzz_config.c — config.json text through mcfg_parse (Hugging Face class defaults, six
 * architectures). On success the resolved values must be in range for the rest of moeprobe. */
#include "pipeline/model/model_config.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    mcfg c;
    mp_err err;
    err_init(&err);
    memset(&c, 0, sizeof c);
    int rc = mcfg_parse(&c, text, "fuzz/config.json", &err);
    fuzz_check_err(rc, &err);
    if (rc == 0) {
        FUZZ_REQUIRE(c.arch >= 0 && c.arch < ARCH_COUNT, "arch %d", (int)c.arch);
        FUZZ_REQUIRE(c.num_hidden_layers > 0 && c.num_hidden_layers <= MCFG_MAX_LAYERS, "layers %d",
                     c.num_hidden_layers);
        FUZZ_REQUIRE(c.hidden_size > 0 && c.num_attention_heads > 0 && c.head_dim > 0 &&
                         c.vocab_size > 0 && c.num_key_value_heads > 0,
                     "sizes H %d nH %d d %d V %d", c.hidden_size, c.num_attention_heads, c.head_dim,
                     c.vocab_size);
        FUZZ_REQUIRE(c.num_attention_heads % c.num_key_value_heads == 0, "nH %d nKV %d",
                     c.num_attention_heads, c.num_key_value_heads);
        if (mcfg_is_moe(&c))
            FUZZ_REQUIRE(c.num_experts_per_tok > 0 && c.num_experts_per_tok <= c.num_experts,
                         "k %d E %d", c.num_experts_per_tok, c.num_experts);
        (void)mcfg_arch_name(c.arch);
    }
    free(text);
    return 0;
}
