/* schema.c — the keys of the run itself and of model files, and the run-config schema built
 * from them and the analyses' sections (schema.h). An analysis's keys live with the analysis
 * (stages/), never here. */
#include "pipeline/config/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOLIM RCFG_NOLIM
#define N_OF(t) (sizeof(t) / sizeof((t)[0]))

/* clang-format off */
static const rcfg_key RUN_KEYS[] = {
    /* ---- required: a config of these three keys is enough ---- */
    {"model", RCFG_PATH, RCFG_SPECIAL | RCFG_NULLABLE | RCFG_HIDE_NULL, NULL, NOLIM, NULL,
     "Hugging Face checkpoint folder, or a model YAML file (see the model-file keys below). "
     "Required unless `models` is given."},
    {"models", RCFG_PATH_LIST, RCFG_SPECIAL | RCFG_NULLABLE | RCFG_HIDE_NULL, NULL, NOLIM, NULL,
     "Sweep form of `model`: a list of checkpoint folders and/or model YAML files; one archive "
     "per model. Exclusive with `model`."},
    {"relations", RCFG_PATH_LIST, RCFG_SPECIAL | RCFG_REQUIRED, NULL, NOLIM, NULL,
     "A folder of LRE relation .json files, one .json file, a relation name (resolved in "
     "relations_dir), or a list of files and names."},
    {"out", RCFG_PATH, RCFG_REQUIRED | RCFG_NOT_FILE, NULL, NOLIM, NULL,
     "Output folder for the archive(s) and the report; created if missing."},
    /* ---- run ---- */
    {"name", RCFG_STR, RCFG_NULLABLE, "null", NOLIM, NULL,
     "Run name, used for the archive file OUT/NAME.h5 (default: the model folder's name). "
     "Single-model runs only; in sweeps each model file carries its name."},
    {"relations_dir", RCFG_PATH, 0, "data/lre", NOLIM, NULL,
     "Folder in which relation names given in `relations` are looked up; when given, it "
     "must exist, even if every relation is a file."},
    {"template", RCFG_INT, RCFG_ALL, "0", 0, 1000, NULL,
     "Index into each relation's prompt_templates_zs, or \"all\" to run every template."},
    {"max_samples", RCFG_INT, 0, "0", 0, 1e9, NULL,
     "Use at most this many samples per relation, in file order (0 = all)."},
    {"batch_size", RCFG_INT, 0, "64", 1, 65536, NULL,
     "Prompts per forward batch on each rank."},
    {"expert_placement", RCFG_ENUM, 0, "contiguous", NOLIM, "contiguous|round_robin",
     "How routed experts are spread over MPI ranks: contiguous blocks or round robin."},
    {"eval_precision", RCFG_ENUM, 0, "float32", NOLIM, "float32|bf16_screened",
     "Products of the block analysis's evaluation passes (blocking, top-k, keep-rank and "
     "shared-expert ablations): float32, or bf16_screened: bf16 products (AVX512_BF16 where "
     "the CPU has it, an exact emulation elsewhere), every sample near a rank or routing tie "
     "recomputed in float32, so ranks and metrics equal float32's (docs/method.md). Not "
     "faster than float32 on the CPUs measured so far (docs/performance.md). Captures, "
     "attribution, head suppression and expert forcing stay float32; checkpoints not in bf16 "
     "run float32."},
    /* values and default: the analyses' names (rcfg_schema_build) */
    {"stages", RCFG_ENUM_LIST, 0, NULL, NOLIM, NULL,
     "Which analyses to run (a later stage reads what earlier ones stored in the archive)."},
    {"snapshot_every_s", RCFG_FLOAT, 0, "0", 0, 1e9, NULL,
     "Rebuild the archive snapshot OUT/NAME.h5 at most every S seconds (0 = after every "
     "completed unit); always at the end."},
    {"progress_every_s", RCFG_FLOAT, 0, "30", 0, 1e9, NULL,
     "Print a progress line (% done, ETA) on stderr every S seconds (0 = never)."},
};
/* clang-format on */

/* After the analyses' sections. */
/* clang-format off */
static const rcfg_key ARCHIVE_KEYS[] = {
    {"archive", RCFG_MAP, 0, NULL, NOLIM, NULL, "The HDF5 archive."},
    {"archive.deflate", RCFG_INT, 0, "1", 0, 9, NULL,
     "Deflate level of chunked datasets (0 = uncompressed; float32 activations shrink ~14% "
     "at any level, level 1 is the fastest)."},
};
/* clang-format on */

/* clang-format off */
static const rcfg_key MODEL_KEYS[] = {
    {"name", RCFG_STR, RCFG_REQUIRED, NULL, NOLIM, NULL,
     "Model name: archive OUT/NAME.h5 and report labels."},
    {"path", RCFG_PATH, RCFG_REQUIRED | RCFG_DIR, NULL, NOLIM, NULL,
     "Hugging Face checkpoint folder."},
    {"batch_size", RCFG_INT, RCFG_NULLABLE, "null", 1, 65536, NULL,
     "Overrides the run's batch_size for this model."},
    {"ranks", RCFG_INT, RCFG_NULLABLE, "null", 1, 65536, NULL,
     "MPI ranks to use for this model (sweep planning); null = any."},
};
/* clang-format on */

const rcfg_schema RCFG_MODEL_SCHEMA = {
    MODEL_KEYS, N_OF(MODEL_KEYS), "model file", "", NULL, NULL, NULL, NULL, 0, NULL, 0};

/* ---- building the run-config schema ---------------------------------------------------- */

/* 0 if section sec of analysis `name` keeps the rules of schema.h, else -1 with err. */
static int check_section(const char *name, const rcfg_section *sec, mp_err *err)
{
    size_t nl = strlen(name);
    if (sec->n == 0 || sec->keys[0].type != RCFG_MAP || strcmp(sec->keys[0].path, name))
        return err_set(err,
                       "config section of analysis %s: the first key must be the section "
                       "'%s' itself",
                       name, name);
    for (size_t i = 1; i < sec->n; i++) {
        const char *p = sec->keys[i].path, *dot = strrchr(p, '.');
        if (strncmp(p, name, nl) || p[nl] != '.')
            return err_set(err, "config key '%s' of analysis %s lies outside its section '%s'", p,
                           name, name);
        int parent = 0;
        for (size_t j = 0; j < i && !parent; j++)
            parent = sec->keys[j].type == RCFG_MAP &&
                     strlen(sec->keys[j].path) == (size_t)(dot - p) &&
                     !strncmp(sec->keys[j].path, p, (size_t)(dot - p));
        if (!parent)
            return err_set(err, "config key '%s' of analysis %s comes before its section", p, name);
    }
    if (sec->check && (!sec->check_at || !sec->check_at[0]))
        return err_set(err, "config section of analysis %s: a check needs check_at", name);
    return 0;
}

/* `stages`: the values "a|b|c" and the default "[a, b, c]" of the analyses' names. */
static int stage_lists(rcfg_schema *s, const rcfg_analysis *a, size_t n)
{
    size_t len = 3;
    for (size_t i = 0; i < n; i++) len += strlen(a[i].name) + 2;
    s->analysis_values = malloc(len);
    s->analysis_default = malloc(len);
    if (!s->analysis_values || !s->analysis_default) return -1;
    s->analysis_values[0] = '\0';
    strcpy(s->analysis_default, "[");
    for (size_t i = 0; i < n; i++) {
        strcat(s->analysis_values, i ? "|" : "");
        strcat(s->analysis_values, a[i].name);
        strcat(s->analysis_default, i ? ", " : "");
        strcat(s->analysis_default, a[i].name);
    }
    strcat(s->analysis_default, "]");
    return 0;
}

const rcfg_key *rcfg_run_key(const char *path)
{
    for (size_t i = 0; i < N_OF(RUN_KEYS); i++)
        if (!strcmp(RUN_KEYS[i].path, path)) return &RUN_KEYS[i];
    return NULL;
}

int rcfg_schema_build(rcfg_schema **out, const rcfg_analysis *a, size_t n, mp_err *err)
{
    rcfg_schema *s = calloc(1, sizeof *s);
    size_t nk = N_OF(RUN_KEYS) + N_OF(ARCHIVE_KEYS), k = 0;
    int rc = -1;
    *out = NULL;
    if (!s) return err_set(err, "config schema: out of memory");
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++)
            if (!strcmp(a[i].name, a[j].name)) {
                err_set(err, "config schema: analysis %s is given twice", a[i].name);
                goto done;
            }
        if (a[i].section && check_section(a[i].name, a[i].section, err) != 0) goto done;
        nk += a[i].section ? a[i].section->n : 0;
    }
    s->own = calloc(nk, sizeof *s->own);
    s->checked = calloc(n ? n : 1, sizeof *s->checked);
    s->reserved_ids = calloc(n ? n : 1, sizeof *s->reserved_ids);
    if (!s->own || !s->checked || !s->reserved_ids || stage_lists(s, a, n) != 0) {
        err_set(err, "config schema: out of memory");
        goto done;
    }
    for (size_t i = 0; i < N_OF(RUN_KEYS); i++) s->own[k++] = RUN_KEYS[i];
    for (size_t i = 0; i < n; i++)
        if (a[i].unit_name) s->reserved_ids[s->n_reserved++] = a[i].unit_name;
    for (size_t i = 0; i < n; i++) {
        const rcfg_section *sec = a[i].section;
        if (!sec) continue;
        for (size_t j = 0; j < sec->n; j++) s->own[k++] = sec->keys[j];
        if (sec->check) s->checked[s->n_checked++] = sec;
    }
    for (size_t i = 0; i < N_OF(ARCHIVE_KEYS); i++) s->own[k++] = ARCHIVE_KEYS[i];
    for (size_t i = 1; i < k; i++)
        for (size_t q = 0; q < i; q++)
            if (!strcmp(s->own[q].path, s->own[i].path)) {
                err_set(err,
                        "config key '%s' exists already (an analysis's section may not "
                        "take the name of another one's or of the run's own keys)",
                        s->own[i].path);
                goto done;
            }
    for (size_t i = 0; i < k; i++)
        if (!strcmp(s->own[i].path, "stages")) {
            s->own[i].values = s->analysis_values;
            s->own[i].def = s->analysis_default;
        }
    s->keys = s->own;
    s->n = k;
    s->what = "run config";
    s->example = " such as model, relations and out";
    rc = 0;
done:
    if (rc == 0)
        *out = s;
    else
        rcfg_schema_free(s);
    return rc;
}

void rcfg_schema_free(rcfg_schema *s)
{
    if (!s) return;
    free(s->own);
    free(s->analysis_values);
    free(s->analysis_default);
    free(s->checked);
    free(s->reserved_ids);
    free(s);
}

int rcfg_schema_find(const rcfg_schema *s, const char *path)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->keys[i].path, path)) return (int)i;
    return -1;
}

const char *rcfg_type_text(const rcfg_key *k, char *buf, size_t len)
{
    static const char *names[] = {"section",        "string",       "path",        "int",
                                  "float",          "bool",         "enum",        "list of int",
                                  "list of string", "list of enum", "list of path"};
    const char *base = names[k->type];
    char extra[256] = "";
    if (!strcmp(k->path, "relations"))
        base = "folder, file, name, or list of files/names";
    else if (!strcmp(k->path, "model"))
        base = "path (folder or model YAML file)";
    else if (!strcmp(k->path, "models"))
        base = "list of paths (folders or model YAML files)";
    if (k->type == RCFG_PATH && (k->flags & RCFG_DIR))
        snprintf(extra, sizeof extra, " (existing folder)");
    else if (k->type == RCFG_PATH && (k->flags & RCFG_FILE))
        snprintf(extra, sizeof extra, " (existing file)");
    else if (k->type == RCFG_PATH && (k->flags & RCFG_NOT_FILE))
        snprintf(extra, sizeof extra, " (folder, created if missing)");
    else if ((k->type == RCFG_INT || k->type == RCFG_FLOAT || k->type == RCFG_INT_LIST) &&
             k->max > k->min)
        snprintf(extra, sizeof extra, ", %s%g..%g", k->type == RCFG_INT_LIST ? "each " : "", k->min,
                 k->max);
    if (k->type == RCFG_ENUM || k->type == RCFG_ENUM_LIST)
        snprintf(extra, sizeof extra, ": %s", k->values);
    snprintf(buf, len, "%s%s%s%s", base, extra, (k->flags & RCFG_ALL) ? ", or \"all\"" : "",
             (k->flags & RCFG_NULLABLE) && strcmp(k->path, "model") && strcmp(k->path, "models")
                 ? ", or null"
                 : "");
    return buf;
}

static void explain_table(FILE *f, const rcfg_schema *s)
{
    char tt[512];
    for (size_t i = 0; i < s->n; i++) {
        const rcfg_key *k = &s->keys[i];
        int depth = 0;
        for (const char *c = k->path; *c; c++) depth += *c == '.';
        if (k->type == RCFG_MAP) {
            fprintf(f, "%*s%s:  (section) %s\n", 2 * depth, "", k->path, k->doc);
            continue;
        }
        const char *def = (k->flags & RCFG_REQUIRED) ? "required" : k->def ? k->def : "none";
        if (!strcmp(k->path, "model") || !strcmp(k->path, "models"))
            def = "required: model or models";
        fprintf(f, "%*s%s  [%s]  default: %s\n", 2 * depth, "", k->path,
                rcfg_type_text(k, tt, sizeof tt), def);
        fprintf(f, "%*s    %s\n", 2 * depth, "", k->doc);
    }
}

void rcfg_explain(FILE *f, const rcfg_schema *s)
{
    fprintf(f, "Run config keys (moeprobe run CONFIG.yaml). Nested keys are written as YAML "
               "sections:\n  block:\n    top_n: [1, 5]\nRelative paths are taken from the "
               "working directory.\n\n");
    explain_table(f, s);
    fprintf(f, "\nModel file keys (a YAML file given in `model` or `models`, e.g. "
               "configs/models/NAME.yaml):\n\n");
    explain_table(f, &RCFG_MODEL_SCHEMA);
}
