/* forward_bench.c — the moeprobe side of bench/bench_forward.sh: speed and memory of the capture
 * pass on a checkpoint, through the same runner the `capture` stage uses.
 *
 *   forward_bench peak [SECONDS]
 *       OpenBLAS sgemm's best rate (GFLOP/s) on 2048^3 and 4096x4096x2048 products with the
 *       default thread count: the FLOP ceiling of the machine.
 *   forward_bench run --model DIR --lre DIR [--prompts N] [--batch B] [--mode M] [--mpi]
 *                     [--attr-samples S] [--attr-top N] [--brute S] [--ids FILE]
 *       Runs N prompts (spread evenly over the relations of --lre, first zero-shot template,
 *       default all 906) in batches of B per rank (default 64). --mode capture (default): the
 *       hook set of the capture stage (attribution inputs at the last position, router logits
 *       at every position), each sample's last-position capture pulled out as capture does;
 *       --mode eval: no hooks (the extra evaluation passes of block / heads_experts).
 *       A warm-up batch runs first (page faults of the memory-mapped weights are not counted).
 *       --attr-samples S: afterwards times attribution (top-N neurons over all layers,
 *       screened) on S samples, and brute force on the first --brute of them (0: none),
 *       checking that both give the same top-N. --ids FILE: writes the prompts' token ids, one
 *       prompt per line (the input of the Hugging Face side, bench/hf_forward.py).
 *   Prints key=value lines on rank 0 (under mpirun: one `rank_*` line per rank). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/capture.h"
#include "pipeline/comm.h"
#include "pipeline/ops.h"
#include "pipeline/relations.h"
#include "pipeline/runner.h"

#include <cblas.h> /* last: its complex.h defines I, a field name above */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int peak(double seconds)
{
    const int shapes[2][3] = {{2048, 2048, 2048}, {4096, 4096, 2048}};
    double best = 0;
    for (int s = 0; s < 2; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *a = malloc((size_t)M * K * sizeof *a), *b = malloc((size_t)N * K * sizeof *b);
        float *c = malloc((size_t)M * N * sizeof *c);
        if (!a || !b || !c) return 1;
        for (size_t i = 0; i < (size_t)M * K; i++) a[i] = (float)(i % 17) * 0.01f;
        for (size_t i = 0; i < (size_t)N * K; i++) b[i] = (float)(i % 13) * 0.01f;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
        double t_end = now_s() + seconds / 2;
        while (now_s() < t_end) {
            double t0 = now_s();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f,
                        c, N);
            double g = 2.0 * M * N * K / (now_s() - t0) / 1e9;
            if (g > best) best = g;
        }
        free(a); free(b); free(c);
    }
    printf("sgemm_peak_gflops=%.1f\nblas_threads=%d\n", best, ops_blas_threads());
    return 0;
}

/* ---- the capture pass ---------------------------------------------------------------------- */

typedef struct bench_ctx {
    int capture;          /* pull out each sample's last-position capture */
    int attr_top, brute;  /* attribution pass: top-N, brute-force samples */
    int64_t attr_first;   /* attribution on samples [attr_first, ...) of this pass */
    double attr_s, brute_s;
    int64_t attr_n, brute_n, mismatch, exact, total;
} bench_ctx;

static int on_sample(void *vctx, const runner_sample *s, blob *out, mp_err *err)
{
    bench_ctx *b = vctx;
    const prompt_set *ps = s->ps;
    sample_capture cap;
    (void)out;
    if (!b->capture) return 0;
    if (capture_last(&s->r->model, s->store, s->sample, ps->len[s->sample] - 1, &cap, err) != 0)
        return -1;
    if (b->attr_top > 0) {
        attr_sample in;
        attr_result res, ref;
        capture_attr_input(&cap, ps->target[s->sample], &in);
        double t0 = now_s();
        if (attr_sample_run(s->r->attr, &in, b->attr_top, 0, &res, err) != 0) goto fail;
        b->attr_s += now_s() - t0;
        b->attr_n++;
        b->exact += res.neurons_exact;
        b->total += res.neurons_total;
        if (b->brute_n < b->brute) {
            t0 = now_s();
            if (attr_sample_run(s->r->attr, &in, b->attr_top, 1, &ref, err) != 0) {
                attr_result_free(&res);
                goto fail;
            }
            b->brute_s += now_s() - t0;
            b->brute_n++;
            for (int i = 0; i < res.n_top && i < ref.n_top; i++)
                if (memcmp(res.neuron + 3 * i, ref.neuron + 3 * i, 3 * sizeof *res.neuron) &&
                    fabs(res.neuron_score[i] - ref.neuron_score[i]) >
                        1e-6 * fabs(ref.neuron_score[i]))
                    b->mismatch++;
            if (res.n_top != ref.n_top) b->mismatch++;
            attr_result_free(&ref);
        }
        attr_result_free(&res);
    }
    capture_free(&cap);
    return 0;
fail:
    capture_free(&cap);
    return -1;
}

static int rss_now_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int kb = -1;
    size_t kl = strlen(key);
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl)) {
            kb = atoi(line + kl + 1);
            break;
        }
    fclose(f);
    return kb;
}

/* Prompts of every relation (template 0), then every k-th of them so that n remain. */
static int load_prompts(runner *r, const char *lre_dir, int64_t want, prompt_set *ps,
                        mp_err *err)
{
    lre_set set = {0};
    char **pr = NULL;
    const char **ob = NULL;
    size_t total = 0, q = 0;
    int rc = -1;
    if (lre_load_dir(&set, lre_dir, err) != 0) return -1;
    for (size_t i = 0; i < set.n; i++) total += set.rel[i].n_samples;
    pr = calloc(total, sizeof *pr);
    ob = calloc(total, sizeof *ob);
    if (!pr || !ob) goto done;
    for (size_t i = 0; i < set.n; i++)
        for (size_t j = 0; j < set.rel[i].n_samples; j++, q++) {
            if (lre_prompt(&set.rel[i], LRE_ZS, 0, j, &pr[q], err) != 0) goto done;
            ob[q] = set.rel[i].samples[j].object;
        }
    if (want <= 0 || (size_t)want > total) want = (int64_t)total;
    /* keep want of them, evenly spaced */
    for (int64_t i = 0; i < want; i++) {
        size_t src = (size_t)((double)i * (double)total / (double)want);
        char *tmp = pr[i];
        pr[i] = pr[src];
        pr[src] = tmp;
        ob[i] = ob[src];
    }
    rc = runner_prompts(r, want, (const char *const *)pr, ob, lre_dir, ps, err);
done:
    for (size_t i = 0; pr && i < total; i++) free(pr[i]);
    free(pr);
    free(ob);
    lre_set_free(&set);
    return rc;
}

static int run(int argc, char **argv)
{
    const char *model = NULL, *lre = NULL, *mode = "capture", *ids_out = NULL;
    int64_t n_prompts = 0;
    int attr_samples = 0, attr_top = 100, brute = 0, use_mpi = 0;
    runner_opts ro = runner_opts_default();
    ro.batch_size = 64;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--mpi")) {
            use_mpi = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "forward_bench: %s needs a value\n", o);
            return 2;
        }
        i++;
        if (!strcmp(o, "--model")) model = v;
        else if (!strcmp(o, "--lre")) lre = v;
        else if (!strcmp(o, "--prompts")) n_prompts = atoll(v);
        else if (!strcmp(o, "--batch")) ro.batch_size = atoi(v);
        else if (!strcmp(o, "--mode")) mode = v;
        else if (!strcmp(o, "--ids")) ids_out = v;
        else if (!strcmp(o, "--attr-samples")) attr_samples = atoi(v);
        else if (!strcmp(o, "--attr-top")) attr_top = atoi(v);
        else if (!strcmp(o, "--brute")) brute = atoi(v);
        else {
            fprintf(stderr, "forward_bench: unknown option %s\n", o);
            return 2;
        }
    }
    if (!model || !lre) {
        fprintf(stderr, "forward_bench run: --model and --lre are required\n");
        return 2;
    }
    if (use_mpi) comm_init(&argc, &argv);
    ro.use_mpi = use_mpi;
    runner r;
    prompt_set ps;
    mp_err err;
    err_init(&err);
    prompt_set_init(&ps);
    double t_load = now_s();
    if (runner_init(&r, model, NULL, &ro, &err) != 0) comm_fatal("forward_bench", "%s", err.msg);
    t_load = now_s() - t_load;
    if (load_prompts(&r, lre, n_prompts, &ps, &err) != 0)
        comm_fatal("forward_bench", "%s", err.msg);
    if (ids_out && r.rank == 0) { /* the same token ids for the Hugging Face side */
        FILE *f = fopen(ids_out, "w");
        if (!f) comm_fatal("forward_bench", "cannot write %s", ids_out);
        for (int64_t i = 0; i < ps.n; i++)
            for (int j = 0; j < ps.len[i]; j++)
                fprintf(f, "%d%c", ps.ids[i][j], j + 1 == ps.len[i] ? '\n' : ' ');
        fclose(f);
    }
    int capture = strcmp(mode, "eval") != 0;
    hook_set hs;
    hook_set_init(&hs);
    if (capture) {
        capture_request_attribution(&hs, &r.model);
        if (r.model.cfg.num_experts > 0) hook_request_all(&hs, HP_ROUTER_LOGITS, HOOK_POS_ALL);
    }
    bench_ctx bc = {0};
    bc.capture = capture;
    runner_job job = {0};
    job.hooks = &hs;
    job.on_sample = on_sample;
    job.sample_ctx = &bc;
    job.quiet = 1;
    job.label = "forward_bench";

    /* warm-up: one batch per rank touches every weight page the rank uses */
    prompt_set warm = ps;
    warm.n = ps.n < (int64_t)ro.batch_size * r.size ? ps.n : (int64_t)ro.batch_size * r.size;
    job.ps = &warm;
    double t_warm = now_s();
    if (runner_map(&r, &job, &err) != 0) comm_fatal("forward_bench", "%s", err.msg);
    t_warm = now_s() - t_warm;
    int rss_after_warm = rss_now_kb("VmRSS:");

    r.forward_s = 0;
    r.tokens = 0;
    ep_reset_stats(r.ep);
    fwd_timing t_before = *fwd_get_timing(r.fwd);
    job.ps = &ps;
    comm_barrier();
    double t0 = now_s();
    if (runner_map(&r, &job, &err) != 0) comm_fatal("forward_bench", "%s", err.msg);
    double wall = now_s() - t0;
    const fwd_timing *tf = fwd_get_timing(r.fwd);
    const ep_stats *es = ep_get_stats(r.ep);

    /* per-rank figures to rank 0 */
    double mine[12] = {r.rank, (double)r.tokens, r.forward_s, es->alltoall_s, es->compute_s,
                       tf->attention_s - t_before.attention_s,
                       tf->experts_s - t_before.experts_s,
                       tf->moe_route_s - t_before.moe_route_s,
                       tf->lm_head_s - t_before.lm_head_s, 0, 0,
                       (double)rss_after_warm * 1024};
    const mcfg *c = &r.model.cfg;
    int64_t owned = 0;
    double ebytes = 0;
    for (int e = 0; e < c->num_experts; e++) owned += ep_is_local(r.ep, e);
    for (int l = 0; l < c->num_hidden_layers; l++)
        for (int e = 0; e < c->num_experts; e++)
            if (ep_is_local(r.ep, e)) ebytes += (double)model_expert_bytes(&r.model, l, e);
    mine[9] = (double)owned;
    mine[10] = ebytes;

    /* attribution on the first samples of this rank */
    if (attr_samples > 0) {
        prompt_set few = ps;
        few.n = attr_samples < ps.n ? attr_samples : ps.n;
        bc.attr_top = attr_top;
        bc.brute = brute;
        job.ps = &few;
        if (runner_map(&r, &job, &err) != 0) comm_fatal("forward_bench", "%s", err.msg);
    }
    int peak_kb = rss_now_kb("VmHWM:");
    double mine2[8] = {(double)peak_kb * 1024, bc.attr_s, (double)bc.attr_n, bc.brute_s,
                       (double)bc.brute_n, (double)bc.mismatch, (double)bc.exact,
                       (double)bc.total};
    void *all = NULL, *all2 = NULL;
    size_t *lens = NULL, *lens2 = NULL;
    comm_gather_bytes(mine, sizeof mine, &all, &lens, 0);
    comm_gather_bytes(mine2, sizeof mine2, &all2, &lens2, 0);
    if (r.rank == 0) {
        const double *v = all, *v2 = all2;
        double tok = 0, fw = 0, a2a = 0, ex_tot = 0;
        int64_t ptok = 0;
        for (int64_t i = 0; i < ps.n; i++) ptok += ps.len[i];
        for (int i = 0; i < r.size; i++) {
            tok += v[i * 12 + 1];
            if (v[i * 12 + 2] > fw) fw = v[i * 12 + 2];
            a2a += v[i * 12 + 3];
        }
        for (int l = 0; l < c->num_hidden_layers; l++)
            for (int e = 0; e < c->num_experts; e++)
                ex_tot += (double)model_expert_bytes(&r.model, l, e);
        int64_t P = model_param_count(&r.model), Pa = model_active_param_count(&r.model);
        int64_t emb = c->vocab_size * c->hidden_size;
        int tied = r.model.lm_head.data == r.model.embed_tokens.data;
        /* matmul parameters per token: active minus the embedding lookup, with lm_head charged
         * once per prompt (logits at the last position only) */
        double pa_tok = (double)(Pa - emb - (tied ? 0 : emb)) + (double)emb * ps.n / (double)ptok;
        printf("model=%s\nlayers=%d\nranks=%d\nprompts=%lld\ntokens=%.0f\ntokens_per_prompt=%.2f\n"
               "batch=%d\nmode=%s\nblas_threads=%d\nload_s=%.2f\nwarmup_s=%.2f\nwall_s=%.3f\n"
               "forward_s=%.3f\ntokens_per_s=%.2f\nalltoall_share=%.4f\nparams=%lld\n"
               "active_params=%lld\nmatmul_params_per_token=%.0f\nexpert_bytes_total=%.0f\n",
               model, c->num_hidden_layers, r.size, (long long)ps.n, tok,
               (double)ptok / (double)ps.n, ro.batch_size, mode, ops_blas_threads(), t_load,
               t_warm, wall, fw, fw > 0 ? tok / fw : 0.0,
               fw > 0 ? a2a / r.size / fw : 0.0, (long long)P, (long long)Pa, pa_tok, ex_tot);
        for (int i = 0; i < r.size; i++) {
            const double *x = v + i * 12, *y = v2 + i * 8;
            printf("rank_%d=tokens:%.0f forward_s:%.3f alltoall_s:%.3f expert_compute_s:%.3f "
                   "attention_s:%.3f experts_s:%.3f route_s:%.3f lm_head_s:%.3f experts_owned:%.0f "
                   "expert_bytes:%.0f rss_after_warmup:%.0f peak_rss:%.0f\n",
                   (int)x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9], x[10], x[11],
                   y[0]);
        }
        double as = 0, an = 0, bs = 0, bn = 0, mm = 0, ex = 0, nt = 0, prss = 0;
        for (int i = 0; i < r.size; i++) {
            const double *y = v2 + i * 8;
            if (y[0] > prss) prss = y[0];
            as += y[1]; an += y[2]; bs += y[3]; bn += y[4]; mm += y[5]; ex += y[6]; nt += y[7];
        }
        printf("peak_rss_max=%.0f\n", prss);
        if (an > 0)
            printf("attr_samples=%.0f\nattr_s_per_sample=%.3f\nattr_exact_per_sample=%.0f\n"
                   "attr_neurons_per_sample=%.0f\n", an, as / an, ex / an, nt / an);
        if (bn > 0)
            printf("brute_samples=%.0f\nbrute_s_per_sample=%.3f\nbrute_mismatch=%.0f\n", bn,
                   bs / bn, mm);
        fflush(stdout);
    }
    free(all); free(lens); free(all2); free(lens2);
    prompt_set_free(&ps);
    runner_free(&r);
    if (use_mpi) comm_finalize();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "peak")) return peak(argc > 2 ? atof(argv[2]) : 4.0);
    if (argc >= 2 && !strcmp(argv[1], "run")) return run(argc, argv);
    fprintf(stderr, "usage: forward_bench peak [SECONDS] | run --model DIR --lre DIR [...]\n");
    return 2;
}
