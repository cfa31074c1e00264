/* data.c — loads what the report shows from one archive into a rep_model.
 *
 * The analyses are written by other stages with the field names of
 * ../shared/fixtures/refs-analyses/README.md ("scalars as attributes, lists and matrices as
 * datasets"). Where that leaves the HDF5 shape open (a nested {early, mid, late} object, a
 * [layer, index] pair, a list of objects), every plausible layout is accepted: an attribute or a
 * dataset of the same name, a sub-group with the members, "name_member" attributes, or a
 * vector indexed in the documented order. Anything unreadable counts as missing (NAN / NULL):
 * the report announces it instead of failing. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "pipeline/archive/archive.h"
#include "pipeline/model/model_config.h"
#include "report/internal.h"
#include "stages/stats.h"

const char *const REP_STAGE_NAMES[REP_NSTAGE] = {"early", "mid", "late"};

/* ---- summaries -------------------------------------------------------------------------------- */

static void summary_load(arc_reader *r, const char *g, rep_summary *s)
{
    memset(s, 0, sizeof *s);
    s->n = s->total_ffn = s->total_attn = s->layer_eff = s->peak = s->peak_pct = NAN;
    for (int i = 0; i < REP_NSTAGE; i++) s->stage_gain[i] = s->stage_share[i] = s->stage_gpl[i] = NAN;
    if (arc_kind_of(r, g) != ARC_GROUP) return;
    s->have = 1;
    s->n = rep_get_num(r, g, "n");
    s->total_ffn = rep_get_num(r, g, "total_ffn_gain");
    s->total_attn = rep_get_num(r, g, "total_attn_gain");
    s->layer_eff = rep_get_num(r, g, "layer_efficiency");
    s->peak = rep_get_num(r, g, "peak_ffn_layer");
    s->peak_pct = rep_get_num(r, g, "peak_ffn_layer_pct");
    int64_t nf = 0, na = 0;
    if (rep_get_vec(r, g, "ffn_gain_curve", &s->ffn_curve, &nf) != 0) nf = 0;
    if (rep_get_vec(r, g, "attn_gain_curve", &s->attn_curve, &na) != 0) na = 0;
    if (s->attn_curve && s->ffn_curve && na != nf) { /* inconsistent: keep the FFN curve */
        free(s->attn_curve);
        s->attn_curve = NULL;
    }
    s->n_curve = s->ffn_curve ? nf : na;
    for (int i = 0; i < REP_NSTAGE; i++) {
        s->stage_gain[i] = rep_get_member(r, g, "stage_gain", REP_STAGE_NAMES[i], i);
        s->stage_share[i] = rep_get_member(r, g, "stage_share", REP_STAGE_NAMES[i], i);
        s->stage_gpl[i] = rep_get_member(r, g, "stage_gain_per_layer", REP_STAGE_NAMES[i], i);
        /* the ranges (refs: top-level `stages`), as [a, b] under stages/<name> or stages_<name> */
        double *v;
        int64_t n;
        char p[512], nm[64];
        snprintf(p, sizeof p, "%s/stages", g);
        snprintf(nm, sizeof nm, "stages_%s", REP_STAGE_NAMES[i]);
        if ((arc_kind_of(r, p) == ARC_GROUP && rep_get_vec(r, p, REP_STAGE_NAMES[i], &v, &n) == 0) ||
            rep_get_vec(r, g, nm, &v, &n) == 0) {
            if (n == 2 && v[0] >= 0 && v[1] >= 0) {
                s->stage_first[i] = (int64_t)v[0];
                s->stage_last[i] = (int64_t)v[1];
            }
            free(v);
        }
    }
}

static void summary_free(rep_summary *s)
{
    free(s->ffn_curve);
    free(s->attn_curve);
    memset(s, 0, sizeof *s);
}

/* ---- metrics ---------------------------------------------------------------------------------- */

static int cfg_cmp(const void *a, const void *b)
{
    const rep_cfg *x = a, *y = b;
    return x->num < y->num ? -1 : x->num > y->num;
}

/* Named ablations in the paper's order (Table 2); others follow sorted by name. */
static const char *const NAMED_ORDER[] = {"only_top1", "only_top2", "only_shared", "shared_2nd",
                                          "shared_top1", "shared_top2"};

static int named_rank(const char *s)
{
    for (size_t i = 0; i < sizeof NAMED_ORDER / sizeof *NAMED_ORDER; i++)
        if (!strcmp(s, NAMED_ORDER[i])) return (int)i;
    return 100;
}

static int named_cmp(const void *a, const void *b)
{
    const rep_cfg *x = a, *y = b;
    int rx = named_rank(x->name), ry = named_rank(y->name);
    return rx != ry ? rx - ry : strcmp(x->name, y->name);
}

static void cfg_push(rep_cfg **v, size_t *n, const char *name, int64_t num, double hit, double mrr)
{
    rep_cfg *nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv) return;
    *v = nv;
    snprintf(nv[*n].name, sizeof nv[*n].name, "%s", name);
    nv[*n].num = num;
    nv[*n].hit10 = hit;
    nv[*n].mrr = mrr;
    (*n)++;
}

static void metrics_load(arc_reader *r, const char *g, rep_relation *rl)
{
    arc_names names;
    mp_err e;
    err_init(&e);
    rl->n = rl->hit10 = rl->mrr = NAN;
    if (arc_kind_of(r, g) != ARC_GROUP) return;
    rl->have_metrics = 1;
    rl->n = rep_get_num(r, g, "n");
    rl->hit10 = rep_get_num(r, g, "hit10");
    rl->mrr = rep_get_num(r, g, "mrr");
    double *v;
    int64_t n;
    if (rep_get_vec(r, g, "top_experts", &v, &n) == 0) {
        for (int64_t i = 0; i + 2 < n && rl->n_top < 10; i += 3) {
            rl->top[rl->n_top][0] = (int64_t)v[i];
            rl->top[rl->n_top][1] = (int64_t)v[i + 1];
            rl->top[rl->n_top][2] = (int64_t)v[i + 2];
            rl->n_top++;
        }
        free(v);
    }
    if (arc_list_attrs(r, g, &names, &e) != 0) return;
    for (size_t i = 0; i < names.n; i++) {
        const char *a = names.v[i];
        if (strncmp(a, "mrr_", 4) != 0) continue;
        const char *cfg = a + 4;
        if (!strncmp(cfg, "drop_", 5)) continue; /* block's mrr_drop_* / mrr_drop_rel_* */
        char hn[128];
        snprintf(hn, sizeof hn, "hit10_%s", cfg);
        double mrr = rep_get_num(r, g, a), hit = rep_get_num(r, g, hn);
        if (!strncmp(cfg, "block", 5) && rep_digits(cfg + 5) >= 0)
            cfg_push(&rl->block, &rl->n_block, cfg + 5, rep_digits(cfg + 5), hit, mrr);
        else if (!strncmp(cfg, "topk", 4) && rep_digits(cfg + 4) >= 0)
            cfg_push(&rl->topk, &rl->n_topk, cfg + 4, rep_digits(cfg + 4), hit, mrr);
        else
            cfg_push(&rl->named, &rl->n_named, cfg, -1, hit, mrr);
    }
    arc_names_free(&names);
    if (rl->n_block > 1) qsort(rl->block, rl->n_block, sizeof *rl->block, cfg_cmp);
    if (rl->n_topk > 1) qsort(rl->topk, rl->n_topk, sizeof *rl->topk, cfg_cmp);
    if (rl->n_named > 1) qsort(rl->named, rl->n_named, sizeof *rl->named, named_cmp);
}

/* ---- run config (YAML text, read without validation: paths may not exist here) ------------- */

static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *m, const char *key)
{
    if (!m || m->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (k && k->type == YAML_SCALAR_NODE && !strcmp((char *)k->data.scalar.value, key))
            return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

static double scalar_f64(yaml_node_t *n, double dflt)
{
    if (!n || n->type != YAML_SCALAR_NODE) return dflt;
    char *end;
    double v = strtod((char *)n->data.scalar.value, &end);
    return end != (char *)n->data.scalar.value && !*end ? v : dflt;
}

static void run_config_load(rep_model *m)
{
    yaml_parser_t p;
    yaml_document_t d;
    m->frac_early = 0.55;
    m->frac_mid = 0.25;
    if (!m->run_config_yaml) return;
    if (!yaml_parser_initialize(&p)) return;
    yaml_parser_set_input_string(&p, (const unsigned char *)m->run_config_yaml, strlen(m->run_config_yaml));
    if (yaml_parser_load(&p, &d)) {
        yaml_node_t *root = yaml_document_get_root_node(&d);
        yaml_node_t *st = map_get(&d, root, "stages");
        if (st && st->type == YAML_SEQUENCE_NODE) {
            size_t cnt = (size_t)(st->data.sequence.items.top - st->data.sequence.items.start);
            m->stages = calloc(cnt ? cnt : 1, sizeof *m->stages);
            for (size_t i = 0; m->stages && i < cnt; i++) {
                yaml_node_t *it = yaml_document_get_node(&d, st->data.sequence.items.start[i]);
                if (it && it->type == YAML_SCALAR_NODE)
                    m->stages[m->n_stages++] = strdup((char *)it->data.scalar.value);
            }
        }
        yaml_node_t *fr = map_get(&d, map_get(&d, map_get(&d, root, "summarise"), "stages"), "early");
        m->frac_early = scalar_f64(fr, 0.55);
        fr = map_get(&d, map_get(&d, map_get(&d, root, "summarise"), "stages"), "mid");
        m->frac_mid = scalar_f64(fr, 0.25);
        yaml_node_t *rp = map_get(&d, root, "report");
        yaml_node_t *f = map_get(&d, rp, "format"), *pl = map_get(&d, rp, "plots");
        if (f && f->type == YAML_SCALAR_NODE) m->report_format = strdup((char *)f->data.scalar.value);
        if (pl && pl->type == YAML_SCALAR_NODE) m->report_plots = strdup((char *)pl->data.scalar.value);
        yaml_document_delete(&d);
    }
    yaml_parser_delete(&p);
}

/* ---- the model ------------------------------------------------------------------------------ */

static void units_load(arc_reader *r, rep_model *m)
{
    arc_names names;
    mp_err e;
    err_init(&e);
    if (arc_kind_of(r, "units") != ARC_GROUP || arc_list(r, "units", ARC_GROUP, &names, &e) != 0)
        return;
    m->units = calloc(names.n ? names.n : 1, sizeof *m->units);
    for (size_t i = 0; m->units && i < names.n; i++) {
        char p[600];
        snprintf(p, sizeof p, "units/%s", names.v[i]);
        rep_unit *u = &m->units[m->n_units];
        u->id = rep_get_str(r, p, "unit_id");
        if (!u->id) u->id = strdup(names.v[i]);
        if (!u->id) continue;
        u->seconds = rep_get_num(r, p, "seconds");
        u->committed_at = rep_get_str(r, p, "committed_at");
        m->n_units++;
    }
    arc_names_free(&names);
}

static int name_in(const arc_names *n, const char *s)
{
    for (size_t i = 0; i < n->n; i++)
        if (!strcmp(n->v[i], s)) return 1;
    return 0;
}

static void relations_load(arc_reader *r, rep_model *m)
{
    arc_names met = {0}, ana = {0}, all = {0};
    mp_err e;
    err_init(&e);
    if (arc_kind_of(r, "metrics") == ARC_GROUP) arc_list(r, "metrics", ARC_GROUP, &met, &e);
    if (arc_kind_of(r, "analyses") == ARC_GROUP) arc_list(r, "analyses", ARC_GROUP, &ana, &e);
    /* union, sorted (both lists are sorted bytewise) */
    all.v = calloc(met.n + ana.n + 1, sizeof *all.v);
    if (!all.v) goto done;
    for (size_t i = 0; i < met.n; i++) all.v[all.n++] = met.v[i];
    for (size_t i = 0; i < ana.n; i++)
        if (strcmp(ana.v[i], "pooled") && !name_in(&met, ana.v[i])) all.v[all.n++] = ana.v[i];
    for (size_t i = 1; i < all.n; i++)
        for (size_t j = i; j > 0 && strcmp(all.v[j - 1], all.v[j]) > 0; j--) {
            char *t = all.v[j];
            all.v[j] = all.v[j - 1];
            all.v[j - 1] = t;
        }
    m->rel = calloc(all.n ? all.n : 1, sizeof *m->rel);
    if (!m->rel) goto done;
    for (size_t i = 0; i < all.n; i++) {
        rep_relation *rl = &m->rel[m->n_rel];
        char g[600];
        rl->name = strdup(all.v[i]);
        if (!rl->name) continue;
        m->n_rel++;
        snprintf(g, sizeof g, "metrics/%s", rl->name);
        metrics_load(r, g, rl);
        snprintf(g, sizeof g, "analyses/%s/summary", rl->name);
        summary_load(r, g, &rl->summary);
        snprintf(g, sizeof g, "analyses/%s/head_expert", rl->name);
        rep_head_expert_load(r, g, &rl->he);
        snprintf(g, sizeof g, "analyses/%s/neurons", rl->name);
        rep_ntop_load(r, g, &rl->ntop, &rl->n_ntop);
        if (arc_kind_of(r, g) == ARC_GROUP) rep_fields_load(r, g, strlen(g) + 1, &rl->neurons, 0);
        else if (arc_kind_of(r, g) == ARC_DATASET) {
            arc_array a;
            if (arc_read(r, g, &a, &e) == 0) {
                rep_fields_add(&rl->neurons, "neurons", &a);
                arc_array_free(&a);
            }
        }
    }
done:
    free(all.v); /* the strings belong to met / ana */
    arc_names_free(&met);
    arc_names_free(&ana);
}

/* A folder stands for the one archive NAME.h5 in it (as for arc_units_complete). */
static int resolve_path(const char *path, char *out, size_t len, mp_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return err_set(err, "%s: cannot open the archive: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        snprintf(out, len, "%s", path);
        return 0;
    }
    DIR *d = opendir(path);
    struct dirent *de;
    int found = 0;
    if (!d) return err_set(err, "%s: cannot list the folder: %s", path, strerror(errno));
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n > 3 && !strcmp(de->d_name + n - 3, ".h5")) {
            if (!found) snprintf(out, len, "%s/%s", path, de->d_name);
            found++;
        }
    }
    closedir(d);
    if (found != 1)
        return err_set(err, "%s is a folder with %d .h5 files; expected an archive OUT/NAME.h5 "
                            "(or a folder holding exactly one)", path, found);
    return 0;
}

int rep_model_load(rep_model *m, const char *given, mp_err *err)
{
    arc_reader *r = NULL;
    char path[4096];
    memset(m, 0, sizeof *m);
    m->mpi_ranks = NAN;
    if (resolve_path(given, path, sizeof path, err) != 0) return -1;
    if (arc_open_read(&r, path, err) != 0) {
        /* err names the file and says why (not HDF5, unreadable, truncated) */
        char why[MP_ERR_LEN - 100];
        snprintf(why, sizeof why, "%s", err->msg);
        return err_set(err, "%s; expected a moeprobe archive (OUT/NAME.h5 written by moeprobe run)", why);
    }
    if (!arc_has_attr(r, "/", "moeprobe_version")) {
        arc_reader_close(r);
        return err_set(err, "%s: not a moeprobe archive (HDF5 file without the root attribute "
                            "moeprobe_version; expected OUT/NAME.h5 written by moeprobe run)", path);
    }
    m->path = strdup(path);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    m->name = strdup(base);
    if (!m->path || !m->name) {
        arc_reader_close(r);
        rep_model_free(m);
        return err_set(err, "out of memory");
    }
    size_t bl = strlen(m->name);
    if (bl > 3 && !strcmp(m->name + bl - 3, ".h5")) m->name[bl - 3] = 0;
    m->version = rep_get_str(r, "/", "moeprobe_version");
    m->git = rep_get_str(r, "/", "git_commit");
    m->model_config_json = rep_get_str(r, "/", "model_config_json");
    m->run_config_yaml = rep_get_str(r, "/", "run_config_yaml");
    m->hostname = rep_get_str(r, "/", "hostname");
    m->created = rep_get_str(r, "/", "created");
    m->updated = rep_get_str(r, "/", "updated");
    m->mpi_ranks = rep_get_num(r, "/", "mpi_ranks");
    if (m->model_config_json) {
        mcfg c;
        mp_err e;
        err_init(&e);
        if (mcfg_parse(&c, m->model_config_json, "model_config_json", &e) == 0) {
            m->cfg_ok = 1;
            snprintf(m->arch, sizeof m->arch, "%s", c.architecture);
            m->L = c.num_hidden_layers;
            m->nH = c.num_attention_heads;
            m->H = c.hidden_size;
            m->E = c.num_experts;
            m->k = c.num_experts_per_tok;
            m->shared = c.shared_expert_intermediate_size > 0;
            m->renorm = c.norm_topk_prob;
        } else {
            snprintf(m->cfg_problem, sizeof m->cfg_problem, "%s", e.msg);
        }
    } else {
        snprintf(m->cfg_problem, sizeof m->cfg_problem, "the archive has no model_config_json");
    }
    run_config_load(m);
    units_load(r, m);
    relations_load(r, m);
    summary_load(r, "analyses/pooled/summary", &m->pooled);
    if (arc_kind_of(r, "analyses/pooled/neurons") == ARC_GROUP)
        rep_fields_load(r, "analyses/pooled/neurons", strlen("analyses/pooled/neurons") + 1, &m->pooled_neurons, 0);
    rep_ntop_load(r, "analyses/pooled/neurons", &m->pooled_ntop, &m->n_pooled_ntop);
    arc_reader_close(r);
    return 0;
}

void rep_model_free(rep_model *m)
{
    if (!m) return;
    free(m->path);
    free(m->name);
    free(m->version);
    free(m->git);
    free(m->model_config_json);
    free(m->run_config_yaml);
    free(m->hostname);
    free(m->created);
    free(m->updated);
    for (size_t i = 0; i < m->n_stages; i++) free(m->stages[i]);
    free(m->stages);
    free(m->report_format);
    free(m->report_plots);
    for (size_t i = 0; i < m->n_units; i++) {
        free(m->units[i].id);
        free(m->units[i].committed_at);
    }
    free(m->units);
    for (size_t i = 0; i < m->n_rel; i++) {
        rep_relation *rl = &m->rel[i];
        free(rl->name);
        free(rl->block);
        free(rl->topk);
        free(rl->named);
        summary_free(&rl->summary);
        free(rl->he.r);
        free(rl->he.strongest);
        rep_fields_free(&rl->neurons);
        rep_ntop_free(rl->ntop, rl->n_ntop);
    }
    free(m->rel);
    summary_free(&m->pooled);
    rep_fields_free(&m->pooled_neurons);
    rep_ntop_free(m->pooled_ntop, m->n_pooled_ntop);
    memset(m, 0, sizeof *m);
}

/* ---- queries -------------------------------------------------------------------------------- */

int rep_is_moe(const rep_model *m)
{
    if (m->cfg_ok) return m->E > 0;
    for (size_t i = 0; i < m->n_rel; i++)
        if (m->rel[i].n_top > 0 || m->rel[i].n_block > 0) return 1;
    return 0;
}

int rep_stage_listed(const rep_model *m, const char *stage)
{
    for (size_t i = 0; i < m->n_stages; i++)
        if (!strcmp(m->stages[i], stage)) return 1;
    return 0;
}

int rep_stage_has_units(const rep_model *m, const char *stage)
{
    size_t n = strlen(stage);
    for (size_t i = 0; i < m->n_units; i++)
        if (!strncmp(m->units[i].id, stage, n) && m->units[i].id[n] == '/') return 1;
    return 0;
}

const rep_relation *rep_find_relation(const rep_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_rel; i++)
        if (!strcmp(m->rel[i].name, name)) return &m->rel[i];
    return NULL;
}

int rep_layers(const rep_model *m)
{
    if (m->cfg_ok && m->L > 0) return m->L;
    if (m->pooled.n_curve > 0) return (int)m->pooled.n_curve;
    for (size_t i = 0; i < m->n_rel; i++)
        if (m->rel[i].summary.n_curve > 0) return (int)m->rel[i].summary.n_curve;
    return 0;
}

int rep_stage_bounds(const rep_model *m, int64_t first[REP_NSTAGE], int64_t last[REP_NSTAGE])
{
    int L = rep_layers(m);
    if (L <= 0) return 0;
    const rep_summary *s = &m->pooled;
    if (s->have && s->stage_first[0] > 0) {
        for (int i = 0; i < REP_NSTAGE; i++) {
            first[i] = s->stage_first[i];
            last[i] = s->stage_last[i];
        }
        return 1;
    }
    stats_stage_bounds(L, m->frac_early, m->frac_mid, first, last);
    return 1;
}

const char *rep_why_missing(const rep_model *m, const char *stage, int needs_moe, char *buf,
                            size_t len)
{
    if (needs_moe && !rep_is_moe(m))
        snprintf(buf, len, "not applicable, %s is a dense model (no routed experts)", m->name);
    else if (m->n_stages > 0 && !rep_stage_listed(m, stage))
        snprintf(buf, len, "stage %s was not run for %s (not in the run config's stages)", stage, m->name);
    else if (m->n_stages == 0)
        snprintf(buf, len, "%s holds no results of stage %s (its run config is not recorded)", m->name, stage);
    else if (!rep_stage_has_units(m, stage))
        snprintf(buf, len, "stage %s was requested for %s but none of its units is complete in the archive", stage, m->name);
    else
        snprintf(buf, len, "stage %s ran for %s but wrote none of the fields this section reads", stage, m->name);
    return buf;
}

void rep_names_free(rep_names *n)
{
    for (size_t i = 0; i < n->n; i++) free(n->v[i]);
    free(n->v);
    n->v = NULL;
    n->n = 0;
}

void rep_all_relations(rep_model *m, size_t n, rep_names *out)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) cap += m[i].n_rel;
    out->v = calloc(cap ? cap : 1, sizeof *out->v);
    if (!out->v) return;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m[i].n_rel; j++) {
            int seen = 0;
            for (size_t q = 0; q < out->n && !seen; q++) seen = !strcmp(out->v[q], m[i].rel[j].name);
            if (!seen && (out->v[out->n] = strdup(m[i].rel[j].name))) out->n++;
        }
    for (size_t i = 1; i < out->n; i++)
        for (size_t j = i; j > 0 && strcmp(out->v[j - 1], out->v[j]) > 0; j--) {
            char *t = out->v[j];
            out->v[j] = out->v[j - 1];
            out->v[j - 1] = t;
        }
}
