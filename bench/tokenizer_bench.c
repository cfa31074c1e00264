/* tokenizer_bench.c — timing helper of bench/bench_tokenizer.sh (built by the script against
 * build/libmoeprobe.a; not part of moeprobe). Does exactly what bench/tokenizer_bench.py does
 * with Hugging Face tokenizers:
 *   load:   tok_load of FILE, REPEATS times (median);
 *   encode: tok_encode (add_special_tokens=True) of every prompt of PROMPTS.jsonl, one call
 *           per prompt, REPEATS passes (median of the pass times);
 * then writes the ids of the prompts to IDS_OUT (one line each) and prints
 * "load_s=... encode_s=... prompts=... ids=...". */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline/tokenizer/tokenizer.h"
#include "pipeline/util/monotonic.h"

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s TOKENIZER.json PROMPTS.jsonl REPEATS IDS_OUT\n", argv[0]);
        return 2;
    }
    int reps = atoi(argv[3]);
    if (reps < 1 || reps > 1000) reps = 5;
    /* prompts */
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    char **text = NULL, *line = NULL;
    size_t *len = NULL, np = 0, cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        json_t *j = json_loads(line, JSON_DECODE_ANY, NULL);
        if (!json_is_string(j)) {
            fprintf(stderr, "%s: line %zu is not a JSON string\n", argv[2], np + 1);
            return 1;
        }
        text = realloc(text, (np + 1) * sizeof *text);
        len = realloc(len, (np + 1) * sizeof *len);
        if (!text || !len) return 1;
        len[np] = json_string_length(j);
        text[np] = malloc(len[np] + 1);
        memcpy(text[np], json_string_value(j), len[np] + 1);
        np++;
        json_decref(j);
    }
    free(line);
    fclose(f);

    double *lt = calloc((size_t)reps, sizeof *lt), *et = calloc((size_t)reps, sizeof *et);
    mp_err err;
    err_init(&err);
    tokenizer *tok = NULL;
    for (int r = 0; r < reps; r++) {
        double t0 = monotonic_s();
        if (tok_load(&tok, argv[1], &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        lt[r] = monotonic_s() - t0;
        if (r + 1 < reps) tok_free(tok);
    }
    size_t total_ids = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = monotonic_s();
        total_ids = 0;
        for (size_t i = 0; i < np; i++) {
            int32_t *ids;
            size_t n;
            if (tok_encode(tok, text[i], len[i], 1, &ids, &n, &err)) {
                fprintf(stderr, "prompt %zu: %s\n", i + 1, err.msg);
                return 1;
            }
            total_ids += n;
            free(ids);
        }
        et[r] = monotonic_s() - t0;
    }
    FILE *o = fopen(argv[4], "w");
    if (!o) {
        perror(argv[4]);
        return 1;
    }
    for (size_t i = 0; i < np; i++) {
        int32_t *ids;
        size_t n;
        if (tok_encode(tok, text[i], len[i], 1, &ids, &n, &err)) return 1;
        for (size_t k = 0; k < n; k++) fprintf(o, k ? " %d" : "%d", ids[k]);
        fputc('\n', o);
        free(ids);
    }
    fclose(o);
    printf("load_s=%.6f encode_s=%.6f prompts=%zu ids=%zu\n", median(lt, reps), median(et, reps),
           np, total_ids);
    tok_free(tok);
    for (size_t i = 0; i < np; i++) free(text[i]);
    free(text);
    free(len);
    free(lt);
    free(et);
    return 0;
}
