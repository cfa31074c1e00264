/* fuzz_util.h — shared helpers of the libFuzzer harnesses (tests/fuzz/fuzz_*.c): where the
 * repository and the shared fixtures are, an in-memory file for parsers that take a path, and
 * the invariant check that turns a broken contract into a crash libFuzzer records.
 * Header-only (static functions) so each harness is one translation unit. */
#ifndef MOEPROBE_FUZZ_UTIL_H
#define MOEPROBE_FUZZ_UTIL_H

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pipeline/util/error.h"
#include "pipeline/util/sha256.h"

#ifndef FUZZ_ROOT
#define FUZZ_ROOT "."
#endif

/* Repository root (compile-time, overridable with MOEPROBE_ROOT). */
static inline const char *fuzz_root(void)
{
    const char *r = getenv("MOEPROBE_ROOT");
    return r && *r ? r : FUZZ_ROOT;
}

/* The fixtures' folder (MOEPROBE_SHARED, else the one beside the checkout). */
static inline const char *fuzz_shared(void)
{
    static char buf[4096];
    const char *s = getenv("MOEPROBE_SHARED");
    if (s && *s) return s;
    snprintf(buf, sizeof buf, "%s/../shared", fuzz_root());
    return buf;
}

/* A broken contract (not a rejected input) is a finding: report and abort so libFuzzer saves
 * the input. */
#define FUZZ_REQUIRE(cond, ...)                                                                    \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz invariant broken: %s: ", #cond);                                 \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* A failure must come with a message; success must leave none behind from this call. */
static inline void fuzz_check_err(int rc, const mp_err *e)
{
    FUZZ_REQUIRE(rc == 0 || rc == -1, "return code %d", rc);
    if (rc != 0) {
        FUZZ_REQUIRE(e->set && e->msg[0], "failure without a message");
        FUZZ_REQUIRE(memchr(e->msg, '\0', sizeof e->msg) != NULL, "unterminated message");
    }
}

/* A memfd holding data; *path receives "/proc/self/fd/N". Returns the fd (or -1). The same
 * fd is reused across inputs (truncated and rewritten), so nothing accumulates. */
static inline int fuzz_memfile(const uint8_t *data, size_t size, char *path, size_t path_len)
{
    static int fd = -1;
    if (fd < 0) {
        fd = memfd_create("fuzz-input", MFD_CLOEXEC);
        if (fd < 0) {
            perror("memfd_create");
            abort();
        }
    }
    if (ftruncate(fd, 0) != 0) abort();
    size_t off = 0;
    while (off < size) {
        ssize_t w = pwrite(fd, data + off, size - off, (off_t)off);
        if (w <= 0) abort();
        off += (size_t)w;
    }
    snprintf(path, path_len, "/proc/self/fd/%d", fd);
    return fd;
}

/* Writes data to PATH (replacing it). */
static inline void fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        abort();
    }
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
}

/* A NUL-terminated copy of the input (malloc'd). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Writes PATH.sha256 in sha256sum format for the `size` bytes at data, as a commit records it
 * (the HDF5 harnesses: a file whose checksum matches gets past the sidecar check to the code
 * that reads what the file says). */
static inline void fuzz_write_sidecar(const char *path, const uint8_t *data, size_t size)
{
    char hex[65], side[4400], line[4500];
    const char *base = strrchr(path, '/');
    sha256_hex(data, size, hex);
    snprintf(side, sizeof side, "%s.sha256", path);
    int n = snprintf(line, sizeof line, "%s  %s\n", hex, base ? base + 1 : path);
    fuzz_write_file(side, (const uint8_t *)line, (size_t)n);
}

/* Removes everything under DIR (DIR itself stays): the scratch out folders of the HDF5
 * harnesses, between inputs. */
static inline void fuzz_clear_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    if (!d) return;
    while ((de = readdir(d))) {
        char p[4400];
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (unlink(p) != 0) {
            fuzz_clear_dir(p);
            rmdir(p);
        }
    }
    closedir(d);
}

static inline char *fuzz_scratch_path(void)
{
    static char path[4096];
    return path;
}
static inline void fuzz_scratch_remove(void)
{
    fuzz_clear_dir(fuzz_scratch_path());
    rmdir(fuzz_scratch_path());
}

/* A fresh scratch folder (in /dev/shm when writable; FUZZ_TMPDIR overrides) into buf, removed
 * with everything in it when the harness exits normally (run.sh removes the parent folder of
 * a run that crashed). One per harness. */
static inline void fuzz_scratch_dir(const char *what, char *buf, size_t len)
{
    const char *tmp = getenv("FUZZ_TMPDIR");
    if (!tmp || !*tmp) tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(buf, len, "%s/moeprobe-fuzz-%s.XXXXXX", tmp, what);
    if (!mkdtemp(buf)) {
        perror(buf);
        abort();
    }
    snprintf(fuzz_scratch_path(), 4096, "%s", buf);
    atexit(fuzz_scratch_remove);
}

/* A warn callback for the archive readers: a warning must say something. */
static inline void fuzz_warn_nonempty(void *ctx, const char *msg)
{
    (void)ctx;
    FUZZ_REQUIRE(msg && msg[0], "empty warning");
}

#endif
