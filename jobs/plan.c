/* plan.c — see plan.h. */
#include "jobs/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/model/model_config.h"

static int selected(const rcfg *cfg, const analysis_def *s)
{
    int n;
    const analysis_def *const *all = analysis_all(&n);
    if (rcfg_list_has(cfg, "stages", s->name)) return 1;
    /* a unit-owning stage is planned when any stage that is part of it is selected */
    for (int i = 0; i < n; i++)
        if (all[i]->part_of && !strcmp(all[i]->part_of, s->name) &&
            rcfg_list_has(cfg, "stages", all[i]->name))
            return 1;
    return 0;
}

static int add(plan *p, size_t *cap, const char *id, const analysis_def *s, int rel, mp_err *err)
{
    if (p->n == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        plan_unit *nu = realloc(p->u, nc * sizeof *nu);
        if (!nu) return err_set(err, "plan: out of memory");
        p->u = nu;
        *cap = nc;
    }
    plan_unit *u = &p->u[p->n++];
    memset(u, 0, sizeof *u);
    snprintf(u->id, sizeof u->id, "%s", id);
    u->stage = s;
    u->relation = rel;
    return 0;
}

int plan_find(const plan *p, const char *id)
{
    for (size_t i = 0; i < p->n; i++)
        if (!strcmp(p->u[i].id, id)) return (int)i;
    return -1;
}

int plan_build(const rcfg *cfg, size_t model_index, plan *p, mp_err *err)
{
    const rcfg_model *m = rcfg_model_at(cfg, model_index);
    mcfg mc;
    size_t cap = 0;
    int n;
    const analysis_def *const *all = analysis_all(&n);
    memset(p, 0, sizeof *p);
    if (!m) return err_set(err, "plan: no model %zu in %s", model_index, rcfg_source(cfg));
    if (mcfg_load(&mc, m->path, err) != 0) return -1;
    snprintf(p->model_name, sizeof p->model_name, "%s", m->name);
    snprintf(p->model_path, sizeof p->model_path, "%s", m->path);
    snprintf(p->archive, sizeof p->archive, "%s/%s.h5", rcfg_str(cfg, "out"), m->name);
    p->is_moe = mcfg_is_moe(&mc);
    size_t nrel = rcfg_relation_count(cfg);
    for (int si = 0; si < n; si++) {
        const analysis_def *s = all[si];
        char id[ARC_MAX_UNIT_ID];
        if (!s->run || !selected(cfg, s) || (s->moe_only && !p->is_moe)) continue;
        if (s->scope == ANALYSIS_PER_RELATION) {
            for (size_t r = 0; r < nrel; r++) {
                snprintf(id, sizeof id, "%s/%s", s->name, rcfg_relation_id(cfg, r));
                if (add(p, &cap, id, s, (int)r, err) != 0) goto fail;
            }
        } else {
            snprintf(id, sizeof id, "%s/%s", s->name, s->unit_name ? s->unit_name : "all");
            if (add(p, &cap, id, s, -1, err) != 0) goto fail;
        }
    }
    /* dependencies: the units of the `after` stages for the same relation (per relation) */
    for (size_t i = 0; i < p->n; i++) {
        plan_unit *u = &p->u[i];
        for (int a = 0; a < 6 && u->stage->after[a]; a++) {
            const char *dep = u->stage->after[a];
            const analysis_def *ds = analysis_find(dep);
            if (ds && ds->part_of) {
                /* a stage computed inside another stage's unit (attribute in capture): it
                 * must be selected, and the dependency is on that unit */
                if (!rcfg_list_has(cfg, "stages", dep)) {
                    err_set(err,
                            "%s: stage %s needs stage %s (computed in the %s pass), which "
                            "is not in `stages` (add it)",
                            rcfg_source(cfg), u->stage->name, dep, ds->part_of);
                    goto fail;
                }
                dep = ds->part_of;
            }
            if (u->relation >= 0) {
                char id[ARC_MAX_UNIT_ID];
                snprintf(id, sizeof id, "%s/%s", dep, rcfg_relation_id(cfg, (size_t)u->relation));
                int d = plan_find(p, id);
                if (d < 0) {
                    err_set(err, "%s: stage %s needs stage %s, which is not in `stages` (add it)",
                            rcfg_source(cfg), u->stage->name, dep);
                    goto fail;
                }
                int seen = 0;
                for (int k = 0; k < u->n_deps; k++) seen |= u->deps[k] == d;
                if (!seen && u->n_deps < PLAN_MAX_DEPS) u->deps[u->n_deps++] = d;
            } else {
                int found = 0;
                for (size_t j = 0; j < p->n; j++) found |= !strcmp(p->u[j].stage->name, dep);
                if (!found) {
                    err_set(err, "%s: stage %s needs stage %s, which is not in `stages` (add it)",
                            rcfg_source(cfg), u->stage->name, dep);
                    goto fail;
                }
                const analysis_def *ns = analysis_find(dep);
                int seen = 0;
                for (int k = 0; k < u->n_needs_stages; k++) seen |= u->needs_stages[k] == ns;
                if (!seen && ns && u->n_needs_stages < 6) u->needs_stages[u->n_needs_stages++] = ns;
            }
        }
    }
    return 0;
fail:
    plan_free(p);
    return -1;
}

void plan_free(plan *p)
{
    free(p->u);
    memset(p, 0, sizeof *p);
}

int sweep_build(const rcfg *cfg, sweep *s, mp_err *err)
{
    memset(s, 0, sizeof *s);
    size_t n = rcfg_model_count(cfg);
    s->p = calloc(n ? n : 1, sizeof *s->p);
    s->ranks = calloc(n ? n : 1, sizeof *s->ranks);
    if (!s->p || !s->ranks) {
        sweep_free(s);
        return err_set(err, "plan: out of memory");
    }
    s->n_relations = rcfg_relation_count(cfg);
    for (size_t m = 0; m < n; m++) {
        if (plan_build(cfg, m, &s->p[m], err) != 0) {
            sweep_free(s);
            return -1;
        }
        s->ranks[m] = rcfg_model_at(cfg, m)->ranks;
        s->n_models++;
    }
    return 0;
}

void sweep_free(sweep *s)
{
    for (size_t m = 0; m < s->n_models; m++) plan_free(&s->p[m]);
    free(s->p);
    free(s->ranks);
    memset(s, 0, sizeof *s);
}

size_t sweep_group_count(const sweep *s)
{
    return s->n_models * s->n_relations + 1;
}

size_t sweep_final_group(const sweep *s)
{
    return s->n_models * s->n_relations;
}

size_t sweep_unit_group(const sweep *s, size_t m, size_t i)
{
    const plan_unit *u = &s->p[m].u[i];
    if (u->relation < 0) return sweep_final_group(s);
    return m * s->n_relations + (size_t)u->relation;
}
