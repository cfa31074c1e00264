/* cmd_trace.c — moeprobe trace: run prompts through a model and write, per prompt, the
 * datasets of the fixtures' reference traces (group promptNN; docs/interface.md) into an HDF5
 * file. Runs under mpirun with any number of ranks (data parallel over prompts, expert
 * parallel in MoE layers); rank 0 writes the file.
 *
 * --out is replaced only by a complete file: rank 0 writes OUT.tmp.<pid> (an archive with its
 * own parts folder) and renames it over OUT at the end. Whatever is at OUT that is not a
 * regular file (a device such as /dev/null, a FIFO, a folder, a symlink) is refused before
 * anything runs, and nothing there is ever unlinked. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli_util.h"
#include "cli/commands.h"
#include "pipeline/archive/archive.h"
#include "pipeline/attribution/sample_capture.h"
#include "pipeline/ops/ops.h"
#include "pipeline/parallel/comm.h"
#include "pipeline/runner/runner.h"
#include "pipeline/util/atomic_file.h"
#include "pipeline/util/local_ranks.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: moeprobe trace --model DIR --prompt TEXT [--prompt TEXT ...]\n"
            "                      [--object TEXT ...] --out FILE.h5 [options]\n\n"
            "Runs each prompt and writes group promptNN (NN = argument order) with input_ids,\n"
            "logits_last, resid_pre, attn_out, mlp_out, resid_post [L,T,H], head_out_last\n"
            "[L,nH,H]; MoE: router_logits, topk_idx, topk_weight [L,T,*], expert_out_topk_last;\n"
            "with --object (one per prompt): target_id, final_norm_scale and the attributions\n"
            "attr_attn_gain, attr_ffn_gain, attr_head, attr_expert_topk, "
            "attr_neuron_top100(_score).\n\n"
            "options:\n"
            "  --model DIR            Hugging Face checkpoint folder (with tokenizer.json)\n"
            "  --tokenizer FILE       tokenizer.json (default DIR/tokenizer.json)\n"
            "  --prompt TEXT          a prompt (repeatable)\n"
            "  --object TEXT          the expected continuation of each prompt (repeatable)\n"
            "  --out FILE.h5          output file (replaced)\n"
            "  --batch-size N         prompts per forward call per rank (default 32)\n"
            "  --placement P          contiguous (default) or round_robin expert placement\n"
            "  --stats                print per-rank tokens/s, all-to-all share, expert bytes\n"
            "                         and peak RSS on stderr\n"
            "%s",
            CLI_INTERVENTION_HELP);
}

typedef struct trace_ctx {
    runner *r;
    int with_object;
    arc_unit *u;
    /* last-position captures and attributions of this rank's current batch, made
     * collectively by trace_batch so that neuron screening reads each routed expert on the rank
     * holding it (with --object only) */
    int64_t first;
    int n;
    sample_capture *caps;
    attr_result *res;
    /* the prompt and object texts, stored as attributes of each promptNN group (rank 0) */
    const char **prompts, **objects;
    int n_prompts;
} trace_ctx;

static void trace_batch_free(trace_ctx *c)
{
    for (int i = 0; i < c->n; i++) {
        capture_free(&c->caps[i]);
        attr_result_free(&c->res[i]);
    }
    free(c->caps);
    free(c->res);
    c->caps = NULL;
    c->res = NULL;
    c->n = 0;
}

static int trace_batch(void *vctx, runner *r, const runner_sample *s, int n, mp_err *err)
{
    trace_ctx *c = vctx;
    const int moe = r->model.cfg.num_experts > 0;
    trace_batch_free(c);
    c->caps = calloc((size_t)(n > 0 ? n : 1), sizeof *c->caps);
    c->res = calloc((size_t)(n > 0 ? n : 1), sizeof *c->res);
    if (!c->caps || !c->res) return err_set(err, "out of memory");
    if (runner_attribute_batch(r, s, n, moe ? 100 : 0, 0, c->caps, c->res, err) != 0) return -1;
    c->first = n > 0 ? s[0].sample : 0;
    c->n = n;
    return 0;
}

static void put_f32(blob *b, const char *name, int nd, int64_t d0, int64_t d1, int64_t d2,
                    const float *x)
{
    int64_t sh[3] = {d0, d1, d2};
    blob_put(b, name, BLOB_F32, nd, sh, x);
}

static int trace_sample(void *vctx, const runner_sample *s, blob *out, mp_err *err)
{
    trace_ctx *c = vctx;
    const mp_model *m = &s->r->model;
    const mcfg *cf = &m->cfg;
    const int64_t L = cf->num_hidden_layers, H = cf->hidden_size, nH = cf->num_attention_heads;
    const int64_t E = cf->num_experts, k = cf->num_experts_per_tok, V = cf->vocab_size;
    const int T = s->ps->len[s->sample];
    const int in_batch = s->sample >= c->first && s->sample < c->first + c->n;
    sample_capture own, *cap = &own;
    int rc = -1;
    memset(&own, 0, sizeof own);
    float *buf = malloc((size_t)(L * T * (H > E ? H : E)) * sizeof *buf);
    if (!buf) return err_set(err, "out of memory");
    int64_t tl = T;
    blob_put(out, "input_ids", BLOB_I32, 1, &tl, s->ps->ids[s->sample]);
    put_f32(out, "logits_last", 1, V, 0, 0, s->logits);
    const struct {
        const char *name;
        hook_point p;
    } dense[] = {{"resid_pre", HP_RESID_PRE},
                 {"attn_out", HP_ATTN_OUT},
                 {"mlp_out", HP_MLP_OUT},
                 {"resid_post", HP_RESID_POST}};
    for (int i = 0; i < 4; i++) {
        hook_store_dense(s->store, dense[i].p, s->sample, (int)L, 0, T, -1, H, buf);
        put_f32(out, dense[i].name, 3, L, T, H, buf);
    }
    if (in_batch)
        cap = &c->caps[s->sample - c->first]; /* made by trace_batch */
    else if (capture_last(m, s->store, s->sample, T - 1, &own, err) != 0)
        goto done;
    put_f32(out, "head_out_last", 3, L, nH, H, cap->head_out);
    if (E > 0) {
        hook_store_dense(s->store, HP_ROUTER_LOGITS, s->sample, (int)L, 0, T, -1, E, buf);
        put_f32(out, "router_logits", 3, L, T, E, buf);
        int32_t *ti = malloc((size_t)(L * T * k) * sizeof *ti);
        if (!ti) goto oom;
        for (int64_t l = 0; l < L; l++)
            for (int t = 0; t < T; t++) {
                const hook_record *rr =
                    hook_store_find(s->store, HP_TOPK_IDX, s->sample, (int)l, t, -1);
                for (int64_t j = 0; j < k; j++)
                    ti[(l * T + t) * k + j] = rr ? ((const int32_t *)rr->data)[j] : -1;
            }
        int64_t sh[3] = {L, T, k};
        blob_put(out, "topk_idx", BLOB_I32, 3, sh, ti);
        free(ti);
        hook_store_dense(s->store, HP_TOPK_WEIGHT, s->sample, (int)L, 0, T, -1, k, buf);
        put_f32(out, "topk_weight", 3, L, T, k, buf);
        put_f32(out, "expert_out_topk_last", 3, L, k, H, cap->expert_out);
    }
    if (c->with_object) {
        int32_t tgt = s->ps->target[s->sample];
        if (!in_batch) {
            err_set(err, "no attribution for prompt %lld", (long long)s->sample);
            goto done;
        }
        const attr_result res = c->res[s->sample - c->first];
        blob_put(out, "target_id", BLOB_I32, 0, NULL, &tgt);
        blob_put_f64(out, "final_norm_scale", res.final_norm_scale);
        int64_t sh[2] = {L, nH};
        blob_put(out, "attr_attn_gain", BLOB_F64, 1, &L, res.attn_gain);
        blob_put(out, "attr_ffn_gain", BLOB_F64, 1, &L, res.ffn_gain);
        blob_put(out, "attr_head", BLOB_F64, 2, sh, res.head);
        if (E > 0) {
            int64_t se[2] = {L, k}, sn[2] = {res.n_top, 3}, ss = res.n_top;
            blob_put(out, "attr_expert_topk", BLOB_F64, 2, se, res.expert);
            blob_put(out, "attr_neuron_top100", BLOB_I32, 2, sn, res.neuron);
            blob_put(out, "attr_neuron_top100_score", BLOB_F64, 1, &ss, res.neuron_score);
        }
    }
    rc = 0;
    goto done;
oom:
    err_set(err, "out of memory");
done:
    capture_free(&own);
    free(buf);
    return rc;
}

static int trace_collect(void *vctx, int64_t sample, const void *data, size_t len, mp_err *err)
{
    trace_ctx *c = vctx;
    char group[64], path[160];
    size_t off = 0;
    blob_item it;
    int rc;
    static const char *const dims3[] = {"layer", "token", "hidden"};
    snprintf(group, sizeof group, "prompt%02lld", (long long)sample);
    while ((rc = blob_next(data, len, &off, &it, err)) == 1) {
        snprintf(path, sizeof path, "%s/%s", group, it.name);
        /* the contract is float32 (ids int32) throughout */
        arc_type t = it.type == BLOB_I32 || it.type == BLOB_I64 ? ARC_I32 : ARC_F32;
        const char *const *dn = it.ndim == 3 && it.shape[2] == c->r->model.cfg.hidden_size &&
                                        strstr(it.name, "_last") == NULL
                                    ? dims3
                                    : NULL;
        /* blob data may be unaligned: copy before handing it to HDF5 */
        void *tmp;
        if (t == ARC_F32)
            tmp = blob_to_f32(&it);
        else if (it.type == BLOB_I32) {
            tmp = malloc(it.nbytes > 0 ? it.nbytes : 1);
            if (tmp) memcpy(tmp, it.data, it.nbytes);
        } else {
            int64_t *w64 = blob_to_i64(&it);
            int32_t *w32 = w64 ? malloc((size_t)(it.count > 0 ? it.count : 1) * 4) : NULL;
            for (int64_t q = 0; w32 && q < it.count; q++) w32[q] = (int32_t)w64[q];
            free(w64);
            tmp = w32;
        }
        if (!tmp) return err_set(err, "out of memory");
        int wrc = arc_write(c->u, path, t, it.ndim, it.shape, dn, tmp, err);
        free(tmp);
        if (wrc != 0) return -1;
    }
    if (rc < 0) return -1;
    /* what was asked: the prompt text and, with --object, the target (the group exists now) */
    if (sample >= 0 && sample < c->n_prompts &&
        (arc_attr_str(c->u, group, "prompt", c->prompts[sample], err) != 0 ||
         (c->objects && c->objects[sample] &&
          arc_attr_str(c->u, group, "object", c->objects[sample], err) != 0)))
        return -1;
    return 0;
}

/* --stats: where each rank runs and the threads it uses, from the ranks on its node that the
 * launcher reports (pipeline/util/local_ranks.h); collective. */
static void report_placement(int rank, int size)
{
    char mine[160], host[64] = "?";
    void *all = NULL;
    size_t *lens = NULL;
    gethostname(host, sizeof host - 1);
    memset(mine, 0, sizeof mine);
    snprintf(mine, sizeof mine, "moeprobe:   rank %d on %s: %d ranks on this node, %d threads",
             rank, host, local_ranks(), ops_blas_threads());
    comm_gather_bytes(mine, sizeof mine, &all, &lens, 0);
    for (int i = 0; rank == 0 && all && i < size; i++)
        fprintf(stderr, "%s\n", (const char *)all + (size_t)i * sizeof mine);
    free(all);
    free(lens);
}

/* 0 when path is free or a regular file (which the trace may replace), else -1 with err. */
static int check_out(const char *path, mp_err *err)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : err_set(err, "--out %s: %s", path, strerror(errno));
    if (S_ISREG(st.st_mode)) return 0;
    const char *what = S_ISLNK(st.st_mode)    ? "a symbolic link"
                       : S_ISDIR(st.st_mode)  ? "a folder"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                       : S_ISBLK(st.st_mode)  ? "a block device"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "not a file";
    return err_set(err,
                   "--out %s: exists and is %s (expected a new or a regular file; "
                   "nothing was written)",
                   path, what);
}

/* Every file the temp archive OUT.tmp.<pid> may have (the snapshot and its checksum, its
 * rebuild temp and lock, the parts folder with the unit's temp part, part, checksum and lock),
 * as paths computed before any is created: they are removed after the rename, on a fatal error
 * of rank 0 (comm_fatal's hook, before MPI_Abort) and when rank 0 is ended by SIGTERM (what the
 * launcher sends when another rank calls MPI_Abort), where only unlink and rmdir may run. */
#define TMP_FILES 8
static char g_tmp_file[TMP_FILES][4300], g_tmp_dir[4300];
static volatile sig_atomic_t g_tmp_armed;

static void tmp_remove(void)
{
    for (int i = 0; i < TMP_FILES; i++)
        if (g_tmp_file[i][0]) unlink(g_tmp_file[i]);
    if (g_tmp_dir[0]) rmdir(g_tmp_dir);
}

static void tmp_on_fatal(void *ctx, const char *where, const char *msg)
{
    (void)ctx;
    (void)where;
    (void)msg;
    if (g_tmp_armed) tmp_remove();
}

static void tmp_on_term(int sig)
{
    if (g_tmp_armed) tmp_remove();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Arms the clean-up of the temp archive `tmp` (rank 0, before it is created). */
static void tmp_arm(const char *tmp)
{
    static const char *const SUFFIX[TMP_FILES] = {"",
                                                  ".sha256",
                                                  ".tmp",
                                                  ".lock",
                                                  ".parts/trace.h5.tmp",
                                                  ".parts/trace.h5",
                                                  ".parts/trace.h5.sha256",
                                                  ".parts/trace.h5.lock"};
    for (int i = 0; i < TMP_FILES; i++)
        snprintf(g_tmp_file[i], sizeof g_tmp_file[i], "%s%s", tmp, SUFFIX[i]);
    snprintf(g_tmp_dir, sizeof g_tmp_dir, "%s.parts", tmp);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = tmp_on_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    comm_set_fatal_hook(tmp_on_fatal, NULL);
    g_tmp_armed = 1;
}

/* After the rename: what is left of the temp archive goes; the hooks are disarmed. */
static void tmp_done(void)
{
    g_tmp_armed = 0;
    comm_set_fatal_hook(NULL, NULL);
    signal(SIGTERM, SIG_DFL);
    g_tmp_file[0][0] = '\0'; /* OUT.tmp.<pid> itself is OUT now */
    tmp_remove();
}

int cmd_trace(int argc, char **argv)
{
    const char *model = NULL, *tokp = NULL, *out = NULL;
    const char **prompts = calloc((size_t)argc, sizeof *prompts);
    const char **objects = calloc((size_t)argc, sizeof *objects);
    int np = 0, no = 0, status = 1, stats = 0;
    char *cfg_text = NULL;
    runner_opts ro = runner_opts_default();
    intervention iv;
    mp_err err;
    runner r;
    prompt_set ps;
    arc_writer *w = NULL;
    arc_unit *u = NULL;
    long v;

    err_init(&err);
    intervention_init(&iv);
    prompt_set_init(&ps);
    memset(&r, 0, sizeof r);
    if (!prompts || !objects) {
        fprintf(stderr, "moeprobe trace: out of memory\n");
        goto done;
    }
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int irc = cli_parse_intervention(argc, argv, &i, &iv, &err);
        if (irc < 0) goto usage_err;
        if (irc > 0) continue;
        if (!strcmp(o, "--stats")) {
            stats = 1;
            continue;
        }
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            usage(stdout);
            status = 0;
            goto done;
        }
        if (!val) {
            err_set(&err, "unknown option or missing value: %s", o);
            goto usage_err;
        }
        i++;
        if (!strcmp(o, "--model"))
            model = val;
        else if (!strcmp(o, "--tokenizer"))
            tokp = val;
        else if (!strcmp(o, "--prompt"))
            prompts[np++] = val;
        else if (!strcmp(o, "--object"))
            objects[no++] = val;
        else if (!strcmp(o, "--out"))
            out = val;
        else if (!strcmp(o, "--batch-size")) {
            if (cli_parse_int(o, val, 1, 1 << 20, &v, &err) != 0) goto usage_err;
            ro.batch_size = (int)v;
        } else if (!strcmp(o, "--placement")) {
            if (ep_placement_parse(val, &ro.placement) != 0) {
                err_set(&err, "--placement \"%s\": expected contiguous or round_robin", val);
                goto usage_err;
            }
        } else {
            err_set(&err, "unknown option %s", o);
            goto usage_err;
        }
    }
    if (!model || !out || np == 0) {
        err_set(&err, "--model, --out and at least one --prompt are required");
        goto usage_err;
    }
    if (check_out(out, &err) != 0 || strlen(out) > 4000) {
        if (!err.msg[0]) err_set(&err, "--out: a path of at most 4000 bytes");
        goto usage_err;
    }
    if (no != 0 && no != np) {
        err_set(&err, "%d --object for %d --prompt: give one object per prompt or none", no, np);
        goto usage_err;
    }

    comm_init(&argc, &argv);
    ro.use_mpi = 1;
    if (runner_init(&r, model, tokp, &ro, &err) != 0) comm_fatal("trace", "%s", err.msg);
    if (fwd_check_intervention(&r.model, &iv, &err) != 0) comm_fatal("trace", "%s", err.msg);
    if (runner_prompts(&r, np, prompts, no ? objects : NULL, "--prompt", &ps, &err) != 0)
        comm_fatal("trace", "%s", err.msg);
    char tmp[4100];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", out, (long)getpid());
    if (r.rank == 0) {
        tmp_arm(tmp);
        arc_provenance prov = {0};
        prov.mpi_ranks = r.size;
        /* the model's identity, so that a report of the trace knows its architecture */
        char cp[4200];
        snprintf(cp, sizeof cp, "%s/config.json", model);
        cfg_text = cli_read_text(cp);
        prov.model_config_json = cfg_text;
        const char *slash = strrchr(model, '/');
        prov.model_name = slash && slash[1] ? slash + 1 : model;
        if (arc_writer_open(&w, tmp, &prov, NULL, &err) != 0 ||
            arc_unit_begin(w, "trace", &u, &err) != 0)
            comm_fatal("trace", "%s", err.msg);
    }
    trace_ctx tc = {&r, no > 0, u, 0, 0, NULL, NULL, prompts, no > 0 ? objects : NULL, np};
    hook_set hs;
    hook_set_init(&hs);
    hook_point all_pos[] = {HP_RESID_PRE,     HP_ATTN_OUT, HP_MLP_OUT,    HP_RESID_POST,
                            HP_ROUTER_LOGITS, HP_TOPK_IDX, HP_TOPK_WEIGHT};
    for (size_t i = 0; i < sizeof all_pos / sizeof *all_pos; i++)
        hook_request_all(&hs, all_pos[i], HOOK_POS_ALL);
    capture_request_attribution(&hs, &r.model);
    runner_job job = {0};
    job.ps = &ps;
    job.iv = &iv;
    job.hooks = &hs;
    job.on_sample = trace_sample;
    job.sample_ctx = &tc;
    if (no > 0) {
        job.on_batch = trace_batch;
        job.batch_ctx = &tc;
    }
    job.on_collect = trace_collect;
    job.collect_ctx = &tc;
    job.label = "trace";
    if (runner_map(&r, &job, &err) != 0) comm_fatal("trace", "%s", err.msg);
    trace_batch_free(&tc);
    if (stats) {
        runner_report(&r, stderr, NULL);
        report_placement(r.rank, r.size);
    }
    if (r.rank == 0) {
        if (arc_unit_commit(w, u, &err) != 0) comm_fatal("trace", "%s", err.msg);
        u = NULL;
        if (arc_writer_close(w, &err) != 0) {
            w = NULL;
            comm_fatal("trace", "%s", err.msg);
        }
        w = NULL;
        /* trace is one shot: the part is not needed once the snapshot holds it; OUT is checked
         * again right before the rename (something may have appeared there meanwhile) */
        if (check_out(out, &err) != 0 || arc_rename_snapshot(tmp, out, &err) != 0)
            comm_fatal("trace", "%s", err.msg); /* the hook removes the temp archive */
        tmp_done();
        printf("%s\n", out);
    }
    status = 0;
    goto done;
usage_err:
    fprintf(stderr, "moeprobe trace: %s (see moeprobe trace --help)\n", err.msg);
    status = 2;
done:
    arc_unit_abort(w, u);
    arc_writer_free(w);
    prompt_set_free(&ps);
    runner_free(&r);
    free(prompts);
    free(cfg_text);
    free(objects);
    comm_finalize();
    return status;
}
