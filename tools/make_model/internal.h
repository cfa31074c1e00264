/* internal.h — the tensor plan shared by make_model.c (what to write) and
 * write.c (generating and writing shards). Not part of the public interface. */
#ifndef MOEPROBE_MAKE_MODEL_INTERNAL_H
#define MOEPROBE_MAKE_MODEL_INTERNAL_H

#include <stdint.h>

#include "pipeline/model/dtype.h"
#include "pipeline/util/error.h"

#define MKM_NAME 192

/* A run of elements drawn from one value stream (a per-expert tensor name). A fused tensor is
 * several parts back to back; any other tensor is one part named like itself. */
typedef struct mkm_part {
    char stream[MKM_NAME];
    int64_t numel;
} mkm_part;

typedef struct mkm_tensor {
    char name[MKM_NAME]; /* on disk */
    int ndim;
    int64_t shape[3];
    int ones;          /* norm weight: all 1.0 */
    int part0, nparts; /* into mkm_plan.parts */
    uint64_t bytes;
    int shard;
    uint64_t begin; /* data offset within its shard */
} mkm_tensor;

typedef struct mkm_plan {
    mkm_tensor *t;
    int nt, cap_t;
    mkm_part *parts;
    int np, cap_p;
    mp_dtype dtype;
    float std;
    uint64_t seed;
    int n_shards;
} mkm_plan;

/* Writes shard s of the plan (its tensors sorted by name, offsets assigned) to dir/final_name
 * through a temp file (atomic_file.h): generate, write, fsync, rename. Adds the bytes to
 * *written. */
int mkm_write_shard(const mkm_plan *p, int s, const char *dir, const char *final_name,
                    uint64_t *written, mp_err *err);
/* Writes `len` bytes to dir/name durably (af_write_atomic). */
int mkm_write_file(const char *dir, const char *name, const char *data, size_t len, mp_err *err);

#endif
