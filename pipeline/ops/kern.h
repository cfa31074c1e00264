/* kern.h — the per-ISA kernels behind internal.h: one kernel source (kern_body.h) compiled once
 * per instruction set (kern_avx512.c, kern_avx2.c, kern_neon.c, kern_generic.c); gemm.c picks
 * one at run time.
 *
 * The reduction order of every output element is fixed by this header, not by the ISA, the
 * tile shape, the rows in the batch, the thread count or the rank count:
 *   gemm_nt  y[t,n] = sum over K blocks of KERN_KC (in order, added into y) of
 *            tree16(lane sums), lane l holding fma-chained x*w over k = l mod 16 of the block
 *            (zeros past the end); tree16 = ((s0+s1)+(s2+s3)) + ((s4+s5)+(s6+s7)),
 *            s_i = lane_i + lane_(i+8).
 *   gemm_nn  y[t,k] = sum over N blocks of KERN_NB (in order, added into y) of an fma chain
 *            over n of the block.
 *   silu     one fixed sequence of fma/mul/div per element (kern_body.h).
 *   bf16 gemm_nt (kern_bf16.h; the screened evaluation passes only): x rounded to bf16 (nearest
 *            even, subnormals to zero) and bf16 W; per K block of KERN_KC, lane l takes per
 *            32-element step the pair (2l+1, 2l) as two fma in that order, bf16 subnormals
 *            read as zero and subnormal results flushed (AVX512_BF16's vdpbf16ps); then
 *            tree16 and the add into y as above.
 * Every path (AVX-512's 16 lanes, AVX2's 2 x 8, NEON's 4 x 4, portable C's 16 scalars with
 * fmaf) performs exactly these operations, so all paths give the same bits, and a row's result
 * does not depend on which batch, thread or rank computed it. */
#ifndef MOEPROBE_OPS_KERN_H
#define MOEPROBE_OPS_KERN_H

#include <stdint.h>

#define KERN_KC 2048 /* K block of gemm_nt: NR weight rows of it stay in L1 */
#define KERN_NB 256  /* N block of gemm_nn: NB rows of a weight panel stay in L1 */

typedef struct kern_job {
    float *y;
    int64_t ldy, ldx, T, ldw_b, N, K, esz;
    const float *x;
    const char *w;
    int dt;    /* mp_dtype */
    int beta1; /* y += instead of y = */
} kern_job;

typedef struct kern_isa {
    const char *name;
    /* rows of T per call worth waking threads for is decided by gemm.c; these run part
     * `part` of `parts` (disjoint output columns) */
    void (*nt_run)(void *job, int part, int parts);
    void (*nn_run)(void *job, int part, int parts);
    void (*silu_mul)(float *g, const float *u, int64_t n);
} kern_isa;

/* A bf16 x bf16 product: y[t,n] (+)= x[t,:] . W[n,:], x and W bf16, row strides in elements. */
typedef struct kern_bf16_job {
    float *y;
    int64_t ldy, ldx, T, ldw, N, K;
    const uint16_t *x, *w;
    int beta1;
} kern_bf16_job;

typedef struct kern_bf16 {
    const char *name;
    void (*nt_run)(void *job, int part, int parts); /* a kern_bf16_job */
} kern_bf16;

#if defined(__x86_64__)
extern const kern_isa kern_isa_avx512, kern_isa_avx2;
/* kern_bf16_avx512bf16 is the instruction itself; the others emulate it bit for bit */
extern const kern_bf16 kern_bf16_avx512bf16, kern_bf16_avx512, kern_bf16_avx2;
/* 1 when this CPU (and build) runs vdpbf16ps */
int kern_has_avx512bf16(void);
#endif
#if defined(__aarch64__)
extern const kern_isa kern_isa_neon;
extern const kern_bf16 kern_bf16_neon;
#endif
extern const kern_isa kern_isa_generic;
extern const kern_bf16 kern_bf16_generic;

/* The bf16 product that goes with kernel path k: vdpbf16ps on AVX-512 CPUs that have it, else
 * k's emulation (the same bits). */
const kern_bf16 *kern_bf16_of(const kern_isa *k);

/* The paths this CPU can run, best first (at most 4; generic always last). */
int kern_runnable(const kern_isa **out);

#endif
