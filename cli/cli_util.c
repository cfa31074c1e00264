/* cli_util.c — see cli_util.h. */
#include "cli/cli_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char CLI_INTERVENTION_HELP[] =
    "interventions (combinable):\n"
    "  --block L:E            block expert E of layer L (repeatable)\n"
    "  --block-mode MODE      router_logit (default: logit -inf before the softmax) or\n"
    "                         zero_output (route as usual, the expert's output counts 0)\n"
    "  --topk K               route only the top K experts (0 = none)\n"
    "  --keep-rank N          keep only the N-th ranked routed expert\n"
    "  --no-shared            drop the shared expert (qwen2moe)\n"
    "  --suppress-head L:H    z_h = 0 for head H of layer L at every position (repeatable)\n"
    "  --force-expert L:E     put expert E into the top-k of layer L at every position\n";

int cli_parse_int(const char *opt, const char *s, long lo, long hi, long *out, mp_err *err)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi)
        return err_set(err, "%s: \"%s\" is not an integer in %ld..%ld", opt, s, lo, hi);
    *out = v;
    return 0;
}

int cli_parse_pair(const char *opt, const char *s, mp_pair *out, mp_err *err)
{
    char *end = NULL;
    errno = 0;
    long a = strtol(s, &end, 10);
    if (end == s || *end != ':' || errno || a < 0 || a > 100000) goto bad;
    const char *t = end + 1;
    long b = strtol(t, &end, 10);
    if (end == t || *end || errno || b < 0 || b > 100000) goto bad;
    out->layer = (int)a;
    out->index = (int)b;
    return 0;
bad:
    return err_set(err, "%s \"%s\": expected LAYER:INDEX with non-negative integers", opt, s);
}

int cli_parse_intervention(int argc, char **argv, int *i, intervention *iv, mp_err *err)
{
    const char *o = argv[*i];
    const char *val = *i + 1 < argc ? argv[*i + 1] : NULL;
    long v;
    if (!strcmp(o, "--no-shared")) {
        iv->no_shared = 1;
        return 1;
    }
    int known = !strcmp(o, "--block") || !strcmp(o, "--block-mode") || !strcmp(o, "--topk") ||
                !strcmp(o, "--keep-rank") || !strcmp(o, "--suppress-head") ||
                !strcmp(o, "--force-expert");
    if (!known) return 0;
    if (!val) return err_set(err, "%s needs a value", o);
    (*i)++;
    if (!strcmp(o, "--block")) {
        if (iv->n_block >= IV_MAX_ITEMS) return err_set(err, "--block: at most %d", IV_MAX_ITEMS);
        return cli_parse_pair(o, val, &iv->block[iv->n_block++], err) == 0 ? 1 : -1;
    }
    if (!strcmp(o, "--block-mode")) {
        if (!strcmp(val, "router_logit"))
            iv->block_mode = BLOCK_ROUTER_LOGIT;
        else if (!strcmp(val, "zero_output"))
            iv->block_mode = BLOCK_ZERO_OUTPUT;
        else
            return err_set(err, "--block-mode \"%s\": expected router_logit or zero_output", val);
        return 1;
    }
    if (!strcmp(o, "--topk")) {
        if (cli_parse_int(o, val, 0, 1024, &v, err) != 0) return -1;
        iv->topk = (int)v;
        return 1;
    }
    if (!strcmp(o, "--keep-rank")) {
        if (cli_parse_int(o, val, 1, 1024, &v, err) != 0) return -1;
        iv->keep_rank = (int)v;
        return 1;
    }
    if (!strcmp(o, "--suppress-head")) {
        if (iv->n_suppress >= IV_MAX_ITEMS)
            return err_set(err, "--suppress-head: at most %d", IV_MAX_ITEMS);
        return cli_parse_pair(o, val, &iv->suppress_head[iv->n_suppress++], err) == 0 ? 1 : -1;
    }
    mp_pair p;
    if (cli_parse_pair(o, val, &p, err) != 0) return -1;
    iv->force_layer = p.layer;
    iv->force_expert = p.index;
    return 1;
}

char *cli_read_text(const char *path)
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
