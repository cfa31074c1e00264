/* fuzz_manifest.c — OUT/manifest.json as `moeprobe status` and a run read it (#13 point 9): the
 * input becomes the manifest of a scratch out folder; status_collect must accept it or fail
 * with a message, never crash; when it accepts, the status table is printed (to /dev/null) and
 * man_record (what a run does at each unit's start and end) must update it or fail cleanly. */
#include <sys/stat.h>

#include "jobs/manifest.h"
#include "jobs/status.h"
#include "tests/fuzz/fuzz_util.h"

static char g_dir[4096], g_man[4200];
static FILE *g_null;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_scratch_dir("manifest", g_dir, sizeof g_dir);
    if (man_path(g_dir, g_man, sizeof g_man) != 0) abort();
    g_null = fopen("/dev/null", "w");
    if (!g_null) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    status_report r;
    mp_err e;
    memset(&r, 0, sizeof r);
    err_init(&e);
    fuzz_write_file(g_man, data, size);
    int rc = status_collect(g_dir, &r, &e);
    fuzz_check_err(rc, &e);
    if (rc == 0) {
        status_print(g_null, g_dir, &r, 1);
        if (r.n_units > 0) {
            mp_err e2;
            err_init(&e2);
            int mrc = man_record(g_dir, r.units[0].model, r.units[0].id, MAN_DONE, NULL, 1.5, &e2);
            fuzz_check_err(mrc, &e2);
        }
    }
    status_report_free(&r);
    return 0;
}
