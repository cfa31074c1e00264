/* test_tokenizer.c — the tokenizer against Hugging Face `tokenizers`:
 *   - every text of fixtures/tokenizer/golden_ids.json for all six tokenizers (1512 id lists);
 *   - input_ids and target_id of the 26 prompts of every fixtures/refs/<model>.h5;
 *   - texts of 100k chars, texts made only of added tokens, the empty text, decode, vocab
 *     size, and two threads sharing one tokenizer (expected values from tokenizers 0.23.3).
 * Bad inputs are in test_tokenizer_bad.c. */
#include <hdf5.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/tokenizer/tokenizer.h"
#include "tests/unit/check.h"

typedef struct {
    const char *name, *file;
} tok_fixture;

/* clang-format off */
static const tok_fixture FIXTURES[] = {
    {"qwen", "fixtures/tokenizer/qwen.tokenizer.json"},
    {"mistral", "fixtures/tokenizer/mistral.tokenizer.json"},
    {"olmo", "fixtures/tokenizer/olmo.tokenizer.json"},
    {"tiny-sp", "fixtures/models/llama/tokenizer.json"},
    {"tiny-qwen", "fixtures/models/qwen2/tokenizer.json"},
    {"tiny-neox", "fixtures/models/olmoe/tokenizer.json"},
};
/* clang-format on */
#define N_FIXTURES (int)(sizeof FIXTURES / sizeof FIXTURES[0])

static tokenizer *TOK[N_FIXTURES];

/* A precondition of a check: reports only when it fails, so each check prints one line. */
#define REQUIRE(cond, name, ...) ((cond) ? 1 : CHECK(0, (name), __VA_ARGS__))

static tokenizer *load(int k)
{
    if (!TOK[k]) {
        mp_err err;
        err_init(&err);
        char name[64];
        snprintf(name, sizeof name, "tokenizer/load/%s", FIXTURES[k].name);
        if (!CHECK(tok_load(&TOK[k], check_shared_path(FIXTURES[k].file), &err) == 0, name, "%s",
                   err.msg))
            return NULL;
    }
    return TOK[k];
}

static void print_ids(const char *label, const int32_t *ids, size_t n)
{
    printf("    %s (%zu):", label, n);
    for (size_t i = 0; i < n && i < 40; i++) printf(" %d", ids[i]);
    printf("%s\n", n > 40 ? " ..." : "");
}

/* ---- golden ids ---------------------------------------------------------------------- */

static void test_golden(void)
{
    json_error_t jerr;
    json_t *g = json_load_file(check_shared_path("fixtures/tokenizer/golden_ids.json"), 0, &jerr);
    if (!CHECK(g && json_is_object(g), "tokenizer/golden/read", "cannot read golden_ids.json: %s",
               jerr.text))
        return;
    int total = 0, match = 0;
    for (int k = 0; k < N_FIXTURES; k++) {
        char name[64];
        snprintf(name, sizeof name, "tokenizer/golden/%s", FIXTURES[k].name);
        json_t *list = json_object_get(g, FIXTURES[k].name);
        tokenizer *t = load(k);
        if (!t || !REQUIRE(json_is_array(list) && json_array_size(list) > 0, name,
                           "no list for %s in golden_ids.json", FIXTURES[k].name))
            continue;
        int bad = 0;
        size_t n = json_array_size(list);
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(list, i);
            json_t *text = json_object_get(e, "text"), *ids = json_object_get(e, "ids");
            mp_err err;
            err_init(&err);
            int32_t *got = NULL;
            size_t ng = 0;
            int ok = tok_encode(t, json_string_value(text), json_string_length(text), 1, &got, &ng,
                                &err) == 0 &&
                     ng == json_array_size(ids);
            for (size_t j = 0; ok && j < ng; j++)
                ok = got[j] == json_integer_value(json_array_get(ids, j));
            total++;
            match += ok;
            if (!ok && ++bad <= 3) {
                char *js = json_dumps(text, JSON_ENCODE_ANY);
                printf("    %s text %zu %s\n", FIXTURES[k].name, i, js ? js : "?");
                free(js);
                int32_t *exp = malloc((json_array_size(ids) + 1) * sizeof *exp);
                for (size_t j = 0; exp && j < json_array_size(ids); j++)
                    exp[j] = (int32_t)json_integer_value(json_array_get(ids, j));
                if (exp) print_ids("expected", exp, json_array_size(ids));
                free(exp);
                if (err.set)
                    printf("    error: %s\n", err.msg);
                else
                    print_ids("got     ", got, ng);
            }
            free(got);
        }
        CHECK(bad == 0, name, "%d of %zu id lists differ from Hugging Face", bad, n);
    }
    printf("INFO tokenizer golden: %d/%d id lists match\n", match, total);
    json_decref(g);
}

/* ---- refs: input_ids and target_id ---------------------------------------------------- */

static char *read_str_attr(hid_t obj, const char *name)
{
    char *out = NULL;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return NULL;
    hid_t ft = H5Aget_type(a);
    if (H5Tget_class(ft) == H5T_STRING) {
        if (H5Tis_variable_str(ft) > 0) {
            hid_t mt = H5Tcopy(H5T_C_S1);
            H5Tset_size(mt, H5T_VARIABLE);
            H5Tset_cset(mt, H5T_CSET_UTF8);
            char *s = NULL;
            if (H5Aread(a, mt, &s) >= 0 && s) {
                out = strdup(s);
                H5free_memory(s);
            }
            H5Tclose(mt);
        } else {
            size_t n = H5Tget_size(ft);
            out = calloc(n + 1, 1);
            if (out && H5Aread(a, ft, out) < 0) {
                free(out);
                out = NULL;
            }
        }
    }
    H5Tclose(ft);
    H5Aclose(a);
    return out;
}

static int32_t *read_ids(hid_t g, const char *name, size_t *n)
{
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0) return NULL;
    hid_t sp = H5Dget_space(d);
    hssize_t cnt = H5Sget_simple_extent_npoints(sp);
    int32_t *v = cnt >= 0 ? malloc(((size_t)cnt + 1) * sizeof *v) : NULL;
    if (v && H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
        free(v);
        v = NULL;
    }
    *n = cnt > 0 ? (size_t)cnt : 0;
    H5Sclose(sp);
    H5Dclose(d);
    return v;
}

static void test_refs(void)
{
    static const char *const models[] = {"llama", "mistral", "mixtral",
                                         "olmoe", "qwen2",   "qwen2moe"};
    int prompts = 0, ok_all = 0;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        char name[96], rel[128];
        snprintf(name, sizeof name, "tokenizer/refs/%s", models[m]);
        snprintf(rel, sizeof rel, "fixtures/models/%s/tokenizer.json", models[m]);
        mp_err err;
        err_init(&err);
        tokenizer *t = NULL;
        if (!REQUIRE(tok_load(&t, check_shared_path(rel), &err) == 0, name, "%s", err.msg))
            continue;
        snprintf(rel, sizeof rel, "fixtures/refs/%s.h5", models[m]);
        hid_t f = H5Fopen(check_shared_path(rel), H5F_ACC_RDONLY, H5P_DEFAULT);
        if (!REQUIRE(f >= 0, name, "cannot open %s", check_shared_path(rel))) {
            tok_free(t);
            continue;
        }
        int n_ok = 0, n = 0;
        char why[512] = "";
        for (int p = 0; p < 100; p++) {
            char gname[24];
            snprintf(gname, sizeof gname, "prompt%02d", p);
            if (H5Lexists(f, gname, H5P_DEFAULT) <= 0) break;
            hid_t g = H5Gopen2(f, gname, H5P_DEFAULT);
            char *text = read_str_attr(g, "text"), *object = read_str_attr(g, "object");
            size_t n_ref = 0, n_tgt = 0, n_a = 0, n_b = 0;
            int32_t *ref = read_ids(g, "input_ids", &n_ref);
            int32_t *tgt = read_ids(g, "target_id", &n_tgt);
            int32_t *a = NULL, *b = NULL;
            int ok = text && object && ref && tgt && n_tgt == 1;
            char *both = NULL;
            if (ok && asprintf(&both, "%s %s", text, object) < 0) both = NULL;
            ok = ok && both && tok_encode(t, text, strlen(text), 1, &a, &n_a, &err) == 0 &&
                 tok_encode(t, both, strlen(both), 1, &b, &n_b, &err) == 0;
            int ids_ok = ok && n_a == n_ref && !memcmp(a, ref, n_a * sizeof *a);
            /* target: the first id where the two encodings differ */
            size_t d = 0;
            while (ok && d < n_a && d < n_b && a[d] == b[d]) d++;
            int tgt_ok = ok && d < n_b && b[d] == tgt[0];
            if (ids_ok && tgt_ok)
                n_ok++;
            else if (!why[0])
                snprintf(why, sizeof why,
                         "%s (\"%s\" / \"%s\"): input_ids %s, target %d vs "
                         "ref %d",
                         gname, text ? text : "?", object ? object : "?",
                         ids_ok ? "match" : "differ", ok && d < n_b ? b[d] : -1,
                         tgt && n_tgt ? tgt[0] : -1);
            n++;
            free(text);
            free(object);
            free(both);
            free(ref);
            free(tgt);
            free(a);
            free(b);
            H5Gclose(g);
        }
        H5Fclose(f);
        tok_free(t);
        prompts += n;
        ok_all += n_ok;
        CHECK(n > 0 && n_ok == n, name, "%d of %d prompts match; first mismatch: %s", n_ok, n, why);
    }
    printf("INFO tokenizer refs: %d/%d prompts give the refs' input_ids and target_id\n", ok_all,
           prompts);
}

/* ---- edge cases with values from HF tokenizers 0.23.3 --------------------------------- */

static uint64_t fnv_ids(const int32_t *ids, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (uint32_t)ids[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void expect_ids(int k, const char *label, const char *text, int add_special,
                       const int32_t *exp, size_t n_exp)
{
    tokenizer *t = load(k);
    if (!t) return;
    char name[128];
    snprintf(name, sizeof name, "tokenizer/%s/%s", FIXTURES[k].name, label);
    mp_err err;
    err_init(&err);
    int32_t *ids = NULL;
    size_t n = 0;
    if (REQUIRE(tok_encode(t, text, strlen(text), add_special, &ids, &n, &err) == 0, name, "%s",
                err.msg)) {
        int ok = n == n_exp && (n == 0 || !memcmp(ids, exp, n * sizeof *ids));
        if (!ok) {
            print_ids("expected", exp, n_exp);
            print_ids("got     ", ids, n);
        }
        CHECK(ok, name, "ids differ from Hugging Face");
    }
    free(ids);
}

static void test_edges(void)
{
    /* qwen=0 mistral=1 olmo=2 tiny-sp=3 */
    expect_ids(3, "only-added-tokens", "<s></s><unk>", 1, (const int32_t[]){1, 1, 2, 0}, 4);
    expect_ids(3, "only-added-tokens-no-special", "<s></s><unk>", 0, (const int32_t[]){1, 2, 0}, 3);
    expect_ids(0, "only-added-tokens", "<|im_start|><|im_end|><think>", 1,
               (const int32_t[]){151644, 151645, 151667}, 3);
    expect_ids(2, "specials-and-space-run", "<|endoftext|>     <|padding|>", 1,
               (const int32_t[]){0, 50273, 1}, 3);
    expect_ids(3, "empty", "", 1, (const int32_t[]){1}, 1);
    expect_ids(3, "empty-no-special", "", 0, NULL, 0);
    expect_ids(0, "empty", "", 1, NULL, 0);

    /* 100k-char texts: count and FNV-1a of the ids. */
    static const char base[] =
        "H\xc3\xa9llo w\xc3\xb6rld 123 \xe2\x80\x94 na\xc3\xafve caf\xc3\xa9 "
        "\xf0\x9f\x99\x82 The capital of France is Paris.\n\t  ";
    size_t blen = strlen(base);
    char *mixed = malloc(200000), *spaces = malloc(100001), *as = malloc(100001);
    if (!mixed || !spaces || !as) {
        CHECK(0, "tokenizer/long/alloc", "out of memory");
        return;
    }
    /* 100,000 chars (code points) of base repeated: 113,637 bytes. */
    size_t bytes = 0, pos = 0;
    for (int chars = 0; chars < 100000; chars++) {
        do {
            mixed[bytes++] = base[pos];
            pos = (pos + 1) % blen;
        } while (((unsigned char)base[pos] & 0xC0) == 0x80);
    }
    mixed[bytes] = '\0';
    memset(spaces, ' ', 100000);
    spaces[100000] = '\0';
    memset(as, 'a', 100000);
    as[100000] = '\0';
    CHECK(bytes == 113637, "tokenizer/long/text", "built %zu bytes, expected 113637", bytes);
    static const struct {
        int k;
        int which;
        size_t n;
        uint64_t h;
    } want[] = {
        {0, 0, 34851, 0x77b5de4a02d47d3cULL},  {0, 1, 782, 0xd85f19167abb8e7dULL},
        {0, 2, 12500, 0x11af305325cdd473ULL},  {2, 0, 30306, 0xc713f03a9f495c6cULL},
        {2, 1, 4167, 0x784a6b35374c8127ULL},   {2, 2, 12500, 0x7c9759abbf486023ULL},
        {1, 0, 42428, 0x3b2aee7f84e6a0a8ULL},  {1, 1, 6252, 0xbd01a1d00ee0814fULL},
        {1, 2, 12504, 0x870136fdd16d78c0ULL},  {3, 0, 30306, 0xe2b81f091e56ccc2ULL},
        {3, 1, 100002, 0x2d86f4d99b157f99ULL}, {3, 2, 100001, 0x52e46059918d7ef7ULL},
    };
    static const char *const which_name[] = {"mixed", "spaces", "aaaa"};
    const char *texts[] = {mixed, spaces, as};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        tokenizer *t = load(want[i].k);
        char name[96];
        snprintf(name, sizeof name, "tokenizer/long/%s/%s", FIXTURES[want[i].k].name,
                 which_name[want[i].which]);
        if (!t) continue;
        mp_err err;
        err_init(&err);
        int32_t *ids = NULL;
        size_t n = 0;
        const char *s = texts[want[i].which];
        if (REQUIRE(tok_encode(t, s, strlen(s), 1, &ids, &n, &err) == 0, name, "%s", err.msg))
            CHECK(n == want[i].n && fnv_ids(ids, n) == want[i].h, name,
                  "%zu ids (hash %016llx), Hugging Face gives %zu (hash %016llx)", n,
                  (unsigned long long)fnv_ids(ids, n), want[i].n, (unsigned long long)want[i].h);
        free(ids);
    }
    free(mixed);
    free(spaces);
    free(as);
}

static void test_misc(void)
{
    static const struct {
        int k;
        int size;
    } sizes[] = {{0, 151669}, {1, 32000}, {2, 50280}, {3, 2774}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        tokenizer *t = load(sizes[i].k);
        char name[96];
        snprintf(name, sizeof name, "tokenizer/vocab-size/%s", FIXTURES[sizes[i].k].name);
        if (t)
            CHECK(tok_vocab_size(t) == sizes[i].size, name, "%d, Hugging Face says %d",
                  tok_vocab_size(t), sizes[i].size);
    }
    tokenizer *q = load(0);
    if (q) {
        const char *s = tok_id_to_token(q, 9707);
        CHECK(s && !strcmp(s, "Hello") && tok_id_to_token(q, 151644) &&
                  !strcmp(tok_id_to_token(q, 151644), "<|im_start|>") && !tok_id_to_token(q, -1) &&
                  !tok_id_to_token(q, 151669),
              "tokenizer/id-to-token", "id 9707 -> %s", s ? s : "(null)");
        CHECK(tok_token_to_id(q, "Hello") == 9707 && tok_token_to_id(q, "<think>") == 151667 &&
                  tok_token_to_id(q, "no such token here") == -1,
              "tokenizer/token-to-id", "Hello -> %d, <think> -> %d", tok_token_to_id(q, "Hello"),
              tok_token_to_id(q, "<think>"));
    }
    static const struct {
        int k;
        const char *text, *want;
    } dec[] = {
        {0, "Hello world, na\xc3\xafve \xf0\x9f\x99\x82",
         "Hello world, na\xc3\xafve \xf0\x9f\x99\x82"},
        {3, "Hello world", "<s> Hello world"},
        {1, "H\xc3\xa9llo w\xc3\xb6rld \xf0\x9f\x99\x82 \xe6\x97\xa5\xe6\x9c\xac",
         "<s> H\xc3\xa9llo w\xc3\xb6rld \xf0\x9f\x99\x82 \xe6\x97\xa5\xe6\x9c\xac"},
    };
    for (size_t i = 0; i < sizeof dec / sizeof dec[0]; i++) {
        tokenizer *t = load(dec[i].k);
        char name[96];
        snprintf(name, sizeof name, "tokenizer/decode/%s", FIXTURES[dec[i].k].name);
        if (!t) continue;
        mp_err err;
        err_init(&err);
        int32_t *ids = NULL;
        size_t n = 0;
        char *out = NULL;
        if (tok_encode(t, dec[i].text, strlen(dec[i].text), 1, &ids, &n, &err) == 0)
            out = tok_decode(t, ids, n);
        CHECK(out && !strcmp(out, dec[i].want), name, "decoded \"%s\", Hugging Face gives \"%s\"",
              out ? out : "(null)", dec[i].want);
        free(out);
        free(ids);
    }
}

/* Two threads encode the golden texts with one shared tokenizer; results must equal a
 * single-threaded run. */
typedef struct {
    const tokenizer *t;
    json_t *list;
    uint64_t hash;
    int fail;
} thr_arg;

static void *thr_main(void *p)
{
    thr_arg *a = p;
    a->hash = 1469598103934665603ULL;
    for (int rep = 0; rep < 4; rep++)
        for (size_t i = 0; i < json_array_size(a->list); i++) {
            json_t *text = json_object_get(json_array_get(a->list, i), "text");
            mp_err err;
            err_init(&err);
            int32_t *ids = NULL;
            size_t n = 0;
            if (tok_encode(a->t, json_string_value(text), json_string_length(text), 1, &ids, &n,
                           &err))
                a->fail = 1;
            else
                a->hash ^= fnv_ids(ids, n) + i;
            free(ids);
        }
    return NULL;
}

static void test_threads(void)
{
    json_t *g = json_load_file(check_shared_path("fixtures/tokenizer/golden_ids.json"), 0, NULL);
    tokenizer *t = load(0);
    if (!g || !t) {
        json_decref(g);
        return;
    }
    thr_arg a[3] = {{t, json_object_get(g, "qwen"), 0, 0},
                    {t, json_object_get(g, "qwen"), 0, 0},
                    {t, json_object_get(g, "qwen"), 0, 0}};
    thr_main(&a[2]);
    pthread_t th[2];
    int started = 0;
    for (int i = 0; i < 2; i++) started += pthread_create(&th[i], NULL, thr_main, &a[i]) == 0;
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    CHECK(started == 2 && !a[0].fail && !a[1].fail && a[0].hash == a[2].hash &&
              a[1].hash == a[2].hash,
          "tokenizer/threads", "two threads sharing a tokenizer gave different ids");
    json_decref(g);
}

int main(void)
{
    test_golden();
    test_refs();
    test_edges();
    test_misc();
    test_threads();
    for (int k = 0; k < N_FIXTURES; k++) tok_free(TOK[k]);
    return check_finish();
}
