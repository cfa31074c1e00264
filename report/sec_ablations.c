/* sec_ablations.c — Tables 2/3 and Figure 4: HIT@10 and MRR when only the top-k routed experts
 * are used and under the shared-expert configurations (metrics/<rel> hit10_topk{k}, ...). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/sections.h"

typedef struct cfg_arg {
    int which; /* 0 topk by num, 1 named by name */
    int64_t num;
    const char *name;
    int hit; /* 1 = hit10, 0 = mrr */
} cfg_arg;

static double get_cfg(const rep_relation *r, const void *va)
{
    const cfg_arg *a = va;
    if (a->which == 0) {
        const rep_cfg *c = rep_find_cfg(r->topk, r->n_topk, a->num);
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
    static const char *const MAP[][2] = {
        {"only_top1", "Only Top1"},       {"only_top2", "Only Top2"},
        {"only_shared", "Only Shared"},   {"shared_2nd", "Shared + 2nd"},
        {"shared_top1", "Shared + Top1"}, {"shared_top2", "Shared + Top2"}};
    for (size_t i = 0; i < sizeof MAP / sizeof *MAP; i++)
        if (!strcmp(s, MAP[i][0])) return MAP[i][1];
    snprintf(buf, len, "%s", s);
    return buf;
}

/* Figure 4: only the routed expert of rank j (only_rank{j}, models without a shared expert):
 * HIT@10 and MRR against j, one line per model, and a table. */
static void only_rank(rep_doc *d, rep_model *m, size_t n)
{
    rep_line_chart ch[2];
    double xs[REP_MAX_SERIES][64], ys[2][REP_MAX_SERIES][64];
    int ns = 0;
    memset(ch, 0, sizeof ch);
    static const char *const H[] = {"Model",          "j", "HIT@10", "MRR", "HIT@10 all experts",
                                    "MRR all experts"};
    rep_row r;
    for (size_t i = 0; i < n && ns < REP_MAX_SERIES; i++) {
        int np = 0;
        for (int j = 1; j <= 64; j++) {
            char nm[32];
            snprintf(nm, sizeof nm, "only_rank%d", j);
            cfg_arg ah = {1, 0, nm, 1}, am = {1, 0, nm, 0};
            double h = rep_mean_rel(&m[i], get_cfg, &ah, NULL),
                   mr = rep_mean_rel(&m[i], get_cfg, &am, NULL);
            if (!isfinite(h) && !isfinite(mr)) break;
            xs[ns][np] = j;
            ys[0][ns][np] = h;
            ys[1][ns][np] = mr;
            np++;
        }
        if (!np) continue;
        if (!ns) {
            doc_h(d, 3, "figure4-only", "Only the j-th expert (Figure 4)");
            doc_p(d,
                  "Models without a shared expert: every token keeps only the routed expert of "
                  "rank j "
                  "(1 = highest router probability) and drops the others; means over all samples.");
            doc_table_begin(d, 6, H);
        }
        cfg_arg bh = {0, 0, NULL, 1}, bm = {0, 0, NULL, 0};
        for (int q = 0; q < np; q++) {
            row_reset(&r);
            row_addf(&r, "%s", m[i].name);
            row_addf(&r, "%d", (int)xs[ns][q]);
            row_num(&r, ys[0][ns][q], 3);
            row_num(&r, ys[1][ns][q], 3);
            row_num(&r, rep_mean_rel(&m[i], get_base, &bh, NULL), 3);
            row_num(&r, rep_mean_rel(&m[i], get_base, &bm, NULL), 3);
            row_emit(d, &r);
        }
        for (int c = 0; c < 2; c++)
            ch[c].s[ns] = (rep_series){m[i].name, xs[ns], ys[c][ns], np, 0, 1};
        ns++;
    }
    if (!ns) return;
    doc_table_end(d);
    for (int c = 0; c < 2; c++) {
        ch[c].n_series = ns;
        ch[c].title = c ? "MRR with only the j-th expert" : "HIT@10 with only the j-th expert";
        ch[c].xlabel = "j (rank of the only routed expert kept)";
        ch[c].ylabel = c ? "MRR" : "HIT@10";
        ch[c].integer_x = 1;
        ch[c].ymin_hint = 0;
        ch[c].ymax_hint = NAN;
    }
    doc_figs_begin(d);
    doc_line(d, "fig4_only_rank_hit10", &ch[0], "HIT@10 keeping only the routed expert of rank j.");
    doc_line(d, "fig4_only_rank_mrr", &ch[1], "MRR keeping only the routed expert of rank j.");
    doc_figs_end(d);
}

void sec_ablations(rep_doc *d, rep_model *m, size_t n)
{
    int64_t ks[64];
    int nk = rep_union_nums(m, n, 1, ks, 64);
    rep_row r;
    doc_p(d,
          "HIT@10 and MRR when only the top-k routed experts are used (k = 0: no routed expert), "
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
        for (size_t j = 0; j < m[i].n_rel; j++)
            any |= m[i].rel[j].n_topk > 0 || m[i].rel[j].n_named > 0;
        if (!any) rep_note_missing(d, &m[i], "configuration ablations", "block", 1);
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
            if (K > 0)
                row_addf(&r, "Shared + Top%d (default)", K);
            else
                row_addf(&r, "default");
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
    only_rank(d, m, n);
}
