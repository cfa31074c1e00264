/* read.c — small conversions for the loaders: a numeric array of any stored type as doubles,
 * and the number in a name such as "top100". */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/archive/archive.h"
#include "report/internal.h"

double *rep_arr_f64(const arc_array *a)
{
    if (a->type == ARC_STR) return NULL;
    double *v = malloc((a->count ? a->count : 1) * sizeof *v);
    if (!v) return NULL;
    for (size_t i = 0; i < a->count; i++) {
        switch (a->type) {
        case ARC_F32: v[i] = ((const float *)a->data)[i]; break;
        case ARC_F64: v[i] = ((const double *)a->data)[i]; break;
        case ARC_I32: v[i] = ((const int32_t *)a->data)[i]; break;
        case ARC_I64: v[i] = (double)((const int64_t *)a->data)[i]; break;
        default: v[i] = NAN;
        }
    }
    return v;
}

int64_t rep_digits(const char *s)
{
    if (!*s || strlen(s) > 9) return -1;
    for (const char *c = s; *c; c++)
        if (*c < '0' || *c > '9') return -1;
    return atol(s);
}
