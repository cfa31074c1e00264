/* load_provenance.c — what an archive says about its run: the root attributes (versions, model
 * and run config), the model's shape from its config.json, the run config's stages and stage
 * fractions, and the complete units (/units). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "pipeline/archive/archive.h"
#include "pipeline/model/model_config.h"
#include "report/internal.h"

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

/* The model's shape from its config.json as stored in the archive. */
static void model_config_load(rep_model *m)
{
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
}

void rep_provenance_load(arc_reader *r, rep_model *m)
{
    m->version = rep_get_str(r, "/", "moeprobe_version");
    m->git = rep_get_str(r, "/", "git_commit");
    m->model_config_json = rep_get_str(r, "/", "model_config_json");
    m->run_config_yaml = rep_get_str(r, "/", "run_config_yaml");
    m->hostname = rep_get_str(r, "/", "hostname");
    m->created = rep_get_str(r, "/", "created");
    m->updated = rep_get_str(r, "/", "updated");
    m->mpi_ranks = rep_get_num(r, "/", "mpi_ranks");
    model_config_load(m);
    run_config_load(m);
    units_load(r, m);
}
