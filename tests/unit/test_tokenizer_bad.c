/* test_tokenizer_bad.c — bad tokenizer.json files and bad texts: each must give one clear
 * message (naming the file and the component, or the byte offset), never a crash or a leak
 * (run under `make debug` for ASan/UBSan). The files are the fixture tokenizers with one
 * thing broken, written to the test's scratch directory. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/tokenizer/tokenizer.h"
#include "tests/unit/check.h"

static json_t *SP, *NEOX; /* tiny-sp (llama) and tiny-neox (olmoe) tokenizer.json */

static const char *tmp_path(const char *name)
{
    static char buf[4][4096];
    static int slot;
    char *p = buf[slot++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", check_tmp_dir(), name);
    return p;
}

static int write_text(const char *path, const char *s, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(s, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

/* Loading `path` must fail with a message that contains `want` and the path. */
static void expect_load_error(const char *name, const char *path, const char *want)
{
    mp_err err;
    err_init(&err);
    tokenizer *t = (tokenizer *)(uintptr_t)1; /* must be reset to NULL */
    int rc = tok_load(&t, path, &err);
    int ok = rc == -1 && t == NULL && err.set && strstr(err.msg, want) && strstr(err.msg, path) &&
             !strchr(err.msg, '\n');
    CHECK(ok, name, "rc %d, message \"%s\", wanted it to contain \"%s\" and the path", rc,
          err.set ? err.msg : "", want);
    if (rc == 0)
        tok_free(t);
    else
        printf("    %s\n", err.msg);
}

typedef void (*mutator)(json_t *root);

static void broken(const char *name, json_t *base, mutator mut, const char *want)
{
    json_t *j = json_deep_copy(base);
    char file[128], check[160];
    snprintf(file, sizeof file, "%s.json", name);
    snprintf(check, sizeof check, "tokenizer-bad/%s", name);
    const char *path = tmp_path(file);
    if (!j || (mut(j), json_dump_file(j, path, JSON_COMPACT)) != 0) {
        CHECK(0, check, "cannot write %s", path);
        json_decref(j);
        return;
    }
    json_decref(j);
    expect_load_error(check, path, want);
}

static json_t *model(json_t *r)
{
    return json_object_get(r, "model");
}

static void m_wordpiece(json_t *r)
{
    json_object_set_new(model(r), "type", json_string("WordPiece"));
}
static void m_nfkc(json_t *r)
{
    json_object_set_new(r, "normalizer", json_pack("{s:s}", "type", "NFKC"));
}
static void m_lowercase_in_seq(json_t *r)
{
    json_object_set_new(r, "normalizer",
                        json_pack("{s:s, s:[{s:s}, {s:s}]}", "type", "Sequence", "normalizers",
                                  "type", "NFC", "type", "Lowercase"));
}
static void m_whitespace(json_t *r)
{
    json_object_set_new(r, "pre_tokenizer", json_pack("{s:s}", "type", "Whitespace"));
}
static void m_roberta(json_t *r)
{
    json_object_set_new(r, "post_processor", json_pack("{s:s}", "type", "RobertaProcessing"));
}
static void m_merge_unknown(json_t *r)
{
    json_array_append_new(json_object_get(model(r), "merges"),
                          json_pack("[s,s]", "zz\xe2\x98\x83", "q"));
}
static void m_merge_result_unknown(json_t *r)
{
    /* both parts exist, their concatenation does not */
    json_array_append_new(json_object_get(model(r), "merges"), json_pack("[s,s]", "<s>", "</s>"));
}
static void m_merge_three(json_t *r)
{
    json_t *merges = json_array();
    json_array_append_new(merges, json_string("a b c"));
    json_object_set_new(model(r), "merges", merges);
}
static void m_merge_not_string(json_t *r)
{
    json_array_append_new(json_object_get(model(r), "merges"), json_integer(7));
}
static void m_vocab_dup(json_t *r)
{
    json_object_set_new(json_object_get(model(r), "vocab"), "\xe2\x98\x83\xe2\x98\x83",
                        json_integer(5));
}
static void m_vocab_negative(json_t *r)
{
    json_object_set_new(json_object_get(model(r), "vocab"), "zzz", json_integer(-1));
}
static void m_vocab_huge(json_t *r)
{
    json_object_set_new(json_object_get(model(r), "vocab"), "zzz", json_integer(4000000000LL));
}
static void m_vocab_string(json_t *r)
{
    json_object_set_new(json_object_get(model(r), "vocab"), "zzz", json_string("7"));
}
static void m_vocab_missing(json_t *r)
{
    json_object_del(model(r), "vocab");
}
static void m_vocab_list(json_t *r)
{
    json_object_set_new(model(r), "vocab", json_array());
}
static void m_dropout(json_t *r)
{
    json_object_set_new(model(r), "dropout", json_real(0.1));
}
static void m_truncation(json_t *r)
{
    json_object_set_new(r, "truncation", json_pack("{s:i}", "max_length", 512));
}
static void m_bad_regex(json_t *r)
{
    json_object_set_new(r, "pre_tokenizer",
                        json_pack("{s:s, s:{s:s}, s:s, s:b}", "type", "Split", "pattern", "Regex",
                                  "(unclosed", "behavior", "Isolated", "invert", 0));
}
static void m_bad_behavior(json_t *r)
{
    json_object_set_new(r, "pre_tokenizer",
                        json_pack("{s:s, s:{s:s}, s:s, s:b}", "type", "Split", "pattern", "Regex",
                                  "\\s+", "behavior", "Sideways", "invert", 0));
}
static void m_tpl_undefined(json_t *r)
{
    json_t *pp = json_object_get(r, "post_processor");
    json_object_set_new(pp, "special_tokens", json_object());
}
static void m_tpl_seq_b(json_t *r)
{
    json_t *single = json_object_get(json_object_get(r, "post_processor"), "single");
    json_array_append_new(single, json_pack("{s:{s:s,s:i}}", "Sequence", "id", "B", "type_id", 0));
}
static void m_version(json_t *r)
{
    json_object_set_new(r, "version", json_string("2.0"));
}
static void m_added_not_list(json_t *r)
{
    json_object_set_new(r, "added_tokens", json_string("x"));
}
static void m_added_no_content(json_t *r)
{
    json_array_append_new(json_object_get(r, "added_tokens"), json_pack("{s:i}", "id", 9));
}
static void m_no_model(json_t *r)
{
    json_object_del(r, "model");
}
static void m_metaspace_bad(json_t *r)
{
    json_object_set_new(r, "pre_tokenizer",
                        json_pack("{s:s, s:s}", "type", "Metaspace", "replacement", "ab"));
}

static void test_files(void)
{
    expect_load_error("tokenizer-bad/missing-file", tmp_path("does-not-exist.json"),
                      "cannot open tokenizer file");
    expect_load_error("tokenizer-bad/directory", check_tmp_dir(), "is a directory");
    const char *p = tmp_path("not-json.json");
    write_text(p, "this is not json\n", 17);
    expect_load_error("tokenizer-bad/not-json", p, "not valid JSON");
    p = tmp_path("empty.json");
    write_text(p, "", 0);
    expect_load_error("tokenizer-bad/empty-file", p, "not valid JSON");
    char *full = json_dumps(SP, JSON_COMPACT);
    if (full) {
        p = tmp_path("truncated.json");
        write_text(p, full, strlen(full) / 2);
        expect_load_error("tokenizer-bad/truncated", p, "not valid JSON");
        free(full);
    }
    p = tmp_path("array.json");
    write_text(p, "[1, 2, 3]", 9);
    expect_load_error("tokenizer-bad/top-level-array", p, "expected a JSON object");

    broken("no-model", SP, m_no_model, "no \"model\"");
    broken("model-wordpiece", SP, m_wordpiece,
           "model type \"WordPiece\" is not supported (supported: BPE)");
    broken(
        "normalizer-nfkc", SP, m_nfkc,
        "normalizer type \"NFKC\" is not supported (supported: NFC, Prepend, Replace, Sequence)");
    broken("normalizer-lowercase", SP, m_lowercase_in_seq, "normalizer type \"Lowercase\"");
    broken("pretok-whitespace", NEOX, m_whitespace,
           "pre_tokenizer type \"Whitespace\" is not supported");
    broken("post-roberta", NEOX, m_roberta,
           "post_processor type \"RobertaProcessing\" is not supported");
    broken("merge-unknown-token", SP, m_merge_unknown,
           "uses token \"zz\xe2\x98\x83\" which is not in model.vocab");
    broken("merge-result-unknown", SP, m_merge_result_unknown,
           "makes \"<s></s>\" which is not in model.vocab");
    broken("merge-three-parts", NEOX, m_merge_three, "must be two tokens separated by one space");
    broken("merge-not-string", SP, m_merge_not_string, "must be a string \"a b\" or a pair");
    broken("vocab-duplicate-id", SP, m_vocab_dup, "gives id 5 to both");
    broken("vocab-negative-id", SP, m_vocab_negative, "has id -1 (expected 0 <= id <");
    broken("vocab-huge-id", SP, m_vocab_huge, "has id 4000000000 (expected 0 <= id <");
    broken("vocab-string-id", SP, m_vocab_string, "must be an integer id");
    broken("vocab-missing", SP, m_vocab_missing, "model.vocab is missing");
    broken("vocab-not-object", SP, m_vocab_list, "model.vocab must be an object");
    broken("dropout", SP, m_dropout, "dropout is 0.1");
    broken("truncation", SP, m_truncation, "\"truncation\" is set");
    broken("split-bad-regex", NEOX, m_bad_regex, "does not compile");
    broken("split-bad-behavior", NEOX, m_bad_behavior, "behavior \"Sideways\" is not one of");
    broken("template-undefined-special", SP, m_tpl_undefined, "special_tokens does not define");
    broken("template-sequence-b", SP, m_tpl_seq_b, "must be Sequence \"A\"");
    broken("version", SP, m_version, "version 2.0 is not supported");
    broken("added-not-list", SP, m_added_not_list, "added_tokens must be a list");
    broken("added-no-content", SP, m_added_no_content, "added_tokens[3].content must be a string");
    broken("metaspace-replacement", SP, m_metaspace_bad,
           "Metaspace needs \"replacement\": one character");
}

/* Encoding `len` bytes must fail with a message containing `want`. */
static void expect_encode_error(const char *name, const tokenizer *t, const char *text, size_t len,
                                const char *want)
{
    mp_err err;
    err_init(&err);
    int32_t *ids = (int32_t *)(uintptr_t)1;
    size_t n = 7;
    int rc = tok_encode(t, text, len, 1, &ids, &n, &err);
    CHECK(rc == -1 && ids == NULL && n == 0 && strstr(err.msg, want), name,
          "rc %d, message \"%s\", wanted \"%s\"", rc, err.msg, want);
    if (rc == 0)
        free(ids);
    else
        printf("    %s\n", err.msg);
}

static void test_texts(void)
{
    mp_err err;
    err_init(&err);
    tokenizer *t = NULL;
    if (tok_load(&t, check_shared_path("fixtures/models/olmoe/tokenizer.json"), &err)) {
        CHECK(0, "tokenizer-bad/load-neox", "%s", err.msg);
        return;
    }
    expect_encode_error("tokenizer-bad/utf8-ff", t,
                        "ab\xff"
                        "cd",
                        5, "byte offset 2");
    expect_encode_error("tokenizer-bad/utf8-lone-continuation", t, "\x80", 1, "byte offset 0");
    expect_encode_error("tokenizer-bad/utf8-overlong", t, "x\xc0\xaf", 3, "byte offset 1");
    expect_encode_error("tokenizer-bad/utf8-surrogate", t, "ok \xed\xa0\x80", 6, "byte offset 3");
    expect_encode_error("tokenizer-bad/utf8-above-10ffff", t, "\xf4\x90\x80\x80", 4,
                        "byte offset 0");
    expect_encode_error("tokenizer-bad/utf8-truncated", t, "abc\xe2\x82", 5, "byte offset 3");
    expect_encode_error("tokenizer-bad/null-text", t, NULL, 3, "NULL");
    expect_encode_error("tokenizer-bad/no-tokenizer", NULL, "x", 1, "no tokenizer");
    /* A NUL byte is valid UTF-8 and a character like any other. */
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(tok_encode(t, "a\0b", 3, 1, &ids, &n, &err) == 0 && n == 3, "tokenizer-bad/nul-char",
          "%s", err.msg);
    free(ids);
    tok_free(t);
    tok_free(NULL);

    /* unk_token missing from the vocab: loads (as HF), fails only when a text needs it. */
    json_t *j = json_deep_copy(SP);
    json_object_set_new(model(j), "byte_fallback", json_false());
    json_object_set_new(model(j), "unk_token", json_string("<nope>"));
    const char *p = tmp_path("unk-missing.json");
    json_dump_file(j, p, JSON_COMPACT);
    json_decref(j);
    t = NULL;
    if (CHECK(tok_load(&t, p, &err) == 0, "tokenizer-bad/unk-missing-load", "%s", err.msg)) {
        ids = NULL;
        CHECK(tok_encode(t, "the", 3, 1, &ids, &n, &err) == 0, "tokenizer-bad/unk-missing-unneeded",
              "%s", err.msg);
        free(ids);
        expect_encode_error("tokenizer-bad/unk-missing-needed", t, "\xe2\x98\x83", 3,
                            "unk_token \"<nope>\" is not in the vocab");
        tok_free(t);
    }
}

int main(void)
{
    json_error_t jerr;
    SP = json_load_file(check_shared_path("fixtures/models/llama/tokenizer.json"), 0, &jerr);
    NEOX = json_load_file(check_shared_path("fixtures/models/olmoe/tokenizer.json"), 0, &jerr);
    if (!CHECK(SP && NEOX, "tokenizer-bad/fixtures", "cannot read the fixture tokenizers: %s",
               jerr.text))
        return check_finish();
    test_files();
    test_texts();
    json_decref(SP);
    json_decref(NEOX);
    return check_finish();
}
