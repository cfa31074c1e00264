/* test_loader.c — checkpoint loading against the six fixture models (shapes, config values,
 * known tensor bits extracted with Python's safetensors, parameter counts from the index),
 * config.json defaults and both layouts, and make-model round trips (fused vs per-expert,
 * single file, F16/F32). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/model/checkpoint.h"
#include "tools/make_model/make_model.h"
#include "pipeline/model/model.h"
#include "tests/unit/check.h"

typedef struct fixture {
    const char *name;
    mp_arch arch;
    int L, H, V, nH, nKV, E, k, norm_topk, shared, tied, window, qkv_bias;
    double theta, eps;
    int64_t params; /* index.json metadata total_parameters */
    uint64_t bytes; /* index.json metadata total_size */
} fixture;

/* clang-format off */
static const fixture FIX[] = {
    {"olmoe", ARCH_OLMOE, 4, 128, 2981, 4, 4, 16, 4, 0, 0, 0, 0, 0, 1e4, 1e-5, 2608512, 5217024},
    {"qwen2moe", ARCH_QWEN2MOE, 6, 128, 2984, 4, 4, 16, 4, 0, 256, 0, 0, 1, 1e6, 1e-6, 4123264,
     8246528},
    {"mixtral", ARCH_MIXTRAL, 6, 128, 2774, 4, 2, 8, 2, 1, 0, 0, 0, 0, 1e6, 1e-5, 5731456,
     11462912},
    {"llama", ARCH_LLAMA, 6, 128, 2774, 4, 4, 0, 0, 0, 0, 0, 0, 0, 1e4, 1e-6, 1694848, 3389696},
    {"qwen2", ARCH_QWEN2, 6, 128, 2984, 4, 2, 0, 0, 0, 0, 1, 0, 1, 1e6, 1e-6, 1269888, 2539776},
    {"mistral", ARCH_MISTRAL, 6, 128, 2774, 4, 2, 0, 0, 0, 0, 0, 8, 0, 1e4, 1e-5, 1596544,
     3193088},
};
/* clang-format on */

/* bf16 bits of elements 0, mid and last, from safetensors.safe_open at development time. */
static const struct {
    const char *model, *tensor;
    int64_t mid;
    uint16_t first, at_mid, last;
} BITS[] = {
    {"olmoe", "model.embed_tokens.weight", 190787, 0x3c93, 0xbd0f, 0xbd4b},
    {"olmoe", "model.layers.3.mlp.experts.7.up_proj.weight", 4099, 0xbd39, 0x3db1, 0xbd1d},
    {"olmoe", "model.layers.0.self_attn.q_norm.weight", 67, 0x3f81, 0x3f81, 0x3f80},
    {"olmoe", "model.layers.1.mlp.gate.weight", 1027, 0xbc4c, 0xbcdb, 0x3c8f},
    {"qwen2moe", "model.layers.2.mlp.shared_expert_gate.weight", 67, 0x3d5f, 0xbc7b, 0x3c48},
    {"qwen2moe", "model.layers.5.mlp.experts.15.down_proj.weight", 4099, 0xbd14, 0xbd32, 0xbbfc},
    {"qwen2moe", "model.layers.0.self_attn.q_proj.bias", 67, 0xbd09, 0xbcb4, 0x3cef},
    {"mixtral", "model.layers.4.block_sparse_moe.experts.3.w2.weight", 16387, 0xbd16, 0x3d03,
     0x3d4d},
    {"mixtral", "model.layers.4.block_sparse_moe.experts.3.w3.weight", 16387, 0x3ba9, 0xbb34,
     0x3b8c},
    {"mixtral", "lm_head.weight", 177539, 0x3d51, 0xbd2f, 0x3db0},
    {"llama", "model.layers.5.mlp.down_proj.weight", 16387, 0xbd6d, 0x3cce, 0x3b9d},
    {"llama", "model.norm.weight", 67, 0x3f9a, 0x3f9d, 0x3f9a},
    {"qwen2", "model.embed_tokens.weight", 190979, 0xbcb9, 0x3d2c, 0x3cc2},
    {"qwen2", "model.layers.1.self_attn.k_proj.bias", 35, 0x3d8d, 0xbd9e, 0xbc34},
    {"mistral", "model.layers.2.self_attn.o_proj.weight", 8195, 0x3d07, 0xbc57, 0x3afb},
};

static uint16_t bits_at(const mp_tensor *t, int64_t i)
{
    uint16_t v;
    memcpy(&v, (const char *)t->data + 2 * i, 2);
    return v;
}

static const void *find_data(const mp_model *m, const char *name)
{
    mp_tensor t;
    return ckpt_find(m->ck, name, &t, NULL) ? t.data : NULL;
}

static void check_fixture(const fixture *f)
{
    char dir[4096], nm[256];
    snprintf(dir, sizeof dir, "%s", check_shared_path("fixtures/models/"));
    strncat(dir, f->name, sizeof dir - strlen(dir) - 1);
    mp_model m;
    mp_err err;
    err_init(&err);
    model_init(&m);
#define N(s) (snprintf(nm, sizeof nm, "%s %s", f->name, s), nm)
    if (!CHECK(model_load(&m, dir, &err) == 0, N("loads"), "%s", err.msg)) return;
    const mcfg *c = &m.cfg;
    CHECK(c->arch == f->arch && !strcmp(c->architecture, mcfg_arch_name(f->arch)), N("arch"),
          "got %s", c->architecture);
    CHECK(c->num_hidden_layers == f->L && c->hidden_size == f->H && c->vocab_size == f->V,
          N("L H V"), "L %d H %d V %d", c->num_hidden_layers, c->hidden_size, c->vocab_size);
    CHECK(c->num_attention_heads == f->nH && c->num_key_value_heads == f->nKV &&
              c->head_dim == f->H / f->nH,
          N("heads"), "nH %d nKV %d d %d", c->num_attention_heads, c->num_key_value_heads,
          c->head_dim);
    CHECK(c->num_experts == f->E && c->num_experts_per_tok == f->k &&
              c->norm_topk_prob == f->norm_topk && c->shared_expert_intermediate_size == f->shared,
          N("experts"), "E %d k %d renorm %d shared %d", c->num_experts, c->num_experts_per_tok,
          c->norm_topk_prob, c->shared_expert_intermediate_size);
    CHECK(c->rope_theta == f->theta && c->rms_norm_eps == f->eps, N("theta eps"), "theta %g eps %g",
          c->rope_theta, c->rms_norm_eps);
    int win_ok = c->sliding_window == f->window;
    for (int l = 0; l < c->num_hidden_layers; l++) win_ok &= c->layer_window[l] == f->window;
    CHECK(win_ok, N("window"), "sliding_window %d layer0 %d, expected %d", c->sliding_window,
          c->layer_window[0], f->window);
    CHECK(c->qkv_bias == f->qkv_bias && (m.layers[0].q_bias.data != NULL) == f->qkv_bias,
          N("qkv bias"), "qkv_bias %d", c->qkv_bias);
    CHECK(c->tie_word_embeddings == f->tied && (f->tied ? m.lm_head.data == m.embed_tokens.data
                                                        : m.lm_head.data != m.embed_tokens.data),
          N("lm_head tied"), "tied %d", c->tie_word_embeddings);
    CHECK(model_param_count(&m) == f->params, N("param count = index total_parameters"),
          "%lld vs %lld", (long long)model_param_count(&m), (long long)f->params);
    CHECK(m.ck->total_bytes == f->bytes && m.ck->index_total_size == (int64_t)f->bytes,
          N("bytes = index total_size"), "%llu vs %llu", (unsigned long long)m.ck->total_bytes,
          (unsigned long long)f->bytes);
    CHECK(m.ck->bytes_by_dtype[MP_BF16] == f->bytes, N("all BF16"), "bf16 bytes %llu",
          (unsigned long long)m.ck->bytes_by_dtype[MP_BF16]);
    /* active = total - (E-k) experts per MoE layer */
    int64_t I = c->moe_intermediate_size, per = 3 * I * f->H;
    int64_t active = f->params - (int64_t)f->L * (f->E - f->k) * per;
    CHECK(model_active_param_count(&m) == (f->E ? active : f->params), N("active params"),
          "%lld vs %lld", (long long)model_active_param_count(&m), (long long)active);
    if (f->E) {
        CHECK(model_expert_bytes(&m, 1, f->E - 1) == (size_t)per * 2 &&
                  model_expert_bytes(&m, f->L, 0) == 0 && model_expert_bytes(&m, 0, f->E) == 0,
              N("expert bytes"), "%zu", model_expert_bytes(&m, 1, f->E - 1));
        const mp_layer *ly = &m.layers[3];
        const char *p = f->arch == ARCH_MIXTRAL ? "block_sparse_moe" : "mlp";
        const char *g = f->arch == ARCH_MIXTRAL ? "w1" : "gate_proj";
        const char *u = f->arch == ARCH_MIXTRAL ? "w3" : "up_proj";
        const char *d = f->arch == ARCH_MIXTRAL ? "w2" : "down_proj";
        char a[160], b[160], e[160], r[160];
        snprintf(a, sizeof a, "model.layers.3.%s.experts.%d.%s.weight", p, f->E - 1, g);
        snprintf(b, sizeof b, "model.layers.3.%s.experts.%d.%s.weight", p, f->E - 1, u);
        snprintf(e, sizeof e, "model.layers.3.%s.experts.%d.%s.weight", p, f->E - 1, d);
        snprintf(r, sizeof r, "model.layers.3.%s.gate.weight", p);
        const mp_mlp *x = &ly->experts[f->E - 1];
        CHECK(ly->is_moe && x->gate_proj.data == find_data(&m, a) &&
                  x->up_proj.data == find_data(&m, b) && x->down_proj.data == find_data(&m, e) &&
                  ly->router.data == find_data(&m, r) && x->down_proj.shape[0] == f->H &&
                  x->down_proj.shape[1] == I && x->up_proj.shape[0] == I,
              N("expert views bound by name (gate/up/down)"), "layer 3 expert %d", f->E - 1);
    }
    for (size_t i = 0; i < sizeof BITS / sizeof BITS[0]; i++) {
        if (strcmp(BITS[i].model, f->name)) continue;
        mp_tensor t;
        char cn[300];
        snprintf(cn, sizeof cn, "%s value bits %s", f->name, BITS[i].tensor);
        int found = ckpt_find(m.ck, BITS[i].tensor, &t, NULL);
        int64_t n = found ? tensor_numel(&t) : 0;
        CHECK(found && bits_at(&t, 0) == BITS[i].first &&
                  bits_at(&t, BITS[i].mid) == BITS[i].at_mid && bits_at(&t, n - 1) == BITS[i].last,
              cn, "found %d: %04x %04x %04x", found, found ? bits_at(&t, 0) : 0,
              found ? bits_at(&t, BITS[i].mid) : 0, found ? bits_at(&t, n - 1) : 0);
    }
    if (f->arch == ARCH_OLMOE)
        CHECK(m.layers[0].q_norm.shape[0] == f->nH * (f->H / f->nH) &&
                  m.layers[0].k_norm.shape[0] == f->nKV * (f->H / f->nH),
              N("q_norm/k_norm full width"), "%lld %lld", (long long)m.layers[0].q_norm.shape[0],
              (long long)m.layers[0].k_norm.shape[0]);
    model_free(&m);
#undef N
}

/* ---- config.json: defaults, layouts, window rules -------------------------------------------- */

static int parse(mcfg *c, const char *json, mp_err *err)
{
    err_init(err);
    return mcfg_parse(c, json, "config.json", err);
}

static void check_configs(void)
{
    mcfg c;
    mp_err err;
    /* Defaults of each class when only the architecture is given. */
    int ok = parse(&c, "{\"architectures\": [\"MixtralForCausalLM\"]}", &err) == 0;
    CHECK(ok && c.hidden_size == 4096 && c.num_hidden_layers == 32 && c.num_key_value_heads == 8 &&
              c.num_experts == 8 && c.num_experts_per_tok == 2 && c.norm_topk_prob &&
              c.rope_theta == 1e6 && c.rms_norm_eps == 1e-5 && c.sliding_window == 0 &&
              c.max_position_embeddings == 131072 && c.head_dim == 128 && c.bos_token_id == 1 &&
              c.torch_dtype == MP_BF16 && c.vocab_size == 32000,
          "config defaults mixtral", "%s", err.msg);
    ok = parse(&c,
               "{\"architectures\": [\"MixtralForCausalLM\"], \"num_key_value_heads\": null,"
               " \"head_dim\": null}",
               &err) == 0;
    CHECK(ok && c.num_key_value_heads == 32 && c.head_dim == 128, "config null kv heads = heads",
          "kv %d %s", c.num_key_value_heads, err.msg);
    ok = parse(&c, "{\"model_type\": \"olmoe\"}", &err) == 0;
    CHECK(ok && c.arch == ARCH_OLMOE && c.num_experts == 64 && c.num_experts_per_tok == 8 &&
              c.intermediate_size == 2048 && c.moe_intermediate_size == 2048 &&
              c.num_key_value_heads == 16 && c.qk_norm && c.eos_token_id == 50279 &&
              c.bos_token_id == -1 && !c.norm_topk_prob && c.clip_qkv == 0,
          "config defaults olmoe (model_type only)", "%s", err.msg);
    ok = parse(&c, "{\"architectures\": [\"Qwen2MoeForCausalLM\"]}", &err) == 0;
    int all_moe = 1;
    for (int l = 0; l < c.num_hidden_layers; l++) all_moe &= c.layer_is_moe[l];
    CHECK(ok && c.num_experts == 60 && c.num_experts_per_tok == 4 &&
              c.moe_intermediate_size == 1408 && c.shared_expert_intermediate_size == 5632 &&
              c.num_hidden_layers == 24 && all_moe && c.qkv_bias && c.sliding_window == 0 &&
              c.layer_window[0] == 0,
          "config defaults qwen2moe", "%s", err.msg);
    ok = parse(&c, "{\"architectures\": [\"MistralForCausalLM\"]}", &err) == 0;
    CHECK(ok && c.sliding_window == 4096 && c.layer_window[31] == 4096 && c.rms_norm_eps == 1e-6,
          "config defaults mistral (window 4096)", "%s", err.msg);
    ok = parse(&c, "{\"architectures\": [\"MistralForCausalLM\"], \"sliding_window\": null}",
               &err) == 0;
    CHECK(ok && c.sliding_window == 0 && c.layer_window[0] == 0, "config mistral null window", "%s",
          err.msg);
    ok =
        parse(&c, "{\"architectures\": [\"LlamaForCausalLM\"], \"sliding_window\": 16}", &err) == 0;
    CHECK(ok && c.sliding_window == 0 && c.num_key_value_heads == 32 &&
              c.max_position_embeddings == 2048,
          "config llama ignores sliding_window", "%s", err.msg);
    ok = parse(&c, "{\"architectures\": [\"Qwen2ForCausalLM\"]}", &err) == 0;
    CHECK(ok && c.qkv_bias && !c.o_bias && c.intermediate_size == 22016 && c.sliding_window == 0 &&
              c.bos_token_id == -1,
          "config defaults qwen2", "%s", err.msg);
    /* Qwen windows: use_sliding_window gates everything; qwen2 from max_window_layers up. */
    ok = parse(&c,
               "{\"architectures\": [\"Qwen2ForCausalLM\"], \"num_hidden_layers\": 6, "
               "\"use_sliding_window\": true, \"sliding_window\": 64, "
               "\"max_window_layers\": 4}",
               &err) == 0;
    CHECK(ok && c.layer_window[3] == 0 && c.layer_window[4] == 64 && c.layer_window[5] == 64 &&
              c.sliding_window == 64,
          "config qwen2 window layers >= max_window_layers", "%s", err.msg);
    /* transformers 5 Qwen2MoeConfig: sliding if (i+1)%2 and i < max_window_layers. */
    ok = parse(&c,
               "{\"architectures\": [\"Qwen2MoeForCausalLM\"], \"num_hidden_layers\": 6, "
               "\"use_sliding_window\": true, \"sliding_window\": 32, "
               "\"max_window_layers\": 3}",
               &err) == 0;
    CHECK(ok && c.layer_window[0] == 32 && c.layer_window[1] == 0 && c.layer_window[2] == 32 &&
              c.layer_window[3] == 0 && c.layer_window[4] == 0,
          "config qwen2moe window rule of transformers 5", "%s", err.msg);
    ok = parse(&c,
               "{\"architectures\": [\"Qwen2MoeForCausalLM\"], \"num_hidden_layers\": 2, "
               "\"sliding_window\": 0, \"use_sliding_window\": false, \"layer_types\": "
               "[\"full_attention\", \"sliding_attention\"]}",
               &err) == 0;
    CHECK(ok && c.layer_window[0] == 0 && c.layer_window[1] == 0,
          "config qwen2moe sliding_window 0 without use_sliding_window = none", "%s", err.msg);
    ok = parse(&c,
               "{\"architectures\": [\"Qwen2ForCausalLM\"], \"num_hidden_layers\": 2, "
               "\"sliding_window\": 8, \"use_sliding_window\": true, \"layer_types\": "
               "[\"sliding_attention\", \"full_attention\"]}",
               &err) == 0;
    CHECK(ok && c.layer_window[0] == 8 && c.layer_window[1] == 0, "config explicit layer_types win",
          "%s", err.msg);
    /* MoE layer selection */
    ok = parse(&c,
               "{\"architectures\": [\"Qwen2MoeForCausalLM\"], \"num_hidden_layers\": 6, "
               "\"decoder_sparse_step\": 2, \"mlp_only_layers\": [3, 40]}",
               &err) == 0;
    CHECK(ok && !c.layer_is_moe[0] && c.layer_is_moe[1] && !c.layer_is_moe[2] &&
              !c.layer_is_moe[3] && !c.layer_is_moe[4] && c.layer_is_moe[5],
          "config qwen2moe decoder_sparse_step + mlp_only_layers", "%s", err.msg);
    /* RoPE layouts: rope_parameters wins over the top-level key; rope_scaling default is fine */
    ok = parse(&c,
               "{\"architectures\": [\"LlamaForCausalLM\"], \"rope_theta\": 5e5, "
               "\"rope_parameters\": {\"rope_theta\": 2e6, \"rope_type\": \"default\"}}",
               &err) == 0;
    CHECK(ok && c.rope_theta == 2e6, "config rope_parameters theta", "%g %s", c.rope_theta,
          err.msg);
    ok = parse(&c,
               "{\"architectures\": [\"LlamaForCausalLM\"], \"rope_theta\": 5e5, "
               "\"rope_scaling\": {\"type\": \"default\"}}",
               &err) == 0;
    CHECK(ok && c.rope_theta == 5e5, "config legacy rope_theta", "%g %s", c.rope_theta, err.msg);
    ok = parse(&c,
               "{\"architectures\": [\"LlamaForCausalLM\"], \"rope_parameters\": "
               "{\"rope_type\": \"default\"}}",
               &err) == 0;
    CHECK(ok && c.rope_theta == 1e4, "config rope_parameters without theta = default", "%s",
          err.msg);
    /* misc keys */
    ok = parse(&c,
               "{\"architectures\": [\"LlamaForCausalLM\"], \"eos_token_id\": [7, 9], "
               "\"bos_token_id\": null, \"dtype\": \"float16\", \"torch_dtype\": "
               "\"float32\", \"attention_bias\": true, \"mlp_bias\": true, \"head_dim\": 64}",
               &err) == 0;
    CHECK(ok && c.eos_token_id == 7 && c.bos_token_id == -1 && c.torch_dtype == MP_F16 &&
              c.qkv_bias && c.o_bias && c.mlp_bias && c.head_dim == 64,
          "config eos list, dtype over torch_dtype, llama biases, head_dim", "%s", err.msg);
    ok = parse(&c,
               "{\"architectures\": [\"OlmoeForCausalLM\"], \"clip_qkv\": 8.0, "
               "\"num_local_experts\": 32}",
               &err) == 0;
    CHECK(ok && c.clip_qkv == 8.0 && c.num_experts == 32, "config olmoe clip_qkv and alias", "%s",
          err.msg);
}

/* ---- make-model round trips ------------------------------------------------------------------ */

static int make(const char *cfg_model, const char *out, int fused, uint64_t shard, int dtype_set,
                mp_dtype dt, int layers, mp_err *err)
{
    char cfg[4096];
    snprintf(cfg, sizeof cfg, "%s", check_shared_path("fixtures/models/"));
    strncat(cfg, cfg_model, sizeof cfg - strlen(cfg) - 1);
    strncat(cfg, "/config.json", sizeof cfg - strlen(cfg) - 1);
    mkm_opts o;
    mkm_opts_init(&o);
    o.config_path = cfg;
    o.out_dir = out;
    o.seed = 7;
    o.fused_experts = fused;
    o.shard_size = shard;
    o.dtype_set = dtype_set;
    o.dtype = dt;
    o.layers = layers;
    mkm_stats st;
    err_init(err);
    return mkm_make(&o, &st, err);
}

static int same_bytes(const mp_tensor *a, const mp_tensor *b)
{
    if (!a->data || !b->data || a->dtype != b->dtype || a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return !memcmp(a->data, b->data, (size_t)tensor_numel(a) * dtype_size(a->dtype));
}

static void check_fused(const char *name)
{
    char d1[4200], d2[4200], cn[128];
    snprintf(d1, sizeof d1, "%s/%s-per-expert", check_tmp_dir(), name);
    snprintf(d2, sizeof d2, "%s/%s-fused", check_tmp_dir(), name);
    mp_err err;
    snprintf(cn, sizeof cn, "make-model %s per-expert and fused", name);
    if (!CHECK(make(name, d1, 0, 300000, 0, MP_BF16, 0, &err) == 0 &&
                   make(name, d2, 1, 300000, 0, MP_BF16, 0, &err) == 0,
               cn, "%s", err.msg))
        return;
    mp_model a, b;
    model_init(&a);
    model_init(&b);
    snprintf(cn, sizeof cn, "load %s per-expert and fused", name);
    int ok = model_load(&a, d1, &err) == 0;
    if (ok) ok = model_load(&b, d2, &err) == 0;
    if (CHECK(ok, cn, "%s", err.msg)) {
        int same = 1, fused = 1, E = a.cfg.num_experts;
        for (int l = 0; l < a.cfg.num_hidden_layers; l++) {
            fused &= b.layers[l].experts_fused && !a.layers[l].experts_fused;
            same &= same_bytes(&a.layers[l].router, &b.layers[l].router);
            for (int e = 0; e < E; e++) {
                same &= same_bytes(&a.layers[l].experts[e].gate_proj,
                                   &b.layers[l].experts[e].gate_proj);
                same &=
                    same_bytes(&a.layers[l].experts[e].up_proj, &b.layers[l].experts[e].up_proj);
                same &= same_bytes(&a.layers[l].experts[e].down_proj,
                                   &b.layers[l].experts[e].down_proj);
            }
        }
        same &= same_bytes(&a.embed_tokens, &b.embed_tokens) && same_bytes(&a.lm_head, &b.lm_head);
        snprintf(cn, sizeof cn, "%s fused layout = per-expert values (same seed)", name);
        CHECK(same && fused, cn, "same %d fused %d", same, fused);
        snprintf(cn, sizeof cn, "%s fused param counts equal", name);
        CHECK(model_param_count(&a) == model_param_count(&b) &&
                  model_active_param_count(&a) == model_active_param_count(&b) &&
                  model_expert_bytes(&a, 0, 1) == model_expert_bytes(&b, 0, 1),
              cn, "%lld vs %lld", (long long)model_param_count(&a),
              (long long)model_param_count(&b));
        /* up rows really are the second half of gate_up_proj */
        mp_tensor gu;
        char gname[128];
        snprintf(gname, sizeof gname, "model.layers.0.mlp.experts.gate_up_proj");
        int found = ckpt_find(b.ck, gname, &gu, NULL);
        int64_t I = b.cfg.moe_intermediate_size, H = b.cfg.hidden_size;
        snprintf(cn, sizeof cn, "%s fused expert 1 up view = gate_up_proj[1, I:2I]", name);
        CHECK(found && b.layers[0].experts[1].up_proj.data ==
                           (const char *)gu.data + (size_t)(2 * I * H + I * H) * 2,
              cn, "found %d", found);
    }
    model_free(&a);
    model_free(&b);
}

static void check_make_variants(void)
{
    mp_err err;
    char d[4200];
    mp_model m;
    /* one shard: model.safetensors, no index */
    snprintf(d, sizeof d, "%s/qwen2-single", check_tmp_dir());
    model_init(&m);
    int ok = make("qwen2", d, 0, 0, 0, MP_BF16, 0, &err) == 0 && model_load(&m, d, &err) == 0;
    CHECK(ok && !strcmp(m.ck->source, CKPT_SINGLE) && m.ck->n_shards == 1 &&
              m.lm_head.data == m.embed_tokens.data && model_param_count(&m) == 1269888,
          "make-model single file (tied qwen2) loads", "%s", err.msg);
    /* norms are exactly 1.0, weights have std ~ initializer_range */
    if (ok) {
        float w[128];
        dtype_to_f32(m.norm.dtype, m.norm.data, w, 128);
        int ones = 1;
        for (int i = 0; i < 128; i++) ones &= w[i] == 1.0f;
        int64_t n = tensor_numel(&m.embed_tokens);
        float *e = malloc((size_t)n * sizeof *e);
        double s = 0, s2 = 0;
        dtype_to_f32(m.embed_tokens.dtype, m.embed_tokens.data, e, (size_t)n);
        for (int64_t i = 0; i < n; i++) {
            s += e[i];
            s2 += (double)e[i] * e[i];
        }
        double mean = s / (double)n, sd = sqrt(s2 / (double)n - mean * mean);
        free(e);
        CHECK(ones && fabs(mean) < 1e-3 && fabs(sd - 0.02) < 5e-4,
              "make-model values: norms 1, weights mean 0 std 0.02", "ones %d mean %g std %g", ones,
              mean, sd);
    }
    model_free(&m);
    /* F16 and F32 with --layers: dtype of every tensor, config rewritten, values agree */
    mp_model a, b;
    model_init(&a);
    model_init(&b);
    char d16[4200], d32[4200];
    snprintf(d16, sizeof d16, "%s/llama-f16", check_tmp_dir());
    snprintf(d32, sizeof d32, "%s/llama-f32", check_tmp_dir());
    ok = make("llama", d16, 0, 1000000, 1, MP_F16, 2, &err) == 0 &&
         make("llama", d32, 0, 1000000, 1, MP_F32, 2, &err) == 0 &&
         model_load(&a, d16, &err) == 0 && model_load(&b, d32, &err) == 0;
    if (CHECK(ok, "make-model f16/f32 --layers 2 load", "%s", err.msg)) {
        CHECK(a.cfg.num_hidden_layers == 2 && a.cfg.torch_dtype == MP_F16 &&
                  b.cfg.torch_dtype == MP_F32 &&
                  a.ck->bytes_by_dtype[MP_F16] == a.ck->total_bytes &&
                  b.ck->bytes_by_dtype[MP_F32] == b.ck->total_bytes &&
                  b.ck->total_bytes == 2 * a.ck->total_bytes,
              "make-model dtype and layers in config and tensors", "L %d", a.cfg.num_hidden_layers);
        float x16[64], x32[64];
        dtype_to_f32(MP_F16, a.layers[1].mlp.up_proj.data, x16, 64);
        dtype_to_f32(MP_F32, b.layers[1].mlp.up_proj.data, x32, 64);
        int agree = 1;
        for (int i = 0; i < 64; i++) agree &= f16_to_f32(f32_to_f16(x32[i])) == x16[i];
        CHECK(agree, "make-model f16 values = f32 values rounded", "first %g vs %g", x16[0],
              x32[0]);
    }
    model_free(&a);
    model_free(&b);
}

int main(void)
{
    for (size_t i = 0; i < sizeof FIX / sizeof FIX[0]; i++) check_fixture(&FIX[i]);
    check_configs();
    check_fused("olmoe");
    check_fused("qwen2moe");
    check_fused("mixtral");
    check_make_variants();
    return check_finish();
}
