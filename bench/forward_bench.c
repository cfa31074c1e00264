/* forward_bench.c — the moeprobe side of bench/bench_forward.sh: speed and memory of the capture
 * pass on a checkpoint, through the same runner the `capture` stage uses.
 *
 *   forward_bench peak [SECONDS]
 *       OpenBLAS sgemm's best rate (GFLOP/s) on 2048^3 and 4096x4096x2048 products with the
 *       default thread count: the FLOP ceiling of the machine (of a kernel path, with
 *       OPENBLAS_CORETYPE set to the matching core type); prints the core type that ran.
 *   forward_bench blas-core
 *       The core type OpenBLAS chose on its own (without OPENBLAS_CORETYPE).
 *   forward_bench run --model DIR --lre DIR [--max-samples M] [--batch B] [--mode M] [--mpi]
 *                     [--attr-samples S] [--attr-top N] [--brute S] [--ids FILE]
 *                     [--products FILE]
 *       Runs the prompts of every relation of --lre (first zero-shot template, at most M per
 *       relation, default all: 906 prompts), one runner pass per relation in batches of B per
 *       rank (default 64), as the capture stage does. --mode capture (default): the hook set
 *       of the capture stage (attribution inputs at the last position, router logits at every
 *       position), each sample's last-position capture pulled out as capture does; --mode
 *       eval: no hooks (the extra evaluation passes of block / heads_experts). The first
 *       relation runs once before as a warm-up (page faults of the memory-mapped weights).
 *       --attr-samples S: afterwards times attribution (top-N neurons over all layers,
 *       screened) on S samples, and brute force on the first --brute of them (0: none),
 *       checking that both give the same top-N (attribution runs on the first relation's first
 *       samples). --ids FILE: writes the prompts' token ids, one prompt per line, a blank line
 *       after each relation (the input of the Hugging Face side, bench/hf_forward.py).
 *       --products FILE (1 rank): writes the timed pass's weight products, one "T N K dtype"
 *       line each in call order (the input of bench/product_replay.c).
 *   Prints key=value lines on rank 0 (under mpirun: one `rank_*` line per rank). tokens_per_s
 *   is over the whole pass (wall time of every relation's runner_map, the capture extraction of
 *   on_sample included, the slowest rank's): the scope the Hugging Face side is timed over;
 *   forward_tokens_per_s over the forward calls alone. kernel_isa names the kernel path that ran
 *   (MOEPROBE_ISA, as `moeprobe --version` and the archives' provenance name it). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/attribution/sample_capture.h"
#include "pipeline/parallel/comm.h"
#include "pipeline/ops/ops.h"
#include "pipeline/config/relations.h"
#include "pipeline/runner/runner.h"
#include "pipeline/util/monotonic.h"

#include <cblas.h> /* last: its complex.h defines I, a field name above */

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
        double t_end = monotonic_s() + seconds / 2;
        while (monotonic_s() < t_end) {
            double t0 = monotonic_s();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c,
                        N);
            double g = 2.0 * M * N * K / (monotonic_s() - t0) / 1e9;
            if (g > best) best = g;
        }
        free(a);
        free(b);
        free(c);
    }
    /* the core type OpenBLAS chose (OPENBLAS_CORETYPE=Haswell caps it at AVX2 + FMA, the
     * ceiling of the avx2 kernel path on a CPU that has more) */
    printf("sgemm_peak_gflops=%.1f\nblas_threads=%d\nblas_core=%s\n", best, ops_blas_threads(),
           openblas_get_corename());
    return 0;
}

/* ---- the capture pass ---------------------------------------------------------------------- */

typedef struct bench_ctx {
    int capture;         /* pull out each sample's last-position capture */
    int attr_top, brute; /* attribution pass: top-N, brute-force samples */
    int64_t attr_first;  /* attribution on samples [attr_first, ...) of this pass */
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
        double t0 = monotonic_s();
        if (attr_sample_run(s->r->attr, &in, b->attr_top, 0, &res, err) != 0) goto fail;
        b->attr_s += monotonic_s() - t0;
        b->attr_n++;
        b->exact += res.neurons_exact;
        b->total += res.neurons_total;
        if (b->brute_n < b->brute) {
            t0 = monotonic_s();
            if (attr_sample_run(s->r->attr, &in, b->attr_top, 1, &ref, err) != 0) {
                attr_result_free(&res);
                goto fail;
            }
            b->brute_s += monotonic_s() - t0;
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

/* --products: one line per weight product of the timed pass (ops_set_product_observer) */
static void log_product(void *ctx, int64_t T, int64_t N, int64_t K, mp_dtype dtype)
{
    fprintf((FILE *)ctx, "%lld %lld %lld %s\n", (long long)T, (long long)N, (long long)K,
            dtype_name(dtype));
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

/* The prompts of every relation of lre_dir (first zero-shot template, at most max_samples per
 * relation, 0 = all), one prompt set per relation as the capture stage builds them. */
static int load_relations(runner *r, const char *lre_dir, int64_t max_samples, prompt_set **out,
                          size_t *n_out, mp_err *err)
{
    lre_set set = {0};
    int rc = -1;
    if (lre_load_dir(&set, lre_dir, err) != 0) return -1;
    prompt_set *sets = calloc(set.n, sizeof *sets);
    if (!sets) goto done;
    for (size_t i = 0; i < set.n; i++) {
        const lre_relation *rel = &set.rel[i];
        size_t n = rel->n_samples;
        if (max_samples > 0 && (size_t)max_samples < n) n = (size_t)max_samples;
        char **pr = calloc(n, sizeof *pr);
        const char **ob = calloc(n, sizeof *ob);
        int prc = pr && ob ? 0 : -1;
        for (size_t j = 0; prc == 0 && j < n; j++) {
            prc = lre_prompt(rel, LRE_ZS, 0, j, &pr[j], err);
            ob[j] = rel->samples[j].object;
        }
        if (prc == 0)
            prc = runner_prompts(r, (int64_t)n, (const char *const *)pr, ob, rel->path, &sets[i],
                                 err);
        for (size_t j = 0; pr && j < n; j++) free(pr[j]);
        free(pr);
        free(ob);
        if (prc != 0) {
            for (size_t j = 0; j < i; j++) prompt_set_free(&sets[j]);
            free(sets);
            goto done;
        }
    }
    *out = sets;
    *n_out = set.n;
    rc = 0;
done:
    lre_set_free(&set);
    return rc;
}

static int run(int argc, char **argv)
{
    const char *model = NULL, *lre = NULL, *mode = "capture", *ids_out = NULL, *prod_out = NULL;
    int64_t max_samples = 0;
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
        if (!strcmp(o, "--model"))
            model = v;
        else if (!strcmp(o, "--lre"))
            lre = v;
        else if (!strcmp(o, "--max-samples"))
            max_samples = atoll(v);
        else if (!strcmp(o, "--batch"))
            ro.batch_size = atoi(v);
        else if (!strcmp(o, "--mode"))
            mode = v;
        else if (!strcmp(o, "--ids"))
            ids_out = v;
        else if (!strcmp(o, "--products"))
            prod_out = v;
        else if (!strcmp(o, "--attr-samples"))
            attr_samples = atoi(v);
        else if (!strcmp(o, "--attr-top"))
            attr_top = atoi(v);
        else if (!strcmp(o, "--brute"))
            brute = atoi(v);
        else {
            fprintf(stderr, "forward_bench: unknown option %s\n", o);
            return 2;
        }
    }
    if (!model || !lre) {
        fprintf(stderr, "forward_bench run: --model and --lre are required\n");
        return 2;
    }
    if (prod_out && use_mpi) {
        fprintf(stderr, "forward_bench run: --products records one rank's products; drop --mpi\n");
        return 2;
    }
    if (use_mpi) comm_init(&argc, &argv);
    ro.use_mpi = use_mpi;
    runner r;
    prompt_set *sets = NULL;
    size_t n_rel = 0;
    mp_err err;
    err_init(&err);
    double t_load = monotonic_s();
    if (runner_init(&r, model, NULL, &ro, &err) != 0) comm_fatal("forward_bench", "%s", err.msg);
    t_load = monotonic_s() - t_load;
    if (load_relations(&r, lre, max_samples, &sets, &n_rel, &err) != 0)
        comm_fatal("forward_bench", "%s", err.msg);
    int64_t n_prompts = 0, ptok = 0, all_prompts = 0, all_tok = 0;
    for (size_t q = 0; q < n_rel; q++) {
        n_prompts += sets[q].n;
        for (int64_t i = 0; i < sets[q].n; i++) ptok += sets[q].len[i];
    }
    { /* tokens of the whole prompt set (all samples), for sweep estimates */
        prompt_set *all = NULL;
        size_t na = 0;
        if (load_relations(&r, lre, 0, &all, &na, &err) != 0)
            comm_fatal("forward_bench", "%s", err.msg);
        for (size_t q = 0; q < na; q++) {
            all_prompts += all[q].n;
            for (int64_t i = 0; i < all[q].n; i++) all_tok += all[q].len[i];
            prompt_set_free(&all[q]);
        }
        free(all);
    }
    if (ids_out && r.rank == 0) { /* the same token ids for the Hugging Face side */
        FILE *f = fopen(ids_out, "w");
        if (!f) comm_fatal("forward_bench", "cannot write %s", ids_out);
        for (size_t q = 0; q < n_rel; q++) {
            for (int64_t i = 0; i < sets[q].n; i++)
                for (int j = 0; j < sets[q].len[i]; j++)
                    fprintf(f, "%d%c", sets[q].ids[i][j], j + 1 == sets[q].len[i] ? '\n' : ' ');
            fprintf(f, "\n"); /* a blank line ends a relation */
        }
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

    /* warm-up: the first relation's prompts touch every weight page the rank uses */
    job.ps = &sets[0];
    double t_warm = monotonic_s();
    if (runner_map(&r, &job, &err) != 0) comm_fatal("forward_bench", "%s", err.msg);
    t_warm = monotonic_s() - t_warm;
    int rss_after_warm = rss_now_kb("VmRSS:");

    r.forward_s = 0;
    r.tokens = 0;
    ep_reset_stats(r.ep);
    fwd_timing t_before = *fwd_get_timing(r.fwd);
    struct timespec c0, c1;
    comm_barrier();
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    FILE *prod = NULL;
    if (prod_out) {
        if (!(prod = fopen(prod_out, "w")))
            comm_fatal("forward_bench", "cannot write %s", prod_out);
        ops_set_product_observer(log_product, prod);
    }
    double t0 = monotonic_s();
    for (size_t q = 0; q < n_rel; q++) { /* one pass per relation, as the capture stage runs */
        job.ps = &sets[q];
        if (runner_map(&r, &job, &err) != 0) comm_fatal("forward_bench", "%s", err.msg);
    }
    comm_barrier(); /* the pass ends when the slowest rank is done */
    double wall = monotonic_s() - t0;
    if (prod) {
        ops_set_product_observer(NULL, NULL);
        if (fclose(prod) != 0) comm_fatal("forward_bench", "cannot write %s", prod_out);
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    double cpu = (double)(c1.tv_sec - c0.tv_sec) + 1e-9 * (double)(c1.tv_nsec - c0.tv_nsec);
    const fwd_timing *tf = fwd_get_timing(r.fwd);
    const ep_stats *es = ep_get_stats(r.ep);

    /* per-rank figures to rank 0 */
    double mine[13] = {r.rank,
                       (double)r.tokens,
                       r.forward_s,
                       es->alltoall_s,
                       es->compute_s,
                       tf->attention_s - t_before.attention_s,
                       tf->experts_s - t_before.experts_s,
                       tf->moe_route_s - t_before.moe_route_s,
                       tf->lm_head_s - t_before.lm_head_s,
                       0,
                       0,
                       (double)rss_after_warm * 1024,
                       cpu};
    const mcfg *c = &r.model.cfg;
    int64_t owned = 0;
    double ebytes = 0;
    for (int e = 0; e < c->num_experts; e++) owned += ep_is_local(r.ep, e);
    for (int l = 0; l < c->num_hidden_layers; l++)
        for (int e = 0; e < c->num_experts; e++)
            if (ep_is_local(r.ep, e)) ebytes += (double)model_expert_bytes(&r.model, l, e);
    mine[9] = (double)owned;
    mine[10] = ebytes;

    /* attribution on the first samples of the first relation */
    if (attr_samples > 0) {
        prompt_set few = sets[0];
        few.n = attr_samples < sets[0].n ? attr_samples : sets[0].n;
        bc.attr_top = attr_top;
        bc.brute = brute;
        job.ps = &few;
        if (runner_map(&r, &job, &err) != 0) comm_fatal("forward_bench", "%s", err.msg);
    }
    int peak_kb = rss_now_kb("VmHWM:");
    double mine2[8] = {
        (double)peak_kb * 1024, bc.attr_s,           (double)bc.attr_n, bc.brute_s,
        (double)bc.brute_n,     (double)bc.mismatch, (double)bc.exact,  (double)bc.total};
    void *all = NULL, *all2 = NULL;
    size_t *lens = NULL, *lens2 = NULL;
    comm_gather_bytes(mine, sizeof mine, &all, &lens, 0);
    comm_gather_bytes(mine2, sizeof mine2, &all2, &lens2, 0);
    if (r.rank == 0) {
        const double *v = all, *v2 = all2;
        double tok = 0, fw = 0, a2a = 0, ex_tot = 0, cpu_all = 0;
        for (int i = 0; i < r.size; i++) {
            tok += v[i * 13 + 1];
            if (v[i * 13 + 2] > fw) fw = v[i * 13 + 2];
            a2a += v[i * 13 + 3];
            cpu_all += v[i * 13 + 12];
        }
        for (int l = 0; l < c->num_hidden_layers; l++)
            for (int e = 0; e < c->num_experts; e++)
                ex_tot += (double)model_expert_bytes(&r.model, l, e);
        int64_t P = model_param_count(&r.model), Pa = model_active_param_count(&r.model);
        int64_t emb = c->vocab_size * c->hidden_size;
        int tied = r.model.lm_head.data == r.model.embed_tokens.data;
        /* matmul parameters per token: active minus the embedding lookup, with lm_head charged
         * once per prompt (logits at the last position only) */
        double pa_tok =
            (double)(Pa - emb - (tied ? 0 : emb)) + (double)emb * (double)n_prompts / (double)ptok;
        /* the same split of the forward time per token: layers vs the rest (lm_head, embedding,
         * final norm), to extrapolate to the full depth */
        double layer_s = 0;
        for (int i = 0; i < r.size; i++)
            if (v[i * 13 + 2] == fw) layer_s = fw - v[i * 13 + 8];
        printf("model=%s\nlayers=%d\nranks=%d\nrelations=%zu\nprompts=%lld\ntokens=%.0f\n"
               "tokens_per_prompt=%.2f\nbatch=%d\nmode=%s\nthreads=%d\nload_s=%.2f\n"
               "warmup_s=%.2f\nwall_s=%.3f\nforward_s=%.3f\nlayers_s=%.3f\ncpu_s=%.3f\n"
               "tokens_per_s=%.2f\nforward_tokens_per_s=%.2f\nalltoall_share=%.4f\n"
               "params=%lld\nactive_params=%lld\n"
               "matmul_params_per_token=%.0f\nexpert_bytes_total=%.0f\nsweep_prompts=%lld\n"
               "sweep_tokens_per_prompt=%.3f\n",
               model, c->num_hidden_layers, r.size, n_rel, (long long)n_prompts, tok,
               (double)ptok / (double)n_prompts, ro.batch_size, mode, ops_blas_threads(), t_load,
               t_warm, wall, fw, layer_s, cpu_all, wall > 0 ? tok / wall : 0.0,
               fw > 0 ? tok / fw : 0.0, fw > 0 ? a2a / r.size / fw : 0.0, (long long)P,
               (long long)Pa, pa_tok, ex_tot, (long long)all_prompts,
               (double)all_tok / (double)(all_prompts > 0 ? all_prompts : 1));
        char paths[64];
        const char *env_isa = getenv("MOEPROBE_ISA");
        ops_isa_list(paths, sizeof paths);
        printf("kernel_isa=%s\nkernel_paths=%s\nisa_env=%s\n", ops_isa(), paths,
               env_isa && *env_isa ? env_isa : "-");
        for (int i = 0; i < r.size; i++) {
            const double *x = v + i * 13, *y = v2 + i * 8;
            printf("rank_%d=tokens:%.0f forward_s:%.3f alltoall_s:%.3f expert_compute_s:%.3f "
                   "attention_s:%.3f experts_s:%.3f route_s:%.3f lm_head_s:%.3f "
                   "experts_owned:%.0f expert_bytes:%.0f rss_after_warmup:%.0f peak_rss:%.0f "
                   "cpu_s:%.3f\n",
                   (int)x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9], x[10], x[11],
                   y[0], x[12]);
        }
        double as = 0, an = 0, bs = 0, bn = 0, mm = 0, ex = 0, nt = 0, prss = 0;
        for (int i = 0; i < r.size; i++) {
            const double *y = v2 + i * 8;
            if (y[0] > prss) prss = y[0];
            as += y[1];
            an += y[2];
            bs += y[3];
            bn += y[4];
            mm += y[5];
            ex += y[6];
            nt += y[7];
        }
        printf("peak_rss_max=%.0f\n", prss);
        if (an > 0)
            printf("attr_samples=%.0f\nattr_s_per_sample=%.3f\nattr_exact_per_sample=%.0f\n"
                   "attr_neurons_per_sample=%.0f\n",
                   an, as / an, ex / an, nt / an);
        if (bn > 0)
            printf("brute_samples=%.0f\nbrute_s_per_sample=%.3f\nbrute_mismatch=%.0f\n", bn,
                   bs / bn, mm);
        fflush(stdout);
    }
    free(all);
    free(lens);
    free(all2);
    free(lens2);
    for (size_t q = 0; q < n_rel; q++) prompt_set_free(&sets[q]);
    free(sets);
    runner_free(&r);
    if (use_mpi) comm_finalize();
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "peak")) return peak(argc > 2 ? atof(argv[2]) : 4.0);
    if (argc >= 2 && !strcmp(argv[1], "blas-core")) return puts(openblas_get_corename()) < 0;
    if (argc >= 2 && !strcmp(argv[1], "run")) return run(argc, argv);
    fprintf(stderr,
            "usage: forward_bench peak [SECONDS] | blas-core | run --model DIR --lre DIR [...]\n");
    return 2;
}
