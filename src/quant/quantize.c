/* quantize.c - float rows to every type.
 *
 * Q4_0, Q8_0 (ak_quantize_row) and Q8_K: exactly ggml's reference quantisers.
 * ak_encode_activation's Q8_0 follows ggml's x86 CPU path instead (scale 127/amax,
 * ties to even), because that is what llama.cpp uses for activations on this CPU.
 * K-quant weights: a simple quantiser (per sub-block min/max fit, scales rounded up so
 * the grid covers the data), not ggml's iterative search: valid encoding, somewhat larger
 * error. See docs/quant.md.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "quant/blocks.h"
#include "quant/kernels.h"

/* float -> int without undefined behaviour on inf/nan input rows (nan -> 0, saturating). */
static int to_int(float v) {
    if (v != v) return 0;
    if (v > 1e9f) return 1000000000;
    if (v < -1e9f) return -1000000000;
    return (int)v;
}

/* Round to nearest, ties to even (ggml's nearest_int). */
static int nearest_int(float v) { return to_int(nearbyintf(v)); }

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The value of largest magnitude, with its sign (the first of equal ones), as ggml's
 * symmetric quantisers pick the value that maps to the most negative level. */
static float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++)
        if (amax < fabsf(x[j])) amax = fabsf(x[j]), max = x[j];
    return max;
}

static void quant_q4_0(const float *x, blk_q4_0 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK32) {
        float d = signed_absmax(x, QK32) / -8, id = d ? 1.0f / d : 0.0f;
        b[i].d = ak_f32_to_f16(d);
        for (int j = 0; j < QK32 / 2; j++) {
            /* truncation after +8.5 is ggml's rounding; the cap keeps 16 (from the +amax side) at 15 */
            int q0 = clampi(to_int(x[j] * id + 8.5f), 0, 15), q1 = clampi(to_int(x[j + QK32 / 2] * id + 8.5f), 0, 15);
            b[i].qs[j] = (uint8_t)(q0 | q1 << 4);
        }
    }
}

/* Q5_0 as ggml's reference: the signed largest-magnitude value maps to -16. */
static void quant_q5_0(const float *x, blk_q5_0 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK32) {
        float d = signed_absmax(x, QK32) / -16, id = d ? 1.0f / d : 0.0f;
        b[i].d = ak_f32_to_f16(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK32 / 2; j++) {
            /* truncation after +16.5, capped at 31, as ggml rounds */
            int q0 = clampi(to_int(x[j] * id + 16.5f), 0, 31), q1 = clampi(to_int(x[j + QK32 / 2] * id + 16.5f), 0, 31);
            b[i].qs[j] = (uint8_t)((q0 & 0xF) | (q1 & 0xF) << 4);
            qh |= (uint32_t)(q0 >> 4) << j | (uint32_t)(q1 >> 4) << (j + 16);
        }
        memcpy(b[i].qh, &qh, sizeof qh);
    }
}

static void quant_q8_0_ref(const float *x, blk_q8_0 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK32) {
        float amax = 0.0f;
        for (int j = 0; j < QK32; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127, id = d ? 1.0f / d : 0.0f;
        b[i].d = ak_f32_to_f16(d);
        for (int j = 0; j < QK32; j++) b[i].qs[j] = (int8_t)clampi(to_int(roundf(x[j] * id)), -128, 127);
    }
}

static void quant_q8_0_act(const float *x, blk_q8_0 *b, int64_t nb) {
    const ak_encode_block_fn simd = ak_encode_simd(AK_TYPE_Q8_0);
    for (int64_t i = 0; i < nb; i++, x += QK32) {
        if (simd && simd(x, &b[i]) == 0) continue;
        float amax = 0.0f;
        for (int j = 0; j < QK32; j++) amax = fmaxf(amax, fabsf(x[j]));
        b[i].d = ak_f32_to_f16(amax / 127.f);
        float id = amax != 0.0f ? 127.f / amax : 0.0f;
        for (int j = 0; j < QK32; j++) b[i].qs[j] = (int8_t)clampi(nearest_int(x[j] * id), -127, 127);
    }
}

/* Activations take this once per matrix input: the SIMD path encodes the same bytes
 * (dot_avx2.c) and leaves non-finite blocks to the code below. */
static void quant_q8_k(const float *x, blk_q8_k *b, int64_t nb) {
    const ak_encode_block_fn simd = ak_encode_simd(AK_TYPE_Q8_K);
    for (int64_t i = 0; i < nb; i++, x += QKK) {
        if (simd && simd(x, &b[i]) == 0) continue;
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QKK; j++)
            if (fabsf(x[j]) > amax) { amax = fabsf(x[j]); max = x[j]; }
        memset(b[i].bsums, 0, sizeof b[i].bsums);
        if (amax == 0.0f) {
            b[i].d = 0.0f;
            memset(b[i].qs, 0, QKK);
            continue;
        }
        float iscale = -127.f / max; /* negative scale: ggml's choice, kept for bit equality */
        for (int j = 0; j < QKK; j++) {
            int v = nearest_int(iscale * x[j]);
            b[i].qs[j] = (int8_t)clampi(v, -128, 127);
            b[i].bsums[j / 16] = (int16_t)(b[i].bsums[j / 16] + b[i].qs[j]);
        }
        b[i].d = 1 / iscale;
    }
}

/* Store 6-bit scale sc and min m of sub-block j into the 12-byte Q4_K/Q5_K array. */
static void k4_pack(uint8_t *q, int j, int sc, int m) {
    if (j < 4) {
        q[j] = (uint8_t)((q[j] & 0xC0) | sc);
        q[j + 4] = (uint8_t)((q[j + 4] & 0xC0) | m);
    } else {
        q[j + 4] = (uint8_t)((sc & 0xF) | (m & 0xF) << 4);
        q[j - 4] = (uint8_t)((q[j - 4] & 0x3F) | (sc >> 4) << 6);
        q[j] = (uint8_t)((q[j] & 0x3F) | (m >> 4) << 6);
    }
}

/* Smallest half >= v (v >= 0), so a scale never shrinks below what the data needs. */
static uint16_t f16_up(float v) {
    uint16_t h = ak_f32_to_f16(v);
    if (ak_f16_to_f32(h) < v) h++;
    return h;
}

/* Q4_K (qmax 15, qh NULL) and Q5_K (qmax 31): 8 sub-blocks of 32, x ~ d*sc*q - dmin*m.
 * Mins and scales are rounded up, so each sub-block's grid covers its whole range
 * [min(0,lo), max(0,hi)] and the error is at most half a step of (range/qmax + d). */
static void quant_k4(const float *x, uint16_t *d16, uint16_t *dmin16, uint8_t *scales, uint8_t *qs,
                     uint8_t *qh, int qmax) {
    float lift[8], top[8], max_lift = 0.0f;
    for (int s = 0; s < 8; s++) {
        float lo = 0.0f, hi = 0.0f; /* the min must be <= 0 as the layout subtracts dmin*m >= 0 */
        for (int l = 0; l < 32; l++) {
            lo = fminf(lo, x[32 * s + l]);
            hi = fmaxf(hi, x[32 * s + l]);
        }
        lift[s] = -lo;
        top[s] = hi;
        max_lift = fmaxf(max_lift, lift[s]);
    }
    *dmin16 = f16_up(max_lift / 63);
    float dmin = ak_f16_to_f32(*dmin16), max_span = 0.0f;
    int m[8];
    for (int s = 0; s < 8; s++) {
        m[s] = dmin > 0 ? clampi(to_int(ceilf(lift[s] / dmin)), 0, 63) : 0;
        max_span = fmaxf(max_span, top[s] + dmin * (float)m[s]);
    }
    *d16 = f16_up(max_span / ((float)qmax * 63));
    float d = ak_f16_to_f32(*d16);
    memset(scales, 0, K_SCALE_BYTES);
    memset(qs, 0, QKK / 2);
    if (qh) memset(qh, 0, QKK / 8);
    for (int s = 0; s < 8; s++) {
        float off = dmin * (float)m[s], span = top[s] + off;
        int sc = d > 0 ? clampi(to_int(ceilf(span / ((float)qmax * d))), 0, 63) : 0;
        k4_pack(scales, s, sc, m[s]);
        float ds = d * (float)sc, ids = ds > 0 ? 1.0f / ds : 0.0f;
        int c = s / 2, high = s & 1;
        for (int l = 0; l < 32; l++) {
            int q = clampi(nearest_int((x[32 * s + l] + off) * ids), 0, qmax);
            qs[32 * c + l] |= (uint8_t)((q & 0xF) << (4 * high));
            if (qh) qh[l] |= (uint8_t)(((q >> 4) & 1) << (2 * c + high));
        }
    }
}

/* Q6_K: 16 sub-blocks of 16, x ~ d*sc*q with q in -32..31 and signed 8-bit sc; symmetric
 * grid with step amax/31, scales rounded up as above. */
static void quant_q6_k(const float *x, blk_q6_k *b) {
    float step[16], max_step = 0.0f;
    for (int s = 0; s < 16; s++) {
        float amax = 0.0f;
        for (int l = 0; l < 16; l++) amax = fmaxf(amax, fabsf(x[16 * s + l]));
        step[s] = amax / 31;
        max_step = fmaxf(max_step, step[s]);
    }
    b->d = f16_up(max_step / 127);
    float d = ak_f16_to_f32(b->d);
    memset(b->ql, 0, sizeof b->ql);
    memset(b->qh, 0, sizeof b->qh);
    for (int s = 0; s < 16; s++) {
        int sc = d > 0 ? clampi(to_int(ceilf(step[s] / d)), 0, 127) : 0;
        b->scales[s] = (int8_t)sc;
        float ds = d * (float)sc, ids = ds > 0 ? 1.0f / ds : 0.0f;
        for (int l = 0; l < 16; l++) {
            int idx = 16 * s + l; /* element index in the block: half h, quarter k, lane p */
            int q = clampi(nearest_int(x[idx] * ids), -32, 31) + 32;
            int h = idx / 128, k = (idx % 128) / 32, p = idx % 32;
            uint8_t *ql = b->ql + 64 * h + (k & 1) * 32, *qh = b->qh + 32 * h;
            ql[p] |= (uint8_t)((q & 0xF) << (k >= 2 ? 4 : 0));
            qh[p] |= (uint8_t)((q >> 4) << (2 * k));
        }
    }
}

/* Q2_K: per sub-block of 16 the range [min(x, 0), max(x)] in 3 steps, the steps and lifts
 * on 4-bit grids of d and dmin (rounded up, as above, so nothing clips). */
static void quant_q2_k(const float *x, blk_q2_k *b) {
    float lift[16], top[16], max_lift = 0.0f, max_step = 0.0f;
    for (int s = 0; s < 16; s++) {
        float lo = 0.0f, hi = 0.0f;
        for (int l = 0; l < 16; l++) lo = fminf(lo, x[16 * s + l]), hi = fmaxf(hi, x[16 * s + l]);
        lift[s] = -lo, top[s] = hi;
        max_lift = fmaxf(max_lift, lift[s]);
    }
    b->dmin = f16_up(max_lift / 15);
    const float dmin = ak_f16_to_f32(b->dmin);
    int m[16];
    for (int s = 0; s < 16; s++) {
        m[s] = dmin > 0 ? clampi(to_int(ceilf(lift[s] / dmin)), 0, 15) : 0;
        max_step = fmaxf(max_step, (top[s] + dmin * (float)m[s]) / 3);
    }
    b->d = f16_up(max_step / 15);
    const float d = ak_f16_to_f32(b->d);
    memset(b->qs, 0, sizeof b->qs);
    for (int s = 0; s < 16; s++) {
        const float off = dmin * (float)m[s];
        const int sc = d > 0 ? clampi(to_int(ceilf((top[s] + off) / (3 * d))), 0, 15) : 0;
        b->scales[s] = (uint8_t)(sc | m[s] << 4);
        const float ds = d * (float)sc, ids = ds > 0 ? 1.0f / ds : 0.0f;
        for (int l = 0; l < 16; l++) {
            const int e = 16 * s + l, q = clampi(nearest_int((x[e] + off) * ids), 0, 3);
            b->qs[32 * (e / 128) + e % 32] |= (uint8_t)(q << (2 * ((e % 128) / 32)));
        }
    }
}

/* Q3_K: per sub-block of 16 the step covering both the largest positive value in 3 steps
 * and the most negative in 4 (q in -4..3), on a 5-bit grid of d rounded up (scales stored
 * + 32 in 6 bits; only 0..31 are used, so nothing clips); each value its nearest step. */
static void quant_q3_k(const float *x, blk_q3_k *b) {
    float step[16], max_step = 0.0f;
    for (int s = 0; s < 16; s++) {
        float pos = 0.0f, neg = 0.0f;
        for (int l = 0; l < 16; l++) pos = fmaxf(pos, x[16 * s + l]), neg = fmaxf(neg, -x[16 * s + l]);
        step[s] = fmaxf(pos / 3, neg / 4);
        max_step = fmaxf(max_step, step[s]);
    }
    b->d = f16_up(max_step / 31);
    const float d = ak_f16_to_f32(b->d);
    memset(b, 0, offsetof(blk_q3_k, d));
    for (int s = 0; s < 16; s++) {
        const int sc = d > 0 ? clampi(to_int(ceilf(step[s] / d)), 0, 31) : 0, st = sc + 32;
        b->scales[s < 8 ? s : s - 8] |= (uint8_t)((st & 0xF) << (s < 8 ? 0 : 4));
        b->scales[8 + s % 4] |= (uint8_t)((st >> 4) << (2 * (s / 4)));
        const float ds = d * (float)sc, ids = ds > 0 ? 1.0f / ds : 0.0f;
        for (int l = 0; l < 16; l++) {
            const int e = 16 * s + l, q = clampi(nearest_int(x[e] * ids), -4, 3) + 4; /* 0..7 */
            const int h = e / 128, j = (e % 128) / 32, p = e % 32;
            b->qs[32 * h + p] |= (uint8_t)((q & 3) << (2 * j));
            b->hmask[p] |= (uint8_t)((q >> 2) << (4 * h + j));
        }
    }
}

/* The IQ4_NL level index whose level times dl is nearest to v. */
static int iq4_nearest(float v, float dl) {
    const int8_t *levels = iq4nl_levels();
    int best = 0;
    float err = INFINITY;
    for (int q = 0; q < 16; q++) {
        float e = fabsf(dl * (float)levels[q] - v);
        if (e < err) err = e, best = q;
    }
    return best;
}

/* IQ4_XS: each sub-block's scale maps its largest-magnitude value onto the widest level
 * (-127), signed so that both signs fit; the block scale d covers the largest of those in
 * 31 steps; each value takes its nearest level. (ggml searches scales with importance
 * weights for lower error; any valid block reads the same in every engine.) */
static void quant_iq4_xs(const float *x, blk_iq4_xs *b) {
    float sub[8], amax = 0.0f;
    for (int ib = 0; ib < 8; ib++) {
        sub[ib] = signed_absmax(x + 32 * ib, 32) / -127.0f;
        amax = fmaxf(amax, fabsf(sub[ib]));
    }
    b->d = f16_up(amax / 31);
    float d = ak_f16_to_f32(b->d);
    b->scales_h = 0;
    memset(b->scales_l, 0, sizeof b->scales_l);
    for (int ib = 0; ib < 8; ib++) {
        int ls = d > 0 ? clampi(nearest_int(sub[ib] / d), -32, 31) : 0;
        b->scales_l[ib / 2] |= (uint8_t)(((ls + 32) & 0xF) << 4 * (ib % 2));
        b->scales_h |= (uint16_t)(((ls + 32) >> 4) << 2 * ib);
        float dl = d * (float)ls;
        for (int j = 0; j < 16; j++)
            b->qs[16 * ib + j] = (uint8_t)(iq4_nearest(x[32 * ib + j], dl) | iq4_nearest(x[32 * ib + j + 16], dl) << 4);
    }
}

/* IQ4_NL: as one IQ4_XS sub-block, the scale maps the signed largest-magnitude value onto
 * the widest level (-127); each value takes its nearest level. */
static void quant_iq4_nl(const float *x, blk_iq4_nl *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QK32) {
        b[i].d = ak_f32_to_f16(signed_absmax(x, QK32) / -127.0f);
        const float d = ak_f16_to_f32(b[i].d);
        for (int j = 0; j < QK32 / 2; j++)
            b[i].qs[j] = (uint8_t)(iq4_nearest(x[j], d) | iq4_nearest(x[j + QK32 / 2], d) << 4);
    }
}

/* MXFP4: the smallest power-of-two scale that fits the block's largest magnitude under the
 * widest level (6, stored doubled as 12), so nothing clips; each value its nearest level.
 * (ggml picks the exponent from amax and may clip the largest values a little.) */
static void quant_mxfp4(const float *x, blk_mxfp4 *b, int64_t nb) {
    const int8_t *levels = mxfp4_levels();
    for (int64_t i = 0; i < nb; i++, x += QK32) {
        float amax = 0.0f;
        for (int j = 0; j < QK32; j++) amax = fmaxf(amax, fabsf(x[j]));
        int e = 0;
        while (e < 254 && mxfp4_half_scale((uint8_t)e) * 12.0f < amax) e++;
        b[i].e = (uint8_t)e;
        float d = mxfp4_half_scale((uint8_t)e);
        for (int j = 0; j < 16; j++) {
            int q[2];
            for (int h = 0; h < 2; h++) {
                float v = x[j + 16 * h], err = INFINITY;
                q[h] = 0;
                for (int k = 0; k < 16; k++) {
                    float e2 = fabsf((float)levels[k] * d - v);
                    if (e2 < err) err = e2, q[h] = k;
                }
            }
            b[i].qs[j] = (uint8_t)(q[0] | q[1] << 4);
        }
    }
}

static void quantize(ak_type t, const float *src, void *dst, int64_t n, int activation) {
    int64_t bs = ak_type_block_elems(t);
    if (!bs || n <= 0 || n % bs) return;
    int64_t nb = n / bs;
    switch (t) {
    case AK_TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case AK_TYPE_F16: {
        uint16_t *h = dst;
        if (ak_quant_simd() == AK_SIMD_AVX2 && ak_f16_pack_avx2) ak_f16_pack_avx2(src, h, n);
        else
            for (int64_t i = 0; i < n; i++) h[i] = ak_f32_to_f16(src[i]);
        break;
    }
    case AK_TYPE_BF16: {
        uint16_t *h = dst;
        for (int64_t i = 0; i < n; i++) h[i] = ak_f32_to_bf16(src[i]);
        break;
    }
    case AK_TYPE_Q4_0: quant_q4_0(src, dst, nb); break;
    case AK_TYPE_Q5_0: quant_q5_0(src, dst, nb); break;
    case AK_TYPE_IQ4_NL: quant_iq4_nl(src, dst, nb); break;
    case AK_TYPE_Q8_0:
        if (activation) quant_q8_0_act(src, dst, nb);
        else quant_q8_0_ref(src, dst, nb);
        break;
    case AK_TYPE_Q8_K: quant_q8_k(src, dst, nb); break;
    case AK_TYPE_Q4_K: {
        blk_q4_k *b = dst;
        for (int64_t i = 0; i < nb; i++)
            quant_k4(src + i * QKK, &b[i].d, &b[i].dmin, b[i].scales, b[i].qs, NULL, 15);
        break;
    }
    case AK_TYPE_Q5_K: {
        blk_q5_k *b = dst;
        for (int64_t i = 0; i < nb; i++)
            quant_k4(src + i * QKK, &b[i].d, &b[i].dmin, b[i].scales, b[i].qs, b[i].qh, 31);
        break;
    }
    case AK_TYPE_Q6_K: {
        blk_q6_k *b = dst;
        for (int64_t i = 0; i < nb; i++) quant_q6_k(src + i * QKK, &b[i]);
        break;
    }
    case AK_TYPE_MXFP4: quant_mxfp4(src, dst, nb); break;
    case AK_TYPE_Q2_K: {
        blk_q2_k *b = dst;
        for (int64_t i = 0; i < nb; i++) quant_q2_k(src + i * QKK, &b[i]);
        break;
    }
    case AK_TYPE_Q3_K: {
        blk_q3_k *b = dst;
        for (int64_t i = 0; i < nb; i++) quant_q3_k(src + i * QKK, &b[i]);
        break;
    }
    case AK_TYPE_IQ4_XS: {
        blk_iq4_xs *b = dst;
        for (int64_t i = 0; i < nb; i++) quant_iq4_xs(src + i * QKK, &b[i]);
        break;
    }
    default: break;
    }
}

void ak_quantize_row(ak_type t, const float *src, void *dst, int64_t n) { quantize(t, src, dst, n, 0); }

void ak_encode_activation(ak_type weight_type, const float *x, void *dst, int64_t n) {
    quantize(ak_vec_dot_type(weight_type), x, dst, n, 1);
}
