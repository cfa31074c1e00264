/* dtype.h — the storage types of checkpoint tensors and their conversion to float32.
 *
 * Weights stay in their stored dtype (memory-mapped); compute is float32. BF16 is the top half
 * of an IEEE float32; F16 is IEEE half. Conversions to float32 are exact; float32 -> BF16/F16
 * (used only by make-model) rounds to nearest even, as torch does. */
#ifndef MOEPROBE_DTYPE_H
#define MOEPROBE_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum mp_dtype { MP_BF16 = 0, MP_F16 = 1, MP_F32 = 2, MP_DTYPE_COUNT = 3 } mp_dtype;

size_t dtype_size(mp_dtype t);      /* bytes per element: 2, 2, 4 */
const char *dtype_name(mp_dtype t); /* safetensors spelling: "BF16", "F16", "F32" */
/* Parses a safetensors dtype string; returns -1 if not one of BF16/F16/F32. */
int dtype_parse(const char *s, mp_dtype *out);
/* Parses torch spellings ("bfloat16", "float16", "float32") and bf16/f16/f32. */
int dtype_parse_torch(const char *s, mp_dtype *out);

float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

/* dst[i] = (float)src[i] for n elements of type t. src need not be aligned. */
void dtype_to_f32(mp_dtype t, const void *src, float *dst, size_t n);
/* dst (type t) = src rounded; n elements. */
void dtype_from_f32(mp_dtype t, const float *src, void *dst, size_t n);

#endif
