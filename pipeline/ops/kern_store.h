/* kern_store.h — the end of every gemm_nt tile, shared by kern_body.h (float32 products) and
 * kern_bf16.h (bf16 products): each accumulator's 16 lanes reduced by kern.h's tree16
 * (v_hsum4, four at a time) and the sum stored into y, or added to it (a later K block), in
 * that one order. The including file defines v16 and v_hsum4. */
#ifndef MOEPROBE_KERN_STORE_H
#define MOEPROBE_KERN_STORE_H

#define KS_MR_MAX 4 /* the largest tile any path instantiates */
#define KS_NR_MAX 6

/* y[i, j] (+)= tree16(acc[i][j]), i < mr, j < nr; y rows ldy floats apart. A macro, not an
 * inline function: passed as an array, the accumulators lost their registers in GCC 12 (the
 * tiles ran at 0.80-0.95x, best of 6), while this text gives the object code each kernel had. */
#define KS_STORE(mr, nr, acc, y, ldy, acc_y)                                                       \
    do {                                                                                           \
        _Pragma("GCC unroll 4") for (int ks_i = 0; ks_i < KS_MR_MAX; ks_i++)                       \
        {                                                                                          \
            if (ks_i >= (mr)) continue;                                                            \
            _Pragma("GCC unroll 2") for (int ks_j0 = 0; ks_j0 < KS_NR_MAX; ks_j0 += 4)             \
            {                                                                                      \
                if (ks_j0 >= (nr)) continue;                                                       \
                float ks_s[4];                                                                     \
                /* missing columns repeat the first one; their sums are not stored */              \
                v_hsum4((acc)[ks_i][ks_j0], (acc)[ks_i][ks_j0 + 1 < (nr) ? ks_j0 + 1 : ks_j0],     \
                        (acc)[ks_i][ks_j0 + 2 < (nr) ? ks_j0 + 2 : ks_j0],                         \
                        (acc)[ks_i][ks_j0 + 3 < (nr) ? ks_j0 + 3 : ks_j0], ks_s);                  \
                _Pragma("GCC unroll 4") for (int ks_q = 0; ks_q < 4; ks_q++)                       \
                {                                                                                  \
                    if (ks_j0 + ks_q >= (nr)) continue;                                            \
                    float *ks_yp = (y) + ks_i * (ldy) + ks_j0 + ks_q;                              \
                    *ks_yp = (acc_y) ? *ks_yp + ks_s[ks_q] : ks_s[ks_q];                           \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    } while (0)

#endif
