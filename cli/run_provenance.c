/* run_provenance.c — the run's identity for the archive (cli/run_provenance.h). Hashes only what
 * is small: a checkpoint's headers and JSON files, never its weights (tens of GB). */
#include "cli/run_provenance.h"

#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "pipeline/ops/ops.h"
#include "pipeline/parallel/comm.h"
#include "pipeline/util/sha256.h"

#define ST_MAX_HEADER (100u << 20) /* safetensors' own limit on the header */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* SHA-256 of a whole file into hex; 1 if hashed, 0 if absent, -1 on a read error. */
static int hash_file(const char *path, char hex[65], int64_t *bytes, mp_err *err)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f) {
        if (errno == ENOENT) return 0;
        return err_set(err, "%s: cannot open: %s", path, strerror(errno));
    }
    if (bytes) *bytes = fstat(fileno(f), &st) == 0 ? (int64_t)st.st_size : -1;
    int rc = sha256_file(f, -1, hex);
    fclose(f);
    if (rc != 0) return err_set(err, "%s: read error while hashing", path);
    return 1;
}

/* The header of one safetensors file: 8-byte little-endian length N, then N bytes of JSON. */
static int header_hash(const char *path, char hex[65], int64_t *bytes, mp_err *err)
{
    FILE *f = fopen(path, "rb");
    unsigned char len8[8];
    struct stat st;
    int rc = -1;
    if (!f) return err_set(err, "%s: cannot open: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) != 0) {
        err_set(err, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    *bytes = (int64_t)st.st_size;
    if (fread(len8, 1, 8, f) != 8) {
        err_set(err,
                "%s: offset 0: file of %lld bytes is too short for the 8-byte header length "
                "(expected a safetensors file)",
                path, (long long)st.st_size);
        goto done;
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | len8[i];
    if (n == 0 || n > ST_MAX_HEADER || n > (uint64_t)st.st_size - 8) {
        err_set(err,
                "%s: offset 0: header length %llu does not fit (file of %lld bytes, limit "
                "%u; expected 1..min(file size - 8, limit))",
                path, (unsigned long long)n, (long long)st.st_size, ST_MAX_HEADER);
        goto done;
    }
    if (sha256_file(f, (int64_t)n, hex) != 0) {
        err_set(err, "%s: read error in the header (%llu bytes from offset 8)", path,
                (unsigned long long)n);
        goto done;
    }
    rc = 0;
done:
    fclose(f);
    return rc;
}

char *run_prov_checkpoint_json(const char *model_dir, mp_err *err)
{
    json_t *o = json_object(), *files = json_array();
    char **names = NULL, *out = NULL, path[4400], hex[65];
    size_t n = 0, cap = 0;
    DIR *d = opendir(model_dir);
    if (!d) {
        err_set(err, "%s: cannot list the checkpoint folder: %s", model_dir, strerror(errno));
        goto done;
    }
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l <= 12 || strcmp(e->d_name + l - 12, ".safetensors")) continue;
        if (n == cap) {
            char **nn = realloc(names, (cap = cap ? 2 * cap : 8) * sizeof *nn);
            if (!nn) break;
            names = nn;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    json_object_set_new(o, "path", json_string(model_dir));
    for (size_t i = 0; i < n; i++) {
        int64_t bytes = 0;
        snprintf(path, sizeof path, "%s/%s", model_dir, names[i]);
        if (!names[i] || header_hash(path, hex, &bytes, err) != 0) goto done;
        json_t *fo = json_object();
        json_object_set_new(fo, "name", json_string(names[i]));
        json_object_set_new(fo, "bytes", json_integer(bytes));
        json_object_set_new(fo, "header_sha256", json_string(hex));
        json_array_append_new(files, fo);
    }
    json_object_set(o, "files", files);
    static const struct {
        const char *file, *key;
    } J[] = {{"config.json", "config_json_sha256"},
             {"tokenizer.json", "tokenizer_json_sha256"},
             {"model.safetensors.index.json", "index_json_sha256"}};
    for (size_t i = 0; i < sizeof J / sizeof *J; i++) {
        snprintf(path, sizeof path, "%s/%s", model_dir, J[i].file);
        int h = hash_file(path, hex, NULL, err);
        if (h < 0) goto done;
        if (h) json_object_set_new(o, J[i].key, json_string(hex));
    }
    out = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
    if (!out) err_set(err, "out of memory");
done:
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    json_decref(files);
    json_decref(o);
    return out;
}

char *run_prov_relations_json(const lre_set *rels, mp_err *err)
{
    json_t *a = json_array();
    char hex[65], *out = NULL;
    for (size_t i = 0; i < rels->n; i++) {
        int64_t bytes = -1;
        int h = hash_file(rels->rel[i].path, hex, &bytes, err);
        if (h == 0) err_set(err, "%s: relation file vanished since it was read", rels->rel[i].path);
        if (h <= 0) goto done;
        json_t *r = json_object();
        json_object_set_new(r, "id", json_string(rels->rel[i].id));
        json_object_set_new(r, "file", json_string(rels->rel[i].path));
        json_object_set_new(r, "bytes", json_integer(bytes));
        json_object_set_new(r, "sha256", json_string(hex));
        json_array_append_new(a, r);
    }
    out = json_dumps(a, JSON_COMPACT);
    if (!out) err_set(err, "out of memory");
done:
    json_decref(a);
    return out;
}

int run_prov_build(run_prov *p, const char *model_dir, const lre_set *rels, mp_err *err)
{
    memset(p, 0, sizeof *p);
    p->checkpoint_json = run_prov_checkpoint_json(model_dir, err);
    if (p->checkpoint_json) p->relations_json = run_prov_relations_json(rels, err);
    if (p->relations_json) return 0;
    run_prov_free(p);
    return -1;
}

void run_prov_free(run_prov *p)
{
    free(p->checkpoint_json);
    free(p->relations_json);
    memset(p, 0, sizeof *p);
}

/* The product kernels' path that ran (pipeline/ops/kern.h; every path gives the same bits). */
static const char *kernel_isa(void)
{
    return ops_isa();
}

void run_prov_fill(const run_prov *p, const char *command_line, arc_provenance *prov)
{
    static char blas[256];
    snprintf(blas, sizeof blas, "%s", openblas_get_config());
    prov->checkpoint_json = p->checkpoint_json;
    prov->relations_json = p->relations_json;
    prov->command_line = command_line;
    prov->mpi_library = comm_library_version();
    prov->openblas = blas;
    prov->libyaml = yaml_get_version_string();
    prov->kernel_isa = kernel_isa();
}

char *run_prov_command_line(int argc, char **argv)
{
    size_t len = 16;
    for (int i = 0; i < argc; i++) len += 4 * strlen(argv[i]) + 3;
    char *s = malloc(len), *o = s;
    if (!s) return NULL;
    o += sprintf(o, "moeprobe");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        *o++ = ' ';
        if (*a && !strpbrk(a, " \t\n'\"\\$`*?;&|<>()")) {
            o += sprintf(o, "%s", a);
            continue;
        }
        *o++ = '\'';
        for (; *a; a++) {
            if (*a == '\'')
                o += sprintf(o, "'\\''");
            else
                *o++ = *a;
        }
        *o++ = '\'';
    }
    *o = '\0';
    return s;
}
