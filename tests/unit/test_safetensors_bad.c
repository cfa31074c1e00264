/* test_safetensors_bad.c — malformed checkpoints and configs, generated at test time into the
 * scratch folder: each must fail with -1 and one message that names the file, the tensor or key,
 * the offset or value, and what was expected. Run under `make debug` for ASan/UBSan. */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/model/checkpoint.h"
#include "tools/make_model/make_model.h"
#include "pipeline/model/model.h"
#include "pipeline/model/safetensors.h"
#include "tests/unit/check.h"

static char g_path[4200];

static const char *tmp_path(const char *name)
{
    snprintf(g_path, sizeof g_path, "%s/%s", check_tmp_dir(), name);
    return g_path;
}

static void write_raw(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fwrite(p, 1, n, f);
    fclose(f);
}

/* 8-byte length (`declared`, or the header's own length when 0), header text, data_len zero
 * bytes. */
static void write_st(const char *path, const char *header, uint64_t declared, size_t data_len)
{
    size_t hl = strlen(header);
    size_t n = 8 + hl + data_len;
    unsigned char *b = calloc(1, n);
    uint64_t N = declared ? declared : hl;
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(N >> (8 * i));
    memcpy(b + 8, header, hl);
    write_raw(path, b, n);
    free(b);
}

/* Checks that msg contains every one of the NULL-terminated substrings. */
static int has_all(const char *msg, ...)
{
    va_list ap;
    va_start(ap, msg);
    const char *s;
    int ok = 1;
    while ((s = va_arg(ap, const char *)))
        if (!strstr(msg, s)) ok = 0;
    va_end(ap);
    return ok;
}

#define EXPECT_ST(name, header, declared, data_len, ...)                                           \
    do {                                                                                           \
        const char *p_ = tmp_path(name ".safetensors");                                            \
        write_st(p_, header, declared, data_len);                                                  \
        st_file f_;                                                                                \
        mp_err e_;                                                                                 \
        err_init(&e_);                                                                             \
        int rc_ = st_open(&f_, p_, &e_);                                                           \
        CHECK(rc_ == -1 && e_.set && has_all(e_.msg, name ".safetensors", __VA_ARGS__, NULL),      \
              "bad safetensors: " name, "rc %d msg: %s", rc_, e_.msg);                             \
        if (rc_ == 0) st_close(&f_);                                                               \
    } while (0)

static void check_safetensors(void)
{
    /* a valid file first, so the failures below are about the one thing changed */
    const char *good =
        "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
        "\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"BF16\",\"shape\":[2,2],"
        "\"data_offsets\":[8,16]}}";
    const char *p = tmp_path("good.safetensors");
    write_st(p, good, 0, 16);
    st_file f;
    mp_err e;
    err_init(&e);
    int ok = st_open(&f, p, &e) == 0;
    if (CHECK(ok && f.n_entries == 2 && st_find(&f, "b") == 1 && st_find(&f, "zz") == -1 &&
                  !strcmp(st_meta(&f, "format"), "pt") && f.entries[1].shape[1] == 2,
              "good safetensors opens", "%s", e.msg))
        st_close(&f);

    unsigned char five[5] = {1, 2, 3, 4, 5};
    write_raw(tmp_path("truncated.safetensors"), five, 5);
    err_init(&e);
    ok = st_open(&f, tmp_path("truncated.safetensors"), &e);
    CHECK(ok == -1 &&
              has_all(e.msg, "truncated.safetensors", "5 bytes", "expected at least 8", NULL),
          "bad safetensors: truncated", "%s", e.msg);

    EXPECT_ST("hdr_beyond", "{}", 1000, 10, "header length 1000", "beyond the end of the file",
              "size 20", "expected at most 12");
    EXPECT_ST("hdr_huge", "{}", 1ull << 40, 10, "header length 1099511627776",
              "limit of 100000000");
    EXPECT_ST("not_json", "{\"a\": nope}", 0, 0, "not valid JSON", "file offset", "expected");
    EXPECT_ST("not_object", "[1, 2, 3]", 0, 0, "is [1,2,3]", "expected a JSON object");
    EXPECT_ST("bad_utf8", "{\"a\xff\": 1}", 0, 0, "not valid JSON", "UTF-8");
    EXPECT_ST("overlap",
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
              0, 12, "tensor \"b\"", "starts at data offset 4", "overlapping tensor \"a\"",
              "expected it to start at 8");
    EXPECT_ST("gap",
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}",
              0, 20, "tensor \"b\"", "data offset 12", "expected 8", "gap of 4 bytes");
    EXPECT_ST("gap_at_start", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
              0, 12, "tensor \"a\"", "data offset 4", "expected 0",
              "the start of the data section");
    EXPECT_ST("beyond_file", "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 0,
              8, "tensor \"a\"", "[0, 16]", "beyond the data section of 8 bytes",
              "expected end <= 8");
    EXPECT_ST("span", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 0, 8,
              "tensor \"a\"", "span 8 bytes", "expected 12", "[3] x F32");
    EXPECT_ST("trailing", "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 0,
              10, "cover 4 bytes", "holds 10", "6 unclaimed bytes", "expected none");
    EXPECT_ST("negative_dim", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,8]}}",
              0, 8, "tensor \"a\"", "shape[1] = -3", "expected a non-negative integer");
    EXPECT_ST("overflow_dim",
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
              "\"data_offsets\":[0,8]}}",
              0, 8, "tensor \"a\"", "[4294967296,4294967296,16]", "overflows");
    EXPECT_ST("too_many_dims",
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,2],\"data_offsets\":[0,8]}}", 0, 8,
              "tensor \"a\"", "5 dimensions", "expected at most 4");
    EXPECT_ST("duplicate",
              "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
              "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
              0, 16, "not valid JSON", "duplicate object key", "file offset");
    EXPECT_ST("dtype_i64", "{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 0, 8,
              "dtype I64 of tensor \"a\" is not supported (BF16, F16, F32)");
    EXPECT_ST("dtype_bool", "{\"m\":{\"dtype\":\"BOOL\",\"shape\":[8],\"data_offsets\":[0,8]}}", 0,
              8, "dtype BOOL of tensor \"m\" is not supported (BF16, F16, F32)");
    EXPECT_ST("dtype_unknown", "{\"a\":{\"dtype\":\"Q4_K\",\"shape\":[1],\"data_offsets\":[0,1]}}",
              0, 1, "tensor \"a\"", "dtype \"Q4_K\" is not a safetensors dtype");
    EXPECT_ST("begin_gt_end", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 0,
              8, "tensor \"a\"", "[8, 0]", "begin > end");
    EXPECT_ST("offsets_type", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 0,
              8, "tensor \"a\"", "\"data_offsets\" = [0]", "expected [begin, end]");
    EXPECT_ST("missing_dtype", "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 8,
              "tensor \"a\"", "no \"dtype\"");
    EXPECT_ST("meta_not_strings", "{\"__metadata__\":{\"format\":1}}", 0, 0,
              "\"__metadata__\".\"format\" = 1", "expected a string");
    EXPECT_ST("entry_not_object", "{\"a\":[1]}", 0, 0, "header entry \"a\" = [1]",
              "expected an object");
}

/* ---- checkpoint folders ------------------------------------------------------------------------ */

/* A small valid sharded checkpoint (llama fixture config, `layers` layers) in tmp/name. */
static const char *make_ckpt(const char *name, int layers)
{
    static char dir[4200];
    char cfg[4096];
    snprintf(dir, sizeof dir, "%s/%s", check_tmp_dir(), name);
    snprintf(cfg, sizeof cfg, "%s", check_shared_path("fixtures/models/llama/config.json"));
    mkm_opts o;
    mkm_opts_init(&o);
    o.config_path = cfg;
    o.out_dir = dir;
    o.layers = layers;
    o.shard_size = 400000;
    mkm_stats st;
    mp_err e;
    err_init(&e);
    if (mkm_make(&o, &st, &e) != 0 || st.n_shards < 2) {
        printf("FAIL setup %s: %s (shards %d)\n", name, e.msg, st.n_shards);
        exit(1);
    }
    return dir;
}

/* Edits DIR/FILE (JSON) with `edit`, writing it back. */
static void edit_json(const char *dir, const char *file, void (*edit)(json_t *))
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    json_t *j = json_load_file(path, 0, NULL);
    edit(j);
    json_dump_file(j, path, JSON_INDENT(1));
    json_decref(j);
}

static void wm_missing_shard(json_t *j)
{
    json_object_set_new(json_object_get(j, "weight_map"), "model.norm.weight",
                        json_string("model-00009-of-00009.safetensors"));
}
static void wm_dotdot(json_t *j)
{
    json_object_set_new(json_object_get(j, "weight_map"), "model.norm.weight",
                        json_string("../model-00001-of-00002.safetensors"));
}
static void wm_moved(json_t *j) /* names a shard that exists but lacks the tensor */
{
    json_t *wm = json_object_get(j, "weight_map");
    const char *emb = json_string_value(json_object_get(wm, "model.embed_tokens.weight"));
    const char *other = NULL, *k;
    json_t *v;
    json_object_foreach(wm, k, v) if (strcmp(json_string_value(v), emb)) other =
        json_string_value(v);
    json_object_set_new(wm, "model.embed_tokens.weight", json_string(other));
}
static void wm_unlisted(json_t *j)
{
    json_object_del(json_object_get(j, "weight_map"), "model.norm.weight");
}
static void wm_not_object(json_t *j)
{
    json_object_set_new(j, "weight_map", json_array());
}
static void cfg_two_layers(json_t *j)
{
    json_object_set_new(j, "num_hidden_layers", json_integer(2));
}
static void cfg_one_layer(json_t *j)
{
    json_object_set_new(j, "num_hidden_layers", json_integer(1));
}
static void cfg_inter(json_t *j)
{
    json_object_set_new(j, "intermediate_size", json_integer(200));
}

typedef struct ckpt_case {
    const char *name, *file;
    void (*edit)(json_t *);
    int layers;
    const char *want[4];
} ckpt_case;

static void check_checkpoints(void)
{
    static const ckpt_case C[] = {
        {"index missing shard",
         CKPT_INDEX,
         wm_missing_shard,
         1,
         {CKPT_INDEX, "model-00009-of-00009.safetensors", "does not exist", "expected the file"}},
        {"index ../ path",
         CKPT_INDEX,
         wm_dotdot,
         1,
         {CKPT_INDEX, "\"model.norm.weight\"", "../model-00001", "no '/', no '..'"}},
        {"index tensor not in its shard",
         CKPT_INDEX,
         wm_moved,
         1,
         {CKPT_INDEX, "\"model.embed_tokens.weight\"", "which does not contain it", "expected"}},
        {"shard tensor not in index",
         CKPT_INDEX,
         wm_unlisted,
         1,
         {".safetensors: tensor \"model.norm.weight\"", "data offset", "not listed in",
          "expected"}},
        {"index weight_map not object",
         CKPT_INDEX,
         wm_not_object,
         1,
         {CKPT_INDEX, "\"weight_map\" is []", "expected an object", NULL}},
        {"model tensor missing",
         "config.json",
         cfg_two_layers,
         1,
         {CKPT_INDEX, "tensor \"model.layers.1.input_layernorm.weight\" not found",
          "expected shape [128]", "LlamaForCausalLM"}},
        {"model wrong shape",
         "config.json",
         cfg_inter,
         1,
         {".safetensors: tensor \"model.layers.0.mlp.gate_proj.weight\"", "has shape [256,128]",
          "expected [200,128]", "intermediate_size"}},
        {"model unexpected tensor",
         "config.json",
         cfg_one_layer,
         2,
         {".safetensors: unexpected tensor \"model.layers.1.", "data offset",
          "num_hidden_layers = 1", "expected only the architecture's tensors"}},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "ck%zu", i);
        const char *dir = make_ckpt(name, C[i].layers);
        edit_json(dir, C[i].file, C[i].edit);
        mp_model m;
        mp_err e;
        model_init(&m);
        err_init(&e);
        int rc = model_load(&m, dir, &e);
        int ok = rc == -1 && e.set && strstr(e.msg, dir);
        for (int k = 0; k < 4 && C[i].want[k]; k++) ok &= strstr(e.msg, C[i].want[k]) != NULL;
        char cn[128];
        snprintf(cn, sizeof cn, "bad checkpoint: %s", C[i].name);
        CHECK(ok, cn, "rc %d msg: %s", rc, e.msg);
        if (rc == 0) model_free(&m);
    }
    /* a corrupt shard inside a folder is reported with the shard's path */
    const char *dir = make_ckpt("ck_corrupt", 1);
    char shard[4400];
    ckpt c;
    mp_err e;
    err_init(&e);
    if (ckpt_open(&c, dir, &e) != 0) {
        printf("FAIL setup ck_corrupt: %s\n", e.msg);
        exit(1);
    }
    snprintf(shard, sizeof shard, "%s/%s", dir, c.shard_names[0]);
    ckpt_close(&c);
    FILE *f = fopen(shard, "r+b");
    if (!f || fwrite("\xff\xff\xff\xff\xff\xff\x00\x00", 1, 8, f) != 8) {
        printf("FAIL setup ck_corrupt: cannot rewrite %s\n", shard);
        exit(1);
    }
    fclose(f);
    mp_model m;
    model_init(&m);
    err_init(&e);
    int rc = model_load(&m, dir, &e);
    CHECK(rc == -1 && has_all(e.msg, shard, "header length 281474976710655", "limit", NULL),
          "bad checkpoint: corrupt shard header", "%s", e.msg);
    /* not a checkpoint folder */
    err_init(&e);
    rc = ckpt_open(&c, check_tmp_dir(), &e);
    CHECK(rc == -1 && has_all(e.msg, "no model.safetensors", CKPT_INDEX, "expected", NULL),
          "bad checkpoint: empty folder", "%s", e.msg);
    err_init(&e);
    rc = model_load(&m, tmp_path("no-such-dir"), &e);
    CHECK(rc == -1 && has_all(e.msg, "no-such-dir", "no such file or folder", "expected", NULL),
          "bad checkpoint: missing folder", "%s", e.msg);
}

/* ---- config.json ------------------------------------------------------------------------------- */

static void check_configs(void)
{
    static const struct {
        const char *name, *json, *want[3];
    } C[] = {
        {"not JSON", "{\"architectures\": [", {"not valid JSON", "line 1", NULL}},
        {"not an object", "[1]", {"the document is [1]", "expected a JSON object", NULL}},
        {"no architecture",
         "{\"hidden_size\": 128}",
         {"\"architectures\" and \"model_type\" are both absent", "expected", NULL}},
        {"unsupported architecture",
         "{\"architectures\": [\"GPT2LMHeadModel\"]}",
         {"\"architectures\" = [\"GPT2LMHeadModel\"]", "expected one of OlmoeForCausalLM", NULL}},
        {"model_type mismatch",
         "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"mixtral\"}",
         {"\"model_type\" = \"mixtral\"", "expected \"llama\"", NULL}},
        {"wrong type",
         "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": \"128\"}",
         {"\"hidden_size\" = \"128\"", "expected an integer", NULL}},
        {"zero heads",
         "{\"architectures\": [\"LlamaForCausalLM\"], \"num_attention_heads\": 0}",
         {"\"num_attention_heads\" = 0", "expected a positive integer", NULL}},
        {"negative layers",
         "{\"architectures\": [\"LlamaForCausalLM\"], \"num_hidden_layers\": -2}",
         {"\"num_hidden_layers\" = -2", "expected a positive integer", NULL}},
        {"rope_scaling linear",
         "{\"architectures\": [\"LlamaForCausalLM\"], \"rope_scaling\": {\"type\": \"linear\", "
         "\"factor\": 2.0}}",
         {"\"rope_scaling\" = {\"type\":\"linear\",\"factor\":2.0}",
          "RoPE scaling is not supported", NULL}},
        {"rope_parameters yarn",
         "{\"architectures\": [\"Qwen2ForCausalLM\"], \"rope_parameters\": {\"rope_type\": "
         "\"yarn\"}}",
         {"\"rope_parameters\" = {\"rope_type\":\"yarn\"}", "expected null or", NULL}},
        {"hidden_act gelu",
         "{\"architectures\": [\"MistralForCausalLM\"], \"hidden_act\": \"gelu\"}",
         {"\"hidden_act\" = \"gelu\"", "expected \"silu\"", NULL}},
        {"kv heads not dividing",
         "{\"architectures\": [\"LlamaForCausalLM\"], \"num_key_value_heads\": 5}",
         {"\"num_key_value_heads\" = 5", "expected a divisor of \"num_attention_heads\" = 32",
          NULL}},
        {"hidden not multiple of heads",
         "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 100}",
         {"\"hidden_size\" = 100 is not a multiple of \"num_attention_heads\" = 32", "expected",
          NULL}},
        {"top-k above experts",
         "{\"architectures\": [\"MixtralForCausalLM\"], \"num_experts_per_tok\": 9}",
         {"\"num_experts_per_tok\" = 9", "expected at most \"num_local_experts\" = 8", NULL}},
        {"layer_types length",
         "{\"architectures\": [\"Qwen2ForCausalLM\"], \"num_hidden_layers\": 2, \"layer_types\": "
         "[\"full_attention\"]}",
         {"\"layer_types\" = [\"full_attention\"]", "expected a list of 2 entries", NULL}},
        {"bad dtype",
         "{\"architectures\": [\"LlamaForCausalLM\"], \"torch_dtype\": \"float64\"}",
         {"\"torch_dtype\" = \"float64\"", "expected one of \"bfloat16\"", NULL}},
        {"eps zero",
         "{\"architectures\": [\"LlamaForCausalLM\"], \"rms_norm_eps\": 0}",
         {"\"rms_norm_eps\" = 0", "expected a positive number", NULL}},
        {"mistral window 0",
         "{\"architectures\": [\"MistralForCausalLM\"], \"sliding_window\": 0}",
         {"\"sliding_window\" = 0", "expected null or a positive integer", NULL}},
        {"bool wrong type",
         "{\"architectures\": [\"LlamaForCausalLM\"], \"tie_word_embeddings\": 1}",
         {"\"tie_word_embeddings\" = 1", "expected true or false", NULL}},
    };
    for (size_t i = 0; i < sizeof C / sizeof C[0]; i++) {
        char file[64];
        snprintf(file, sizeof file, "cfg%zu.json", i);
        const char *path = tmp_path(file);
        write_raw(path, C[i].json, strlen(C[i].json));
        mcfg c;
        mp_err e;
        err_init(&e);
        int rc = mcfg_load(&c, path, &e);
        int ok = rc == -1 && e.set && strstr(e.msg, file) != NULL;
        for (int k = 0; k < 3 && C[i].want[k]; k++) ok &= strstr(e.msg, C[i].want[k]) != NULL;
        char cn[128];
        snprintf(cn, sizeof cn, "bad config: %s", C[i].name);
        CHECK(ok, cn, "rc %d msg: %s", rc, e.msg);
    }
}

int main(void)
{
    check_safetensors();
    check_checkpoints();
    check_configs();
    return check_finish();
}
