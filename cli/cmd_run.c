/* cmd_run.c — moeprobe run CONFIG.yaml: the batch pipeline. Rank 0 parses and validates the
 * config (all problems reported before any work), broadcasts it; every rank builds the same
 * plan (jobs/plan.h). Rank 0 merges the plan into OUT/manifest.json. Then for each model every
 * selected, pending unit runs (collectively when it needs the model) and is committed to the
 * model's archive by rank 0 (cmd_run_units.c). Complete units are skipped, so a rerun resumes.
 * At the end, when `report` is among the stages and this run covered the final group, the
 * report of every archive is rendered into OUT/report/. stdout gets one line per archive
 * touched: the last line is the path of the (last) archive written.
 *
 * Exit status: 0 all selected units complete; 1 a unit failed or could not run (message on
 * stderr; the other units still ran); 2 usage; 75 (EX_TEMPFAIL) stopped by SIGTERM / SIGUSR1
 * before finishing — rerun or requeue to continue (the slurm/ sbatch scripts requeue on 75).
 * A launcher does not always pass that status on: mpirun that gets SIGTERM itself (Slurm
 * signals every process of a job) exits 1 although every rank stopped cleanly with 75. So with
 * MOEPROBE_STATUS_FILE=PATH set, rank 0 also writes its exit status there (temp + rename): 75
 * as soon as a stop signal arrives (mpirun SIGKILLs the ranks 1 s after forwarding SIGTERM),
 * then the final status once decided; the sbatch scripts read it instead of the launcher's. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmd_run_internal.h"
#include "cli/run_provenance.h"
#include "cli/commands.h"
#include "jobs/manifest.h"
#include "pipeline/parallel/comm.h"
#include "pipeline/util/atomic_file.h"
#include "report/report.h"
#include "stages/analysis_def.h"

volatile sig_atomic_t run_stop_signal;

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: moeprobe run CONFIG.yaml [--unit ID]... [--stage NAME]... [--array-index N]\n"
        "                    [--on-change refuse|recompute]\n\n"
        "Runs the analyses of CONFIG.yaml (see `moeprobe config --explain`): for each model,\n"
        "one HDF5 archive OUT/NAME.h5 with every unit of the plan (`moeprobe plan`), then the\n"
        "report in OUT/report/. Units already complete are skipped, so rerunning the same\n"
        "command resumes. Run it under mpirun / srun for expert-parallel, data-parallel\n"
        "execution. Several runs may share one OUT (e.g. Slurm array tasks) as long as they\n"
        "run different units.\n\n"
        "  --unit ID         run only this unit (repeatable; its dependencies must be complete;\n"
        "                    an ID not in the plan is a usage error)\n"
        "  --stage NAME      run only units of this stage (repeatable, or NAME,NAME)\n"
        "  --array-index N   run only array group N of `moeprobe plan` (one group per model and\n"
        "                    relation, then the final group: per-model units and the report).\n"
        "                    Without --array-index and --unit, SLURM_ARRAY_TASK_ID is used when\n"
        "                    set.\n"
        "  --on-change WHAT  when complete units were computed under another setup (config\n"
        "                    keys they read, relation file, model config.json or tensor index,\n"
        "                    moeprobe's unit format): refuse (default: list what changed, run\n"
        "                    nothing, exit 1) or recompute them (old parts kept as *.stale)\n\n"
        "Progress goes to stderr: a line per unit start and end, and every progress_every_s\n"
        "seconds a line \"P%% done, ETA T\".\n"
        "Signals: SIGTERM or SIGUSR1 finishes the running unit, writes the archive and exits\n"
        "with status 75; a second signal exits at once (the running unit is redone on the\n"
        "next run). Status 1: a unit failed (see `moeprobe status OUT`); 2: usage.\n"
        "Another run on the same out: units it is running are waited for, not run twice.\n"
        "MOEPROBE_STATUS_FILE=PATH: rank 0 also writes the exit status there (for launchers\n"
        "such as mpirun that exit 1 when signalled themselves; the slurm/ scripts use it).\n");
}

/* MOEPROBE_STATUS_FILE and its temp name, kept for the signal handler (rank 0 only). */
static char status_path[4096], status_tmp[4160];

/* From the signal handler: async-signal-safe (open, write, rename). */
static void write_status_now(int status)
{
    char text[4] = {(char)('0' + status / 10 % 10), (char)('0' + status % 10), '\n'};
    if (!status_path[0]) return;
    int fd = open(status_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    ssize_t r = write(fd, text, 3);
    close(fd);
    if (r == 3)
        rename(status_tmp, status_path);
    else
        unlink(status_tmp);
}

static void on_signal(int sig)
{
    static const char msg1[] = "moeprobe: signal received: finishing the running unit, then "
                               "stopping (exit 75); a second signal stops at once\n";
    static const char msg2[] = "moeprobe: second signal: stopping now, the running unit is "
                               "abandoned (exit 75)\n";
    if (run_stop_signal) {
        ssize_t r = write(2, msg2, sizeof msg2 - 1);
        (void)r;
        write_status_now(RUN_EXIT_STOPPED);
        _exit(RUN_EXIT_STOPPED);
    }
    run_stop_signal = sig;
    ssize_t r = write(2, msg1, sizeof msg1 - 1);
    (void)r;
    /* at once: a launcher that got the signal too (mpirun) kills the ranks 1 s later; the
     * final status, when the run gets there, replaces it */
    write_status_now(RUN_EXIT_STOPPED);
}

static void install_signals(void)
{
    const char *sp = getenv("MOEPROBE_STATUS_FILE");
    if (comm_rank() == 0 && sp && *sp && strlen(sp) < sizeof status_path) {
        snprintf(status_path, sizeof status_path, "%s", sp);
        snprintf(status_tmp, sizeof status_tmp, "%s.tmp.%ld", sp, (long)getpid());
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
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
        if (rcfg_load(&cfg, path, analysis_config_schema(), &probs, &err) != 0) {
            for (size_t i = 0; i < probs.n; i++) fprintf(stderr, "%s\n", probs.msg[i]);
            if (probs.n == 0)
                fprintf(stderr, "moeprobe run: %s\n", err.msg);
            else
                fprintf(stderr, "moeprobe run: %zu problem%s in %s; nothing was run\n", probs.n,
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
    if (comm_rank() != 0 && rcfg_unpack(&cfg, buf, len, analysis_config_schema(), &err) != 0)
        comm_fatal("run", "config broadcast: %s", err.msg);
    free(buf);
    return cfg;
}

/* Splits "a,b" arguments of --stage into the list; checks the names. 0, or 2 after a message. */
static int add_stages(run_state *rs, const char *arg)
{
    char *copy = strdup(arg), *save = NULL;
    if (!copy) return 2;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!analysis_find(t)) {
            int n;
            const analysis_def *const *all = analysis_all(&n);
            /* the registry may list a stage more than once (adjacent): each name once */
            fprintf(stderr, "moeprobe run: --stage %s: no such stage (expected one of", t);
            for (int i = 0, shown = 0; i < n; i++)
                if (i == 0 || strcmp(all[i]->name, all[i - 1]->name))
                    fprintf(stderr, "%s %s", shown++ ? "," : ":", all[i]->name);
            fprintf(stderr, ")\n");
            free(copy);
            return 2;
        }
        char **ns = realloc(rs->stages, (size_t)(rs->n_stages + 1) * sizeof *ns);
        if (!ns || !(ns[rs->n_stages] = strdup(t))) {
            free(copy);
            return 2;
        }
        rs->stages = ns;
        rs->n_stages++;
    }
    free(copy);
    return 0;
}

static int parse_args(run_state *rs, int argc, char **argv, const char **path)
{
    *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return -1;
        } else if (!strcmp(argv[i], "--unit") && i + 1 < argc) {
            rs->only[rs->n_only++] = argv[++i];
        } else if (!strcmp(argv[i], "--stage") && i + 1 < argc) {
            if (add_stages(rs, argv[++i]) != 0) return 2;
        } else if (!strcmp(argv[i], "--array-index") && i + 1 < argc) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || end == argv[i] || v < 0) {
                fprintf(stderr, "moeprobe run: --array-index %s: expected a whole number >= 0\n",
                        argv[i]);
                return 2;
            }
            rs->array_index = v;
        } else if (!strcmp(argv[i], "--on-change") && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "refuse") && strcmp(v, "recompute")) {
                fprintf(stderr, "moeprobe run: --on-change %s: expected refuse or recompute\n", v);
                return 2;
            }
            rs->on_change_recompute = !strcmp(v, "recompute");
        } else if (argv[i][0] == '-' || *path) {
            fprintf(stderr, "moeprobe run: unexpected argument %s (see moeprobe run --help)\n",
                    argv[i]);
            return 2;
        } else {
            *path = argv[i];
        }
    }
    if (!*path) {
        fprintf(stderr, "moeprobe run: a CONFIG.yaml is required (see moeprobe run --help)\n");
        return 2;
    }
    const char *env = getenv("SLURM_ARRAY_TASK_ID");
    if (rs->array_index < 0 && rs->n_only == 0 && env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end || v < 0) {
            fprintf(stderr, "moeprobe run: SLURM_ARRAY_TASK_ID=%s: expected a whole number\n", env);
            return 2;
        }
        rs->array_index = v;
        rs->array_from_env = 1;
    }
    return 0;
}

/* Every --unit ID must name a unit of the plan: a typo would otherwise select nothing and end
 * with status 0 as if the unit were done. 0, or -1 after a message (rank 0). */
static int check_units(const run_state *rs, const char *path)
{
    for (int k = 0; k < rs->n_only; k++) {
        int found = 0;
        for (size_t m = 0; m < rs->sw.n_models && !found; m++)
            found = plan_find(&rs->sw.p[m], rs->only[k]) >= 0;
        if (found) continue;
        if (comm_rank() == 0) {
            size_t n = 0;
            for (size_t m = 0; m < rs->sw.n_models; m++) n += rs->sw.p[m].n;
            const char **ids = calloc(n ? n : 1, sizeof *ids);
            const char *near = NULL;
            if (ids) {
                n = 0;
                for (size_t m = 0; m < rs->sw.n_models; m++)
                    for (size_t i = 0; i < rs->sw.p[m].n; i++) ids[n++] = rs->sw.p[m].u[i].id;
                near = rcfg_suggest(rs->only[k], ids, n);
            }
            fprintf(stderr,
                    "moeprobe run: --unit %s: no such unit in the plan of %s%s%s%s (see "
                    "moeprobe plan %s)\n",
                    rs->only[k], path, near ? "; did you mean '" : "", near ? near : "",
                    near ? "'?" : "", path);
            free(ids);
        }
        return -1;
    }
    return 0;
}

/* MOEPROBE_STATUS_FILE (see the top): the decided exit status, for launchers that lose it. A
 * failure to write it is reported; the status itself stands. */
static void write_status_file(int status)
{
    const char *path = getenv("MOEPROBE_STATUS_FILE");
    char text[16];
    mp_err err;
    if (!path || !*path) return;
    err_init(&err);
    int n = snprintf(text, sizeof text, "%d\n", status);
    if (af_write_atomic(path, text, (size_t)n, &err) != 0)
        fprintf(stderr, "moeprobe run: MOEPROBE_STATUS_FILE: %s\n", err.msg);
}

/* The report of every archive of the run into OUT/report/ (rank 0). 0 or 1. */
static int render_report(run_state *rs)
{
    const rcfg *cfg = rs->cfg;
    const char **archives = calloc(rs->sw.n_models + 1, sizeof *archives);
    size_t n = 0;
    char dir[4200];
    int status = 1;
    mp_err err;
    err_init(&err);
    if (!archives) return 1;
    for (size_t m = 0; m < rs->sw.n_models; m++)
        if (access(rs->sw.p[m].archive, R_OK) == 0) archives[n++] = rs->sw.p[m].archive;
    snprintf(dir, sizeof dir, "%s/report", rcfg_str(cfg, "out"));
    if (n == 0) {
        fprintf(stderr, "moeprobe run: no archive to report on in %s\n", rcfg_str(cfg, "out"));
        goto done;
    }
    report_opts o = report_opts_default();
    o.format = (report_format)rcfg_enum(cfg, "report.format");
    o.plots = (report_plots)rcfg_enum(cfg, "report.plots");
    char *written = NULL;
    if (report_render_to(archives, n, dir, &o, &written, &err) != 0) {
        fprintf(stderr, "moeprobe run: report: %s\n", err.msg);
        goto done;
    }
    progress_note(rs->prog, "report: %s", written ? written : dir);
    free(written);
    status = 0;
done:
    free(archives);
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
    rs.array_index = -1;
    rs.only = calloc((size_t)argc, sizeof *rs.only);
    rs.command_line = run_prov_command_line(argc, argv);
    if (!rs.only || !rs.command_line) {
        free(rs.only);
        free(rs.command_line);
        return 1;
    }
    int pa = parse_args(&rs, argc, argv, &path);
    if (pa != 0) {
        run_state_free(&rs);
        return pa < 0 ? 0 : pa;
    }
    comm_init(&argc, &argv);
    rcfg *cfg = load_config(path);
    if (!cfg) goto done;
    rs.cfg = cfg;
    rs.config_path = path;
    if (sweep_build(cfg, &rs.sw, &err) != 0) comm_fatal("run", "%s", err.msg);
    if (check_units(&rs, path) != 0) {
        status = 2;
        goto done;
    }
    if (rs.array_index >= 0 && (size_t)rs.array_index >= sweep_group_count(&rs.sw)) {
        if (comm_rank() == 0)
            fprintf(stderr,
                    "moeprobe run: %s %ld is beyond the plan's %zu groups (0-%zu; see "
                    "moeprobe plan %s)\n",
                    rs.array_from_env ? "SLURM_ARRAY_TASK_ID" : "--array-index", rs.array_index,
                    sweep_group_count(&rs.sw), sweep_final_group(&rs.sw), path);
        status = 2; /* a command-line value out of range: usage, as README says */
        goto done;
    }
    int ok = 1;
    if (comm_rank() == 0) {
        if (rs.array_from_env)
            fprintf(stderr, "moeprobe: SLURM_ARRAY_TASK_ID=%ld: running array group %ld\n",
                    rs.array_index, rs.array_index);
        if (man_write_plan(rcfg_str(cfg, "out"), path, &rs.sw, &err) != 0) {
            fprintf(stderr, "moeprobe run: %s\n", err.msg);
            ok = 0;
        }
    }
    if (!comm_all_ok(ok)) goto done;
    /* every rank loads the relations (small) */
    size_t nr = rcfg_relation_count(cfg);
    rs.rels.rel = calloc(nr > 0 ? nr : 1, sizeof *rs.rels.rel);
    if (!rs.rels.rel) comm_fatal("run", "out of memory");
    for (size_t i = 0; i < nr; i++) {
        if (lre_load(&rs.rels.rel[i], rcfg_relation_path(cfg, i), &err) != 0)
            comm_fatal("run", "%s", err.msg);
        rs.rels.n++;
    }
    install_signals();
    if (comm_rank() == 0) run_progress_start(&rs);
    int failed = 0;
    const char *last = NULL;
    for (size_t m = 0; m < rs.sw.n_models && !rs.stopped; m++) {
        int r = run_model(&rs, m);
        if (r < 0) continue; /* nothing selected in this model */
        failed |= r != 0;
        if (comm_rank() == 0) printf("%s\n", rs.sw.p[m].archive);
        last = rs.sw.p[m].archive;
    }
    fflush(stdout);
    if (!rs.stopped && !failed && run_report_wanted(&rs) && comm_rank() == 0)
        failed |= render_report(&rs) != 0;
    if (comm_rank() == 0 && !last && !rs.stopped) progress_note(rs.prog, "nothing selected to run");
    status = rs.stopped ? RUN_EXIT_STOPPED : failed ? 1 : 0;
    if (comm_rank() == 0 && rs.stopped)
        progress_note(rs.prog,
                      "stopped by signal %d; run the same command again (or requeue) to "
                      "continue",
                      (int)run_stop_signal);
done:
    progress_stop(rs.prog);
    rs.prog = NULL;
    run_state_free(&rs);
    rcfg_free(cfg);
    /* status is the same on every rank (decided collectively) */
    if (comm_rank() == 0) write_status_file(status);
    comm_finalize();
    return status;
}
