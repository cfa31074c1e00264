/* test_relations.c — LRE relation files: all 12 relations of data/lre load with the sample
 * counts Python's json gives (906 in all), file order and duplicates kept, literal backslash
 * sequences kept, prompts built from the templates, and every malformed-file error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/config/relations.h"
#include "tests/unit/check.h"

/* From Python: json.load of each file (id, name, samples, zs templates, templates,
 * first subject, last object). */
static const struct {
    const char *id, *name;
    size_t n, n_zs, n_fs;
    const char *first_subject, *last_object;
} EXPECT[] = {
    {"adj_antonym", "adjective antonym", 100, 2, 1, "love", "shout"},
    {"country_capital_city", "country capital city", 24, 2, 2, "United States", "Canberra"},
    {"country_language", "country language", 24, 3, 3, "United States", "English"},
    {"fruit_inside_color", "fruit inside color", 36, 1, 1, "bananas", "orange"},
    {"name_birthplace", "name birthplace", 31, 2, 1, "Tal", "Thailand"},
    {"name_religion", "name religion", 31, 2, 1, "Abdullah", "Hinduism"},
    {"object_superclass", "object superclass", 76, 2, 1, "tiger", "fruit"},
    {"occupation_age", "occupation age", 45, 2, 1, "interns", "old"},
    {"occupation_gender", "occupation gender", 19, 3, 1, "nurses", "men"},
    {"word_first_letter", "word first letter", 241, 2, 1, "BEND", "B"},
    {"word_last_letter", "word last letter", 241, 2, 1, "BEND", "E"},
    {"work_location", "work location", 38, 2, 1, "farmer", "restaurant"},
};

static const char *write_file(const char *name, const char *text)
{
    static char path[4][4096];
    static int slot;
    char *p = path[slot++ % 4];
    snprintf(p, sizeof path[0], "%s/%s", check_tmp_dir(), name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return p;
}

static void test_all(void)
{
    lre_set s = {0};
    mp_err e;
    err_init(&e);
    int ok = lre_load_dir(&s, check_shared_path("data/lre"), &e) == 0;
    if (!CHECK(ok && s.n == 12, "relations.load_dir_12", "%s (n=%zu)", e.msg, s.n)) goto done;
    size_t total = 0, bad = 0;
    char why[512] = "";
    for (size_t i = 0; i < s.n; i++) {
        const lre_relation *r = &s.rel[i];
        total += r->n_samples;
        if (strcmp(r->id, EXPECT[i].id) || strcmp(r->name, EXPECT[i].name) ||
            r->n_samples != EXPECT[i].n || r->n_templates_zs != EXPECT[i].n_zs ||
            r->n_templates != EXPECT[i].n_fs ||
            strcmp(r->samples[0].subject, EXPECT[i].first_subject) ||
            strcmp(r->samples[r->n_samples - 1].object, EXPECT[i].last_object)) {
            if (!bad++)
                snprintf(why, sizeof why, "%s: n=%zu zs=%zu fs=%zu first=%s", r->id, r->n_samples,
                         r->n_templates_zs, r->n_templates, r->samples[0].subject);
        }
    }
    CHECK(!bad, "relations.each_matches_python", "%zu differ; first %s", bad, why);
    CHECK(total == 906, "relations.total_906", "total %zu", total);
    /* every prompt with template 0 builds and contains its subject */
    size_t built = 0;
    for (size_t i = 0; i < s.n; i++)
        for (size_t k = 0; k < s.rel[i].n_samples; k++) {
            char *p = NULL;
            if (lre_prompt(&s.rel[i], LRE_ZS, 0, k, &p, &e) == 0 &&
                strstr(p, s.rel[i].samples[k].subject) && !strstr(p, "{}"))
                built++;
            free(p);
        }
    CHECK(built == 906, "relations.prompts_906", "%zu built; %s", built, e.msg);

    const lre_relation *cc = &s.rel[1], *og = &s.rel[8], *os = &s.rel[6];
    char *p = NULL;
    ok = lre_prompt(cc, LRE_ZS, 0, 0, &p, &e) == 0 &&
         !strcmp(p, "The capital of United States is the city of");
    CHECK(ok, "relations.prompt_zs0", "%s '%s'", e.msg, p ? p : "");
    free(p);
    ok = lre_prompt(cc, LRE_FS, 1, 2, &p, &e) == 0 && !strcmp(p, "The capital of Mexico is");
    CHECK(ok, "relations.prompt_fs1", "%s '%s'", e.msg, p ? p : "");
    free(p);
    ok = lre_prompt(og, LRE_ZS, 2, 5, &p, &e) == 0 &&
         !strcmp(p, "Is the profession of librarians usually for men or women? It is usually for");
    CHECK(ok, "relations.prompt_zs2", "%s '%s'", e.msg, p ? p : "");
    free(p);
    /* "Bras\\u00edlia" in the file is the 12 characters B r a s \ u 0 0 e d l i a */
    CHECK(!strcmp(cc->samples[3].object, "Bras\\u00edlia") && strlen(cc->samples[3].object) == 13,
          "relations.literal_backslash_kept", "'%s'", cc->samples[3].object);
    CHECK(!strcmp(os->samples[1].subject, "eagle") && !strcmp(os->samples[51].subject, "eagle") &&
              !strcmp(os->samples[51].object, "bird"),
          "relations.duplicates_kept_in_order", "%s/%s", os->samples[1].subject,
          os->samples[51].subject);
    CHECK(!strcmp(os->properties_json, "{\"domain_name\":\"object\",\"range_name\":\"superclass\","
                                       "\"relation_type\":\"commonsense\",\"symmetric\":false}"),
          "relations.properties", "%s", os->properties_json);
    CHECK(lre_prompt(cc, LRE_ZS, 2, 0, &p, &e) == -1 && strstr(e.msg, "template index 2") && !p,
          "relations.template_out_of_range", "%s", e.msg);
    CHECK(lre_prompt(cc, LRE_ZS, 0, 24, &p, &e) == -1 && strstr(e.msg, "sample index 24"),
          "relations.sample_out_of_range", "%s", e.msg);
done:
    lre_set_free(&s);
}

static void expect_error(const char *name, const char *file, const char *text, const char *want)
{
    lre_relation r;
    mp_err e;
    err_init(&e);
    const char *p = write_file(file, text);
    int rc = lre_load(&r, p, &e);
    CHECK(rc == -1 && strstr(e.msg, want) && strstr(e.msg, file) && r.samples == NULL, name,
          "rc=%d msg='%s' (wanted '%s')", rc, e.msg, want);
    lre_free(&r);
}

#define GOOD_HEAD "{\"name\": \"x\", \"prompt_templates_zs\": [\"a {} b\"], "

static void test_errors(void)
{
    lre_relation r;
    mp_err e;
    err_init(&e);
    CHECK(lre_load(&r, "/nonexistent/rel.json", &e) == -1 && strstr(e.msg, "/nonexistent/rel.json"),
          "relations.error_missing_file", "%s", e.msg);
    expect_error("relations.error_bad_json", "bad.json", "{\"name\": \"x\",\n  \"samples\": [,]}",
                 "bad.json:2:");
    expect_error("relations.error_not_object", "arr.json", "[1, 2]", "top level is not an object");
    expect_error("relations.error_no_samples", "nos.json", GOOD_HEAD "\"x\": 1}",
                 "missing key 'samples'");
    expect_error("relations.error_empty_samples", "empty.json", GOOD_HEAD "\"samples\": []}",
                 "'samples' is empty");
    expect_error("relations.error_samples_not_list", "nl.json", GOOD_HEAD "\"samples\": {}}",
                 "'samples' is not a list");
    expect_error("relations.error_no_object", "noobj.json",
                 GOOD_HEAD
                 "\"samples\": [{\"subject\": \"a\", \"object\": \"b\"}, {\"subject\": \"c\"}]}",
                 "samples[1].object is missing");
    expect_error("relations.error_subject_not_string", "num.json",
                 GOOD_HEAD "\"samples\": [{\"subject\": 3, \"object\": \"b\"}]}",
                 "samples[0].subject is not a string");
    expect_error("relations.error_sample_not_object", "sno.json", GOOD_HEAD "\"samples\": [\"a\"]}",
                 "samples[0] is not an object");
    expect_error("relations.error_name_missing", "noname.json",
                 "{\"prompt_templates_zs\": [\"{}\"], \"samples\": [{\"subject\": \"a\", "
                 "\"object\": \"b\"}]}",
                 "'name' is missing");
    expect_error("relations.error_template_no_placeholder", "tpl.json",
                 "{\"name\": \"x\", \"prompt_templates_zs\": [\"a {} b\", \"no hole\"], "
                 "\"samples\": [{\"subject\": \"a\", \"object\": \"b\"}]}",
                 "prompt_templates_zs[1] \"no hole\" has no {}");
    expect_error("relations.error_template_not_string", "tpl2.json",
                 "{\"name\": \"x\", \"prompt_templates_zs\": [\"{}\"], \"prompt_templates\": [1], "
                 "\"samples\": [{\"subject\": \"a\", \"object\": \"b\"}]}",
                 "prompt_templates[0] is not a string");
    expect_error("relations.error_templates_zs_missing", "nozs.json",
                 "{\"name\": \"x\", \"samples\": [{\"subject\": \"a\", \"object\": \"b\"}]}",
                 "missing key 'prompt_templates_zs'");

    /* two placeholders are both replaced; an absent prompt_templates is an empty list */
    const char *p = write_file("two.json", "{\"name\": \"x\", \"prompt_templates_zs\": "
                                           "[\"{} and {}\"], \"samples\": [{\"subject\": \"ab\", "
                                           "\"object\": \"c\"}]}");
    char *out = NULL;
    int ok = lre_load(&r, p, &e) == 0 && r.n_templates == 0 && !strcmp(r.id, "two") &&
             lre_prompt(&r, LRE_ZS, 0, 0, &out, &e) == 0 && !strcmp(out, "ab and ab");
    CHECK(ok, "relations.two_placeholders", "%s '%s'", e.msg, out ? out : "");
    free(out);
    lre_free(&r);

    /* a folder without .json files */
    lre_set s;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/emptydir", check_tmp_dir());
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && touch '%s/LICENSE'", dir, dir);
    ok = system(cmd) == 0;
    CHECK(ok && lre_load_dir(&s, dir, &e) == -1 && strstr(e.msg, "no .json"),
          "relations.error_empty_folder", "%s", e.msg);
    /* a folder with one bad file fails as a whole, naming the file */
    write_file("emptydir/a.json", "{\"name\": \"x\", \"prompt_templates_zs\": [\"{}\"], "
                                  "\"samples\": [{\"subject\": \"a\", \"object\": \"b\"}]}");
    write_file("emptydir/b.json", "{");
    CHECK(lre_load_dir(&s, dir, &e) == -1 && strstr(e.msg, "b.json") && s.n == 0,
          "relations.error_bad_file_in_folder", "%s", e.msg);
}

int main(void)
{
    test_all();
    test_errors();
    return check_finish();
}
