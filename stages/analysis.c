/* analysis.c — the helpers every analysis uses while it runs (analysis.h). */
#include "stages/analysis.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/parallel/comm.h"

int analysis_open_unit(const analysis_ctx *c, const char *unit_id, arc_reader **rd, mp_err *err)
{
    char path[4096];
    *rd = NULL;
    if (!c->w) return err_set(err, "stage %s: archive access on a rank other than 0", c->unit_id);
    if (!arc_unit_is_complete(c->w, unit_id))
        return err_set(err, "unit %s needs unit %s, which has not completed (run it first)",
                       c->unit_id, unit_id);
    if (arc_unit_part_path(c->w, unit_id, path, sizeof path) != 0)
        return err_set(err, "unit %s: part path of %s too long", c->unit_id, unit_id);
    if (access(path, R_OK) != 0)
        return err_set(err, "unit %s: the part file of %s (%s) is missing", c->unit_id, unit_id,
                       path);
    return arc_open_read(rd, path, err);
}

void analysis_bcast(blob *b)
{
    void *p = b->data;
    size_t len = b->len;
    comm_bcast_bytes(&p, &len, 0);
    if (p != b->data) {
        free(b->data);
        b->data = p;
        b->len = b->cap = len;
    }
}

int analysis_relation_prompts(runner *r, const rcfg *cfg, const lre_relation *rel, prompt_set *ps,
                              mp_err *err)
{
    size_t nt = lre_template_count(rel, LRE_ZS);
    int all = rcfg_is_all(cfg, "template");
    int64_t t0 = all ? 0 : rcfg_int(cfg, "template");
    size_t t1 = all ? nt : (size_t)t0 + 1;
    int64_t max = rcfg_int(cfg, "max_samples");
    size_t ns = rel->n_samples;
    int rc = -1;
    if (max > 0 && (size_t)max < ns) ns = (size_t)max;
    if ((size_t)t0 >= nt)
        return err_set(err, "%s: template %lld does not exist (prompt_templates_zs has %zu)",
                       rel->path, (long long)t0, nt);
    size_t n = (t1 - (size_t)t0) * ns;
    char **prompts = calloc(n > 0 ? n : 1, sizeof *prompts);
    const char **objects = calloc(n > 0 ? n : 1, sizeof *objects);
    if (!prompts || !objects) {
        err_set(err, "%s: out of memory", rel->path);
        goto done;
    }
    size_t q = 0;
    for (size_t t = (size_t)t0; t < t1; t++)
        for (size_t i = 0; i < ns; i++, q++) {
            if (lre_prompt(rel, LRE_ZS, t, i, &prompts[q], err) != 0) goto done;
            objects[q] = rel->samples[i].object;
        }
    rc = runner_prompts(r, (int64_t)n, (const char *const *)prompts, objects, rel->path, ps, err);
done:
    for (size_t i = 0; prompts && i < n; i++) free(prompts[i]);
    free(prompts);
    free(objects);
    return rc;
}
