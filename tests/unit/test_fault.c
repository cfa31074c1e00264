/* test_fault.c — a checkpoint shard truncated or rewritten under a running job: fault_check_maps
 * names the file and what changed, and a SIGBUS on the mapping (a forked child touching a
 * truncated shard) ends the process with exit status FAULT_EXIT_STATUS and one message naming
 * the file, the file offset and the tensor — not with a signal. A SIGBUS outside any mapping
 * still goes to the handler installed before (the default action; ASan's in the debug build). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pipeline/model/fault.h"
#include "pipeline/model/safetensors.h"
#include "tests/unit/check.h"

static void copy_file(const char *src, const char *dst)
{
    FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
    char buf[65536];
    size_t n;
    if (!a || !b) {
        perror(src);
        exit(2);
    }
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
    fclose(a);
    fclose(b);
}

/* Runs fn in a child with stderr into a pipe; returns the wait status, message in msg. */
static int in_child(void (*fn)(const char *), const char *arg, char *msg, size_t len)
{
    int fd[2];
    if (pipe(fd) != 0) exit(2);
    fflush(NULL);
    pid_t p = fork();
    if (p == 0) {
        close(fd[0]);
        dup2(fd[1], STDERR_FILENO);
        fn(arg);
        _exit(0);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < len && (r = read(fd[0], msg + n, len - 1 - n)) > 0) n += (size_t)r;
    msg[n] = '\0';
    close(fd[0]);
    int st = 0;
    waitpid(p, &st, 0);
    return st;
}

/* Child: map the shard, truncate it to its header, read the last tensor's first byte. */
static void touch_truncated(const char *path)
{
    st_file f;
    mp_err err;
    err_init(&err);
    if (st_open(&f, path, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        _exit(3);
    }
    if (truncate(path, (off_t)(8 + f.header_len)) != 0) _exit(4);
    const st_entry *e = &f.entries[f.n_entries - 1];
    volatile const uint8_t *p = f.data + e->begin + (e->end - e->begin) / 2;
    uint8_t v = *p; /* SIGBUS here */
    fprintf(stderr, "read %u without a fault\n", v);
    _exit(5);
}

static void raise_unrelated(const char *path)
{
    st_file f;
    mp_err err;
    err_init(&err);
    if (st_open(&f, path, &err) != 0) _exit(3);
    raise(SIGBUS); /* si_addr is not in any mapping */
    _exit(6);
}

int main(void)
{
    char src[4200], dst[4200], dst2[4200];
    snprintf(src, sizeof src, "%s",
             check_root_path("models/tiny-olmoe/model-00003-of-00006.safetensors"));
    snprintf(dst, sizeof dst, "%s/shard.safetensors", check_tmp_dir());
    snprintf(dst2, sizeof dst2, "%s/shard2.safetensors", check_tmp_dir());

    /* change check */
    copy_file(src, dst);
    st_file f;
    mp_err err;
    err_init(&err);
    if (!CHECK(st_open(&f, dst, &err) == 0, "fault/open", "%s", err.msg)) return check_finish();
    CHECK(fault_check_maps(&err) == 0, "fault/unchanged_passes", "%s", err.msg);
    struct timespec ts[2] = {{0, UTIME_OMIT}, {1000000000, 0}};
    utimensat(AT_FDCWD, dst, ts, 0);
    err_init(&err);
    CHECK(fault_check_maps(&err) != 0 && strstr(err.msg, dst) &&
              strstr(err.msg, "rewritten in place") && strstr(err.msg, "2001-09-09T01:46:40Z"),
          "fault/mtime_change_detected", "%s", err.msg);
    st_close(&f);
    err_init(&err);
    CHECK(fault_check_maps(&err) == 0, "fault/closed_file_forgotten", "%s", err.msg);

    copy_file(src, dst);
    if (!CHECK(st_open(&f, dst, &err) == 0, "fault/reopen", "%s", err.msg)) return check_finish();
    uint64_t hl = f.header_len;
    if (truncate(dst, (off_t)(8 + hl)) != 0) perror("truncate");
    err_init(&err);
    char want[64];
    snprintf(want, sizeof want, "%lld bytes, expected %zu", (long long)(8 + hl), f.map_len);
    CHECK(fault_check_maps(&err) != 0 && strstr(err.msg, dst) && strstr(err.msg, want),
          "fault/truncation_detected", "%s", err.msg);
    st_close(&f);
    copy_file(src, dst);
    if (st_open(&f, dst, &err) == 0) {
        rename(dst, dst2); /* the path now names nothing */
        err_init(&err);
        CHECK(fault_check_maps(&err) != 0 && strstr(err.msg, "was removed"),
              "fault/removal_detected", "%s", err.msg);
        st_close(&f);
    }

    /* SIGBUS on a truncated mapping: exit status, one line naming file, offset and tensor */
    copy_file(src, dst);
    char msg[8192];
    int st = in_child(touch_truncated, dst, msg, sizeof msg);
    int lines = 0;
    for (const char *c = msg; *c; c++) lines += *c == '\n';
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == FAULT_EXIT_STATUS, "fault/sigbus_exits_cleanly",
          "wait status %d (%s %d)", st, WIFSIGNALED(st) ? "signal" : "exit",
          WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
    CHECK(lines == 1 && strstr(msg, dst) && strstr(msg, "changed or truncated while the job") &&
              strstr(msg, "SIGBUS reading file offset") && strstr(msg, "tensor \"model.layers."),
          "fault/sigbus_message", "%s", msg);

    /* a SIGBUS that is not ours keeps the default action */
    copy_file(src, dst);
    st = in_child(raise_unrelated, dst, msg, sizeof msg);
    /* the previous handler is the default action, or ASan's in the debug build */
    CHECK(!strstr(msg, "changed or truncated") &&
              ((WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS) || strstr(msg, "Sanitizer")),
          "fault/foreign_sigbus_to_previous_handler", "wait status %d; %s", st, msg);
    return check_finish();
}
