/* load.c — rep_model_load: one archive into a rep_model (its provenance, then every relation's
 * metrics and analyses, then the pooled analyses), and rep_model_free. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pipeline/archive/archive.h"
#include "pipeline/config/run_config.h"
#include "report/internal.h"
#include "stages/schema_evaluate.h"
#include "stages/schema_summarise.h"

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
    if (sch_has(r, EVAL(METRICS), "metrics")) arc_list(r, "metrics", ARC_GROUP, &met, &e);
    if (sch_has(r, SUM(ANALYSES), "analyses")) arc_list(r, "analyses", ARC_GROUP, &ana, &e);
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
        rl->name = strdup(all.v[i]);
        if (!rl->name) continue;
        m->n_rel++;
        rep_metrics_load(r, rl->name, rl);
        rep_summary_load(r, rl->name, &rl->summary);
        rep_head_expert_load(r, rl->name, &rl->he);
        rep_heads_load(r, rl->name, rl);
        rep_ntop_load(r, rl->name, &rl->ntop, &rl->n_ntop);
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
        return err_set(err,
                       "%s is a folder with %d .h5 files; expected an archive OUT/NAME.h5 "
                       "(or a folder holding exactly one)",
                       path, found);
    return 0;
}

int rep_model_load(rep_model *m, const char *given, mp_err *err)
{
    arc_reader *r = NULL;
    char path[4096];
    memset(m, 0, sizeof *m);
    m->mpi_ranks = NAN;
    if (resolve_path(given, path, sizeof path, err) != 0) return -1;
    /* a damaged archive would be reported with wrong numbers, or handed to HDF5 to parse */
    if (arc_check_checksum(path, err) != 0) return -1;
    if (arc_open_read(&r, path, err) != 0) {
        /* err names the file and says why (not HDF5, unreadable, truncated) */
        char why[MP_ERR_LEN - 100];
        snprintf(why, sizeof why, "%s", err->msg);
        return err_set(err, "%s; expected a moeprobe archive (OUT/NAME.h5 written by moeprobe run)",
                       why);
    }
    if (!arc_has_attr(r, "/", "moeprobe_version")) {
        arc_reader_close(r);
        return err_set(err,
                       "%s: not a moeprobe archive (HDF5 file without the root attribute "
                       "moeprobe_version; expected OUT/NAME.h5 written by moeprobe run)",
                       path);
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
    rep_provenance_load(r, m);
    if (m->model_name && *m->model_name) { /* the run's name survives a renamed file */
        char *n = strdup(m->model_name);
        if (n) {
            free(m->name);
            m->name = n;
        }
    }
    relations_load(r, m);
    rep_summary_load(r, "pooled", &m->pooled);
    rep_ntop_load(r, NULL, &m->pooled_ntop, &m->n_pooled_ntop);
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
    free(m->run_diff);
    free(m->hostname);
    free(m->model_name);
    free(m->kernel_isa);
    free(m->hdf5_version);
    free(m->mpi_library);
    free(m->openblas);
    free(m->compiler);
    free(m->created);
    free(m->updated);
    rcfg_free(m->run_cfg);
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
        rep_summary_free(&rl->summary);
        free(rl->he.r);
        free(rl->he.strongest);
        free(rl->head_imp);
        rep_ntop_free(rl->ntop, rl->n_ntop);
    }
    free(m->rel);
    rep_summary_free(&m->pooled);
    rep_ntop_free(m->pooled_ntop, m->n_pooled_ntop);
    memset(m, 0, sizeof *m);
}
