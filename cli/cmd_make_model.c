/* cmd_make_model.c — `moeprobe make-model`: writes a random-weight checkpoint of a config's
 * real shape (tools/make_model/make_model.h) for loader, memory and speed tests at full scale. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "tools/make_model/make_model.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: moeprobe make-model --config FILE --out DIR [--seed S] [--layers N]\n"
        "                           [--dtype bf16|f16|f32] [--shard-size SIZE]\n"
        "                           [--fused-experts] [--tokenizer FILE] [--force] [--quiet]\n\n"
        "Writes a random-weight checkpoint of FILE's real shape in the Hugging Face format:\n"
        "config.json, model-0000N-of-0000M.safetensors shards and model.safetensors.index.json\n"
        "(or one model.safetensors when it fits one shard). Norm weights are 1, all other\n"
        "weights normal-ish with std = initializer_range, deterministic in --seed.\n\n"
        "  --config FILE      a config.json (or a folder holding one)\n"
        "  --out DIR          output folder (created; must not hold a checkpoint unless --force)\n"
        "  --seed S           random seed (default 0)\n"
        "  --layers N         write N decoder layers instead of num_hidden_layers\n"
        "  --dtype T          bf16, f16 or f32 (default: the config's torch_dtype)\n"
        "  --shard-size SIZE  largest shard, e.g. 5GB (default), 500MB, 2GiB or bytes\n"
        "  --fused-experts    transformers-5 layout: mlp.experts.gate_up_proj [E,2I,H] and\n"
        "                     mlp.experts.down_proj [E,H,I] instead of per-expert tensors\n"
        "  --tokenizer FILE   copy FILE to DIR/tokenizer.json\n"
        "  --force            replace a checkpoint already in DIR\n"
        "  --quiet            no per-shard progress lines on stderr\n"
        "  --dry-run          print what would be written (parameters, bytes, shards), write\n"
        "                     nothing (--out is then optional)\n"
        "  --help             this text\n\n"
        "Exit status: 0 ok, 1 failure (message on stderr), 2 usage.\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!*s || *s == '-') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end) return -1;
    *out = v;
    return 0;
}

int cmd_make_model(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"out", required_argument, NULL, 'o'},
        {"seed", required_argument, NULL, 's'},
        {"layers", required_argument, NULL, 'l'},
        {"dtype", required_argument, NULL, 'd'},
        {"shard-size", required_argument, NULL, 'z'},
        {"fused-experts", no_argument, NULL, 'f'},
        {"tokenizer", required_argument, NULL, 't'},
        {"force", no_argument, NULL, 'F'},
        {"quiet", no_argument, NULL, 'q'},
        {"dry-run", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    mkm_opts o;
    mkm_opts_init(&o);
    o.progress = 1;
    int ch;
    uint64_t v;
    optind = 0;
    opterr = 0;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case 'c': o.config_path = optarg; break;
        case 'o': o.out_dir = optarg; break;
        case 's':
            if (parse_u64(optarg, &o.seed) != 0) {
                fprintf(stderr,
                        "moeprobe make-model: --seed '%s', expected a non-negative "
                        "integer\n",
                        optarg);
                return 2;
            }
            break;
        case 'l':
            if (parse_u64(optarg, &v) != 0 || v < 1 || v > 256) {
                fprintf(stderr,
                        "moeprobe make-model: --layers '%s', expected an integer from 1 "
                        "to 256\n",
                        optarg);
                return 2;
            }
            o.layers = (int)v;
            break;
        case 'd':
            if (dtype_parse_torch(optarg, &o.dtype) != 0) {
                fprintf(stderr, "moeprobe make-model: --dtype '%s', expected bf16, f16 or f32\n",
                        optarg);
                return 2;
            }
            o.dtype_set = 1;
            break;
        case 'z':
            if (mkm_parse_size(optarg, &o.shard_size) != 0) {
                fprintf(stderr,
                        "moeprobe make-model: --shard-size '%s', expected a size such as "
                        "5GB, 500MB, 2GiB or a byte count\n",
                        optarg);
                return 2;
            }
            break;
        case 'f': o.fused_experts = 1; break;
        case 't': o.tokenizer = optarg; break;
        case 'F': o.force = 1; break;
        case 'q': o.progress = 0; break;
        case 'n': o.dry_run = 1; break;
        case 'h': usage(stdout); return 0;
        case ':':
            fprintf(stderr, "moeprobe make-model: option %s needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "moeprobe make-model: unknown option '%s' (see --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "moeprobe make-model: unexpected argument '%s' (see --help)\n",
                argv[optind]);
        return 2;
    }
    if (!o.config_path || (!o.out_dir && !o.dry_run)) {
        fprintf(stderr, "moeprobe make-model: --config FILE and --out DIR are required (see "
                        "--help)\n");
        return 2;
    }
    mkm_stats st;
    mp_err err;
    err_init(&err);
    if (mkm_make(&o, &st, &err) != 0) {
        fprintf(stderr, "moeprobe make-model: %s\n", err.msg);
        return 1;
    }
    if (o.dry_run) {
        printf("plan: %d shard%s, %lld tensors, %lld parameters, %lld active per token, %llu "
               "bytes\n",
               st.n_shards, st.n_shards == 1 ? "" : "s", (long long)st.n_tensors,
               (long long)st.params, (long long)st.active_params,
               (unsigned long long)st.planned_bytes);
        return 0;
    }
    printf(
        "wrote %s: %d shard%s, %lld tensors, %lld parameters, %llu bytes in %.2f s (%.0f MB/s)\n",
        o.out_dir, st.n_shards, st.n_shards == 1 ? "" : "s", (long long)st.n_tensors,
        (long long)st.params, (unsigned long long)st.bytes, st.seconds,
        st.seconds > 0 ? (double)st.bytes / 1e6 / st.seconds : 0.0);
    return 0;
}
