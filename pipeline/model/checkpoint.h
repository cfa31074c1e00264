/* checkpoint.h — the weights of a Hugging Face checkpoint folder, memory-mapped.
 *
 * A folder holds either `model.safetensors` (preferred when both exist, as transformers does) or
 * `model.safetensors.index.json` whose "weight_map" maps each tensor name to a shard file in the
 * same folder. ckpt_open maps every shard (safetensors.h validates each one) and checks the
 * index against them: shard names are plain file names (no '/', no ".."), every tensor the
 * index lists is in its shard, and no shard holds a tensor the index lists elsewhere or not at
 * all. Tensor lookup by name is O(1). Nothing is read beyond the headers.
 *
 * Memory: the ckpt owns the mappings; views (mp_tensor.data) stay valid until ckpt_close. */
#ifndef MOEPROBE_CHECKPOINT_H
#define MOEPROBE_CHECKPOINT_H

#include <stdint.h>

#include "pipeline/util/error.h"
#include "pipeline/model/internal.h"
#include "pipeline/model/safetensors.h"
#include "pipeline/model/tensor.h"

#define CKPT_SINGLE "model.safetensors"
#define CKPT_INDEX "model.safetensors.index.json"

typedef struct ckpt {
    char dir[4096];
    char source[64]; /* CKPT_INDEX or CKPT_SINGLE: where the tensor list comes from */
    int n_shards;
    char **shard_names; /* [n_shards] file names within dir, sorted */
    st_file *shards;    /* [n_shards] */
    nmap names;         /* tensor name -> (shard << 32) | entry */
    int64_t n_tensors;
    uint64_t bytes_by_dtype[MP_DTYPE_COUNT]; /* tensor data bytes */
    uint64_t total_bytes;                    /* sum of the above */
    uint64_t file_bytes;                     /* sum of shard file sizes (headers included) */
    int64_t index_total_size;                /* index "metadata"."total_size", -1 if absent */
    int64_t index_total_parameters;          /* index "metadata"."total_parameters", -1 if absent */
} ckpt;

/* A tensor's place in the checkpoint, for iteration and messages. */
typedef struct ckpt_ref {
    int shard;
    int entry;
} ckpt_ref;

void ckpt_init(ckpt *c);
/* Opens DIR. On failure c is left closed and err names the file and problem. */
int ckpt_open(ckpt *c, const char *dir, mp_err *err);
void ckpt_close(ckpt *c);

/* Looks NAME up: returns 1 and fills *out (and *ref if non-NULL) when present, else 0. */
int ckpt_find(const ckpt *c, const char *name, mp_tensor *out, ckpt_ref *ref);
/* The shard file name (within dir) holding the tensor at ref. */
const char *ckpt_shard_name(const ckpt *c, ckpt_ref ref);
/* Name of the tensor at ref (valid until ckpt_close). */
const char *ckpt_tensor_name(const ckpt *c, ckpt_ref ref);
/* Asks the kernel to start reading a tensor's pages (madvise WILLNEED); best effort. */
void ckpt_prefetch(const mp_tensor *t);

#endif
