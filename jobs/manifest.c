/* manifest.c — see manifest.h. Every change: flock the lock file, read the JSON, change it,
 * write it atomically, unlock. */
#include "jobs/manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pipeline/util/atomic_file.h"

#define MAN_FORMAT "moeprobe-manifest 1"

static const char *STATE_NAMES[] = {"pending", "running", "done", "failed"};

const char *man_state_name(man_state s)
{
    return s >= MAN_PENDING && s <= MAN_FAILED ? STATE_NAMES[s] : "pending";
}

man_state man_state_parse(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (!strcmp(s, STATE_NAMES[i])) return (man_state)i;
    return MAN_PENDING;
}

int man_path(const char *out_dir, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/manifest.json", out_dir);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

static void iso_now(char buf[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Exclusive lock on OUT/manifest.json.lock: the fd, or -1 where flock is not supported (the
 * caller goes on unlocked), or -2 with err. */
static int man_lock(const char *out_dir, mp_err *err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/manifest.json.lock", out_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) {
        err_set(err, "%s: cannot open the manifest lock: %s", path, strerror(errno));
        return -2;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno == EINTR) continue;
        int e = errno;
        close(fd);
        if (e == ENOSYS || e == ENOLCK || e == EOPNOTSUPP) return -1;
        err_set(err, "%s: cannot lock: %s", path, strerror(e));
        return -2;
    }
    return fd; /* the lock file is never removed, so no inode check is needed */
}

static void man_unlock(int fd)
{
    if (fd >= 0) close(fd);
}

/* Reads the manifest; a missing file gives *root = NULL and 0. */
static int read_json(const char *out_dir, json_t **root, mp_err *err)
{
    char path[PATH_MAX];
    json_error_t je;
    struct stat st;
    *root = NULL;
    if (man_path(out_dir, path, sizeof path) != 0)
        return err_set(err, "%s: path too long", out_dir);
    if (stat(path, &st) != 0) {
        if (errno == ENOENT) return 0;
        return err_set(err, "%s: cannot stat: %s", path, strerror(errno));
    }
    *root = json_load_file(path, 0, &je);
    if (!*root)
        return err_set(err, "%s:%d:%d: not a readable manifest (%s)", path, je.line, je.column,
                       je.text);
    if (!json_is_object(*root) ||
        strcmp(json_string_value(json_object_get(*root, "format")) ?: "", MAN_FORMAT) != 0) {
        json_decref(*root);
        *root = NULL;
        return err_set(err, "%s: not a moeprobe manifest (expected \"format\": \"%s\")", path,
                       MAN_FORMAT);
    }
    return 0;
}

static int write_json(const char *out_dir, json_t *root, mp_err *err)
{
    char path[PATH_MAX], now[32];
    iso_now(now);
    json_object_set_new(root, "updated", json_string(now));
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    if (!text) return err_set(err, "%s: out of memory", out_dir);
    man_path(out_dir, path, sizeof path);
    size_t len = strlen(text);
    text[len] = '\0';
    char *withnl = realloc(text, len + 2);
    if (!withnl) {
        free(text);
        return err_set(err, "%s: out of memory", out_dir);
    }
    withnl[len] = '\n';
    withnl[len + 1] = '\0';
    int rc = af_write_atomic(path, withnl, len + 1, err);
    free(withnl);
    return rc;
}

static json_t *find_by_key(json_t *arr, const char *key, const char *value)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        const char *v = json_string_value(json_object_get(e, key));
        if (v && !strcmp(v, value)) return e;
    }
    return NULL;
}

/* Recorded (run-time) fields of a unit. */
static const char *RECORDED[] = {"state",   "pid",   "host",     "started", "finished",
                                 "seconds", "error", "attempts", NULL};

/* The unit object of the plan, recorded fields copied from `old` when present. */
static json_t *unit_json(const sweep *s, size_t m, size_t i, json_t *old)
{
    const plan *p = &s->p[m];
    const plan_unit *u = &p->u[i];
    json_t *o = json_object(), *needs = json_array();
    const char *slash = strchr(u->id, '/');
    json_object_set_new(o, "id", json_string(u->id));
    json_object_set_new(o, "stage", json_string(u->stage->name));
    json_object_set_new(o, "relation",
                        u->relation >= 0 && slash ? json_string(slash + 1) : json_null());
    json_object_set_new(o, "group", json_integer((json_int_t)sweep_unit_group(s, m, i)));
    for (int d = 0; d < u->n_deps; d++)
        json_array_append_new(needs, json_string(p->u[u->deps[d]].id));
    for (int a = 0; a < u->n_needs_stages; a++) {
        char all[128];
        snprintf(all, sizeof all, "%s/*", u->needs_stages[a]->name);
        json_array_append_new(needs, json_string(all));
    }
    json_object_set_new(o, "needs", needs);
    json_object_set_new(o, "state", json_string("pending"));
    if (old)
        for (int k = 0; RECORDED[k]; k++) {
            json_t *v = json_object_get(old, RECORDED[k]);
            if (v) json_object_set(o, RECORDED[k], v);
        }
    return o;
}

int man_write_plan(const char *out_dir, const char *config_path, const sweep *s, mp_err *err)
{
    json_t *old = NULL, *root = NULL, *models = NULL;
    char now[32], cfg_abs[PATH_MAX];
    int rc = -1;
    if (af_mkdir_p(out_dir, err) != 0) return -1;
    int fd = man_lock(out_dir, err);
    if (fd == -2) return -1;
    if (read_json(out_dir, &old, err) != 0) goto done;
    iso_now(now);
    if (config_path[0] != '/' && realpath(config_path, cfg_abs)) config_path = cfg_abs;
    root = json_object();
    models = json_array();
    json_object_set_new(root, "format", json_string(MAN_FORMAT));
    json_object_set_new(root, "config", json_string(config_path));
    json_object_set_new(root, "out", json_string(out_dir));
    json_t *created = old ? json_object_get(old, "created") : NULL;
    json_object_set_new(root, "created", created ? json_incref(created) : json_string(now));
    json_object_set_new(root, "updated", json_string(now));
    json_t *rels = json_array();
    for (size_t r = 0; s->n_models && r < s->n_relations; r++) {
        /* relation ids from the first model's per-relation units */
        const plan *p = &s->p[0];
        for (size_t i = 0; i < p->n; i++)
            if (p->u[i].relation == (int)r) {
                const char *slash = strchr(p->u[i].id, '/');
                json_array_append_new(rels, json_string(slash ? slash + 1 : p->u[i].id));
                break;
            }
    }
    json_object_set_new(root, "relations", rels);
    json_object_set_new(root, "groups", json_integer((json_int_t)sweep_group_count(s)));
    json_object_set_new(root, "final_group", json_integer((json_int_t)sweep_final_group(s)));
    json_t *old_models = old ? json_object_get(old, "models") : NULL;
    for (size_t m = 0; m < s->n_models; m++) {
        const plan *p = &s->p[m];
        json_t *mo = json_object(), *units = json_array();
        json_t *om = old_models ? find_by_key(old_models, "name", p->model_name) : NULL;
        json_t *ou = om ? json_object_get(om, "units") : NULL;
        json_object_set_new(mo, "name", json_string(p->model_name));
        json_object_set_new(mo, "path", json_string(p->model_path));
        json_object_set_new(mo, "archive", json_string(p->archive));
        json_object_set_new(mo, "ranks", json_integer((json_int_t)s->ranks[m]));
        json_object_set_new(mo, "is_moe", json_boolean(p->is_moe));
        json_object_set_new(mo, "first_group", json_integer((json_int_t)(m * s->n_relations)));
        json_object_set_new(mo, "last_group",
                            json_integer((json_int_t)(m * s->n_relations + s->n_relations) - 1));
        for (size_t i = 0; i < p->n; i++)
            json_array_append_new(
                units, unit_json(s, m, i, ou ? find_by_key(ou, "id", p->u[i].id) : NULL));
        json_object_set_new(mo, "units", units);
        json_array_append_new(models, mo);
    }
    /* models of an earlier plan that this one lacks stay listed */
    if (old_models) {
        size_t i;
        json_t *om;
        json_array_foreach(old_models, i, om)
        {
            const char *name = json_string_value(json_object_get(om, "name"));
            if (name && !find_by_key(models, "name", name)) json_array_append(models, om);
        }
    }
    json_object_set_new(root, "models", models);
    models = NULL;
    rc = write_json(out_dir, root, err);
done:
    json_decref(old);
    json_decref(root);
    json_decref(models);
    man_unlock(fd);
    return rc;
}

int man_record(const char *out_dir, const char *model, const char *unit_id, man_state st,
               const char *error, double seconds, mp_err *err)
{
    json_t *root = NULL;
    char now[32], host[256] = "", path[PATH_MAX];
    int rc = -1;
    int fd = man_lock(out_dir, err);
    if (fd == -2) return -1;
    man_path(out_dir, path, sizeof path);
    if (read_json(out_dir, &root, err) != 0) goto done;
    if (!root) {
        err_set(err, "%s: no manifest (moeprobe run writes it at start)", path);
        goto done;
    }
    json_t *m = find_by_key(json_object_get(root, "models"), "name", model);
    json_t *u = m ? find_by_key(json_object_get(m, "units"), "id", unit_id) : NULL;
    if (!u) {
        err_set(err, "%s: no unit '%s' of model '%s'", path, unit_id, model);
        goto done;
    }
    iso_now(now);
    gethostname(host, sizeof host - 1);
    json_object_set_new(u, "state", json_string(man_state_name(st)));
    if (st == MAN_RUNNING) {
        json_int_t attempts = json_integer_value(json_object_get(u, "attempts"));
        json_object_set_new(u, "pid", json_integer((json_int_t)getpid()));
        json_object_set_new(u, "host", json_string(host));
        json_object_set_new(u, "started", json_string(now));
        json_object_set_new(u, "attempts", json_integer(attempts + 1));
        json_object_del(u, "finished");
        json_object_del(u, "seconds");
        json_object_del(u, "error");
    } else if (st == MAN_PENDING) {
        json_object_del(u, "pid");
        json_object_del(u, "host");
        json_object_del(u, "started");
    } else {
        json_object_set_new(u, "finished", json_string(now));
        if (seconds >= 0) json_object_set_new(u, "seconds", json_real(seconds));
        if (st == MAN_FAILED)
            json_object_set_new(u, "error", json_string(error ? error : "unknown error"));
        else
            json_object_del(u, "error");
    }
    rc = write_json(out_dir, root, err);
done:
    json_decref(root);
    man_unlock(fd);
    return rc;
}

int man_load(const char *out_dir, json_t **root, mp_err *err)
{
    char path[PATH_MAX];
    if (read_json(out_dir, root, err) != 0) return -1;
    if (!*root) {
        man_path(out_dir, path, sizeof path);
        return err_set(err,
                       "%s: no manifest here (expected an out folder of `moeprobe run` or "
                       "`moeprobe plan`)",
                       path);
    }
    return 0;
}
