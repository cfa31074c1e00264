/* build_info.h — what build this binary is: version, git commit, whether the tree had
 * uncommitted changes, compiler. Only build_info.c sees the git state (Makefile), so a commit or
 * an edit rebuilds that one object and nothing else goes stale. */
#ifndef MOEPROBE_UTIL_BUILD_INFO_H
#define MOEPROBE_UTIL_BUILD_INFO_H

const char *build_version(void);    /* "0.1.0" */
const char *build_git_commit(void); /* 12 hex digits, "+dirty" appended for a modified tree */
int build_dirty(void);              /* 1 if built from a tree with uncommitted changes */
const char *build_compiler(void);   /* e.g. "gcc 12.2.0" */

#endif
