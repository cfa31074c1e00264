/* model.c — see model.h. Binds every weight of the six architectures by its Hugging Face name,
 * checks its shape against config.json, and refuses tensors the architecture does not have (so a
 * config that disagrees with its checkpoint fails loudly instead of running a different model). */
#include "pipeline/model/model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/model/checkpoint.h"

typedef struct bind_ctx {
    mp_model *m;
    ckpt *ck;
    mp_err *err;
    unsigned char **used; /* [shard][entry] bound */
} bind_ctx;

static void fmt_dims(char *buf, size_t n, int ndim, const int64_t *d)
{
    size_t o = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && o < n; i++)
        o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? "," : "", (long long)d[i]);
    if (o < n) snprintf(buf + o, n - o, "]");
}

/* Binds NAME into *dst with the expected shape (ndim dims of want, described by `what`, e.g.
 * "[nH*d,H]"). Returns 1 if bound, 0 if absent (dst zeroed; no error), -1 on a shape error. */
static int try_bind(bind_ctx *b, mp_tensor *dst, const char *name, int ndim, const int64_t *want,
                    const char *what)
{
    ckpt_ref ref;
    memset(dst, 0, sizeof *dst);
    if (!ckpt_find(b->ck, name, dst, &ref)) return 0;
    int ok = dst->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = dst->shape[i] == want[i];
    if (!ok) {
        char got[128], exp[128];
        fmt_dims(got, sizeof got, dst->ndim, dst->shape);
        fmt_dims(exp, sizeof exp, ndim, want);
        memset(dst, 0, sizeof *dst);
        return err_set(b->err,
                       "%s/%s: tensor \"%s\" has shape %s, expected %s (%s from "
                       "config.json of %s)",
                       b->ck->dir, ckpt_shard_name(b->ck, ref), name, got, exp, what,
                       b->m->cfg.architecture);
    }
    b->used[ref.shard][ref.entry] = 1;
    return 1;
}

static int missing(bind_ctx *b, const char *name, int ndim, const int64_t *want, const char *what,
                   const char *alt)
{
    char exp[128];
    fmt_dims(exp, sizeof exp, ndim, want);
    return err_set(b->err, "%s/%s: tensor \"%s\" not found, expected shape %s (%s) for %s%s%s",
                   b->ck->dir, b->ck->source, name, exp, what, b->m->cfg.architecture,
                   alt ? " or the fused " : "", alt ? alt : "");
}

/* Required tensor of 1-3 dims. */
static int need(bind_ctx *b, mp_tensor *dst, const char *name, const char *what, int ndim,
                int64_t d0, int64_t d1, int64_t d2)
{
    int64_t want[3] = {d0, d1, d2};
    int r = try_bind(b, dst, name, ndim, want, what);
    if (r < 0) return -1;
    if (r == 0) return missing(b, name, ndim, want, what, NULL);
    return 0;
}

static int needf(bind_ctx *b, mp_tensor *dst, const char *what, int ndim, int64_t d0, int64_t d1,
                 const char *fmt, ...) __attribute__((format(printf, 7, 8)));
static int needf(bind_ctx *b, mp_tensor *dst, const char *what, int ndim, int64_t d0, int64_t d1,
                 const char *fmt, ...)
{
    char name[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return need(b, dst, name, what, ndim, d0, d1, 0);
}

/* A SwiGLU MLP under PREFIX with names gate/up/down (`gate_proj`... or Mixtral's w1/w3/w2). */
static int bind_mlp(bind_ctx *b, mp_mlp *mlp, const char *prefix, const char *gate, const char *up,
                    const char *down, int64_t I, int bias, const char *iname)
{
    int64_t H = b->m->cfg.hidden_size;
    char w_ih[64], w_hi[64];
    snprintf(w_ih, sizeof w_ih, "[%s,hidden_size]", iname);
    snprintf(w_hi, sizeof w_hi, "[hidden_size,%s]", iname);
    if (needf(b, &mlp->gate_proj, w_ih, 2, I, H, "%s%s.weight", prefix, gate) ||
        needf(b, &mlp->up_proj, w_ih, 2, I, H, "%s%s.weight", prefix, up) ||
        needf(b, &mlp->down_proj, w_hi, 2, H, I, "%s%s.weight", prefix, down))
        return -1;
    if (bias && (needf(b, &mlp->gate_bias, iname, 1, I, 0, "%s%s.bias", prefix, gate) ||
                 needf(b, &mlp->up_bias, iname, 1, I, 0, "%s%s.bias", prefix, up) ||
                 needf(b, &mlp->down_bias, "[hidden_size]", 1, H, 0, "%s%s.bias", prefix, down)))
        return -1;
    return 0;
}

/* Expert e's view of a fused [E, rows, cols] tensor, rows r0..r0+n. */
static mp_tensor slice(const mp_tensor *f, int64_t e, int64_t r0, int64_t n)
{
    mp_tensor t = {0};
    size_t sz = dtype_size(f->dtype);
    t.data = (const char *)f->data +
             ((size_t)e * (size_t)f->shape[1] + (size_t)r0) * (size_t)f->shape[2] * sz;
    t.dtype = f->dtype;
    t.ndim = 2;
    t.shape[0] = n;
    t.shape[1] = f->shape[2];
    return t;
}

static int bind_experts(bind_ctx *b, mp_layer *ly, int l, const char *moe)
{
    const mcfg *c = &b->m->cfg;
    int64_t E = c->num_experts, I = c->moe_intermediate_size, H = c->hidden_size;
    int mixtral = c->arch == ARCH_MIXTRAL;
    char name[512], gu_name[512], dn_name[512];
    ly->experts = calloc((size_t)E, sizeof *ly->experts);
    if (!ly->experts)
        return err_set(b->err, "%s: out of memory for %lld experts", b->ck->dir, (long long)E);
    /* transformers 5 checkpoints: experts.gate_up_proj [E,2I,H] (gate rows first) and
     * experts.down_proj [E,H,I]. */
    mp_tensor gu, dn;
    snprintf(gu_name, sizeof gu_name, "model.layers.%d.%sexperts.gate_up_proj", l, moe);
    snprintf(dn_name, sizeof dn_name, "model.layers.%d.%sexperts.down_proj", l, moe);
    int64_t gu_want[3] = {E, 2 * I, H}, dn_want[3] = {E, H, I};
    int rg = try_bind(b, &gu, gu_name, 3, gu_want, "[num_experts,2*expert width,hidden_size]");
    if (rg < 0) return -1;
    int rd = try_bind(b, &dn, dn_name, 3, dn_want, "[num_experts,hidden_size,expert width]");
    if (rd < 0) return -1;
    if (rg || rd) {
        if (!rg) return missing(b, gu_name, 3, gu_want, "fused gate and up rows", NULL);
        if (!rd) return missing(b, dn_name, 3, dn_want, "fused down projections", NULL);
        ly->experts_fused = 1;
        for (int64_t e = 0; e < E; e++) {
            ly->experts[e].gate_proj = slice(&gu, e, 0, I);
            ly->experts[e].up_proj = slice(&gu, e, I, I);
            ly->experts[e].down_proj = slice(&dn, e, 0, H);
        }
        return 0;
    }
    const char *iname = mixtral ? "intermediate_size" : "moe_intermediate_size";
    for (int64_t e = 0; e < E; e++) {
        snprintf(name, sizeof name, "model.layers.%d.%sexperts.%lld.", l, moe, (long long)e);
        mp_tensor probe;
        int64_t want[2] = {I, H};
        char first[600];
        snprintf(first, sizeof first, "%s%s.weight", name, mixtral ? "w1" : "gate_proj");
        int r = try_bind(b, &probe, first, 2, want, "[expert width,hidden_size]");
        if (r < 0) return -1;
        if (r == 0) return missing(b, first, 2, want, iname, gu_name);
        if (bind_mlp(b, &ly->experts[e], name, mixtral ? "w1" : "gate_proj",
                     mixtral ? "w3" : "up_proj", mixtral ? "w2" : "down_proj", I, 0, iname) != 0)
            return -1;
    }
    return 0;
}

static int bind_moe(bind_ctx *b, mp_layer *ly, int l)
{
    const mcfg *c = &b->m->cfg;
    int64_t E = c->num_experts, H = c->hidden_size;
    const char *moe = "mlp.";
    char name[512];
    if (c->arch == ARCH_MIXTRAL) {
        /* Mixtral's original names live under block_sparse_moe; transformers 5 renames the block
         * to mlp, so accept whichever the router is stored under. */
        snprintf(name, sizeof name, "model.layers.%d.block_sparse_moe.gate.weight", l);
        if (ckpt_find(b->ck, name, NULL, NULL)) moe = "block_sparse_moe.";
    }
    if (needf(b, &ly->router, "[num_experts,hidden_size]", 2, E, H, "model.layers.%d.%sgate.weight",
              l, moe) != 0)
        return -1;
    if (bind_experts(b, ly, l, moe) != 0) return -1;
    if (c->shared_expert_intermediate_size > 0) {
        snprintf(name, sizeof name, "model.layers.%d.mlp.shared_expert.", l);
        if (bind_mlp(b, &ly->shared_expert, name, "gate_proj", "up_proj", "down_proj",
                     c->shared_expert_intermediate_size, 0, "shared_expert_intermediate_size") ||
            needf(b, &ly->shared_expert_gate, "[1,hidden_size]", 2, 1, H,
                  "model.layers.%d.mlp.shared_expert_gate.weight", l))
            return -1;
    }
    return 0;
}

static int bind_layer(bind_ctx *b, int l)
{
    const mcfg *c = &b->m->cfg;
    mp_layer *ly = &b->m->layers[l];
    int64_t H = c->hidden_size, Q = (int64_t)c->num_attention_heads * c->head_dim,
            KV = (int64_t)c->num_key_value_heads * c->head_dim;
    char p[64];
    snprintf(p, sizeof p, "model.layers.%d.", l);
    if (needf(b, &ly->input_layernorm, "[hidden_size]", 1, H, 0, "%sinput_layernorm.weight", p) ||
        needf(b, &ly->post_attention_layernorm, "[hidden_size]", 1, H, 0,
              "%spost_attention_layernorm.weight", p) ||
        needf(b, &ly->q_proj, "[heads*head_dim,hidden_size]", 2, Q, H, "%sself_attn.q_proj.weight",
              p) ||
        needf(b, &ly->k_proj, "[kv_heads*head_dim,hidden_size]", 2, KV, H,
              "%sself_attn.k_proj.weight", p) ||
        needf(b, &ly->v_proj, "[kv_heads*head_dim,hidden_size]", 2, KV, H,
              "%sself_attn.v_proj.weight", p) ||
        needf(b, &ly->o_proj, "[hidden_size,heads*head_dim]", 2, H, Q, "%sself_attn.o_proj.weight",
              p))
        return -1;
    if (c->qkv_bias &&
        (needf(b, &ly->q_bias, "[heads*head_dim]", 1, Q, 0, "%sself_attn.q_proj.bias", p) ||
         needf(b, &ly->k_bias, "[kv_heads*head_dim]", 1, KV, 0, "%sself_attn.k_proj.bias", p) ||
         needf(b, &ly->v_bias, "[kv_heads*head_dim]", 1, KV, 0, "%sself_attn.v_proj.bias", p)))
        return -1;
    if (c->o_bias && needf(b, &ly->o_bias, "[hidden_size]", 1, H, 0, "%sself_attn.o_proj.bias", p))
        return -1;
    if (c->qk_norm &&
        (needf(b, &ly->q_norm, "[heads*head_dim]", 1, Q, 0, "%sself_attn.q_norm.weight", p) ||
         needf(b, &ly->k_norm, "[kv_heads*head_dim]", 1, KV, 0, "%sself_attn.k_norm.weight", p)))
        return -1;
    ly->is_moe = c->layer_is_moe[l];
    if (ly->is_moe) return bind_moe(b, ly, l);
    char mp[80];
    snprintf(mp, sizeof mp, "%smlp.", p);
    return bind_mlp(b, &ly->mlp, mp, "gate_proj", "up_proj", "down_proj", c->intermediate_size,
                    c->mlp_bias, "intermediate_size");
}

/* Anything left unbound is a tensor this config does not describe. */
static int check_leftovers(bind_ctx *b)
{
    for (int s = 0; s < b->ck->n_shards; s++) {
        const st_file *f = &b->ck->shards[s];
        for (int e = 0; e < f->n_entries; e++) {
            const char *n = f->entries[e].name;
            size_t len = strlen(n), sl = strlen("rotary_emb.inv_freq");
            if (b->used[s][e] || (len >= sl && !strcmp(n + len - sl, "rotary_emb.inv_freq")))
                continue;
            return err_set(
                b->err,
                "%s/%s: unexpected tensor \"%s\" (data offset %llu): not a "
                "weight of %s as its config.json describes it (num_hidden_layers = %d%s), "
                "expected only the architecture's tensors",
                b->ck->dir, b->ck->shard_names[s], n, (unsigned long long)f->entries[e].begin,
                b->m->cfg.architecture, b->m->cfg.num_hidden_layers,
                b->m->cfg.tie_word_embeddings ? ", tied embeddings" : "");
        }
    }
    return 0;
}

void model_init(mp_model *m)
{
    memset(m, 0, sizeof *m);
}

void model_free(mp_model *m)
{
    if (m->layers)
        for (int l = 0; l < m->cfg.num_hidden_layers; l++) free(m->layers[l].experts);
    free(m->layers);
    if (m->ck) {
        ckpt_close(m->ck);
        free(m->ck);
    }
    model_init(m);
}

int model_load(mp_model *m, const char *dir, mp_err *err)
{
    int rc = -1;
    bind_ctx b = {m, NULL, err, NULL};
    model_init(m);
    snprintf(m->dir, sizeof m->dir, "%s", dir);
    if (mcfg_load(&m->cfg, dir, err) != 0) goto done;
    const mcfg *c = &m->cfg;
    m->ck = malloc(sizeof *m->ck);
    if (!m->ck) {
        err_set(err, "%s: out of memory", dir);
        goto done;
    }
    if (ckpt_open(m->ck, dir, err) != 0) {
        free(m->ck);
        m->ck = NULL;
        goto done;
    }
    b.ck = m->ck;
    b.used = calloc((size_t)m->ck->n_shards, sizeof *b.used);
    m->layers = calloc((size_t)c->num_hidden_layers, sizeof *m->layers);
    if (!b.used || !m->layers) {
        err_set(err, "%s: out of memory", dir);
        goto done;
    }
    for (int s = 0; s < m->ck->n_shards; s++) {
        b.used[s] = calloc((size_t)m->ck->shards[s].n_entries + 1, 1);
        if (!b.used[s]) {
            err_set(err, "%s: out of memory", dir);
            goto done;
        }
    }
    int64_t V = c->vocab_size, H = c->hidden_size;
    if (need(&b, &m->embed_tokens, "model.embed_tokens.weight", "[vocab_size,hidden_size]", 2, V, H,
             0) ||
        need(&b, &m->norm, "model.norm.weight", "[hidden_size]", 1, H, 0, 0))
        goto done;
    if (c->tie_word_embeddings) {
        /* Tied: the head is embed_tokens; a stored lm_head.weight is ignored, as transformers
         * ties over it. */
        mp_tensor ignored;
        int64_t want[2] = {V, H};
        if (try_bind(&b, &ignored, "lm_head.weight", 2, want, "[vocab_size,hidden_size]") < 0)
            goto done;
        m->lm_head = m->embed_tokens;
    } else if (need(&b, &m->lm_head, "lm_head.weight", "[vocab_size,hidden_size]", 2, V, H, 0)) {
        goto done;
    }
    for (int l = 0; l < c->num_hidden_layers; l++)
        if (bind_layer(&b, l) != 0) goto done;
    if (check_leftovers(&b) != 0) goto done;
    rc = 0;
done:
    if (b.used) {
        for (int s = 0; m->ck && s < m->ck->n_shards; s++) free(b.used[s]);
        free(b.used);
    }
    if (rc != 0) {
        mp_err keep = *err;
        model_free(m);
        *err = keep;
    }
    return rc;
}

static int64_t numel_or0(const mp_tensor *t)
{
    return t->data ? tensor_numel(t) : 0;
}

static int64_t mlp_params(const mp_mlp *p)
{
    return numel_or0(&p->gate_proj) + numel_or0(&p->up_proj) + numel_or0(&p->down_proj) +
           numel_or0(&p->gate_bias) + numel_or0(&p->up_bias) + numel_or0(&p->down_bias);
}

/* Parameters of layer l: all, and those of the routed experts alone. */
static void layer_params(const mp_model *m, int l, int64_t *all, int64_t *routed)
{
    const mp_layer *ly = &m->layers[l];
    const mp_tensor *ts[] = {&ly->input_layernorm, &ly->post_attention_layernorm,
                             &ly->q_proj,          &ly->k_proj,
                             &ly->v_proj,          &ly->o_proj,
                             &ly->q_bias,          &ly->k_bias,
                             &ly->v_bias,          &ly->o_bias,
                             &ly->q_norm,          &ly->k_norm,
                             &ly->router,          &ly->shared_expert_gate};
    int64_t n = 0, r = 0;
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) n += numel_or0(ts[i]);
    n += mlp_params(&ly->mlp) + mlp_params(&ly->shared_expert);
    if (ly->is_moe && ly->experts)
        for (int e = 0; e < m->cfg.num_experts; e++) r += mlp_params(&ly->experts[e]);
    *all = n + r;
    *routed = r;
}

int64_t model_param_count(const mp_model *m)
{
    if (!m->layers) return 0;
    int64_t n = numel_or0(&m->embed_tokens) + numel_or0(&m->norm);
    if (!m->cfg.tie_word_embeddings) n += numel_or0(&m->lm_head);
    for (int l = 0; l < m->cfg.num_hidden_layers; l++) {
        int64_t all, routed;
        layer_params(m, l, &all, &routed);
        n += all;
    }
    return n;
}

int64_t model_active_param_count(const mp_model *m)
{
    if (!m->layers) return 0;
    int64_t n = model_param_count(m);
    const mcfg *c = &m->cfg;
    for (int l = 0; l < c->num_hidden_layers; l++) {
        int64_t all, routed;
        layer_params(m, l, &all, &routed);
        if (m->layers[l].is_moe && c->num_experts > 0)
            n -= routed / c->num_experts * (c->num_experts - c->num_experts_per_tok);
    }
    return n;
}

size_t model_expert_bytes(const mp_model *m, int layer, int expert)
{
    if (!m->layers || layer < 0 || layer >= m->cfg.num_hidden_layers || expert < 0 ||
        expert >= m->cfg.num_experts || !m->layers[layer].is_moe || !m->layers[layer].experts)
        return 0;
    const mp_mlp *p = &m->layers[layer].experts[expert];
    const mp_tensor *ts[] = {&p->gate_proj, &p->up_proj, &p->down_proj};
    size_t b = 0;
    for (int i = 0; i < 3; i++)
        if (ts[i]->data) b += (size_t)tensor_numel(ts[i]) * dtype_size(ts[i]->dtype);
    return b;
}
