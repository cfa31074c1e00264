/* fuzz_archive.c — an archive (snapshot OUT/NAME.h5, or a trace archive) as `report`, `status`,
 * `verify` and a resume read it (#13 point 9). The input becomes OUT/tiny.h5 of a scratch out
 * folder, with a sidecar checksum that matches it (a hostile or already-wrong file gets past the
 * checksum check to the code that reads what the file says), and:
 *   verify:  arc_verify_file (sidecar, deep read of every attribute and element);
 *   status:  arc_units_scan (the units the snapshot lists under /units);
 *   report:  report_render_to, markdown with SVG plots, into OUT/report (every section reads
 *            its fields through the archive schema: shapes, dimension names, attributes);
 *   resume:  arc_writer_open on the out folder (the snapshot's unit list against its parts).
 * Each must accept the file or fail with a message; a crash, a sanitizer report or a broken
 * invariant is a finding. HDF5's own faults on hostile
 * files are recorded, not failed (pipeline/archive/archive.h, HOSTILE FILES; tests/fuzz/run.sh). */
#include <sys/stat.h>

#include "pipeline/archive/archive.h"
#include "report/report.h"
#include "tests/fuzz/fuzz_util.h"

static char g_dir[4096], g_arch[4200], g_out[4200];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_scratch_dir("archive", g_dir, sizeof g_dir);
    snprintf(g_arch, sizeof g_arch, "%s/tiny.h5", g_dir);
    snprintf(g_out, sizeof g_out, "%s/report", g_dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mp_err e;
    fuzz_clear_dir(g_dir);
    fuzz_write_file(g_arch, data, size);
    fuzz_write_sidecar(g_arch, data, size);

    /* verify */
    err_init(&e);
    int vrc = arc_verify_file(g_arch, 1, &e);
    fuzz_check_err(vrc, &e);
    if (vrc != 0) FUZZ_REQUIRE(strstr(e.msg, g_arch) != NULL, "message names no file: %s", e.msg);

    /* status */
    arc_names done = {0}, bad = {0}, why = {0};
    err_init(&e);
    int src = arc_units_scan(g_arch, &done, &bad, &why, &e);
    fuzz_check_err(src, &e);
    if (src == 0) FUZZ_REQUIRE(bad.n == why.n, "%zu damaged units, %zu reasons", bad.n, why.n);
    arc_names_free(&done);
    arc_names_free(&bad);
    arc_names_free(&why);

    /* report */
    report_opts ro = report_opts_default();
    ro.format = REPORT_MARKDOWN;
    ro.plots = REPORT_SVG;
    const char *arch = g_arch;
    char *written = NULL;
    err_init(&e);
    int rrc = report_render_to(&arch, 1, g_out, &ro, &written, &e);
    fuzz_check_err(rrc, &e);
    FUZZ_REQUIRE((rrc == 0) == (written != NULL), "written path and result disagree");
    free(written);

    /* resume: the writer reads the snapshot's unit list (its parts are not there) */
    arc_provenance prov = {0};
    prov.run_config_yaml = "fuzz: 1\n";
    arc_options o = arc_options_default();
    o.warn = fuzz_warn_nonempty;
    arc_writer *w = NULL;
    err_init(&e);
    int orc = arc_writer_open(&w, g_arch, &prov, &o, &e);
    fuzz_check_err(orc, &e);
    if (orc == 0) {
        err_init(&e);
        fuzz_check_err(arc_writer_close(w, &e), &e);
    } else {
        FUZZ_REQUIRE(w == NULL, "writer left on failure");
    }
    return 0;
}
