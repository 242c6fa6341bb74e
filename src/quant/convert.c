/* convert.c - IEEE half and bfloat16 conversions (round to nearest even, as ggml/F16C). */
#include <math.h>
#include <string.h>

#include "quant/half.h"
#include "quant/quant.h"

static uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float ak_f16_to_f32(uint16_t h) { return half_to_f32(h); }

uint16_t ak_f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    x &= 0x7FFFFFFFu;
    if (x > 0x7F800000u) return (uint16_t)(sign | 0x7E00 | ((x >> 13) & 0x3FF)); /* quiet nan */
    if (x >= 0x47800000u) return (uint16_t)(sign | 0x7C00); /* >= 65536 (and inf) */
    if (x < 0x38800000u) { /* below the smallest normal half: result is subnormal or zero */
        float scaled = bits_f32(x) * 0x1p24f; /* exact; units of the smallest subnormal */
        return (uint16_t)(sign | (uint16_t)nearbyintf(scaled));
    }
    uint32_t h = ((x >> 23) - 112) << 10 | ((x >> 13) & 0x3FF);
    uint32_t rest = x & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++; /* a carry may reach inf: correct */
    return (uint16_t)(sign | h);
}

float ak_bf16_to_f32(uint16_t h) { return bf16_to_f32(h); }

uint16_t ak_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 64); /* force quiet nan */
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1)) >> 16);
}
