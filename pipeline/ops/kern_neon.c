/* kern_neon.c — kern_body.h on aarch64 Advanced SIMD (every ARMv8-A CPU: Graviton, Grace,
 * Ampere, A64FX): a v16 is four q registers, lanes 0-3, 4-7, 8-11, 12-15, reduced in kern.h's
 * tree16 order, so the sums are those of the x86 paths bit for bit. Compiled only there. */
#if defined(__aarch64__)
#include <arm_neon.h>
#include <stdint.h>

#include "pipeline/model/dtype.h"

#define KERN_NAME neon
#define NT_MR 2 /* 2 x 2 four-register accumulators + 2 x rows + a weight: 28 of 32 q */
#define NT_NR 2
#define NN_MR 4
#define NN_NV 1
#define VI static inline __attribute__((always_inline))

typedef struct v16 {
    float32x4_t q[4];
} v16;

#define LANES4(EXPR)                                                                               \
    v16 r;                                                                                         \
    for (int i = 0; i < 4; i++) r.q[i] = (EXPR);                                                   \
    return r;
VI v16 v_zero(void){LANES4(vdupq_n_f32(0.0f))} VI v16 v_set1(float a){LANES4(vdupq_n_f32(a))} VI v16
    v_ldx(const float *p){LANES4(vld1q_f32(p + 4 * i))} VI void v_st(float *p, v16 a)
{
    for (int i = 0; i < 4; i++) vst1q_f32(p + 4 * i, a.q[i]);
}
VI float32x4_t ldw4(const char *p, int dt, int i)
{
    if (dt == MP_F32) return vld1q_f32((const float *)(const void *)p + 4 * i);
    uint16x4_t h = vld1_u16((const uint16_t *)(const void *)p + 4 * i);
    if (dt == MP_F16) return vcvt_f32_f16(vreinterpret_f16_u16(h));
    return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
}
VI v16 v_ldw(const char *p, int dt){LANES4(ldw4(p, dt, i))} VI v16
    v_fma(v16 a, v16 b, v16 c){LANES4(vfmaq_f32(c.q[i], a.q[i], b.q[i]))} VI v16
    v_add(v16 a, v16 b){LANES4(vaddq_f32(a.q[i], b.q[i]))} VI v16
    v_sub(v16 a, v16 b){LANES4(vsubq_f32(a.q[i], b.q[i]))} VI v16
    v_mul(v16 a, v16 b){LANES4(vmulq_f32(a.q[i], b.q[i]))} VI v16
    v_div(v16 a, v16 b){LANES4(vdivq_f32(a.q[i], b.q[i]))}
/* x86 semantics (b when unordered), not vminq's NaN propagation */
VI v16 v_min(v16 a, v16 b){LANES4(vbslq_f32(vcltq_f32(a.q[i], b.q[i]), a.q[i], b.q[i]))} VI v16
    v_max(v16 a, v16 b){LANES4(vbslq_f32(vcgtq_f32(a.q[i], b.q[i]), a.q[i], b.q[i]))} VI v16
    v_rint(v16 a){LANES4(vrndnq_f32(a.q[i]))} VI v16
    v_floor(v16 a){LANES4(vrndmq_f32(a.q[i]))} VI v16 v_pow2i(v16 n){
        LANES4(vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n.q[i]), vdupq_n_s32(127)),
                                                 23)))} VI void v_prefetch(const char *p)
{
    __builtin_prefetch(p, 0, 2);
}
VI void v_prefetch_l1(const char *p)
{
    __builtin_prefetch(p, 0, 3);
}

/* kern.h's tree16: s = lanes i + (i+8), then pairwise adds */
VI float32x4_t half4(v16 a)
{
    float32x4_t lo = vaddq_f32(a.q[0], a.q[2]), hi = vaddq_f32(a.q[1], a.q[3]);
    return vpaddq_f32(lo, hi); /* s0+s1, s2+s3, s4+s5, s6+s7 */
}
VI void v_hsum4(v16 a, v16 b, v16 c, v16 d, float out[4])
{
    float32x4_t ab = vpaddq_f32(half4(a), half4(b));
    float32x4_t cd = vpaddq_f32(half4(c), half4(d));
    vst1q_f32(out, vpaddq_f32(ab, cd));
}

#include "pipeline/ops/kern_body.h"

/* the bf16 product emulated on Advanced SIMD (kern_bf16.h): aarch64's BFDOT does not round
 * as vdpbf16ps does, so it would not give the same bits */
VI v16 v_bf_hi(const uint16_t *p){
    LANES4(vreinterpretq_f32_u32(vandq_u32(vld1q_u32((const uint32_t *)(const void *)p + 4 * i),
                                           vdupq_n_u32(0xffff0000u))))} VI v16
    v_bf_lo(const uint16_t *p){LANES4(vreinterpretq_f32_u32(
        vshlq_n_u32(vld1q_u32((const uint32_t *)(const void *)p + 4 * i), 16)))} VI float32x4_t
    daz4(float32x4_t a)
{
    const uint32x4_t i = vreinterpretq_u32_f32(a);
    const uint32x4_t normal = vtstq_u32(i, vdupq_n_u32(0x7f800000u));
    return vreinterpretq_f32_u32(vbslq_u32(normal, i, vandq_u32(i, vdupq_n_u32(0x80000000u))));
}
VI v16 v_daz(v16 a)
{
    LANES4(daz4(a.q[i]))
}
#define KB16_NAME neon
#define KB16_MR 2
#define KB16_NR 2
#include "pipeline/ops/kern_bf16.h"
#endif
