/* dtype.c — see dtype.h. The bulk converters are written so gcc vectorises them: BF16 is a
 * 16-bit shift, F16 uses the F16C instructions the x86 build enables, or aarch64's native
 * __fp16 conversions (both exact to float, round-to-nearest-even back). */
#include "pipeline/model/dtype.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define F16_TO_F32(h) _cvtsh_ss(h)
#define F32_TO_F16(f) _cvtss_sh((f), _MM_FROUND_TO_NEAREST_INT)
#elif defined(__aarch64__)
static inline float f16_native(uint16_t h)
{
    __fp16 x;
    memcpy(&x, &h, 2);
    return (float)x;
}
static inline uint16_t f16_from_native(float f)
{
    __fp16 x = (__fp16)f;
    uint16_t h;
    memcpy(&h, &x, 2);
    return h;
}
#define F16_TO_F32(h) f16_native(h)
#define F32_TO_F16(f) f16_from_native(f)
#else
#error "dtype.c: no float16 conversion for this target (x86-64 with F16C or aarch64)"
#endif

size_t dtype_size(mp_dtype t)
{
    return t == MP_F32 ? 4 : 2;
}

const char *dtype_name(mp_dtype t)
{
    switch (t) {
    case MP_BF16: return "BF16";
    case MP_F16: return "F16";
    case MP_F32: return "F32";
    default: return "?";
    }
}

int dtype_parse(const char *s, mp_dtype *out)
{
    if (!strcmp(s, "BF16"))
        *out = MP_BF16;
    else if (!strcmp(s, "F16"))
        *out = MP_F16;
    else if (!strcmp(s, "F32"))
        *out = MP_F32;
    else
        return -1;
    return 0;
}

int dtype_parse_torch(const char *s, mp_dtype *out)
{
    if (!strcmp(s, "bfloat16") || !strcmp(s, "bf16"))
        *out = MP_BF16;
    else if (!strcmp(s, "float16") || !strcmp(s, "f16") || !strcmp(s, "half"))
        *out = MP_F16;
    else if (!strcmp(s, "float32") || !strcmp(s, "f32") || !strcmp(s, "float"))
        *out = MP_F32;
    else
        return -1;
    return 0;
}

float bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it a quiet NaN */
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

float f16_to_f32(uint16_t h)
{
    return F16_TO_F32(h);
}

uint16_t f32_to_f16(float f)
{
    return F32_TO_F16(f);
}

static void bf16_block(const uint16_t *src, float *dst, size_t n)
{
    uint32_t *d = (uint32_t *)dst;
    for (size_t i = 0; i < n; i++) d[i] = (uint32_t)src[i] << 16;
}

static void f16_block(const uint16_t *src, float *dst, size_t n)
{
    size_t i = 0;
#if defined(__x86_64__)
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm_loadu_si128((const __m128i *)(src + i));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
#endif
    for (; i < n; i++) dst[i] = F16_TO_F32(src[i]);
}

void dtype_to_f32(mp_dtype t, const void *src, float *dst, size_t n)
{
    switch (t) {
    case MP_BF16: {
        /* src may be unaligned in a safetensors data section; copy through an aligned
         * window only when it is. */
        if (((uintptr_t)src & 1u) == 0) {
            bf16_block((const uint16_t *)src, dst, n);
        } else {
            uint16_t tmp[256];
            for (size_t i = 0; i < n; i += 256) {
                size_t m = n - i < 256 ? n - i : 256;
                memcpy(tmp, (const char *)src + 2 * i, 2 * m);
                bf16_block(tmp, dst + i, m);
            }
        }
        break;
    }
    case MP_F16:
        if (((uintptr_t)src & 1u) == 0) {
            f16_block((const uint16_t *)src, dst, n);
        } else {
            uint16_t tmp[256];
            for (size_t i = 0; i < n; i += 256) {
                size_t m = n - i < 256 ? n - i : 256;
                memcpy(tmp, (const char *)src + 2 * i, 2 * m);
                f16_block(tmp, dst + i, m);
            }
        }
        break;
    case MP_F32: memcpy(dst, src, n * 4); break;
    default: break;
    }
}

void dtype_from_f32(mp_dtype t, const float *src, void *dst, size_t n)
{
    switch (t) {
    case MP_BF16: {
        uint16_t *d = dst;
        for (size_t i = 0; i < n; i++) d[i] = f32_to_bf16(src[i]);
        break;
    }
    case MP_F16: {
        uint16_t *d = dst;
        for (size_t i = 0; i < n; i++) d[i] = f32_to_f16(src[i]);
        break;
    }
    case MP_F32: memcpy(dst, src, n * 4); break;
    default: break;
    }
}
