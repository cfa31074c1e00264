/* cmd_tokenize.c — `moeprobe tokenize`: token ids of texts, exactly as Hugging Face
 * `tokenizers` encodes them (docs/interface.md). One output line per text, ids separated by
 * single spaces (an empty line for a text with no ids). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "pipeline/tokenizer/jsonl.h"
#include "pipeline/tokenizer/tokenizer.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: moeprobe tokenize --tokenizer FILE [--no-special] TEXT...\n"
               "       moeprobe tokenize --tokenizer FILE [--no-special] --stdin-jsonl\n"
               "\n"
               "Prints one line per TEXT: its token ids, space-separated, exactly as Hugging Face\n"
               "tokenizers encodes it with add_special_tokens=True.\n"
               "\n"
               "  --tokenizer FILE  a tokenizer.json (or a checkpoint folder holding one)\n"
               "  --no-special      add_special_tokens=False: no template tokens such as BOS\n"
               "  --stdin-jsonl     read the texts from stdin, one JSON string per line\n"
               "  --                the remaining arguments are texts, even if they start with --\n"
               "  --help            this text\n"
               "\n"
               "Exit status: 0 success, 1 failure (message on stderr), 2 usage error.\n");
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "moeprobe tokenize: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see moeprobe tokenize --help)\n");
    return 2;
}

/* Writes the ids of one text as a line. Returns 0, or -1 after printing a message. */
static int encode_line(const tokenizer *tok, const char *text, size_t len, int add_special,
                       const char *what, long index, char **line, size_t *line_cap)
{
    mp_err err;
    err_init(&err);
    int32_t *ids = NULL;
    size_t n = 0;
    if (tok_encode(tok, text, len, add_special, &ids, &n, &err)) {
        fprintf(stderr, "moeprobe tokenize: %s %ld: %s\n", what, index, err.msg);
        return -1;
    }
    size_t need = n * 12 + 2;
    if (need > *line_cap) {
        char *p = realloc(*line, need);
        if (!p) {
            free(ids);
            fprintf(stderr, "moeprobe tokenize: out of memory\n");
            return -1;
        }
        *line = p;
        *line_cap = need;
    }
    char *o = *line;
    for (size_t i = 0; i < n; i++) o += sprintf(o, i ? " %d" : "%d", ids[i]);
    *o++ = '\n';
    free(ids);
    if (fwrite(*line, 1, (size_t)(o - *line), stdout) != (size_t)(o - *line)) {
        fprintf(stderr, "moeprobe tokenize: cannot write to stdout\n");
        return -1;
    }
    return 0;
}

/* --stdin-jsonl: the line reader and parser are pipeline/tokenizer/jsonl.c (fuzzed). */
static int run_jsonl(const tokenizer *tok, int add_special)
{
    tok_jsonl r;
    char *line = NULL;
    size_t line_cap = 0;
    int rc = 0, got;
    mp_err err;
    err_init(&err);
    tok_jsonl_init(&r, stdin, "stdin");
    while ((got = tok_jsonl_next(&r, &err)) > 0)
        if (encode_line(tok, r.text, r.len, add_special, "stdin line", r.lineno, &line,
                        &line_cap)) {
            rc = 1;
            break;
        }
    if (got < 0) {
        fprintf(stderr, "moeprobe tokenize: %s\n", err.msg);
        rc = 1;
    }
    tok_jsonl_free(&r);
    free(line);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *path = NULL;
    int add_special = 1, jsonl = 0, ntext = 0, opts_done = 0;
    /* Options may come anywhere (as getopt permutes); "--" makes the rest texts. */
    char **texts = calloc((size_t)argc + 1, sizeof *texts);
    if (!texts) {
        fprintf(stderr, "moeprobe tokenize: out of memory\n");
        return 1;
    }
    int urc = -1;
    for (int i = 1; i < argc && urc < 0; i++) {
        char *a = argv[i];
        if (opts_done || a[0] != '-' || a[1] != '-') {
            texts[ntext++] = a;
        } else if (!strcmp(a, "--")) {
            opts_done = 1;
        } else if (!strcmp(a, "--help")) {
            usage(stdout);
            urc = 0;
        } else if (!strcmp(a, "--tokenizer")) {
            if (i + 1 >= argc)
                urc = usage_error("%s needs a FILE", a);
            else
                path = argv[++i];
        } else if (!strncmp(a, "--tokenizer=", 12)) {
            path = a + 12;
        } else if (!strcmp(a, "--no-special")) {
            add_special = 0;
        } else if (!strcmp(a, "--stdin-jsonl")) {
            jsonl = 1;
        } else {
            urc = usage_error("unknown option %s", a);
        }
    }
    if (urc < 0 && !path) urc = usage_error("%s", "--tokenizer FILE is required");
    if (urc < 0 && jsonl && ntext > 0)
        urc = usage_error("%s", "--stdin-jsonl reads texts from stdin; give no TEXT arguments");
    if (urc < 0 && !jsonl && ntext == 0)
        urc = usage_error("%s", "no TEXT given (or use --stdin-jsonl)");
    if (urc >= 0) {
        free(texts);
        return urc;
    }

    char *dir_file = NULL;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        size_t n = strlen(path) + sizeof "/tokenizer.json";
        dir_file = malloc(n);
        if (!dir_file) {
            fprintf(stderr, "moeprobe tokenize: out of memory\n");
            free(texts);
            return 1;
        }
        snprintf(dir_file, n, "%s/tokenizer.json", path);
        path = dir_file;
    }
    mp_err err;
    err_init(&err);
    tokenizer *tok = NULL;
    if (tok_load(&tok, path, &err)) {
        fprintf(stderr, "moeprobe tokenize: %s\n", err.msg);
        free(dir_file);
        free(texts);
        return 1;
    }
    int rc = 0;
    if (jsonl) {
        rc = run_jsonl(tok, add_special);
    } else {
        char *line = NULL;
        size_t line_cap = 0;
        for (int i = 0; i < ntext && !rc; i++)
            if (encode_line(tok, texts[i], strlen(texts[i]), add_special, "TEXT", (long)(i + 1),
                            &line, &line_cap))
                rc = 1;
        free(line);
    }
    if (fflush(stdout) != 0 && !rc) {
        fprintf(stderr, "moeprobe tokenize: cannot write to stdout\n");
        rc = 1;
    }
    tok_free(tok);
    free(dir_file);
    free(texts);
    return rc;
}
