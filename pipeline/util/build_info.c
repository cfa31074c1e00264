/* build_info.c — the build's identity, from the -D flags the Makefile gives this file alone
 * (MOEPROBE_GIT, MOEPROBE_DIRTY; it is rebuilt when HEAD or the dirty state changes). */
#include "pipeline/util/build_info.h"

#ifndef MOEPROBE_VERSION
#define MOEPROBE_VERSION "unknown"
#endif
#ifndef MOEPROBE_GIT
#define MOEPROBE_GIT "unknown"
#endif
#ifndef MOEPROBE_DIRTY
#define MOEPROBE_DIRTY 0
#endif

const char *build_version(void)
{
    return MOEPROBE_VERSION;
}

const char *build_git_commit(void)
{
    return MOEPROBE_DIRTY ? MOEPROBE_GIT "+dirty" : MOEPROBE_GIT;
}

int build_dirty(void)
{
    return MOEPROBE_DIRTY;
}

const char *build_compiler(void)
{
#if defined(__clang__)
    return "clang " __clang_version__;
#elif defined(__GNUC__)
    return "gcc " __VERSION__;
#else
    return "unknown C compiler";
#endif
}
