/* cmd_inspect.c — `moeprobe inspect --model DIR [--json]`: loads a checkpoint exactly as the
 * pipeline does (every tensor bound and shape-checked, nothing read beyond the headers) and
 * prints its architecture, shapes, parameter counts, bytes per dtype and shards. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "pipeline/model/checkpoint.h"
#include "pipeline/model/model.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: moeprobe inspect --model DIR [--json]\n\n"
            "Opens the Hugging Face checkpoint in DIR (config.json plus model.safetensors or\n"
            "model.safetensors.index.json with its shards), checks every tensor's shape against\n"
            "config.json and prints the architecture, layers, widths, attention windows, experts,\n"
            "parameters (total and active per token), bytes by dtype and shards. Only headers are\n"
            "read, so this is fast and light even for a 90 GB checkpoint.\n\n"
            "  --model DIR   checkpoint folder\n"
            "  --json        print one JSON object instead of text\n"
            "  --help        this text\n\n"
            "Exit status: 0 ok, 1 the checkpoint does not load (message on stderr), 2 usage.\n");
}

/* 1234567 -> "1.23M" (parameters, decimal units). */
static void human_count(char *buf, size_t n, double v)
{
    const char *u[] = {"", "K", "M", "B", "T"};
    int i = 0;
    while (v >= 1000 && i < 4) {
        v /= 1000;
        i++;
    }
    snprintf(buf, n, i ? "%.3g%s" : "%.0f%s", v, u[i]);
}

/* bytes -> "4.98 MiB" (binary units). */
static void human_bytes(char *buf, size_t n, double v)
{
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (v >= 1024 && i < 4) {
        v /= 1024;
        i++;
    }
    snprintf(buf, n, i ? "%.3g %s" : "%.0f %s", v, u[i]);
}

/* "none", "8 (all layers)" or "layer 3: 4096, ..." */
static void window_text(char *buf, size_t n, const mcfg *c)
{
    int any = 0, all = 1;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        if (c->layer_window[l]) any = 1;
        if (c->layer_window[l] != c->layer_window[0]) all = 0;
    }
    if (!any) {
        snprintf(buf, n, "none (full causal attention)");
    } else if (all) {
        snprintf(buf, n, "%d keys in every layer", c->layer_window[0]);
    } else {
        size_t o = (size_t)snprintf(buf, n, "per layer:");
        for (int l = 0; l < c->num_hidden_layers && o < n; l++)
            o += (size_t)snprintf(buf + o, n - o, " %d:%d", l, c->layer_window[l]);
    }
}

static int moe_layer_count(const mcfg *c)
{
    int k = 0;
    for (int l = 0; l < c->num_hidden_layers; l++) k += c->layer_is_moe[l] != 0;
    return k;
}

static int any_fused(const mp_model *m)
{
    for (int l = 0; l < m->cfg.num_hidden_layers; l++)
        if (m->layers[l].experts_fused) return 1;
    return 0;
}

static void print_text(const mp_model *m)
{
    const mcfg *c = &m->cfg;
    const ckpt *ck = m->ck;
    char a[64], b[64], w[4096];
    printf("model          %s\n", m->dir);
    printf("architecture   %s (model_type %s)\n", c->architecture, c->model_type);
    printf("layers         %d\n", c->num_hidden_layers);
    printf("hidden         %d\n", c->hidden_size);
    printf("heads          %d query, %d key/value, head_dim %d\n", c->num_attention_heads,
           c->num_key_value_heads, c->head_dim);
    printf("vocab          %d\n", c->vocab_size);
    if (!mcfg_is_moe(c) || moe_layer_count(c) < c->num_hidden_layers)
        printf("mlp width      %d\n", c->intermediate_size);
    printf("rope_theta     %g\n", c->rope_theta);
    printf("rms_norm_eps   %g\n", c->rms_norm_eps);
    window_text(w, sizeof w, c);
    printf("window         %s\n", w);
    printf("biases         %s%s%s\n", c->qkv_bias ? "q/k/v" : "none", c->o_bias ? ", o" : "",
           c->mlp_bias ? ", mlp" : "");
    if (c->qk_norm) printf("qk norm        RMSNorm over the full q and k projections\n");
    if (c->clip_qkv > 0) printf("clip_qkv       %g\n", c->clip_qkv);
    printf("tied embed     %s\n", c->tie_word_embeddings ? "yes (lm_head = embed_tokens)" : "no");
    if (mcfg_is_moe(c)) {
        printf("experts        %d, top-%d, renormalise %s, expert width %d, %s layout\n",
               c->num_experts, c->num_experts_per_tok, c->norm_topk_prob ? "yes" : "no",
               c->moe_intermediate_size, any_fused(m) ? "fused 3-D" : "per-expert");
        printf("moe layers     %d of %d\n", moe_layer_count(c), c->num_hidden_layers);
        if (c->shared_expert_intermediate_size)
            printf("shared expert  width %d, sigmoid gate\n", c->shared_expert_intermediate_size);
        else
            printf("shared expert  none\n");
        human_bytes(a, sizeof a, (double)model_expert_bytes(m, 0, 0));
        printf("expert bytes   %zu (%s) each\n", model_expert_bytes(m, 0, 0), a);
    } else {
        printf("experts        none (dense)\n");
    }
    int64_t tp = model_param_count(m), ap = model_active_param_count(m);
    human_count(a, sizeof a, (double)tp);
    human_count(b, sizeof b, (double)ap);
    printf("parameters     %lld (%s) total, %lld (%s) active per token\n", (long long)tp, a,
           (long long)ap, b);
    for (int t = 0; t < MP_DTYPE_COUNT; t++) {
        if (!ck->bytes_by_dtype[t]) continue;
        human_bytes(a, sizeof a, (double)ck->bytes_by_dtype[t]);
        printf("bytes %-8s %llu (%s)\n", dtype_name((mp_dtype)t),
               (unsigned long long)ck->bytes_by_dtype[t], a);
    }
    human_bytes(a, sizeof a, (double)ck->total_bytes);
    printf("bytes total    %llu (%s) in %lld tensors\n", (unsigned long long)ck->total_bytes, a,
           (long long)ck->n_tensors);
    printf("shards         %d (%s)\n", ck->n_shards, ck->source);
    for (int s = 0; s < ck->n_shards; s++) {
        human_bytes(a, sizeof a, (double)ck->shards[s].map_len);
        printf("  %s  %d tensors, %s\n", ck->shard_names[s], ck->shards[s].n_entries, a);
    }
}

static json_t *to_json(const mp_model *m)
{
    const mcfg *c = &m->cfg;
    const ckpt *ck = m->ck;
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(m->dir));
    json_object_set_new(o, "architecture", json_string(c->architecture));
    json_object_set_new(o, "model_type", json_string(c->model_type));
    json_object_set_new(o, "num_hidden_layers", json_integer(c->num_hidden_layers));
    json_object_set_new(o, "hidden_size", json_integer(c->hidden_size));
    json_object_set_new(o, "num_attention_heads", json_integer(c->num_attention_heads));
    json_object_set_new(o, "num_key_value_heads", json_integer(c->num_key_value_heads));
    json_object_set_new(o, "head_dim", json_integer(c->head_dim));
    json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(o, "intermediate_size", json_integer(c->intermediate_size));
    json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
    json_object_set_new(o, "rms_norm_eps", json_real(c->rms_norm_eps));
    json_object_set_new(o, "tie_word_embeddings", json_boolean(c->tie_word_embeddings));
    json_object_set_new(o, "qkv_bias", json_boolean(c->qkv_bias));
    json_object_set_new(o, "qk_norm", json_boolean(c->qk_norm));
    json_object_set_new(o, "clip_qkv", c->clip_qkv > 0 ? json_real(c->clip_qkv) : json_null());
    json_t *win = json_array();
    for (int l = 0; l < c->num_hidden_layers; l++)
        json_array_append_new(win, json_integer(c->layer_window[l]));
    json_object_set_new(o, "layer_window", win);
    json_object_set_new(o, "torch_dtype", json_string(dtype_name(c->torch_dtype)));
    if (mcfg_is_moe(c)) {
        json_t *e = json_object();
        json_object_set_new(e, "num_experts", json_integer(c->num_experts));
        json_object_set_new(e, "num_experts_per_tok", json_integer(c->num_experts_per_tok));
        json_object_set_new(e, "norm_topk_prob", json_boolean(c->norm_topk_prob));
        json_object_set_new(e, "moe_intermediate_size", json_integer(c->moe_intermediate_size));
        json_object_set_new(e, "shared_expert_intermediate_size",
                            json_integer(c->shared_expert_intermediate_size));
        json_object_set_new(e, "layout", json_string(any_fused(m) ? "fused" : "per-expert"));
        json_t *ml = json_array();
        for (int l = 0; l < c->num_hidden_layers; l++)
            if (c->layer_is_moe[l]) json_array_append_new(ml, json_integer(l));
        json_object_set_new(e, "moe_layers", ml);
        json_object_set_new(e, "expert_bytes",
                            json_integer((json_int_t)model_expert_bytes(m, 0, 0)));
        json_object_set_new(o, "moe", e);
    } else {
        json_object_set_new(o, "moe", json_null());
    }
    json_t *p = json_object();
    json_object_set_new(p, "total", json_integer(model_param_count(m)));
    json_object_set_new(p, "active", json_integer(model_active_param_count(m)));
    json_object_set_new(o, "parameters", p);
    json_t *b = json_object();
    for (int t = 0; t < MP_DTYPE_COUNT; t++)
        if (ck->bytes_by_dtype[t])
            json_object_set_new(b, dtype_name((mp_dtype)t),
                                json_integer((json_int_t)ck->bytes_by_dtype[t]));
    json_object_set_new(b, "total", json_integer((json_int_t)ck->total_bytes));
    json_object_set_new(o, "bytes", b);
    json_object_set_new(o, "tensors", json_integer(ck->n_tensors));
    json_object_set_new(o, "source", json_string(ck->source));
    json_t *sh = json_array();
    for (int s = 0; s < ck->n_shards; s++) {
        json_t *x = json_object();
        json_object_set_new(x, "file", json_string(ck->shard_names[s]));
        json_object_set_new(x, "tensors", json_integer(ck->shards[s].n_entries));
        json_object_set_new(x, "bytes", json_integer((json_int_t)ck->shards[s].map_len));
        json_array_append_new(sh, x);
    }
    json_object_set_new(o, "shards", sh);
    return o;
}

int cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL;
    int as_json = 0, ch;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":m:jh", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': dir = optarg; break;
        case 'j': as_json = 1; break;
        case 'h': usage(stdout); return 0;
        case ':':
            fprintf(stderr, "moeprobe inspect: option %s needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "moeprobe inspect: unknown option '%s' (see --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "moeprobe inspect: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (!dir) {
        fprintf(stderr, "moeprobe inspect: --model DIR is required (see --help)\n");
        return 2;
    }
    mp_model m;
    mp_err err;
    err_init(&err);
    model_init(&m);
    if (model_load(&m, dir, &err) != 0) {
        fprintf(stderr, "moeprobe inspect: %s\n", err.msg);
        return 1;
    }
    if (as_json) {
        json_t *o = to_json(&m);
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
        printf("%s\n", s ? s : "{}");
        free(s);
        json_decref(o);
    } else {
        print_text(&m);
    }
    model_free(&m);
    return 0;
}
