/* cmd_run.c — moeprobe run CONFIG.yaml: the batch pipeline. Rank 0 parses and validates the
 * config (all problems reported before any work), broadcasts it; then for each model every
 * pending unit of the plan runs (collectively when it needs the model) and is committed to the
 * model's archive by rank 0. Complete units are skipped, so a rerun resumes. The last line on
 * stdout is the path of the (last) archive written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "jobs/plan.h"
#include "pipeline/archive.h"
#include "pipeline/comm.h"
#include "pipeline/relations.h"
#include "pipeline/run_config.h"
#include "pipeline/runner.h"
#include "stages/stage.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: moeprobe run CONFIG.yaml [--unit ID]...\n\n"
            "Runs the analyses of CONFIG.yaml (see `moeprobe config --explain`): for each model,\n"
            "one HDF5 archive OUT/NAME.h5 with every unit of the plan (`moeprobe plan`). Units\n"
            "already complete are skipped, so rerunning the same command resumes. Run it under\n"
            "mpirun / srun for expert-parallel, data-parallel execution.\n\n"
            "  --unit ID     run only this unit (repeatable; its dependencies must be complete)\n");
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else if (buf) {
            buf[n] = '\0';
        }
    }
    fclose(f);
    return buf;
}

/* Loads the config on rank 0, prints every problem, broadcasts it. NULL: exit 1. */
static rcfg *load_config(const char *path)
{
    rcfg *cfg = NULL;
    void *buf = NULL;
    size_t len = 0;
    int ok = 1;
    mp_err err;
    err_init(&err);
    if (comm_rank() == 0) {
        rcfg_problems probs = {0};
        if (rcfg_load(&cfg, path, &probs, &err) != 0) {
            for (size_t i = 0; i < probs.n; i++) fprintf(stderr, "%s\n", probs.msg[i]);
            if (probs.n == 0) fprintf(stderr, "moeprobe run: %s\n", err.msg);
            else fprintf(stderr, "moeprobe run: %zu problem%s in %s; nothing was run\n", probs.n,
                         probs.n == 1 ? "" : "s", path);
            ok = 0;
        } else if (rcfg_pack(cfg, &buf, &len, &err) != 0) {
            fprintf(stderr, "moeprobe run: %s\n", err.msg);
            ok = 0;
        }
        rcfg_problems_free(&probs);
    }
    if (!comm_all_ok(ok)) {
        rcfg_free(cfg);
        free(buf);
        return NULL;
    }
    comm_bcast_bytes(&buf, &len, 0);
    if (comm_rank() != 0 && rcfg_unpack(&cfg, buf, len, &err) != 0)
        comm_fatal("run", "config broadcast: %s", err.msg);
    free(buf);
    return cfg;
}

typedef struct run_state {
    const rcfg *cfg;
    lre_set rels;
    char **only;
    int n_only;
} run_state;

static int wanted(const run_state *rs, const char *id)
{
    if (rs->n_only == 0) return 1;
    for (int i = 0; i < rs->n_only; i++)
        if (!strcmp(rs->only[i], id)) return 1;
    return 0;
}

/* Runs the pending units of one model. Returns 0, or 1 after a message. */
static int run_model(run_state *rs, size_t mi)
{
    const rcfg *cfg = rs->cfg;
    const rcfg_model *rm = rcfg_model_at(cfg, mi);
    plan pl;
    mp_err err;
    arc_writer *w = NULL;
    runner r;
    int have_runner = 0, status = 1;
    char *pending = NULL;
    size_t np;
    mcfg mc;
    char *cfg_json = NULL, *yaml = NULL;

    err_init(&err);
    memset(&r, 0, sizeof r);
    if (plan_build(cfg, mi, &pl, &err) != 0) comm_fatal("run", "%s", err.msg);
    if (mcfg_load(&mc, rm->path, &err) != 0) comm_fatal("run", "%s", err.msg);
    pending = calloc(pl.n + 1, 1);
    if (!pending) comm_fatal("run", "out of memory");
    if (comm_rank() == 0) {
        char cp[4200];
        arc_provenance prov = {0};
        arc_options ao = arc_options_default();
        snprintf(cp, sizeof cp, "%s/config.json", rm->path);
        cfg_json = read_text(cp);
        yaml = rcfg_to_yaml_text(cfg);
        prov.model_config_json = cfg_json;
        prov.run_config_yaml = yaml;
        prov.mpi_ranks = comm_size();
        ao.snapshot_every_s = rcfg_float(cfg, "snapshot_every_s");
        ao.deflate_level = (int)rcfg_int(cfg, "archive.deflate");
        if (arc_writer_open(&w, pl.archive, &prov, &ao, &err) != 0) comm_fatal("run", "%s", err.msg);
        for (size_t i = 0; i < pl.n; i++)
            pending[i] = wanted(rs, pl.u[i].id) && !arc_unit_is_complete(w, pl.u[i].id);
    }
    np = pl.n;
    void *pb = pending;
    comm_bcast_bytes(&pb, &np, 0);
    if (pb != pending) {
        memcpy(pending, pb, pl.n);
        free(pb);
    }
    int need_model = 0, n_pending = 0;
    for (size_t i = 0; i < pl.n; i++)
        if (pending[i]) {
            n_pending++;
            need_model |= pl.u[i].stage->needs_model;
        }
    if (comm_rank() == 0)
        fprintf(stderr, "moeprobe: %s: %zu units, %d to run, archive %s\n", pl.model_name, pl.n,
                n_pending, pl.archive);
    if (need_model) {
        runner_opts ro = runner_opts_default();
        ro.use_mpi = 1;
        ro.batch_size = (int)(rm->batch_size > 0 ? rm->batch_size : rcfg_int(cfg, "batch_size"));
        ep_placement_parse(rcfg_str(cfg, "expert_placement"), &ro.placement);
        if (runner_init(&r, rm->path, NULL, &ro, &err) != 0) comm_fatal("run", "%s", err.msg);
        have_runner = 1;
    }
    double t_start = now_s();
    int done_units = 0;
    for (size_t i = 0; i < pl.n; i++) {
        if (!pending[i]) continue;
        const plan_unit *u = &pl.u[i];
        stage_ctx c;
        prompt_set ps;
        arc_unit *au = NULL;
        int ok = 1;
        double t0 = now_s();
        memset(&c, 0, sizeof c);
        prompt_set_init(&ps);
        c.cfg = cfg;
        c.rels = &rs->rels;
        c.model_cfg = &mc;
        c.model_name = pl.model_name;
        c.unit_id = u->id;
        c.rank = comm_rank();
        c.w = w;
        if (u->relation >= 0) c.rel = &rs->rels.rel[u->relation];
        /* dependencies must be complete (a unit run alone with --unit) */
        if (comm_rank() == 0) {
            for (int d = 0; d < u->n_deps && ok; d++)
                if (!arc_unit_is_complete(w, pl.u[u->deps[d]].id)) {
                    fprintf(stderr, "moeprobe run: unit %s needs %s, which is not complete\n",
                            u->id, pl.u[u->deps[d]].id);
                    ok = 0;
                }
            if (u->needs_all_of_stage)
                for (size_t j = 0; j < pl.n && ok; j++)
                    for (int a = 0; a < 6 && u->stage->after[a]; a++)
                        if (!strcmp(pl.u[j].stage->name, u->stage->after[a]) &&
                            !arc_unit_is_complete(w, pl.u[j].id)) {
                            fprintf(stderr, "moeprobe run: unit %s needs %s, which is not complete\n",
                                    u->id, pl.u[j].id);
                            ok = 0;
                        }
        }
        if (!comm_all_ok(ok)) goto done;
        if (u->stage->needs_model) {
            c.r = &r;
            if (c.rel && stage_relation_prompts(&r, cfg, c.rel, &ps, &err) != 0)
                comm_fatal(u->id, "%s", err.msg);
            c.ps = &ps;
        }
        if (comm_rank() == 0 && arc_unit_begin(w, u->id, &au, &err) != 0) {
            fprintf(stderr, "moeprobe run: %s\n", err.msg);
            ok = 0;
        }
        if (!comm_all_ok(ok)) goto done;
        c.out = au;
        if (u->stage->run(&c, &err) != 0) {
            fprintf(stderr, "moeprobe run: rank %d, unit %s: %s\n", comm_rank(), u->id, err.msg);
            ok = 0;
        }
        if (ok && comm_rank() == 0) {
            if (arc_unit_commit(w, au, &err) != 0) {
                fprintf(stderr, "moeprobe run: %s\n", err.msg);
                ok = 0;
            }
            au = NULL;
        }
        if (comm_rank() == 0 && au) arc_unit_abort(w, au);
        prompt_set_free(&ps);
        if (!comm_all_ok(ok)) goto done;
        done_units++;
        if (comm_rank() == 0) {
            double el = now_s() - t_start;
            fprintf(stderr, "moeprobe: %s: done %s (%.1fs) [%d/%d, %.0f%% done, ETA %.0fs]\n",
                    pl.model_name, u->id, now_s() - t0, done_units, n_pending,
                    100.0 * done_units / n_pending, el / done_units * (n_pending - done_units));
        }
    }
    if (comm_rank() == 0) {
        if (arc_writer_close(w, &err) != 0) {
            w = NULL;
            fprintf(stderr, "moeprobe run: %s\n", err.msg);
            goto done;
        }
        w = NULL;
    }
    status = 0;
done:
    if (w) arc_writer_free(w);
    if (have_runner) runner_free(&r);
    plan_free(&pl);
    free(pending);
    free(cfg_json);
    free(yaml);
    return status;
}

int cmd_run(int argc, char **argv)
{
    const char *path = NULL;
    run_state rs;
    int status = 1;
    mp_err err;
    memset(&rs, 0, sizeof rs);
    err_init(&err);
    rs.only = calloc((size_t)argc, sizeof *rs.only);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            free(rs.only);
            return 0;
        } else if (!strcmp(argv[i], "--unit") && i + 1 < argc) {
            rs.only[rs.n_only++] = argv[++i];
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "moeprobe run: unexpected argument %s (see moeprobe run --help)\n", argv[i]);
            free(rs.only);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        fprintf(stderr, "moeprobe run: a CONFIG.yaml is required (see moeprobe run --help)\n");
        free(rs.only);
        return 2;
    }
    comm_init(&argc, &argv);
    rcfg *cfg = load_config(path);
    if (!cfg) goto done;
    rs.cfg = cfg;
    /* every rank loads the relations (small) */
    size_t nr = rcfg_relation_count(cfg);
    rs.rels.rel = calloc(nr > 0 ? nr : 1, sizeof *rs.rels.rel);
    if (!rs.rels.rel) comm_fatal("run", "out of memory");
    for (size_t i = 0; i < nr; i++) {
        if (lre_load(&rs.rels.rel[i], rcfg_relation_path(cfg, i), &err) != 0)
            comm_fatal("run", "%s", err.msg);
        rs.rels.n++;
    }
    const char *last = NULL;
    for (size_t m = 0; m < rcfg_model_count(cfg); m++) {
        if (run_model(&rs, m) != 0) goto done;
        last = rcfg_model_at(cfg, m)->name;
    }
    if (comm_rank() == 0 && last) printf("%s/%s.h5\n", rcfg_str(cfg, "out"), last);
    status = 0;
done:
    lre_set_free(&rs.rels);
    rcfg_free(cfg);
    free(rs.only);
    comm_finalize();
    return status;
}
