/* half.h - inline half/bfloat16 -> float for the scalar kernels (internal; the public
 * ak_f16_to_f32/ak_bf16_to_f32 wrap these). */
#ifndef AK_QUANT_HALF_H
#define AK_QUANT_HALF_H

#include <stdint.h>
#include <string.h>

static inline float half_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline float half_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t e = (h >> 10) & 0x1F, m = h & 0x3FF;
    if (e == 0) {
        float v = (float)m * 0x1p-24f; /* zero or subnormal: exact */
        return sign ? -v : v;
    }
    if (e == 31) return half_bits_f32(sign | 0x7F800000u | (m << 13));
    return half_bits_f32(sign | ((e + 112) << 23) | (m << 13));
}

static inline float bf16_to_f32(uint16_t h) { return half_bits_f32((uint32_t)h << 16); }

#endif
