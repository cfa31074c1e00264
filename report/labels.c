/* labels.c — names of the models in the report when several archives hold the same model: each is
 * labelled by the run-config keys whose values differ between them ("tiny-olmoe
 * [heads_experts.correlation=temporal]"), so that sentences comparing them stay readable, and the
 * differences are kept for the provenance section's table. The stored run config is the
 * effective YAML that rcfg_to_yaml_text writes (two-space indentation, flow lists that may wrap
 * onto deeper-indented lines), flattened here into "a.b" keys. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/internal.h"

typedef struct flat_kv {
    char key[128];
    char val[512];
} flat_kv;

/* The "a.b: value" pairs of the YAML text; returns the count (at most max). */
static size_t flatten(const char *y, flat_kv *kv, size_t max)
{
    char stack[8][64];
    int depth_of[8];
    int nst = 0;
    size_t n = 0;
    int last_indent = -1;
    while (y && *y) {
        const char *e = strchr(y, '\n');
        size_t len = e ? (size_t)(e - y) : strlen(y);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), y);
        y = e ? e + 1 : y + len;
        int ind = 0;
        while (line[ind] == ' ') ind++;
        const char *t = line + ind;
        if (!*t || *t == '#') continue;
        const char *colon = strstr(t, ":");
        int is_key = colon && (isalpha((unsigned char)*t) || *t == '_');
        for (const char *q = t; is_key && q < colon; q++)
            if (!isalnum((unsigned char)*q) && *q != '_') is_key = 0;
        if (!is_key || (colon[1] && colon[1] != ' ')) {
            /* continuation of a wrapped flow list */
            if (n && ind > last_indent) {
                size_t l = strlen(kv[n - 1].val);
                snprintf(kv[n - 1].val + l, sizeof kv[n - 1].val - l, " %s", t);
            }
            continue;
        }
        while (nst && depth_of[nst - 1] >= ind) nst--;
        char k[64];
        snprintf(k, sizeof k, "%.*s", (int)(colon - t), t);
        const char *v = colon + 1;
        while (*v == ' ') v++;
        last_indent = ind;
        if (!*v) {
            if (nst < 8) {
                snprintf(stack[nst], sizeof stack[nst], "%s", k);
                depth_of[nst++] = ind;
            }
            continue;
        }
        if (n >= max) continue;
        size_t o = 0;
        kv[n].key[0] = 0;
        for (int s = 0; s < nst; s++)
            o += (size_t)snprintf(kv[n].key + o, sizeof kv[n].key - o, "%s.", stack[s]);
        snprintf(kv[n].key + o, sizeof kv[n].key - o, "%s", k);
        snprintf(kv[n].val, sizeof kv[n].val, "%s", v);
        n++;
    }
    return n;
}

static const char *lookup(const flat_kv *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(kv[i].key, key)) return kv[i].val;
    return NULL;
}

/* Keys that differ by construction (where the run wrote) or list every model of a multi-model
 * run; they label only when nothing else differs. */
static int incidental(const char *k)
{
    return !strcmp(k, "out") || !strcmp(k, "models") || !strcmp(k, "relations") ||
           !strcmp(k, "relations_dir");
}

int rep_label_runs(rep_model *m, size_t n)
{
    enum { MAXKV = 256 };
    flat_kv *kv = calloc(n * MAXKV + 1, sizeof *kv);
    size_t *nk = calloc(n + 1, sizeof *nk);
    char **base = calloc(n + 1, sizeof *base);
    int rc = -1;
    if (!kv || !nk || !base) goto done;
    for (size_t i = 0; i < n; i++) {
        nk[i] = flatten(m[i].run_config_yaml, kv + i * MAXKV, MAXKV);
        if (!(base[i] = strdup(m[i].name))) goto done;
    }
    for (size_t i = 0; i < n; i++) {
        size_t grp[64], ng = 0;
        for (size_t j = 0; j < n && ng < 64; j++)
            if (!strcmp(base[i], base[j])) grp[ng++] = j;
        if (ng < 2) continue;
        /* the keys whose values differ within the group, in the order of archive i's config */
        char label[400], diff[600];
        size_t lo = 0, dl = 0;
        int shown = 0, pass_incidental;
        label[0] = diff[0] = 0;
        for (pass_incidental = 0; pass_incidental < 2 && !shown; pass_incidental++) {
            for (size_t a = 0; a < nk[i]; a++) {
                const flat_kv *e = &kv[i * MAXKV + a];
                if (incidental(e->key) != pass_incidental) continue;
                int differs = 0;
                for (size_t g = 0; g < ng; g++) {
                    const char *o = lookup(kv + grp[g] * MAXKV, nk[grp[g]], e->key);
                    differs |= !o || strcmp(o, e->val);
                }
                if (!differs) continue;
                if (shown < 3)
                    lo += (size_t)snprintf(label + lo, sizeof label - lo, "%s%s=%.24s",
                                           shown ? ", " : "", e->key, e->val);
                dl += (size_t)snprintf(diff + dl, sizeof diff - dl, "%s%s: %s", shown ? "; " : "",
                                       e->key, e->val);
                shown++;
                if (lo >= sizeof label - 1) lo = sizeof label - 1;
                if (dl >= sizeof diff - 1) dl = sizeof diff - 1;
            }
        }
        char *nn = NULL;
        if (shown) {
            if (asprintf(&nn, "%s [%s%s]", base[i], label, shown > 3 ? ", ..." : "") < 0) goto done;
        } else {
            size_t same = 0;
            for (size_t g = 0; g < ng && grp[g] <= i; g++) same++;
            if (same == 1) continue;
            if (asprintf(&nn, "%s (%zu)", base[i], same) < 0) goto done;
        }
        free(m[i].name);
        m[i].name = nn;
        free(m[i].run_diff);
        m[i].run_diff = shown ? strdup(diff) : NULL;
    }
    /* still equal (the same config twice): number them */
    for (size_t i = n; i-- > 1;) {
        int same = 1;
        for (size_t j = 0; j < i; j++) same += !strcmp(m[i].name, m[j].name);
        if (same == 1) continue;
        char *nn = NULL;
        if (asprintf(&nn, "%s (%d)", m[i].name, same) < 0) goto done;
        free(m[i].name);
        m[i].name = nn;
    }
    rc = 0;
done:
    for (size_t i = 0; base && i < n; i++) free(base[i]);
    free(base);
    free(kv);
    free(nk);
    return rc;
}
