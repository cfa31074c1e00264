/* test_provenance.c — SHA-256 against the FIPS 180-4 / NIST test vectors (whole buffers, byte by
 * byte, and through a file with a length limit), and the build's identity. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/util/build_info.h"
#include "pipeline/util/sha256.h"
#include "tests/unit/check.h"

static void test_vectors(void)
{
    static const struct {
        const char *in, *out;
    } V[] = {{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
             {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
             {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
             {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmn"
              "opqrlmnopqrsmnopqrstnopqrstu",
              "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"}};
    char hex[65], name[64];
    for (size_t i = 0; i < sizeof V / sizeof *V; i++) {
        sha256_hex(V[i].in, strlen(V[i].in), hex);
        snprintf(name, sizeof name, "sha256/vector%zu", i);
        CHECK(!strcmp(hex, V[i].out), name, "%s", hex);
        sha256_ctx c;
        sha256_init(&c);
        for (const char *p = V[i].in; *p; p++) sha256_update(&c, p, 1);
        sha256_final(&c, hex);
        snprintf(name, sizeof name, "sha256/vector%zu_bytewise", i);
        CHECK(!strcmp(hex, V[i].out), name, "%s", hex);
    }
    /* one million 'a' */
    char *m = malloc(1000000);
    if (m) {
        memset(m, 'a', 1000000);
        sha256_hex(m, 1000000, hex);
        CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
              "sha256/million_a", "%s", hex);
        free(m);
    }
}

static void test_file(void)
{
    char path[600], hex[65];
    snprintf(path, sizeof path, "%s/f.bin", check_tmp_dir());
    FILE *f = fopen(path, "wb");
    if (!CHECK(f != NULL, "sha256/file_create", "%s", path)) return;
    fputs("XXabcYY", f);
    fclose(f);
    f = fopen(path, "rb");
    fseek(f, 2, SEEK_SET);
    CHECK(sha256_file(f, 3, hex) == 0 &&
              !strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
          "sha256/file_range", "%s", hex);
    fseek(f, 2, SEEK_SET);
    CHECK(sha256_file(f, 100, hex) != 0, "sha256/file_short_is_error", "-");
    fclose(f);
}

static void test_build(void)
{
    const char *g = build_git_commit();
    int dirty = build_dirty();
    CHECK(g && *g && (dirty == 0 || dirty == 1), "build/identity", "%s %d", g ? g : "(null)",
          dirty);
    CHECK((strstr(g, "+dirty") != NULL) == dirty, "build/dirty_marked_in_commit", "%s %d", g,
          dirty);
    CHECK(build_compiler() && strlen(build_compiler()) > 4, "build/compiler", "%s",
          build_compiler());
}

int main(void)
{
    test_vectors();
    test_file();
    test_build();
    return check_finish();
}
