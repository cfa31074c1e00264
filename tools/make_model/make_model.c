/* make_model.c — see make_model.h. Reads and adjusts the config, lists the architecture's
 * tensors in state-dict order with their value streams, splits them into shards the way
 * huggingface_hub does, then writes shards, config, tokenizer and (last) the index. */
#include "tools/make_model/make_model.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pipeline/model/checkpoint.h"
#include "pipeline/model/model_config.h"
#include "pipeline/util/atomic_file.h"
#include "pipeline/util/monotonic.h"
#include "tools/make_model/internal.h"

void mkm_opts_init(mkm_opts *o)
{
    memset(o, 0, sizeof *o);
    o->dtype = MP_BF16;
}

int mkm_parse_size(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !(v >= 0)) return -1;
    while (*end == ' ') end++;
    static const struct {
        const char *unit;
        double mult;
    } U[] = {{"", 1},
             {"B", 1},
             {"KB", 1e3},
             {"MB", 1e6},
             {"GB", 1e9},
             {"TB", 1e12},
             {"KiB", 1024.0},
             {"MiB", 1048576.0},
             {"GiB", 1073741824.0},
             {"TiB", 1099511627776.0}};
    for (size_t i = 0; i < sizeof U / sizeof U[0]; i++) {
        if (strcasecmp(end, U[i].unit) != 0) continue;
        double b = v * U[i].mult;
        if (b < 1 || b > 1.8e19) return -1;
        *out = (uint64_t)b;
        return 0;
    }
    return -1;
}

/* ---- the plan ---------------------------------------------------------------------------------- */

static int add_part(mkm_plan *p, const char *stream, int64_t numel)
{
    if (p->np == p->cap_p) {
        int cap = p->cap_p ? 2 * p->cap_p : 1024;
        mkm_part *np = realloc(p->parts, (size_t)cap * sizeof *np);
        if (!np) return -1;
        p->parts = np;
        p->cap_p = cap;
    }
    snprintf(p->parts[p->np].stream, MKM_NAME, "%s", stream);
    p->parts[p->np++].numel = numel;
    return 0;
}

/* Adds tensor NAME of shape dims; its values come from the parts added after it. */
static mkm_tensor *add_tensor(mkm_plan *p, const char *name, int ndim, int64_t d0, int64_t d1,
                              int64_t d2, int ones)
{
    if (p->nt == p->cap_t) {
        int cap = p->cap_t ? 2 * p->cap_t : 1024;
        mkm_tensor *nt = realloc(p->t, (size_t)cap * sizeof *nt);
        if (!nt) return NULL;
        p->t = nt;
        p->cap_t = cap;
    }
    mkm_tensor *t = &p->t[p->nt++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, MKM_NAME, "%s", name);
    t->ndim = ndim;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->shape[2] = d2;
    t->ones = ones;
    t->part0 = p->np;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= t->shape[i];
    t->bytes = (uint64_t)n * dtype_size(p->dtype);
    return t;
}

/* A plain tensor: one part, its own stream. */
static int plain(mkm_plan *p, int ones, int ndim, int64_t d0, int64_t d1, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int plain(mkm_plan *p, int ones, int ndim, int64_t d0, int64_t d1, const char *fmt, ...)
{
    char name[MKM_NAME];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    mkm_tensor *t = add_tensor(p, name, ndim, d0, d1, 0, ones);
    if (!t || add_part(p, name, ndim == 1 ? d0 : d0 * d1) != 0) return -1;
    t->nparts = 1;
    return 0;
}

static int plan_mlp(mkm_plan *p, const char *pre, const char *g, const char *u, const char *d,
                    int64_t I, int64_t H, int bias)
{
    if (plain(p, 0, 2, I, H, "%s%s.weight", pre, g) ||
        (bias && plain(p, 0, 1, I, 0, "%s%s.bias", pre, g)) ||
        plain(p, 0, 2, I, H, "%s%s.weight", pre, u) ||
        (bias && plain(p, 0, 1, I, 0, "%s%s.bias", pre, u)) ||
        plain(p, 0, 2, H, I, "%s%s.weight", pre, d) ||
        (bias && plain(p, 0, 1, H, 0, "%s%s.bias", pre, d)))
        return -1;
    return 0;
}

static int plan_moe(mkm_plan *p, const mcfg *c, int l, int fused)
{
    int64_t E = c->num_experts, I = c->moe_intermediate_size, H = c->hidden_size;
    int mixtral = c->arch == ARCH_MIXTRAL;
    /* Streams always use the per-expert names, so both layouts hold the same values. */
    char sp[96], dp[96], name[MKM_NAME], s1[MKM_NAME], s2[MKM_NAME];
    snprintf(sp, sizeof sp, "model.layers.%d.%s", l, mixtral ? "block_sparse_moe." : "mlp.");
    snprintf(dp, sizeof dp, "model.layers.%d.%s", l,
             (mixtral && !fused) ? "block_sparse_moe." : "mlp.");
    const char *g = mixtral ? "w1" : "gate_proj", *u = mixtral ? "w3" : "up_proj",
               *d = mixtral ? "w2" : "down_proj";
    snprintf(name, sizeof name, "%sgate.weight", dp);
    snprintf(s1, sizeof s1, "%sgate.weight", sp);
    mkm_tensor *t = add_tensor(p, name, 2, E, H, 0, 0);
    if (!t || add_part(p, s1, E * H)) return -1;
    t->nparts = 1;
    if (!fused) {
        for (int64_t e = 0; e < E; e++) {
            char pre[128];
            snprintf(pre, sizeof pre, "%sexperts.%lld.", sp, (long long)e);
            if (plan_mlp(p, pre, g, u, d, I, H, 0) != 0) return -1;
        }
    } else {
        snprintf(name, sizeof name, "%sexperts.gate_up_proj", dp);
        if (!(t = add_tensor(p, name, 3, E, 2 * I, H, 0))) return -1;
        for (int64_t e = 0; e < E; e++) {
            snprintf(s1, sizeof s1, "%sexperts.%lld.%s.weight", sp, (long long)e, g);
            snprintf(s2, sizeof s2, "%sexperts.%lld.%s.weight", sp, (long long)e, u);
            if (add_part(p, s1, I * H) || add_part(p, s2, I * H)) return -1;
        }
        t->nparts = (int)(2 * E);
        snprintf(name, sizeof name, "%sexperts.down_proj", dp);
        if (!(t = add_tensor(p, name, 3, E, H, I, 0))) return -1;
        for (int64_t e = 0; e < E; e++) {
            snprintf(s1, sizeof s1, "%sexperts.%lld.%s.weight", sp, (long long)e, d);
            if (add_part(p, s1, H * I)) return -1;
        }
        t->nparts = (int)E;
    }
    if (c->shared_expert_intermediate_size > 0) {
        char pre[128];
        snprintf(pre, sizeof pre, "model.layers.%d.mlp.shared_expert.", l);
        if (plan_mlp(p, pre, "gate_proj", "up_proj", "down_proj",
                     c->shared_expert_intermediate_size, H, 0) ||
            plain(p, 0, 2, 1, H, "model.layers.%d.mlp.shared_expert_gate.weight", l))
            return -1;
    }
    return 0;
}

/* Every tensor model_load binds, in transformers' state-dict order. */
static int build_plan(mkm_plan *p, const mcfg *c, int fused)
{
    int64_t H = c->hidden_size, V = c->vocab_size;
    int64_t Q = (int64_t)c->num_attention_heads * c->head_dim;
    int64_t KV = (int64_t)c->num_key_value_heads * c->head_dim;
    if (plain(p, 0, 2, V, H, "model.embed_tokens.weight")) return -1;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        char a[64];
        snprintf(a, sizeof a, "model.layers.%d.self_attn.", l);
        if (plain(p, 0, 2, Q, H, "%sq_proj.weight", a) ||
            (c->qkv_bias && plain(p, 0, 1, Q, 0, "%sq_proj.bias", a)) ||
            plain(p, 0, 2, KV, H, "%sk_proj.weight", a) ||
            (c->qkv_bias && plain(p, 0, 1, KV, 0, "%sk_proj.bias", a)) ||
            plain(p, 0, 2, KV, H, "%sv_proj.weight", a) ||
            (c->qkv_bias && plain(p, 0, 1, KV, 0, "%sv_proj.bias", a)) ||
            plain(p, 0, 2, H, Q, "%so_proj.weight", a) ||
            (c->o_bias && plain(p, 0, 1, H, 0, "%so_proj.bias", a)) ||
            (c->qk_norm && (plain(p, 1, 1, Q, 0, "%sq_norm.weight", a) ||
                            plain(p, 1, 1, KV, 0, "%sk_norm.weight", a))))
            return -1;
        if (c->layer_is_moe[l]) {
            if (plan_moe(p, c, l, fused) != 0) return -1;
        } else {
            char pre[64];
            snprintf(pre, sizeof pre, "model.layers.%d.mlp.", l);
            if (plan_mlp(p, pre, "gate_proj", "up_proj", "down_proj", c->intermediate_size, H,
                         c->mlp_bias) != 0)
                return -1;
        }
        if (plain(p, 1, 1, H, 0, "model.layers.%d.input_layernorm.weight", l) ||
            plain(p, 1, 1, H, 0, "model.layers.%d.post_attention_layernorm.weight", l))
            return -1;
    }
    if (plain(p, 1, 1, H, 0, "model.norm.weight")) return -1;
    if (!c->tie_word_embeddings && plain(p, 0, 2, V, H, "lm_head.weight")) return -1;
    return 0;
}

/* huggingface_hub's split_torch_state_dict_into_shards: greedy in order; a tensor larger than
 * the limit gets a shard of its own. */
static void assign_shards(mkm_plan *p, uint64_t limit)
{
    int s = -1;
    uint64_t cur = 0;
    for (int i = 0; i < p->nt; i++) {
        uint64_t b = p->t[i].bytes;
        if (b > limit) {
            p->t[i].shard = ++s;
            cur = limit; /* force a new shard for what follows */
            continue;
        }
        if (s < 0 || cur + b > limit) {
            s++;
            cur = 0;
        }
        p->t[i].shard = s;
        cur += b;
    }
    p->n_shards = s + 1;
}

/* ---- config ------------------------------------------------------------------------------------ */

/* Smallest %.Ng precision (15..17) at which every real of the document reads back exactly, so
 * 1e-06 stays "1e-06" rather than "9.9999999999999995e-07". */
static int real_precision(json_t *v)
{
    int p = 15;
    if (json_is_real(v)) {
        double d = json_real_value(v);
        char buf[64];
        for (p = 15; p < 17; p++) {
            snprintf(buf, sizeof buf, "%.*g", p, d);
            if (strtod(buf, NULL) == d) break;
        }
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            int q = real_precision(x);
            if (q > p) p = q;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
        {
            int q = real_precision(x);
            if (q > p) p = q;
        }
    }
    return p;
}

static char *dump_json(json_t *v, int sort)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_REAL_PRECISION(real_precision(v)) |
                                (sort ? JSON_SORT_KEYS : 0));
    if (!s) return NULL;
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        return NULL;
    }
    t[n] = '\n';
    t[n + 1] = '\0';
    return t;
}

static const char *torch_name(mp_dtype t)
{
    return t == MP_F16 ? "float16" : t == MP_F32 ? "float32" : "bfloat16";
}

/* Loads the config, applies --layers/--dtype, validates the result into *c. */
static json_t *prepare_config(const mkm_opts *o, mcfg *c, mp_dtype *dtype, mp_err *err)
{
    char file[4200];
    struct stat sb;
    if (stat(o->config_path, &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(file, sizeof file, "%s/config.json", o->config_path);
    else
        snprintf(file, sizeof file, "%s", o->config_path);
    if (mcfg_load(c, file, err) != 0) return NULL; /* validates and names errors */
    json_error_t jerr;
    json_t *root = json_load_file(file, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        err_set(err, "%s: not valid JSON: %s", file, jerr.text);
        return NULL;
    }
    if (o->layers > 0) {
        json_object_set_new(root, "num_hidden_layers", json_integer(o->layers));
        json_t *lt = json_object_get(root, "layer_types");
        if (json_is_array(lt)) {
            /* cut to N; grow only a uniform list (which layer gets a window is not ours to
             * guess) */
            size_t n = json_array_size(lt);
            int uniform = n > 0;
            for (size_t i = 1; i < n; i++)
                uniform &= json_equal(json_array_get(lt, i), json_array_get(lt, 0));
            if ((int)n < o->layers && !uniform) {
                err_set(err,
                        "%s: \"layer_types\" lists %zu layers of mixed types, cannot make "
                        "%d (expected --layers at most %zu)",
                        file, n, o->layers, n);
                json_decref(root);
                return NULL;
            }
            while ((int)json_array_size(lt) > o->layers)
                json_array_remove(lt, json_array_size(lt) - 1);
            while ((int)json_array_size(lt) < o->layers)
                json_array_append(lt, json_array_get(lt, 0));
        }
    }
    *dtype = o->dtype_set ? o->dtype : c->torch_dtype;
    int has_dtype = json_object_get(root, "dtype") != NULL;
    int has_torch = json_object_get(root, "torch_dtype") != NULL;
    if (has_dtype || !has_torch)
        json_object_set_new(root, has_dtype ? "dtype" : "torch_dtype",
                            json_string(torch_name(*dtype)));
    if (has_torch) json_object_set_new(root, "torch_dtype", json_string(torch_name(*dtype)));
    char *text = json_dumps(root, JSON_COMPACT);
    int ok = text && mcfg_parse(c, text, file, err) == 0;
    free(text);
    if (!ok) {
        json_decref(root);
        return NULL;
    }
    return root;
}

/* ---- the output folder ------------------------------------------------------------------------- */

static int is_model_file(const char *n)
{
    return !strcmp(n, CKPT_SINGLE) || !strcmp(n, CKPT_INDEX) ||
           !fnmatch("model-*-of-*.safetensors", n, 0) ||
           !fnmatch("model-*-of-*.safetensors.tmp.*", n, 0);
}

/* Refuses to mix with an existing checkpoint unless forced; forced, removes its index first so
 * that the folder never looks complete while it is half replaced. */
static int clear_old(const char *dir, int force, mp_err *err)
{
    DIR *d = opendir(dir);
    if (!d) return err_set(err, "%s: cannot list: %s", dir, strerror(errno));
    char found[256] = "";
    struct dirent *e;
    while ((e = readdir(d)))
        if (is_model_file(e->d_name) && !found[0]) snprintf(found, sizeof found, "%s", e->d_name);
    closedir(d);
    if (!found[0]) return 0;
    if (!force)
        return err_set(err,
                       "%s: already holds %s, expected an empty output folder (use --force "
                       "to replace the checkpoint)",
                       dir, found);
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, CKPT_INDEX);
    unlink(path);
    snprintf(path, sizeof path, "%s/%s", dir, CKPT_SINGLE);
    unlink(path);
    if (!(d = opendir(dir))) return err_set(err, "%s: cannot list: %s", dir, strerror(errno));
    while ((e = readdir(d))) {
        if (!is_model_file(e->d_name)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0 && errno != ENOENT) {
            closedir(d);
            return err_set(err, "%s: cannot remove: %s", path, strerror(errno));
        }
    }
    closedir(d);
    return 0;
}

static int copy_tokenizer(const char *src, const char *dir, mp_err *err)
{
    FILE *f = fopen(src, "rb");
    if (!f) return err_set(err, "%s: cannot open the tokenizer: %s", src, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = -1;
    for (;;) {
        if (len + 65536 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            char *nb = realloc(buf, cap);
            if (!nb) {
                err_set(err, "%s: out of memory", src);
                goto done;
            }
            buf = nb;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    if (ferror(f)) {
        err_set(err, "%s: read error", src);
        goto done;
    }
    rc = mkm_write_file(dir, "tokenizer.json", buf, len, err);
done:
    fclose(f);
    free(buf);
    return rc;
}

static int write_index(const mkm_plan *p, const char *dir, int64_t params, uint64_t bytes,
                       mp_err *err)
{
    json_t *idx = json_object(), *meta = json_object(), *wm = json_object();
    json_object_set_new(meta, "total_parameters", json_integer(params));
    json_object_set_new(meta, "total_size", json_integer((json_int_t)bytes));
    json_object_set_new(idx, "metadata", meta);
    for (int i = 0; i < p->nt; i++) {
        char sn[64];
        snprintf(sn, sizeof sn, "model-%05d-of-%05d.safetensors", p->t[i].shard + 1, p->n_shards);
        json_object_set_new(wm, p->t[i].name, json_string(sn));
    }
    json_object_set_new(idx, "weight_map", wm);
    char *text = dump_json(idx, 1);
    json_decref(idx);
    if (!text) return err_set(err, "%s: out of memory for the index", dir);
    int rc = mkm_write_file(dir, CKPT_INDEX, text, strlen(text), err);
    free(text);
    return rc;
}

int mkm_make(const mkm_opts *o, mkm_stats *st, mp_err *err)
{
    int rc = -1;
    mkm_plan p;
    mcfg c;
    memset(&p, 0, sizeof p);
    memset(st, 0, sizeof *st);
    double t0 = monotonic_s();
    json_t *cfg_json = prepare_config(o, &c, &p.dtype, err);
    char *cfg_text = NULL;
    if (!cfg_json) goto done;
    p.std = (float)c.initializer_range;
    p.seed = o->seed;
    if (build_plan(&p, &c, o->fused_experts && mcfg_is_moe(&c)) != 0) {
        err_set(err, "%s: out of memory for the tensor plan", o->config_path);
        goto done;
    }
    assign_shards(&p, o->shard_size ? o->shard_size : 5000000000ull);
    int64_t routed = 0;
    for (int i = 0; i < p.nt; i++) {
        int64_t n = 1;
        for (int d = 0; d < p.t[i].ndim; d++) n *= p.t[i].shape[d];
        st->params += n;
        st->planned_bytes += p.t[i].bytes;
        if (strstr(p.parts[p.t[i].part0].stream, ".experts.")) routed += n;
    }
    st->active_params = st->params;
    if (c.num_experts > 0)
        st->active_params -= routed / c.num_experts * (c.num_experts - c.num_experts_per_tok);
    st->n_tensors = p.nt;
    st->n_shards = p.n_shards;
    if (o->dry_run) {
        rc = 0;
        goto done;
    }
    if (af_mkdir_p(o->out_dir, err) != 0 || clear_old(o->out_dir, o->force, err) != 0) goto done;
    if (!(cfg_text = dump_json(cfg_json, 0))) {
        err_set(err, "%s: out of memory for config.json", o->out_dir);
        goto done;
    }
    if (mkm_write_file(o->out_dir, "config.json", cfg_text, strlen(cfg_text), err) != 0) goto done;
    if (o->tokenizer && copy_tokenizer(o->tokenizer, o->out_dir, err) != 0) goto done;
    for (int s = 0; s < p.n_shards; s++) {
        char name[64];
        if (p.n_shards == 1)
            snprintf(name, sizeof name, "%s", CKPT_SINGLE);
        else
            snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, p.n_shards);
        double ts = monotonic_s();
        uint64_t before = st->bytes;
        if (mkm_write_shard(&p, s, o->out_dir, name, &st->bytes, err) != 0) goto done;
        if (o->progress) {
            double dt = monotonic_s() - ts;
            fprintf(stderr, "make-model: %s  %.3f GB  %.1f s  %.0f MB/s\n", name,
                    (double)(st->bytes - before) / 1e9, dt,
                    dt > 0 ? (double)(st->bytes - before) / 1e6 / dt : 0.0);
        }
    }
    if (p.n_shards > 1 && write_index(&p, o->out_dir, st->params, st->bytes, err) != 0) goto done;
    st->seconds = monotonic_s() - t0;
    rc = 0;
done:
    json_decref(cfg_json);
    free(cfg_text);
    free(p.t);
    free(p.parts);
    return rc;
}
