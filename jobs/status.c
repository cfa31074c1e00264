/* status.c — see status.h. */
#include "jobs/status.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jobs/progress.h"
#include "pipeline/archive/archive.h"

static int name_in(const arc_names *n, const char *id)
{
    for (size_t i = 0; i < n->n; i++)
        if (!strcmp(n->v[i], id)) return 1;
    return 0;
}

static char *dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dupf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0) s = NULL;
    va_end(ap);
    return s ? s : strdup("");
}

/* "pid 123 on host, for 5m02s" from the lock's "pid host start_unix". */
static char *running_detail(const char *who)
{
    long pid = 0;
    char host[256] = "?";
    double t0 = 0;
    if (sscanf(who, "%ld %255s %lf", &pid, host, &t0) >= 2) {
        char d[32];
        double for_s = (double)time(NULL) - t0;
        if (t0 > 0)
            return dupf("pid %ld on %s, for %s", pid, host,
                        progress_fmt_duration(for_s > 0 ? for_s : 0, d, sizeof d));
        return dupf("pid %ld on %s", pid, host);
    }
    return strdup("held by a live process");
}

/* Why unit id's part is damaged, or NULL when it is not. */
static const char *damaged_detail(const arc_names *bad, const arc_names *why, const char *id)
{
    for (size_t i = 0; i < bad->n; i++)
        if (!strcmp(bad->v[i], id)) return why->v[i];
    return NULL;
}

int status_collect(const char *out_dir, status_report *r, mp_err *err)
{
    json_t *root = NULL;
    memset(r, 0, sizeof *r);
    if (man_load(out_dir, &root, err) != 0) return -1;
    json_t *models = json_object_get(root, "models");
    size_t nm = json_array_size(models), total = 0, mi;
    json_t *m;
    json_array_foreach(models, mi, m) total += json_array_size(json_object_get(m, "units"));
    r->config = strdup(json_string_value(json_object_get(root, "config")) ?: "?");
    r->models = calloc(nm ? nm : 1, sizeof *r->models);
    r->units = calloc(total ? total : 1, sizeof *r->units);
    if (!r->config || !r->models || !r->units) {
        json_decref(root);
        status_report_free(r);
        return err_set(err, "status: out of memory");
    }
    json_array_foreach(models, mi, m)
    {
        status_model *sm = &r->models[r->n_models++];
        const char *arch = json_string_value(json_object_get(m, "archive")) ?: "";
        arc_names done = {0}, bad = {0}, why = {0};
        mp_err e2;
        err_init(&e2);
        sm->name = strdup(json_string_value(json_object_get(m, "name")) ?: "?");
        sm->archive = strdup(arch);
        if (arch[0] && arc_units_scan(arch, &done, &bad, &why, &e2) != 0)
            fprintf(stderr, "moeprobe status: %s\n", e2.msg);
        size_t ui;
        json_t *u;
        json_array_foreach(json_object_get(m, "units"), ui, u)
        {
            status_unit *su = &r->units[r->n_units++];
            const char *id = json_string_value(json_object_get(u, "id")) ?: "?";
            man_state rec = man_state_parse(json_string_value(json_object_get(u, "state")));
            char who[300];
            su->model = strdup(sm->name);
            su->id = strdup(id);
            if (name_in(&done, id)) {
                su->state = MAN_DONE;
                su->detail = strdup("");
            } else if (damaged_detail(&bad, &why, id)) {
                su->state = MAN_FAILED;
                su->detail = dupf("damaged: %s", damaged_detail(&bad, &why, id));
            } else if (arc_unit_running(arch, id, who, sizeof who)) {
                su->state = MAN_RUNNING;
                su->detail = running_detail(who);
            } else if (rec == MAN_FAILED) {
                su->state = MAN_FAILED;
                su->detail = strdup(json_string_value(json_object_get(u, "error")) ?: "failed");
            } else if (rec == MAN_RUNNING) {
                su->state = MAN_FAILED;
                su->detail = dupf("process %lld on %s is gone (killed or crashed) since %s; "
                                  "rerun to redo the unit",
                                  (long long)json_integer_value(json_object_get(u, "pid")),
                                  json_string_value(json_object_get(u, "host")) ?: "?",
                                  json_string_value(json_object_get(u, "started")) ?: "?");
            } else {
                su->state = MAN_PENDING;
                su->detail = strdup("");
            }
            sm->count[su->state]++;
        }
        arc_names_free(&done);
        arc_names_free(&bad);
        arc_names_free(&why);
    }
    json_decref(root);
    return 0;
}

void status_report_free(status_report *r)
{
    for (size_t i = 0; i < r->n_models; i++) {
        free(r->models[i].name);
        free(r->models[i].archive);
    }
    for (size_t i = 0; i < r->n_units; i++) {
        free(r->units[i].model);
        free(r->units[i].id);
        free(r->units[i].detail);
    }
    free(r->models);
    free(r->units);
    free(r->config);
    memset(r, 0, sizeof *r);
}

void status_print(FILE *f, const char *out_dir, const status_report *r, int all_units)
{
    size_t tot[4] = {0}, w = 5;
    for (size_t i = 0; i < r->n_models; i++)
        if (strlen(r->models[i].name) > w) w = strlen(r->models[i].name);
    fprintf(f, "%s (config %s)\n", out_dir, r->config);
    fprintf(f, "%-*s %7s %8s %7s %8s %7s\n", (int)w, "model", "done", "running", "failed",
            "pending", "total");
    for (size_t i = 0; i < r->n_models; i++) {
        const status_model *m = &r->models[i];
        size_t n = m->count[0] + m->count[1] + m->count[2] + m->count[3];
        fprintf(f, "%-*s %7zu %8zu %7zu %8zu %7zu\n", (int)w, m->name, m->count[MAN_DONE],
                m->count[MAN_RUNNING], m->count[MAN_FAILED], m->count[MAN_PENDING], n);
        for (int s = 0; s < 4; s++) tot[s] += m->count[s];
    }
    if (r->n_models > 1)
        fprintf(f, "%-*s %7zu %8zu %7zu %8zu %7zu\n", (int)w, "total", tot[MAN_DONE],
                tot[MAN_RUNNING], tot[MAN_FAILED], tot[MAN_PENDING],
                tot[0] + tot[1] + tot[2] + tot[3]);
    for (int pass = 0; pass < 2; pass++) {
        man_state want = pass == 0 ? MAN_RUNNING : MAN_FAILED;
        if (!tot[want] || all_units) continue;
        fprintf(f, "%s:\n", man_state_name(want));
        for (size_t i = 0; i < r->n_units; i++)
            if (r->units[i].state == want)
                fprintf(f, "  %s %s: %s\n", r->units[i].model, r->units[i].id, r->units[i].detail);
    }
    if (all_units)
        for (size_t i = 0; i < r->n_units; i++)
            fprintf(f, "%-8s %s %s%s%s\n", man_state_name(r->units[i].state), r->units[i].model,
                    r->units[i].id, r->units[i].detail[0] ? ": " : "", r->units[i].detail);
}
