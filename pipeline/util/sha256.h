/* sha256.h — SHA-256 (FIPS 180-4) for the archive's provenance: checkpoint headers, config and
 * tokenizer files, relation files. Streaming: sha256_init, sha256_update..., sha256_final. */
#ifndef MOEPROBE_UTIL_SHA256_H
#define MOEPROBE_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pipeline/util/error.h"

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t bytes;
    unsigned char buf[64];
    size_t nbuf;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
/* The digest as 64 lowercase hex digits and a NUL. */
void sha256_final(sha256_ctx *c, char hex[65]);
/* The digest of n bytes. */
void sha256_hex(const void *data, size_t n, char hex[65]);
/* The digest of `len` bytes of f from its current position (len < 0: to the end); 0, or -1 if
 * reading fails or the file ends first. */
int sha256_file(FILE *f, int64_t len, char hex[65]);
/* The digest of the whole file at path; -1 with err naming the path and the system error. */
int sha256_path(const char *path, char hex[65], mp_err *err);

#endif
