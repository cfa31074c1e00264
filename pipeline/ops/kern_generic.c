/* kern_generic.c — kern_body.h in portable C: a v16 is 16 floats, each primitive a loop over
 * them, the multiply-adds fmaf (one rounding, as the vector paths). The fallback for a CPU
 * with none of the vector paths, and the reference the others must equal bit for bit. Speed
 * is whatever the compiler makes of the loops. */
#if !defined(__SANITIZE_ADDRESS__)
/* the 16-lane loops only vectorise at O3 (2.4x faster) */
#pragma GCC optimize("O3")
#else
/* ASan/UBSan builds: GCC needs many minutes for this file at -O1 (the unrolled tiles of
 * 16-float structs); unoptimised it compiles in seconds and is only slower */
#pragma GCC optimize("O0")
#endif
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "pipeline/model/dtype.h"

#define KERN_NAME generic
#define NT_MR 2
#define NT_NR 2
#define NN_MR 2
#define NN_NV 1
#if defined(__SANITIZE_ADDRESS__)
/* ASan/UBSan builds: forced inlining of the 16-lane loops into every tile takes GCC minutes */
#define VI static inline
#define KB_INLINE static inline
#else
#define VI static inline __attribute__((always_inline))
#endif

typedef struct v16 {
    float f[16];
} v16;

#define LANES(EXPR)                                                                                \
    v16 r;                                                                                         \
    for (int l = 0; l < 16; l++) r.f[l] = (EXPR);                                                  \
    return r;
VI v16 v_zero(void){LANES(0.0f)} VI v16 v_set1(float a){LANES(a)} VI v16
    v_ldx(const float *p){LANES(p[l])} VI void v_st(float *p, v16 a)
{
    memcpy(p, a.f, sizeof a.f);
}
/* IEEE half to float, exactly (inline: this runs once per weight element) */
VI float f16f(uint16_t h)
{
    const uint32_t s = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    uint32_t u;
    float f;
    if (e == 0) { /* zero or subnormal: m * 2^-24 is exact in float */
        f = (float)m * 0x1p-24f;
        memcpy(&u, &f, 4);
        u |= s;
    } else if (e == 31) {
        u = s | 0x7f800000u | (m << 13);
    } else {
        u = s | ((e + 112u) << 23) | (m << 13);
    }
    memcpy(&f, &u, 4);
    return f;
}
VI float ldw1(const char *p, int dt, int l)
{
    uint16_t h;
    float f;
    if (dt == MP_F32) {
        memcpy(&f, p + 4 * l, 4);
        return f;
    }
    memcpy(&h, p + 2 * l, 2);
    if (dt == MP_F16) return f16f(h);
    const uint32_t u = (uint32_t)h << 16;
    memcpy(&f, &u, 4);
    return f;
}
VI v16 v_ldw(const char *p, int dt){LANES(ldw1(p, dt, l))} VI v16
    v_fma(v16 a, v16 b, v16 c){LANES(fmaf(a.f[l], b.f[l], c.f[l]))} VI v16
    v_add(v16 a, v16 b){LANES(a.f[l] + b.f[l])} VI v16
    v_sub(v16 a, v16 b){LANES(a.f[l] - b.f[l])} VI v16
    v_mul(v16 a, v16 b){LANES(a.f[l] * b.f[l])} VI v16
    v_div(v16 a, v16 b){LANES(a.f[l] / b.f[l])} VI v16
    v_min(v16 a, v16 b){LANES(a.f[l] < b.f[l] ? a.f[l] : b.f[l])} VI v16
    v_max(v16 a, v16 b){LANES(a.f[l] > b.f[l] ? a.f[l] : b.f[l])} VI v16
    v_rint(v16 a){LANES(rintf(a.f[l]))} VI v16 v_floor(v16 a){LANES(floorf(a.f[l]))} VI
    float pow2i1(float n)
{
    uint32_t u = (uint32_t)((int32_t)n + 127) << 23;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
VI v16 v_pow2i(v16 n){LANES(pow2i1(n.f[l]))} VI void v_prefetch(const char *p)
{
    __builtin_prefetch(p, 0, 2);
}
VI void v_prefetch_l1(const char *p)
{
    __builtin_prefetch(p, 0, 3);
}

VI float tree16(const v16 *a)
{
    float s[8];
    for (int i = 0; i < 8; i++) s[i] = a->f[i] + a->f[i + 8];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}
VI void v_hsum4(v16 a, v16 b, v16 c, v16 d, float out[4])
{
    out[0] = tree16(&a);
    out[1] = tree16(&b);
    out[2] = tree16(&c);
    out[3] = tree16(&d);
}

#include "pipeline/ops/kern_body.h"

/* the bf16 product emulated in C (kern_bf16.h): the reference for the other paths */
VI float bf_half(const uint16_t *p, int l, int hi)
{
    uint32_t u;
    float f;
    memcpy(&u, p + 2 * l, 4);
    u = hi ? u & 0xffff0000u : u << 16;
    memcpy(&f, &u, 4);
    return f;
}
VI float daz1(float a)
{
    uint32_t u;
    memcpy(&u, &a, 4);
    if (!(u & 0x7f800000u)) u &= 0x80000000u;
    memcpy(&a, &u, 4);
    return a;
}
VI v16 v_bf_hi(const uint16_t *p){LANES(bf_half(p, l, 1))} VI v16
    v_bf_lo(const uint16_t *p){LANES(bf_half(p, l, 0))} VI v16 v_daz(v16 a)
{
    LANES(daz1(a.f[l]))
}
#define KB16_NAME generic
#define KB16_MR 2
#define KB16_NR 2
#include "pipeline/ops/kern_bf16.h"
