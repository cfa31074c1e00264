/* fuzz_part.c — a committed part of an archive as resume, `status` and `verify` read it (#13
 * point 9). The first input byte picks the unit (so the part's file name, which must match the
 * unit id stored inside it); the rest becomes OUT/tiny.h5.parts/<escaped id>.h5 of a scratch out
 * folder, with a sidecar checksum that matches it: the harness plays a part that was already
 * wrong when it was committed, or a hostile one, so that the code behind the checksum check
 * (the commit marks, the unit id, the fingerprint, the deep read, the snapshot rebuild) sees
 * every mutation. Then, as the commands do:
 *   verify:  arc_verify_part (sidecar, marks, id against the file name, deep read);
 *   status:  arc_units_scan (the unit is done or damaged, never both);
 *   resume:  arc_part_fingerprint, arc_writer_open (bad parts set aside), arc_unit_fingerprint,
 *            arc_snapshot (H5Ocopy of the part into a new snapshot), arc_writer_close, and a
 *            verify of the snapshot that came out.
 * Each must accept the part or fail with a message; a crash, a sanitizer report or a broken
 * invariant is a finding. HDF5's own faults on hostile
 * files are recorded, not failed (pipeline/archive/archive.h, HOSTILE FILES; tests/fuzz/run.sh). */
#include <sys/stat.h>

#include "pipeline/archive/archive.h"
#include "tests/fuzz/fuzz_util.h"

static const char *const UNITS[] = {
    "summarise/adj_antonym", "summarise/pooled",          "neurons/adj_antonym", "neurons/cross",
    "block/adj_antonym",     "heads_experts/adj_antonym", "capture/adj_antonym"};
static const char *const FILES[] = {"summarise%2Fadj_antonym.h5", "summarise%2Fpooled.h5",
                                    "neurons%2Fadj_antonym.h5",   "neurons%2Fcross.h5",
                                    "block%2Fadj_antonym.h5",     "heads_experts%2Fadj_antonym.h5",
                                    "capture%2Fadj_antonym.h5"};
#define N_UNITS (sizeof UNITS / sizeof *UNITS)

static char g_dir[4096], g_arch[4200], g_parts[4300];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_scratch_dir("part", g_dir, sizeof g_dir);
    snprintf(g_arch, sizeof g_arch, "%s/tiny.h5", g_dir);
    snprintf(g_parts, sizeof g_parts, "%s.parts", g_arch);
    return 0;
}

static int name_in(const arc_names *n, const char *id)
{
    for (size_t i = 0; i < n->n; i++)
        if (!strcmp(n->v[i], id)) return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *id = UNITS[data[0] % N_UNITS];
    char part[4500];
    mp_err e;
    fuzz_clear_dir(g_dir);
    if (mkdir(g_parts, 0755) != 0) abort();
    snprintf(part, sizeof part, "%s/%s", g_parts, FILES[data[0] % N_UNITS]);
    fuzz_write_file(part, data + 1, size - 1);
    fuzz_write_sidecar(part, data + 1, size - 1);

    /* verify */
    err_init(&e);
    int vrc = arc_verify_part(part, &e);
    fuzz_check_err(vrc, &e);
    if (vrc != 0) FUZZ_REQUIRE(strstr(e.msg, part) != NULL, "message names no file: %s", e.msg);

    /* status */
    arc_names done = {0}, bad = {0}, why = {0};
    err_init(&e);
    int src = arc_units_scan(g_arch, &done, &bad, &why, &e);
    fuzz_check_err(src, &e);
    if (src == 0) {
        FUZZ_REQUIRE(bad.n == why.n, "%zu damaged units, %zu reasons", bad.n, why.n);
        FUZZ_REQUIRE(!(name_in(&done, id) && name_in(&bad, id)), "unit both done and damaged");
        if (vrc == 0) FUZZ_REQUIRE(name_in(&done, id), "verify accepts the part, status not");
    }
    arc_names_free(&done);
    arc_names_free(&bad);
    arc_names_free(&why);

    /* resume */
    char *fp = NULL;
    err_init(&e);
    int frc = arc_part_fingerprint(g_arch, id, &fp, &e);
    fuzz_check_err(frc, &e);
    free(fp);
    fp = NULL;
    arc_provenance prov = {0};
    prov.run_config_yaml = "fuzz: 1\n";
    arc_options o = arc_options_default();
    o.warn = fuzz_warn_nonempty;
    arc_writer *w = NULL;
    err_init(&e);
    int orc = arc_writer_open(&w, g_arch, &prov, &o, &e);
    fuzz_check_err(orc, &e);
    if (orc == 0) {
        if (arc_unit_is_complete(w, id)) {
            err_init(&e);
            fuzz_check_err(arc_unit_fingerprint(w, id, &fp, &e), &e);
            free(fp);
        }
        err_init(&e);
        int snap = arc_snapshot(w, &e);
        fuzz_check_err(snap, &e);
        err_init(&e);
        int crc = arc_writer_close(w, &e);
        fuzz_check_err(crc, &e);
        if (snap == 0 && crc == 0) {
            err_init(&e);
            fuzz_check_err(arc_verify_file(g_arch, 1, &e), &e);
        }
    } else {
        FUZZ_REQUIRE(w == NULL, "writer left on failure");
    }
    return 0;
}
