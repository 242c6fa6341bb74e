/* blocks.h - on-disk block layouts (identical to ggml's; see docs/quant.md). Internal. */
#ifndef AK_QUANT_BLOCKS_H
#define AK_QUANT_BLOCKS_H

#include <stdint.h>
#include <string.h>

#define QK32 32
#define QKK 256
#define K_SCALE_BYTES 12

typedef struct { uint16_t d; uint8_t qs[QK32 / 2]; } blk_q4_0;
typedef struct { uint16_t d; int8_t qs[QK32]; } blk_q8_0;
/* Q2_K: 16 sub-blocks of 16, value = d*(sc & 15)*q - dmin*(sc >> 4), q in 0..3. qs byte
 * 32c + l holds, in bits 2j..2j+1, element 128c + 32j + l (l < 32): sub-block 8c + 2j for
 * l < 16, 8c + 2j + 1 for the rest, so the scales are in element order. */
typedef struct { uint8_t scales[QKK / 16]; uint8_t qs[QKK / 4]; uint16_t d, dmin; } blk_q2_k;
/* Q3_K: 16 sub-blocks of 16, value = d*(sc-32)*(q - 4*(1-hbit)), q the 2 low bits laid out
 * as Q2_K's, hbit bit k of hmask[l] for element 128h + 32j + l (k = 4h + j, l < 32); the
 * 6-bit scales packed in scales[12] (q3_k_scales). */
typedef struct { uint8_t hmask[QKK / 8]; uint8_t qs[QKK / 4]; uint8_t scales[12]; uint16_t d; } blk_q3_k;
typedef struct { uint16_t d, dmin; uint8_t scales[K_SCALE_BYTES]; uint8_t qs[QKK / 2]; } blk_q4_k;
typedef struct { uint16_t d, dmin; uint8_t scales[K_SCALE_BYTES]; uint8_t qh[QKK / 8]; uint8_t qs[QKK / 2]; } blk_q5_k;
typedef struct { uint8_t ql[QKK / 2]; uint8_t qh[QKK / 4]; int8_t scales[QKK / 16]; uint16_t d; } blk_q6_k;
typedef struct { float d; int8_t qs[QKK]; int16_t bsums[QKK / 16]; } blk_q8_k;
/* IQ4_XS: 8 sub-blocks of 32, x ~ d * (ls - 32) * level[q] with a 6-bit ls per sub-block
 * (low 4 bits in scales_l, nibble ib % 2 of byte ib / 2; high 2 bits at bit 2ib of scales_h)
 * and a 4-bit index q into 16 non-uniform levels; sub-block ib's qs[16 ib + j] holds
 * element j in its low nibble and element j + 16 in its high one. */
typedef struct { uint16_t d; uint16_t scales_h; uint8_t scales_l[QKK / 64]; uint8_t qs[QKK / 2]; } blk_iq4_xs;
/* Q5_0: 32 values x = d * (q - 16), q 5 bits: the low 4 as Q4_0's nibbles (element j low,
 * j + 16 high nibble of qs[j]), the fifth at bit j of the little-endian qh. */
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[QK32 / 2]; } blk_q5_0;
/* IQ4_NL: 32 values x = d * level[q], the 16 non-uniform levels of IQ4_XS, nibbles as Q4_0's. */
typedef struct { uint16_t d; uint8_t qs[QK32 / 2]; } blk_iq4_nl;
/* MXFP4 (OCP microscaling FP4): 32 values x ~ scale(e) * level[q], e an E8M0 exponent, q a
 * 4-bit E2M1 code; element j is the low nibble of qs[j], element j + 16 the high one. */
typedef struct { uint8_t e; uint8_t qs[QK32 / 2]; } blk_mxfp4;

_Static_assert(sizeof(blk_q4_0) == 18, "q4_0 layout");
_Static_assert(sizeof(blk_q8_0) == 34, "q8_0 layout");
_Static_assert(sizeof(blk_q2_k) == 84, "q2_k layout");
_Static_assert(sizeof(blk_q3_k) == 110, "q3_k layout");
_Static_assert(sizeof(blk_q4_k) == 144, "q4_k layout");
_Static_assert(sizeof(blk_q5_k) == 176, "q5_k layout");
_Static_assert(sizeof(blk_q6_k) == 210, "q6_k layout");
_Static_assert(sizeof(blk_q8_k) == 292, "q8_k layout");
_Static_assert(sizeof(blk_iq4_xs) == 136, "iq4_xs layout");
_Static_assert(sizeof(blk_mxfp4) == 17, "mxfp4 layout");
_Static_assert(sizeof(blk_q5_0) == 22, "q5_0 layout");
_Static_assert(sizeof(blk_iq4_nl) == 18, "iq4_nl layout");

/* Q5_0 element j (0..31) of a block as its 5-bit code minus 16, in -16..15. */
static inline int q5_0_value(const blk_q5_0 *b, int j) {
    uint32_t qh;
    memcpy(&qh, b->qh, sizeof qh);
    const int lo = j < 16 ? b->qs[j] & 0xF : b->qs[j - 16] >> 4;
    return (lo | (int)((qh >> j) & 1) << 4) - 16;
}

/* The 16 levels of IQ4_NL/IQ4_XS (ggml's kvalues_iq4nl), as the 16 bytes a shuffle reads. */
static inline const int8_t *iq4nl_levels(void) {
    static const int8_t levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    return levels;
}

/* The 16 E2M1 values doubled (0, 0.5, 1, 1.5, 2, 3, 4, 6 and negatives, times 2), as ggml
 * keeps them so that they are integers; the block scale is halved to match. */
static inline const int8_t *mxfp4_levels(void) {
    static const int8_t levels[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};
    return levels;
}

/* Half the E8M0 scale 2^(e - 127), i.e. 2^(e - 128), built from its bits (e < 2 gives the
 * subnormals 2^-128 and 2^-127) as ggml does. */
static inline float mxfp4_half_scale(uint8_t e) {
    uint32_t bits = e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Scale of Q3_K sub-block s (0..15), in -32..31: low 4 bits in scales[s] (s < 8) or the
 * high nibble of scales[s - 8], high 2 bits at 2 (s / 4) of scales[8 + s % 4], minus 32. */
static inline int q3_k_scale(const uint8_t *scales, int s) {
    const int lo = s < 8 ? scales[s] & 0xF : scales[s - 8] >> 4;
    return (lo | ((scales[8 + s % 4] >> (2 * (s / 4))) & 3) << 4) - 32;
}

/* Scale of IQ4_XS sub-block ib (0..7): the stored 6 bits minus 32, in -32..31. */
static inline int iq4_xs_scale(const blk_iq4_xs *b, int ib) {
    return (((b->scales_l[ib / 2] >> 4 * (ib % 2)) & 0xF) | (((b->scales_h >> 2 * ib) & 3) << 4)) - 32;
}

/* 6-bit scale j (0..7) and min of a Q4_K/Q5_K block, from the 12 packed bytes. */
static inline void k4_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

#endif
