/* sections2.c — the report's sections on routed experts: blocking (Tables 5/8, Figure
 * 7) and configuration ablations (Tables 2/3, Figure 4) from the metrics/<rel> attributes, and
 * the attention-head / expert analyses (Table 4, section 4.3) from analyses/<rel>/head_expert. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/internal.h"

static const rep_cfg *find_cfg(const rep_cfg *v, size_t n, int64_t num)
{
    for (size_t i = 0; i < n; i++)
        if (v[i].num == num) return &v[i];
    return NULL;
}

/* Sorted union of the `num` of every relation's block (which = 0) or topk (1) configs. */
static int union_nums(const rep_model *m, size_t n, int which, int64_t *out, int max)
{
    int k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m[i].n_rel; j++) {
            const rep_relation *r = &m[i].rel[j];
            const rep_cfg *v = which ? r->topk : r->block;
            size_t nv = which ? r->n_topk : r->n_block;
            for (size_t q = 0; q < nv; q++) {
                int seen = 0;
                for (int t = 0; t < k && !seen; t++) seen = out[t] == v[q].num;
                if (!seen && k < max) out[k++] = v[q].num;
            }
        }
    for (int a = 1; a < k; a++)
        for (int b = a; b > 0 && out[b - 1] > out[b]; b--) {
            int64_t t = out[b];
            out[b] = out[b - 1];
            out[b - 1] = t;
        }
    return k;
}

static int has_block(const rep_model *m)
{
    for (size_t j = 0; j < m->n_rel; j++)
        if (m->rel[j].n_block) return 1;
    return 0;
}

static void note_missing(rep_doc *d, const rep_model *m, const char *what, const char *stage, int moe)
{
    char why[400];
    doc_note(d, "%s of %s: %s.", what, m->name, rep_why_missing(m, stage, moe, why, sizeof why));
}

/* ---- blocking ------------------------------------------------------------------------------------ */

void sec_blocking(rep_doc *d, rep_model *m, size_t n)
{
    int64_t Ns[32];
    int nN = union_nums(m, n, 0, Ns, 32);
    rep_row r;
    doc_h(d, 2, "blocking", "Blocking each relation's top experts (Tables 5/8, Figure 7)");
    doc_p(d, "The relation's top-N experts ([layer, expert], 0-based, ranked as in metrics/<relation>/"
             "top_experts) are blocked for every sample; the MRR drop is the unblocked MRR minus the "
             "blocked one (positive = worse, negative = blocking helped). All heat maps share one "
             "colour scale.");
    double vmax = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m[i].n_rel; j++)
            for (size_t q = 0; q < m[i].rel[j].n_block; q++) {
                double v = m[i].rel[j].mrr - m[i].rel[j].block[q].mrr;
                if (isfinite(v) && fabs(v) > vmax) vmax = fabs(v);
            }
    if (vmax <= 0) vmax = 0.01;
    doc_figs_begin(d);
    for (size_t i = 0; i < n; i++) {
        if (!has_block(&m[i]) || nN == 0) continue;
        const rep_model *mm = &m[i];
        double *v = malloc(mm->n_rel * (size_t)nN * sizeof *v + 1);
        const char **rows = calloc(mm->n_rel + 1, sizeof *rows), *cols[32];
        char cb[32][32];
        if (!v || !rows) {
            free(v);
            free(rows);
            continue;
        }
        for (int k = 0; k < nN; k++) {
            snprintf(cb[k], sizeof cb[k], "top-%lld", (long long)Ns[k]);
            cols[k] = cb[k];
        }
        for (size_t j = 0; j < mm->n_rel; j++) {
            rows[j] = mm->rel[j].name;
            for (int k = 0; k < nN; k++) {
                const rep_cfg *c = find_cfg(mm->rel[j].block, mm->rel[j].n_block, Ns[k]);
                v[j * (size_t)nN + (size_t)k] = c ? mm->rel[j].mrr - c->mrr : NAN;
            }
        }
        rep_heatmap h;
        char title[256], stem[256];
        memset(&h, 0, sizeof h);
        snprintf(title, sizeof title, "%s: MRR drop", mm->name);
        h.title = title;
        h.xlabel = "experts blocked";
        h.scale_label = "MRR drop (base − blocked)";
    h.mark_row = h.mark_col = -1;
        h.rows = (int64_t)mm->n_rel;
        h.cols = nN;
        h.v = v;
        h.row_labels = rows;
        h.col_labels = cols;
        h.vmin = -vmax;
        h.vmax = vmax;
        h.diverging = 1;
        h.annotate = 1;
        h.value_fmt = "%.3f";
        rep_stem(stem, sizeof stem, "fig7_mrr_drop", mm->name, NULL);
        doc_heatmap(d, stem, &h, "MRR drop per relation when blocking its top-N experts (grey: not measured).");
        free(v);
        free(rows);
    }
    doc_figs_end(d);
    for (size_t i = 0; i < n; i++)
        if (!has_block(&m[i])) note_missing(d, &m[i], "blocking", "block", 1);
    if (nN == 0) return;
    /* per model means */
    static const char *const HM[] = {"Model", "Blocked", "Relations", "Mean MRR drop", "Mean relative MRR drop",
                                     "Mean HIT@10 drop", "Most sensitive relation (MRR base → blocked)"};
    doc_table_begin(d, 7, HM);
    for (size_t i = 0; i < n; i++) {
        if (!has_block(&m[i])) continue;
        for (int k = 0; k < nN; k++) {
            double sa = 0, sr = 0, sh = 0, worst = -INFINITY;
            int ca = 0, cr = 0, ch = 0;
            const rep_relation *wr = NULL;
            const rep_cfg *wc = NULL;
            for (size_t j = 0; j < m[i].n_rel; j++) {
                const rep_relation *rl = &m[i].rel[j];
                const rep_cfg *c = find_cfg(rl->block, rl->n_block, Ns[k]);
                if (!c) continue;
                double da = rl->mrr - c->mrr;
                if (isfinite(da)) {
                    sa += da, ca++;
                    if (da > worst) worst = da, wr = rl, wc = c;
                }
                if (isfinite(da) && rl->mrr > 0) sr += da / rl->mrr, cr++;
                if (isfinite(rl->hit10 - c->hit10)) sh += rl->hit10 - c->hit10, ch++;
            }
            if (!ca) continue;
            row_reset(&r);
            row_addf(&r, "%s", m[i].name);
            row_addf(&r, "top-%lld", (long long)Ns[k]);
            row_addf(&r, "%d", ca);
            row_num(&r, sa / ca, 4);
            row_pct(&r, cr ? sr / cr : NAN, 1);
            row_num(&r, ch ? sh / ch : NAN, 4);
            if (wr) row_addf(&r, "%s (%.3f → %.3f)", wr->name, wr->mrr, wc->mrr);
            else row_addf(&r, "–");
            row_emit(d, &r);
        }
    }
    doc_table_end(d);
    /* Table 8: relation-major */
    doc_h(d, 3, "table8", "HIT@10 and MRR with the top experts blocked, per relation (Table 8)");
    const char *head[REP_MAX_COLS];
    char hb[REP_MAX_COLS][64];
    int nc = 0;
    head[nc++] = "Relation";
    head[nc++] = "Model";
    head[nc++] = "Top-5 routed experts [layer, expert]";
    head[nc++] = "MRR";
    for (int k = 0; k < nN && nc < REP_MAX_COLS; k++, nc++) {
        snprintf(hb[nc], sizeof hb[0], "MRR top-%lld blocked", (long long)Ns[k]);
        head[nc] = hb[nc];
    }
    head[nc++] = "HIT@10";
    for (int k = 0; k < nN && nc < REP_MAX_COLS; k++, nc++) {
        snprintf(hb[nc], sizeof hb[0], "HIT@10 top-%lld blocked", (long long)Ns[k]);
        head[nc] = hb[nc];
    }
    doc_table_begin(d, nc, head);
    rep_names rels;
    rep_all_relations(m, n, &rels);
    for (size_t q = 0; q < rels.n; q++)
        for (size_t i = 0; i < n; i++) {
            const rep_relation *rl = rep_find_relation(&m[i], rels.v[q]);
            if (!rl || !rl->n_block) continue;
            row_reset(&r);
            row_addf(&r, "%s", rl->name);
            row_addf(&r, "%s", m[i].name);
            char ex[200] = "";
            size_t o = 0;
            for (int t = 0; t < rl->n_top && t < 5; t++)
                o += (size_t)snprintf(ex + o, sizeof ex - o, "%s[%lld,%lld]", t ? " " : "",
                                      (long long)rl->top[t][0], (long long)rl->top[t][1]);
            row_addf(&r, "%s", rl->n_top ? ex : "–");
            row_num(&r, rl->mrr, 3);
            for (int k = 0; k < nN; k++) {
                const rep_cfg *c = find_cfg(rl->block, rl->n_block, Ns[k]);
                row_num(&r, c ? c->mrr : NAN, 3);
            }
            row_num(&r, rl->hit10, 3);
            for (int k = 0; k < nN; k++) {
                const rep_cfg *c = find_cfg(rl->block, rl->n_block, Ns[k]);
                row_num(&r, c ? c->hit10 : NAN, 3);
            }
            row_emit(d, &r);
        }
    doc_table_end(d);
    rep_names_free(&rels);
}

/* ---- configuration ablations ------------------------------------------------------------------- */

typedef struct cfg_arg {
    int which;       /* 0 topk by num, 1 named by name */
    int64_t num;
    const char *name;
    int hit;         /* 1 = hit10, 0 = mrr */
} cfg_arg;

static double get_cfg(const rep_relation *r, const void *va)
{
    const cfg_arg *a = va;
    if (a->which == 0) {
        const rep_cfg *c = find_cfg(r->topk, r->n_topk, a->num);
        return c ? (a->hit ? c->hit10 : c->mrr) : NAN;
    }
    for (size_t i = 0; i < r->n_named; i++)
        if (!strcmp(r->named[i].name, a->name)) return a->hit ? r->named[i].hit10 : r->named[i].mrr;
    return NAN;
}

static double get_base(const rep_relation *r, const void *va)
{
    const cfg_arg *a = va;
    return r->have_metrics ? (a->hit ? r->hit10 : r->mrr) : NAN;
}

static const char *named_label(const char *s, char *buf, size_t len)
{
    static const char *const MAP[][2] = {{"only_top1", "Only Top1"},     {"only_top2", "Only Top2"},
                                         {"only_shared", "Only Shared"}, {"shared_2nd", "Shared + 2nd"},
                                         {"shared_top1", "Shared + Top1"}, {"shared_top2", "Shared + Top2"}};
    for (size_t i = 0; i < sizeof MAP / sizeof *MAP; i++)
        if (!strcmp(s, MAP[i][0])) return MAP[i][1];
    snprintf(buf, len, "%s", s);
    return buf;
}

void sec_ablations(rep_doc *d, rep_model *m, size_t n)
{
    int64_t ks[64];
    int nk = union_nums(m, n, 1, ks, 64);
    rep_row r;
    doc_h(d, 2, "ablations", "Configuration ablations (Tables 2/3, Figure 4)");
    doc_p(d, "HIT@10 and MRR when only the top-k routed experts are used (k = 0: no routed expert), "
             "and for models with a shared expert the shared/routed configurations of Table 2; means "
             "over all samples of all relations.");
    double *xk = malloc((size_t)(nk > 0 ? nk : 1) * sizeof *xk);
    double *yh[REP_MAX_SERIES] = {0}, *ym[REP_MAX_SERIES] = {0};
    rep_line_chart all;
    memset(&all, 0, sizeof all);
    all.title = "MRR with only the top-k routed experts";
    all.xlabel = "k (routed experts used)";
    all.ylabel = "MRR";
    all.integer_x = 1;
    all.ymin_hint = 0;
    all.ymax_hint = NAN;
    for (int k = 0; xk && k < nk; k++) xk[k] = (double)ks[k];
    doc_figs_begin(d);
    for (size_t i = 0; xk && i < n && all.n_series < REP_MAX_SERIES; i++) {
        int any = 0;
        for (size_t j = 0; j < m[i].n_rel; j++) any |= m[i].rel[j].n_topk > 0;
        if (!any) continue;
        int s = all.n_series;
        yh[s] = malloc((size_t)nk * sizeof **yh);
        ym[s] = malloc((size_t)nk * sizeof **ym);
        if (!yh[s] || !ym[s]) break;
        for (int k = 0; k < nk; k++) {
            cfg_arg a = {0, ks[k], NULL, 1};
            yh[s][k] = rep_mean_rel(&m[i], get_cfg, &a, NULL);
            a.hit = 0;
            ym[s][k] = rep_mean_rel(&m[i], get_cfg, &a, NULL);
        }
        all.s[all.n_series++] = (rep_series){m[i].name, xk, ym[s], nk, 0, 1};
        rep_line_chart c;
        char title[256], stem[256];
        memset(&c, 0, sizeof c);
        snprintf(title, sizeof title, "%s: top-k ablation", m[i].name);
        c.title = title;
        c.xlabel = "k (routed experts used)";
        c.ylabel = "HIT@10 / MRR";
        c.integer_x = 1;
        c.ymin_hint = 0;
        c.ymax_hint = 1;
        c.s[0] = (rep_series){"HIT@10", xk, yh[s], nk, 0, 1};
        c.s[1] = (rep_series){"MRR", xk, ym[s], nk, 1, 1};
        c.n_series = 2;
        rep_stem(stem, sizeof stem, "fig4_topk", m[i].name, NULL);
        doc_line(d, stem, &c, "HIT@10 and MRR using only the top-k routed experts (Figure 4).");
    }
    doc_figs_end(d);
    if (all.n_series > 1)
        doc_line(d, "fig4_topk_mrr_all_models", &all, "MRR against k for every MoE model.");
    for (size_t i = 0; i < n; i++) {
        int any = 0;
        for (size_t j = 0; j < m[i].n_rel; j++) any |= m[i].rel[j].n_topk > 0 || m[i].rel[j].n_named > 0;
        if (!any) note_missing(d, &m[i], "configuration ablations", "block", 1);
    }
    /* Table 3 per model (top-k), Table 2 (named) */
    for (size_t i = 0; i < n; i++) {
        int s = -1;
        for (int t = 0; t < all.n_series; t++)
            if (!strcmp(all.s[t].name, m[i].name)) s = t;
        int named = 0;
        for (size_t j = 0; j < m[i].n_rel; j++) named |= m[i].rel[j].n_named > 0;
        if (s < 0 && !named) continue;
        char h3[256];
        snprintf(h3, sizeof h3, "%s", m[i].name);
        doc_h(d, 3, NULL, h3);
        int K = m[i].k;
        cfg_arg base = {0, 0, NULL, 1};
        double bh = rep_mean_rel(&m[i], get_base, &base, NULL);
        base.hit = 0;
        double bm = rep_mean_rel(&m[i], get_base, &base, NULL);
        if (named) {
            /* Table 2: the named configurations in the order of the first relation that has
             * them, then the default */
            static const char *const H2[] = {"Model config (Table 2)", "HIT@10", "MRR"};
            doc_table_begin(d, 3, H2);
            for (size_t j = 0; j < m[i].n_rel; j++) {
                const rep_relation *rl = &m[i].rel[j];
                if (!rl->n_named) continue;
                for (size_t q = 0; q < rl->n_named; q++) {
                    cfg_arg a = {1, -1, rl->named[q].name, 1};
                    char lb[64];
                    row_reset(&r);
                    row_addf(&r, "%s", named_label(rl->named[q].name, lb, sizeof lb));
                    row_num(&r, rep_mean_rel(&m[i], get_cfg, &a, NULL), 3);
                    a.hit = 0;
                    row_num(&r, rep_mean_rel(&m[i], get_cfg, &a, NULL), 3);
                    row_emit(d, &r);
                }
                break;
            }
            row_reset(&r);
            if (K > 0) row_addf(&r, "Shared + Top%d (default)", K);
            else row_addf(&r, "default");
            row_num(&r, bh, 3);
            row_num(&r, bm, 3);
            row_emit(d, &r);
            doc_table_end(d);
        }
        if (s >= 0) {
            /* Table 3 / Figure 4: top-k */
            static const char *const H3[] = {"Routed experts used (Table 3)", "HIT@10", "MRR"};
            doc_table_begin(d, 3, H3);
            for (int k = 0; k < nk; k++) {
                if (!isfinite(yh[s][k]) && !isfinite(ym[s][k])) continue;
                row_reset(&r);
                row_addf(&r, "Top%lld%s%s", (long long)ks[k], m[i].shared ? " + shared expert" : "",
                         ks[k] == K ? " (default)" : "");
                row_num(&r, yh[s][k], 3);
                row_num(&r, ym[s][k], 3);
                row_emit(d, &r);
            }
            row_reset(&r);
            row_addf(&r, "unmodified model");
            row_num(&r, bh, 3);
            row_num(&r, bm, 3);
            row_emit(d, &r);
            doc_table_end(d);
        }
    }
    for (int t = 0; t < REP_MAX_SERIES; t++) {
        free(yh[t]);
        free(ym[t]);
    }
    free(xk);
}

/* ---- heads and experts ---------------------------------------------------------------------------- */

/* The correlation heat map of one relation: rows heads [l*nH+h], columns experts [l*E+e];
 * maps with more than 60000 cells show, per (head layer, expert layer) block, the r of largest
 * magnitude. */
static void r_heatmap(rep_doc *d, const rep_model *m, const rep_relation *rl)
{
    const rep_head_expert *he = &rl->he;
    int64_t R_ = he->rows, C_ = he->cols, rg = 0, cg = 0;
    int L = rep_layers(m);
    if (m->nH > 0 && L > 0 && R_ == (int64_t)L * m->nH) rg = m->nH;
    if (m->E > 0 && L > 0 && C_ == (int64_t)L * m->E) cg = m->E;
    double *v = he->r;
    double *agg = NULL;
    int aggregated = 0;
    if (R_ * C_ > 60000) {
        if (!rg || !cg) {
            doc_note(d, "the %lld x %lld correlation matrix of %s / %s is too large to draw and its layer "
                        "structure is unknown.", (long long)R_, (long long)C_, m->name, rl->name);
            return;
        }
        agg = malloc((size_t)L * (size_t)L * sizeof *agg);
        if (!agg) return;
        for (int64_t a = 0; a < L; a++)
            for (int64_t b = 0; b < L; b++) {
                double best = NAN;
                for (int64_t i = a * rg; i < (a + 1) * rg; i++)
                    for (int64_t j = b * cg; j < (b + 1) * cg; j++) {
                        double x = he->r[i * C_ + j];
                        if (isfinite(x) && (isnan(best) || fabs(x) > fabs(best))) best = x;
                    }
                agg[a * L + b] = best;
            }
        v = agg;
        R_ = C_ = L;
        rg = cg = 1;
        aggregated = 1;
    }
    rep_heatmap h;
    char title[300], stem[300];
    memset(&h, 0, sizeof h);
    snprintf(title, sizeof title, "%s / %s: head–expert r", m->name, rl->name);
    h.title = title;
    h.xlabel = aggregated ? "expert layer" : "expert, grouped by layer";
    h.ylabel = aggregated ? "head layer" : "head, grouped by layer";
    h.scale_label = "Pearson r";
    h.rows = R_;
    h.cols = C_;
    h.v = v;
    h.row_group = rg;
    h.col_group = cg;
    h.row_group_fmt = "L%d";
    h.col_group_fmt = "L%d";
    h.vmin = -1;
    h.vmax = 1;
    h.diverging = 1;
    h.mark_row = h.mark_col = -1;
    if (he->have_pair && !aggregated && rg && cg) {
        h.mark_row = he->pair.head.l * rg + he->pair.head.i;
        h.mark_col = he->pair.expert.l * cg + he->pair.expert.i;
        h.mark_label = "causal pair";
    } else if (he->have_pair && aggregated) {
        h.mark_row = he->pair.head.l;
        h.mark_col = he->pair.expert.l;
        h.mark_label = "causal pair's block";
    }
    char cap[400];
    rep_stem(stem, sizeof stem, "r", m->name, rl->name);
    snprintf(cap, sizeof cap, "%s%s", rl->name,
             aggregated ? ": strongest r per (head layer, expert layer) block." : ".");
    doc_heatmap(d, stem, &h, cap);
    free(agg);
}

static void path_chart(rep_doc *d, const rep_model *m)
{
    const char *groups[256];
    double v[256 * 4];
    int ng = 0;
    for (size_t j = 0; j < m->n_rel && ng < 256; j++) {
        const rep_head_expert *he = &m->rel[j].he;
        if (!he->have_path || !isfinite(he->share_all)) continue;
        groups[ng] = m->rel[j].name;
        v[ng * 4 + 0] = 100 * he->share_own;
        v[ng * 4 + 1] = 100 * (he->share_all - he->share_own);
        v[ng * 4 + 2] = 100 * he->share_emb;
        v[ng * 4 + 3] = 100 * he->share_ffn;
        ng++;
    }
    if (!ng) return;
    static const char *const S[] = {"heads of the expert's layer", "heads of earlier layers", "embedding",
                                    "FFN/MoE of earlier layers"};
    rep_bar_chart b;
    char title[256], stem[256];
    memset(&b, 0, sizeof b);
    snprintf(title, sizeof title, "%s: what drives the pair's router logit", m->name);
    b.title = title;
    b.ylabel = "share of |contributions| (%)";
    b.groups = groups;
    b.n_groups = ng;
    b.series = S;
    b.n_series = 4;
    b.v = v;
    b.stacked = 1;
    b.value_labels = 1;
    b.value_fmt = "%.0f";
    rep_stem(stem, sizeof stem, "path_shares", m->name, NULL);
    doc_bar(d, stem, &b, "Path analysis: shares of the causal pair's expert router logit (mean over samples).");
}

static void idx_str(char *b, size_t len, rep_idx x)
{
    snprintf(b, len, "[%lld,%lld]", (long long)x.l, (long long)x.i);
}

void sec_head_expert(rep_doc *d, rep_model *m, size_t n)
{
    rep_row r;
    doc_h(d, 2, "heads", "Attention heads and experts (Table 4, section 4.3)");
    doc_p(d, "r is Pearson's correlation over a relation's samples between a head's importance and an "
             "expert's routing probability at the last position (heads [layer, head], experts [layer, "
             "expert], 0-based). The causal pair is the highest r whose expert is among the relation's "
             "top-10 experts: suppressing its head changes the routing probability of the top-4 experts "
             "and the MRR; forcing the expert back recovers part of the drop; the path analysis splits "
             "the expert's router logit into the parts coming from heads, embedding and earlier FFNs.");
    for (size_t i = 0; i < n; i++) {
        const rep_model *mm = &m[i];
        int any = 0;
        for (size_t j = 0; j < mm->n_rel; j++) any |= mm->rel[j].he.have;
        if (!any) {
            note_missing(d, mm, "head–expert analyses", "heads_experts", 1);
            continue;
        }
        doc_h(d, 3, NULL, mm->name);
        static const char *const H4[] = {"Relation", "Strongest pairs: head → expert (r)", "Causal pair",
                                         "r", "p"};
        doc_table_begin(d, 5, H4);
        for (size_t j = 0; j < mm->n_rel; j++) {
            const rep_head_expert *he = &mm->rel[j].he;
            if (!he->have) continue;
            char s[200] = "", a[32], b[32];
            size_t o = 0;
            for (size_t q = 0; q < he->n_strongest && q < 3; q++) {
                idx_str(a, sizeof a, he->strongest[q].head);
                idx_str(b, sizeof b, he->strongest[q].expert);
                o += (size_t)snprintf(s + o, sizeof s - o, "%s%s → %s (%.2f)", q ? "; " : "", a, b, he->strongest[q].r);
            }
            row_reset(&r);
            row_addf(&r, "%s", mm->rel[j].name);
            row_addf(&r, "%s", o ? s : "–");
            if (he->have_pair) {
                idx_str(a, sizeof a, he->pair.head);
                idx_str(b, sizeof b, he->pair.expert);
                row_addf(&r, "%s → %s", a, b);
            } else {
                row_addf(&r, "–");
            }
            row_num(&r, he->have_pair ? he->pair.r : NAN, 3);
            if (he->have_pair && isfinite(he->pair.p)) row_addf(&r, "%.2g", he->pair.p);
            else row_addf(&r, "–");
            row_emit(d, &r);
        }
        doc_table_end(d);
        static const char *const HC[] = {"Relation", "Top-4 routing prob. base → suppressed (change)",
                                         "MRR base → suppressed (drop)", "MRR forced (recovery of the drop)",
                                         "MRR forced / base", "Own-layer heads share", "All heads share",
                                         "Pair head share", "Embedding share", "Earlier FFN share"};
        doc_table_begin(d, 10, HC);
        for (size_t j = 0; j < mm->n_rel; j++) {
            const rep_head_expert *he = &mm->rel[j].he;
            if (!he->have_supp && !he->have_forc && !he->have_path) continue;
            char b[32];
            row_reset(&r);
            row_addf(&r, "%s", mm->rel[j].name);
            if (he->have_supp) {
                char p1[40], p2[40];
                rep_fmt_value(p1, sizeof p1, "%+.1f", 100 * he->prob_change_rel);
                rep_fmt_value(p2, sizeof p2, "%.1f", 100 * he->mrr_drop_rel);
                row_addf(&r, "%.4f → %.4f (%s%%)", he->prob_base, he->prob_supp, p1);
                row_addf(&r, "%.4f → %.4f (%s%%)", he->mrr_base, he->mrr_supp, p2);
            } else {
                row_addf(&r, "–");
                row_addf(&r, "–");
            }
            if (he->have_forc) {
                char p3[40];
                rep_fmt_value(p3, sizeof p3, "%.0f", 100 * he->recovery);
                if (isfinite(he->recovery)) row_addf(&r, "%.4f (%s%%)", he->mrr_forced, p3);
                else row_addf(&r, "%.4f (no drop to recover)", he->mrr_forced);
                row_addf(&r, "%s", rep_num(b, he->forced_over_base, 3));
            } else {
                row_addf(&r, "–");
                row_addf(&r, "–");
            }
            double sh[5] = {he->share_own, he->share_all, he->share_pair_head, he->share_emb, he->share_ffn};
            for (int k = 0; k < 5; k++) row_pct(&r, he->have_path ? sh[k] : NAN, 1);
            row_emit(d, &r);
        }
        doc_table_end(d);
        path_chart(d, mm);
        char sum[300];
        snprintf(sum, sizeof sum, "%s: correlation heat maps per relation", mm->name);
        int maps = 0;
        for (size_t j = 0; j < mm->n_rel; j++) maps |= mm->rel[j].he.r != NULL;
        if (maps) {
            doc_details_begin(d, sum);
            doc_p(d, "Rows: heads, columns: experts, both grouped by layer (L0 = first layer); colour: "
                     "Pearson r over the relation's samples; grey: undefined (expert layer before the "
                     "head's layer); black outline: the causal pair.");
            doc_figs_begin(d);
            for (size_t j = 0; j < mm->n_rel; j++)
                if (mm->rel[j].he.r) r_heatmap(d, mm, &mm->rel[j]);
            doc_figs_end(d);
            doc_details_end(d);
        } else {
            doc_note(d, "%s: no correlation matrices (analyses/<relation>/head_expert/r) in the archive.", mm->name);
        }
        snprintf(sum, sizeof sum, "%s: all strongest pairs", mm->name);
        doc_details_begin(d, sum);
        static const char *const HS[] = {"Relation", "Head", "Expert", "r", "p", "n"};
        doc_table_begin(d, 6, HS);
        for (size_t j = 0; j < mm->n_rel; j++)
            for (size_t q = 0; q < mm->rel[j].he.n_strongest; q++) {
                const rep_corr *c = &mm->rel[j].he.strongest[q];
                char a[32];
                row_reset(&r);
                row_addf(&r, "%s", mm->rel[j].name);
                idx_str(a, sizeof a, c->head);
                row_addf(&r, "%s", a);
                idx_str(a, sizeof a, c->expert);
                row_addf(&r, "%s", a);
                row_num(&r, c->r, 4);
                if (isfinite(c->p)) row_addf(&r, "%.3g", c->p);
                else row_addf(&r, "–");
                row_num(&r, c->n, 0);
                row_emit(d, &r);
            }
        doc_table_end(d);
        doc_details_end(d);
    }
}
