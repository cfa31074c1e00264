/* fuzz_index.c — model.safetensors.index.json through ckpt_open. The input becomes the index of
 * a scratch checkpoint folder that also holds the four shards of models/tiny-llama (symlinks)
 * and two small shards a.safetensors (tensors "a.0", "a.1") and b.safetensors ("b.0"), so the
 * seeds reach the cross-checks between the weight_map and the shards. */
#include <sys/stat.h>

#include "pipeline/model/checkpoint.h"
#include "tests/fuzz/fuzz_util.h"

static char g_dir[4096], g_index[4200];

static void write_shard(const char *name, const char *header, size_t data_len)
{
    char p[4300];
    size_t hl = strlen(header), n = 8 + hl + data_len;
    uint8_t *b = calloc(1, n);
    if (!b) abort();
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    fuzz_write_file(p, b, n);
    free(b);
}

static void cleanup(void)
{
    char p[4300];
    const char *names[] = {"model-00001-of-00004.safetensors",
                           "model-00002-of-00004.safetensors",
                           "model-00003-of-00004.safetensors",
                           "model-00004-of-00004.safetensors",
                           "a.safetensors",
                           "b.safetensors",
                           CKPT_INDEX};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, names[i]);
        unlink(p);
    }
    rmdir(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* the index is rewritten for every input: in memory (/dev/shm) that is ~8x faster */
    const char *tmp = getenv("FUZZ_TMPDIR");
    if (!tmp || !*tmp) tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(g_dir, sizeof g_dir, "%s/moeprobe-fuzz-index.XXXXXX", tmp);
    if (!mkdtemp(g_dir)) abort();
    atexit(cleanup);
    for (int s = 1; s <= 4; s++) {
        char src[4300], dst[4300];
        snprintf(src, sizeof src, "%s/models/tiny-llama/model-%05d-of-00004.safetensors",
                 fuzz_root(), s);
        snprintf(dst, sizeof dst, "%s/model-%05d-of-00004.safetensors", g_dir, s);
        if (symlink(src, dst) != 0) abort();
    }
    write_shard("a.safetensors",
                "{\"a.0\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"a.1\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[8,16]}}",
                16);
    write_shard("b.safetensors",
                "{\"__metadata__\":{\"format\":\"pt\"},"
                "\"b.0\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]}}",
                6);
    snprintf(g_index, sizeof g_index, "%s/%s", g_dir, CKPT_INDEX);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ckpt c;
    mp_err err;
    err_init(&err);
    fuzz_write_file(g_index, data, size);
    int rc = ckpt_open(&c, g_dir, &err);
    fuzz_check_err(rc, &err);
    if (rc == 0) {
        /* an empty weight_map opens as an empty checkpoint; the model binding then reports the
         * first missing tensor by name */
        FUZZ_REQUIRE(c.n_shards > 0 || c.n_tensors == 0, "tensors without shards");
        mp_tensor t;
        ckpt_ref ref;
        if (ckpt_find(&c, "a.0", &t, &ref)) {
            FUZZ_REQUIRE(!strcmp(ckpt_shard_name(&c, ref), "a.safetensors"), "a.0 in %s",
                         ckpt_shard_name(&c, ref));
            FUZZ_REQUIRE(!strcmp(ckpt_tensor_name(&c, ref), "a.0"), "name");
        }
        ckpt_close(&c);
    }
    return 0;
}
