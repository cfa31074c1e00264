/* neurons_math.c — see neurons_math.h. Sets are sorted key arrays: intersections are merges,
 * rankings are sorts followed by run lengths, so every result is independent of input order
 * except where the header defines the order (ties). */
#include "stages/neurons_math.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KEY_LAYER_BITS 16
#define KEY_EXPERT_BITS 20
#define KEY_NEURON_BITS 28

int nm_classify(const nm_model *m, const int32_t e[3], nm_kind *kind, mp_err *err)
{
    const int32_t l = e[0], x = e[1], nrn = e[2];
    if (l == -1 && x == -1 && nrn == -1) return 0;
    if (l < 0 || l >= m->num_layers)
        return err_set(err, "neuron (%d, %d, %d): layer %d is outside 0..%lld", l, x, nrn, l,
                       (long long)m->num_layers - 1);
    int moe_layer = m->num_experts > 0 && (!m->layer_is_moe || m->layer_is_moe[l]);
    int64_t width;
    if (x >= 0) {
        if (!moe_layer)
            return err_set(err,
                           "neuron (%d, %d, %d): expert %d in layer %d, which is dense "
                           "(expected -1)",
                           l, x, nrn, x, l);
        if (x >= m->num_experts)
            return err_set(err,
                           "neuron (%d, %d, %d): expert %d does not exist in layer %d "
                           "(expected -1 or 0..%lld)",
                           l, x, nrn, x, l, (long long)m->num_experts - 1);
        *kind = NM_ROUTED;
        width = m->expert_width;
    } else if (x == -1) {
        if (moe_layer && m->shared_width <= 0)
            return err_set(err,
                           "neuron (%d, %d, %d): expert -1 (shared expert) in layer %d of a "
                           "model without a shared expert",
                           l, x, nrn, l);
        *kind = moe_layer ? NM_SHARED : NM_DENSE;
        width = moe_layer ? m->shared_width : m->dense_width;
    } else {
        return err_set(err, "neuron (%d, %d, %d): expert %d (expected -1 or an expert id)", l, x,
                       nrn, x);
    }
    if (nrn < 0 || nrn >= width)
        return err_set(err, "neuron (%d, %d, %d): neuron %d is outside 0..%lld", l, x, nrn, nrn,
                       (long long)width - 1);
    return 1;
}

uint64_t nm_key(int32_t layer, int32_t expert, int32_t neuron)
{
    return ((uint64_t)(uint32_t)layer << (KEY_EXPERT_BITS + KEY_NEURON_BITS)) |
           ((uint64_t)(uint32_t)(expert + 1) << KEY_NEURON_BITS) | (uint64_t)(uint32_t)neuron;
}

void nm_unkey(uint64_t key, int32_t e[3])
{
    e[0] = (int32_t)(key >> (KEY_EXPERT_BITS + KEY_NEURON_BITS));
    e[1] = (int32_t)((key >> KEY_NEURON_BITS) & ((1u << KEY_EXPERT_BITS) - 1)) - 1;
    e[2] = (int32_t)(key & ((1u << KEY_NEURON_BITS) - 1));
}

static int key_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void nm_sets_free(nm_sets *s)
{
    free(s->off);
    free(s->key);
    memset(s, 0, sizeof *s);
}

int nm_sets_build(const nm_model *m, const int32_t *top, int64_t n, int64_t N, unsigned kind_mask,
                  const char *what, nm_sets *s, int64_t *counts, mp_err *err)
{
    memset(s, 0, sizeof *s);
    if (n < 0 || N < 0)
        return err_set(err, "%s: negative shape [%lld, %lld]", what, (long long)n, (long long)N);
    s->n = n;
    s->off = calloc((size_t)n + 1, sizeof *s->off);
    s->key = malloc((size_t)(n * N > 0 ? n * N : 1) * sizeof *s->key);
    if (!s->off || !s->key) {
        nm_sets_free(s);
        return err_set(err, "%s: out of memory for %lld x %lld neurons", what, (long long)n,
                       (long long)N);
    }
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t c[NM_KIND_COUNT] = {0, 0, 0}, start = at;
        for (int64_t j = 0; j < N; j++) {
            const int32_t *e = top + (i * N + j) * 3;
            nm_kind kind;
            int r = nm_classify(m, e, &kind, err);
            if (r < 0) {
                err_prefix(err, "%s, sample %lld, entry %lld", what, (long long)i, (long long)j);
                nm_sets_free(s);
                return -1;
            }
            if (r == 0) continue;
            if (e[0] >= (1 << KEY_LAYER_BITS) || e[1] + 1 >= (1 << KEY_EXPERT_BITS) ||
                e[2] >= (1 << KEY_NEURON_BITS)) {
                err_set(err,
                        "%s, sample %lld, entry %lld: neuron (%d, %d, %d) is beyond 2^16 layers, "
                        "2^20 experts or 2^28 neurons",
                        what, (long long)i, (long long)j, e[0], e[1], e[2]);
                nm_sets_free(s);
                return -1;
            }
            c[kind]++;
            if (kind_mask & NM_MASK(kind)) s->key[at++] = nm_key(e[0], e[1], e[2]);
        }
        qsort(s->key + start, (size_t)(at - start), sizeof *s->key, key_cmp);
        for (int64_t q = start + 1; q < at; q++)
            if (s->key[q] == s->key[q - 1]) {
                int32_t e[3];
                nm_unkey(s->key[q], e);
                err_set(err,
                        "%s, sample %lld: neuron (%d, %d, %d) is listed twice in one top-N list",
                        what, (long long)i, e[0], e[1], e[2]);
                nm_sets_free(s);
                return -1;
            }
        /* a duplicate of a kind outside the mask stays undetected here; the all-kinds build
         * the stage always makes catches it */
        s->off[i + 1] = at;
        if (counts) memcpy(counts + i * NM_KIND_COUNT, c, sizeof c);
    }
    return 0;
}

int64_t nm_intersect_count(const uint64_t *a, int64_t na, const uint64_t *b, int64_t nb)
{
    int64_t i = 0, j = 0, c = 0;
    while (i < na && j < nb) {
        if (a[i] < b[j])
            i++;
        else if (a[i] > b[j])
            j++;
        else {
            c++;
            i++;
            j++;
        }
    }
    return c;
}

void nm_overlap(const uint64_t *a, int64_t na, const uint64_t *b, int64_t nb, double *jaccard,
                double *overlap_pct)
{
    if (na <= 0 || nb <= 0) {
        *jaccard = *overlap_pct = NAN;
        return;
    }
    int64_t c = nm_intersect_count(a, na, b, nb);
    *jaccard = (double)c / (double)(na + nb - c);
    *overlap_pct = 100.0 * (double)c / (double)(na < nb ? na : nb);
}

void nm_overlap_mean_of(const nm_sets *a, const nm_sets *b, int same, nm_overlap_mean *out)
{
    double sj = 0, sp = 0;
    int64_t pairs = 0;
    if (same) b = a;
    for (int64_t i = 0; i < a->n; i++) {
        const uint64_t *ka = a->key + a->off[i];
        int64_t na = a->off[i + 1] - a->off[i];
        if (na == 0) continue;
        for (int64_t j = same ? i + 1 : 0; j < b->n; j++) {
            int64_t nb = b->off[j + 1] - b->off[j];
            if (nb == 0) continue;
            double jac, pct;
            nm_overlap(ka, na, b->key + b->off[j], nb, &jac, &pct);
            sj += jac;
            sp += pct;
            pairs++;
        }
    }
    out->pairs = pairs;
    out->jaccard = pairs ? sj / (double)pairs : NAN;
    out->overlap_pct = pairs ? sp / (double)pairs : NAN;
}

int nm_union(const nm_sets *s, uint64_t **u, int64_t *nu, mp_err *err)
{
    int64_t m = s->off[s->n] - s->off[0];
    *u = NULL;
    *nu = 0;
    if (m == 0) return 0;
    uint64_t *k = malloc((size_t)m * sizeof *k);
    if (!k) return err_set(err, "out of memory for the union of %lld neurons", (long long)m);
    memcpy(k, s->key + s->off[0], (size_t)m * sizeof *k);
    qsort(k, (size_t)m, sizeof *k, key_cmp);
    int64_t w = 1;
    for (int64_t i = 1; i < m; i++)
        if (k[i] != k[w - 1]) k[w++] = k[i];
    *u = k;
    *nu = w;
    return 0;
}

void nm_kind_shares(const int64_t *counts, int64_t n, double share[NM_KIND_COUNT], int64_t *n_used)
{
    double acc[NM_KIND_COUNT] = {0, 0, 0};
    int64_t used = 0;
    for (int64_t i = 0; i < n; i++) {
        const int64_t *c = counts + i * NM_KIND_COUNT;
        int64_t tot = c[0] + c[1] + c[2];
        if (tot == 0) continue;
        for (int k = 0; k < NM_KIND_COUNT; k++) acc[k] += (double)c[k] / (double)tot;
        used++;
    }
    for (int k = 0; k < NM_KIND_COUNT; k++) share[k] = used ? acc[k] / (double)used : NAN;
    *n_used = used;
}

typedef struct ranked {
    uint64_t key;
    int64_t count;
} ranked;

static int ranked_cmp(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return x->key < y->key ? -1 : x->key > y->key;
}

/* Counts equal keys of k[m] (sorted here, in place) and writes the K most frequent. */
static int64_t top_counts(uint64_t *k, int64_t m, int64_t K, uint64_t *top_key, int64_t *top_count)
{
    if (m == 0 || K <= 0) return 0;
    qsort(k, (size_t)m, sizeof *k, key_cmp);
    ranked *r = malloc((size_t)m * sizeof *r);
    if (!r) return -1;
    int64_t nr = 0;
    for (int64_t i = 0; i < m; i++) {
        if (nr > 0 && r[nr - 1].key == k[i])
            r[nr - 1].count++;
        else
            r[nr++] = (ranked){k[i], 1};
    }
    qsort(r, (size_t)nr, sizeof *r, ranked_cmp);
    int64_t w = nr < K ? nr : K;
    for (int64_t i = 0; i < w; i++) {
        top_key[i] = r[i].key;
        top_count[i] = r[i].count;
    }
    free(r);
    return w;
}

static int64_t top_of(const nm_sets *s, int64_t K, int32_t *out, int experts)
{
    int64_t m = s->off[s->n] - s->off[0], w = -1;
    const uint64_t *src = s->key + s->off[0];
    uint64_t *k = malloc((size_t)(m > 0 ? m : 1) * sizeof *k);
    uint64_t *tk = malloc((size_t)(K > 0 ? K : 1) * sizeof *tk);
    int64_t *tc = malloc((size_t)(K > 0 ? K : 1) * sizeof *tc);
    if (!k || !tk || !tc) goto done;
    /* experts: only routed neurons (expert field > 0 in the key), without the neuron bits, so
     * that a key stands for (layer, expert) */
    int64_t mk = 0;
    for (int64_t i = 0; i < m; i++) {
        if (!experts)
            k[mk++] = src[i];
        else if ((src[i] >> KEY_NEURON_BITS) & ((1u << KEY_EXPERT_BITS) - 1))
            k[mk++] = src[i] >> KEY_NEURON_BITS << KEY_NEURON_BITS;
    }
    w = top_counts(k, mk, K, tk, tc);
    for (int64_t i = 0; i < w; i++) {
        int32_t e[3];
        nm_unkey(tk[i], e);
        out[3 * i] = e[0];
        out[3 * i + 1] = experts ? e[1] : e[2];
        out[3 * i + 2] = (int32_t)tc[i];
    }
done:
    free(k);
    free(tk);
    free(tc);
    return w;
}

int64_t nm_top_experts(const nm_sets *routed, int64_t K, int32_t *out)
{
    return top_of(routed, K, out, 1);
}

int64_t nm_top_shared_neurons(const nm_sets *shared, int64_t K, int32_t *out)
{
    return top_of(shared, K, out, 0);
}
