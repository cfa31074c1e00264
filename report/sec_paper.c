/* sec_paper.c — "The paper beside this run": for every archive model that stands for one of the
 * paper's models (same config shape, or mapped by --paper-model / report.paper_models), the
 * paper's reported numbers (data/paper/NAME.yaml) next to the measured ones with the
 * difference: Table 1, Tables 2/3, Tables 5/8 with the per-relation relative MRR drop at top-10
 * (the abstract's headline metric), the matched-pair efficiency ratio and the headline
 * percentages. Also rep_paper_map, which decides the mapping. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/config/run_config.h"
#include "report/paper.h"
#include "report/sections.h"

/* "NAME=ID" entries: the ID for name, or NULL. */
static const char *map_lookup(const char *const *v, size_t n, const char *name, char *buf,
                              size_t len)
{
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(v[i], '=');
        if (!eq || (size_t)(eq - v[i]) != strlen(name) || strncmp(v[i], name, strlen(name)))
            continue;
        snprintf(buf, len, "%s", eq + 1);
        return buf;
    }
    return NULL;
}

static int same_shape(const paper_model *p, const rep_model *m)
{
    return m->cfg_ok && !strcmp(p->architecture, m->arch) && p->num_hidden_layers == m->L &&
           p->hidden_size == m->H && p->num_attention_heads == m->nH && p->num_experts == m->E &&
           p->num_experts_per_tok == (m->E ? m->k : 0) && p->shared_expert == m->shared &&
           p->vocab_size == m->V;
}

int rep_paper_map(rep_model *m, size_t n, const paper_data *p, const char *const *cli, size_t ncli,
                  mp_err *err)
{
    for (size_t i = 0; i < n; i++) {
        char buf[64];
        const char *id = map_lookup(cli, ncli, m[i].name, buf, sizeof buf);
        const char *const *rv = NULL;
        size_t nr = 0;
        if (!id && m[i].run_cfg) {
            nr = rcfg_str_list(m[i].run_cfg, "report.paper_models", &rv);
            id = map_lookup(rv, nr, m[i].name, buf, sizeof buf);
        }
        if (id) {
            if (!paper_model_find(p, id)) {
                if (map_lookup(cli, ncli, m[i].name, buf, sizeof buf))
                    return err_set(
                        err,
                        "--paper-model %s=%s: '%s' is not a paper model (data/paper/models.yaml: "
                        "olmoe, qwen1.5-moe, mixtral, llama-7b, qwen1.5-7b, mistral-7b)",
                        m[i].name, id, id);
                snprintf(m[i].paper_problem, sizeof m[i].paper_problem,
                         "the run config's report.paper_models maps %s to '%s', which is not a "
                         "paper model",
                         m[i].name, id);
                continue;
            }
            snprintf(m[i].paper_id, sizeof m[i].paper_id, "%s", id);
            m[i].paper_how = 2;
            continue;
        }
        for (size_t j = 0; j < p->nm; j++)
            if (same_shape(&p->m[j], &m[i])) {
                snprintf(m[i].paper_id, sizeof m[i].paper_id, "%s", p->m[j].id);
                m[i].paper_how = 1;
                break;
            }
    }
    return 0;
}

/* ---- measured counterparts ------------------------------------------------------------------ */

/* A relation's metric by key: mrr, hit10, mrr_block{N}, hit10_block{N}, {hit10,mrr}_topk{k},
 * {hit10,mrr}_<named ablation>. */
static double rel_metric(const rep_relation *r, const char *key)
{
    if (!r || !r->have_metrics) return NAN;
    int hit = !strncmp(key, "hit10", 5);
    const char *rest = key + (hit ? 5 : 3);
    if (strncmp(key, hit ? "hit10" : "mrr", hit ? 5 : 3)) return NAN;
    if (!*rest) return hit ? r->hit10 : r->mrr;
    if (*rest++ != '_') return NAN;
    const rep_cfg *c = NULL;
    if (!strncmp(rest, "block", 5))
        c = rep_find_cfg(r->block, r->n_block, atoll(rest + 5));
    else if (!strncmp(rest, "topk", 4))
        c = rep_find_cfg(r->topk, r->n_topk, atoll(rest + 4));
    else
        for (size_t i = 0; i < r->n_named; i++)
            if (!strcmp(r->named[i].name, rest)) c = &r->named[i];
    return c ? (hit ? c->hit10 : c->mrr) : NAN;
}

/* Sample-weighted mean over the model's relations (as Table 1's HIT@10 / MRR). */
static double model_metric(const rep_model *m, const char *key)
{
    double s = 0, w = 0;
    int c = 0;
    for (size_t i = 0; i < m->n_rel; i++) {
        double v = rel_metric(&m->rel[i], key);
        if (!isfinite(v)) continue;
        double wi = isfinite(m->rel[i].n) && m->rel[i].n > 0 ? m->rel[i].n : 1;
        s += wi * v, w += wi, c++;
    }
    return c ? s / w : NAN;
}

static const rep_model *model_of(const rep_model *m, size_t n, const char *paper_id)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].paper_how && !strcmp(m[i].paper_id, paper_id)) return &m[i];
    return NULL;
}

static double drop_rel10(const rep_relation *r)
{
    double b = rel_metric(r, "mrr"), t = rel_metric(r, "mrr_block10");
    return isfinite(b) && b >= 0.01 ? (b - t) / b : NAN;
}

static double he_mean(const rep_model *m, int which)
{
    double s = 0;
    int c = 0;
    for (size_t i = 0; i < m->n_rel; i++) {
        const rep_head_expert *h = &m->rel[i].he;
        double v = which == 0   ? (h->have_supp ? h->prob_change_rel : NAN)
                   : which == 1 ? (h->have_supp ? h->mrr_drop_rel : NAN)
                   : which == 2 ? (h->have_forc ? h->forced_over_base : NAN)
                                : (h->have_path ? h->share_all : NAN);
        if (isfinite(v)) s += v, c++;
    }
    return c ? s / c : NAN;
}

/* The measured counterpart of a value of the paper (percent where the paper gives percent). */
static double measured(const paper_value *v, const rep_model *mm, const rep_model *all, size_t n)
{
    const char *k = v->key;
    const rep_summary *s = &mm->pooled;
    if (!strcmp(v->table, "5") || !strcmp(v->table, "8"))
        return rel_metric(rep_find_relation(mm, v->relation), k);
    if (!strcmp(k, "total_ffn_gain")) return s->have ? s->total_ffn : NAN;
    if (!strcmp(k, "total_attn_gain")) return s->have ? s->total_attn : NAN;
    if (!strcmp(k, "peak_ffn_layer")) return s->have ? s->peak : NAN;
    if (!strcmp(k, "peak_ffn_layer_pct")) return s->have ? s->peak_pct : NAN;
    if (!strcmp(k, "layer_efficiency")) return s->have ? s->layer_eff : NAN;
    if (!strncmp(k, "stage_share_", 12)) {
        for (int q = 0; q < REP_NSTAGE; q++)
            if (!strcmp(k + 12, REP_STAGE_NAMES[q])) return s->have ? 100 * s->stage_share[q] : NAN;
        return NAN;
    }
    if (!strcmp(k, "layer_efficiency_gain")) {
        const rep_model *vs = model_of(all, n, v->versus);
        if (!vs || !s->have || !vs->pooled.have || !(vs->pooled.layer_eff > 0)) return NAN;
        return 100 * (s->layer_eff / vs->pooled.layer_eff - 1);
    }
    if (!strcmp(k, "mrr_drop_rel_block10"))
        return 100 * drop_rel10(rep_find_relation(mm, v->relation));
    if (!strcmp(k, "he_prob_change_rel")) return 100 * he_mean(mm, 0);
    if (!strcmp(k, "he_mrr_drop_rel")) return 100 * he_mean(mm, 1);
    if (!strcmp(k, "he_forced_over_base")) return 100 * he_mean(mm, 2);
    if (!strcmp(k, "he_share_all_heads")) return 100 * he_mean(mm, 3);
    return model_metric(mm, k);
}

static void diff_cells(rep_row *r, double paper, double ours, int dec)
{
    row_num(r, paper, dec);
    row_num(r, ours, dec);
    if (isfinite(paper) && isfinite(ours))
        row_addf(r, "%+.*f", dec, ours - paper);
    else
        row_addf(r, "–");
}

/* One table of (model, row, column) values of the given paper tables. */
static void value_table(rep_doc *d, const paper_data *p, const char *const *tables,
                        const rep_model *m, size_t n, int dec, int with_rel)
{
    static const char *const H[] = {"Model (paper)", "Table",           "Row", "Column", "Paper",
                                    "Measured",      "Measured − paper"};
    doc_table_begin(d, 7, H);
    rep_row r;
    for (size_t i = 0; i < p->n; i++) {
        const paper_value *v = &p->v[i];
        int want = 0;
        for (size_t t = 0; tables[t]; t++) want |= !strcmp(v->table, tables[t]);
        const rep_model *mm = want ? model_of(m, n, v->model) : NULL;
        if (!mm) continue;
        row_reset(&r);
        row_addf(&r, "%s (%s)", mm->name, paper_model_find(p, v->model)->name);
        row_addf(&r, "%s", v->table);
        row_addf(&r, "%s", with_rel ? v->row : v->row);
        row_addf(&r, "%s", v->column);
        diff_cells(&r, v->value, measured(v, mm, m, n), dec);
        row_emit(d, &r);
    }
    doc_table_end(d);
}

void sec_paper(rep_doc *d, rep_model *m, size_t n)
{
    const paper_data *p = d->paper;
    if (!p) {
        doc_note(d, "The paper's numbers could not be read: %s.", d->paper_problem);
        return;
    }
    int mapped = 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i].paper_problem[0]) doc_note(d, "%s.", m[i].paper_problem);
        mapped += m[i].paper_how != 0;
    }
    if (!mapped) {
        doc_p(d, "None of these archives' models is one of the paper's six (by the shape of its "
                 "config.json, "
                 "data/paper/models.yaml, or by --paper-model / the run config's "
                 "report.paper_models), so the "
                 "paper's numbers (data/paper/) are not put beside them.");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (!m[i].paper_how) continue;
        const paper_model *pm = paper_model_find(p, m[i].paper_id);
        if (m[i].paper_how == 1)
            doc_p(d,
                  "%s has the configuration of the paper's %s (%s: same architecture, layers, "
                  "hidden size, "
                  "heads, experts, top-k and vocabulary). Whether its weights are the published "
                  "checkpoint's "
                  "is not checked.",
                  m[i].name, pm->name, pm->checkpoint);
        else
            doc_p(d,
                  "%s is compared with the paper's %s because it was mapped to it (--paper-model "
                  "or the run "
                  "config's report.paper_models)%s",
                  m[i].name, pm->name,
                  same_shape(pm, &m[i])
                      ? "."
                      : ". Its configuration is not the paper model's and its weights "
                        "differ: the differences below compare different models and only exercise "
                        "the comparison.");
    }
    doc_p(d, "Paper values are as printed in the paper (rounded); measured values are this run's, "
             "formatted "
             "to the paper's precision; the difference is measured − paper.");

    static const char *const T1[] = {"1", NULL};
    doc_h(d, 3, NULL, "Table 1: accuracy and gains");
    value_table(d, p, T1, m, n, 3, 0);

    static const char *const T23[] = {"2", "3", NULL};
    doc_h(d, 3, NULL, "Tables 2 and 3: only some experts");
    value_table(d, p, T23, m, n, 2, 0);

    /* Tables 5/8 and the relative drop at top-10 */
    doc_h(d, 3, NULL,
          "Tables 5 and 8: blocking the top experts, and the relative MRR drop at top-10");
    doc_p(d, "Per relation: MRR unblocked and with the relation's top-10 experts blocked, and the "
             "relative "
             "drop (MRR − MRR_top10) / MRR, the abstract's headline metric (n/a where the "
             "unblocked MRR is "
             "below 0.01). Table 8 values (Table 5 repeats some of its rows).");
    static const char *const H8[] = {"Relation",
                                     "Model (paper)",
                                     "MRR paper",
                                     "MRR measured",
                                     "Top-10 blocked paper",
                                     "Top-10 blocked measured",
                                     "Relative drop paper",
                                     "Relative drop measured",
                                     "Difference (points)"};
    doc_table_begin(d, 9, H8);
    rep_row r;
    for (size_t i = 0; i < p->n; i++) {
        const paper_value *v = &p->v[i];
        if (strcmp(v->table, "8") || strcmp(v->key, "mrr")) continue;
        const rep_model *mm = model_of(m, n, v->model);
        if (!mm) continue;
        const paper_value *t10 = paper_find(p, "8", v->model, v->relation, "mrr_block10");
        const rep_relation *rl = rep_find_relation(mm, v->relation);
        double pb = v->value, pt = t10 ? t10->value : NAN, pd = pb >= 0.01 ? (pb - pt) / pb : NAN;
        double ob = rel_metric(rl, "mrr"), ot = rel_metric(rl, "mrr_block10"), od = drop_rel10(rl);
        char a[48], b[48];
        row_reset(&r);
        row_addf(&r, "%s", v->relation);
        row_addf(&r, "%s (%s)", mm->name, paper_model_find(p, v->model)->name);
        row_num(&r, pb, 2);
        row_num(&r, ob, 2);
        row_num(&r, pt, 2);
        row_num(&r, ot, 2);
        row_addf(&r, "%s", rep_pct(a, sizeof a, "%.0f", pd));
        row_addf(&r, "%s", rep_pct(b, sizeof b, "%.0f", od));
        if (isfinite(pd) && isfinite(od))
            row_addf(&r, "%+.0f", 100 * (od - pd));
        else
            row_addf(&r, "–");
        row_emit(d, &r);
    }
    doc_table_end(d);

    /* matched pairs */
    doc_h(d, 3, NULL, "Matched-pair efficiency ratio (MoE / its dense sibling)");
    static const char *const HM[] = {"MoE model", "Dense sibling",
                                     "Layer efficiency MoE / dense, paper", "Measured",
                                     "Measured − paper"};
    doc_table_begin(d, 5, HM);
    int pairs = 0;
    for (size_t j = 0; j < p->nm; j++) {
        const paper_model *pm = &p->m[j];
        if (!pm->dense_sibling[0]) continue;
        const rep_model *a = model_of(m, n, pm->id), *b = model_of(m, n, pm->dense_sibling);
        if (!a && !b) continue;
        const paper_value *pa = paper_find(p, "1", pm->id, NULL, "layer_efficiency"),
                          *pb = paper_find(p, "1", pm->dense_sibling, NULL, "layer_efficiency");
        double pr = pa && pb && pb->value > 0 ? pa->value / pb->value : NAN;
        double mr = a && b && a->pooled.have && b->pooled.have && b->pooled.layer_eff > 0
                        ? a->pooled.layer_eff / b->pooled.layer_eff
                        : NAN;
        row_reset(&r);
        row_addf(&r, "%s", a ? a->name : pm->name);
        row_addf(&r, "%s", b ? b->name : paper_model_find(p, pm->dense_sibling)->name);
        diff_cells(&r, pr, mr, 3);
        if (!a || !b) snprintf(r.c[3], sizeof r.c[3], "needs both archives");
        row_emit(d, &r);
        pairs++;
    }
    doc_table_end(d);
    if (!pairs)
        doc_note(d, "No MoE model with a dense sibling in the paper (Qwen 1.5-MoE / Qwen 1.5-7B, "
                    "Mixtral / Mistral) is among these archives.");

    static const char *const TH[] = {"abstract",    "introduction", "section 3.1", "section 3.2",
                                     "section 3.3", "section 4.3",  "section 5.2", NULL};
    doc_h(d, 3, NULL, "Headline percentages");
    doc_p(d, "The percentages of the paper's text, with the measured counterpart named in "
             "data/paper/headline.yaml "
             "(section 4.3's causal checks: mean over relations of this run's pairs).");
    value_table(d, p, TH, m, n, 1, 1);
}
