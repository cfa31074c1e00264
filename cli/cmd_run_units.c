/* cmd_run_units.c — the unit loop of `moeprobe run` for one model: open the archive (rank 0),
 * decide per unit on rank 0 (run / complete elsewhere / wait / cannot run) and share the
 * decision, run the stage on every rank, commit on rank 0, record each step in
 * OUT/manifest.json and on the progress lines. Signals are honoured between units (every rank
 * agrees).
 *
 * Two runs on one out (a resubmitted job, two array tasks of one group): a unit another live
 * process holds (its unit lock, archive.h) is not run twice and is not a failure either: it
 * waits, as do the units that need it, while this run goes on with the others; once the holder
 * commits it counts as complete here too, and if the holder dies (its lock goes with it) this
 * run takes the unit over. So both runs end with every unit complete, status 0 and the report.
 *
 * TEST HOOKS (environment, for the shell tests in tests/cli; harmless otherwise):
 *   MOEPROBE_TEST_HOLD_UNIT=ID:FILE  after unit ID has begun (its lock held, manifest says
 *       running), every rank waits until FILE exists — a deterministic "running" unit. A
 *       signal during the wait abandons the unit (it stays pending) and stops the run (75).
 *   MOEPROBE_TEST_FAIL_UNIT=ID       unit ID fails after its stage ran (a recorded failure). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "cli/cmd_run_internal.h"
#include "cli/run_provenance.h"
#include "jobs/fingerprint.h"
#include "jobs/manifest.h"
#include "pipeline/archive/archive.h"
#include "pipeline/parallel/comm.h"
#include "pipeline/runner/runner.h"
#include "pipeline/util/monotonic.h"
#include "stages/analysis.h"

enum { ACT_RUN = 1, ACT_DONE_ELSEWHERE = 2, ACT_CANNOT = 3, ACT_WAIT = 4 };

void run_state_free(run_state *rs)
{
    lre_set_free(&rs->rels);
    free(rs->command_line);
    rs->command_line = NULL;
    sweep_free(&rs->sw);
    for (int i = 0; i < rs->n_stages; i++) free(rs->stages[i]);
    free(rs->stages);
    free(rs->only);
    rs->stages = NULL;
    rs->only = NULL;
}

int run_selected(const run_state *rs, size_t m, size_t i)
{
    const plan_unit *u = &rs->sw.p[m].u[i];
    int hit = rs->n_only == 0;
    for (int k = 0; k < rs->n_only && !hit; k++) hit = !strcmp(rs->only[k], u->id);
    if (!hit) return 0;
    hit = rs->n_stages == 0;
    for (int k = 0; k < rs->n_stages && !hit; k++) hit = !strcmp(rs->stages[k], u->stage->name);
    if (!hit) return 0;
    return rs->array_index < 0 || sweep_unit_group(&rs->sw, m, i) == (size_t)rs->array_index;
}

int run_report_wanted(const run_state *rs)
{
    if (!rcfg_list_has(rs->cfg, "stages", "report") || rs->n_only) return 0;
    if (rs->array_index >= 0 && (size_t)rs->array_index != sweep_final_group(&rs->sw)) return 0;
    if (rs->n_stages == 0) return 1;
    for (int k = 0; k < rs->n_stages; k++)
        if (!strcmp(rs->stages[k], "report")) return 1;
    return 0;
}

/* 1 if complete unit i of model m was computed under another setup than the current one. */
static int unit_drifted(const run_state *rs, size_t m, size_t i, const fp_model *fm)
{
    const plan *pl = &rs->sw.p[m];
    mp_err e;
    err_init(&e);
    char *stored = NULL, *now = fp_unit(rs->cfg, &rs->rels, pl, i, fm, &e), *diff = NULL;
    int drifted = now && arc_part_fingerprint(pl->archive, pl->u[i].id, &stored, &e) == 0 &&
                  (diff = fp_diff(stored, now)) && diff[0];
    free(stored);
    free(now);
    free(diff);
    return drifted;
}

void run_progress_start(run_state *rs)
{
    size_t total = 0, cap = 0;
    const char **stages = NULL;
    for (size_t m = 0; m < rs->sw.n_models; m++) {
        const plan *p = &rs->sw.p[m];
        arc_names done = {0}, bad = {0}, why = {0};
        mp_err e;
        err_init(&e);
        int any = 0;
        for (size_t i = 0; i < p->n && !any; i++) any = run_selected(rs, m, i);
        if (!any) continue;
        /* quietly: opening the archive warns about (and sets aside) damaged parts */
        if (arc_units_scan(p->archive, &done, &bad, &why, &e) != 0) arc_names_free(&done);
        arc_names_free(&bad);
        arc_names_free(&why);
        fp_model fm;
        int have_fm = fp_model_identity(p->model_path, &fm, &e) == 0;
        for (size_t i = 0; i < p->n; i++) {
            int complete = 0;
            if (!run_selected(rs, m, i)) continue;
            for (size_t k = 0; k < done.n && !complete; k++)
                complete = !strcmp(done.v[k], p->u[i].id);
            /* a unit of another setup is recomputed (--on-change recompute; else the run stops) */
            if (complete && have_fm && rs->on_change_recompute && unit_drifted(rs, m, i, &fm))
                complete = 0;
            if (complete) continue;
            if (total == cap) {
                cap = cap ? 2 * cap : 64;
                const char **ns = realloc(stages, cap * sizeof *ns);
                if (!ns) break;
                stages = ns;
            }
            stages[total++] = p->u[i].stage->name;
        }
        arc_names_free(&done);
    }
    rs->prog = progress_start(total, stages, rcfg_float(rs->cfg, "progress_every_s"));
    free(stages);
}

/* Rank 0: why unit i cannot run now ("" if it can). */
/* A dependency j of a unit that is not complete: 1 when it may still become complete (it waits
 * in this run's queue, or another live process runs it), else 0 with why set. */
static int dep_may_come(const plan *pl, const char *pending, size_t j, char *why, size_t len)
{
    if (arc_unit_running(pl->archive, pl->u[j].id, NULL, 0)) {
        snprintf(why, len, "needs %s, which another process is running", pl->u[j].id);
        return 1;
    }
    if (pending[j]) {
        snprintf(why, len, "needs %s, which waits for another process", pl->u[j].id);
        return 1;
    }
    snprintf(why, len, "needs %s, which is not complete", pl->u[j].id);
    return 0;
}

/* Whether the dependencies of unit i are complete: 0 yes; 1 not yet but they may be (wait);
 * -1 one never will in this run (why says which). */
static int check_deps(const plan *pl, arc_writer *w, const char *pending, size_t i, char *why,
                      size_t len)
{
    const plan_unit *u = &pl->u[i];
    int wait = 0;
    why[0] = '\0';
    for (int d = 0; d < u->n_deps; d++)
        if (!arc_unit_is_complete(w, pl->u[u->deps[d]].id)) {
            if (!dep_may_come(pl, pending, (size_t)u->deps[d], why, len)) return -1;
            wait = 1;
        }
    for (size_t j = 0; j < pl->n; j++)
        for (int a = 0; a < u->n_needs_stages; a++)
            if (pl->u[j].stage == u->needs_stages[a] && !arc_unit_is_complete(w, pl->u[j].id)) {
                if (!dep_may_come(pl, pending, j, why, len)) return -1;
                wait = 1;
                break;
            }
    return wait;
}

/* MOEPROBE_TEST_HOLD_UNIT: collective wait. Returns 1 if a signal abandoned the unit. */
static int test_hold(const char *unit_id)
{
    const char *env = getenv("MOEPROBE_TEST_HOLD_UNIT");
    const char *colon = env ? strchr(env, ':') : NULL;
    if (!colon || strlen(unit_id) != (size_t)(colon - env) ||
        strncmp(env, unit_id, (size_t)(colon - env)))
        return 0;
    for (;;) {
        int64_t released = comm_rank() == 0 && access(colon + 1, F_OK) == 0;
        if (comm_allreduce_max_i64(released)) return 0;
        if (comm_allreduce_max_i64(run_stop_signal != 0)) return 1;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static int test_fail(const char *unit_id)
{
    const char *env = getenv("MOEPROBE_TEST_FAIL_UNIT");
    return env && !strcmp(env, unit_id);
}

/* Rank 0: compares the fingerprint of every complete selected unit with the current setup.
 * A unit computed under another setup is set aside and recomputed (--on-change recompute), or
 * the run is refused with the list of what changed (-1). */
static int check_drift(run_state *rs, size_t mi, arc_writer *w, const fp_model *fm)
{
    const plan *pl = &rs->sw.p[mi];
    size_t changed = 0, shown = 0;
    int rc = 0;
    for (size_t i = 0; i < pl->n && rc == 0; i++) {
        if (!run_selected(rs, mi, i) || !arc_unit_is_complete(w, pl->u[i].id)) continue;
        mp_err e;
        err_init(&e);
        char *stored = NULL, *now = fp_unit(rs->cfg, &rs->rels, pl, i, fm, &e), *diff = NULL;
        if (!now || arc_unit_fingerprint(w, pl->u[i].id, &stored, &e) != 0) {
            fprintf(stderr, "moeprobe run: %s\n", e.msg);
            rc = -1;
        } else if ((diff = fp_diff(stored, now)) && diff[0]) {
            changed++;
            if (rs->on_change_recompute) {
                if (arc_unit_set_aside(w, pl->u[i].id, &e) != 0) {
                    fprintf(stderr, "moeprobe run: %s\n", e.msg);
                    rc = -1;
                } else {
                    progress_note(rs->prog,
                                  "%s: %s was computed under another setup (%s); "
                                  "recomputing it (old part kept as *.stale)",
                                  pl->model_name, pl->u[i].id, diff);
                }
            } else if (shown++ < 20) {
                fprintf(stderr, "moeprobe run: %s: %s was computed under another setup: %s\n",
                        pl->model_name, pl->u[i].id, diff);
            }
        }
        free(stored);
        free(now);
        free(diff);
    }
    if (rc == 0 && changed && !rs->on_change_recompute) {
        if (shown < changed) fprintf(stderr, "moeprobe run: ... and %zu more\n", changed - shown);
        fprintf(stderr,
                "moeprobe run: %s: %zu complete unit(s) of %s were computed under another "
                "setup; nothing was run. Rerun with --on-change recompute to recompute "
                "them (the old parts are kept as *.stale), or restore the old setup\n",
                pl->model_name, changed, pl->archive);
        rc = -1;
    }
    return rc;
}

/* Rank 0: opens the archive and marks the selected units that are not complete. */
static arc_writer *open_archive(run_state *rs, size_t mi, char *pending, char **cfg_json,
                                char **yaml, fp_model *fm)
{
    const rcfg *cfg = rs->cfg;
    const plan *pl = &rs->sw.p[mi];
    char cp[4200];
    arc_provenance prov = {0};
    arc_options ao = arc_options_default();
    arc_writer *w = NULL;
    mp_err err;
    err_init(&err);
    snprintf(cp, sizeof cp, "%s/config.json", pl->model_path);
    *cfg_json = cli_read_text(cp);
    *yaml = rcfg_to_yaml_text(cfg);
    prov.model_config_json = *cfg_json;
    prov.run_config_yaml = *yaml;
    prov.mpi_ranks = comm_size();
    prov.model_name = pl->model_name;
    run_prov rp;
    if (run_prov_build(&rp, pl->model_path, &rs->rels, &err) != 0) {
        fprintf(stderr, "moeprobe run: %s\n", err.msg);
        return NULL;
    }
    run_prov_fill(&rp, rs->command_line, &prov);
    ao.snapshot_every_s = rcfg_float(cfg, "snapshot_every_s");
    ao.deflate_level = (int)rcfg_int(cfg, "archive.deflate");
    int opened = arc_writer_open(&w, pl->archive, &prov, &ao, &err);
    run_prov_free(&rp); /* arc_writer_open copied it */
    if (opened != 0) {
        fprintf(stderr, "moeprobe run: %s\n", err.msg);
        return NULL;
    }
    if (fp_model_identity(pl->model_path, fm, &err) != 0) {
        fprintf(stderr, "moeprobe run: %s\n", err.msg);
        arc_writer_free(w);
        return NULL;
    }
    if (check_drift(rs, mi, w, fm) != 0) {
        arc_writer_free(w);
        return NULL;
    }
    for (size_t i = 0; i < pl->n; i++)
        pending[i] = run_selected(rs, mi, i) && !arc_unit_is_complete(w, pl->u[i].id);
    return w;
}

/* One model's pass over its units: the archive (rank 0), the model (when a unit needs it). */
typedef struct model_run {
    run_state *rs;
    const plan *pl;
    const rcfg_model *rm;
    arc_writer *w; /* rank 0 */
    runner r;
    int have_runner;
    mcfg mc;
    char *pending; /* [n units] 1 = selected and not complete (every rank) */
    fp_model fm;   /* the model's identity (rank 0) */
} model_run;

/* Every rank learns rank 0's pending flags. */
static void share_pending(model_run *mr)
{
    size_t np = mr->pl->n;
    void *pb = mr->pending;
    comm_bcast_bytes(&pb, &np, 0);
    if (pb != mr->pending) {
        memcpy(mr->pending, pb, mr->pl->n);
        free(pb);
    }
}

/* Loads the model when a pending unit needs it (collective; fatal on failure). */
static void start_runner(model_run *mr)
{
    const rcfg *cfg = mr->rs->cfg;
    int need_model = 0, n_pending = 0;
    mp_err err;
    err_init(&err);
    for (size_t i = 0; i < mr->pl->n; i++)
        if (mr->pending[i]) {
            n_pending++;
            need_model |= mr->pl->u[i].stage->needs_model;
        }
    if (comm_rank() == 0)
        progress_note(mr->rs->prog, "%s: %zu units, %d to run, archive %s", mr->pl->model_name,
                      mr->pl->n, n_pending, mr->pl->archive);
    if (!need_model) return;
    runner_opts ro = runner_opts_default();
    ro.use_mpi = 1;
    ro.batch_size =
        (int)(mr->rm->batch_size > 0 ? mr->rm->batch_size : rcfg_int(cfg, "batch_size"));
    ep_placement_parse(rcfg_str(cfg, "expert_placement"), &ro.placement);
    ro.eval_bf16 = !strcmp(rcfg_str(cfg, "eval_precision"), "bf16_screened");
    if (runner_init(&mr->r, mr->rm->path, NULL, &ro, &err) != 0) comm_fatal("run", "%s", err.msg);
    mr->have_runner = 1;
}

/* Collective: whether unit i runs now (ACT_RUN), was committed by another process meanwhile,
 * waits for another process (ACT_WAIT) or cannot run (why: the reason, on rank 0). */
static int64_t decide(model_run *mr, size_t i, char *why, size_t len)
{
    const plan *pl = mr->pl;
    const plan_unit *u = &pl->u[i];
    int64_t act = 0;
    why[0] = '\0';
    if (comm_rank() == 0) {
        char who[300];
        mp_err e2;
        err_init(&e2);
        if (arc_writer_refresh(mr->w, &e2) != 0) progress_note(mr->rs->prog, "warning: %s", e2.msg);
        if (arc_unit_is_complete(mr->w, u->id)) {
            act = ACT_DONE_ELSEWHERE;
        } else {
            int deps = check_deps(pl, mr->w, mr->pending, i, why, len);
            if (deps < 0) {
                act = ACT_CANNOT;
            } else if (arc_unit_running(pl->archive, u->id, who, sizeof who)) {
                snprintf(why, len, "another process runs it (pid host start: %s)", who);
                act = ACT_WAIT;
            } else {
                act = deps ? ACT_WAIT : ACT_RUN;
            }
        }
    }
    return comm_allreduce_max_i64(act);
}

/* The stage's view of unit u: config, relation, model and prompts (when it needs the model). */
static void unit_ctx(model_run *mr, const plan_unit *u, analysis_ctx *c, prompt_set *ps)
{
    run_state *rs = mr->rs;
    mp_err err;
    err_init(&err);
    memset(c, 0, sizeof *c);
    c->cfg = rs->cfg;
    c->rels = &rs->rels;
    c->model_cfg = &mr->mc;
    c->model_name = mr->pl->model_name;
    c->unit_id = u->id;
    c->rank = comm_rank();
    c->w = mr->w;
    if (u->relation >= 0) c->rel = &rs->rels.rel[u->relation];
    if (u->stage->needs_model) {
        c->r = &mr->r;
        if (c->rel && analysis_relation_prompts(&mr->r, rs->cfg, c->rel, ps, &err) != 0)
            comm_fatal(u->id, "%s", err.msg);
        c->ps = ps;
    }
}

/* Rank 0: the unit's end in the manifest and on the progress lines. */
static void record_end(model_run *mr, const plan_unit *u, int ok, int rank0_ok, const mp_err *err,
                       double t0)
{
    mp_err e2;
    err_init(&e2);
    const char *out = rcfg_str(mr->rs->cfg, "out");
    const char *msg = !rank0_ok ? err->msg : "failed on another rank (see the job's stderr)";
    if (man_record(out, mr->pl->model_name, u->id, ok ? MAN_DONE : MAN_FAILED, ok ? NULL : msg,
                   monotonic_s() - t0, &e2) != 0)
        progress_note(mr->rs->prog, "warning: %s", e2.msg);
    progress_unit_end(mr->rs->prog, mr->pl->model_name, u->id, u->stage->name, monotonic_s() - t0,
                      ok, msg);
}

/* While a unit runs, a fatal error on any rank (a non-finite activation, a rewritten shard)
 * ends the job through comm_fatal; this records the unit as failed with the message first, so
 * that `status` says why rather than "process gone". */
typedef struct fatal_unit {
    const char *out, *model, *unit;
} fatal_unit;

static void record_fatal(void *ctx, const char *where, const char *msg)
{
    const fatal_unit *fu = ctx;
    char text[4400];
    mp_err e2;
    err_init(&e2);
    if (comm_size() > 1)
        snprintf(text, sizeof text, "rank %d: %s", comm_rank(), msg);
    else
        snprintf(text, sizeof text, "%s", msg);
    (void)where;
    man_record(fu->out, fu->model, fu->unit, MAN_FAILED, text, -1, &e2);
}

/* Runs unit i on every rank and commits it on rank 0 (all-or-nothing). 0 done, 1 failed,
 * 2 abandoned by a signal (the unit stays pending). */
static int run_unit(model_run *mr, size_t i)
{
    const plan_unit *u = &mr->pl->u[i];
    const char *out = rcfg_str(mr->rs->cfg, "out"), *model = mr->pl->model_name;
    analysis_ctx c;
    prompt_set ps;
    arc_unit *au = NULL;
    double t0 = monotonic_s();
    int ok = 1, rc = 1;
    mp_err err;
    err_init(&err);
    prompt_set_init(&ps);
    unit_ctx(mr, u, &c, &ps);
    if (comm_rank() == 0 && arc_unit_begin(mr->w, u->id, &au, &err) != 0) {
        progress_note(mr->rs->prog, "%s: cannot run %s: %s", model, u->id, err.msg);
        ok = 0;
    }
    if (ok && comm_rank() == 0) {
        char *fp = fp_unit(mr->rs->cfg, &mr->rs->rels, mr->pl, i, &mr->fm, &err);
        if (!fp || arc_unit_set_fingerprint(au, fp, &err) != 0) {
            progress_note(mr->rs->prog, "%s: cannot run %s: %s", model, u->id, err.msg);
            arc_unit_abort(mr->w, au);
            au = NULL;
            ok = 0;
        }
        free(fp);
    }
    if (!comm_all_ok(ok)) goto done;
    if (comm_rank() == 0) {
        mp_err e2;
        err_init(&e2);
        if (man_record(out, model, u->id, MAN_RUNNING, NULL, -1, &e2) != 0)
            progress_note(mr->rs->prog, "warning: %s", e2.msg);
        progress_unit_begin(mr->rs->prog, model, u->id);
    }
    if (test_hold(u->id)) {
        if (comm_rank() == 0) {
            mp_err e2;
            err_init(&e2);
            arc_unit_abort(mr->w, au);
            man_record(out, model, u->id, MAN_PENDING, NULL, -1, &e2);
            progress_note(mr->rs->prog, "%s: %s abandoned by the signal", model, u->id);
        }
        rc = 2;
        goto done;
    }
    c.out = au;
    fatal_unit fu = {out, model, u->id};
    comm_set_fatal_hook(record_fatal, &fu);
    int stage_rc = u->stage->run(&c, &err);
    comm_set_fatal_hook(NULL, NULL);
    if (stage_rc != 0) {
        fprintf(stderr, "moeprobe run: rank %d, unit %s: %s\n", comm_rank(), u->id, err.msg);
        ok = 0;
    }
    if (ok && comm_rank() == 0 && test_fail(u->id)) {
        err_set(&err, "injected failure (MOEPROBE_TEST_FAIL_UNIT)");
        ok = 0;
    }
    int snapshot_failed = 0;
    if (ok && comm_rank() == 0) {
        /* the unit is durable once its part is renamed; a failed snapshot rebuild after that
         * (e.g. another unit's part found damaged) fails the run, not this unit */
        if (arc_unit_commit(mr->w, au, &err) != 0) {
            if (arc_unit_is_complete(mr->w, u->id)) {
                progress_note(mr->rs->prog, "%s: %s", model, err.msg);
                snapshot_failed = 1;
            } else {
                ok = 0;
            }
        }
        au = NULL;
    }
    if (comm_rank() == 0 && au) arc_unit_abort(mr->w, au);
    int rank0_ok = ok;
    ok = comm_all_ok(ok);
    if (comm_rank() == 0) record_end(mr, u, ok, rank0_ok, &err, t0);
    rc = ok && !snapshot_failed ? 0 : 1;
done:
    prompt_set_free(&ps);
    return rc;
}

/* Sleeps about 0.5 s, returning early (1) when a rank got a stop signal. Collective. */
static int wait_a_while(void)
{
    for (int k = 0; k < 10; k++) {
        if (comm_allreduce_max_i64(run_stop_signal != 0)) return 1;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* Passes over the pending units until none is left: each runs, was completed elsewhere, cannot
 * run (a failure), or waits for another process (see the top); a pass that only waited sleeps
 * first. 1 when a unit failed or could not run. Sets rs->stopped on a signal. */
static int unit_loop(model_run *mr)
{
    run_state *rs = mr->rs;
    const plan *pl = mr->pl;
    int failed = 0;
    char *noted = calloc(pl->n + 1, 1); /* "waiting" said once per unit */
    if (!noted) comm_fatal("run", "out of memory");
    for (int waiting = 1; waiting && !rs->stopped;) {
        int moved = 0;
        waiting = 0;
        for (size_t i = 0; i < pl->n; i++) {
            if (!mr->pending[i]) continue;
            const plan_unit *u = &pl->u[i];
            char why[600];
            if (comm_allreduce_max_i64(run_stop_signal != 0)) {
                rs->stopped = 1;
                break;
            }
            int64_t act = decide(mr, i, why, sizeof why);
            if (act == ACT_WAIT) {
                if (comm_rank() == 0 && !noted[i])
                    progress_note(rs->prog, "%s: %s waits: %s", pl->model_name, u->id, why);
                noted[i] = 1;
                waiting = 1;
                continue;
            }
            mr->pending[i] = 0;
            moved = 1;
            if (act == ACT_DONE_ELSEWHERE) {
                if (comm_rank() == 0)
                    progress_note(rs->prog, "%s: %s is complete (committed by another process)",
                                  pl->model_name, u->id);
                continue;
            }
            if (act == ACT_CANNOT) {
                if (comm_rank() == 0)
                    progress_note(rs->prog, "%s: cannot run %s: %s", pl->model_name, u->id, why);
                failed = 1;
                continue;
            }
            int rc = run_unit(mr, i);
            if (rc == 2) {
                mr->pending[i] = 1;
                rs->stopped = 1;
                break;
            }
            failed |= rc != 0;
        }
        if (waiting && !moved && !rs->stopped && wait_a_while()) rs->stopped = 1;
    }
    free(noted);
    return failed;
}

int run_model(run_state *rs, size_t mi)
{
    const plan *pl = &rs->sw.p[mi];
    model_run mr = {.rs = rs, .pl = pl, .rm = rcfg_model_at(rs->cfg, mi)};
    mp_err err;
    int failed = 0, any = 0;
    char *cfg_json = NULL, *yaml = NULL;

    for (size_t i = 0; i < pl->n && !any; i++) any = run_selected(rs, mi, i);
    if (!any) return -1;
    err_init(&err);
    if (mcfg_load(&mr.mc, mr.rm->path, &err) != 0) comm_fatal("run", "%s", err.msg);
    mr.pending = calloc(pl->n + 1, 1);
    if (!mr.pending) comm_fatal("run", "out of memory");
    int ok = 1;
    if (comm_rank() == 0)
        ok = (mr.w = open_archive(rs, mi, mr.pending, &cfg_json, &yaml, &mr.fm)) != NULL;
    if (!comm_all_ok(ok)) {
        failed = 1;
        goto done;
    }
    share_pending(&mr);
    start_runner(&mr);
    failed = unit_loop(&mr);
    if (comm_rank() == 0) {
        if (arc_writer_close(mr.w, &err) != 0) {
            fprintf(stderr, "moeprobe run: %s\n", err.msg);
            failed = 1;
        }
        mr.w = NULL;
    }
    failed = !comm_all_ok(!failed);
    if (mr.have_runner) runner_free(&mr.r);
done:
    free(mr.pending);
    free(cfg_json);
    free(yaml);
    return failed;
}
