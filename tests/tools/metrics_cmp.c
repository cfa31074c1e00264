/* metrics_cmp.c — test tool: compares the metrics/<relation> groups of a moeprobe archive with
 * a fixture ref (the fixtures' refs/<model>.h5): every attribute of the ref present in the
 * archive must agree within 1e-6 (n exactly), every dataset (top_experts) exactly. Prints one
 * line per relation: "PASS <label>/<rel>" or "FAIL <label>/<rel>: ..." and a summary line
 * "INFO <label>: N values compared, M missing, worst |diff| X".
 *   metrics_cmp ARCHIVE.h5 REF.h5 LABEL [--require PREFIX]...
 * --require NAME makes an attribute or dataset of the ref mandatory (NAME* : any with that
 * prefix). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/archive.h"

static int matches(const char *pat, const char *name)
{
    size_t n = strlen(pat);
    if (n && pat[n - 1] == '*') return !strncmp(pat, name, n - 1);
    return !strcmp(pat, name);
}

int main(int argc, char **argv)
{
    arc_reader *a = NULL, *r = NULL;
    arc_names rels = {0};
    mp_err err;
    const char *req[32];
    int nreq = 0, failed = 0;
    long compared = 0, missing = 0;
    double worst = 0;
    err_init(&err);
    if (argc < 4) {
        fprintf(stderr, "usage: metrics_cmp ARCHIVE.h5 REF.h5 LABEL [--require PREFIX]...\n");
        return 2;
    }
    for (int i = 4; i < argc; i += 2) {
        /* an unknown or incomplete option is an error: a typo must not drop a requirement */
        if (strcmp(argv[i], "--require") || i + 1 >= argc || nreq == 32) {
            fprintf(stderr,
                    "metrics_cmp: bad option \"%s\" (expected --require NAME, at most 32)\n",
                    argv[i]);
            return 2;
        }
        req[nreq++] = argv[i + 1];
    }
    if (arc_open_read(&a, argv[1], &err) != 0 || arc_open_read(&r, argv[2], &err) != 0 ||
        arc_list(r, "/metrics", ARC_GROUP, &rels, &err) != 0) {
        printf("FAIL %s: %s\n", argv[3], err.msg);
        return 1;
    }
    for (size_t i = 0; i < rels.n; i++) {
        char g[512], why[1024] = "";
        arc_names at = {0}, ds = {0};
        snprintf(g, sizeof g, "/metrics/%s", rels.v[i]);
        if (arc_kind_of(a, g) != ARC_GROUP) {
            printf("FAIL %s/%s: no group %s in %s\n", argv[3], rels.v[i], g, argv[1]);
            failed++;
            continue;
        }
        arc_list_attrs(r, g, &at, &err);
        for (size_t j = 0; j < at.n; j++) {
            double x, y;
            int must = 0;
            for (int q = 0; q < nreq; q++) must |= matches(req[q], at.v[j]);
            if (!arc_has_attr(a, g, at.v[j])) {
                missing++;
                if (must && !why[0]) snprintf(why, sizeof why, "attribute %s missing", at.v[j]);
                continue;
            }
            if (arc_read_attr_f64(r, g, at.v[j], &y, &err) != 0 ||
                arc_read_attr_f64(a, g, at.v[j], &x, &err) != 0) {
                snprintf(why, sizeof why, "%s", err.msg);
                continue;
            }
            double d = fabs(x - y);
            compared++;
            if (d > worst) worst = d;
            double tol = !strcmp(at.v[j], "n") ? 0 : 1e-6;
            if (d > tol && !why[0]) snprintf(why, sizeof why, "%s = %.9g, ref %.9g", at.v[j], x, y);
        }
        arc_list(r, g, ARC_DATASET, &ds, &err);
        for (size_t j = 0; j < ds.n; j++) {
            char p[600];
            arc_array x = {0}, y = {0};
            snprintf(p, sizeof p, "%s/%s", g, ds.v[j]);
            if (arc_kind_of(a, p) != ARC_DATASET) {
                missing++;
                for (int q = 0; q < nreq; q++)
                    if (matches(req[q], ds.v[j]) && !why[0])
                        snprintf(why, sizeof why, "dataset %s missing", ds.v[j]);
                continue;
            }
            arc_read(a, p, &x, &err);
            arc_read(r, p, &y, &err);
            compared++;
            int same = x.count == y.count;
            for (size_t q = 0; same && q < x.count; q++) {
                double xv =
                    x.type == ARC_I64 ? (double)((int64_t *)x.data)[q] : ((int32_t *)x.data)[q];
                double yv =
                    y.type == ARC_I64 ? (double)((int64_t *)y.data)[q] : ((int32_t *)y.data)[q];
                same = xv == yv;
            }
            if (!same && !why[0]) snprintf(why, sizeof why, "dataset %s differs", ds.v[j]);
            arc_array_free(&x);
            arc_array_free(&y);
        }
        if (why[0]) {
            printf("FAIL %s/%s: %s\n", argv[3], rels.v[i], why);
            failed++;
        } else {
            printf("PASS %s/%s\n", argv[3], rels.v[i]);
        }
        arc_names_free(&at);
        arc_names_free(&ds);
    }
    printf("INFO %s: %ld values compared, %ld of the ref not in the archive, worst |diff| %.3g\n",
           argv[3], compared, missing, worst);
    arc_names_free(&rels);
    arc_reader_close(a);
    arc_reader_close(r);
    return failed ? 1 : 0;
}
