/* neurons.c — the neuron analyses (Figure 6, Table 7, Appendix C) from the per-sample top-N
 * neuron lists the capture pass stores with stage `attribute` (attribution/<rel>/neuron_top{N}
 * [n, N, 3] int32 = (layer, expert, neuron), expert -1 = shared expert or dense MLP, padding
 * (-1, -1, -1)). Archive only (no model): rank 0 reads the capture units; other ranks return 0.
 * For each N of neurons.top (each must be one of attribute.neurons_top):
 *
 * unit neurons/<rel> -> analyses/<rel>/neurons/top{N}
 *   attributes
 *     N, n                       top-N size, samples
 *     frac_shared, frac_routed,  mean over samples of the fraction of the sample's top-N
 *     frac_dense                 neurons in the shared expert / routed experts / dense MLPs
 *                                (kinds: neurons_math.h; they sum to 1; 0 where the model has
 *                                none of a kind: MoE without shared expert -> frac_shared = 0,
 *                                dense model -> frac_dense = 1)
 *     jaccard, overlap_pct,      mean over the pairs of samples i < j of |Si n Sj| / |Si u Sj|
 *     pairs                      and of 100 |Si n Sj| / min(|Si|, |Sj|), Si = sample i's top-N
 *                                set; pairs = n(n-1)/2 (NaN means when n < 2)
 *     union_size                 |S1 u ... u Sn|
 *     shared_jaccard,            the same restricted to shared-expert neurons (Si n shared);
 *     shared_overlap_pct,        pairs where either set is empty are left out, shared_pairs
 *     shared_pairs,              counts the rest (NaN means, 0 pairs, for models without a
 *     shared_union_size          shared expert)
 *   datasets
 *     count_shared, count_routed, count_dense  [n] int64: each sample's neurons of each kind
 *     top_experts [<=K, 3] int32 (layer, expert, count): the routed experts holding the most
 *         top-N neurons summed over samples; ties: lower layer, then lower id;
 *         K = neurons.top_experts; only experts with count > 0 (empty for dense models)
 *     top_shared_neurons [<=K, 3] int32 (layer, neuron, count): the shared-expert neurons in
 *         the most samples' top-N; ties: lower layer, then lower neuron;
 *         K = neurons.top_shared_neurons (empty without a shared expert)
 *
 * unit neurons/cross (after every capture unit) -> analyses/pooled/neurons/top{N}
 *   attributes N, n (all samples), frac_shared, frac_routed, frac_dense: as above over every
 *     sample of every relation, each sample weighted equally (Figure 6)
 *   datasets, relations in run order (R = number of relations):
 *     relations [R] strings; union_size [R] int64
 *     union_jaccard, union_overlap_pct [R, R]: the overlap of the relations' union sets
 *         Ur = u_i Si (diagonal 1 and 100)
 *     pair_jaccard, pair_overlap_pct [R, R], pairs [R, R] int64: mean overlap over pairs of
 *         samples (i of r, j of r'); on the diagonal i < j, so it equals the relation's
 *         jaccard / overlap_pct
 *     shared_* of all of these (shared_union_size, shared_union_jaccard, ...) for the
 *         shared-expert neurons (NaN / 0 without a shared expert)
 * docs/method.md ("Neurons") gives the reasons for each choice. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages/neurons_math.h"
#include "stages/schema_neurons.h"
#include "stages/analysis.h"

/* One relation's top-N lists as sets. */
typedef struct nr_rel {
    nm_sets all, shared;
    int64_t *counts; /* [n][NM_KIND_COUNT] */
    int64_t n;
} nr_rel;

static void nr_rel_free(nr_rel *r)
{
    nm_sets_free(&r->all);
    nm_sets_free(&r->shared);
    free(r->counts);
    memset(r, 0, sizeof *r);
}

static nm_model model_of(const mcfg *cf)
{
    nm_model m = {cf->num_hidden_layers,
                  cf->num_experts,
                  cf->layer_is_moe,
                  cf->moe_intermediate_size,
                  cf->shared_expert_intermediate_size,
                  cf->intermediate_size};
    return m;
}

/* The N of neurons.top, each checked against attribute.neurons_top. */
static int tops_of(const analysis_ctx *c, const int64_t **tops, size_t *n, mp_err *err)
{
    const int64_t *have;
    size_t nh = rcfg_int_list(c->cfg, "attribute.neurons_top", &have);
    *n = rcfg_int_list(c->cfg, "neurons.top", tops);
    for (size_t i = 0; i < *n; i++) {
        size_t j = 0;
        while (j < nh && have[j] != (*tops)[i]) j++;
        if (j == nh) {
            char list[256] = "";
            for (size_t q = 0; q < nh; q++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%lld", q ? ", " : "",
                         (long long)have[q]);
            return err_set(err,
                           "%s: neurons.top has %lld, which is not among attribute.neurons_top "
                           "[%s] (the capture pass stores only those top-N lists; add it there)",
                           rcfg_source(c->cfg), (long long)(*tops)[i], list);
        }
    }
    return 0;
}

/* Reads attribution/<rel>/neuron_top{N} from unit capture/<rel> and builds its sets. */
static int load_rel(const analysis_ctx *c, const char *rel, int64_t N, nr_rel *out, mp_err *err)
{
    char unit[ARC_MAX_UNIT_ID + 16], path[300], gain[300];
    arc_reader *rd = NULL;
    arc_array a = {0};
    nm_model m = model_of(c->model_cfg);
    int rc = -1;
    memset(out, 0, sizeof *out);
    snprintf(unit, sizeof unit, "capture/%s", rel);
    snprintf(path, sizeof path, "attribution/%s/neuron_top%lld", rel, (long long)N);
    snprintf(gain, sizeof gain, "attribution/%s/ffn_gain", rel);
    if (analysis_open_unit(c, unit, &rd, err) != 0) goto done;
    if (arc_kind_of(rd, path) != ARC_DATASET) {
        if (arc_kind_of(rd, gain) == ARC_DATASET)
            err_set(err,
                    "%s has no %s: this capture unit was made with another "
                    "attribute.neurons_top (run capture again with %lld in it, into a fresh "
                    "`out` folder)",
                    unit, path, (long long)N);
        else if (!rcfg_list_has(c->cfg, "stages", "attribute"))
            err_set(err,
                    "%s has no %s: stage neurons needs stage attribute, which is not in "
                    "`stages` of %s (add it; the capture units then need a fresh `out` folder)",
                    unit, path, rcfg_source(c->cfg));
        else
            err_set(err,
                    "%s has no %s: stage neurons needs stage attribute, and this capture "
                    "unit was made without it (run capture again into a fresh `out` folder)",
                    unit, path);
        goto done;
    }
    if (arc_read(rd, path, &a, err) != 0) goto done;
    if (a.type != ARC_I32 || a.ndim != 3 || a.shape[1] != N || a.shape[2] != 3) {
        err_set(err,
                "%s: %s is %s with %d dimensions [%lld, %lld, ...] (expected int32 "
                "[n, %lld, 3])",
                unit, path, arc_type_name(a.type), a.ndim, (long long)a.shape[0],
                (long long)(a.ndim > 1 ? a.shape[1] : -1), (long long)N);
        goto done;
    }
    out->n = a.shape[0];
    out->counts = malloc((size_t)(out->n * NM_KIND_COUNT + 1) * sizeof *out->counts);
    if (!out->counts) {
        err_set(err, "out of memory reading %s", path);
        goto done;
    }
    if (nm_sets_build(&m, a.data, out->n, N, NM_MASK_ALL, path, &out->all, out->counts, err) != 0 ||
        nm_sets_build(&m, a.data, out->n, N, NM_MASK(NM_SHARED), path, &out->shared, NULL, err) !=
            0) {
        err_prefix(err, "%s", unit);
        goto done;
    }
    rc = 0;
done:
    if (rc != 0) nr_rel_free(out);
    arc_array_free(&a);
    arc_reader_close(rd);
    return rc;
}

/* N, n and the kind shares onto g: a relation's top{N} group or (pooled) the cross one. */
static int write_shares(arc_unit *u, const char *g, int pooled, int64_t N, const int64_t *counts,
                        int64_t n, mp_err *err)
{
    double share[NM_KIND_COUNT];
    int64_t used;
    nm_kind_shares(counts, n, share, &used);
    const sch_entry *const e[5] = {pooled ? NEU(POOLED_N) : NEU(REL_N),
                                   pooled ? NEU(POOLED_SAMPLES) : NEU(REL_SAMPLES),
                                   pooled ? NEU(POOLED_FRAC_SHARED) : NEU(REL_FRAC_SHARED),
                                   pooled ? NEU(POOLED_FRAC_ROUTED) : NEU(REL_FRAC_ROUTED),
                                   pooled ? NEU(POOLED_FRAC_DENSE) : NEU(REL_FRAC_DENSE)};
    return sch_attr_i64(u, e[0], g, NULL, N, err) || sch_attr_i64(u, e[1], g, NULL, n, err) ||
                   sch_attr_f64(u, e[2], g, NULL, share[NM_SHARED], err) ||
                   sch_attr_f64(u, e[3], g, NULL, share[NM_ROUTED], err) ||
                   sch_attr_f64(u, e[4], g, NULL, share[NM_DENSE], err)
               ? -1
               : 0;
}

static int write_top(arc_unit *u, const char *g, const sch_entry *e, const char *name,
                     const nm_sets *s, int64_t K, int experts, mp_err *err)
{
    char p[400];
    int32_t *t = malloc((size_t)(3 * K) * sizeof *t);
    if (!t) return err_set(err, "out of memory for %lld rows of %s", (long long)K, name);
    int64_t w = experts ? nm_top_experts(s, K, t) : nm_top_shared_neurons(s, K, t);
    if (w < 0) {
        free(t);
        return err_set(err, "out of memory ranking %s", name);
    }
    int64_t sh[2] = {w, 3};
    snprintf(p, sizeof p, "%s/%s", g, name);
    int rc = sch_write(u, e, p, sh, t, err);
    free(t);
    return rc;
}

static int neurons_rel_run(analysis_ctx *c, mp_err *err)
{
    const int64_t *tops;
    size_t nt;
    nr_rel r;
    int rc = -1;
    memset(&r, 0, sizeof r);
    if (c->rank != 0) return 0;
    if (tops_of(c, &tops, &nt, err) != 0) return -1;
    const int64_t K = rcfg_int(c->cfg, "neurons.top_experts");
    const int64_t Ks = rcfg_int(c->cfg, "neurons.top_shared_neurons");
    for (size_t t = 0; t < nt; t++) {
        char g[300], p[400];
        nm_overlap_mean om;
        uint64_t *u = NULL;
        int64_t nu = 0;
        if (load_rel(c, c->rel->id, tops[t], &r, err) != 0) goto done;
        char Ns[24];
        snprintf(Ns, sizeof Ns, "%lld", (long long)tops[t]);
        if (sch_path(g, sizeof g, err, NEU(REL_TOP), c->rel->id, Ns) != 0) goto done;
        /* per-sample counts of each kind */
        static const sch_entry *const kn[NM_KIND_COUNT] = {
            NEU(REL_COUNT_SHARED), NEU(REL_COUNT_ROUTED), NEU(REL_COUNT_DENSE)};
        int64_t *col = malloc((size_t)(r.n + 1) * sizeof *col);
        if (!col) {
            err_set(err, "out of memory");
            goto done;
        }
        for (int k = 0; k < NM_KIND_COUNT; k++) {
            for (int64_t i = 0; i < r.n; i++) col[i] = r.counts[i * NM_KIND_COUNT + k];
            if (sch_path(p, sizeof p, err, kn[k], c->rel->id, Ns) != 0 ||
                sch_write(c->out, kn[k], p, &r.n, col, err) != 0) {
                free(col);
                goto done;
            }
        }
        free(col);
        if (write_top(c->out, g, NEU(REL_TOP_EXPERTS), "top_experts", &r.all, K, 1, err) != 0 ||
            write_top(c->out, g, NEU(REL_TOP_SHARED), "top_shared_neurons", &r.shared, Ks, 0,
                      err) != 0 ||
            write_shares(c->out, g, 0, tops[t], r.counts, r.n, err) != 0)
            goto done;
        static const sch_entry *const ov[2][4] = {
            {NEU(REL_JACCARD), NEU(REL_OVERLAP_PCT), NEU(REL_PAIRS), NEU(REL_UNION_SIZE)},
            {NEU(REL_SHARED_JACCARD), NEU(REL_SHARED_OVERLAP_PCT), NEU(REL_SHARED_PAIRS),
             NEU(REL_SHARED_UNION_SIZE)}};
        for (int scope = 0; scope < 2; scope++) {
            const nm_sets *s = scope ? &r.shared : &r.all;
            nm_overlap_mean_of(s, NULL, 1, &om);
            if (nm_union(s, &u, &nu, err) != 0) goto done;
            free(u);
            if (sch_attr_f64(c->out, ov[scope][0], g, NULL, om.jaccard, err) != 0 ||
                sch_attr_f64(c->out, ov[scope][1], g, NULL, om.overlap_pct, err) != 0 ||
                sch_attr_i64(c->out, ov[scope][2], g, NULL, om.pairs, err) != 0 ||
                sch_attr_i64(c->out, ov[scope][3], g, NULL, nu, err) != 0)
                goto done;
        }
        nr_rel_free(&r);
    }
    rc = 0;
done:
    nr_rel_free(&r);
    return rc;
}

/* The [R, R] matrices of one scope (0 = all neurons, 1 = shared-expert neurons). */
static int write_cross_scope(analysis_ctx *c, const char *g, nr_rel *rs, size_t R, int scope,
                             mp_err *err)
{
    const char *pre = scope ? "shared_" : "";
    double *mat = malloc((size_t)(4 * R * R + 1) * sizeof *mat);
    int64_t *pairs = malloc((size_t)(R * R + 1) * sizeof *pairs),
            *usz = malloc((R + 1) * sizeof *usz);
    uint64_t **un = calloc(R + 1, sizeof *un);
    int rc = -1;
    if (!mat || !pairs || !usz || !un) {
        err_set(err, "out of memory");
        goto done;
    }
    double *uj = mat, *up = mat + R * R, *pj = mat + 2 * R * R, *pp = mat + 3 * R * R;
    for (size_t a = 0; a < R; a++)
        if (nm_union(scope ? &rs[a].shared : &rs[a].all, &un[a], &usz[a], err) != 0) goto done;
    for (size_t a = 0; a < R; a++)
        for (size_t b = a; b < R; b++) {
            nm_overlap_mean om;
            const nm_sets *sa = scope ? &rs[a].shared : &rs[a].all;
            const nm_sets *sb = scope ? &rs[b].shared : &rs[b].all;
            nm_overlap_mean_of(sa, sb, a == b, &om);
            nm_overlap(un[a], usz[a], un[b], usz[b], &uj[a * R + b], &up[a * R + b]);
            pj[a * R + b] = om.jaccard;
            pp[a * R + b] = om.overlap_pct;
            pairs[a * R + b] = om.pairs;
            uj[b * R + a] = uj[a * R + b];
            up[b * R + a] = up[a * R + b];
            pj[b * R + a] = pj[a * R + b];
            pp[b * R + a] = pp[a * R + b];
            pairs[b * R + a] = pairs[a * R + b];
        }
    int64_t sh[2] = {(int64_t)R, (int64_t)R}, r1 = (int64_t)R;
    static const sch_entry *const e[2][6] = {
        {NEU(POOLED_UNION_JACCARD), NEU(POOLED_UNION_OVERLAP_PCT), NEU(POOLED_PAIR_JACCARD),
         NEU(POOLED_PAIR_OVERLAP_PCT), NEU(POOLED_PAIRS), NEU(POOLED_UNION_SIZE)},
        {NEU(POOLED_SHARED_UNION_JACCARD), NEU(POOLED_SHARED_UNION_OVERLAP_PCT),
         NEU(POOLED_SHARED_PAIR_JACCARD), NEU(POOLED_SHARED_PAIR_OVERLAP_PCT),
         NEU(POOLED_SHARED_PAIRS), NEU(POOLED_SHARED_UNION_SIZE)}};
    const struct {
        const char *name;
        const int64_t *shape;
        const void *v;
    } ms[] = {{"union_jaccard", sh, uj}, {"union_overlap_pct", sh, up},
              {"pair_jaccard", sh, pj},  {"pair_overlap_pct", sh, pp},
              {"pairs", sh, pairs},      {"union_size", &r1, usz}};
    char p[400];
    for (size_t i = 0; i < 6; i++) {
        snprintf(p, sizeof p, "%s/%s%s", g, pre, ms[i].name);
        if (sch_write(c->out, e[scope][i], p, ms[i].shape, ms[i].v, err) != 0) goto done;
    }
    rc = 0;
done:
    for (size_t a = 0; un && a < R; a++) free(un[a]);
    free(un);
    free(mat);
    free(pairs);
    free(usz);
    return rc;
}

static int neurons_cross_run(analysis_ctx *c, mp_err *err)
{
    const int64_t *tops;
    size_t nt, R = c->rels->n;
    nr_rel *rs = NULL;
    int64_t *counts = NULL;
    const char **names = NULL;
    int rc = -1;
    if (c->rank != 0) return 0;
    if (tops_of(c, &tops, &nt, err) != 0) return -1;
    rs = calloc(R + 1, sizeof *rs);
    names = calloc(R + 1, sizeof *names);
    if (!rs || !names) {
        err_set(err, "out of memory");
        goto done;
    }
    for (size_t a = 0; a < R; a++) names[a] = c->rels->rel[a].id;
    for (size_t t = 0; t < nt; t++) {
        char g[300], p[400];
        int64_t n = 0;
        for (size_t a = 0; a < R; a++) {
            if (load_rel(c, c->rels->rel[a].id, tops[t], &rs[a], err) != 0) goto done;
            n += rs[a].n;
        }
        free(counts);
        counts = malloc((size_t)(n * NM_KIND_COUNT + 1) * sizeof *counts);
        if (!counts) {
            err_set(err, "out of memory");
            goto done;
        }
        for (size_t a = 0, at = 0; a < R; at += (size_t)rs[a].n * NM_KIND_COUNT, a++)
            memcpy(counts + at, rs[a].counts, (size_t)rs[a].n * NM_KIND_COUNT * sizeof *counts);
        char Ns[24];
        snprintf(Ns, sizeof Ns, "%lld", (long long)tops[t]);
        int64_t r1 = (int64_t)R;
        if (sch_path(g, sizeof g, err, NEU(POOLED_TOP), Ns) != 0 ||
            sch_path(p, sizeof p, err, NEU(POOLED_RELATIONS), Ns) != 0)
            goto done;
        if (sch_write(c->out, NEU(POOLED_RELATIONS), p, &r1, names, err) != 0 ||
            write_cross_scope(c, g, rs, R, 0, err) != 0 ||
            write_cross_scope(c, g, rs, R, 1, err) != 0 ||
            write_shares(c->out, g, 1, tops[t], counts, n, err) != 0)
            goto done;
        for (size_t a = 0; a < R; a++) nr_rel_free(&rs[a]);
    }
    rc = 0;
done:
    for (size_t a = 0; rs && a < R; a++) nr_rel_free(&rs[a]);
    free(rs);
    free(names);
    free(counts);
    return rc;
}

/* Neuron analyses (Figure 6, Table 7). */
/* clang-format off */
static const rcfg_key NEURONS_KEYS[] = {
    {"neurons", RCFG_MAP, 0, NULL, RCFG_NOLIM, NULL, "Neuron-level analyses (Figure 6, Table 7)."},
    {"neurons.top", RCFG_INT_LIST, 0, "[100, 300]", 1, 1e7, NULL,
     "Top-N neuron sets per sample for the shared/routed split and overlaps."},
    {"neurons.top_experts", RCFG_INT, 0, "5", 1, 1e6, NULL,
     "Routed experts to list per relation."},
    {"neurons.top_shared_neurons", RCFG_INT, 0, "5", 1, 1e6, NULL,
     "Shared-expert neurons to list per relation."},
};
/* clang-format on */

const analysis_def analysis_neurons = {
    .name = "neurons",
    .order = 60,
    .scope = ANALYSIS_PER_RELATION,
    .after = {"capture", "attribute"},
    .run = neurons_rel_run,
    .doc = "per relation: shared / routed / dense shares of the top-N neurons, overlap between "
           "samples, top routed experts and shared-expert neurons (analyses/<rel>/neurons); "
           "needs stage attribute",
    .config = RCFG_SECTION(NEURONS_KEYS),
};

const analysis_def analysis_neurons_cross = {
    .name = "neurons",
    .order = 61,
    .scope = ANALYSIS_PER_MODEL,
    .unit_name = "cross",
    .after = {"capture", "attribute"},
    .run = neurons_cross_run,
    .doc = "overlap of the top-N neuron sets between relations, and the model's shares "
           "(analyses/pooled/neurons)",
};
