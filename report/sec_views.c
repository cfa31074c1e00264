/* sec_views.c — views of the paper that the other sections do not draw, from data they already
 * load: Table 6 (the models' configurations) as one table, Figure 5 (HIT@10 and MRR per relation)
 * as a plot, Figure 3's cumulative FFN-gain curve over relative depth, the relative MRR drop per
 * relation at the largest blocked N (the abstract's headline metric), the expert x relation
 * view of section 5.1 (how often each relation routes to each of the top experts), and Table 4:
 * the most important heads next to the most frequent experts per relation, the ranked heads
 * pooled over relations and the layer x head importance map. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/sections.h"

/* Table 6: one row per model from its stored config.json. */
static void table6(rep_doc *d, const rep_model *m, size_t n)
{
    static const char *const H[] = {"Model",       "Architecture",  "Layers",
                                    "Hidden size", "Heads",         "Routed experts",
                                    "Routing",     "Shared expert", "Renormalised top-k"};
    doc_h(d, 3, "table6", "Model configurations (Table 6)");
    doc_table_begin(d, 9, H);
    rep_row r;
    for (size_t i = 0; i < n; i++) {
        row_reset(&r);
        row_addf(&r, "%s", m[i].name);
        if (!m[i].cfg_ok) {
            row_addf(&r, "unknown: %s", m[i].cfg_problem);
            for (int k = 0; k < 7; k++) row_addf(&r, "–");
        } else {
            row_addf(&r, "%s", m[i].arch);
            row_addf(&r, "%d", m[i].L);
            row_addf(&r, "%d", m[i].H);
            row_addf(&r, "%d", m[i].nH);
            if (m[i].E > 0) {
                row_addf(&r, "%d", m[i].E);
                row_addf(&r, "top-%d", m[i].k);
                row_addf(&r, "%s", m[i].shared ? "yes" : "no");
                row_addf(&r, "%s", m[i].renorm ? "yes" : "no");
            } else {
                row_addf(&r, "dense");
                row_addf(&r, "–");
                row_addf(&r, "–");
                row_addf(&r, "–");
            }
        }
        row_emit(d, &r);
    }
    doc_table_end(d);
}

/* Figure 5: HIT@10 and MRR of every relation, one bar per model, MoE models first. */
static void figure5(rep_doc *d, const rep_model *m, size_t n)
{
    const char *rels[64], *series[REP_MAX_SERIES];
    int nr = 0, ns = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m[i].n_rel && nr < 64; j++) {
            int seen = 0;
            for (int q = 0; q < nr; q++) seen |= !strcmp(rels[q], m[i].rel[j].name);
            if (!seen && m[i].rel[j].have_metrics) rels[nr++] = m[i].rel[j].name;
        }
    if (!nr) return;
    size_t order[REP_MAX_SERIES];
    for (int moe = 1; moe >= 0; moe--)
        for (size_t i = 0; i < n && ns < REP_MAX_SERIES; i++)
            if (rep_is_moe(&m[i]) == moe) order[ns] = i, series[ns++] = m[i].name;
    double *hv = malloc((size_t)(nr * ns) * sizeof *hv),
           *mv = malloc((size_t)(nr * ns) * sizeof *mv);
    if (!hv || !mv) goto done;
    for (int q = 0; q < nr; q++)
        for (int s = 0; s < ns; s++) {
            const rep_relation *rl = rep_find_relation(&m[order[s]], rels[q]);
            hv[q * ns + s] = rl && rl->have_metrics ? rl->hit10 : NAN;
            mv[q * ns + s] = rl && rl->have_metrics ? rl->mrr : NAN;
        }
    rep_bar_chart b;
    memset(&b, 0, sizeof b);
    b.groups = rels;
    b.n_groups = nr;
    b.series = series;
    b.n_series = ns;
    doc_h(d, 3, "figure5", "HIT@10 and MRR per relation (Figure 5)");
    doc_figs_begin(d);
    b.title = "HIT@10 per relation";
    b.ylabel = "HIT@10";
    b.v = hv;
    doc_bar(d, "fig5_hit10", &b, "HIT@10 of every relation and model (MoE models first).");
    b.title = "MRR per relation";
    b.ylabel = "MRR";
    b.v = mv;
    doc_bar(d, "fig5_mrr", &b, "MRR of every relation and model (MoE models first).");
    doc_figs_end(d);
done:
    free(hv);
    free(mv);
}

/* Figure 3's cumulative curve: the running sum of the pooled FFN gain over layers, as a share of
 * the total, against relative depth; dashed lines for dense models. */
static void cumulative(rep_doc *d, const rep_model *m, size_t n)
{
    rep_line_chart c;
    double *xs[REP_MAX_SERIES] = {0}, *ys[REP_MAX_SERIES] = {0};
    memset(&c, 0, sizeof c);
    c.title = "Cumulative FFN gain over relative depth";
    c.xlabel = "layer / number of layers";
    c.ylabel = "cumulative share of the total FFN gain (%)";
    c.zero_line = 1;
    c.ymin_hint = 0;
    c.ymax_hint = 100;
    for (size_t i = 0; i < n && c.n_series < REP_MAX_SERIES; i++) {
        const rep_summary *s = &m[i].pooled;
        if (!s->have || !s->ffn_curve || s->n_curve < 1) continue;
        double tot = 0;
        for (int64_t l = 0; l < s->n_curve; l++)
            tot += isfinite(s->ffn_curve[l]) ? s->ffn_curve[l] : 0;
        if (!(fabs(tot) > 0)) continue;
        int k = c.n_series;
        xs[k] = malloc((size_t)(s->n_curve + 1) * sizeof **xs);
        ys[k] = malloc((size_t)(s->n_curve + 1) * sizeof **ys);
        if (!xs[k] || !ys[k]) break;
        double run = 0;
        xs[k][0] = 0;
        ys[k][0] = 0;
        for (int64_t l = 0; l < s->n_curve; l++) {
            run += isfinite(s->ffn_curve[l]) ? s->ffn_curve[l] : 0;
            xs[k][l + 1] = (double)(l + 1) / (double)s->n_curve;
            ys[k][l + 1] = 100 * run / tot;
        }
        c.s[k] = (rep_series){m[i].name, xs[k], ys[k], s->n_curve + 1, !rep_is_moe(&m[i]), 1};
        c.n_series++;
    }
    if (c.n_series) {
        doc_h(d, 3, "figure3-cumulative", "Cumulative FFN gain (Figure 3)");
        doc_line(
            d, "fig3_cumulative", &c,
            "Running sum of the pooled FFN gain per layer as a share of the model's total, against "
            "relative depth (solid: MoE, dashed: dense). A curve above 100% means later layers "
            "lower "
            "the gain.");
    }
    for (int k = 0; k < REP_MAX_SERIES; k++) {
        free(xs[k]);
        free(ys[k]);
    }
}

/* The relative MRR drop per relation at each MoE model's largest blocked N. */
static void relative_drop(rep_doc *d, const rep_model *m, size_t n)
{
    const char *head[REP_MAX_COLS];
    char hb[REP_MAX_COLS][80];
    size_t cols[REP_MAX_COLS];
    int nc = 1;
    head[0] = "Relation";
    for (size_t i = 0; i < n && nc < REP_MAX_COLS; i++) {
        if (!rep_has_block(&m[i])) continue;
        snprintf(hb[nc], sizeof hb[nc], "%s: top-%lld blocked", m[i].name,
                 (long long)rep_max_block_n(&m[i]));
        head[nc] = hb[nc];
        cols[nc++] = i;
    }
    if (nc == 1) return;
    doc_h(d, 3, "relative-drop",
          "Relative MRR drop per relation with the top experts blocked (headline metric)");
    doc_p(d,
          "(MRR − MRR blocked) / MRR per relation, blocking the relation's top-N experts at the "
          "largest N "
          "measured (the paper's abstract: 43%% for Qwen 1.5-MoE and 76%% for OLMoE on geographic "
          "relations at N = 10). n/a where the unblocked MRR is below 0.01.");
    doc_table_begin(d, nc, head);
    const rep_model *first = &m[cols[1]];
    rep_row r;
    for (size_t j = 0; j < first->n_rel; j++) {
        row_reset(&r);
        row_addf(&r, "%s", first->rel[j].name);
        for (int c = 1; c < nc; c++) {
            const rep_relation *rl = rep_find_relation(&m[cols[c]], first->rel[j].name);
            double base = rl && rl->have_metrics ? rl->mrr : NAN;
            double v =
                rl && base >= 0.01 ? rep_block_drop(rl, rep_max_block_n(&m[cols[c]]), 1) : NAN;
            char b[48];
            if (rl && isfinite(base) && base < 0.01)
                row_addf(&r, "n/a (MRR %.3f)", base);
            else
                row_addf(&r, "%s", rep_pct(b, sizeof b, "%.1f", v));
        }
        row_emit(d, &r);
    }
    doc_table_end(d);
}

/* Section 5.1: experts x relations, the share of a relation's samples whose top-k holds the
 * expert (from the relation's top_experts counts), for the union of each relation's top-5. */
static void expert_relation(rep_doc *d, const rep_model *m)
{
    int64_t ex[256][2];
    int ne = 0;
    for (size_t j = 0; j < m->n_rel; j++)
        for (int t = 0; t < m->rel[j].n_top && t < 5; t++) {
            int seen = 0;
            for (int q = 0; q < ne; q++)
                seen |= ex[q][0] == m->rel[j].top[t][0] && ex[q][1] == m->rel[j].top[t][1];
            if (!seen && ne < 256)
                ex[ne][0] = m->rel[j].top[t][0], ex[ne][1] = m->rel[j].top[t][1], ne++;
        }
    if (!ne || !m->n_rel) return;
    const int64_t R = (int64_t)m->n_rel;
    double *v = malloc((size_t)(ne * R) * sizeof *v);
    char(*rl)[24] = malloc((size_t)ne * sizeof *rl);
    const char **rlp = malloc((size_t)ne * sizeof *rlp), **cl = malloc((size_t)R * sizeof *cl);
    if (!v || !rl || !rlp || !cl) goto done;
    for (int q = 0; q < ne; q++) {
        snprintf(rl[q], sizeof rl[q], "[%lld,%lld]", (long long)ex[q][0], (long long)ex[q][1]);
        rlp[q] = rl[q];
        for (int64_t j = 0; j < R; j++) {
            const rep_relation *r = &m->rel[j];
            double c = NAN;
            for (int t = 0; t < r->n_top; t++)
                if (r->top[t][0] == ex[q][0] && r->top[t][1] == ex[q][1]) c = (double)r->top[t][2];
            v[q * R + j] = isfinite(c) && r->n > 0 ? c / r->n : NAN;
        }
    }
    for (int64_t j = 0; j < R; j++) cl[j] = m->rel[j].name;
    rep_heatmap h;
    char title[200], stem[200];
    memset(&h, 0, sizeof h);
    snprintf(title, sizeof title, "%s: experts x relations", m->name);
    h.title = title;
    h.xlabel = "relation";
    h.ylabel = "expert [layer,index]";
    h.scale_label = "share of the relation's samples routed to it";
    h.rows = ne;
    h.cols = R;
    h.v = v;
    h.row_labels = rlp;
    h.col_labels = cl;
    h.vmin = 0;
    h.vmax = 1;
    h.annotate = ne * R <= 400;
    h.value_fmt = "%.2f";
    h.mark_row = h.mark_col = -1;
    rep_stem(stem, sizeof stem, "expert_relation", m->name, NULL);
    doc_heatmap(
        d, stem, &h,
        "Each relation's top-5 experts (by routing frequency at the last position), with the share "
        "of every relation's samples whose top-k holds them (grey: outside that relation's "
        "top-10). "
        "An expert in many columns is shared across knowledge types (section 5.1).");
done:
    free(v);
    free(rl);
    free(rlp);
    free(cl);
}

typedef struct head_rank {
    double v;
    int64_t k;
} head_rank;

static int cmp_head(const void *a, const void *b)
{
    const head_rank *x = a, *y = b;
    if (x->v != y->v) return x->v < y->v ? 1 : -1;
    return (x->k > y->k) - (x->k < y->k);
}

/* Table 4 for one model: per relation the top-3 heads by mean importance and the top-3 experts
 * by routing frequency side by side; the top-10 heads pooled over relations (sample-weighted);
 * the pooled layer x head map. */
static void table4(rep_doc *d, const rep_model *m)
{
    int64_t L = 0, H = 0;
    for (size_t j = 0; j < m->n_rel; j++)
        if (m->rel[j].head_imp) L = m->rel[j].head_L, H = m->rel[j].head_nH;
    if (!L || !H) return;
    double *pool = calloc((size_t)(L * H), sizeof *pool), w = 0;
    head_rank *hr = malloc((size_t)(L * H) * sizeof *hr);
    if (!pool || !hr) goto done;
    int moe = rep_is_moe(m);
    static const char *const HT[] = {
        "Relation", "Most important heads [layer,head] (mean attribution)",
        "Most frequent routed experts [layer,expert] (share of samples)"};
    doc_table_begin(d, moe ? 3 : 2, HT);
    rep_row r;
    for (size_t j = 0; j < m->n_rel; j++) {
        const rep_relation *rl = &m->rel[j];
        if (!rl->head_imp || rl->head_L != L || rl->head_nH != H) continue;
        double wj = isfinite(rl->n) && rl->n > 0 ? rl->n : 1;
        for (int64_t k = 0; k < L * H; k++) {
            pool[k] += wj * rl->head_imp[k];
            hr[k] = (head_rank){rl->head_imp[k], k};
        }
        w += wj;
        qsort(hr, (size_t)(L * H), sizeof *hr, cmp_head);
        char a[200] = "", b[200] = "";
        size_t o = 0;
        for (int t = 0; t < 3 && t < L * H; t++)
            o += (size_t)snprintf(a + o, sizeof a - o, "%s[%lld,%lld] (%.3f)", t ? ", " : "",
                                  (long long)(hr[t].k / H), (long long)(hr[t].k % H), hr[t].v);
        o = 0;
        for (int t = 0; t < 3 && t < rl->n_top; t++)
            o += (size_t)snprintf(b + o, sizeof b - o, "%s[%lld,%lld] (%.2f)", t ? ", " : "",
                                  (long long)rl->top[t][0], (long long)rl->top[t][1],
                                  rl->n > 0 ? (double)rl->top[t][2] / rl->n : NAN);
        row_reset(&r);
        row_addf(&r, "%s", rl->name);
        row_addf(&r, "%s", a);
        if (moe) row_addf(&r, "%s", b[0] ? b : "–");
        row_emit(d, &r);
    }
    doc_table_end(d);
    if (!(w > 0)) goto done;
    for (int64_t k = 0; k < L * H; k++) {
        pool[k] /= w;
        hr[k] = (head_rank){pool[k], k};
    }
    qsort(hr, (size_t)(L * H), sizeof *hr, cmp_head);
    static const char *const HR[] = {"Rank", "Head [layer,head]", "Mean attribution (nats)",
                                     "Layer (1-based depth %)"};
    char sum[200];
    snprintf(sum, sizeof sum, "%s: the 10 most important heads over all relations", m->name);
    doc_details_begin(d, sum);
    doc_table_begin(d, 4, HR);
    for (int t = 0; t < 10 && t < L * H; t++) {
        row_reset(&r);
        row_addf(&r, "%d", t + 1);
        row_addf(&r, "[%lld,%lld]", (long long)(hr[t].k / H), (long long)(hr[t].k % H));
        row_num(&r, hr[t].v, 4);
        row_addf(&r, "%lld (%.0f%%)", (long long)(hr[t].k / H + 1),
                 100.0 * (double)(hr[t].k / H + 1) / (double)L);
        row_emit(d, &r);
    }
    doc_table_end(d);
    doc_details_end(d);
    rep_heatmap h;
    char title[200], stem[200];
    double amax = 0;
    for (int64_t k = 0; k < L * H; k++)
        if (fabs(pool[k]) > amax) amax = fabs(pool[k]);
    memset(&h, 0, sizeof h);
    snprintf(title, sizeof title, "%s: head importance (layer x head)", m->name);
    h.title = title;
    h.xlabel = "head";
    h.ylabel = "layer";
    h.scale_label = "mean attribution over all samples (nats)";
    h.rows = L;
    h.cols = H;
    h.v = pool;
    h.vmin = -(amax > 0 ? amax : 1);
    h.vmax = amax > 0 ? amax : 1;
    h.diverging = 1;
    h.annotate = L * H <= 256;
    h.value_fmt = "%.2f";
    h.mark_row = h.mark_col = -1;
    rep_stem(stem, sizeof stem, "head_map", m->name, NULL);
    doc_heatmap(d, stem, &h,
                "Mean head attribution over every sample of every relation (rows: layers from 0, "
                "columns: heads).");
done:
    free(pool);
    free(hr);
}

void sec_views(rep_doc *d, rep_model *m, size_t n)
{
    int heads = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m[i].n_rel; j++) heads |= m[i].rel[j].head_imp != NULL;
    if (heads) {
        doc_h(d, 3, "table4",
              "Most important heads and most frequent experts per relation (Table 4)");
        for (size_t i = 0; i < n; i++) {
            doc_h(d, 4, NULL, m[i].name);
            table4(d, &m[i]);
        }
    }
    table6(d, m, n);
    figure5(d, m, n);
    cumulative(d, m, n);
    relative_drop(d, m, n);
    int any = 0;
    for (size_t i = 0; i < n; i++)
        any |= rep_is_moe(&m[i]) && m[i].n_rel > 0 && m[i].rel[0].n_top > 0;
    if (any) {
        doc_h(d, 3, "expert-relation", "Experts x relations (section 5.1)");
        doc_figs_begin(d);
        for (size_t i = 0; i < n; i++)
            if (rep_is_moe(&m[i])) expert_relation(d, &m[i]);
        doc_figs_end(d);
    }
}
