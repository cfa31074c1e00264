/* load_heads.c — head importance of a relation: the mean over its samples of each attention
 * head's attribution (attribution/<rel>/head [sample, layer, head], stages/schema_attribute.c),
 * for the ranked top-heads table (Table 4) and the layer x head map. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "pipeline/archive/archive.h"
#include "report/internal.h"
#include "stages/schema_attribute.h"

void rep_heads_load(arc_reader *r, const char *rel, rep_relation *rl)
{
    char p[512];
    arc_array a;
    mp_err e;
    err_init(&e);
    snprintf(p, sizeof p, "attribution/%s/head", rel);
    if (!sch_has(r, ATTR(HEAD), p) || arc_read(r, p, &a, &e) != 0) return;
    if (a.ndim == 3 && a.shape[0] > 0 && a.shape[1] > 0 && a.shape[2] > 0) {
        double *v = rep_arr_f64(&a);
        const int64_t n = a.shape[0], L = a.shape[1], H = a.shape[2];
        rl->head_imp = v ? calloc((size_t)(L * H), sizeof *rl->head_imp) : NULL;
        if (rl->head_imp) {
            for (int64_t s = 0; s < n; s++)
                for (int64_t k = 0; k < L * H; k++) rl->head_imp[k] += v[s * L * H + k] / (double)n;
            rl->head_L = L;
            rl->head_nH = H;
        }
        free(v);
    }
    arc_array_free(&a);
}
