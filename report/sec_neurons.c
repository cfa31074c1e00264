/* sec_neurons.c — Figure 6 and Table 7: the kinds of the top-N neurons (shared / routed / dense),
 * their overlaps between samples and relations, the experts and shared-expert neurons that hold
 * most of them (analyses/<rel>/neurons/top{N}, analyses/pooled/neurons/top{N}). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/sections.h"

/* The pooled top-N group of size N, or NULL. */
static const rep_ntop *pooled_ntop(const rep_model *m, int64_t N)
{
    for (size_t i = 0; i < m->n_pooled_ntop; i++)
        if (m->pooled_ntop[i].N == N) return &m->pooled_ntop[i];
    return NULL;
}

static int has_ntop(const rep_model *m)
{
    if (m->n_pooled_ntop) return 1;
    for (size_t j = 0; j < m->n_rel; j++)
        if (m->rel[j].n_ntop) return 1;
    return 0;
}

static void fmt_triples(char *b, size_t len, const int64_t t[][3], int n, int max)
{
    size_t o = 0;
    b[0] = 0;
    for (int i = 0; i < n && i < max && o < len; i++)
        o += (size_t)snprintf(b + o, len - o, "%s[%lld,%lld]×%lld", i ? " " : "",
                              (long long)t[i][0], (long long)t[i][1], (long long)t[i][2]);
    if (!n) snprintf(b, len, "–");
}

/* v already in percent */
static void pct_cell(rep_row *r, double v)
{
    row_pct(r, v / 100, 1);
}

/* Figure 6 across models: where each model's top-N neurons live (pooled over relations). */
static void kinds_chart(rep_doc *d, rep_model *m, size_t n)
{
    const char *groups[128];
    char gb[128][96];
    double v[128 * 3];
    int ng = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < m[i].n_pooled_ntop && ng < 128; t++) {
            const rep_ntop *p = &m[i].pooled_ntop[t];
            if (!isfinite(p->frac_shared) && !isfinite(p->frac_routed)) continue;
            snprintf(gb[ng], sizeof gb[ng], "%s top-%lld", m[i].name, (long long)p->N);
            groups[ng] = gb[ng];
            v[ng * 3] = 100 * p->frac_shared;
            v[ng * 3 + 1] = 100 * p->frac_routed;
            v[ng * 3 + 2] = 100 * p->frac_dense;
            ng++;
        }
    if (!ng) return;
    static const char *const S[] = {"shared expert", "routed experts", "dense MLP"};
    rep_bar_chart b;
    memset(&b, 0, sizeof b);
    b.title = "Where the top-N neurons are";
    b.ylabel = "share of the top-N neurons (%)";
    b.groups = groups;
    b.n_groups = ng;
    b.series = S;
    b.n_series = 3;
    b.v = v;
    b.stacked = 1;
    b.value_labels = 1;
    b.value_fmt = "%.0f";
    doc_bar(d, "fig6_neuron_kinds", &b,
            "Share of each sample's top-N neurons in the shared expert, the "
            "routed experts and dense MLPs, mean over all samples (Figure 6).");
}

/* The relation x relation overlap of top-N neuron sets (mean over pairs of samples). */
static void overlap_map(rep_doc *d, const rep_model *m, const rep_ntop *p, int shared)
{
    const double *v = shared ? p->shared_pair_overlap : p->pair_overlap;
    if (!v || p->n_relations <= 0) return;
    int any = 0;
    for (int64_t i = 0; i < p->n_relations * p->n_relations; i++) any |= isfinite(v[i]);
    if (!any) return;
    rep_heatmap h;
    char title[300], stem[300], nb[32];
    memset(&h, 0, sizeof h);
    snprintf(title, sizeof title, "%s: %stop-%lld neuron overlap", m->name,
             shared ? "shared-expert " : "", (long long)p->N);
    snprintf(nb, sizeof nb, "top%lld", (long long)p->N);
    h.title = title;
    h.scale_label = "overlap (% of the smaller set)";
    h.rows = h.cols = p->n_relations;
    h.v = v;
    h.row_labels = (const char *const *)p->relations;
    h.col_labels = (const char *const *)p->relations;
    h.vmin = 0;
    h.vmax = 100;
    h.mark_row = h.mark_col = -1;
    h.annotate = 1;
    h.value_fmt = "%.0f";
    rep_stem(stem, sizeof stem, shared ? "neuron_overlap_shared" : "neuron_overlap", m->name, nb);
    doc_heatmap(d, stem, &h,
                shared ? "Overlap of the shared-expert neurons among the top-N of pairs of "
                         "samples: diagonal within a relation, off-diagonal across relations "
                         "(Table 7, Appendix C)."
                       : "Overlap of the top-N neuron sets of pairs of samples: diagonal "
                         "within a relation, off-diagonal across relations (Appendix C).");
}

void sec_neurons(rep_doc *d, rep_model *m, size_t n)
{
    rep_row r;
    doc_p(
        d,
        "From analyses/<relation>/neurons/top{N} and analyses/pooled/neurons/top{N}: the share of "
        "each sample's top-N neurons by kind, how much the top-N sets of samples overlap (Jaccard "
        "and percent of the smaller set), and the routed experts [layer, expert]×count and "
        "shared-expert neurons [layer, neuron]×count that hold most top-N neurons.");
    kinds_chart(d, m, n);
    static const char *const HP[] = {"Model",         "Top-N",          "Samples",
                                     "Shared expert", "Routed experts", "Dense MLP"};
    int any_pooled = 0;
    for (size_t i = 0; i < n; i++) any_pooled |= m[i].n_pooled_ntop > 0;
    if (any_pooled) {
        doc_table_begin(d, 6, HP);
        for (size_t i = 0; i < n; i++)
            for (size_t t = 0; t < m[i].n_pooled_ntop; t++) {
                const rep_ntop *p = &m[i].pooled_ntop[t];
                row_reset(&r);
                row_addf(&r, "%s", m[i].name);
                row_addf(&r, "%lld", (long long)p->N);
                row_num(&r, p->n, 0);
                pct_cell(&r, 100 * p->frac_shared);
                pct_cell(&r, 100 * p->frac_routed);
                pct_cell(&r, 100 * p->frac_dense);
                row_emit(d, &r);
            }
        doc_table_end(d);
    }
    for (size_t i = 0; i < n; i++) {
        const rep_model *mm = &m[i];
        if (!has_ntop(mm)) {
            char why[400];
            doc_note(d, "neuron analyses of %s: %s.", mm->name,
                     rep_why_missing(mm, "neurons", 0, why, sizeof why));
            continue;
        }
        doc_h(d, 3, NULL, mm->name);
        const int moe = rep_is_moe(mm), sh = mm->shared;
        /* the columns a model has: a dense model has neither experts nor shared neurons (every
         * top-N neuron is in a dense MLP), a routed-only model no shared expert */
        const char *H[12]; /* at most 11 columns (a model with a shared expert) */
        int nc = 0;
        H[nc++] = "Relation";
        H[nc++] = "Top-N";
        if (sh) H[nc++] = "Shared";
        if (moe) H[nc++] = "Routed";
        H[nc++] = "Jaccard (samples)";
        H[nc++] = "Overlap % (samples)";
        if (sh) H[nc++] = "Shared-neuron overlap %";
        H[nc++] = "Union size";
        if (moe) {
            H[nc++] = "Top experts by neuron count [layer, expert]×count";
            H[nc++] = "Top experts by routing frequency [layer, expert]×samples";
        }
        if (sh) H[nc++] = "Top shared-expert neurons [layer, neuron]×count";
        char sum[300];
        if (!moe) {
            snprintf(sum, sizeof sum, "%s (dense): overlaps of the top-N neuron sets per relation",
                     mm->name);
            doc_p(d,
                  "%s is dense: every top-N neuron is in a dense MLP (100%%), so the expert "
                  "columns are left "
                  "out and the per-relation overlaps are folded below.",
                  mm->name);
            doc_details_begin(d, sum);
        }
        doc_table_begin(d, nc, H);
        for (size_t j = 0; j < mm->n_rel; j++)
            for (size_t t = 0; t < mm->rel[j].n_ntop; t++) {
                const rep_ntop *p = &mm->rel[j].ntop[t];
                char b[200];
                row_reset(&r);
                row_addf(&r, "%s", mm->rel[j].name);
                row_addf(&r, "%lld", (long long)p->N);
                if (sh) pct_cell(&r, 100 * p->frac_shared);
                if (moe) pct_cell(&r, 100 * p->frac_routed);
                row_num(&r, p->jaccard, 3);
                pct_cell(&r, p->overlap_pct);
                if (sh) pct_cell(&r, p->shared_overlap_pct);
                row_num(&r, p->union_size, 0);
                if (moe) {
                    fmt_triples(b, sizeof b, (const int64_t(*)[3])p->top_experts, p->n_top_experts,
                                5);
                    row_addf(&r, "%s", b);
                    fmt_triples(b, sizeof b, (const int64_t(*)[3])mm->rel[j].top, mm->rel[j].n_top,
                                5);
                    row_addf(&r, "%s", b);
                }
                if (sh) {
                    fmt_triples(b, sizeof b, (const int64_t(*)[3])p->top_shared, p->n_top_shared,
                                5);
                    row_addf(&r, "%s", b);
                }
                row_emit(d, &r);
            }
        doc_table_end(d);
        if (!moe) doc_details_end(d);
        /* overlap heat maps of the smallest N (the paper's top-100) */
        const rep_ntop *p = mm->n_pooled_ntop ? pooled_ntop(mm, mm->pooled_ntop[0].N) : NULL;
        if (p) {
            doc_figs_begin(d);
            overlap_map(d, mm, p, 0);
            if (mm->shared) overlap_map(d, mm, p, 1);
            doc_figs_end(d);
        } else {
            doc_note(d,
                     "cross-relation overlaps of %s: analyses/pooled/neurons is not in the archive "
                     "(unit neurons/cross not complete).",
                     mm->name);
        }
    }
}
