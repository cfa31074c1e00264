/* attention.c — the self-attention block of one layer (HF eager attention semantics).
 *
 *   q [T, nH*d] = h Wq^T (+bq)     k, v [T, nKV*d]
 *   OLMoE: q = RMSNorm(q; q_norm), k = RMSNorm(k; k_norm) over the full width, then clip_qkv
 *   RoPE on q and k per head at each token's position in its sequence
 *   per sequence, per head h (kv head h / (nH/nKV)):
 *     S = q_h k_g^T / sqrt(d), masked where j > i or j <= i - W (window W), softmax in float32
 *     z_h = S v_g                                           [len, d]
 *   suppressed heads: z_h = 0
 *   out [T,H] = z Wo^T (+bo); head h's contribution at a hooked position: z_h Wo[:, h*d:(h+1)*d]^T
 * Both per-sequence products run on ops' kernels, whose sums have one fixed order, so a prompt's
 * attention gives the same bits whatever else is in its batch (sgemm's order follows the call's
 * shape and thread count). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/forward/internal.h"
#include "pipeline/ops/ops.h"

static int head_suppressed(const intervention *iv, int l, int hh)
{
    for (int i = 0; i < iv->n_suppress; i++)
        if (iv->suppress_head[i].layer == l && iv->suppress_head[i].index == hh) return 1;
    return 0;
}

/* Per-head contributions at the hooked positions: payload [nH, H] per position. */
static int emit_head_out(fwd_ctx *f, int l, const float *z, mp_err *err)
{
    const mcfg *c = &f->m->cfg;
    const int64_t H = c->hidden_size, nH = c->num_attention_heads, d = c->head_dim;
    const mp_tensor *wo = &f->m->layers[l].o_proj;
    int64_t nw = 0;
    int64_t *rows = malloc((size_t)(f->T > 0 ? f->T : 1) * sizeof *rows);
    float *zh = NULL, *yh = NULL, *payload = NULL;
    int rc = -1;
    if (!rows) goto oom;
    for (int64_t t = 0; t < f->T; t++)
        if (hook_wants(f->hooks, HP_HEAD_OUT, l, fwd_row_is_last(f, t))) rows[nw++] = t;
    if (nw == 0) {
        rc = 0;
        goto done;
    }
    zh = malloc((size_t)(nw * d) * sizeof *zh);
    yh = malloc((size_t)(nw * nH * H) * sizeof *yh);
    payload = malloc((size_t)(nH * H) * sizeof *payload);
    if (!zh || !yh || !payload) goto oom;
    for (int64_t hh = 0; hh < nH; hh++) {
        for (int64_t i = 0; i < nw; i++)
            memcpy(zh + i * d, z + rows[i] * nH * d + hh * d, (size_t)d * sizeof *zh);
        /* yh[i, hh, :] = z_h(i) Wo[:, hh*d:(hh+1)*d]^T */
        float *tmp = malloc((size_t)(nw * H) * sizeof *tmp);
        if (!tmp) goto oom;
        ops_linear_cols(tmp, zh, nw, wo, hh * d, d);
        for (int64_t i = 0; i < nw; i++)
            memcpy(yh + (i * nH + hh) * H, tmp + i * H, (size_t)H * sizeof *tmp);
        free(tmp);
    }
    for (int64_t i = 0; i < nw; i++)
        fwd_emit(f, HP_HEAD_OUT, l, rows[i], yh + i * nH * H, nH * H, 0);
    rc = 0;
    goto done;
oom:
    err_set(err, "attention: out of memory capturing head outputs");
done:
    free(rows);
    free(zh);
    free(yh);
    free(payload);
    return rc;
}

int attn_forward(fwd_ctx *f, int l, const float *h, float *out, mp_err *err)
{
    const mcfg *c = &f->m->cfg;
    const mp_layer *ly = &f->m->layers[l];
    const int64_t T = f->T, nH = c->num_attention_heads, nKV = c->num_key_value_heads;
    const int64_t d = c->head_dim, half = d / 2, qw = nH * d, kw = nKV * d;
    const int64_t group = nH / nKV;
    const int W = c->layer_window[l];
    const float scale = 1.0f / sqrtf((float)d);
    int rc = -1;
    float *q = NULL, *k = NULL, *v = NULL, *z = NULL, *S = NULL;
    int64_t max_len = 0;

    for (int s = 0; s < f->n_seq; s++)
        if (f->off[s + 1] - f->off[s] > max_len) max_len = f->off[s + 1] - f->off[s];
    q = fwd_buf(f, FB_Q, (size_t)(T * qw) * sizeof *q);
    k = fwd_buf(f, FB_K, (size_t)(T * kw) * sizeof *k);
    v = fwd_buf(f, FB_V, (size_t)(T * kw) * sizeof *v);
    z = fwd_buf(f, FB_Z, (size_t)(T * qw) * sizeof *z);
    S = malloc((size_t)((max_len > 0 ? max_len : 1) * max_len + 1) * sizeof *S);
    if (!q || !k || !v || !z || !S) {
        err_set(err, "attention: out of memory for %lld tokens", (long long)T);
        goto done;
    }
    if (T == 0) {
        rc = 0;
        goto done;
    }
    memset(z, 0, (size_t)(T * qw) * sizeof *z); /* suppressed heads keep z_h = 0 */
    ops_linear(q, h, T, &ly->q_proj, &ly->q_bias);
    ops_linear(k, h, T, &ly->k_proj, &ly->k_bias);
    ops_linear(v, h, T, &ly->v_proj, &ly->v_bias);
    if (c->qk_norm) {
        ops_rmsnorm(q, q, T, qw, &ly->q_norm, c->rms_norm_eps);
        ops_rmsnorm(k, k, T, kw, &ly->k_norm, c->rms_norm_eps);
    }
    if (c->clip_qkv > 0) {
        float cl = (float)c->clip_qkv;
        for (int64_t i = 0; i < T * qw; i++) q[i] = fminf(fmaxf(q[i], -cl), cl);
        for (int64_t i = 0; i < T * kw; i++) {
            k[i] = fminf(fmaxf(k[i], -cl), cl);
            v[i] = fminf(fmaxf(v[i], -cl), cl);
        }
    }
    for (int64_t t = 0; t < T; t++) {
        const float *cs = f->rope_cos + (int64_t)f->pos_of[t] * half;
        const float *sn = f->rope_sin + (int64_t)f->pos_of[t] * half;
        for (int64_t hh = 0; hh < nH; hh++) ops_rope_apply(q + t * qw + hh * d, d, cs, sn);
        for (int64_t g = 0; g < nKV; g++) ops_rope_apply(k + t * kw + g * d, d, cs, sn);
    }

    for (int s = 0; s < f->n_seq; s++) {
        const int64_t o = f->off[s], n = f->off[s + 1] - f->off[s];
        for (int64_t hh = 0; hh < nH; hh++) {
            const int64_t g = hh / group;
            if (head_suppressed(f->iv, l, (int)hh)) continue; /* z_h stays 0 */
            /* S[n,n] = q_h k_g^T * scale */
            ops_gemm_nt_f32(S, n, q + o * qw + hh * d, qw, n, k + o * kw + g * d, kw, n, d);
            for (int64_t i = 0; i < n; i++) {
                float *row = S + i * n;
                for (int64_t j = 0; j < n; j++)
                    row[j] = j > i || (W > 0 && j <= i - W) ? -INFINITY : row[j] * scale;
                ops_softmax(row, n);
            }
            /* z_h[n,d] = S v_g */
            ops_gemm_nn_f32(z + o * qw + hh * d, qw, S, n, n, v + o * kw + g * d, kw, n, d);
        }
    }
    ops_linear(out, z, T, &ly->o_proj, &ly->o_bias);
    if (hook_wants_layer(f->hooks, HP_HEAD_OUT, l) && emit_head_out(f, l, z, err) != 0) goto done;
    rc = 0;
done:
    free(S);
    return rc;
}
