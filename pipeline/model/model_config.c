/* model_config.c — see model_config.h. Reads config.json with the defaults of transformers 5's
 * configuration_{olmoe,qwen2_moe,mixtral,llama,qwen2,mistral}.py: a key that is absent takes the
 * class default; a key that is null takes what the class's __post_init__ makes of None. */
#include "pipeline/model/model_config.h"
#include "pipeline/model/limits.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Class defaults. kv = -1: num_key_value_heads defaults to num_attention_heads. */
typedef struct arch_info {
    const char *arch, *model_type;
    int vocab, hidden, inter, layers, heads, kv, max_pos;
    double eps, theta;
    int experts, topk, moe_inter, shared_inter;
    int bos, eos; /* -1 = None */
} arch_info;

/* clang-format off */
static const arch_info ARCHS[ARCH_COUNT] = {
    [ARCH_OLMOE] = {"OlmoeForCausalLM", "olmoe", 50304, 2048, 2048, 16, 16, -1, 4096, 1e-5, 1e4,
                    64, 8, 0, 0, -1, 50279},
    [ARCH_QWEN2MOE] = {"Qwen2MoeForCausalLM", "qwen2_moe", 151936, 2048, 5632, 24, 16, 16, 32768,
                       1e-6, 1e4, 60, 4, 1408, 5632, -1, -1},
    [ARCH_MIXTRAL] = {"MixtralForCausalLM", "mixtral", 32000, 4096, 14336, 32, 32, 8, 131072, 1e-5,
                      1e6, 8, 2, 0, 0, 1, 2},
    [ARCH_LLAMA] = {"LlamaForCausalLM", "llama", 32000, 4096, 11008, 32, 32, -1, 2048, 1e-6, 1e4, 0,
                    0, 0, 0, 1, 2},
    [ARCH_QWEN2] = {"Qwen2ForCausalLM", "qwen2", 151936, 4096, 22016, 32, 32, 32, 32768, 1e-6, 1e4,
                    0, 0, 0, 0, -1, -1},
    [ARCH_MISTRAL] = {"MistralForCausalLM", "mistral", 32000, 4096, 14336, 32, 32, 8, 131072, 1e-6,
                      1e4, 0, 0, 0, 0, 1, 2},
};
/* clang-format on */

#define ARCH_LIST                                                                                  \
    "OlmoeForCausalLM, Qwen2MoeForCausalLM, MixtralForCausalLM, "                                  \
    "LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM"

const char *mcfg_arch_name(mp_arch a)
{
    return (unsigned)a < ARCH_COUNT ? ARCHS[a].arch : "?";
}

int mcfg_is_moe(const mcfg *c)
{
    return c->num_experts > 0;
}

/* ---- typed access to config keys ------------------------------------------------------------ */

typedef struct cfg_ctx {
    json_t *root;
    const char *origin;
    mp_err *err;
} cfg_ctx;

enum { K_ABSENT = 0, K_VALUE = 1, K_NULL = 2 };

static void fmt_json(char *buf, size_t n, const json_t *v)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(buf, n, "%s", s ? s : "?");
    if (s && strlen(s) >= n && n > 4) memcpy(buf + n - 4, "...", 4);
    free(s);
}

static int bad(cfg_ctx *x, const char *key, const json_t *v, const char *expected)
{
    char buf[256];
    fmt_json(buf, sizeof buf, v);
    return err_set(x->err, "%s: \"%s\" = %s, expected %s", x->origin, key, buf, expected);
}

/* Returns K_ABSENT, K_NULL, K_VALUE (value in *out), or -1 (wrong type, err set). */
static int get_int(cfg_ctx *x, const char *key, long long *out)
{
    json_t *v = json_object_get(x->root, key);
    if (!v) return K_ABSENT;
    if (json_is_null(v)) return K_NULL;
    if (!json_is_integer(v)) return bad(x, key, v, "an integer");
    *out = json_integer_value(v);
    return K_VALUE;
}

static int get_num(cfg_ctx *x, json_t *obj, const char *key, double *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v) return K_ABSENT;
    if (json_is_null(v)) return K_NULL;
    if (!json_is_number(v)) return bad(x, key, v, "a number");
    *out = json_number_value(v);
    return K_VALUE;
}

static int get_bool(cfg_ctx *x, const char *key, int *out)
{
    json_t *v = json_object_get(x->root, key);
    if (!v) return K_ABSENT;
    if (json_is_null(v)) return K_NULL;
    if (!json_is_boolean(v)) return bad(x, key, v, "true or false");
    *out = json_is_true(v);
    return K_VALUE;
}

/* An integer in [lo, hi]; absent or null keeps *out (the default). */
static int read_range(cfg_ctx *x, const char *key, int *out, long long lo, long long hi,
                      const char *expected)
{
    long long v;
    int r = get_int(x, key, &v);
    if (r < 0) return -1;
    if (r != K_VALUE) return 0;
    if (v < lo || v > hi) return bad(x, key, json_object_get(x->root, key), expected);
    *out = (int)v;
    return 0;
}

#define DIM_MAX (1 << 24)
static int read_pos(cfg_ctx *x, const char *key, int *out)
{
    return read_range(x, key, out, 1, DIM_MAX, "a positive integer (at most 16777216)");
}

static int read_bool(cfg_ctx *x, const char *key, int *out)
{
    return get_bool(x, key, out) < 0 ? -1 : 0;
}

/* ---- the pieces ------------------------------------------------------------------------------ */

static int resolve_arch(cfg_ctx *x, mcfg *c)
{
    json_t *archs = json_object_get(x->root, "architectures");
    json_t *mt = json_object_get(x->root, "model_type");
    int found = -1;
    if (archs && !json_is_null(archs)) {
        if (!json_is_array(archs) || json_array_size(archs) == 0)
            return bad(x, "architectures", archs, "a list naming one of " ARCH_LIST);
        size_t i;
        json_t *a;
        json_array_foreach(archs, i, a)
        {
            if (!json_is_string(a))
                return bad(x, "architectures", archs, "a list of strings naming one of " ARCH_LIST);
            for (int k = 0; k < ARCH_COUNT && found < 0; k++)
                if (!strcmp(json_string_value(a), ARCHS[k].arch)) found = k;
        }
        if (found < 0) return bad(x, "architectures", archs, "one of " ARCH_LIST);
    }
    if (mt && !json_is_null(mt) && !json_is_string(mt))
        return bad(x, "model_type", mt, "a string such as \"mixtral\"");
    const char *mts = json_is_string(mt) ? json_string_value(mt) : NULL;
    if (found < 0) {
        if (!mts)
            return err_set(x->err,
                           "%s: \"architectures\" and \"model_type\" are both absent, "
                           "expected \"architectures\": [one of " ARCH_LIST "]",
                           x->origin);
        for (int k = 0; k < ARCH_COUNT && found < 0; k++)
            if (!strcmp(mts, ARCHS[k].model_type)) found = k;
        if (found < 0)
            return bad(x, "model_type", mt,
                       "one of olmoe, qwen2_moe, mixtral, llama, qwen2, "
                       "mistral");
    } else if (mts && strcmp(mts, ARCHS[found].model_type) != 0) {
        char expected[128];
        snprintf(expected, sizeof expected, "\"%s\" (architecture %s)", ARCHS[found].model_type,
                 ARCHS[found].arch);
        return bad(x, "model_type", mt, expected);
    }
    c->arch = (mp_arch)found;
    snprintf(c->architecture, sizeof c->architecture, "%s", ARCHS[found].arch);
    snprintf(c->model_type, sizeof c->model_type, "%s", ARCHS[found].model_type);
    return 0;
}

/* rope_scaling / rope_parameters: only plain RoPE ("default") is supported. Theta priority as
 * transformers' convert_rope_params_to_dict: rope_parameters.rope_theta, then the top-level
 * rope_theta, then the class default. */
static int read_rope(cfg_ctx *x, mcfg *c)
{
    double top = ARCHS[c->arch].theta;
    if (get_num(x, x->root, "rope_theta", &top) < 0) return -1;
    c->rope_theta = top;
    const char *keys[2] = {"rope_scaling", "rope_parameters"};
    for (int i = 0; i < 2; i++) {
        json_t *rp = json_object_get(x->root, keys[i]);
        if (!rp || json_is_null(rp)) continue;
        if (!json_is_object(rp))
            return bad(x, keys[i], rp, "null or an object with \"rope_type\": \"default\"");
        json_t *t = json_object_get(rp, "rope_type");
        if (!t) t = json_object_get(rp, "type");
        if (t && !(json_is_string(t) && !strcmp(json_string_value(t), "default")))
            return bad(x, keys[i], rp,
                       "null or \"rope_type\": \"default\" (RoPE scaling is not "
                       "supported)");
        json_t *prf = json_object_get(rp, "partial_rotary_factor");
        if (prf && !(json_is_number(prf) && json_number_value(prf) == 1.0))
            return bad(x, keys[i], rp, "no partial_rotary_factor (partial RoPE is not supported)");
        json_t *th = json_object_get(rp, "rope_theta");
        if (th && !json_is_null(th)) {
            if (!json_is_number(th)) return bad(x, keys[i], rp, "a numeric rope_theta");
            c->rope_theta = json_number_value(th);
        }
    }
    if (!(c->rope_theta > 0) || !isfinite(c->rope_theta)) {
        char buf[64];
        snprintf(buf, sizeof buf, "%g", c->rope_theta);
        return err_set(x->err, "%s: \"rope_theta\" = %s, expected a positive number", x->origin,
                       buf);
    }
    return 0;
}

static int read_eos(cfg_ctx *x, mcfg *c)
{
    c->bos_token_id = ARCHS[c->arch].bos;
    c->eos_token_id = ARCHS[c->arch].eos;
    long long v;
    int r = get_int(x, "bos_token_id", &v);
    if (r < 0) return -1;
    if (r == K_NULL) c->bos_token_id = -1;
    if (r == K_VALUE) {
        if (v < 0 || v > 0x7fffffff)
            return bad(x, "bos_token_id", json_object_get(x->root, "bos_token_id"),
                       "null or a token id >= 0");
        c->bos_token_id = (int)v;
    }
    json_t *e = json_object_get(x->root, "eos_token_id");
    if (!e) return 0;
    if (json_is_null(e)) {
        c->eos_token_id = -1;
        return 0;
    }
    json_t *first = json_is_array(e) ? json_array_get(e, 0) : e;
    if (json_is_array(e) && json_array_size(e) == 0) {
        c->eos_token_id = -1;
        return 0;
    }
    if (!json_is_integer(first) || json_integer_value(first) < 0 ||
        json_integer_value(first) > 0x7fffffff)
        return bad(x, "eos_token_id", e, "null, a token id >= 0 or a list of them");
    c->eos_token_id = (int)json_integer_value(first);
    return 0;
}

static int read_dtype(cfg_ctx *x, mcfg *c)
{
    c->torch_dtype = MP_BF16;
    const char *keys[2] = {"dtype", "torch_dtype"}; /* transformers 5 prefers `dtype` */
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(x->root, keys[i]);
        if (!v || json_is_null(v)) continue;
        if (!json_is_string(v) || dtype_parse_torch(json_string_value(v), &c->torch_dtype) != 0)
            return bad(x, keys[i], v, "one of \"bfloat16\", \"float16\", \"float32\"");
        return 0;
    }
    return 0;
}

/* Per-layer attention windows (see model_config.h). */
static int read_windows(cfg_ctx *x, mcfg *c)
{
    int L = c->num_hidden_layers;
    int use = 0, mwl = 28;
    long long w = 0;
    int wr = K_ABSENT;
    memset(c->layer_window, 0, sizeof c->layer_window);
    c->sliding_window = 0;
    if (c->arch == ARCH_OLMOE || c->arch == ARCH_LLAMA) return 0;

    wr = get_int(x, "sliding_window", &w);
    if (wr < 0) return -1;
    if (wr == K_VALUE && w < 0)
        return bad(x, "sliding_window", json_object_get(x->root, "sliding_window"),
                   "null or a non-negative integer");
    if (wr == K_ABSENT && c->arch != ARCH_MIXTRAL) {
        w = 4096; /* Mistral, Qwen2 and Qwen2-MoE class default */
        wr = K_VALUE;
    }
    if (c->arch == ARCH_MISTRAL || c->arch == ARCH_MIXTRAL) {
        if (wr == K_VALUE) {
            if (w == 0)
                return bad(x, "sliding_window", json_object_get(x->root, "sliding_window"),
                           "null or a positive integer (0 would hide every key)");
            c->sliding_window = (int)(w > 0x7fffffff ? 0x7fffffff : w);
            for (int l = 0; l < L; l++) c->layer_window[l] = c->sliding_window;
        }
        return 0;
    }
    /* Qwen family */
    if (get_bool(x, "use_sliding_window", &use) < 0) return -1;
    if (read_range(x, "max_window_layers", &mwl, 0, 0x7fffffff, "a non-negative integer") != 0)
        return -1;
    int win = (use && wr == K_VALUE) ? (int)(w > 0x7fffffff ? 0x7fffffff : w) : 0;
    json_t *lt = json_object_get(x->root, "layer_types");
    if (lt && !json_is_null(lt)) {
        if (!json_is_array(lt) || (int)json_array_size(lt) != L) {
            char expected[128];
            snprintf(expected, sizeof expected,
                     "a list of %d entries (num_hidden_layers), each "
                     "\"full_attention\" or \"sliding_attention\"",
                     L);
            return bad(x, "layer_types", lt, expected);
        }
        for (int l = 0; l < L; l++) {
            json_t *t = json_array_get(lt, (size_t)l);
            const char *s = json_is_string(t) ? json_string_value(t) : "";
            if (!strcmp(s, "sliding_attention"))
                c->layer_window[l] = win;
            else if (strcmp(s, "full_attention") != 0 && strcmp(s, "attention") != 0)
                return bad(x, "layer_types", lt,
                           "entries \"full_attention\" or "
                           "\"sliding_attention\"");
        }
    } else {
        for (int l = 0; l < L; l++) {
            int sliding = c->arch == ARCH_QWEN2 ? (use && wr == K_VALUE && l >= mwl)
                                                : (use && (l + 1) % 2 && l < mwl);
            if (sliding) c->layer_window[l] = win;
        }
    }
    for (int l = 0; l < L; l++)
        if (c->layer_window[l]) c->sliding_window = c->layer_window[l];
    return 0;
}

static int read_moe(cfg_ctx *x, mcfg *c)
{
    const arch_info *a = &ARCHS[c->arch];
    int L = c->num_hidden_layers;
    c->num_experts = a->experts;
    c->num_experts_per_tok = a->topk;
    c->norm_topk_prob = c->arch == ARCH_MIXTRAL;
    if (!a->experts) return 0;
    const char *ekey = c->arch == ARCH_MIXTRAL ? "num_local_experts" : "num_experts";
    const char *alias = c->arch == ARCH_MIXTRAL ? "num_experts" : "num_local_experts";
    if (!json_object_get(x->root, ekey) && json_object_get(x->root, alias)) ekey = alias;
    long long lo = c->arch == ARCH_QWEN2MOE ? 0 : 1; /* qwen2moe with 0 experts is dense */
    if (read_range(
            x, ekey, &c->num_experts, lo, MOEPROBE_MAX_EXPERTS,
            lo ? "a positive integer (at most " MOEPROBE_STR(MOEPROBE_MAX_EXPERTS) ")"
               : "a non-negative integer (at most " MOEPROBE_STR(MOEPROBE_MAX_EXPERTS) ")") != 0)
        return -1;
    if (read_pos(x, "num_experts_per_tok", &c->num_experts_per_tok) != 0) return -1;
    if (c->num_experts_per_tok > MOEPROBE_MAX_TOPK)
        return bad(x, "num_experts_per_tok", json_object_get(x->root, "num_experts_per_tok"),
                   "at most " MOEPROBE_STR(MOEPROBE_MAX_TOPK));
    if (c->num_experts > 0 && c->num_experts_per_tok > c->num_experts) {
        char expected[96];
        snprintf(expected, sizeof expected, "at most \"%s\" = %d", ekey, c->num_experts);
        return bad(x, "num_experts_per_tok", json_object_get(x->root, "num_experts_per_tok"),
                   expected);
    }
    if (c->arch != ARCH_MIXTRAL && read_bool(x, "norm_topk_prob", &c->norm_topk_prob) != 0)
        return -1;
    c->moe_intermediate_size = c->intermediate_size;
    if (c->arch == ARCH_QWEN2MOE) {
        c->moe_intermediate_size = a->moe_inter;
        c->shared_expert_intermediate_size = a->shared_inter;
        if (read_pos(x, "moe_intermediate_size", &c->moe_intermediate_size) != 0 ||
            read_pos(x, "shared_expert_intermediate_size", &c->shared_expert_intermediate_size) !=
                0)
            return -1;
        int step = 1;
        if (read_pos(x, "decoder_sparse_step", &step) != 0) return -1;
        json_t *mol = json_object_get(x->root, "mlp_only_layers");
        if (mol && !json_is_null(mol) && !json_is_array(mol))
            return bad(x, "mlp_only_layers", mol, "a list of layer indices");
        for (int l = 0; l < L; l++) c->layer_is_moe[l] = c->num_experts > 0 && (l + 1) % step == 0;
        size_t i;
        json_t *v;
        json_array_foreach(mol, i, v)
        {
            if (!json_is_integer(v) || json_integer_value(v) < 0)
                return bad(x, "mlp_only_layers", mol, "a list of non-negative layer indices");
            if (json_integer_value(v) < L) c->layer_is_moe[json_integer_value(v)] = 0;
        }
    } else {
        for (int l = 0; l < L; l++) c->layer_is_moe[l] = 1;
    }
    return 0;
}

static int check_shapes(cfg_ctx *x, mcfg *c)
{
    char expected[160];
    json_t *r = x->root;
    if (c->num_attention_heads > MOEPROBE_MAX_HEADS)
        return bad(x, "num_attention_heads", json_object_get(r, "num_attention_heads"),
                   "at most " MOEPROBE_STR(MOEPROBE_MAX_HEADS));
    if (c->num_attention_heads % c->num_key_value_heads != 0) {
        snprintf(expected, sizeof expected, "a divisor of \"num_attention_heads\" = %d",
                 c->num_attention_heads);
        return err_set(x->err, "%s: \"num_key_value_heads\" = %d, expected %s", x->origin,
                       c->num_key_value_heads, expected);
    }
    if (!c->head_dim) {
        if (c->hidden_size % c->num_attention_heads != 0)
            return err_set(x->err,
                           "%s: \"hidden_size\" = %d is not a multiple of "
                           "\"num_attention_heads\" = %d, expected a multiple when "
                           "\"head_dim\" is absent",
                           x->origin, c->hidden_size, c->num_attention_heads);
        c->head_dim = c->hidden_size / c->num_attention_heads;
    }
    if (c->head_dim % 2 != 0 || c->head_dim > MOEPROBE_MAX_HEAD_DIM)
        return err_set(x->err,
                       "%s: \"head_dim\" = %d, expected an even number (RoPE rotates "
                       "pairs) of at most 65536",
                       x->origin, c->head_dim);
    if (c->arch == ARCH_OLMOE && c->num_attention_heads * c->head_dim != c->hidden_size)
        return err_set(x->err,
                       "%s: \"head_dim\" = %d x \"num_attention_heads\" = %d is not "
                       "\"hidden_size\" = %d, expected equal (OLMoE's q_norm spans "
                       "hidden_size)",
                       x->origin, c->head_dim, c->num_attention_heads, c->hidden_size);
    return 0;
}

static int parse_root(mcfg *c, json_t *root, const char *origin, mp_err *err)
{
    cfg_ctx x = {root, origin, err};
    memset(c, 0, sizeof *c);
    if (!json_is_object(root)) {
        char buf[64];
        fmt_json(buf, sizeof buf, root);
        return err_set(err, "%s: the document is %s, expected a JSON object", origin, buf);
    }
    if (resolve_arch(&x, c) != 0) return -1;
    const arch_info *a = &ARCHS[c->arch];
    c->vocab_size = a->vocab;
    c->hidden_size = a->hidden;
    c->intermediate_size = a->inter;
    c->num_hidden_layers = a->layers;
    c->num_attention_heads = a->heads;
    c->max_position_embeddings = a->max_pos;
    c->rms_norm_eps = a->eps;
    c->initializer_range = 0.02;
    if (read_pos(&x, "vocab_size", &c->vocab_size) ||
        read_pos(&x, "hidden_size", &c->hidden_size) ||
        read_pos(&x, "intermediate_size", &c->intermediate_size) ||
        read_range(&x, "num_hidden_layers", &c->num_hidden_layers, 1, MCFG_MAX_LAYERS,
                   "a positive integer (at most 256)") ||
        read_pos(&x, "num_attention_heads", &c->num_attention_heads) ||
        read_pos(&x, "max_position_embeddings", &c->max_position_embeddings))
        return -1;
    long long v;
    int r = get_int(&x, "num_key_value_heads", &v);
    if (r < 0) return -1;
    c->num_key_value_heads = (r == K_ABSENT && a->kv > 0) ? a->kv : c->num_attention_heads;
    if (r == K_VALUE) {
        if (v < 1 || v > MOEPROBE_MAX_HEADS)
            return bad(&x, "num_key_value_heads", json_object_get(root, "num_key_value_heads"),
                       "a positive integer");
        c->num_key_value_heads = (int)v;
    }
    r = get_int(&x, "head_dim", &v); /* null = absent = hidden / heads */
    if (r < 0) return -1;
    if (r == K_VALUE) {
        if (v < 1 || v > MOEPROBE_MAX_HEAD_DIM)
            return bad(&x, "head_dim", json_object_get(root, "head_dim"),
                       "null or a positive integer");
        c->head_dim = (int)v;
    }
    double d;
    r = get_num(&x, root, "rms_norm_eps", &d);
    if (r < 0) return -1;
    if (r == K_VALUE) {
        if (!(d > 0) || !isfinite(d))
            return bad(&x, "rms_norm_eps", json_object_get(root, "rms_norm_eps"),
                       "a positive number");
        c->rms_norm_eps = d;
    }
    r = get_num(&x, root, "initializer_range", &d);
    if (r < 0) return -1;
    if (r == K_VALUE) {
        if (!(d >= 0) || !isfinite(d) || d > 10)
            return bad(&x, "initializer_range", json_object_get(root, "initializer_range"),
                       "a non-negative number");
        c->initializer_range = d;
    }
    json_t *act = json_object_get(root, "hidden_act");
    if (act && !json_is_null(act) &&
        !(json_is_string(act) &&
          (!strcmp(json_string_value(act), "silu") || !strcmp(json_string_value(act), "swish"))))
        return bad(&x, "hidden_act", act, "\"silu\" (the only activation supported)");
    if (read_bool(&x, "tie_word_embeddings", &c->tie_word_embeddings) != 0) return -1;
    switch (c->arch) {
    case ARCH_OLMOE:
    case ARCH_LLAMA:
        if (read_bool(&x, "attention_bias", &c->qkv_bias) != 0) return -1;
        c->o_bias = c->qkv_bias;
        if (c->arch == ARCH_LLAMA && read_bool(&x, "mlp_bias", &c->mlp_bias) != 0) return -1;
        break;
    case ARCH_QWEN2MOE:
        c->qkv_bias = 1;
        if (read_bool(&x, "qkv_bias", &c->qkv_bias) != 0) return -1;
        break;
    case ARCH_QWEN2: c->qkv_bias = 1; break;
    default: break;
    }
    if (c->arch == ARCH_OLMOE) {
        c->qk_norm = 1;
        r = get_num(&x, root, "clip_qkv", &c->clip_qkv);
        if (r < 0) return -1;
        if (r != K_VALUE)
            c->clip_qkv = 0;
        else if (!(c->clip_qkv > 0) || !isfinite(c->clip_qkv))
            return bad(&x, "clip_qkv", json_object_get(root, "clip_qkv"),
                       "null or a positive number");
    }
    if (check_shapes(&x, c) || read_rope(&x, c) || read_windows(&x, c) || read_moe(&x, c) ||
        read_eos(&x, c) || read_dtype(&x, c))
        return -1;
    return 0;
}

int mcfg_parse(mcfg *c, const char *json_text, const char *origin, mp_err *err)
{
    json_error_t jerr;
    json_t *root = json_loads(json_text, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        memset(c, 0, sizeof *c);
        return err_set(err,
                       "%s: not valid JSON: %s (line %d, column %d), expected a config.json "
                       "object",
                       origin, jerr.text, jerr.line, jerr.column);
    }
    int rc = parse_root(c, root, origin, err);
    json_decref(root);
    return rc;
}

int mcfg_load(mcfg *c, const char *path, mp_err *err)
{
    char file[4200];
    struct stat sb;
    if (stat(path, &sb) != 0) {
        memset(c, 0, sizeof *c);
        return err_set(err,
                       "%s: no such file or folder, expected a checkpoint folder or its "
                       "config.json",
                       path);
    }
    if (S_ISDIR(sb.st_mode))
        snprintf(file, sizeof file, "%s/config.json", path);
    else
        snprintf(file, sizeof file, "%s", path);
    json_error_t jerr;
    json_t *root = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        memset(c, 0, sizeof *c);
        if (stat(file, &sb) != 0)
            return err_set(err, "%s: no such file, expected the model's config.json", file);
        return err_set(err,
                       "%s: not valid JSON: %s (line %d, column %d), expected a config.json "
                       "object",
                       file, jerr.text, jerr.line, jerr.column);
    }
    int rc = parse_root(c, root, file, err);
    json_decref(root);
    return rc;
}
