/* query.c — questions the sections ask of a loaded model: MoE or dense, which stages ran,
 * the number of layers, the stage bounds, why a section's data is missing, and the relation
 * names of all models. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/archive.h"
#include "pipeline/config/run_config.h"
#include "report/internal.h"
#include "stages/stats.h"

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
    if (!m->run_cfg) return 0;
    stats_stage_bounds(L, rcfg_float(m->run_cfg, "summarise.stages.early"),
                       rcfg_float(m->run_cfg, "summarise.stages.mid"), first, last);
    return 1;
}

const char *rep_why_missing(const rep_model *m, const char *stage, int needs_moe, char *buf,
                            size_t len)
{
    if (needs_moe && !rep_is_moe(m))
        snprintf(buf, len, "not applicable, %s is a dense model (no routed experts)", m->name);
    else if (m->n_stages > 0 && !rep_stage_listed(m, stage))
        snprintf(buf, len, "stage %s was not run for %s (not in the run config's stages)", stage,
                 m->name);
    else if (m->n_stages == 0)
        snprintf(buf, len, "%s holds no results of stage %s (its run config is not recorded)",
                 m->name, stage);
    else if (!rep_stage_has_units(m, stage))
        snprintf(buf, len,
                 "stage %s was requested for %s but none of its units is complete in the archive",
                 stage, m->name);
    else
        snprintf(buf, len, "stage %s ran for %s but wrote none of the fields this section reads",
                 stage, m->name);
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
            for (size_t q = 0; q < out->n && !seen; q++)
                seen = !strcmp(out->v[q], m[i].rel[j].name);
            if (!seen && (out->v[out->n] = strdup(m[i].rel[j].name))) out->n++;
        }
    for (size_t i = 1; i < out->n; i++)
        for (size_t j = i; j > 0 && strcmp(out->v[j - 1], out->v[j]) > 0; j--) {
            char *t = out->v[j];
            out->v[j] = out->v[j - 1];
            out->v[j - 1] = t;
        }
}
