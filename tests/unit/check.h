/* check.h — the tiny test protocol every C test follows: one line per check, "PASS name" or
 * "FAIL name: why", plus optional "WORST ..." lines that the runner echoes so error margins stay
 * visible. A test binary exits non-zero if any check failed. */
#ifndef MOEPROBE_TESTS_CHECK_H
#define MOEPROBE_TESTS_CHECK_H
#include <stdio.h>
#include <stdlib.h>

extern int check_failures;
extern int check_passes;

/* Records one named check. Returns cond so callers can stop early. */
int check_report(int cond, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define CHECK(cond, name, ...) check_report(!!(cond), (name), __VA_ARGS__)

/* Path of a file of the fixtures' folder MOEPROBE_SHARED (set by tests/run.sh; unset, the
 * test fails at once); static buffer, copy if kept. */
const char *check_shared_path(const char *rel);
/* Path of a file under the repository root (MOEPROBE_ROOT overrides, else "."). */
const char *check_root_path(const char *rel);
/* A fresh scratch directory for this test program (under MOEPROBE_TEST_TMP or /tmp). */
const char *check_tmp_dir(void);

/* Ends the program: exit status 1 if any check failed. */
int check_finish(void);

#endif
