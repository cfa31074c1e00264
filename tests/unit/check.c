/* check.c — implementation of the test protocol in check.h. */
#include "tests/unit/check.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>

int check_failures = 0;
int check_passes = 0;

int check_report(int cond, const char *name, const char *fmt, ...)
{
    if (cond) {
        printf("PASS %s\n", name);
        check_passes++;
    } else {
        va_list ap;
        printf("FAIL %s: ", name);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        check_failures++;
    }
    fflush(stdout);
    return cond;
}

const char *check_shared_path(const char *rel)
{
    static char buf[4][4096];
    static int slot = 0;
    const char *base = getenv("MOEPROBE_SHARED");
    char *out = buf[slot++ % 4];
    if (!base || !*base) { /* a missing fixture folder must not read as a passing test */
        printf("FAIL fixtures: MOEPROBE_SHARED is not set (tests/run.sh sets it to the folder "
               "of the fixtures)\n");
        exit(1);
    }
    snprintf(out, sizeof buf[0], "%s/%s", base, rel);
    return out;
}

const char *check_root_path(const char *rel)
{
    static char buf[4][4096];
    static int slot = 0;
    const char *base = getenv("MOEPROBE_ROOT");
    char *out = buf[slot++ % 4];
    snprintf(out, sizeof buf[0], "%s/%s", base && *base ? base : ".", rel);
    return out;
}

const char *check_tmp_dir(void)
{
    static char dir[4096];
    if (!dir[0]) {
        const char *base = getenv("MOEPROBE_TEST_TMP");
        snprintf(dir, sizeof dir, "%s/unit-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return dir;
}

int check_finish(void)
{
    fflush(stdout);
    return check_failures ? 1 : 0;
}
