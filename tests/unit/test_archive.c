/* test_archive.c — the crash-safe HDF5 archive: write units, commit, snapshot, read back,
 * resume, group/attribute merging and conflicts, bad parts, simulated crashes (a forked child
 * SIGKILLs itself mid-stream, before commit and at every commit/snapshot step), write errors
 * (file size limit as a stand-in for a full disk) and unwritable folders.
 * `test_archive --make-sample FILE` writes a small archive for tests/cli/archive_h5py.sh;
 * `test_archive --make-ranked DIR` the archives of tests/cli/h5cmp_ranked.sh. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>

#include "pipeline/archive/archive.h"
#include "pipeline/util/atomic_file.h"
#include "pipeline/util/monotonic.h"
#include "tests/unit/check.h"

static int n_warnings;
static char last_warning[MP_ERR_LEN];

static void count_warn(void *ctx, const char *msg)
{
    (void)ctx;
    n_warnings++;
    snprintf(last_warning, sizeof last_warning, "%s", msg);
}

static arc_options quiet_opts(void)
{
    arc_options o = arc_options_default();
    o.warn = count_warn;
    return o;
}

static const arc_provenance PROV = {.model_config_json = "{\"model_type\": \"olmoe\"}",
                                    .run_config_yaml = "model: m\nrelations: r\nout: o\n",
                                    .mpi_ranks = 2};

/* Deterministic payloads so any reader can recompute them. */
static float val_f(int unit, int64_t i)
{
    return (float)(unit * 1000000 + i) * 0.5f;
}

/* Writes unit `id` with a stream of `rows` rows of [4, 8] floats, a few small datasets and
 * attributes on metrics/<rel>; kill_after_rows >= 0 SIGKILLs after that many rows. */
static int write_unit(arc_writer *w, const char *id, int tag, int rows, const char *rel,
                      int kill_after_rows, arc_unit **uout, mp_err *err)
{
    arc_unit *u = NULL;
    arc_stream *s = NULL;
    char path[256];
    int64_t row_shape[2] = {4, 8};
    const char *dims[3] = {"sample", "layer", "hidden"};
    float buf[32];
    if (arc_unit_begin(w, id, &u, err) != 0) return -1;
    snprintf(path, sizeof path, "capture/%s/u%d/resid_pre", rel, tag);
    if (arc_stream_open(u, path, ARC_F32, 3, row_shape, dims, &s, err) != 0) goto fail;
    for (int r = 0; r < rows; r++) {
        for (int k = 0; k < 32; k++) buf[k] = val_f(tag, (int64_t)r * 32 + k);
        if (arc_stream_append(s, 1, buf, err) != 0) goto fail;
        if (kill_after_rows >= 0 && r + 1 == kill_after_rows) kill(getpid(), SIGKILL);
    }
    int32_t ids[5] = {tag, 1, 2, 3, 4};
    int64_t n5 = 5;
    snprintf(path, sizeof path, "capture/%s/u%d/input_ids", rel, tag);
    if (arc_write(u, path, ARC_I32, 1, &n5, NULL, ids, err) != 0) goto fail;
    snprintf(path, sizeof path, "metrics/%s", rel);
    char an[32];
    snprintf(an, sizeof an, "value_u%d", tag);
    if (arc_attr_f64(u, path, an, tag + 0.25, err) != 0) goto fail;
    *uout = u;
    return 0;
fail:
    arc_unit_abort(w, u);
    return -1;
}

/* Checks that unit `tag`'s data in the archive at path reads back exactly. */
static int unit_intact(const char *archive, int tag, int rows, const char *rel, char *why,
                       size_t wlen)
{
    arc_reader *r = NULL;
    arc_array a = {0};
    mp_err e;
    char path[256], an[32];
    int ok = 0;
    double v = 0;
    err_init(&e);
    if (arc_open_read(&r, archive, &e) != 0) {
        snprintf(why, wlen, "%s", e.msg);
        return 0;
    }
    snprintf(path, sizeof path, "capture/%s/u%d/resid_pre", rel, tag);
    if (arc_read(r, path, &a, &e) != 0) {
        snprintf(why, wlen, "%s", e.msg);
        goto done;
    }
    if (a.type != ARC_F32 || a.ndim != 3 || a.shape[0] != rows || a.shape[1] != 4 ||
        a.shape[2] != 8 || strcmp(a.dim_names[0], "sample") || strcmp(a.dim_names[2], "hidden")) {
        snprintf(why, wlen, "resid_pre of unit %d: type %d shape [%lld,%lld,%lld] dims %s/%s", tag,
                 a.type, (long long)a.shape[0], (long long)a.shape[1], (long long)a.shape[2],
                 a.dim_names[0], a.dim_names[2]);
        goto done;
    }
    for (size_t i = 0; i < a.count; i++)
        if (((float *)a.data)[i] != val_f(tag, (int64_t)i)) {
            snprintf(why, wlen, "resid_pre of unit %d: element %zu is %g, expected %g", tag, i,
                     ((float *)a.data)[i], val_f(tag, (int64_t)i));
            goto done;
        }
    arc_array_free(&a);
    snprintf(path, sizeof path, "capture/%s/u%d/input_ids", rel, tag);
    if (arc_read(r, path, &a, &e) != 0 || a.type != ARC_I32 || a.count != 5 ||
        ((int32_t *)a.data)[0] != tag) {
        snprintf(why, wlen, "input_ids of unit %d: %s", tag, e.set ? e.msg : "wrong values");
        goto done;
    }
    snprintf(path, sizeof path, "metrics/%s", rel);
    snprintf(an, sizeof an, "value_u%d", tag);
    if (arc_read_attr_f64(r, path, an, &v, &e) != 0 || v != tag + 0.25) {
        snprintf(why, wlen, "attribute %s of unit %d: %s", an, tag, e.set ? e.msg : "wrong");
        goto done;
    }
    ok = 1;
done:
    arc_array_free(&a);
    arc_reader_close(r);
    return ok;
}

static int names_has(const arc_names *n, const char *s)
{
    for (size_t i = 0; i < n->n; i++)
        if (!strcmp(n->v[i], s)) return 1;
    return 0;
}

/* ---- basic write / read ----------------------------------------------------------------- */

static void test_basic(const char *dir)
{
    char path[512];
    arc_writer *w = NULL;
    arc_unit *u = NULL;
    arc_reader *r = NULL;
    arc_array a = {0};
    arc_names names = {0};
    mp_err e;
    err_init(&e);
    snprintf(path, sizeof path, "%s/basic/out/tiny.h5", dir);
    arc_options o = quiet_opts();
    int ok = arc_writer_open(&w, path, &PROV, &o, &e) == 0;
    CHECK(ok, "archive.open_creates_folders", "%s", e.msg);
    if (!ok) return;

    /* unit 1: capture with all types */
    ok = arc_unit_begin(w, "capture/adj_antonym", &u, &e) == 0;
    float f[6] = {1.5f, -2, 3, 4, 5, 6.25f};
    double d[3] = {0.1, 0.2, 1e300};
    int64_t l[2] = {-1, (int64_t)1 << 40};
    const char *strs[3] = {"The opposite of love is", "Bras\\u00edlia", "\xc3\xa9t\xc3\xa9"};
    int64_t s23[2] = {2, 3}, s3 = 3, s2 = 2;
    const char *dn[2] = {"sample", "layer"};
    ok = ok && arc_write(u, "capture/adj_antonym/x", ARC_F32, 2, s23, dn, f, &e) == 0;
    ok = ok && arc_write(u, "capture/adj_antonym/d", ARC_F64, 1, &s3, NULL, d, &e) == 0;
    ok = ok && arc_write(u, "capture/adj_antonym/l", ARC_I64, 1, &s2, NULL, l, &e) == 0;
    ok = ok && arc_write(u, "capture/adj_antonym/prompts", ARC_STR, 1, &s3, NULL, strs, &e) == 0;
    int32_t sc = 42;
    ok = ok && arc_write(u, "capture/adj_antonym/target_id", ARC_I32, 0, NULL, NULL, &sc, &e) == 0;
    /* a large dataset (chunked + compressed) */
    int64_t big[2] = {300, 1000};
    float *bf = malloc(sizeof(float) * 300000);
    for (int i = 0; i < 300000; i++) bf[i] = (float)(i % 977) * 0.125f;
    const char *dbig[2] = {"row", "column"}; /* one length per name in a group (scales.c) */
    ok = ok && arc_write(u, "capture/adj_antonym/big", ARC_F32, 2, big, dbig, bf, &e) == 0;
    /* stream of strings */
    arc_stream *ss = NULL;
    ok = ok &&
         arc_stream_open(u, "capture/adj_antonym/objects", ARC_STR, 1, NULL, NULL, &ss, &e) == 0;
    ok = ok && arc_stream_append(ss, 2, strs, &e) == 0 &&
         arc_stream_append(ss, 1, strs + 2, &e) == 0;
    ok = ok && arc_stream_rows(ss) == 3;
    ok = ok && arc_attr_str(u, "/", "run_label", "tiny-olmoe", &e) == 0;
    ok = ok && arc_attr_f64(u, "capture/adj_antonym/x", "scale", 0.5, &e) == 0;
    ok = ok && arc_attr_f64(u, "capture/adj_antonym/seconds", "capture", 1.25, &e) == 0;
    CHECK(ok, "archive.write_all_types", "%s", e.msg);
    /* errors inside a unit */
    CHECK(arc_write(u, "capture/adj_antonym/x", ARC_F32, 2, s23, dn, f, &e) == -1 &&
              strstr(e.msg, "already exists"),
          "archive.write_existing_is_error", "%s", e.msg);
    CHECK(arc_write(u, "units/x", ARC_F32, 2, s23, dn, f, &e) == -1 && strstr(e.msg, "reserved"),
          "archive.units_name_reserved", "%s", e.msg);
    CHECK(arc_write(u, "a//b", ARC_F32, 2, s23, dn, f, &e) == -1 &&
              arc_write(u, "a/../b", ARC_F32, 2, s23, dn, f, &e) == -1,
          "archive.bad_paths_rejected", "%s", e.msg);
    CHECK(arc_attr_str(u, "/", "git_commit", "x", &e) == -1 &&
              arc_attr_i64(u, "metrics/a", "moeprobe_unit_complete", 1, &e) == -1,
          "archive.reserved_attrs_rejected", "%s", e.msg);
    const char *nulls[2] = {"a", NULL};
    CHECK(arc_write(u, "capture/adj_antonym/nulls", ARC_STR, 1, &s2, NULL, nulls, &e) == -1,
          "archive.null_string_rejected", "%s", e.msg);
    ok = arc_unit_commit(w, u, &e) == 0;
    u = NULL;
    CHECK(ok, "archive.commit", "%s", e.msg);

    /* unit 2 and 3 write into the same groups (metrics/<rel>, analyses/<rel>) */
    ok = arc_unit_begin(w, "evaluate/adj_antonym", &u, &e) == 0;
    ok = ok && arc_attr_f64(u, "metrics/adj_antonym", "hit10", 0.71, &e) == 0;
    ok = ok && arc_attr_i64(u, "metrics/adj_antonym", "n", 100, &e) == 0;
    ok = ok && arc_attr_f64(u, "metrics/adj_antonym", "shared", 1.0, &e) == 0;
    ok = ok &&
         arc_attr_f64_array(u, "analyses/adj_antonym/summary", "ffn_gain_curve", 3, d, &e) == 0;
    ok = ok && arc_attr_i64_array(u, "analyses/adj_antonym/summary", "empty", 0, NULL, &e) == 0;
    ok = ok && arc_unit_commit(w, u, &e) == 0;
    ok = ok && arc_unit_begin(w, "block/adj_antonym", &u, &e) == 0;
    int32_t te[6] = {0, 1, 2, 3, 4, 5};
    ok = ok && arc_attr_f64(u, "metrics/adj_antonym", "mrr_block1", 0.66, &e) == 0;
    ok = ok && arc_attr_f64(u, "metrics/adj_antonym", "shared", 1.0, &e) == 0; /* same value */
    ok = ok && arc_write(u, "metrics/adj_antonym/top_experts", ARC_I32, 2, s23, NULL, te, &e) == 0;
    ok = ok && arc_unit_commit(w, u, &e) == 0;
    CHECK(ok, "archive.commit_shared_groups", "%s", e.msg);
    CHECK(n_warnings == 0, "archive.same_value_attr_no_warning", "%d warnings: %s", n_warnings,
          last_warning);
    const char *const *ids;
    size_t nu = arc_writer_units(w, &ids);
    CHECK(nu == 3 && !strcmp(ids[0], "capture/adj_antonym") && !strcmp(ids[2], "block/adj_antonym"),
          "archive.units_in_commit_order", "%zu units", nu);
    arc_stats st = arc_writer_stats(w);
    CHECK(st.snapshots == 3 && st.last_snapshot_bytes > 0, "archive.snapshot_each_commit",
          "%d snapshots", st.snapshots);
    printf("INFO archive snapshot of 3 units (%lld bytes) took %.4f s\n",
           (long long)st.last_snapshot_bytes, st.last_snapshot_s);
    ok = arc_writer_close(w, &e) == 0;
    w = NULL;
    CHECK(ok, "archive.close", "%s", e.msg);

    /* read back */
    ok = arc_open_read(&r, path, &e) == 0;
    CHECK(ok, "archive.open_read", "%s", e.msg);
    if (!ok) goto done;
    ok = arc_read(r, "capture/adj_antonym/x", &a, &e) == 0 && a.type == ARC_F32 && a.ndim == 2 &&
         a.shape[0] == 2 && a.shape[1] == 3 && !memcmp(a.data, f, sizeof f) &&
         !strcmp(a.dim_names[0], "sample") && !strcmp(a.dim_names[1], "layer");
    CHECK(ok, "archive.read_f32_with_dims", "%s", e.msg);
    arc_array_free(&a);
    ok = arc_read(r, "capture/adj_antonym/d", &a, &e) == 0 && a.type == ARC_F64 &&
         !memcmp(a.data, d, sizeof d) && a.dim_names[0][0] == '\0';
    arc_array_free(&a);
    ok = ok && arc_read(r, "capture/adj_antonym/l", &a, &e) == 0 && a.type == ARC_I64 &&
         !memcmp(a.data, l, sizeof l);
    arc_array_free(&a);
    ok = ok && arc_read(r, "capture/adj_antonym/target_id", &a, &e) == 0 && a.ndim == 0 &&
         a.count == 1 && *(int32_t *)a.data == 42;
    arc_array_free(&a);
    CHECK(ok, "archive.read_f64_i64_scalar", "%s", e.msg);
    ok = arc_read(r, "capture/adj_antonym/prompts", &a, &e) == 0 && a.type == ARC_STR &&
         a.count == 3;
    for (int i = 0; ok && i < 3; i++) ok = !strcmp(((char **)a.data)[i], strs[i]);
    arc_array_free(&a);
    ok = ok && arc_read(r, "capture/adj_antonym/objects", &a, &e) == 0 && a.count == 3 &&
         !strcmp(((char **)a.data)[2], strs[2]);
    arc_array_free(&a);
    CHECK(ok, "archive.read_strings_exact", "%s", e.msg);
    ok = arc_read(r, "capture/adj_antonym/big", &a, &e) == 0 && a.count == 300000 &&
         !memcmp(a.data, bf, 300000 * sizeof(float));
    arc_array_free(&a);
    ok = ok && arc_read_rows(r, "capture/adj_antonym/big", 299, 1, &a, &e) == 0 &&
         a.shape[0] == 1 && a.shape[1] == 1000 && !memcmp(a.data, bf + 299000, 4000);
    arc_array_free(&a);
    CHECK(ok, "archive.read_big_and_rows", "%s", e.msg);
    CHECK(arc_read_rows(r, "capture/adj_antonym/big", 299, 2, &a, &e) == -1 &&
              strstr(e.msg, "out of range"),
          "archive.read_rows_out_of_range", "%s", e.msg);
    CHECK(arc_read(r, "nope/x", &a, &e) == -1 && strstr(e.msg, "no dataset"),
          "archive.read_missing_is_error", "%s", e.msg);
    double v = 0;
    int64_t n = 0;
    char *s = NULL;
    ok = arc_read_attr_f64(r, "metrics/adj_antonym", "hit10", &v, &e) == 0 && v == 0.71 &&
         arc_read_attr_i64(r, "metrics/adj_antonym", "n", &n, &e) == 0 && n == 100 &&
         arc_read_attr_f64(r, "metrics/adj_antonym", "mrr_block1", &v, &e) == 0 && v == 0.66 &&
         arc_kind_of(r, "metrics/adj_antonym/top_experts") == ARC_DATASET &&
         arc_kind_of(r, "analyses/adj_antonym/summary") == ARC_GROUP &&
         arc_kind_of(r, "analyses/nothing") == ARC_NONE;
    CHECK(ok, "archive.merged_groups_and_attrs", "%s", e.msg);
    ok = arc_read_attr(r, "analyses/adj_antonym/summary", "ffn_gain_curve", &a, &e) == 0 &&
         a.type == ARC_F64 && a.count == 3 && ((double *)a.data)[2] == 1e300;
    arc_array_free(&a);
    ok = ok && arc_read_attr(r, "analyses/adj_antonym/summary", "empty", &a, &e) == 0 &&
         a.count == 0 && a.type == ARC_I64;
    arc_array_free(&a);
    CHECK(ok, "archive.attr_arrays", "%s", e.msg);
    CHECK(arc_read_attr_i64(r, "metrics/adj_antonym", "hit10", &n, &e) == -1,
          "archive.attr_float_as_int_is_error", "%s", e.msg);
    ok = arc_read_attr_str(r, "/", "model_config_json", &s, &e) == 0 &&
         !strcmp(s, PROV.model_config_json);
    free(s);
    ok = ok && arc_read_attr_str(r, "/", "run_config_yaml", &s, &e) == 0 &&
         !strcmp(s, PROV.run_config_yaml);
    free(s);
    ok = ok && arc_read_attr_str(r, "/", "moeprobe_version", &s, &e) == 0 && s[0];
    free(s);
    ok = ok && arc_read_attr_i64(r, "/", "mpi_ranks", &n, &e) == 0 && n == 2 &&
         arc_read_attr_i64(r, "/", "units_complete", &n, &e) == 0 && n == 3 &&
         arc_has_attr(r, "/", "created") && arc_has_attr(r, "/", "updated") &&
         arc_has_attr(r, "/", "hostname") && !arc_has_attr(r, "/", "moeprobe_unit_complete");
    ok = ok && arc_read_attr_str(r, "/", "run_label", &s, &e) == 0 && !strcmp(s, "tiny-olmoe");
    free(s);
    CHECK(ok, "archive.root_provenance", "%s", e.msg);
    ok = arc_list(r, "/units", ARC_GROUP, &names, &e) == 0 && names.n == 3 &&
         names_has(&names, "capture%2Fadj_antonym");
    arc_names_free(&names);
    ok = ok && arc_read_attr_str(r, "/units/block%2Fadj_antonym", "unit_id", &s, &e) == 0 &&
         !strcmp(s, "block/adj_antonym");
    free(s);
    ok = ok && arc_read_attr_f64(r, "/units/block%2Fadj_antonym", "seconds", &v, &e) == 0 && v >= 0;
    CHECK(ok, "archive.units_group", "%s", e.msg);
    ok = arc_list(r, "/", ARC_NONE, &names, &e) == 0 && names.n == 4 &&
         !strcmp(names.v[0], "analyses") && !strcmp(names.v[3], "units");
    arc_names_free(&names);
    ok = ok && arc_list(r, "capture/adj_antonym", ARC_DATASET, &names, &e) == 0 && names.n == 11 &&
         !strcmp(names.v[0], "big") && !strcmp(names.v[1], "column") &&
         !strcmp(names.v[4], "layer") && !strcmp(names.v[7], "row"); /* + 4 dimension scales */
    arc_names_free(&names);
    ok = ok && arc_list_attrs(r, "metrics/adj_antonym", &names, &e) == 0 && names.n == 4 &&
         !strcmp(names.v[0], "hit10");
    arc_names_free(&names);
    CHECK(ok, "archive.list", "%s", e.msg);
    arc_reader_close(r);
    r = NULL;

    /* resume: completed units are known, a new unit adds to them */
    ok = arc_writer_open(&w, path, &PROV, &o, &e) == 0;
    ok = ok && arc_unit_is_complete(w, "capture/adj_antonym") &&
         arc_unit_is_complete(w, "block/adj_antonym") && !arc_unit_is_complete(w, "x");
    CHECK(ok, "archive.resume_sees_units", "%s", e.msg);
    CHECK(ok && arc_unit_begin(w, "block/adj_antonym", &u, &e) == -1 &&
              strstr(e.msg, "already complete"),
          "archive.begin_complete_unit_is_error", "%s", e.msg);
    arc_unit *u2 = NULL;
    ok = ok && arc_unit_begin(w, "neurons/adj antonym%", &u, &e) == 0;
    CHECK(ok && arc_unit_begin(w, "neurons/adj antonym%", &u2, &e) == -1,
          "archive.begin_twice_is_error", "%s", e.msg);
    ok = ok && arc_attr_i64(u, "analyses/adj_antonym/neurons", "top", 100, &e) == 0 &&
         arc_unit_commit(w, u, &e) == 0;
    ok = ok && arc_writer_close(w, &e) == 0;
    w = NULL;
    CHECK(ok, "archive.resume_adds_unit", "%s", e.msg);
    ok = arc_units_complete(path, &names, &e) == 0 && names.n == 4 &&
         names_has(&names, "neurons/adj antonym%") && !strcmp(names.v[0], "block/adj_antonym");
    arc_names_free(&names);
    char folder[512];
    snprintf(folder, sizeof folder, "%s/basic/out", dir);
    ok = ok && arc_units_complete(folder, &names, &e) == 0 && names.n == 4;
    arc_names_free(&names);
    CHECK(ok, "archive.units_complete_path_and_folder", "%s", e.msg);
    snprintf(folder, sizeof folder, "%s/basic/none.h5", dir);
    CHECK(arc_units_complete(folder, &names, &e) == 0 && names.n == 0,
          "archive.units_complete_no_archive", "%s", e.msg);
done:
    free(bf);
    arc_reader_close(r);
    arc_writer_free(w);
}

/* ---- merge conflicts and bad parts ------------------------------------------------------ */

static void test_conflicts(const char *dir)
{
    char path[512], p2[600];
    arc_writer *w = NULL;
    arc_unit *u = NULL;
    arc_reader *r = NULL;
    mp_err e;
    err_init(&e);
    snprintf(path, sizeof path, "%s/conflict/run.h5", dir);
    arc_options o = quiet_opts();
    n_warnings = 0;
    int ok = arc_writer_open(&w, path, NULL, &o, &e) == 0;
    ok = ok && arc_unit_begin(w, "a", &u, &e) == 0 && arc_attr_f64(u, "g", "x", 1, &e) == 0 &&
         arc_unit_commit(w, u, &e) == 0;
    ok = ok && arc_unit_begin(w, "b", &u, &e) == 0 && arc_attr_f64(u, "g", "x", 2, &e) == 0 &&
         arc_unit_commit(w, u, &e) == 0;
    CHECK(ok && n_warnings == 1 && strstr(last_warning, "'b' replaced 1 attribute"),
          "archive.attr_conflict_later_wins_warns", "%s / %d warnings: %s", e.msg, n_warnings,
          last_warning);
    double v = 0;
    ok = arc_open_read(&r, path, &e) == 0 && arc_read_attr_f64(r, "g", "x", &v, &e) == 0;
    CHECK(ok && v == 2, "archive.attr_conflict_value", "v=%g %s", v, e.msg);
    arc_reader_close(r);
    r = NULL;
    int64_t one = 1;
    float x = 1;
    ok = arc_unit_begin(w, "c", &u, &e) == 0 &&
         arc_write(u, "g/d", ARC_F32, 1, &one, NULL, &x, &e) == 0 && arc_unit_commit(w, u, &e) == 0;
    ok = ok && arc_unit_begin(w, "d", &u, &e) == 0 &&
         arc_write(u, "g/d", ARC_F32, 1, &one, NULL, &x, &e) == 0;
    int rc = ok ? arc_unit_commit(w, u, &e) : 0;
    CHECK(rc == -1 && strstr(e.msg, "unit 'c' and unit 'd' both write '/g/d'") &&
              strstr(e.msg, "unit committed, but"),
          "archive.dataset_conflict_names_units", "%s", e.msg);
    arc_writer_free(w);
    w = NULL;
    /* the previous snapshot survived the failed rebuild */
    ok = arc_open_read(&r, path, &e) == 0 && arc_read_attr_f64(r, "g", "x", &v, &e) == 0 &&
         arc_kind_of(r, "g/d") == ARC_DATASET && !arc_has_attr(r, "/units/d", "unit_id");
    CHECK(ok, "archive.failed_rebuild_keeps_snapshot", "%s", e.msg);
    arc_reader_close(r);
    r = NULL;

    /* bad parts: garbage and an unmarked HDF5 file are moved aside, the unit is redone */
    snprintf(p2, sizeof p2, "%s.parts/d.h5", path);
    unlink(p2);
    char tmpp[600], fake[600];
    snprintf(fake, sizeof fake, "%s.parts/f.h5", path);
    ok = arc_writer_open(&w, path, NULL, &o, &e) == 0 && arc_unit_begin(w, "e", &u, &e) == 0 &&
         arc_attr_f64(u, "g", "y", 1, &e) == 0 && arc_unit_commit(w, u, &e) == 0 &&
         arc_writer_close(w, &e) == 0;
    w = NULL;
    snprintf(p2, sizeof p2, "%s.parts/garbage.h5", path);
    FILE *f = fopen(p2, "w");
    fputs("not hdf5", f);
    fclose(f);
    snprintf(tmpp, sizeof tmpp, "%s.parts/e.h5", path);
    /* a complete part under the wrong name is not unit 'f' */
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", tmpp, fake);
    ok = ok && system(cmd) == 0;
    n_warnings = 0;
    ok = ok && arc_writer_open(&w, path, NULL, &o, &e) == 0;
    CHECK(ok && n_warnings == 2 && !arc_unit_is_complete(w, "f") && arc_unit_is_complete(w, "e") &&
              access(fake, F_OK) != 0,
          "archive.bad_parts_moved_aside", "%s / %d warnings: %s", e.msg, n_warnings, last_warning);
    snprintf(p2, sizeof p2, "%s.parts/garbage.h5.bad", path);
    CHECK(access(p2, F_OK) == 0, "archive.bad_part_kept_for_inspection", "%s missing", p2);
    arc_writer_free(w);
    w = NULL;

    /* the snapshot lists a unit whose part is gone: reopening for writing is an error */
    snprintf(p2, sizeof p2, "%s.parts/a.h5", path);
    unlink(p2);
    CHECK(arc_writer_open(&w, path, NULL, &o, &e) == -1 && strstr(e.msg, "part files are missing"),
          "archive.missing_parts_is_error", "%s", e.msg);
    arc_writer_free(w);
}

/* ---- crashes ---------------------------------------------------------------------------- */

static const char *crash_at;

static void crash_hook(const char *point)
{
    if (crash_at && !strcmp(point, crash_at)) kill(getpid(), SIGKILL);
}

/* One crash scenario in a fresh archive holding unit A (tag 1). The child writes unit B
 * (tag 2) and dies at `point` ("stream" = mid appends, "before_commit" = all written). */
static void crash_case(const char *dir, const char *point, int b_complete, int b_in_snapshot)
{
    char path[512], name[128], why[600] = "";
    arc_writer *w = NULL;
    arc_unit *u = NULL;
    arc_names names = {0};
    mp_err e;
    err_init(&e);
    snprintf(path, sizeof path, "%s/crash-%s/run.h5", dir, point);
    for (char *c = path + strlen(dir); *c; c++)
        if (*c == ':') *c = '_';
    arc_options o = quiet_opts();
    int ok = arc_writer_open(&w, path, &PROV, &o, &e) == 0 &&
             write_unit(w, "capture/a", 1, 5, "rel_a", -1, &u, &e) == 0 &&
             arc_unit_commit(w, u, &e) == 0 && arc_writer_close(w, &e) == 0;
    w = NULL;
    snprintf(name, sizeof name, "archive.crash_%s.setup", point);
    if (!CHECK(ok, name, "%s", e.msg)) return;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        arc_writer *cw = NULL;
        arc_unit *cu = NULL;
        mp_err ce;
        err_init(&ce);
        int kill_rows = !strcmp(point, "stream") ? 3 : -1;
        crash_at = point;
        arc_set_crash_hook(crash_hook);
        if (arc_writer_open(&cw, path, &PROV, &o, &ce) != 0 ||
            write_unit(cw, "capture/b", 2, 7, "rel_a", kill_rows, &cu, &ce) != 0)
            _exit(3);
        if (!strcmp(point, "before_commit")) kill(getpid(), SIGKILL);
        arc_unit_commit(cw, cu, &ce);
        _exit(4); /* the hook should have killed us */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    snprintf(name, sizeof name, "archive.crash_%s.killed", point);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, name, "child status %d", status);

    /* the snapshot opens, lists A (and B only once renamed), A reads back intact */
    arc_reader *r = NULL;
    ok = arc_open_read(&r, path, &e) == 0;
    int64_t nunits = -1;
    ok = ok && arc_read_attr_i64(r, "/", "units_complete", &nunits, &e) == 0;
    int b_listed = ok && arc_kind_of(r, "/units/capture%2Fb") == ARC_GROUP;
    arc_reader_close(r);
    snprintf(name, sizeof name, "archive.crash_%s.snapshot_readable", point);
    CHECK(ok && nunits == (b_in_snapshot ? 2 : 1) && b_listed == b_in_snapshot, name,
          "%s units=%lld b_listed=%d", e.msg, (long long)nunits, b_listed);
    snprintf(name, sizeof name, "archive.crash_%s.unit_a_intact", point);
    CHECK(unit_intact(path, 1, 5, "rel_a", why, sizeof why), name, "%s", why);
    if (b_in_snapshot) {
        snprintf(name, sizeof name, "archive.crash_%s.unit_b_intact", point);
        CHECK(unit_intact(path, 2, 7, "rel_a", why, sizeof why), name, "%s", why);
    }
    ok = arc_units_complete(path, &names, &e) == 0 && names_has(&names, "capture/a") &&
         names_has(&names, "capture/b") == b_complete;
    arc_names_free(&names);
    snprintf(name, sizeof name, "archive.crash_%s.units_complete", point);
    CHECK(ok, name, "%s (expected B complete = %d)", e.msg, b_complete);

    /* rerun: temp files are cleaned, B is redone only if it was not complete */
    ok = arc_writer_open(&w, path, &PROV, &o, &e) == 0;
    int redo = ok && !arc_unit_is_complete(w, "capture/b");
    if (redo)
        ok = write_unit(w, "capture/b", 2, 7, "rel_a", -1, &u, &e) == 0 &&
             arc_unit_commit(w, u, &e) == 0;
    ok = ok && arc_writer_close(w, &e) == 0;
    w = NULL;
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.parts/capture%%2Fb.h5.tmp", path);
    int tmp_gone = access(tmp, F_OK) != 0;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    tmp_gone = tmp_gone && access(tmp, F_OK) != 0;
    snprintf(name, sizeof name, "archive.crash_%s.rerun", point);
    CHECK(ok && redo == !b_complete && tmp_gone, name, "%s redo=%d tmp_gone=%d", e.msg, redo,
          tmp_gone);
    snprintf(name, sizeof name, "archive.crash_%s.final_intact", point);
    CHECK(unit_intact(path, 1, 5, "rel_a", why, sizeof why) &&
              unit_intact(path, 2, 7, "rel_a", why, sizeof why),
          name, "%s", why);
}

/* ---- write errors ----------------------------------------------------------------------- */

static void test_errors(const char *dir)
{
    char path[512], file[512];
    arc_writer *w = NULL;
    mp_err e;
    err_init(&e);
    /* a regular file where a folder should be (root ignores permissions, this it cannot) */
    snprintf(file, sizeof file, "%s/not-a-dir", dir);
    FILE *f = fopen(file, "w");
    fputs("x", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/sub/run.h5", file);
    CHECK(arc_writer_open(&w, path, NULL, NULL, &e) == -1 && w == NULL &&
              strstr(e.msg, "not-a-dir"),
          "archive.error_file_as_folder", "%s", e.msg);
    CHECK(arc_writer_open(&w, "/proc/moeprobe-test/run.h5", NULL, NULL, &e) == -1 &&
              strstr(e.msg, "/proc/moeprobe-test"),
          "archive.error_unwritable_proc", "%s", e.msg);
    snprintf(path, sizeof path, "%s/run.h5", dir);
    mkdir(path, 0777); /* a folder where the archive should be */
    CHECK(arc_writer_open(&w, path, NULL, NULL, &e) == -1 && strstr(e.msg, "regular file"),
          "archive.error_archive_is_folder", "%s", e.msg);
    arc_reader *r = NULL;
    CHECK(arc_open_read(&r, file, &e) == -1 && strstr(e.msg, "not an HDF5 file"),
          "archive.read_not_hdf5", "%s", e.msg);
    snprintf(path, sizeof path, "%s/missing.h5", dir);
    CHECK(arc_open_read(&r, path, &e) == -1 && strstr(e.msg, "No such file"),
          "archive.read_missing_file", "%s", e.msg);

    /* full disk: a file-size limit makes writes fail with EFBIG the way ENOSPC would */
    char msgfile[512];
    snprintf(msgfile, sizeof msgfile, "%s/full-disk.msg", dir);
    snprintf(path, sizeof path, "%s/full/run.h5", dir);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {512 * 1024, 512 * 1024};
        arc_writer *cw = NULL;
        arc_unit *cu = NULL;
        arc_stream *s = NULL;
        mp_err ce;
        err_init(&ce);
        signal(SIGXFSZ, SIG_IGN);
        if (arc_writer_open(&cw, path, NULL, NULL, &ce) != 0 ||
            arc_unit_begin(cw, "big", &cu, &ce) != 0)
            _exit(3);
        setrlimit(RLIMIT_FSIZE, &rl);
        int64_t row = 4096;
        float *buf = malloc(4096 * 64 * sizeof(float));
        unsigned x = 12345;
        for (int i = 0; i < 4096 * 64; i++) {
            x = x * 1103515245u + 12345u;
            buf[i] = (float)x; /* incompressible */
        }
        int rc = arc_stream_open(cu, "x", ARC_F32, 2, &row, NULL, &s, &ce);
        for (int i = 0; rc == 0 && i < 16; i++) rc = arc_stream_append(s, 64, buf, &ce);
        if (rc == 0)
            rc = arc_unit_commit(cw, cu, &ce);
        else
            arc_unit_abort(cw, cu);
        free(buf);
        FILE *mf = fopen(msgfile, "w");
        if (mf) {
            fputs(ce.msg, mf);
            fclose(mf);
        }
        arc_writer_free(cw);
        _exit(rc == -1 ? 0 : 5);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    char msg[MP_ERR_LEN] = "";
    f = fopen(msgfile, "r");
    if (f) {
        size_t n = fread(msg, 1, sizeof msg - 1, f);
        msg[n] = '\0';
        fclose(f);
    }
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0 && strstr(msg, "File too large") &&
              strstr(msg, "big"),
          "archive.error_disk_full_caught", "status %d, message: %s", status, msg);
    snprintf(path, sizeof path, "%s/full/run.h5.parts/big.h5", dir);
    CHECK(access(path, F_OK) != 0, "archive.error_disk_full_unit_incomplete", "%s exists", path);
}

/* Cadence: with a long snapshot_every_s commits leave NAME.h5 alone and close rebuilds it;
 * `created` survives reruns; a folder with two archives is ambiguous for arc_units_complete. */
static void test_cadence(const char *dir)
{
    char path[512], other[512];
    arc_writer *w = NULL;
    arc_unit *u = NULL;
    arc_reader *r = NULL;
    arc_names names = {0};
    mp_err e;
    err_init(&e);
    snprintf(path, sizeof path, "%s/cadence/run.h5", dir);
    arc_options o = quiet_opts();
    o.snapshot_every_s = 1e9;
    int ok = arc_writer_open(&w, path, NULL, &o, &e) == 0 && arc_unit_begin(w, "a", &u, &e) == 0 &&
             arc_attr_i64(u, "g", "a", 1, &e) == 0 && arc_unit_commit(w, u, &e) == 0 &&
             arc_unit_begin(w, "b", &u, &e) == 0 && arc_attr_i64(u, "g", "b", 2, &e) == 0 &&
             arc_unit_commit(w, u, &e) == 0;
    CHECK(ok && arc_writer_stats(w).snapshots == 0 && access(path, F_OK) != 0,
          "archive.cadence_defers_snapshot", "%s, %d snapshots", e.msg,
          w ? arc_writer_stats(w).snapshots : -1);
    ok = ok && arc_writer_close(w, &e) == 0;
    w = NULL;
    char *created = NULL, *created2 = NULL;
    int64_t n = 0;
    ok = ok && arc_open_read(&r, path, &e) == 0 &&
         arc_read_attr_i64(r, "/", "units_complete", &n, &e) == 0 && n == 2 &&
         arc_read_attr_str(r, "/", "created", &created, &e) == 0;
    arc_reader_close(r);
    r = NULL;
    CHECK(ok, "archive.cadence_close_snapshots", "%s n=%lld", e.msg, (long long)n);
    sleep(1);
    ok = ok && arc_writer_open(&w, path, NULL, &o, &e) == 0 &&
         arc_unit_begin(w, "c", &u, &e) == 0 && arc_unit_commit(w, u, &e) == 0 &&
         arc_writer_close(w, &e) == 0;
    w = NULL;
    ok = ok && arc_open_read(&r, path, &e) == 0 &&
         arc_read_attr_str(r, "/", "created", &created2, &e) == 0;
    arc_reader_close(r);
    CHECK(ok && created && created2 && !strcmp(created, created2), "archive.created_kept",
          "%s: %s vs %s", e.msg, created ? created : "", created2 ? created2 : "");
    free(created);
    free(created2);
    snprintf(other, sizeof other, "%s/cadence/other.h5", dir);
    ok = arc_writer_open(&w, other, NULL, &o, &e) == 0 && arc_writer_close(w, &e) == 0;
    w = NULL;
    snprintf(other, sizeof other, "%s/cadence", dir);
    CHECK(ok && arc_units_complete(other, &names, &e) == -1 && strstr(e.msg, "2 archives"),
          "archive.units_complete_ambiguous_folder", "%s", e.msg);
    arc_names_free(&names);
    arc_writer_free(w);
}

static void test_atomic_file(const char *dir)
{
    char path[512], buf[64] = "";
    mp_err e;
    err_init(&e);
    snprintf(path, sizeof path, "%s/atomic/deep/manifest.json", dir);
    snprintf(buf, sizeof buf, "%s/atomic/deep", dir);
    int ok = af_mkdir_p(buf, &e) == 0 && af_write_atomic(path, "{\"a\": 1}\n", 9, &e) == 0 &&
             af_write_atomic(path, "{}\n", 3, &e) == 0;
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
    CHECK(ok && !strcmp(buf, "{}\n"), "atomic_file.replace", "%s '%s'", e.msg, buf);
    CHECK(af_write_atomic("/proc/nope/x.json", "x", 1, &e) == -1 && strstr(e.msg, "/proc/nope"),
          "atomic_file.error", "%s", e.msg);

    /* streamed: nothing at the path until the commit; a discard leaves neither file behind */
    af_tmp t = AF_TMP_INIT;
    FILE *s = NULL;
    char tmp_name[4200] = "";
    snprintf(path, sizeof path, "%s/atomic/deep/report.md", dir);
    ok = af_tmp_open(&t, path, &e) == 0 && (s = af_tmp_stream(&t, &e)) != NULL &&
         fprintf(s, "# streamed\n") > 0 && access(path, F_OK) != 0;
    snprintf(tmp_name, sizeof tmp_name, "%s", t.tmp);
    ok = ok && access(tmp_name, F_OK) == 0 && af_tmp_commit(&t, &e) == 0;
    f = fopen(path, "r");
    n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = '\0';
    if (f) fclose(f);
    af_tmp_discard(&t); /* after a commit: nothing to do */
    CHECK(ok && !strcmp(buf, "# streamed\n") && access(tmp_name, F_OK) != 0 &&
              access(path, F_OK) == 0,
          "atomic_file.stream_commit", "%s '%s'", e.msg, buf);
    snprintf(path, sizeof path, "%s/atomic/deep/abandoned.md", dir);
    ok = af_tmp_open(&t, path, &e) == 0 && write(t.fd, "x", 1) == 1;
    snprintf(tmp_name, sizeof tmp_name, "%s", t.tmp);
    af_tmp_discard(&t);
    CHECK(ok && access(path, F_OK) != 0 && access(tmp_name, F_OK) != 0 && t.fd == -1,
          "atomic_file.stream_discard", "%s", e.msg);
    af_tmp never = AF_TMP_INIT;
    af_tmp_discard(&never);
    CHECK(af_tmp_open(&t, "/proc/nope/r.md", &e) == -1 && strstr(e.msg, "/proc/nope/r.md") &&
              t.fd == -1 && !t.tmp[0],
          "atomic_file.stream_open_error", "%s", e.msg);
    af_tmp_discard(&t);
    snprintf(path, sizeof path, "%s/atomic/deep/report.md/sub", dir);
    CHECK(af_mkdir_p(path, &e) == -1 && strstr(e.msg, "report.md exists and is not a folder"),
          "atomic_file.mkdir_p_not_a_folder", "%s", e.msg);
}

static int make_sample(const char *path)
{
    arc_writer *w = NULL;
    arc_unit *u = NULL;
    mp_err e;
    err_init(&e);
    arc_options o = quiet_opts();
    int ok = arc_writer_open(&w, path, &PROV, &o, &e) == 0 &&
             write_unit(w, "capture/a", 1, 5, "rel_a", -1, &u, &e) == 0 &&
             arc_unit_commit(w, u, &e) == 0 &&
             write_unit(w, "capture/b", 2, 3000, "rel_a", -1, &u, &e) == 0 &&
             arc_unit_commit(w, u, &e) == 0 && arc_writer_close(w, &e) == 0;
    if (!ok) fprintf(stderr, "%s\n", e.msg);
    return ok ? 0 : 1;
}

/* --make-ranked DIR: DIR/{base,tied,cut,untied,new}.h5, each one unit holding a top-4 list
 * attribution/r/neuron_top4 [2, 4, 3] with its scores neuron_top4_score [2, 4], best first.
 * Against base: tied swaps two entries of equal score, cut replaces the last entry by another
 * neuron of the same score (a tie at the cut), untied swaps two entries of different scores,
 * new replaces the first entry by a neuron base does not have; scores per position are the
 * same in all five, so only the ids tell them apart. */
static int write_ranked(const char *dir, const char *name, const int32_t *ids, mp_err *e)
{
    char path[512];
    arc_writer *w = NULL;
    arc_unit *u = NULL;
    const double score[8] = {0.9, 0.5, 0.5, 0.1, 2.0, 1.0, 0.25, 0.25};
    const int64_t shi[3] = {2, 4, 3}, shs[2] = {2, 4};
    arc_options o = quiet_opts();
    snprintf(path, sizeof path, "%s/%s.h5", dir, name);
    int ok =
        arc_writer_open(&w, path, &PROV, &o, e) == 0 &&
        arc_unit_begin(w, "capture/r", &u, e) == 0 &&
        arc_write(u, "attribution/r/neuron_top4", ARC_I32, 3, shi, NULL, ids, e) == 0 &&
        arc_write(u, "attribution/r/neuron_top4_score", ARC_F64, 2, shs, NULL, score, e) == 0 &&
        arc_unit_commit(w, u, e) == 0;
    if (w && arc_writer_close(w, e) != 0) ok = 0;
    return ok ? 0 : -1;
}

static int make_ranked(const char *dir)
{
    /* (layer, expert, neuron) per entry; row 0 then row 1 */
    const int32_t base[24] = {0, 1, 10, 1, 2, 20, 1, 3, 30, 2, 0, 40,
                              0, 5, 50, 1, 5, 51, 2, 5, 52, 3, 5, 53};
    int32_t v[5][24];
    for (int k = 0; k < 5; k++) memcpy(v[k], base, sizeof base);
    int32_t t[3];
    memcpy(t, &v[1][3], sizeof t);
    memcpy(&v[1][3], &v[1][6], sizeof t);
    memcpy(&v[1][6], t, sizeof t);
    v[2][21] = 7; /* row 1, last entry (score 0.25, like the one before it) */
    memcpy(t, &v[3][0], sizeof t);
    memcpy(&v[3][0], &v[3][3], sizeof t);
    memcpy(&v[3][3], t, sizeof t);
    v[4][2] = 99;
    const char *names[5] = {"base", "tied", "cut", "untied", "new"};
    mp_err e;
    err_init(&e);
    for (int k = 0; k < 5; k++)
        if (write_ranked(dir, names[k], v[k], &e) != 0) {
            fprintf(stderr, "%s\n", e.msg);
            return 1;
        }
    return 0;
}

/* --bench DIR MB LEVEL: writes MB of activation-like float32 data as 10 units of streamed
 * [rows, 16, 2048] captures with deflate LEVEL, snapshot only at close, and prints timings. */
static int bench(const char *dir, int mb, int level)
{
    char path[512];
    arc_writer *w = NULL;
    arc_unit *u = NULL;
    arc_stream *s = NULL;
    mp_err e;
    err_init(&e);
    snprintf(path, sizeof path, "%s/bench-%d/run.h5", dir, level);
    arc_options o = arc_options_default();
    o.deflate_level = level;
    o.snapshot_every_s = 1e9;
    const int64_t row_shape[2] = {16, 2048};
    const size_t row_floats = 16 * 2048;
    int rows_per_unit = (int)((int64_t)mb * 1048576 / 10 / (row_floats * 4));
    float *buf = malloc(row_floats * 8 * sizeof(float));
    unsigned x = 1;
    for (size_t i = 0; i < row_floats * 8; i++) { /* roughly normal, full float32 mantissas */
        float acc = 0;
        for (int k = 0; k < 4; k++) {
            x = x * 1664525u + 1013904223u;
            acc += (float)(x >> 8) / 16777216.0f;
        }
        buf[i] = (acc - 2.0f) * 1.7f;
    }
    double t0 = monotonic_s();
    int ok = arc_writer_open(&w, path, NULL, &o, &e) == 0;
    for (int k = 0; ok && k < 10; k++) {
        char id[64], p2[64];
        snprintf(id, sizeof id, "capture/rel%d", k);
        snprintf(p2, sizeof p2, "capture/rel%d/resid_pre", k);
        ok = arc_unit_begin(w, id, &u, &e) == 0 &&
             arc_stream_open(u, p2, ARC_F32, 3, row_shape, NULL, &s, &e) == 0;
        for (int r = 0; ok && r < rows_per_unit; r += 8) {
            int n = rows_per_unit - r < 8 ? rows_per_unit - r : 8;
            ok = arc_stream_append(s, n, buf, &e) == 0;
        }
        ok = ok && arc_unit_commit(w, u, &e) == 0;
    }
    double t1 = monotonic_s();
    ok = ok && arc_snapshot(w, &e) == 0;
    double t2 = monotonic_s();
    arc_stats st = ok ? arc_writer_stats(w) : (arc_stats){0};
    arc_writer_free(w);
    free(buf);
    if (!ok) {
        fprintf(stderr, "bench: %s\n", e.msg);
        return 1;
    }
    double raw = (double)rows_per_unit * 10 * row_floats * 4 / 1048576.0;
    printf("deflate=%d raw_MB=%.1f file_MB=%.1f write_s=%.3f write_MBps=%.1f snapshot_s=%.3f "
           "snapshot_MBps=%.1f\n",
           level, raw, st.last_snapshot_bytes / 1048576.0, t1 - t0, raw / (t1 - t0), t2 - t1,
           st.last_snapshot_bytes / 1048576.0 / (t2 - t1));
    return 0;
}

/* A DIMENSION_LABELS attribute that H5DS did not write (16 int64 values on a 2-D dataset, as a
 * foreign or hostile file may have): H5DSget_label would read it into a table of 2 pointers
 * (heap overflow, found by tests/fuzz/fuzz_report); arc_read reads the data unlabelled. */
static void test_foreign_labels(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/foreign-labels.h5", dir);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[2] = {2, 3}, n = 16;
    float x[6] = {1, 2, 3, 4, 5, 6};
    int64_t junk[16] = {0};
    hid_t sp = H5Screate_simple(2, dims, NULL), asp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(f, "x", H5T_NATIVE_FLOAT, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    hid_t a = H5Acreate2(d, "DIMENSION_LABELS", H5T_NATIVE_INT64, asp, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, H5T_NATIVE_INT64, junk);
    H5Aclose(a);
    H5Dclose(d);
    H5Sclose(asp);
    H5Sclose(sp);
    H5Fclose(f);
    arc_reader *r = NULL;
    arc_array arr = {0};
    mp_err e;
    err_init(&e);
    int rc = arc_open_read(&r, path, &e) == 0 ? arc_read(r, "x", &arr, &e) : -1;
    CHECK(rc == 0 && arr.ndim == 2 && arr.shape[1] == 3 && !arr.dim_names[0][0] &&
              !arr.dim_names[1][0] && ((float *)arr.data)[5] == 6.0f,
          "archive.read_foreign_dimension_labels", "rc %d: %s", rc, e.msg);
    arc_array_free(&arr);
    arc_reader_close(r);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--make-sample")) return make_sample(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "--make-ranked")) return make_ranked(argv[2]);
    if (argc == 5 && !strcmp(argv[1], "--bench"))
        return bench(argv[2], atoi(argv[3]), atoi(argv[4]));
    const char *dir = check_tmp_dir();
    test_basic(dir);
    test_conflicts(dir);
    test_cadence(dir);
    test_atomic_file(dir);
    test_errors(dir);
    test_foreign_labels(dir);
    /* point, B complete afterwards, B in the snapshot afterwards */
    crash_case(dir, "stream", 0, 0);
    crash_case(dir, "before_commit", 0, 0);
    crash_case(dir, "commit:marked", 0, 0);
    crash_case(dir, "commit:closed", 0, 0);
    crash_case(dir, "commit:renamed", 1, 0);
    crash_case(dir, "snapshot:created", 1, 0);
    crash_case(dir, "snapshot:copied", 1, 0);
    crash_case(dir, "snapshot:closed", 1, 0);
    crash_case(dir, "snapshot:renamed", 1, 1);
    return check_finish();
}
