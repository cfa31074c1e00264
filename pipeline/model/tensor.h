/* tensor.h — a read-only view of one checkpoint tensor, as memory-mapped from safetensors.
 *
 * Layout: row-major (C order), the last dimension contiguous, exactly as torch saves it. A
 * Linear weight is [out_features, in_features]: y = W x reads row i for output i. Views of a
 * slice of a fused tensor (expert e of `mlp.experts.gate_up_proj`) point inside the mapping.
 * The data is owned by the checkpoint (ckpt_close unmaps it); a view never frees anything.
 * data == NULL means "absent" (optional tensors such as q_proj.bias). */
#ifndef MOEPROBE_TENSOR_H
#define MOEPROBE_TENSOR_H

#include <stdint.h>

#include "pipeline/model/dtype.h"

#define MP_TENSOR_MAX_DIMS 4

typedef struct mp_tensor {
    const void *data; /* first element; NULL = absent */
    mp_dtype dtype;
    int ndim;
    int64_t shape[MP_TENSOR_MAX_DIMS];
} mp_tensor;

static inline int64_t tensor_numel(const mp_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

#endif
