/* problems.c — the problem list of config validation (collected, then sorted into
 * file order) and reading a config file into memory. */
#include "pipeline/config/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rcfg_problem(rcfg_probs *p, const char *file, int line, int col, const char *fmt, ...)
{
    char body[MP_ERR_LEN], line_text[MP_ERR_LEN + 300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    snprintf(line_text, sizeof line_text, "%s:%d:%d: %s", file, line, col, body);
    if (!p->count) snprintf(p->first, sizeof p->first, "%s", line_text);
    p->count++;
    rcfg_prob *v = realloc(p->v, p->count * sizeof *v);
    if (!v) return;
    p->v = v;
    v[p->count - 1] = (rcfg_prob){strdup(file), line, col, strdup(line_text)};
}

static const rcfg_prob *sort_base;

static int file_rank(const rcfg_prob *x)
{
    for (const rcfg_prob *q = sort_base;; q++)
        if (!strcmp(q->file ? q->file : "", x->file ? x->file : "")) return (int)(q - sort_base);
}

static int prob_cmp(const void *a, const void *b)
{
    const rcfg_prob *x = a, *y = b;
    int fx = file_rank(x), fy = file_rank(y);
    if (fx != fy) return fx - fy;
    if (x->line != y->line) return x->line - y->line;
    if (x->col != y->col) return x->col - y->col;
    return x < y ? -1 : x > y;
}

void rcfg_probs_finish(rcfg_probs *p)
{
    if (p->count && p->v) {
        /* rank files by first appearance before sorting moves entries */
        rcfg_prob *copy = malloc(p->count * sizeof *copy);
        if (copy) {
            memcpy(copy, p->v, p->count * sizeof *copy);
            sort_base = copy;
            qsort(p->v, p->count, sizeof *p->v, prob_cmp);
            sort_base = NULL;
            free(copy);
        }
        if (p->v[0].text) snprintf(p->first, sizeof p->first, "%s", p->v[0].text);
    }
    for (size_t i = 0; i < p->count && p->v; i++) {
        free(p->v[i].file);
        if (p->out && p->v[i].text) {
            char **m = realloc(p->out->msg, (p->out->n + 1) * sizeof *m);
            if (m) {
                p->out->msg = m;
                m[p->out->n++] = p->v[i].text;
                continue;
            }
        }
        free(p->v[i].text);
    }
    free(p->v);
    p->v = NULL;
}

void rcfg_problems_free(rcfg_problems *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) free(p->msg[i]);
    free(p->msg);
    p->msg = NULL;
    p->n = 0;
}

char *rcfg_read_file(const char *path, size_t *len, mp_err *err)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (!f) {
        err_set(err, "%s: cannot open config: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (n + 4097 > cap) {
            cap = cap ? 2 * cap : 8192;
            char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                err_set(err, "%s: out of memory", path);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, 4096, f);
        n += r;
        if (r < 4096) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        err_set(err, "%s: read error", path);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}
