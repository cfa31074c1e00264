/* h5cmp.c — test tool: compares every dataset and numeric attribute of archive A with B.
 * Floats: per dataset max|a-b| / max|b| <= rtol (default 1e-5); integers and strings: equal.
 * --ranked NAME: an integer dataset whose path contains NAME and that has a companion
 * PATH_score dataset, or a sibling named score (the tidy neuron_top{N}_ranking group), ([rows,
 * N] scores of [rows, N, ...] ids, best first: the neuron top-N lists) is compared as a ranking up to ties — where the ids at a position differ, each of the
 * two must sit in the other list at a position whose score equals its own within rtol of the
 * row's largest |score|, or, when missing from the other list, score like its last entry (a
 * tie at the cut). Arithmetic that differs in the last bits (another GEMM path, another rank
 * count) may order exact near-ties either way; anything else is a difference.
 * Both directions: an object or attribute of B that A lacks is a difference too ("MISSING"),
 * so a result that lost a dataset does not match; --subset compares only what A holds (a
 * snapshot or a completed part against the full reference).
 * Prints one line per difference and a summary "h5cmp: N datasets, worst rel diff X"; exit 0
 * when everything matches, 1 otherwise, 2 on usage or read errors (an unknown option, a
 * missing value or a bad number included: a typo must not turn a check off).
 * --bits: floats must be the same bits (same type, every byte equal; NaN payloads and the sign
 * of zero count) and --ranked lists the same order: what runs with different rank counts or
 * kernel paths must give (pipeline/ops/kern.h).
 *   h5cmp A.h5 B.h5 [--rtol X | --bits] [--skip NAME]... [--ranked NAME]... [--subset]
 *   (NAME: a part of a group, dataset or attribute path) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/archive.h"

static double rtol = 1e-5, worst = 0;
static int ndatasets = 0, nbad = 0;
static const char *skips[64], *ranked[16];
static int nskip = 0, nranked = 0, subset = 0, bits = 0;

static double get(const arc_array *a, size_t i)
{
    switch (a->type) {
    case ARC_F32: return ((const float *)a->data)[i];
    case ARC_F64: return ((const double *)a->data)[i];
    case ARC_I32: return ((const int32_t *)a->data)[i];
    case ARC_I64: return (double)((const int64_t *)a->data)[i];
    default: return 0;
    }
}

static void compare_arrays(const char *what, const arc_array *a, const arc_array *b)
{
    int fa = a->type == ARC_F32 || a->type == ARC_F64,
        fb = b->type == ARC_F32 || b->type == ARC_F64;
    if (a->ndim != b->ndim || a->count != b->count || (a->type != b->type && !(fa && fb))) {
        printf("DIFF %s: shape/type differ (%d dims %zu elems %s vs %d dims %zu elems %s)\n", what,
               a->ndim, a->count, arc_type_name(a->type), b->ndim, b->count,
               arc_type_name(b->type));
        nbad++;
        return;
    }
    if (a->type == ARC_STR) {
        for (size_t i = 0; i < a->count; i++)
            if (strcmp(((char **)a->data)[i], ((char **)b->data)[i])) {
                printf("DIFF %s: string %zu differs\n", what, i);
                nbad++;
                return;
            }
        return;
    }
    int is_float = a->type == ARC_F32 || a->type == ARC_F64;
    if (bits && is_float) {
        const size_t esz = a->type == ARC_F32 ? 4 : 8;
        size_t ndiff = 0, first = 0;
        if (a->type != b->type) {
            printf("DIFF %s: %s vs %s (--bits needs the same type)\n", what, arc_type_name(a->type),
                   arc_type_name(b->type));
            nbad++;
            return;
        }
        for (size_t i = 0; i < a->count; i++)
            if (memcmp((const char *)a->data + i * esz, (const char *)b->data + i * esz, esz) &&
                ndiff++ == 0)
                first = i;
        if (ndiff) {
            printf("DIFF %s: %zu of %zu elements differ in their bits, first %zu: %.9g vs %.9g\n",
                   what, ndiff, a->count, first, get(a, first), get(b, first));
            nbad++;
        }
        return;
    }
    double md = 0, mb = 0;
    for (size_t i = 0; i < a->count; i++) {
        double x = get(a, i), y = get(b, i);
        if (isnan(x) && isnan(y)) continue;
        double d = fabs(x - y);
        if (isnan(d)) d = INFINITY;
        if (d > md) md = d;
        if (fabs(y) > mb) mb = fabs(y);
        if (!is_float && d != 0) {
            printf("DIFF %s: integer element %zu: %.0f vs %.0f\n", what, i, x, y);
            nbad++;
            return;
        }
    }
    double rel = mb > 0 ? md / mb : md;
    if (rel > worst) worst = rel;
    if (rel > rtol) {
        printf("DIFF %s: max rel diff %.3g > %.3g\n", what, rel, rtol);
        nbad++;
    }
}

/* Position of id tuple `id` (c ints) in row r of x, -1 if absent. */
static int64_t find_id(const arc_array *x, int64_t r, int64_t N, int64_t c, const arc_array *from,
                       int64_t fr, int64_t fj)
{
    for (int64_t j = 0; j < N; j++) {
        int64_t k = 0;
        while (k < c &&
               get(x, (size_t)((r * N + j) * c + k)) == get(from, (size_t)((fr * N + fj) * c + k)))
            k++;
        if (k == c) return j;
    }
    return -1;
}

/* 1 if A's entry j of row r is placed in B consistently with its score (see --ranked). */
static int tie_ok(const arc_array *a, const arc_array *sa, const arc_array *b, int64_t r, int64_t N,
                  int64_t c, int64_t j, double tol)
{
    int64_t jb = find_id(b, r, N, c, a, r, j);
    double s = get(sa, (size_t)(r * N + j));
    double other = get(sa, (size_t)(r * N + (jb >= 0 ? jb : N - 1)));
    return fabs(s - other) <= tol;
}

static void compare_ranked(const char *what, const arc_array *a, const arc_array *b,
                           const arc_array *sa, const arc_array *sb)
{
    if (a->ndim < 2 || a->ndim != b->ndim || a->count != b->count || sa->ndim != 2 ||
        sa->count != sb->count || sa->shape[0] != a->shape[0] || sa->shape[1] != a->shape[1]) {
        compare_arrays(what, a, b); /* not a ranking of this shape: exact */
        return;
    }
    const int64_t n = a->shape[0], N = a->shape[1], c = (int64_t)a->count / (n * N);
    int64_t swaps = 0;
    for (int64_t r = 0; r < n; r++) {
        double mx = 0;
        for (int64_t j = 0; j < N; j++) {
            double v = fabs(get(sa, (size_t)(r * N + j)));
            if (v > mx) mx = v;
        }
        const double tol = rtol * mx + 1e-12;
        for (int64_t j = 0; j < N; j++) {
            int64_t k = 0;
            while (k < c &&
                   get(a, (size_t)((r * N + j) * c + k)) == get(b, (size_t)((r * N + j) * c + k)))
                k++;
            if (k == c) continue;
            if (!tie_ok(a, sa, b, r, N, c, j, tol) || !tie_ok(b, sb, a, r, N, c, j, tol)) {
                printf("DIFF %s: row %lld position %lld: the ids differ and their scores are not "
                       "tied (within %.3g)\n",
                       what, (long long)r, (long long)j, tol);
                nbad++;
                return;
            }
            swaps++;
        }
    }
    if (swaps)
        printf("TIES %s: %lld positions hold tied entries in another order\n", what,
               (long long)swaps);
}

static int is_ranked(const char *path)
{
    for (int i = 0; i < nranked; i++)
        if (strstr(path, ranked[i]) && !strstr(path, "_score")) return 1;
    return 0;
}

static int skipped(const char *path)
{
    for (int i = 0; i < nskip; i++)
        if (strstr(path, skips[i])) return 1;
    return 0;
}

/* Attributes that differ between two runs of the same work (times, hosts, rank counts, how the
 * run was started and where its inputs lie, the kernels' path with MOEPROBE_ISA, the build's
 * commit and dirty flag: tests/cli/arm_qemu.sh compares two builds). */
static int volatile_attr(const char *name)
{
    size_t n = strlen(name);
    return !strcmp(name, "created") || !strcmp(name, "updated") || strstr(name, "commit") ||
           !strcmp(name, "build_dirty") || !strcmp(name, "command_line") ||
           !strcmp(name, "kernel_isa") || !strcmp(name, "checkpoint") ||
           !strcmp(name, "relation_files") || !strcmp(name, "mpi_ranks") ||
           !strcmp(name, "hostname") || strstr(name, "seconds") ||
           (n >= 2 && !strcmp(name + n - 2, "_s"));
}

static int has_name(const arc_names *names, const char *name)
{
    for (size_t i = 0; i < names->n; i++)
        if (!strcmp(names->v[i], name)) return 1;
    return 0;
}

/* The other direction: what B holds at `path` and below that A lacks. */
static void walk_missing(arc_reader *ra, arc_reader *rb, const char *path)
{
    arc_names na = {0}, nb = {0};
    mp_err err;
    err_init(&err);
    if (arc_list_attrs(rb, path, &nb, &err) == 0 && arc_list_attrs(ra, path, &na, &err) == 0) {
        for (size_t i = 0; i < nb.n; i++) {
            char what[1024];
            snprintf(what, sizeof what, "%s@%s", path, nb.v[i]);
            if (skipped(what) || volatile_attr(nb.v[i]) || has_name(&na, nb.v[i])) continue;
            printf("MISSING %s: in B, not in A\n", what);
            nbad++;
        }
    }
    arc_names_free(&na);
    arc_names_free(&nb);
    if (arc_list(rb, path, ARC_NONE, &nb, &err) != 0) return;
    for (size_t i = 0; i < nb.n; i++) {
        char child[1024];
        snprintf(child, sizeof child, "%s%s%s", path, strcmp(path, "/") ? "/" : "", nb.v[i]);
        if (skipped(child) || !strcmp(child, "/units")) continue;
        arc_kind kb = arc_kind_of(rb, child), ka = arc_kind_of(ra, child);
        if (ka == ARC_NONE) {
            printf("MISSING %s: in B, not in A\n", child);
            nbad++;
        } else if (ka != kb) {
            printf("DIFF %s: a %s in A, a %s in B\n", child, ka == ARC_GROUP ? "group" : "dataset",
                   kb == ARC_GROUP ? "group" : "dataset");
            nbad++;
        } else if (kb == ARC_GROUP) {
            walk_missing(ra, rb, child);
        }
    }
    arc_names_free(&nb);
}

static void walk(arc_reader *ra, arc_reader *rb, const char *path)
{
    arc_names names = {0}, attrs = {0};
    mp_err err;
    err_init(&err);
    if (arc_list_attrs(ra, path, &attrs, &err) == 0) {
        for (size_t i = 0; i < attrs.n; i++) {
            char what[1024];
            arc_array x = {0}, y = {0};
            snprintf(what, sizeof what, "%s@%s", path, attrs.v[i]);
            if (skipped(what) || volatile_attr(attrs.v[i])) continue;
            if (arc_read_attr(ra, path, attrs.v[i], &x, &err) != 0 ||
                arc_read_attr(rb, path, attrs.v[i], &y, &err) != 0) {
                printf("DIFF %s: %s\n", what, err.msg);
                nbad++;
            } else {
                compare_arrays(what, &x, &y);
            }
            arc_array_free(&x);
            arc_array_free(&y);
        }
    }
    arc_names_free(&attrs);
    if (arc_list(ra, path, ARC_NONE, &names, &err) != 0) return;
    for (size_t i = 0; i < names.n; i++) {
        char child[1024];
        snprintf(child, sizeof child, "%s%s%s", path, strcmp(path, "/") ? "/" : "", names.v[i]);
        if (skipped(child) || !strcmp(child, "/units")) continue;
        if (arc_kind_of(ra, child) == ARC_GROUP) {
            if (arc_kind_of(rb, child) == ARC_GROUP) {
                walk(ra, rb, child);
            } else {
                printf("DIFF %s: a group in A, %s in B\n", child,
                       arc_kind_of(rb, child) == ARC_NONE ? "nothing" : "a dataset");
                nbad++;
            }
            continue;
        }
        arc_array x = {0}, y = {0};
        ndatasets++;
        char score[1040];
        snprintf(score, sizeof score, "%s_score", child);
        if (arc_kind_of(ra, score) != ARC_DATASET) /* tidy form: a group's layer, ..., score */
            snprintf(score, sizeof score, "%s/score", path);
        arc_array qa = {0}, qb = {0};
        if (arc_read(ra, child, &x, &err) != 0 || arc_read(rb, child, &y, &err) != 0) {
            printf("DIFF %s: %s\n", child, err.msg);
            nbad++;
        } else if (!bits && is_ranked(child) && x.type != ARC_F32 && x.type != ARC_F64 &&
                   arc_read(ra, score, &qa, &err) == 0 && arc_read(rb, score, &qb, &err) == 0) {
            compare_ranked(child, &x, &y, &qa, &qb);
        } else {
            compare_arrays(child, &x, &y);
        }
        arc_array_free(&qa);
        arc_array_free(&qb);
        arc_array_free(&x);
        arc_array_free(&y);
    }
    arc_names_free(&names);
}

int main(int argc, char **argv)
{
    arc_reader *ra = NULL, *rb = NULL;
    mp_err err;
    err_init(&err);
    static const char usage[] =
        "usage: h5cmp A.h5 B.h5 [--rtol X | --bits] [--skip PATH]... [--ranked NAME]... "
        "[--subset]\n";
    if (argc < 3 || argv[1][0] == '-' || argv[2][0] == '-') {
        fputs(usage, stderr);
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--subset")) {
            subset = 1;
            continue;
        }
        if (!strcmp(argv[i], "--bits")) {
            bits = 1;
            continue;
        }
        int known = !strcmp(argv[i], "--rtol") || !strcmp(argv[i], "--skip") ||
                    !strcmp(argv[i], "--ranked");
        if (!known) {
            fprintf(stderr, "h5cmp: unknown option \"%s\"\n%s", argv[i], usage);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "h5cmp: missing value: %s\n%s", argv[i], usage);
            return 2;
        }
        const char *v = argv[++i];
        if (!strcmp(argv[i - 1], "--rtol")) {
            char *end = NULL;
            rtol = strtod(v, &end);
            if (end == v || *end || !(rtol >= 0)) {
                fprintf(stderr, "h5cmp: --rtol \"%s\": expected a number >= 0\n", v);
                return 2;
            }
        } else if (!strcmp(argv[i - 1], "--skip")) {
            if (nskip == 64) {
                fprintf(stderr, "h5cmp: more than 64 --skip\n");
                return 2;
            }
            skips[nskip++] = v;
        } else {
            if (nranked == 16) {
                fprintf(stderr, "h5cmp: more than 16 --ranked\n");
                return 2;
            }
            ranked[nranked++] = v;
        }
    }
    if (arc_open_read(&ra, argv[1], &err) != 0 || arc_open_read(&rb, argv[2], &err) != 0) {
        fprintf(stderr, "h5cmp: %s\n", err.msg);
        return 2;
    }
    walk(ra, rb, "/");
    if (!subset) walk_missing(ra, rb, "/");
    printf("h5cmp: %d datasets, %d differences, worst rel diff %.3g\n", ndatasets, nbad, worst);
    arc_reader_close(ra);
    arc_reader_close(rb);
    return nbad ? 1 : 0;
}
