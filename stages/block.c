/* block.c — unit "block/<rel>" (MoE models): the relation's prompts evaluated under expert
 * blocking and expert-configuration ablations (the paper's Tables 2, 3, 5, 8, Figures 4, 7).
 *
 * Configurations, each one runner_eval over the relation's prompts:
 *   block{N}   the first N (layer, expert) pairs of the relation's ranking from capture/<rel>
 *              (routing/<rel>/expert_ranking_frequency, or _attribution with block.rank_by)
 *              blocked per block.mode (router logit -inf before the softmax, or zero output)
 *   topk{k}    route only the top k experts, k = 0..K (block.topk_ablation); k = K is the
 *              unmodified model, whose ranks the capture unit already holds (not rerun)
 *   only_top1, only_top2, only_shared, shared_top1, shared_top2, shared_2nd
 *              (models with a shared expert, block.shared_ablation): see configs_build
 *   only_rank{j} only the routed expert of rank j (1-based), j = 1..K, the others dropped
 *              (models without a shared expert and K > 1, block.only_rank_ablation; Figure 4)
 * Configurations with the same intervention (only_shared = topk0, shared_top{1,2} = topk{1,2})
 * are run once.
 *
 * The layout is the schema table stages/schema_block.c (docs/archive.md).
 * Writes metrics/<rel> attributes hit10_<cfg>, mrr_<cfg> (the fixture refs' names), for blocks
 * also mrr_drop_block{N} = mrr - mrr_block{N} and mrr_drop_rel_block{N} = that / mrr; and
 * block/<rel>/<cfg>/{rank [n] int64, logit_margin [n] f64} with attributes hit10, mrr,
 * min_logit_margin (float-noise diagnostic) and the intervention (topk, keep_rank, no_shared,
 * n_block); block{N} also holds `blocked` [N,3] int32 (layer, expert, count). block/<rel>
 * carries the attributes mode and rank_by and the dataset `configs` (names in run order). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages/schema_block.h"
#include "stages/analysis.h"
#include "stages/stats.h"

#define BLK_MAX_CFG 96

typedef struct blk_cfg {
    char name[32];
    intervention iv;
    int is_base;   /* the unmodified model: ranks from capture/<rel> */
    int n_blocked; /* block{N}: N */
    int same_as;   /* index of an earlier configuration with the same intervention, or -1 */
    eval_result res;
} blk_cfg;

typedef struct blk_state {
    analysis_ctx *c;
    blk_cfg cfg[BLK_MAX_CFG];
    int n_cfg;
    int64_t *ranking; /* [m,3] (layer, expert, count), every rank */
    int64_t m;
    /* rank 0: the unmodified model from capture/<rel> */
    int64_t *base_rank;
    double *base_margin;
    double base_mrr, base_hit10;
} blk_state;

static blk_cfg *cfg_add(blk_state *st, const char *name, mp_err *err)
{
    if (st->n_cfg >= BLK_MAX_CFG) {
        err_set(err, "unit %s: more than %d block configurations (block.top_n has too many values)",
                st->c->unit_id, BLK_MAX_CFG);
        return NULL;
    }
    blk_cfg *b = &st->cfg[st->n_cfg++];
    memset(b, 0, sizeof *b);
    snprintf(b->name, sizeof b->name, "%s", name);
    intervention_init(&b->iv);
    b->same_as = -1;
    return b;
}

static int iv_same(const intervention *a, const intervention *b)
{
    if (a->n_block != b->n_block || a->topk != b->topk || a->keep_rank != b->keep_rank ||
        a->no_shared != b->no_shared || (a->n_block && a->block_mode != b->block_mode))
        return 0;
    for (int i = 0; i < a->n_block; i++)
        if (a->block[i].layer != b->block[i].layer || a->block[i].index != b->block[i].index)
            return 0;
    return 1;
}

/* The configurations, identical on every rank (they depend on cfg and the broadcast ranking). */
static int configs_build(blk_state *st, mp_err *err)
{
    const analysis_ctx *c = st->c;
    const mcfg *cf = c->model_cfg;
    const int K = (int)cf->num_experts_per_tok, E = (int)cf->num_experts;
    const int L = (int)cf->num_hidden_layers;
    const block_mode mode =
        rcfg_enum(c->cfg, "block.mode") == 1 ? BLOCK_ZERO_OUTPUT : BLOCK_ROUTER_LOGIT;
    const int64_t *ns;
    size_t nn = rcfg_int_list(c->cfg, "block.top_n", &ns);
    char name[32];
    blk_cfg *b;

    for (size_t i = 0; i < nn; i++) {
        int64_t N = ns[i];
        int dup = 0;
        for (size_t j = 0; j < i; j++) dup |= ns[j] == N;
        if (dup) continue;
        if (N > st->m || N > IV_MAX_ITEMS)
            return err_set(err,
                           "%s: block.top_n has %lld; %s ranks %lld (layer, expert) pairs and "
                           "at most %d can be blocked at once",
                           rcfg_source(c->cfg), (long long)N, c->model_name, (long long)st->m,
                           IV_MAX_ITEMS);
        snprintf(name, sizeof name, "block%lld", (long long)N);
        if (!(b = cfg_add(st, name, err))) return -1;
        b->n_blocked = (int)N;
        b->iv.block_mode = mode;
        b->iv.n_block = (int)N;
        for (int64_t j = 0; j < N; j++) {
            b->iv.block[j].layer = (int)st->ranking[3 * j];
            b->iv.block[j].index = (int)st->ranking[3 * j + 1];
        }
        if (mode == BLOCK_ROUTER_LOGIT) {
            /* a layer with every router logit at -inf has no softmax */
            for (int l = 0; l < L; l++) {
                int nb = 0;
                for (int64_t j = 0; j < N; j++) nb += st->ranking[3 * j] == l;
                if (E > 0 && nb >= E)
                    return err_set(err,
                                   "%s: block.top_n %lld blocks all %d experts of layer %d of "
                                   "%s in relation %s; with block.mode router_logit at least one "
                                   "must stay (use a smaller N or block.mode zero_output)",
                                   rcfg_source(c->cfg), (long long)N, E, l, c->model_name,
                                   c->rel->id);
            }
        }
    }
    if (rcfg_bool(c->cfg, "block.topk_ablation"))
        for (int k = 0; k <= K; k++) {
            snprintf(name, sizeof name, "topk%d", k);
            if (!(b = cfg_add(st, name, err))) return -1;
            if (k == K)
                b->is_base = 1;
            else
                b->iv.topk = k;
        }
    if (cf->shared_expert_intermediate_size > 0 && rcfg_bool(c->cfg, "block.shared_ablation")) {
        /* name, topk (-1 = K), keep_rank, no_shared */
        static const struct {
            const char *name;
            int topk, keep, no_shared;
        } sh[] = {{"only_top1", 1, 0, 1},   {"only_top2", -1, 2, 1},  {"only_shared", 0, 0, 0},
                  {"shared_top1", 1, 0, 0}, {"shared_top2", 2, 0, 0}, {"shared_2nd", -1, 2, 0}};
        for (size_t i = 0; i < sizeof sh / sizeof *sh; i++) {
            if (sh[i].topk > K || sh[i].keep > K) continue; /* the model routes fewer experts */
            if (!(b = cfg_add(st, sh[i].name, err))) return -1;
            b->iv.topk = sh[i].topk == K ? -1 : sh[i].topk;
            b->iv.keep_rank = sh[i].keep;
            b->iv.no_shared = sh[i].no_shared;
            b->is_base = intervention_is_none(&b->iv);
        }
    }
    if (cf->shared_expert_intermediate_size <= 0 && K > 1 &&
        rcfg_bool(c->cfg, "block.only_rank_ablation"))
        /* Figure 4: each routed expert of rank j alone (models without a shared expert) */
        for (int j = 1; j <= K; j++) {
            snprintf(name, sizeof name, "only_rank%d", j);
            if (!(b = cfg_add(st, name, err))) return -1;
            b->iv.topk = -1;
            b->iv.keep_rank = j;
        }
    for (int i = 0; i < st->n_cfg; i++)
        for (int j = 0; j < i && st->cfg[i].same_as < 0 && !st->cfg[i].is_base; j++)
            if (!st->cfg[j].is_base && st->cfg[j].same_as < 0 &&
                iv_same(&st->cfg[i].iv, &st->cfg[j].iv))
                st->cfg[i].same_as = j;
    return 0;
}

/* Rank 0: the ranking (into blob b for every rank) and the unmodified model's ranks. */
static int read_capture(blk_state *st, blob *b, mp_err *err)
{
    const analysis_ctx *c = st->c;
    const char *rel = c->rel->id;
    arc_reader *rd = NULL;
    arc_array rk = {0}, br = {0}, bm = {0};
    char p[300], g[300];
    int rc = -1;
    int by_attr = rcfg_enum(c->cfg, "block.rank_by") == 1;

    snprintf(p, sizeof p, "capture/%s", rel);
    if (analysis_open_unit(c, p, &rd, err) != 0) goto done;
    snprintf(p, sizeof p, "routing/%s/expert_ranking_%s", rel,
             by_attr ? "attribution" : "frequency");
    if (arc_kind_of(rd, p) != ARC_DATASET) {
        err_set(err, "unit %s: %s is missing from capture/%s%s", c->unit_id, p, rel,
                by_attr ? " (block.rank_by: attribution needs stage attribute in the same run as "
                          "capture)"
                        : "");
        goto done;
    }
    if (arc_read(rd, p, &rk, err) != 0) goto done;
    if (rk.type != ARC_I64 || rk.ndim != 2 || rk.shape[1] != 3) {
        err_set(err, "unit %s: %s has type %s and %d dimensions; expected int64 [pairs, 3]",
                c->unit_id, p, arc_type_name(rk.type), rk.ndim);
        goto done;
    }
    snprintf(p, sizeof p, "evaluate/%s/rank", rel);
    if (arc_read(rd, p, &br, err) != 0) goto done;
    snprintf(p, sizeof p, "evaluate/%s/logit_margin", rel);
    if (arc_read(rd, p, &bm, err) != 0) goto done;
    if (br.type != ARC_I64 || bm.type != ARC_F64 || br.ndim != 1 || bm.ndim != 1 ||
        br.shape[0] != c->ps->n || bm.shape[0] != c->ps->n) {
        err_set(err,
                "unit %s: evaluate/%s/rank and logit_margin of capture/%s do not hold %lld "
                "samples (int64 / float64) as the relation's prompts do; rerun capture/%s",
                c->unit_id, rel, rel, (long long)c->ps->n, rel);
        goto done;
    }
    snprintf(g, sizeof g, "metrics/%s", rel);
    if (arc_read_attr_f64(rd, g, "mrr", &st->base_mrr, err) != 0 ||
        arc_read_attr_f64(rd, g, "hit10", &st->base_hit10, err) != 0)
        goto done;
    st->base_rank = br.data;
    st->base_margin = bm.data;
    br.data = bm.data = NULL;
    blob_put(b, "ranking", BLOB_I64, 2, rk.shape, rk.data);
    rc = 0;
done:
    arc_array_free(&rk);
    arc_array_free(&br);
    arc_array_free(&bm);
    arc_reader_close(rd);
    return rc;
}

/* Every rank: rank 0 reads the capture unit and hands the ranking over (or its error, so that
 * every rank leaves the unit together). */
static int share_ranking(blk_state *st, mp_err *err)
{
    blob b;
    blob_item it;
    int rc = -1;
    blob_init(&b);
    if (st->c->rank == 0) {
        mp_err e0;
        err_init(&e0);
        if (read_capture(st, &b, &e0) != 0) {
            blob_reset(&b);
            blob_put_str(&b, "error", e0.msg);
        }
    }
    analysis_bcast(&b);
    if (b.failed) {
        err_set(err, "unit %s: out of memory", st->c->unit_id);
        goto done;
    }
    int f = blob_find(b.data, b.len, "error", &it, err);
    if (f < 0) goto done;
    if (f == 1) {
        err_set(err, "%.*s", (int)(it.nbytes > 0 ? it.nbytes - 1 : 0), (const char *)it.data);
        goto done;
    }
    if (blob_find(b.data, b.len, "ranking", &it, err) != 1) {
        if (!err->msg[0]) err_set(err, "unit %s: no ranking received", st->c->unit_id);
        goto done;
    }
    st->m = it.shape[0];
    st->ranking = blob_to_i64(&it);
    if (!st->ranking) {
        err_set(err, "unit %s: out of memory", st->c->unit_id);
        goto done;
    }
    rc = 0;
done:
    blob_free(&b);
    return rc;
}

/* ---- rank 0: the archive ------------------------------------------------------------------ */

/* The schema entries of one kind of configuration (stages/schema_block.c). */
typedef struct blk_entries {
    const sch_entry *group, *rank, *margin, *hit10, *mrr, *min_margin, *topk, *keep_rank,
        *no_shared, *n_block, *met_hit10, *met_mrr;
} blk_entries;

#define BLK_ENTRIES(K)                                                                             \
    {                                                                                              \
        BLK(K), BLK(K##_RANK), BLK(K##_MARGIN), BLK(K##_HIT10), BLK(K##_MRR), BLK(K##_MIN_MARGIN), \
            BLK(K##_TOPK), BLK(K##_KEEP_RANK), BLK(K##_NO_SHARED), BLK(K##_N_BLOCK),               \
            BLK(MET_HIT10_##K), BLK(MET_MRR_##K)                                                   \
    }

static blk_entries entries_of(const blk_cfg *b)
{
    static const blk_entries block = BLK_ENTRIES(BLOCK), topk = BLK_ENTRIES(TOPK),
                             named = BLK_ENTRIES(NAMED), only = BLK_ENTRIES(ONLY);
    if (b->n_blocked > 0) return block;
    if (!strncmp(b->name, "only_rank", 9)) return only;
    return !strncmp(b->name, "topk", 4) ? topk : named;
}

static int write_config(blk_state *st, const blk_cfg *b, const eval_result *r, mp_err *err)
{
    analysis_ctx *c = st->c;
    arc_unit *u = c->out;
    const char *rel = c->rel->id;
    const blk_entries e = entries_of(b);
    char g[300], p[340], a[64];

    const stats_eval m = stats_evaluate(r->rank, r->margin, r->n);

    if (sch_path(g, sizeof g, err, BLK(MET_HIT10_BLOCK), rel) != 0) return -1;
    snprintf(a, sizeof a, "hit10_%s", b->name);
    if (sch_attr_f64(u, e.met_hit10, g, a, m.hit10, err) != 0) return -1;
    snprintf(a, sizeof a, "mrr_%s", b->name);
    if (sch_attr_f64(u, e.met_mrr, g, a, m.mrr, err) != 0) return -1;
    if (b->n_blocked > 0) {
        double drop = st->base_mrr - m.mrr;
        snprintf(a, sizeof a, "mrr_drop_%s", b->name);
        if (sch_attr_f64(u, BLK(MET_MRR_DROP), g, a, drop, err) != 0) return -1;
        snprintf(a, sizeof a, "mrr_drop_rel_%s", b->name);
        if (sch_attr_f64(u, BLK(MET_MRR_DROP_REL), g, a,
                         st->base_mrr > 0 ? drop / st->base_mrr : NAN, err) != 0)
            return -1;
    }
    snprintf(g, sizeof g, "block/%s/%s", rel, b->name);
    snprintf(p, sizeof p, "%s/rank", g);
    if (sch_write(u, e.rank, p, &r->n, r->rank, err) != 0) return -1;
    snprintf(p, sizeof p, "%s/logit_margin", g);
    if (sch_write(u, e.margin, p, &r->n, r->margin, err) != 0) return -1;
    if (sch_attr_f64(u, e.hit10, g, NULL, m.hit10, err) != 0 ||
        sch_attr_f64(u, e.mrr, g, NULL, m.mrr, err) != 0 ||
        sch_attr_f64(u, e.min_margin, g, NULL, m.min_margin, err) != 0 ||
        sch_attr_i64(u, e.topk, g, NULL,
                     b->iv.topk < 0 ? c->model_cfg->num_experts_per_tok : b->iv.topk, err) != 0 ||
        sch_attr_i64(u, e.keep_rank, g, NULL, b->iv.keep_rank, err) != 0 ||
        sch_attr_i64(u, e.no_shared, g, NULL, b->iv.no_shared, err) != 0 ||
        sch_attr_i64(u, e.n_block, g, NULL, b->iv.n_block, err) != 0)
        return -1;
    if (b->n_blocked > 0) {
        int32_t tab[3 * IV_MAX_ITEMS];
        int64_t sh[2] = {b->n_blocked, 3};
        for (int64_t q = 0; q < 3 * (int64_t)b->n_blocked; q++) tab[q] = (int32_t)st->ranking[q];
        snprintf(p, sizeof p, "%s/blocked", g);
        if (sch_write(u, BLK(BLOCK_BLOCKED), p, sh, tab, err) != 0) return -1;
    }
    return 0;
}

static int write_all(blk_state *st, mp_err *err)
{
    analysis_ctx *c = st->c;
    arc_unit *u = c->out;
    char g[300], p[340];
    const char *names[BLK_MAX_CFG];
    int64_t n = st->n_cfg;
    for (int i = 0; i < st->n_cfg; i++) {
        const blk_cfg *b = &st->cfg[i];
        const eval_result *r = b->same_as >= 0 ? &st->cfg[b->same_as].res : &b->res;
        if (write_config(st, b, r, err) != 0) return -1;
        names[i] = b->name;
    }
    if (sch_path(g, sizeof g, err, BLK(REL), c->rel->id) != 0 ||
        sch_path(p, sizeof p, err, BLK(CONFIGS), c->rel->id) != 0)
        return -1;
    if (n > 0 && sch_write(u, BLK(CONFIGS), p, &n, names, err) != 0) return -1;
    if (n > 0) {
        double share[BLK_MAX_CFG];
        int screened = 0; /* what ran: a checkpoint not in bf16 runs float32 whatever asked */
        for (int i = 0; i < st->n_cfg; i++) {
            const blk_cfg *b = &st->cfg[i];
            const eval_result *r = b->same_as >= 0 ? &st->cfg[b->same_as].res : &b->res;
            share[i] = r->screened && r->n > 0 ? (double)r->recomputed / (double)r->n : 1.0;
            screened |= r->screened;
        }
        if (sch_path(p, sizeof p, err, BLK(RECOMPUTED), c->rel->id) != 0 ||
            sch_write(u, BLK(RECOMPUTED), p, &n, share, err) != 0 ||
            sch_attr_str(u, BLK(EVAL_PRECISION), g, NULL, screened ? "bf16_screened" : "float32",
                         err) != 0)
            return -1;
    }
    if (sch_attr_str(u, BLK(MODE), g, NULL, rcfg_str(c->cfg, "block.mode"), err) != 0 ||
        sch_attr_str(u, BLK(RANK_BY), g, NULL, rcfg_str(c->cfg, "block.rank_by"), err) != 0 ||
        sch_attr_f64(u, BLK(MRR), g, NULL, st->base_mrr, err) != 0 ||
        sch_attr_f64(u, BLK(HIT10), g, NULL, st->base_hit10, err) != 0)
        return -1;
    return 0;
}

/* The unmodified model's result from the capture unit's ranks (rank 0). */
static int base_result(blk_state *st, eval_result *r, mp_err *err)
{
    int64_t n = st->c->ps->n;
    memset(r, 0, sizeof *r);
    r->n = n;
    r->rank = malloc((size_t)(n > 0 ? n : 1) * sizeof *r->rank);
    r->margin = malloc((size_t)(n > 0 ? n : 1) * sizeof *r->margin);
    if (!r->rank || !r->margin) return err_set(err, "unit %s: out of memory", st->c->unit_id);
    memcpy(r->rank, st->base_rank, (size_t)n * sizeof *r->rank);
    memcpy(r->margin, st->base_margin, (size_t)n * sizeof *r->margin);
    return 0;
}

static int block_run(analysis_ctx *c, mp_err *err)
{
    blk_state st;
    int rc = -1;
    memset(&st, 0, sizeof st);
    st.c = c;
    if (c->model_cfg->num_experts <= 0) {
        err_set(err, "unit %s: %s has no experts (the block stage is for MoE models)", c->unit_id,
                c->model_name);
        return -1;
    }
    if (share_ranking(&st, err) != 0 || configs_build(&st, err) != 0) goto done;
    /* a failure on rank 0 alone must not leave the other ranks in the next runner_eval */
    int failed0 = 0;
    for (int i = 0; i < st.n_cfg; i++) {
        blk_cfg *b = &st.cfg[i];
        if (b->same_as >= 0) continue;
        if (b->is_base) {
            if (c->rank == 0 && !failed0) failed0 = base_result(&st, &b->res, err) != 0;
            continue;
        }
        if (runner_eval(c->r, c->ps, &b->iv, NULL, &b->res, err) != 0) goto done;
    }
    if (failed0 || (c->rank == 0 && write_all(&st, err) != 0)) goto done;
    rc = 0;
done:
    for (int i = 0; i < st.n_cfg; i++) eval_result_free(&st.cfg[i].res);
    free(st.ranking);
    free(st.base_rank);
    free(st.base_margin);
    return rc;
}

/* Blocking and ablations (section 5.2). */
/* clang-format off */
static const rcfg_key BLOCK_KEYS[] = {
    {"block", RCFG_MAP, 0, NULL, RCFG_NOLIM, NULL,
     "Blocking the top experts of each relation, and configuration ablations (MoE models)."},
    {"block.top_n", RCFG_INT_LIST, 0, "[1, 5, 10]", 1, 1e6, NULL,
     "Block the top-N experts for each N listed."},
    {"block.mode", RCFG_ENUM, 0, "router_logit", RCFG_NOLIM, "router_logit|zero_output",
     "router_logit: set blocked router logits to -inf before the softmax (others take their "
     "place); zero_output: zero the blocked expert's output after routing."},
    {"block.rank_by", RCFG_ENUM, 0, "frequency", RCFG_NOLIM, "frequency|attribution",
     "Rank a relation's experts by top-k frequency at the last position, or by summed expert "
     "attribution."},
    {"block.topk_ablation", RCFG_BOOL, 0, "true", RCFG_NOLIM, NULL,
     "Also run top-k for k = 0..K."},
    {"block.shared_ablation", RCFG_BOOL, 0, "true", RCFG_NOLIM, NULL,
     "Also run the shared-expert configurations (models with a shared expert)."},
    {"block.only_rank_ablation", RCFG_BOOL, 0, "true", RCFG_NOLIM, NULL,
     "Also run 'only the j-th expert' for j = 1..K (models without a shared expert, Figure 4)."},
};
/* clang-format on */

const analysis_def analysis_block = {
    .name = "block",
    .order = 30,
    .scope = ANALYSIS_PER_RELATION,
    .needs_model = 1,
    .moe_only = 1,
    .after = {"capture", NULL},
    .run = block_run,
    .doc = "blocking the relation's top-N experts (block.top_n, block.mode) and the top-k / "
           "shared-expert configuration ablations: HIT@10 and MRR per configuration "
           "(metrics/<rel>), per-sample ranks (block/<rel>)",
    .config = RCFG_SECTION(BLOCK_KEYS),
    .run_keys = {"eval_precision", NULL},
};
