/* checkpoint.c — see checkpoint.h. Opens the single file or the shards of the index, then
 * cross-checks the index's weight_map against what each shard actually holds. */
#include "pipeline/model/checkpoint.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void ckpt_init(ckpt *c)
{
    memset(c, 0, sizeof *c);
    nmap_init(&c->names);
    c->index_total_size = -1;
    c->index_total_parameters = -1;
}

void ckpt_close(ckpt *c)
{
    for (int i = 0; i < c->n_shards; i++) {
        if (c->shards) st_close(&c->shards[i]);
        if (c->shard_names) free(c->shard_names[i]);
    }
    free(c->shards);
    free(c->shard_names);
    nmap_free(&c->names);
    ckpt_init(c);
}

static int file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int64_t pack(int shard, int entry)
{
    return ((int64_t)shard << 32) | (int64_t)(uint32_t)entry;
}

static ckpt_ref unpack(int64_t v)
{
    ckpt_ref r = {(int)(v >> 32), (int)(uint32_t)v};
    return r;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Opens c->shard_names[0..n_shards) and tallies bytes. */
static int open_shards(ckpt *c, mp_err *err)
{
    c->shards = calloc((size_t)c->n_shards, sizeof *c->shards);
    if (!c->shards) return err_set(err, "%s: out of memory", c->dir);
    for (int s = 0; s < c->n_shards; s++) st_init(&c->shards[s]);
    for (int s = 0; s < c->n_shards; s++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", c->dir, c->shard_names[s]);
        if (st_open(&c->shards[s], path, err) != 0) return -1;
        const st_file *f = &c->shards[s];
        c->file_bytes += f->map_len;
        for (int i = 0; i < f->n_entries; i++) {
            uint64_t b = f->entries[i].end - f->entries[i].begin;
            c->bytes_by_dtype[f->entries[i].dtype] += b;
            c->total_bytes += b;
        }
    }
    return 0;
}

static int valid_shard_name(const char *s)
{
    return *s && !strchr(s, '/') && !strchr(s, '\\') && !strstr(s, "..") && strcmp(s, ".") != 0;
}

static int open_index(ckpt *c, const char *index_path, mp_err *err)
{
    int rc = -1;
    char v[256];
    json_error_t jerr;
    json_t *root = json_load_file(index_path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        err_set(err,
                "%s: not valid JSON: %s (line %d, column %d), expected the index of a "
                "sharded checkpoint",
                index_path, jerr.text, jerr.line, jerr.column);
        goto done;
    }
    json_t *meta = json_object_get(root, "metadata");
    if (json_is_object(meta)) {
        json_t *ts = json_object_get(meta, "total_size");
        json_t *tp = json_object_get(meta, "total_parameters");
        if (json_is_integer(ts)) c->index_total_size = json_integer_value(ts);
        if (json_is_integer(tp)) c->index_total_parameters = json_integer_value(tp);
    }
    json_t *wm = json_object_get(root, "weight_map");
    if (!json_is_object(wm)) {
        char *s = wm ? json_dumps(wm, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
        snprintf(v, sizeof v, "%.200s", s ? s : "absent");
        free(s);
        err_set(err,
                "%s: \"weight_map\" is %s, expected an object mapping tensor names to shard "
                "files",
                index_path, v);
        goto done;
    }
    /* The distinct shard names, validated, sorted. */
    size_t n = json_object_size(wm);
    c->shard_names = calloc(n ? n : 1, sizeof *c->shard_names);
    if (!c->shard_names) {
        err_set(err, "%s: out of memory", index_path);
        goto done;
    }
    nmap seen;
    nmap_init(&seen);
    const char *key;
    json_t *val;
    json_object_foreach(wm, key, val)
    {
        if (!json_is_string(val)) {
            char *s = json_dumps(val, JSON_ENCODE_ANY | JSON_COMPACT);
            err_set(err, "%s: \"weight_map\".\"%s\" = %.200s, expected a shard file name",
                    index_path, key, s ? s : "?");
            free(s);
            nmap_free(&seen);
            goto done;
        }
        const char *sn = json_string_value(val);
        if (!valid_shard_name(sn)) {
            err_set(err,
                    "%s: \"weight_map\".\"%s\" = \"%s\", expected a plain file name in the "
                    "checkpoint folder (no '/', no '..')",
                    index_path, key, sn);
            nmap_free(&seen);
            goto done;
        }
        int r = nmap_put(&seen, sn, 0, NULL);
        if (r < 0) {
            err_set(err, "%s: out of memory", index_path);
            nmap_free(&seen);
            goto done;
        }
        if (r == 0) {
            c->shard_names[c->n_shards] = strdup(sn);
            if (!c->shard_names[c->n_shards]) {
                err_set(err, "%s: out of memory", index_path);
                nmap_free(&seen);
                goto done;
            }
            c->n_shards++;
        }
    }
    nmap_free(&seen);
    qsort(c->shard_names, (size_t)c->n_shards, sizeof *c->shard_names, cmp_str);
    for (int s = 0; s < c->n_shards; s++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", c->dir, c->shard_names[s]);
        if (!file_exists(path)) {
            err_set(err,
                    "%s: shard \"%s\" named in \"weight_map\" does not exist (expected the "
                    "file %s)",
                    index_path, c->shard_names[s], path);
            goto done;
        }
    }
    if (open_shards(c, err) != 0) goto done;

    /* Every listed tensor is in its shard; register it. */
    json_object_foreach(wm, key, val)
    {
        const char *sn = json_string_value(val);
        char **hit =
            bsearch(&sn, c->shard_names, (size_t)c->n_shards, sizeof *c->shard_names, cmp_str);
        int s = (int)(hit - c->shard_names);
        int e = st_find(&c->shards[s], key);
        if (e < 0) {
            err_set(err,
                    "%s: tensor \"%s\" is mapped to %s, which does not contain it (expected "
                    "it among the shard's %d tensors)",
                    index_path, key, sn, c->shards[s].n_entries);
            goto done;
        }
        const char *stable = c->shards[s].entries[e].name; /* outlives the JSON */
        if (nmap_put(&c->names, stable, pack(s, e), NULL) < 0) {
            err_set(err, "%s: out of memory", index_path);
            goto done;
        }
    }
    /* No shard holds a tensor the index puts elsewhere or leaves out. */
    for (int s = 0; s < c->n_shards; s++) {
        const st_file *f = &c->shards[s];
        for (int e = 0; e < f->n_entries; e++) {
            int64_t at;
            if (!nmap_get(&c->names, f->entries[e].name, &at)) {
                err_set(err,
                        "%s/%s: tensor \"%s\" (data offset %llu) is not listed in %s, "
                        "expected every tensor of a shard in \"weight_map\"",
                        c->dir, c->shard_names[s], f->entries[e].name,
                        (unsigned long long)f->entries[e].begin, CKPT_INDEX);
                goto done;
            }
            ckpt_ref r = unpack(at);
            if (r.shard != s || r.entry != e) {
                err_set(err,
                        "%s/%s: tensor \"%s\" (data offset %llu) also appears here, but %s "
                        "maps it to %s; expected each tensor in exactly one shard",
                        c->dir, c->shard_names[s], f->entries[e].name,
                        (unsigned long long)f->entries[e].begin, CKPT_INDEX,
                        c->shard_names[r.shard]);
                goto done;
            }
        }
    }
    c->n_tensors = (int64_t)c->names.count;
    rc = 0;
done:
    json_decref(root);
    return rc;
}

static int open_single(ckpt *c, mp_err *err)
{
    c->shard_names = calloc(1, sizeof *c->shard_names);
    if (!c->shard_names || !(c->shard_names[0] = strdup(CKPT_SINGLE)))
        return err_set(err, "%s: out of memory", c->dir);
    c->n_shards = 1;
    if (open_shards(c, err) != 0) return -1;
    const st_file *f = &c->shards[0];
    for (int e = 0; e < f->n_entries; e++)
        if (nmap_put(&c->names, f->entries[e].name, pack(0, e), NULL) < 0)
            return err_set(err, "%s: out of memory", f->path);
    c->n_tensors = f->n_entries;
    return 0;
}

int ckpt_open(ckpt *c, const char *dir, mp_err *err)
{
    int rc = -1;
    ckpt_init(c);
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/') dl--;
    if (dl >= sizeof c->dir) {
        err_set(err, "%.200s...: path too long, expected at most %zu bytes", dir,
                sizeof c->dir - 1);
        goto done;
    }
    memcpy(c->dir, dir, dl);
    c->dir[dl] = '\0';
    struct stat sb;
    if (stat(c->dir, &sb) != 0) {
        err_set(err, "%s: %s, expected a checkpoint folder", c->dir, strerror(errno));
        goto done;
    }
    if (!S_ISDIR(sb.st_mode)) {
        err_set(err, "%s: not a folder, expected a checkpoint folder", c->dir);
        goto done;
    }
    char single[8192], index[8192];
    snprintf(single, sizeof single, "%s/%s", c->dir, CKPT_SINGLE);
    snprintf(index, sizeof index, "%s/%s", c->dir, CKPT_INDEX);
    if (file_exists(single)) {
        snprintf(c->source, sizeof c->source, "%s", CKPT_SINGLE);
        rc = open_single(c, err);
    } else if (file_exists(index)) {
        snprintf(c->source, sizeof c->source, "%s", CKPT_INDEX);
        rc = open_index(c, index, err);
    } else {
        err_set(err, "%s: no %s or %s, expected a Hugging Face safetensors checkpoint folder",
                c->dir, CKPT_SINGLE, CKPT_INDEX);
    }
done:
    if (rc != 0) ckpt_close(c);
    return rc;
}

int ckpt_find(const ckpt *c, const char *name, mp_tensor *out, ckpt_ref *ref)
{
    int64_t v;
    if (!nmap_get(&c->names, name, &v)) return 0;
    ckpt_ref r = unpack(v);
    if (out) st_view(&c->shards[r.shard], r.entry, out);
    if (ref) *ref = r;
    return 1;
}

const char *ckpt_shard_name(const ckpt *c, ckpt_ref ref)
{
    return c->shard_names[ref.shard];
}

const char *ckpt_tensor_name(const ckpt *c, ckpt_ref ref)
{
    return c->shards[ref.shard].entries[ref.entry].name;
}

void ckpt_prefetch(const mp_tensor *t)
{
    if (t && t->data) st_prefetch(t->data, (size_t)tensor_numel(t) * dtype_size(t->dtype));
}
