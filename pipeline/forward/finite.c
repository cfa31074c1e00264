/* finite.c — the forward pass's guard against non-finite numbers (see internal.h).
 *
 * Why here: one NaN weight makes every logit NaN, and a NaN compares false with everything, so
 * ranks, top-k sets and attributions come out plausible and wrong. The residual stream carries
 * every block's output, so checking it after each block (two scans of [T,H] per layer, noise
 * next to the block's GEMMs) catches a bad number at the block that made it. Only then, on the
 * failure path, are the block's stored weights scanned to name the tensor that holds it. */
#include "pipeline/forward/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/model/checkpoint.h"

/* 1 if checkpoint tensor `name` belongs to the part of the forward pass named by (layer, part). */
static int in_scope(const char *name, int layer, fwd_part part, int tied)
{
    static const char pre[] = "model.layers.";
    if (part == FWD_PART_EMBED) return !strcmp(name, "model.embed_tokens.weight");
    if (part == FWD_PART_HEAD)
        return !strcmp(name, "model.norm.weight") || !strcmp(name, "lm_head.weight") ||
               (tied && !strcmp(name, "model.embed_tokens.weight"));
    if (strncmp(name, pre, sizeof pre - 1)) return 0;
    char *end;
    long l = strtol(name + sizeof pre - 1, &end, 10);
    if (end == name + sizeof pre - 1 || *end != '.' || l != layer) return 0;
    int attn = !strncmp(end, ".self_attn.", 11) || !strncmp(end, ".input_layernorm.", 17);
    return part == FWD_PART_ATTN ? attn : !attn;
}

/* The first non-finite element of a stored tensor: its index, or -1 if all are finite. */
static int64_t first_bad(const mp_tensor *t, float *val)
{
    enum { CHUNK = 4096 };
    float buf[CHUNK];
    const int64_t n = tensor_numel(t);
    const size_t es = dtype_size(t->dtype);
    for (int64_t o = 0; o < n; o += CHUNK) {
        int64_t k = n - o < CHUNK ? n - o : CHUNK;
        dtype_to_f32(t->dtype, (const char *)t->data + (size_t)o * es, buf, (size_t)k);
        for (int64_t i = 0; i < k; i++)
            if (!isfinite(buf[i])) {
                *val = buf[i];
                return o + i;
            }
    }
    return -1;
}

static const char *kind(float v)
{
    return isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf";
}

static const char *part_name(fwd_part part)
{
    switch (part) {
    case FWD_PART_EMBED: return "the token embeddings";
    case FWD_PART_ATTN: return "the attention block";
    case FWD_PART_FFN: return "the MLP/MoE block";
    default: return "the final norm and lm_head";
    }
}

/* "; tensor NAME holds NaN at element I" for each stored tensor of the scope that has one, or a
 * sentence saying that no weight does (the activations overflowed). */
static void name_tensors(const mp_model *m, int layer, fwd_part part, char *out, size_t len)
{
    const ckpt *ck = m->ck;
    const int tied = m->lm_head.data == m->embed_tokens.data;
    size_t o = 0;
    int found = 0;
    out[0] = '\0';
    for (int s = 0; ck && s < ck->n_shards; s++)
        for (int i = 0; i < ck->shards[s].n_entries; i++) {
            const st_entry *e = &ck->shards[s].entries[i];
            mp_tensor t;
            float v = 0;
            if (!in_scope(e->name, layer, part, tied)) continue;
            st_view(&ck->shards[s], i, &t);
            int64_t at = first_bad(&t, &v);
            if (at < 0 || o >= len) continue;
            o += (size_t)snprintf(out + o, len - o, "%stensor %s (%s) holds %s at element %lld",
                                  "; ", e->name, ck->shard_names[s], kind(v), (long long)at);
            found++;
        }
    if (!found)
        snprintf(out, len,
                 "; no stored weight of this part is non-finite, so the activations "
                 "overflowed float32 (or the inputs were non-finite)");
}

int fwd_check_finite(const fwd_ctx *f, const float *x, int64_t rows, int64_t n, int layer,
                     fwd_part part, int rows_are_seqs, mp_err *err)
{
    const int64_t total = rows * n;
    int64_t bad = -1;
    /* Branch-free over a block so the common all-finite case vectorises; x - x is 0 for every
     * finite x and NaN for NaN and +-Inf. */
    for (int64_t o = 0; o < total && bad < 0; o += 4096) {
        int64_t k = total - o < 4096 ? total - o : 4096;
        float acc = 0.0f;
        for (int64_t i = 0; i < k; i++) acc += x[o + i] - x[o + i];
        if (acc == 0.0f) continue;
        for (int64_t i = 0; i < k; i++)
            if (!isfinite(x[o + i])) {
                bad = o + i;
                break;
            }
    }
    if (bad < 0) return 0;
    char what[1400];
    const int64_t row = bad / n, t = rows_are_seqs ? f->off[row + 1] - 1 : row;
    const float v = x[bad];
    name_tensors(f->m, layer, part, what, sizeof what);
    char where[64];
    if (layer >= 0)
        snprintf(where, sizeof where, "layer %d, ", layer);
    else
        where[0] = '\0';
    return err_set(err,
                   "model %s: non-finite value (%s) in %s after %s%s (sample %lld, position "
                   "%d, element %lld)%s",
                   f->m->dir, kind(v), part == FWD_PART_HEAD ? "the logits" : "the residual stream",
                   where, part_name(part), (long long)f->sample[f->seq_of[t]], f->pos_of[t],
                   (long long)(bad % n), what);
}
