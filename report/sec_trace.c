/* sec_trace.c — the per-prompt drill-down of a trace archive (`moeprobe trace`, groups promptNN,
 * docs/interface.md): the prompt's tokens, the target's rank and probability at the last
 * position, the attention / FFN gain of each layer, and the heads, experts and neurons with the
 * largest attribution. Everything comes from what the trace stored; the rank and probability are
 * the softmax of the stored logits_last at the stored target_id. Shown only for trace archives. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/sections.h"

#define TOP_HEADS 5
#define TOP_EXPERTS 5
#define TOP_NEURONS 10

/* A dataset of the prompt group as doubles with its shape; NULL when absent or unreadable. */
static double *get(arc_reader *r, const char *grp, const char *name, int64_t shape[ARC_MAX_DIMS],
                   int *ndim)
{
    char path[256];
    arc_array a = {0};
    mp_err err = {0};
    double *v = NULL;
    snprintf(path, sizeof path, "/%s/%s", grp, name);
    if (arc_kind_of(r, path) != ARC_DATASET || arc_read(r, path, &a, &err) != 0) goto out;
    v = rep_arr_f64(&a);
    if (v && shape) memcpy(shape, a.shape, sizeof a.shape);
    if (v && ndim) *ndim = a.ndim;
out:
    arc_array_free(&a);
    return v;
}

/* Indices of the `k` largest finite values of v[n] (descending); returns how many. */
static int top_k(const double *v, int64_t n, int k, int64_t *idx)
{
    int got = 0;
    for (int j = 0; j < k; j++) {
        int64_t best = -1;
        for (int64_t i = 0; i < n; i++) {
            if (!isfinite(v[i])) continue;
            int taken = 0;
            for (int t = 0; t < got; t++) taken |= idx[t] == i;
            if (!taken && (best < 0 || v[i] > v[best])) best = i;
        }
        if (best < 0) break;
        idx[got++] = best;
    }
    return got;
}

int rep_is_trace(const rep_model *m)
{
    arc_reader *r = NULL;
    mp_err err = {0};
    int yes = 0;
    if (!m->path || arc_open_read(&r, m->path, &err) != 0) goto out;
    yes = arc_kind_of(r, "/prompt00") == ARC_GROUP;
out:
    arc_reader_close(r);
    return yes;
}

int sec_trace_shown(rep_model *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (rep_is_trace(&m[i])) return 1;
    return 0;
}

static void tokens_and_target(rep_doc *d, arc_reader *r, const char *g)
{
    int64_t sh[ARC_MAX_DIMS] = {0}, shl[ARC_MAX_DIMS] = {0};
    double *ids = get(r, g, "input_ids", sh, NULL);
    double *tgt = get(r, g, "target_id", NULL, NULL);
    double *lg = get(r, g, "logits_last", shl, NULL);
    if (ids) {
        size_t cap = (size_t)sh[0] * 24 + 1, len = 0;
        char *s = calloc(cap, 1);
        for (int64_t t = 0; s && t < sh[0]; t++)
            len += (size_t)snprintf(s + len, cap - len, "%s%.0f", t ? " " : "", ids[t]);
        /* the trace stores token ids, not their decoded text */
        if (s)
            doc_p(d, "Tokens (%lld, ids; the trace stores no decoded text): %s", (long long)sh[0],
                  s);
        free(s);
    } else {
        doc_note(d, "This prompt has no input_ids.");
    }
    if (!tgt || !lg) {
        doc_note(d, "No target: the trace was made without --object, so there is no rank, "
                    "probability or attribution for this prompt.");
        goto out;
    }
    /* a damaged target_id may be inf or NaN: converting it as it is would be undefined */
    int64_t V = shl[0], t = rep_i64(tgt[0]);
    if (t < 0 || t >= V) {
        doc_note(d, "target_id %g is outside the vocabulary of logits_last (%lld).", tgt[0],
                 (long long)V);
        goto out;
    }
    double mx = lg[0], z = 0;
    int64_t rank = 1;
    for (int64_t i = 1; i < V; i++) mx = lg[i] > mx ? lg[i] : mx;
    for (int64_t i = 0; i < V; i++) {
        z += exp(lg[i] - mx);
        rank += lg[i] > lg[t];
    }
    doc_p(d, "Target token id %lld: rank %lld of %lld, probability %.6g at the last position.",
          (long long)t, (long long)rank, (long long)V, exp(lg[t] - mx) / z);
out:
    free(ids);
    free(tgt);
    free(lg);
}

static void gains(rep_doc *d, arc_reader *r, const char *g)
{
    int64_t sa[ARC_MAX_DIMS] = {0}, sf[ARC_MAX_DIMS] = {0};
    double *a = get(r, g, "attr_attn_gain", sa, NULL), *f = get(r, g, "attr_ffn_gain", sf, NULL);
    if (a && f && sa[0] == sf[0]) {
        static const char *const head[] = {"layer", "attention gain", "FFN gain"};
        doc_table_begin(d, 3, head);
        for (int64_t l = 0; l < sa[0]; l++) {
            char c0[24], c1[32], c2[32];
            snprintf(c0, sizeof c0, "%lld", (long long)l);
            snprintf(c1, sizeof c1, "%.6f", a[l]);
            snprintf(c2, sizeof c2, "%.6f", f[l]);
            const char *cells[] = {c0, c1, c2};
            doc_table_row(d, 3, cells);
        }
        doc_table_end(d);
    }
    free(a);
    free(f);
}

static void heads(rep_doc *d, arc_reader *r, const char *g)
{
    int64_t sh[ARC_MAX_DIMS] = {0}, idx[TOP_HEADS];
    int nd = 0;
    double *h = get(r, g, "attr_head", sh, &nd);
    if (h && nd == 2) {
        int k = top_k(h, sh[0] * sh[1], TOP_HEADS, idx);
        static const char *const head[] = {"top head", "layer", "head", "attribution"};
        doc_table_begin(d, 4, head);
        for (int j = 0; j < k; j++) {
            char c0[8], c1[24], c2[24], c3[32];
            snprintf(c0, sizeof c0, "%d", j + 1);
            snprintf(c1, sizeof c1, "%lld", (long long)(idx[j] / sh[1]));
            snprintf(c2, sizeof c2, "%lld", (long long)(idx[j] % sh[1]));
            snprintf(c3, sizeof c3, "%.6f", h[idx[j]]);
            const char *cells[] = {c0, c1, c2, c3};
            doc_table_row(d, 4, cells);
        }
        doc_table_end(d);
    }
    free(h);
}

/* attr_expert_topk [L,k] is per routing slot; topk_idx [L,T,k] at the last position names the
 * expert of each slot. */
static void experts(rep_doc *d, arc_reader *r, const char *g)
{
    int64_t sa[ARC_MAX_DIMS] = {0}, si[ARC_MAX_DIMS] = {0}, idx[TOP_EXPERTS];
    int na = 0, ni = 0;
    double *a = get(r, g, "attr_expert_topk", sa, &na), *e = get(r, g, "topk_idx", si, &ni);
    if (!a || !e || na != 2 || ni != 3 || si[0] != sa[0] || si[2] != sa[1] || si[1] < 1) {
        if (a) doc_note(d, "attr_expert_topk without a matching topk_idx: experts not named.");
        goto out;
    }
    int k = top_k(a, sa[0] * sa[1], TOP_EXPERTS, idx);
    static const char *const head[] = {"top expert", "layer", "expert", "slot", "attribution"};
    doc_table_begin(d, 5, head);
    for (int j = 0; j < k; j++) {
        int64_t l = idx[j] / sa[1], s = idx[j] % sa[1], T = si[1];
        char c0[8], c1[24], c2[24], c3[24], c4[32];
        snprintf(c0, sizeof c0, "%d", j + 1);
        snprintf(c1, sizeof c1, "%lld", (long long)l);
        snprintf(c2, sizeof c2, "%.0f", e[(l * T + T - 1) * si[2] + s]);
        snprintf(c3, sizeof c3, "%lld", (long long)s);
        snprintf(c4, sizeof c4, "%.6f", a[idx[j]]);
        const char *cells[] = {c0, c1, c2, c3, c4};
        doc_table_row(d, 5, cells);
    }
    doc_table_end(d);
out:
    free(a);
    free(e);
}

static void neurons(rep_doc *d, arc_reader *r, const char *g)
{
    int64_t sn[ARC_MAX_DIMS] = {0}, ss[ARC_MAX_DIMS] = {0};
    int nn = 0;
    double *nr = get(r, g, "attr_neuron_top100", sn, &nn);
    double *sc = get(r, g, "attr_neuron_top100_score", ss, NULL);
    if (!nr || !sc || nn != 2 || sn[1] != 3 || ss[0] != sn[0]) goto out;
    static const char *const head[] = {"top neuron", "layer", "expert", "neuron", "score"};
    doc_table_begin(d, 5, head);
    for (int64_t j = 0; j < sn[0] && j < TOP_NEURONS; j++) {
        char c0[8], c1[24], c2[24], c3[24], c4[32];
        snprintf(c0, sizeof c0, "%lld", (long long)j + 1);
        snprintf(c1, sizeof c1, "%.0f", nr[j * 3]);
        snprintf(c2, sizeof c2, "%.0f", nr[j * 3 + 1]);
        snprintf(c3, sizeof c3, "%.0f", nr[j * 3 + 2]);
        snprintf(c4, sizeof c4, "%.6f", sc[j]);
        const char *cells[] = {c0, c1, c2, c3, c4};
        doc_table_row(d, 5, cells);
    }
    doc_table_end(d);
out:
    free(nr);
    free(sc);
}

void sec_trace(rep_doc *d, rep_model *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        arc_reader *r = NULL;
        arc_names g = {0};
        mp_err err = {0};
        if (!rep_is_trace(&m[i])) continue;
        if (arc_open_read(&r, m[i].path, &err) != 0 || arc_list(r, "/", ARC_GROUP, &g, &err) != 0) {
            doc_note(d, "%s: the trace cannot be read: %s", m[i].name, err.msg);
            goto next;
        }
        for (size_t j = 0; j < g.n; j++) {
            char *prompt = NULL, *object = NULL, title[512];
            if (strncmp(g.v[j], "prompt", 6) != 0 || rep_digits(g.v[j] + 6) < 0) continue;
            char path[64];
            snprintf(path, sizeof path, "/%s", g.v[j]);
            arc_read_attr_str(r, path, "prompt", &prompt, &err);
            if (arc_has_attr(r, path, "object"))
                arc_read_attr_str(r, path, "object", &object, &err);
            snprintf(title, sizeof title, "%s %s: \"%s\"%s%s%s", m[i].name, g.v[j],
                     prompt ? prompt : "?", object ? " → \"" : "", object ? object : "",
                     object ? "\"" : "");
            doc_h(d, 3, NULL, title);
            tokens_and_target(d, r, g.v[j]);
            gains(d, r, g.v[j]);
            heads(d, r, g.v[j]);
            experts(d, r, g.v[j]);
            neurons(d, r, g.v[j]);
            free(prompt);
            free(object);
        }
    next:
        arc_names_free(&g);
        arc_reader_close(r);
    }
}
