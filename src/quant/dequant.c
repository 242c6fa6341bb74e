/* dequant.c - encoded rows back to float (the reference meaning of every layout). */
#include <string.h>

#include "quant/blocks.h"
#include "quant/half.h"
#include "quant/kernels.h"
#include "quant/quant.h"

static void dequant_q4_0(const blk_q4_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += QK32) {
        float d = half_to_f32(b[i].d);
        for (int j = 0; j < QK32 / 2; j++) {
            y[j] = d * (float)((b[i].qs[j] & 0xF) - 8);
            y[j + QK32 / 2] = d * (float)((b[i].qs[j] >> 4) - 8);
        }
    }
}

static void dequant_q5_0(const blk_q5_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += QK32) {
        const float d = half_to_f32(b[i].d);
        for (int j = 0; j < QK32; j++) y[j] = d * (float)q5_0_value(&b[i], j);
    }
}

static void dequant_iq4_nl(const blk_iq4_nl *b, float *y, int64_t nb) {
    const int8_t *levels = iq4nl_levels();
    for (int64_t i = 0; i < nb; i++, y += QK32) {
        const float d = half_to_f32(b[i].d);
        for (int j = 0; j < QK32 / 2; j++) {
            y[j] = d * (float)levels[b[i].qs[j] & 0xF];
            y[j + QK32 / 2] = d * (float)levels[b[i].qs[j] >> 4];
        }
    }
}

static void dequant_q8_0(const blk_q8_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += QK32) {
        float d = half_to_f32(b[i].d);
        for (int j = 0; j < QK32; j++) y[j] = d * (float)b[i].qs[j];
    }
}

/* Q4_K and Q5_K share the layout of scales and nibbles; qh is NULL for Q4_K. */
static void dequant_k4(uint16_t d16, uint16_t dmin16, const uint8_t *scales, const uint8_t *qs,
                       const uint8_t *qh, float *y) {
    float d = half_to_f32(d16), dmin = half_to_f32(dmin16);
    for (int c = 0; c < 4; c++) { /* 64 values: sub-blocks 2c (low nibbles) and 2c+1 (high) */
        uint8_t sc0, m0, sc1, m1;
        k4_scale_min(2 * c, scales, &sc0, &m0);
        k4_scale_min(2 * c + 1, scales, &sc1, &m1);
        float d0 = d * sc0, mm0 = dmin * m0, d1 = d * sc1, mm1 = dmin * m1;
        const uint8_t *q = qs + 32 * c;
        for (int l = 0; l < 32; l++) {
            int lo = q[l] & 0xF, hi = q[l] >> 4;
            if (qh) {
                lo |= ((qh[l] >> (2 * c)) & 1) << 4;
                hi |= ((qh[l] >> (2 * c + 1)) & 1) << 4;
            }
            y[64 * c + l] = d0 * (float)lo - mm0;
            y[64 * c + 32 + l] = d1 * (float)hi - mm1;
        }
    }
}

static void dequant_q2_k(const blk_q2_k *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += QKK) {
        const float d = ak_f16_to_f32(b[i].d), dmin = ak_f16_to_f32(b[i].dmin);
        for (int e = 0; e < QKK; e++) {
            const int c = e / 128, j = (e % 128) / 32, l = e % 32, sc = b[i].scales[e / 16];
            const int q = (b[i].qs[32 * c + l] >> (2 * j)) & 3;
            y[e] = d * (float)(sc & 0xF) * (float)q - dmin * (float)(sc >> 4);
        }
    }
}

static void dequant_q3_k(const blk_q3_k *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += QKK) {
        const float d = ak_f16_to_f32(b[i].d);
        for (int e = 0; e < QKK; e++) {
            const int h = e / 128, j = (e % 128) / 32, l = e % 32;
            const int q = ((b[i].qs[32 * h + l] >> (2 * j)) & 3) - (((b[i].hmask[l] >> (4 * h + j)) & 1) ? 0 : 4);
            y[e] = d * (float)q3_k_scale(b[i].scales, e / 16) * (float)q;
        }
    }
}

static void dequant_iq4_xs(const blk_iq4_xs *b, float *y, int64_t nb) {
    const int8_t *levels = iq4nl_levels();
    for (int64_t i = 0; i < nb; i++) {
        const float d = half_to_f32(b[i].d);
        for (int ib = 0; ib < 8; ib++, y += 32) {
            const float dl = d * (float)iq4_xs_scale(&b[i], ib);
            const uint8_t *q = b[i].qs + 16 * ib;
            for (int j = 0; j < 16; j++) {
                y[j] = dl * (float)levels[q[j] & 0xF];
                y[j + 16] = dl * (float)levels[q[j] >> 4];
            }
        }
    }
}

static void dequant_mxfp4(const blk_mxfp4 *b, float *y, int64_t nb) {
    const int8_t *levels = mxfp4_levels();
    for (int64_t i = 0; i < nb; i++, y += QK32) {
        const float d = mxfp4_half_scale(b[i].e);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)levels[b[i].qs[j] & 0xF] * d;
            y[j + 16] = (float)levels[b[i].qs[j] >> 4] * d;
        }
    }
}

static void dequant_q6_k(const blk_q6_k *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, y += QKK) {
        float d = half_to_f32(b[i].d);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            const int8_t *sc = b[i].scales + 8 * h;
            float *yh = y + 128 * h;
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q0 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q1 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                yh[l] = d * sc[is + 0] * (float)q0;
                yh[l + 32] = d * sc[is + 2] * (float)q1;
                yh[l + 64] = d * sc[is + 4] * (float)q2;
                yh[l + 96] = d * sc[is + 6] * (float)q3;
            }
        }
    }
}

void ak_dequantize_row(ak_type t, const void *src, float *dst, int64_t n) {
    int64_t bs = ak_type_block_elems(t);
    if (!bs || n <= 0 || n % bs) return;
    int64_t nb = n / bs;
    switch (t) {
    case AK_TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case AK_TYPE_F16: {
        const uint16_t *h = src;
        if (ak_quant_simd() == AK_SIMD_AVX2 && ak_f16_row_avx2) ak_f16_row_avx2(h, dst, n);
        else
            for (int64_t i = 0; i < n; i++) dst[i] = half_to_f32(h[i]);
        break;
    }
    case AK_TYPE_BF16: {
        const uint16_t *h = src;
        for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(h[i]);
        break;
    }
    case AK_TYPE_Q4_0: dequant_q4_0(src, dst, nb); break;
    case AK_TYPE_Q5_0: dequant_q5_0(src, dst, nb); break;
    case AK_TYPE_IQ4_NL: dequant_iq4_nl(src, dst, nb); break;
    case AK_TYPE_Q8_0: dequant_q8_0(src, dst, nb); break;
    case AK_TYPE_Q4_K: {
        const blk_q4_k *b = src;
        for (int64_t i = 0; i < nb; i++) dequant_k4(b[i].d, b[i].dmin, b[i].scales, b[i].qs, NULL, dst + i * QKK);
        break;
    }
    case AK_TYPE_Q5_K: {
        const blk_q5_k *b = src;
        for (int64_t i = 0; i < nb; i++) dequant_k4(b[i].d, b[i].dmin, b[i].scales, b[i].qs, b[i].qh, dst + i * QKK);
        break;
    }
    case AK_TYPE_Q6_K: dequant_q6_k(src, dst, nb); break;
    case AK_TYPE_IQ4_XS: dequant_iq4_xs(src, dst, nb); break;
    case AK_TYPE_Q2_K: dequant_q2_k(src, dst, nb); break;
    case AK_TYPE_Q3_K: dequant_q3_k(src, dst, nb); break;
    case AK_TYPE_MXFP4: dequant_mxfp4(src, dst, nb); break;
    case AK_TYPE_Q8_K: {
        const blk_q8_k *b = src;
        for (int64_t i = 0; i < nb; i++)
            for (int j = 0; j < QKK; j++) dst[i * QKK + j] = b[i].d * (float)b[i].qs[j];
        break;
    }
    default: break;
    }
}
