/* load_provenance.c — what an archive says about its run: the root attributes (versions, model
 * and run config), the model's shape from its config.json, the stored run config (through the
 * run-config API, so its defaults are the schema's and nothing is repeated here) and the
 * complete units (/units). Entries: pipeline/archive/schema_root.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/schema.h"
#include "pipeline/config/run_config.h"
#include "pipeline/model/model_config.h"
#include "report/internal.h"
#include "stages/analysis_def.h"

/* The stored run config. Its paths are not looked at (the run may have been elsewhere). */
static void run_config_load(rep_model *m)
{
    mp_err e;
    err_init(&e);
    if (!m->run_config_yaml) {
        snprintf(m->run_cfg_problem, sizeof m->run_cfg_problem,
                 "the archive has no run_config_yaml");
        return;
    }
    if (rcfg_load_stored(&m->run_cfg, m->run_config_yaml, "run_config_yaml",
                         analysis_config_schema(), &e) != 0) {
        snprintf(m->run_cfg_problem, sizeof m->run_cfg_problem, "%s", e.msg);
        return;
    }
    m->n_stages = rcfg_str_list(m->run_cfg, "stages", &m->stages);
}

static void units_load(arc_reader *r, rep_model *m)
{
    arc_names names;
    mp_err e;
    err_init(&e);
    if (!sch_has(r, SCH_ROOT(UNITS), "units") || arc_list(r, "units", ARC_GROUP, &names, &e) != 0)
        return;
    m->units = calloc(names.n ? names.n : 1, sizeof *m->units);
    for (size_t i = 0; m->units && i < names.n; i++) {
        char p[600];
        snprintf(p, sizeof p, "units/%s", names.v[i]);
        rep_unit *u = &m->units[m->n_units];
        u->id = sch_get_str(r, SCH_ROOT(UNIT_ID), p, NULL);
        if (!u->id) u->id = strdup(names.v[i]);
        if (!u->id) continue;
        u->seconds = sch_get_num(r, SCH_ROOT(UNIT_SECONDS), p, NULL);
        u->committed_at = sch_get_str(r, SCH_ROOT(UNIT_COMMITTED_AT), p, NULL);
        m->n_units++;
    }
    arc_names_free(&names);
}

/* The model's shape from its config.json as stored in the archive. */
static void model_config_load(rep_model *m)
{
    mcfg c;
    mp_err e;
    err_init(&e);
    if (!m->model_config_json) {
        snprintf(m->cfg_problem, sizeof m->cfg_problem, "the archive has no model_config_json");
        return;
    }
    if (mcfg_parse(&c, m->model_config_json, "model_config_json", &e) != 0) {
        snprintf(m->cfg_problem, sizeof m->cfg_problem, "%s", e.msg);
        return;
    }
    m->cfg_ok = 1;
    snprintf(m->arch, sizeof m->arch, "%s", c.architecture);
    m->L = c.num_hidden_layers;
    m->nH = c.num_attention_heads;
    m->H = c.hidden_size;
    m->E = c.num_experts;
    m->k = c.num_experts_per_tok;
    m->shared = c.shared_expert_intermediate_size > 0;
    m->renorm = c.norm_topk_prob;
    m->V = c.vocab_size;
}

void rep_provenance_load(arc_reader *r, rep_model *m)
{
    m->version = sch_get_str(r, SCH_ROOT(VERSION), "/", NULL);
    m->git = sch_get_str(r, SCH_ROOT(GIT_COMMIT), "/", NULL);
    m->model_config_json = sch_get_str(r, SCH_ROOT(MODEL_CONFIG_JSON), "/", NULL);
    m->run_config_yaml = sch_get_str(r, SCH_ROOT(RUN_CONFIG_YAML), "/", NULL);
    m->hostname = sch_get_str(r, SCH_ROOT(HOSTNAME), "/", NULL);
    double sv = sch_get_num(r, SCH_ROOT(SCHEMA_VERSION), "/", NULL);
    m->schema_version = isfinite(sv) ? (int)rep_i64(sv) : 1; /* version 1 had no attribute */
    m->model_name = sch_get_str(r, SCH_ROOT(MODEL_NAME), "/", NULL);
    m->kernel_isa = sch_get_str(r, SCH_ROOT(KERNEL_ISA), "/", NULL);
    m->hdf5_version = sch_get_str(r, SCH_ROOT(HDF5_VERSION), "/", NULL);
    m->mpi_library = sch_get_str(r, SCH_ROOT(MPI_LIBRARY), "/", NULL);
    m->openblas = sch_get_str(r, SCH_ROOT(OPENBLAS), "/", NULL);
    m->compiler = sch_get_str(r, SCH_ROOT(COMPILER), "/", NULL);
    m->build_dirty = sch_get_num(r, SCH_ROOT(BUILD_DIRTY), "/", NULL);
    m->created = sch_get_str(r, SCH_ROOT(CREATED), "/", NULL);
    m->updated = sch_get_str(r, SCH_ROOT(UPDATED), "/", NULL);
    m->mpi_ranks = sch_get_num(r, SCH_ROOT(MPI_RANKS), "/", NULL);
    model_config_load(m);
    run_config_load(m);
    units_load(r, m);
}
