/* neurons_check.c — test tool: recomputes the neuron analyses of a moeprobe archive (stage
 * neurons: analyses/<rel>/neurons/top{N}, analyses/pooled/neurons/top{N}) from the per-sample
 * top-N lists (attribution/<rel>/neuron_top{N}) in a deliberately different way from
 * stages/neurons_math.c — dense index arrays with sample stamps instead of sorted-key merges,
 * repeated max scans instead of sorts — and compares every field: counts and top lists
 * exactly, means within 1e-12 (percentages 1e-10). It also checks the invariants: shares sum
 * to 1, frac_dense = 1 for dense models, frac_shared = 0 without a shared expert, matrices
 * symmetric, union_jaccard diagonal 1, pair_* diagonal = the relation's own overlap.
 *   neurons_check ARCHIVE.h5 LABEL
 * (--top-experts K and --top-shared-neurons K: the config's neurons.top_experts and
 * neurons.top_shared_neurons, 5 by default, as in the config.)
 * Prints "PASS|FAIL LABEL/<rel>/top{N}", "PASS|FAIL LABEL/pooled/top{N}", and INFO lines with
 * the model's shares and mean overlaps within and between relations. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/archive.h"
#include "pipeline/model/model_config.h"

typedef struct rel_ids {
    int64_t n, N;
    int64_t *id; /* [n][N], -1 = padding */
    int *kind;   /* [n][N]: 0 shared, 1 routed, 2 dense */
} rel_ids;

static mcfg cf;
static int64_t W, M; /* neuron stride, id space */

static int kind_of(int32_t l, int32_t e)
{
    if (e >= 0) return 1;
    return cf.num_experts > 0 && cf.layer_is_moe[l] && cf.shared_expert_intermediate_size > 0 ? 0
                                                                                              : 2;
}

static int near(double a, double b, double tol)
{
    return (isnan(a) && isnan(b)) || fabs(a - b) <= tol;
}

/* Mean jaccard / overlap_pct over pairs (i of a, j of b; i < j when same), restricted to
 * kind `only` (-1 = all), pairs with both sets non-empty. */
static void pair_means(const rel_ids *a, const rel_ids *b, int same, int only, int64_t *stamp,
                       double *mj, double *mp, int64_t *pairs)
{
    double sj = 0, sp = 0;
    int64_t np = 0;
    for (int64_t i = 0; i < a->n; i++) {
        int64_t na = 0;
        for (int64_t q = 0; q < a->N; q++) {
            int64_t x = a->id[i * a->N + q];
            if (x >= 0 && (only < 0 || a->kind[i * a->N + q] == only)) {
                stamp[x] = 1;
                na++;
            }
        }
        if (!na) continue;
        for (int64_t j = same ? i + 1 : 0; j < b->n; j++) {
            int64_t nb = 0, c = 0;
            for (int64_t q = 0; q < b->N; q++) {
                int64_t x = b->id[j * b->N + q];
                if (x < 0 || (only >= 0 && b->kind[j * b->N + q] != only)) continue;
                nb++;
                c += stamp[x];
            }
            if (!nb) continue;
            sj += (double)c / (double)(na + nb - c);
            sp += 100.0 * (double)c / (double)(na < nb ? na : nb);
            np++;
        }
        /* clear the stamps so that a later family cannot match them */
        for (int64_t q = 0; q < a->N; q++)
            if (a->id[i * a->N + q] >= 0) stamp[a->id[i * a->N + q]] = 0;
    }
    *pairs = np;
    *mj = np ? sj / (double)np : NAN;
    *mp = np ? sp / (double)np : NAN;
}

static unsigned char *union_of(const rel_ids *r, int only, int64_t *size)
{
    unsigned char *u = calloc((size_t)M, 1);
    *size = 0;
    for (int64_t q = 0; u && q < r->n * r->N; q++)
        if (r->id[q] >= 0 && (only < 0 || r->kind[q] == only) && !u[r->id[q]]) {
            u[r->id[q]] = 1;
            (*size)++;
        }
    return u;
}

static double attr(arc_reader *a, const char *g, const char *name)
{
    double v = NAN;
    mp_err err;
    err_init(&err);
    if (arc_read_attr_f64(a, g, name, &v, &err) != 0) return -12345.678;
    return v;
}

/* The top K by descending count, then lower index; count > 0 only. out[K][3] = (index / per,
 * index % per, count). Returns rows. */
static int64_t top_scan(int64_t *cnt, int64_t size, int64_t per, int64_t K, int32_t *out)
{
    int64_t w = 0;
    for (; w < K; w++) {
        int64_t best = -1;
        for (int64_t i = 0; i < size; i++)
            if (cnt[i] > 0 && (best < 0 || cnt[i] > cnt[best])) best = i;
        if (best < 0) break;
        out[3 * w] = (int32_t)(best / per);
        out[3 * w + 1] = (int32_t)(best % per);
        out[3 * w + 2] = (int32_t)cnt[best];
        cnt[best] = -cnt[best]; /* taken */
    }
    for (int64_t i = 0; i < size; i++) cnt[i] = cnt[i] < 0 ? -cnt[i] : cnt[i];
    return w;
}

static int same_table(arc_reader *a, const char *p, const int32_t *t, int64_t rows)
{
    arc_array x = {0};
    mp_err err;
    err_init(&err);
    int ok = arc_read(a, p, &x, &err) == 0 && x.type == ARC_I32 && x.ndim == 2 &&
             x.shape[0] == rows && x.shape[1] == 3 && !memcmp(x.data, t, (size_t)rows * 3 * 4);
    arc_array_free(&x);
    return ok;
}

int main(int argc, char **argv)
{
    arc_reader *a = NULL;
    arc_names rels = {0}, tops = {0};
    mp_err err;
    char *cfg_json = NULL;
    int failed = 0;
    err_init(&err);
    int64_t k_exp = 5, k_sh = 5;
    if (argc < 3) {
        fprintf(
            stderr,
            "usage: neurons_check ARCHIVE.h5 LABEL [--top-experts K] [--top-shared-neurons K]\n");
        return 2;
    }
    for (int i = 3; i < argc; i += 2) {
        /* an unknown or incomplete option is an error, never ignored */
        int known = !strcmp(argv[i], "--top-experts") || !strcmp(argv[i], "--top-shared-neurons");
        if (!known || i + 1 >= argc) {
            fprintf(stderr,
                    "neurons_check: bad option \"%s\" (expected --top-experts K or "
                    "--top-shared-neurons K)\n",
                    argv[i]);
            return 2;
        }
        if (!strcmp(argv[i], "--top-experts"))
            k_exp = atoll(argv[i + 1]);
        else
            k_sh = atoll(argv[i + 1]);
    }
    if (k_exp > 64 || k_sh > 64) {
        fprintf(stderr, "neurons_check: K up to 64\n");
        return 2;
    }
    const char *label = argv[2];
    if (arc_open_read(&a, argv[1], &err) != 0 ||
        arc_read_attr_str(a, "/", "model_config_json", &cfg_json, &err) != 0 ||
        mcfg_parse(&cf, cfg_json, "model_config_json", &err) != 0 ||
        arc_list(a, "/attribution", ARC_GROUP, &rels, &err) != 0) {
        printf("FAIL %s: %s\n", label, err.msg);
        return 1;
    }
    char g0[512];
    snprintf(g0, sizeof g0, "analyses/%s/neurons", rels.n ? rels.v[0] : "");
    if (!rels.n || arc_list(a, g0, ARC_GROUP, &tops, &err) != 0 || !tops.n) {
        printf("FAIL %s: no %s groups (%s)\n", label, g0, err.msg);
        return 1;
    }
    const int64_t L = cf.num_hidden_layers, E = cf.num_experts;
    int64_t ws[3] = {cf.moe_intermediate_size, cf.shared_expert_intermediate_size,
                     cf.intermediate_size};
    W = 0;
    for (int i = 0; i < 3; i++) W = ws[i] > W ? ws[i] : W;
    M = L * (E + 1) * W;
    const int64_t R = (int64_t)rels.n;
    int64_t *stamp = calloc((size_t)M, sizeof *stamp);
    rel_ids *rv = calloc((size_t)R, sizeof *rv);
    for (size_t t = 0; t < tops.n; t++) {
        int64_t N = atoll(tops.v[t] + 3);
        double acc[3] = {0, 0, 0}, within = 0, between = 0;
        int64_t ntot = 0, nbetween = 0;
        for (int64_t r = 0; r < R; r++) {
            char p[600], g[600], why[512] = "";
            arc_array x = {0};
            snprintf(p, sizeof p, "attribution/%s/neuron_top%lld", rels.v[r], (long long)N);
            snprintf(g, sizeof g, "analyses/%s/neurons/top%lld", rels.v[r], (long long)N);
            if (arc_read(a, p, &x, &err) != 0 || x.type != ARC_I32 || x.ndim != 3 ||
                x.shape[1] != N) {
                printf("FAIL %s/%s/top%lld: cannot read %s\n", label, rels.v[r], (long long)N, p);
                failed++;
                arc_array_free(&x);
                continue;
            }
            rel_ids *ri = &rv[r];
            free(ri->id);
            free(ri->kind);
            ri->n = x.shape[0];
            ri->N = N;
            ri->id = malloc((size_t)(ri->n * N + 1) * sizeof *ri->id);
            ri->kind = malloc((size_t)(ri->n * N + 1) * sizeof *ri->kind);
            int64_t *cnt = calloc((size_t)(ri->n * 3 + 1), sizeof *cnt);
            int64_t *ecnt = calloc((size_t)(L * (E > 0 ? E : 1)), sizeof *ecnt);
            int64_t *scnt = calloc((size_t)(L * W), sizeof *scnt);
            const int32_t *d = x.data;
            for (int64_t q = 0; q < ri->n * N; q++) {
                const int32_t *e = d + 3 * q;
                if (e[0] < 0) {
                    ri->id[q] = -1;
                    ri->kind[q] = -1;
                    continue;
                }
                ri->id[q] = (e[0] * (E + 1) + e[1] + 1) * W + e[2];
                ri->kind[q] = kind_of(e[0], e[1]);
                cnt[(q / N) * 3 + ri->kind[q]]++;
                if (ri->kind[q] == 1) ecnt[e[0] * E + e[1]]++;
                if (ri->kind[q] == 0) scnt[e[0] * W + e[2]]++;
            }
            arc_array_free(&x);
            /* counts and shares */
            static const char *const cn[3] = {"count_shared", "count_routed", "count_dense"};
            for (int k = 0; k < 3; k++) {
                arc_array c = {0};
                snprintf(p, sizeof p, "%s/%s", g, cn[k]);
                int ok =
                    arc_read(a, p, &c, &err) == 0 && c.type == ARC_I64 && (int64_t)c.count == ri->n;
                for (int64_t i = 0; ok && i < ri->n; i++)
                    ok = ((int64_t *)c.data)[i] == cnt[i * 3 + k];
                if (!ok && !why[0]) snprintf(why, sizeof why, "%s differs", cn[k]);
                arc_array_free(&c);
            }
            double fr[3] = {0, 0, 0};
            int64_t used = 0;
            for (int64_t i = 0; i < ri->n; i++) {
                int64_t tot = cnt[3 * i] + cnt[3 * i + 1] + cnt[3 * i + 2];
                if (!tot) continue;
                used++;
                for (int k = 0; k < 3; k++) {
                    fr[k] += (double)cnt[3 * i + k] / (double)tot;
                    acc[k] += (double)cnt[3 * i + k] / (double)tot;
                }
            }
            ntot += used;
            static const char *const fn[3] = {"frac_shared", "frac_routed", "frac_dense"};
            double fsum = 0;
            for (int k = 0; k < 3; k++) {
                double v = attr(a, g, fn[k]);
                fsum += v;
                if (!near(v, fr[k] / (double)used, 1e-12) && !why[0])
                    snprintf(why, sizeof why, "%s %.15g, recomputed %.15g", fn[k], v,
                             fr[k] / (double)used);
            }
            if (!near(fsum, 1, 1e-12) && !why[0])
                snprintf(why, sizeof why, "shares sum to %.15g", fsum);
            if (E == 0 && attr(a, g, "frac_dense") != 1 && !why[0])
                snprintf(why, sizeof why, "dense model, frac_dense != 1");
            if (cf.shared_expert_intermediate_size == 0 && attr(a, g, "frac_shared") != 0 &&
                !why[0])
                snprintf(why, sizeof why, "no shared expert, frac_shared != 0");
            /* overlaps within the relation, all neurons and shared-expert neurons */
            for (int scope = 0; scope < 2; scope++) {
                const char *pre = scope ? "shared_" : "";
                double mj, mp;
                int64_t pairs, us;
                char n1[64], n2[64], n3[64], n4[64];
                pair_means(ri, ri, 1, scope ? 0 : -1, stamp, &mj, &mp, &pairs);
                free(union_of(ri, scope ? 0 : -1, &us));
                snprintf(n1, sizeof n1, "%sjaccard", pre);
                snprintf(n2, sizeof n2, "%soverlap_pct", pre);
                snprintf(n3, sizeof n3, "%spairs", pre);
                snprintf(n4, sizeof n4, "%sunion_size", pre);
                double vj = attr(a, g, n1), vp = attr(a, g, n2);
                if ((!near(vj, mj, 1e-12) || !near(vp, mp, 1e-10) ||
                     attr(a, g, n3) != (double)pairs || attr(a, g, n4) != (double)us) &&
                    !why[0])
                    snprintf(why, sizeof why, "%s %.15g / %.15g, %s %.15g / %.15g, %s, %s", n1, vj,
                             mj, n2, vp, mp, n3, n4);
                if (!isnan(vj) && (vj < 0 || vj > 1 || vp < 0 || vp > 100) && !why[0])
                    snprintf(why, sizeof why, "%s %g out of range", n1, vj);
                if (!scope && pairs != ri->n * (ri->n - 1) / 2 && !why[0])
                    snprintf(why, sizeof why, "pairs %lld, expected n(n-1)/2", (long long)pairs);
                if (!scope) within += mj;
            }
            /* rankings: exactly min(K, experts / neurons with count > 0) rows */
            int32_t tb[64 * 3];
            snprintf(p, sizeof p, "%s/top_experts", g);
            int64_t w = E > 0 ? top_scan(ecnt, L * E, E, k_exp, tb) : 0;
            if (!same_table(a, p, tb, w) && !why[0])
                snprintf(why, sizeof why, "top_experts differ");
            if (E > 0 && w == 0 && !why[0])
                snprintf(why, sizeof why, "MoE model without top experts");
            snprintf(p, sizeof p, "%s/top_shared_neurons", g);
            w = top_scan(scnt, L * W, W, k_sh, tb);
            if (!same_table(a, p, tb, w) && !why[0])
                snprintf(why, sizeof why, "top_shared_neurons differ");
            if ((cf.shared_expert_intermediate_size > 0) != (w > 0) && !why[0])
                snprintf(why, sizeof why, "top_shared_neurons has %lld rows", (long long)w);
            free(cnt);
            free(ecnt);
            free(scnt);
            printf(why[0] ? "FAIL %s/%s/top%lld: %s\n" : "PASS %s/%s/top%lld%s\n", label, rels.v[r],
                   (long long)N, why);
            failed += why[0] != 0;
        }
        /* pooled: shares and the relation x relation matrices */
        char g[512], why[512] = "";
        snprintf(g, sizeof g, "analyses/pooled/neurons/top%lld", (long long)N);
        static const char *const fn[3] = {"frac_shared", "frac_routed", "frac_dense"};
        for (int k = 0; k < 3; k++)
            if (!near(attr(a, g, fn[k]), acc[k] / (double)ntot, 1e-12) && !why[0])
                snprintf(why, sizeof why, "%s %.15g, recomputed %.15g", fn[k], attr(a, g, fn[k]),
                         acc[k] / (double)ntot);
        for (int scope = 0; scope < 2 && !why[0]; scope++) {
            const char *pre = scope ? "shared_" : "";
            static const char *const mn[5] = {"union_jaccard", "union_overlap_pct", "pair_jaccard",
                                              "pair_overlap_pct", "pairs"};
            arc_array m[5] = {{0}};
            int ok = 1;
            for (int i = 0; i < 5; i++) {
                char p[600];
                snprintf(p, sizeof p, "%s/%s%s", g, pre, mn[i]);
                ok &= arc_read(a, p, &m[i], &err) == 0 && m[i].ndim == 2 && m[i].shape[0] == R &&
                      m[i].shape[1] == R;
            }
            if (!ok)
                snprintf(why, sizeof why, "%s matrices missing or not [%lld, %lld]", pre,
                         (long long)R, (long long)R);
            unsigned char **un = calloc((size_t)R, sizeof *un);
            int64_t *us = calloc((size_t)R, sizeof *us);
            for (int64_t r = 0; ok && r < R; r++) un[r] = union_of(&rv[r], scope ? 0 : -1, &us[r]);
            for (int64_t r = 0; ok && r < R && !why[0]; r++)
                for (int64_t s = r; s < R && !why[0]; s++) {
                    double mj, mp;
                    int64_t pairs, c = 0;
                    pair_means(&rv[r], &rv[s], r == s, scope ? 0 : -1, stamp, &mj, &mp, &pairs);
                    for (int64_t q = 0; q < M; q++) c += un[r][q] && un[s][q];
                    double uj = us[r] && us[s] ? (double)c / (double)(us[r] + us[s] - c) : NAN;
                    double up = us[r] && us[s]
                                    ? 100.0 * (double)c / (double)(us[r] < us[s] ? us[r] : us[s])
                                    : NAN;
                    const double *v0 = m[0].data, *v1 = m[1].data, *v2 = m[2].data, *v3 = m[3].data;
                    const int64_t *v4 = m[4].data;
                    int64_t rs = r * R + s, sr = s * R + r;
                    if (!near(v0[rs], uj, 1e-12) || !near(v1[rs], up, 1e-10) ||
                        !near(v2[rs], mj, 1e-12) || !near(v3[rs], mp, 1e-10) || v4[rs] != pairs)
                        snprintf(why, sizeof why,
                                 "%s[%lld, %lld]: union J %.15g / %.15g, pair J %.15g / %.15g, "
                                 "pairs %lld / %lld",
                                 pre, (long long)r, (long long)s, v0[rs], uj, v2[rs], mj,
                                 (long long)v4[rs], (long long)pairs);
                    else if (memcmp(&v0[rs], &v0[sr], 8) || memcmp(&v2[rs], &v2[sr], 8) ||
                             v4[rs] != v4[sr] || memcmp(&v1[rs], &v1[sr], 8) ||
                             memcmp(&v3[rs], &v3[sr], 8))
                        snprintf(why, sizeof why, "%smatrices not symmetric at [%lld, %lld]", pre,
                                 (long long)r, (long long)s);
                    else if (r == s && us[r] && v0[rs] != 1)
                        snprintf(why, sizeof why, "%sunion_jaccard diagonal %.17g", pre, v0[rs]);
                    if (!scope && r != s) {
                        between += mj;
                        nbetween++;
                    }
                }
            for (int64_t r = 0; r < R; r++) free(un ? un[r] : NULL);
            free(un);
            free(us);
            for (int i = 0; i < 5; i++) arc_array_free(&m[i]);
        }
        printf(why[0] ? "FAIL %s/pooled/top%lld: %s\n" : "PASS %s/pooled/top%lld%s\n", label,
               (long long)N, why);
        failed += why[0] != 0;
        printf("INFO %s top%lld: frac shared %.4f routed %.4f dense %.4f; mean jaccard within "
               "relations "
               "%.4f, between relations %.4f\n",
               label, (long long)N, acc[0] / (double)ntot, acc[1] / (double)ntot,
               acc[2] / (double)ntot, within / (double)R,
               nbetween ? between / (double)nbetween : NAN);
    }
    for (int64_t r = 0; r < R; r++) {
        free(rv[r].id);
        free(rv[r].kind);
    }
    free(rv);
    free(stamp);
    free(cfg_json);
    arc_names_free(&rels);
    arc_names_free(&tops);
    arc_reader_close(a);
    return failed ? 1 : 0;
}
