/* dot_scalar.c - reference dot products of a weight row with an encoded activation row. */
#include "quant/blocks.h"
#include "quant/half.h"
#include "quant/kernels.h"

/* Float-like types: products in float, sums in double (as ggml's scalar path), four
 * independent partial sums so the adds do not wait on each other. */
#define DOT_FLOATS(NAME, ELEM, TO_F32)                                   \
    static float NAME(int64_t n, const void *w, const void *x) {         \
        const ELEM *a = w, *b = x;                                       \
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;                           \
        int64_t i = 0;                                                   \
        for (; i + 4 <= n; i += 4) {                                     \
            s0 += (double)(TO_F32(a[i]) * TO_F32(b[i]));                 \
            s1 += (double)(TO_F32(a[i + 1]) * TO_F32(b[i + 1]));         \
            s2 += (double)(TO_F32(a[i + 2]) * TO_F32(b[i + 2]));         \
            s3 += (double)(TO_F32(a[i + 3]) * TO_F32(b[i + 3]));         \
        }                                                                \
        for (; i < n; i++) s0 += (double)(TO_F32(a[i]) * TO_F32(b[i]));  \
        return (float)((s0 + s1) + (s2 + s3));                           \
    }

static inline float f32_id(float v) { return v; }

DOT_FLOATS(dot_f32, float, f32_id)
DOT_FLOATS(dot_f16, uint16_t, half_to_f32)
DOT_FLOATS(dot_bf16, uint16_t, bf16_to_f32)

/* The 32-value types with Q8_0 activations: a decoder gives weight block i as 32 integers
 * q and a scale da (x = da * q); per block the integer sum of q times the activation's
 * codes, times da and the activation's scale. */
typedef float (*blk32_decode_fn)(const void *w, int64_t i, int *q);

static float dot_blk32(int64_t n, const void *w, const void *x, blk32_decode_fn decode) {
    const blk_q8_0 *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n / QK32; i++) {
        int q[QK32], sumi = 0;
        const float da = decode(w, i, q);
        for (int j = 0; j < QK32; j++) sumi += q[j] * b[i].qs[j];
        s += (float)sumi * (da * half_to_f32(b[i].d));
    }
    return s;
}

/* 16 bytes as 32 4-bit codes through a table: element j the low nibble of qs[j], j + 16 the high one */
static void nibbles_through(const uint8_t *qs, const int8_t *table, int *q) {
    for (int j = 0; j < QK32 / 2; j++) q[j] = table[qs[j] & 0xF], q[j + QK32 / 2] = table[qs[j] >> 4];
}

static float decode_q4_0(const void *w, int64_t i, int *q) {
    static const int8_t minus8[16] = {-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7};
    const blk_q4_0 *a = (const blk_q4_0 *)w + i;
    nibbles_through(a->qs, minus8, q);
    return half_to_f32(a->d);
}

static float decode_q5_0(const void *w, int64_t i, int *q) {
    const blk_q5_0 *a = (const blk_q5_0 *)w + i;
    for (int j = 0; j < QK32; j++) q[j] = q5_0_value(a, j);
    return half_to_f32(a->d);
}

static float decode_q8_0(const void *w, int64_t i, int *q) {
    const blk_q8_0 *a = (const blk_q8_0 *)w + i;
    for (int j = 0; j < QK32; j++) q[j] = a->qs[j];
    return half_to_f32(a->d);
}

static float decode_iq4_nl(const void *w, int64_t i, int *q) {
    const blk_iq4_nl *a = (const blk_iq4_nl *)w + i;
    nibbles_through(a->qs, iq4nl_levels(), q);
    return half_to_f32(a->d);
}

/* MXFP4: the doubled E2M1 levels and half the E8M0 scale */
static float decode_mxfp4(const void *w, int64_t i, int *q) {
    const blk_mxfp4 *a = (const blk_mxfp4 *)w + i;
    nibbles_through(a->qs, mxfp4_levels(), q);
    return mxfp4_half_scale(a->e);
}

#define DOT_BLK32(NAME)                                                                                              \
    static float dot_##NAME(int64_t n, const void *w, const void *x) { return dot_blk32(n, w, x, decode_##NAME); }
DOT_BLK32(q4_0)
DOT_BLK32(q5_0)
DOT_BLK32(q8_0)
DOT_BLK32(iq4_nl)
DOT_BLK32(mxfp4)

/* Q4_K/Q5_K: value = d*sc*q - dmin*m, so per block
 * dot = d*y.d*sum_s sc_s*sum(q*y_q) - dmin*y.d*sum_s m_s*(bsum of sub-block s). */
static float dot_k4(const uint8_t *scales, uint16_t d16, uint16_t dmin16, const uint8_t *qs,
                    const uint8_t *qh, const blk_q8_k *b) {
    int sumi = 0, summ = 0;
    for (int s = 0; s < 8; s++) {
        uint8_t sc, m;
        k4_scale_min(s, scales, &sc, &m);
        int c = s / 2, shift = 4 * (s & 1), hb = 2 * c + (s & 1), acc = 0;
        const int8_t *y = b->qs + 32 * s;
        for (int l = 0; l < 32; l++) {
            int q = (qs[32 * c + l] >> shift) & 0xF;
            if (qh) q |= ((qh[l] >> hb) & 1) << 4;
            acc += q * y[l];
        }
        sumi += sc * acc;
        summ += m * (b->bsums[2 * s] + b->bsums[2 * s + 1]);
    }
    return half_to_f32(d16) * b->d * (float)sumi - half_to_f32(dmin16) * b->d * (float)summ;
}

static float dot_q4_k(int64_t n, const void *w, const void *x) {
    const blk_q4_k *a = w;
    const blk_q8_k *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n / QKK; i++) s += dot_k4(a[i].scales, a[i].d, a[i].dmin, a[i].qs, NULL, &b[i]);
    return s;
}

static float dot_q5_k(int64_t n, const void *w, const void *x) {
    const blk_q5_k *a = w;
    const blk_q8_k *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n / QKK; i++) s += dot_k4(a[i].scales, a[i].d, a[i].dmin, a[i].qs, a[i].qh, &b[i]);
    return s;
}

/* Q2_K: as Q4_K with 16 sub-blocks of 16 and 4-bit scales and mins; sum_s sc_s*sum(q*y)
 * and sum_s m_s*bsum_s in integers, one float product each per block. */
static float dot_q2_k(int64_t n, const void *w, const void *x) {
    const blk_q2_k *a = w;
    const blk_q8_k *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n / QKK; i++) {
        int sumi = 0, summ = 0;
        for (int sb = 0; sb < 16; sb++) {
            const int c = sb / 8, j = (sb % 8) / 2, l0 = 16 * (sb % 2);
            int acc = 0;
            for (int l = l0; l < l0 + 16; l++) acc += ((a[i].qs[32 * c + l] >> (2 * j)) & 3) * b[i].qs[16 * sb + l - l0];
            sumi += (a[i].scales[sb] & 0xF) * acc;
            summ += (a[i].scales[sb] >> 4) * b[i].bsums[sb];
        }
        s += half_to_f32(a[i].d) * b[i].d * (float)sumi - half_to_f32(a[i].dmin) * b[i].d * (float)summ;
    }
    return s;
}

/* Q3_K: value = d*sc*(q' - 4) with q' = q | hbit << 2 in 0..7, so per sub-block
 * sc*(sum(q'*y) - 4*bsum); integer sums per block, one float product. */
static float dot_q3_k(int64_t n, const void *w, const void *x) {
    const blk_q3_k *a = w;
    const blk_q8_k *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n / QKK; i++) {
        int sumi = 0;
        for (int sb = 0; sb < 16; sb++) {
            const int h = sb / 8, j = (sb % 8) / 2, l0 = 16 * (sb % 2);
            int acc = 0;
            for (int l = l0; l < l0 + 16; l++) {
                const int q = ((a[i].qs[32 * h + l] >> (2 * j)) & 3) | ((a[i].hmask[l] >> (4 * h + j)) & 1) << 2;
                acc += q * b[i].qs[16 * sb + l - l0];
            }
            sumi += q3_k_scale(a[i].scales, sb) * (acc - 4 * b[i].bsums[sb]);
        }
        s += half_to_f32(a[i].d) * b[i].d * (float)sumi;
    }
    return s;
}

/* IQ4_XS: integer sums per sub-block times its scale, one float product per block (the
 * int32 sum is at most 8 x 32 x 32 x 127 x 127 < 2^31). */
static float dot_iq4_xs(int64_t n, const void *w, const void *x) {
    const blk_iq4_xs *a = w;
    const blk_q8_k *b = x;
    const int8_t *levels = iq4nl_levels();
    float s = 0.0f;
    for (int64_t i = 0; i < n / QKK; i++) {
        int sumi = 0;
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *q = a[i].qs + 16 * ib;
            const int8_t *y = b[i].qs + 32 * ib;
            int acc = 0;
            for (int j = 0; j < 16; j++) acc += levels[q[j] & 0xF] * y[j] + levels[q[j] >> 4] * y[j + 16];
            sumi += iq4_xs_scale(&a[i], ib) * acc;
        }
        s += half_to_f32(a[i].d) * b[i].d * (float)sumi;
    }
    return s;
}

static float dot_q6_k(int64_t n, const void *w, const void *x) {
    const blk_q6_k *a = w;
    const blk_q8_k *b = x;
    float s = 0.0f;
    for (int64_t i = 0; i < n / QKK; i++) {
        int sumi = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = a[i].ql + 64 * h, *qh = a[i].qh + 32 * h;
            const int8_t *sc = a[i].scales + 8 * h, *y = b[i].qs + 128 * h;
            for (int half = 0; half < 2; half++) { /* l in [16*half, 16*half+16): scale index half */
                int acc[4] = {0, 0, 0, 0};
                for (int l = 16 * half; l < 16 * half + 16; l++) {
                    acc[0] += (((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32) * y[l];
                    acc[1] += (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32) * y[l + 32];
                    acc[2] += (((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32) * y[l + 64];
                    acc[3] += (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32) * y[l + 96];
                }
                for (int k = 0; k < 4; k++) sumi += sc[half + 2 * k] * acc[k];
            }
        }
        s += half_to_f32(a[i].d) * b[i].d * (float)sumi;
    }
    return s;
}

const ak_dot_fn ak_dot_scalar[AK_TYPE_COUNT] = {
    [AK_TYPE_F32] = dot_f32,   [AK_TYPE_F16] = dot_f16,   [AK_TYPE_BF16] = dot_bf16,
    [AK_TYPE_Q4_0] = dot_q4_0, [AK_TYPE_Q8_0] = dot_q8_0, [AK_TYPE_Q4_K] = dot_q4_k, [AK_TYPE_Q2_K] = dot_q2_k, [AK_TYPE_Q3_K] = dot_q3_k,
    [AK_TYPE_Q5_K] = dot_q5_k, [AK_TYPE_Q6_K] = dot_q6_k, [AK_TYPE_IQ4_XS] = dot_iq4_xs,
    [AK_TYPE_MXFP4] = dot_mxfp4, [AK_TYPE_Q5_0] = dot_q5_0, [AK_TYPE_IQ4_NL] = dot_iq4_nl,
};
