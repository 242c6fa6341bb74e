/* dot_avx2.c - AVX2/FMA/F16C dot kernels; only this file is built with those flags and its
 * functions run only after cpu.c has checked the CPU (the scalar file is the reference).
 *
 * dot_vnni.c compiles this same file again with AVX512-VNNI/VL added (AK_DOT_VNNI): the
 * integer multiply-adds then fuse their accumulation (vpdpwssd, vpdpbusd), the compiler
 * gets 32 vector registers, and the integer results are the same, so every kernel
 * returns bit-identical values in both builds (tests/model/test_model_matmul.c). */
#include "quant/kernels.h"

#ifdef AK_DOT_VNNI
#define KERNEL_SET(name) name##_vnni
#if defined(__AVX512VNNI__) && defined(__AVX512VL__) && defined(__AVX512BW__)
#define KERNEL_FLAGS_OK 1
#else
#define KERNEL_FLAGS_OK 0
#endif
#else
#define KERNEL_SET(name) name##_avx2
#define KERNEL_FLAGS_OK 1
#endif

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__) && KERNEL_FLAGS_OK
#include <immintrin.h>
#include <string.h>

#include "quant/blocks.h"

static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

static float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static float dot_f32(int64_t n, const void *w, const void *x) {
    const float *a = w, *b = x;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static __m256 load_f16x8(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

#define DOT_HALF(NAME, LOAD, TO_F32)                                                        \
    static float NAME(int64_t n, const void *w, const void *x) {                            \
        const uint16_t *a = w, *b = x;                                                      \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;           \
        int64_t i = 0;                                                                      \
        for (; i + 32 <= n; i += 32) {                                                      \
            acc0 = _mm256_fmadd_ps(LOAD(a + i), LOAD(b + i), acc0);                         \
            acc1 = _mm256_fmadd_ps(LOAD(a + i + 8), LOAD(b + i + 8), acc1);                 \
            acc2 = _mm256_fmadd_ps(LOAD(a + i + 16), LOAD(b + i + 16), acc2);               \
            acc3 = _mm256_fmadd_ps(LOAD(a + i + 24), LOAD(b + i + 24), acc3);               \
        }                                                                                   \
        for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(LOAD(a + i), LOAD(b + i), acc0); \
        float s = hsum8(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3))); \
        for (; i < n; i++) s += TO_F32(a[i]) * TO_F32(b[i]);                                \
        return s;                                                                           \
    }

DOT_HALF(dot_f16, load_f16x8, ak_f16_to_f32)

/* bf16 is the top half of a float: interleaving zero words below each element gives floats
 * directly. unpacklo/hi permute elements, but identically for w and x, so the dot is intact. */
static float dot_bf16(int64_t n, const void *w, const void *x) {
    const uint16_t *a = w, *b = x;
    const __m256i zero = _mm256_setzero_si256();
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i va0 = _mm256_loadu_si256((const __m256i *)(a + i)), vb0 = _mm256_loadu_si256((const __m256i *)(b + i));
        __m256i va1 = _mm256_loadu_si256((const __m256i *)(a + i + 16));
        __m256i vb1 = _mm256_loadu_si256((const __m256i *)(b + i + 16));
        acc0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, va0)),
                               _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, vb0)), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, va0)),
                               _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, vb0)), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, va1)),
                               _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, vb1)), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, va1)),
                               _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, vb1)), acc3);
    }
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++) s += ak_bf16_to_f32(a[i]) * ak_bf16_to_f32(b[i]);
    return s;
}

/* The quantised kernels are written once for NC activation columns (x rows xs bytes apart)
 * and instantiated for NC = 1 (ak_vec_dot) and NC = 1..AK_DOTN_MAX (ak_matmul, which then
 * decodes each weight block once for NC columns). Every column goes through the same operations in
 * the same order for either NC, so matmul and matvec results are bit-identical. */
#define INLINE static inline __attribute__((always_inline))
#define XCOL(T, x, xs, c) ((const T *)((const uint8_t *)(x) + (size_t)(c) * (xs)))

/* acc + (pairwise int16 products of a and b summed to int32) */
#ifdef AK_DOT_VNNI
#define MADD_ACC(acc, a, b) _mm256_dpwssd_epi32(acc, a, b)
#else
#define MADD_ACC(acc, a, b) _mm256_add_epi32(acc, _mm256_madd_epi16(a, b))
#endif

/* 8 int32 sums of 4 products each, for signed weight bytes w given as |w| and the sign
 * source w (maddubs needs one unsigned operand: w's sign moves onto the activation). No
 * pair of products reaches maddubs' int16 saturation (|w| <= 128, |y| <= 127), so the
 * non-saturating vpdpbusd gives the same sums. */
INLINE __m256i mul_sum_signed(__m256i abs_w, __m256i w, __m256i y) {
#ifdef AK_DOT_VNNI
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), abs_w, _mm256_sign_epi8(y, w));
#else
    __m256i p16 = _mm256_maddubs_epi16(abs_w, _mm256_sign_epi8(y, w));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
#endif
}

/* The 32-value types whose activations are Q8_0 (Q8_0, Q4_0, Q5_0, IQ4_NL, MXFP4): a decoder
 * turns weight block i into 32 signed bytes q and a scale da (x = da * q), and one loop
 * takes the dot products with NC columns. The decoders are always inlined, so each type
 * still gets its own straight-line kernel. */
typedef __m256i (*blk32_decode_fn)(const void *w, int64_t i, float *da);

/* yd: NULL, or the activation blocks' scales already widened (yd[c * AK_YD_BLOCKS + i];
 * ak_matmul does it once per call): then per (block, column) a broadcast from memory and one
 * vector multiply replace the scalar f16 load, widening, multiply and broadcast, about half
 * the instructions of a product of 32 values. da * db rounds once either way, so both give
 * the same bits. (Always inlined with a constant yd: each variant is straight-line code.) */
INLINE void blk32_cols(int64_t n, const void *w, const void *x, size_t xs, const float *yd, float *out,
                       const int NC, blk32_decode_fn decode) {
    __m256 acc[AK_DOTN_MAX];
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK32; i++) {
        float da;
        __m256i q = decode(w, i, &da);
        __m256i abs_q = _mm256_sign_epi8(q, q);
        const __m256 vda = _mm256_set1_ps(da);
        for (int c = 0; c < NC; c++) {
            const blk_q8_0 *b = XCOL(blk_q8_0, x, xs, c) + i;
            __m256i qb = _mm256_loadu_si256((const __m256i *)b->qs);
            __m256 d = yd ? _mm256_mul_ps(vda, _mm256_broadcast_ss(yd + (size_t)c * AK_YD_BLOCKS + i))
                          : _mm256_set1_ps(da * h2f(b->d));
            acc[c] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(mul_sum_signed(abs_q, q, qb)), acc[c]);
        }
    }
    for (int c = 0; c < NC; c++) out[c] = hsum8(acc[c]);
}

/* yd[c * AK_YD_BLOCKS + i] = the scale of block i of Q8_0 activation column c, widened
 * with F16C (the library's portable ak_f16_to_f32 took 8% of a Q8_0 prefill here). */
static void widen_q8_0_scales(const void *x, size_t xs, int nc, int64_t nb, float *yd) {
    for (int c = 0; c < nc; c++) {
        const blk_q8_0 *b = XCOL(blk_q8_0, x, xs, c);
        for (int64_t i = 0; i < nb; i++) yd[(size_t)c * AK_YD_BLOCKS + i] = h2f(b[i].d);
    }
}
const ak_widen_scales_fn KERNEL_SET(ak_widen_q8_0_scales) = widen_q8_0_scales;

/* 16 packed bytes as 32 4-bit codes: low nibbles are elements 0..15, high nibbles 16..31 */
INLINE __m256i nibbles32(const uint8_t *qs) {
    __m128i packed = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), _mm256_set1_epi8(0x0F));
}

INLINE __m256i decode_q8_0(const void *w, int64_t i, float *da) {
    const blk_q8_0 *a = (const blk_q8_0 *)w + i;
    *da = h2f(a->d);
    return _mm256_loadu_si256((const __m256i *)a->qs);
}

INLINE __m256i decode_q4_0(const void *w, int64_t i, float *da) {
    const blk_q4_0 *a = (const blk_q4_0 *)w + i;
    *da = h2f(a->d);
    return _mm256_sub_epi8(nibbles32(a->qs), _mm256_set1_epi8(8));
}

/* The 12 packed bytes of Q4_K/Q5_K scales as 8 int16 scales (low half) and 8 int16 mins
 * (high half) (see k4_scale_min for the layout). With the three 32-bit words w0..w2:
 *   scales 0-3 = w0 & 0x3F..,  scales 4-7 = (w2 & 0x0F..) | ((w0 >> 6) & 0x03..) << 4
 *   mins   0-3 = w1 & 0x3F..,  mins   4-7 = ((w2 >> 4) & 0x0F..) | ((w1 >> 6) & 0x03..) << 4
 * computed in one vector, since building it from general registers (a pinsrd per word)
 * competes for the shuffle port the dot product needs. Reads 16 bytes: the 4 after the
 * scales are the block's first quants. */
INLINE __m256i k4_scales_mins(const uint8_t *packed) {
    __m128i v = _mm_loadu_si128((const __m128i *)packed);
    __m128i a = _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 1, 2, 0));             /* w0 w2 w1 w2 */
    a = _mm_srlv_epi32(a, _mm_setr_epi32(0, 0, 0, 4));                      /* w0 w2 w1 w2>>4 */
    __m128i b = _mm_shuffle_epi32(v, _MM_SHUFFLE(1, 1, 0, 0));             /* w0 w0 w1 w1 */
    __m128i lo = _mm_and_si128(a, _mm_setr_epi32(0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F, 0x0F0F0F0F));
    __m128i hi = _mm_and_si128(_mm_srli_epi32(b, 2), _mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
    return _mm256_cvtepu8_epi16(_mm_or_si128(lo, hi));
}

/* shuffle_epi8 mask that copies int16 word `word` of each 128-bit lane to all its words */
INLINE __m256i word_splat(int word) { return _mm256_set1_epi16((short)((2 * word) | (2 * word + 1) << 8)); }

/* Q4_K/Q5_K: per block, sum over sub-blocks of sc * sum(q*y) in int32 lanes (q unsigned, so
 * maddubs applies directly); the min term is mins . (pairwise sums of the activation's
 * bsums). HAS_QH: Q5_K. */
INLINE void k4_cols(int64_t n, const void *w, const void *x, size_t xs, float *out, const int NC,
                    const int HAS_QH) {
    const size_t bb = HAS_QH ? sizeof(blk_q5_k) : sizeof(blk_q4_k);
    const __m256i low4 = _mm256_set1_epi8(0x0F), sixteen = _mm256_set1_epi8(16);
    __m256 acc[AK_DOTN_MAX];
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    __m256 acc_min[AK_DOTN_MAX];
    for (int c = 0; c < NC; c++) acc_min[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QKK; i++) {
        const uint8_t *blk = (const uint8_t *)w + (size_t)i * bb;
        uint16_t d16, dmin16;
        memcpy(&d16, blk, 2);
        memcpy(&dmin16, blk + 2, 2);
        const uint8_t *qh = blk + 16, *qs = blk + 16 + (HAS_QH ? QKK / 8 : 0);
        __m256i sm = k4_scales_mins(blk + 4);
        __m256i scales = _mm256_permute2x128_si256(sm, sm, 0x00); /* 8 scales in both lanes */
        /* min j twice, next to bsums 2j and 2j+1 (each bsum covers 16 of a min's 32 values) */
        __m256i mins_q = _mm256_permute4x64_epi64(sm, _MM_SHUFFLE(3, 3, 3, 2)); /* m0-3 | m4-7 low */
        __m256i mins2 = _mm256_unpacklo_epi16(mins_q, mins_q);
        __m256i hbits = HAS_QH ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
        /* With VNNI each MADD_ACC is one vpdpwssd whose result feeds the next (5 cycles of
         * latency each): the high nibbles get their own accumulator so two chains run side
         * by side (32 registers leave room). Integer sums: the result is the same. */
        __m256i sumi[AK_DOTN_MAX], sumi_hi[AK_DOTN_MAX];
        for (int c = 0; c < NC; c++) sumi[c] = sumi_hi[c] = _mm256_setzero_si256();
        for (int ch = 0; ch < 4; ch++) {
            __m256i packed = _mm256_loadu_si256((const __m256i *)(qs + 32 * ch));
            __m256i lo = _mm256_and_si256(packed, low4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low4);
            if (HAS_QH) { /* hbits is shifted right by 2*ch: bit 0 -> lo's 5th bit, bit 1 -> hi's */
                lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(hbits, 4), sixteen));
                hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(hbits, 3), sixteen));
                hbits = _mm256_srli_epi16(hbits, 2);
            }
            __m256i s0 = _mm256_shuffle_epi8(scales, word_splat(2 * ch));
            __m256i s1 = _mm256_shuffle_epi8(scales, word_splat(2 * ch + 1));
            for (int c = 0; c < NC; c++) {
                const int8_t *y = XCOL(blk_q8_k, x, xs, c)[i].qs + 64 * ch;
                /* integer sums: the order of the additions does not change them */
                sumi[c] = MADD_ACC(sumi[c], _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)y)), s0);
#ifdef AK_DOT_VNNI
                sumi_hi[c] = MADD_ACC(sumi_hi[c], _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y + 32))), s1);
#else
                sumi[c] = MADD_ACC(sumi[c], _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y + 32))), s1);
#endif
            }
        }
        for (int c = 0; c < NC; c++) sumi[c] = _mm256_add_epi32(sumi[c], sumi_hi[c]);
        float d = h2f(d16), dmin = h2f(dmin16);
        for (int c = 0; c < NC; c++) {
            const blk_q8_k *b = XCOL(blk_q8_k, x, xs, c) + i;
            __m256i mprod = _mm256_madd_epi16(mins2, _mm256_loadu_si256((const __m256i *)b->bsums)); /* 8 int32 */
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(d * b->d), _mm256_cvtepi32_ps(sumi[c]), acc[c]);
            acc_min[c] = _mm256_fmadd_ps(_mm256_set1_ps(dmin * b->d), _mm256_cvtepi32_ps(mprod), acc_min[c]);
        }
    }
    for (int c = 0; c < NC; c++) out[c] = hsum8(acc[c]) - hsum8(acc_min[c]);
}

/* Q6_K: stored q in 0..63 means q-32: sum((q-32)*y) = sum(q*y) - 32*sum(y), and the sums of
 * y per 16-element sub-block are the activation's bsums. Each 32-lane vector spans two
 * sub-blocks: its low 128-bit lane takes scale 2k, the high lane scale 2k+1. */
INLINE void q6_k_cols(int64_t n, const void *w, const void *x, size_t xs, float *out, const int NC) {
    const blk_q6_k *a = w;
    const __m256i low4 = _mm256_set1_epi8(0x0F), bits45 = _mm256_set1_epi8(0x30);
    __m256i lane_pick[4];
    for (int k = 0; k < 4; k++) /* word 2k in the low lane, word 2k+1 in the high lane */
        lane_pick[k] = _mm256_setr_m128i(_mm_set1_epi16((short)((4 * k) | (4 * k + 1) << 8)),
                                         _mm_set1_epi16((short)((4 * k + 2) | (4 * k + 3) << 8)));
    __m256 acc[AK_DOTN_MAX];
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QKK; i++) {
        __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a[i].scales));
        __m256i sumi[AK_DOTN_MAX];
        for (int c = 0; c < NC; c++) sumi[c] = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = a[i].ql + 64 * h;
            __m256i sch = h ? _mm256_permute2x128_si256(sc16, sc16, 0x11) : _mm256_permute2x128_si256(sc16, sc16, 0x00);
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i hb = _mm256_loadu_si256((const __m256i *)(a[i].qh + 32 * h));
            __m256i q[4];
            /* the 2 high bits of quarter k sit at bits 2k..2k+1 of hb: move them to bits 4..5 */
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), bits45));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, low4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), bits45));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4), _mm256_and_si256(hb, bits45));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                                   _mm256_and_si256(_mm256_srli_epi16(hb, 2), bits45));
            for (int k = 0; k < 4; k++) {
                __m256i s = _mm256_shuffle_epi8(sch, lane_pick[k]);
                for (int c = 0; c < NC; c++) {
                    const int8_t *y = XCOL(blk_q8_k, x, xs, c)[i].qs + 128 * h + 32 * k;
                    __m256i p = _mm256_maddubs_epi16(q[k], _mm256_loadu_si256((const __m256i *)y));
                    sumi[c] = MADD_ACC(sumi[c], p, s);
                }
            }
        }
        float d = h2f(a[i].d);
        for (int c = 0; c < NC; c++) {
            const blk_q8_k *b = XCOL(blk_q8_k, x, xs, c) + i;
            __m256i lift = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)b->bsums));
            __m256i t = _mm256_sub_epi32(sumi[c], _mm256_slli_epi32(lift, 5));
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(d * b->d), _mm256_cvtepi32_ps(t), acc[c]);
        }
    }
    for (int c = 0; c < NC; c++) out[c] = hsum8(acc[c]);
}

/* Q2_K and Q3_K share their low two bits: per half h, 32 bytes of qs hold four quarters
 * (bits 2j..2j+1); a quarter's low 16 lanes are sub-block 8h + 2j, its high 16 sub-block
 * 8h + 2j + 1, so after maddubs with the activation the low 128-bit lane takes one scale and
 * the high lane the next (picked as in Q6_K). Q3_K's third bit (bit 4h + j of hmask[l],
 * hm non-NULL) becomes bit 2 of q' in 0..7. sumi[c] += sum over sub-blocks of
 * sc16[s] * sum(q * y) for block i of each column. */
INLINE void k2_sums(const uint8_t *qs, const uint8_t *hm, __m256i sc16, const void *x, size_t xs, int64_t i,
                    __m256i *sumi, const int NC) {
    const __m256i three = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    const __m256i hbits = hm ? _mm256_loadu_si256((const __m256i *)hm) : _mm256_setzero_si256();
    __m256i lane_pick[4];
    for (int k = 0; k < 4; k++) /* word 2k in the low lane, word 2k+1 in the high lane */
        lane_pick[k] = _mm256_setr_m128i(_mm_set1_epi16((short)((4 * k) | (4 * k + 1) << 8)),
                                         _mm_set1_epi16((short)((4 * k + 2) | (4 * k + 3) << 8)));
    for (int h = 0; h < 2; h++) {
        const __m256i packed = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
        /* the selector must be an immediate (clang) */
        const __m256i sch = h ? _mm256_permute2x128_si256(sc16, sc16, 0x11) : _mm256_permute2x128_si256(sc16, sc16, 0x00);
        for (int j = 0; j < 4; j++) {
            __m256i q = _mm256_and_si256(_mm256_srli_epi16(packed, 2 * j), three);
            if (hm)
                q = _mm256_or_si256(q, _mm256_slli_epi16(
                                           _mm256_and_si256(_mm256_srl_epi16(hbits, _mm_cvtsi32_si128(4 * h + j)), one), 2));
            const __m256i s = _mm256_shuffle_epi8(sch, lane_pick[j]);
            for (int c = 0; c < NC; c++) {
                const int8_t *y = XCOL(blk_q8_k, x, xs, c)[i].qs + 128 * h + 32 * j;
                sumi[c] = MADD_ACC(sumi[c], _mm256_maddubs_epi16(q, _mm256_loadu_si256((const __m256i *)y)), s);
            }
        }
    }
}

/* Q2_K: the scales' sums (k2_sums) minus the mins . bsums, one madd per block. */
INLINE void q2_k_cols(int64_t n, const void *w, const void *x, size_t xs, float *out, const int NC) {
    const blk_q2_k *a = w;
    const __m128i low4 = _mm_set1_epi8(0x0F);
    __m256 acc[AK_DOTN_MAX], acc_min[AK_DOTN_MAX];
    for (int c = 0; c < NC; c++) acc[c] = acc_min[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QKK; i++) {
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)a[i].scales);
        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(sc8, low4));
        const __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), low4));
        __m256i sumi[AK_DOTN_MAX];
        for (int c = 0; c < NC; c++) sumi[c] = _mm256_setzero_si256();
        k2_sums(a[i].qs, NULL, sc16, x, xs, i, sumi, NC);
        const float d = h2f(a[i].d), dmin = h2f(a[i].dmin);
        for (int c = 0; c < NC; c++) {
            const blk_q8_k *b = XCOL(blk_q8_k, x, xs, c) + i;
            __m256i mprod = _mm256_madd_epi16(m16, _mm256_loadu_si256((const __m256i *)b->bsums));
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(d * b->d), _mm256_cvtepi32_ps(sumi[c]), acc[c]);
            acc_min[c] = _mm256_fmadd_ps(_mm256_set1_ps(dmin * b->d), _mm256_cvtepi32_ps(mprod), acc_min[c]);
        }
    }
    for (int c = 0; c < NC; c++) out[c] = hsum8(acc[c]) - hsum8(acc_min[c]);
}

/* Q3_K's 16 six-bit scales (blocks.h, q3_k_scale) as int16, all at once: with the 12
 * bytes as little-endian words w0, w1, w2, scale 4k + b (k = 0..3, b = 0..3) has its low
 * nibble in byte b of w0 (k even) or w1 (k odd), low half for k < 2 and high half after,
 * and its two high bits at bit 2k of byte b of w2. Decoded one scale at a time in scalar
 * code they took most of the kernel's time: matvec of 65,536 x 2,048 from memory, 1 thread,
 * 4.4 -> 11.8-12.1 GB/s. */
INLINE __m256i q3_k_scales16(const uint8_t *scales) {
    uint32_t w[3];
    memcpy(w, scales, sizeof w);
    const __m128i lo = _mm_set_epi32((int)w[1], (int)w[0], (int)w[1], (int)w[0]);
    const __m128i lo4 = _mm_and_si128(_mm_srlv_epi32(lo, _mm_set_epi32(4, 4, 0, 0)), _mm_set1_epi8(0x0F));
    const __m128i hi = _mm_srlv_epi32(_mm_set1_epi32((int)w[2]), _mm_set_epi32(6, 4, 2, 0));
    const __m128i hi2 = _mm_slli_epi16(_mm_and_si128(hi, _mm_set1_epi8(0x03)), 4);
    const __m128i u6 = _mm_or_si128(lo4, hi2);
    return _mm256_cvtepi8_epi16(_mm_sub_epi8(u6, _mm_set1_epi8(32)));
}

/* Q3_K: the value is q' - 4, so per sub-block sc * (sum(q' y) - 4 bsum): the scales' sums
 * (k2_sums with hmask) minus 4 * the scales . bsums. */
INLINE void q3_k_cols(int64_t n, const void *w, const void *x, size_t xs, float *out, const int NC) {
    const blk_q3_k *a = w;
    __m256 acc[AK_DOTN_MAX];
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QKK; i++) {
        const __m256i sc16 = q3_k_scales16(a[i].scales);
        __m256i sumi[AK_DOTN_MAX];
        for (int c = 0; c < NC; c++) sumi[c] = _mm256_setzero_si256();
        k2_sums(a[i].qs, a[i].hmask, sc16, x, xs, i, sumi, NC);
        const float d = h2f(a[i].d);
        for (int c = 0; c < NC; c++) {
            const blk_q8_k *b = XCOL(blk_q8_k, x, xs, c) + i;
            __m256i sb = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)b->bsums));
            __m256i t = _mm256_sub_epi32(sumi[c], _mm256_slli_epi32(sb, 2));
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(d * b->d), _mm256_cvtepi32_ps(t), acc[c]);
        }
    }
    for (int c = 0; c < NC; c++) out[c] = hsum8(acc[c]);
}

/* The 32 bits of a Q5_0 block's qh as 32 bytes, 0x10 where the bit is set: byte k is qh's
 * byte k / 8 (a shuffle within each lane of the broadcast word), or-ed with every bit but
 * bit k % 8, compared with all ones. */
INLINE __m256i q5_0_high_bits(const uint8_t *qh) {
    uint32_t bits;
    memcpy(&bits, qh, sizeof bits);
    const __m256i pick = _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL, 0x0101010101010101LL, 0);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), pick);
    v = _mm256_or_si256(v, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfeLL));
    v = _mm256_cmpeq_epi8(v, _mm256_set1_epi64x(-1));
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

/* Q5_0: Q4_0's nibbles with the fifth bit from qh, minus 16. */
INLINE __m256i decode_q5_0(const void *w, int64_t i, float *da) {
    const blk_q5_0 *a = (const blk_q5_0 *)w + i;
    *da = h2f(a->d);
    return _mm256_sub_epi8(_mm256_or_si256(nibbles32(a->qs), q5_0_high_bits(a->qh)), _mm256_set1_epi8(16));
}

/* IQ4_NL and MXFP4: the 4-bit codes turned into their levels by a byte shuffle. */
INLINE __m256i decode_iq4_nl(const void *w, int64_t i, float *da) {
    const blk_iq4_nl *a = (const blk_iq4_nl *)w + i;
    *da = h2f(a->d);
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)iq4nl_levels())),
                               nibbles32(a->qs));
}

INLINE __m256i decode_mxfp4(const void *w, int64_t i, float *da) {
    const blk_mxfp4 *a = (const blk_mxfp4 *)w + i;
    *da = mxfp4_half_scale(a->e);
    return _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)mxfp4_levels())),
                               nibbles32(a->qs));
}

/* IQ4_XS: the 4-bit indices become their levels by a byte shuffle of the 16-level table;
 * the 32 bytes of qs at 32 ib2 hold sub-blocks 2 ib2 (low 128-bit lane) and 2 ib2 + 1 (high
 * lane), elements j in the low nibbles and j + 16 in the high ones: two lane permutes give
 * each sub-block's 32 levels in element order, to meet its 32 activation bytes. */
INLINE void iq4_xs_cols(int64_t n, const void *w, const void *x, size_t xs, float *out, const int NC) {
    const blk_iq4_xs *a = w;
    const __m256i levels = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)iq4nl_levels()));
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    __m256 acc[AK_DOTN_MAX];
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QKK; i++) {
        __m256i sumi[AK_DOTN_MAX];
        for (int c = 0; c < NC; c++) sumi[c] = _mm256_setzero_si256();
        for (int ib2 = 0; ib2 < 4; ib2++) {
            __m256i qb = _mm256_loadu_si256((const __m256i *)(a[i].qs + 32 * ib2));
            __m256i lo = _mm256_shuffle_epi8(levels, _mm256_and_si256(qb, low4));
            __m256i hi = _mm256_shuffle_epi8(levels, _mm256_and_si256(_mm256_srli_epi16(qb, 4), low4));
            __m256i qa = _mm256_permute2x128_si256(lo, hi, 0x20), qc = _mm256_permute2x128_si256(lo, hi, 0x31);
            __m256i abs_a = _mm256_sign_epi8(qa, qa), abs_c = _mm256_sign_epi8(qc, qc);
            __m256i sa = _mm256_set1_epi32(iq4_xs_scale(&a[i], 2 * ib2));
            __m256i sc = _mm256_set1_epi32(iq4_xs_scale(&a[i], 2 * ib2 + 1));
            for (int c = 0; c < NC; c++) {
                const int8_t *y = XCOL(blk_q8_k, x, xs, c)[i].qs + 64 * ib2;
                __m256i pa = mul_sum_signed(abs_a, qa, _mm256_loadu_si256((const __m256i *)y));
                __m256i pc = mul_sum_signed(abs_c, qc, _mm256_loadu_si256((const __m256i *)(y + 32)));
                sumi[c] = _mm256_add_epi32(sumi[c], _mm256_add_epi32(_mm256_mullo_epi32(pa, sa),
                                                                      _mm256_mullo_epi32(pc, sc)));
            }
        }
        float d = h2f(a[i].d);
        for (int c = 0; c < NC; c++) {
            const blk_q8_k *b = XCOL(blk_q8_k, x, xs, c) + i;
            acc[c] = _mm256_fmadd_ps(_mm256_set1_ps(d * b->d), _mm256_cvtepi32_ps(sumi[c]), acc[c]);
        }
    }
    for (int c = 0; c < NC; c++) out[c] = hsum8(acc[c]);
}

/* MAXNC: the widest instantiation worth having (more accumulators than registers spill);
 * wider requests run as several calls. */
#define DEFINE_COLS(NAME, BODY, MAXNC)                                                             \
    static float NAME(int64_t n, const void *w, const void *x) {                                   \
        float r;                                                                                   \
        BODY(n, w, x, 0, &r, 1);                                                                   \
        return r;                                                                                  \
    }                                                                                              \
    static void NAME##_xn(int64_t n, const void *w, const void *x, size_t xs, float *out, int nc) { \
        for (; nc > 0; nc -= MAXNC, out += MAXNC, x = (const uint8_t *)x + MAXNC * xs) {           \
            switch (nc < MAXNC ? nc : MAXNC) {                                                     \
            case 8: BODY(n, w, x, xs, out, 8); break;                                              \
            case 7: BODY(n, w, x, xs, out, 7); break;                                              \
            case 6: BODY(n, w, x, xs, out, 6); break;                                              \
            case 5: BODY(n, w, x, xs, out, 5); break;                                              \
            case 4: BODY(n, w, x, xs, out, 4); break;                                              \
            case 3: BODY(n, w, x, xs, out, 3); break;                                              \
            case 2: BODY(n, w, x, xs, out, 2); break;                                              \
            default: BODY(n, w, x, xs, out, 1); break;                                             \
            }                                                                                      \
        }                                                                                          \
    }

_Static_assert(AK_DOTN_MAX == 8, "DEFINE_COLS instantiates NC = 1..8");

/* The 32-value types with widened activation scales (blk32_cols with yd), NC = 1..8. */
#define DEFINE_SCALED(NAME, DECODE)                                                                \
    static void NAME(int64_t n, const void *w, const void *x, size_t xs, const float *yd, float *out, int nc) { \
        switch (nc) {                                                                              \
        case 8: blk32_cols(n, w, x, xs, yd, out, 8, DECODE); break;                         \
        case 7: blk32_cols(n, w, x, xs, yd, out, 7, DECODE); break;                         \
        case 6: blk32_cols(n, w, x, xs, yd, out, 6, DECODE); break;                         \
        case 5: blk32_cols(n, w, x, xs, yd, out, 5, DECODE); break;                         \
        case 4: blk32_cols(n, w, x, xs, yd, out, 4, DECODE); break;                         \
        case 3: blk32_cols(n, w, x, xs, yd, out, 3, DECODE); break;                         \
        case 2: blk32_cols(n, w, x, xs, yd, out, 2, DECODE); break;                         \
        default: blk32_cols(n, w, x, xs, yd, out, 1, DECODE); break;                        \
        }                                                                                          \
    }

#define Q4_K_BODY(n, w, x, xs, out, NC) k4_cols(n, w, x, xs, out, NC, 0)
#define Q5_K_BODY(n, w, x, xs, out, NC) k4_cols(n, w, x, xs, out, NC, 1)
#define Q8_0_BODY(n, w, x, xs, out, NC) blk32_cols(n, w, x, xs, NULL, out, NC, decode_q8_0)
#define Q4_0_BODY(n, w, x, xs, out, NC) blk32_cols(n, w, x, xs, NULL, out, NC, decode_q4_0)
#define Q5_0_BODY(n, w, x, xs, out, NC) blk32_cols(n, w, x, xs, NULL, out, NC, decode_q5_0)
#define IQ4_NL_BODY(n, w, x, xs, out, NC) blk32_cols(n, w, x, xs, NULL, out, NC, decode_iq4_nl)
#define MXFP4_BODY(n, w, x, xs, out, NC) blk32_cols(n, w, x, xs, NULL, out, NC, decode_mxfp4)
DEFINE_COLS(dot_q8_0, Q8_0_BODY, 8)
DEFINE_COLS(dot_q4_0, Q4_0_BODY, 8)
DEFINE_COLS(dot_q4_k, Q4_K_BODY, 4)
DEFINE_COLS(dot_q5_k, Q5_K_BODY, 4)
DEFINE_COLS(dot_q6_k, q6_k_cols, 4)
DEFINE_COLS(dot_iq4_xs, iq4_xs_cols, 4)
DEFINE_COLS(dot_mxfp4, MXFP4_BODY, 8)
DEFINE_COLS(dot_q5_0, Q5_0_BODY, 8)
DEFINE_COLS(dot_iq4_nl, IQ4_NL_BODY, 8)
DEFINE_COLS(dot_q2_k, q2_k_cols, 4)
DEFINE_COLS(dot_q3_k, q3_k_cols, 4)
DEFINE_SCALED(dot_q8_0_xns, decode_q8_0)
DEFINE_SCALED(dot_q4_0_xns, decode_q4_0)
DEFINE_SCALED(dot_q5_0_xns, decode_q5_0)
DEFINE_SCALED(dot_iq4_nl_xns, decode_iq4_nl)
DEFINE_SCALED(dot_mxfp4_xns, decode_mxfp4)

/* ---- activation encoding (quantize.c's quant_q8_k and quant_q8_0_act) in vectors, the
 * same bytes: every step is exact or rounds as the scalar code does (cvtps rounds to
 * nearest even like nearbyintf; |scale * x| <= 127 rounds to at most 127, so nothing
 * clamps). A block with a NaN or an infinity returns -1 and is left to the scalar code. */

/* the largest |x| of 8n floats, or -1 when one is not finite */
INLINE float absmax_finite(const float *x, int n8) {
    const __m256 sign = _mm256_set1_ps(-0.0f), big = _mm256_set1_ps(3.40282347e38f);
    __m256 m = _mm256_setzero_ps(), bad = _mm256_setzero_ps();
    for (int j = 0; j < n8; j++) {
        __m256 a = _mm256_andnot_ps(sign, _mm256_loadu_ps(x + 8 * j));
        bad = _mm256_or_ps(bad, _mm256_cmp_ps(a, big, _CMP_NLE_UQ));
        m = _mm256_max_ps(m, a);
    }
    if (_mm256_movemask_ps(bad)) return -1.0f;
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* 32 floats times s, rounded, as 32 int8 in order; sums of each 16 into sum16[0..1] */
INLINE __m256i round_pack32(const float *x, __m256 s, int *sum16) {
    __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(s, _mm256_loadu_ps(x)));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(s, _mm256_loadu_ps(x + 8)));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(s, _mm256_loadu_ps(x + 16)));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(s, _mm256_loadu_ps(x + 24)));
    if (sum16) {
        __m256i a = _mm256_add_epi32(i0, i1), c = _mm256_add_epi32(i2, i3);
        __m128i a4 = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
        __m128i c4 = _mm_add_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
        __m128i t = _mm_hadd_epi32(_mm_hadd_epi32(a4, c4), _mm_setzero_si128());
        sum16[0] = _mm_cvtsi128_si32(t), sum16[1] = _mm_extract_epi32(t, 1);
    }
    __m256i q = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    return _mm256_permutevar8x32_epi32(q, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static int encode_q8_k_block(const float *x, void *dst) {
    blk_q8_k *b = dst;
    const float amax = absmax_finite(x, QKK / 8);
    if (amax < 0.0f) return -1;
    if (amax == 0.0f) {
        memset(b, 0, sizeof *b);
        return 0;
    }
    float max = 0.0f; /* the first value of largest magnitude, with its sign */
    for (int j = 0; j < QKK / 8; j++) {
        __m256 v = _mm256_loadu_ps(x + 8 * j);
        int m = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), v), _mm256_set1_ps(amax), _CMP_EQ_OQ));
        if (m) {
            max = x[8 * j + __builtin_ctz((unsigned)m)];
            break;
        }
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < QKK / 32; j++) {
        int sums[2];
        _mm256_storeu_si256((__m256i *)(b->qs + 32 * j), round_pack32(x + 32 * j, _mm256_set1_ps(iscale), sums));
        b->bsums[2 * j] = (int16_t)sums[0], b->bsums[2 * j + 1] = (int16_t)sums[1];
    }
    b->d = 1 / iscale;
    return 0;
}

static int encode_q8_0_block(const float *x, void *dst) {
    blk_q8_0 *b = dst;
    const float amax = absmax_finite(x, QK32 / 8);
    if (amax < 0.0f) return -1;
    b->d = ak_f32_to_f16(amax / 127.f);
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    _mm256_storeu_si256((__m256i *)b->qs, round_pack32(x, _mm256_set1_ps(id), NULL));
    return 0;
}

const ak_encode_block_fn KERNEL_SET(ak_encode_q8_k) = encode_q8_k_block;
const ak_encode_block_fn KERNEL_SET(ak_encode_q8_0) = encode_q8_0_block;

int KERNEL_SET(ak_dot_available)(void) { return 1; }

/* f16 -> f32 for a row (the KV cache's f16 V rows): F16C converts exactly, so the result
 * equals the scalar half_to_f32 bit for bit (tests/quant/test_quant_convert.c). */
static void f16_row(const uint16_t *h, float *dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_f16x8(h + i));
    for (; i < n; i++) dst[i] = ak_f16_to_f32(h[i]);
}
const ak_f16_row_fn KERNEL_SET(ak_f16_row) = f16_row;

/* f32 -> f16 for a row (the KV cache's rows as they are written, f16 weights): vcvtps2ph
 * rounds to nearest even like ak_f32_to_f16 (tests/quant/test_quant_convert.c compares
 * them on every float exponent, ties, subnormals, overflow, inf and NaN). */
static void f16_pack(const float *x, uint16_t *h, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(h + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) h[i] = ak_f32_to_f16(x[i]);
}
const ak_f16_pack_fn KERNEL_SET(ak_f16_pack) = f16_pack;

const ak_dot_fn KERNEL_SET(ak_dot)[AK_TYPE_COUNT] = {
    [AK_TYPE_F32] = dot_f32,   [AK_TYPE_F16] = dot_f16,   [AK_TYPE_BF16] = dot_bf16,
    [AK_TYPE_Q4_0] = dot_q4_0, [AK_TYPE_Q8_0] = dot_q8_0, [AK_TYPE_Q4_K] = dot_q4_k,
    [AK_TYPE_Q5_K] = dot_q5_k, [AK_TYPE_Q6_K] = dot_q6_k, [AK_TYPE_IQ4_XS] = dot_iq4_xs,
    [AK_TYPE_MXFP4] = dot_mxfp4, [AK_TYPE_Q2_K] = dot_q2_k, [AK_TYPE_Q3_K] = dot_q3_k,
    [AK_TYPE_Q5_0] = dot_q5_0, [AK_TYPE_IQ4_NL] = dot_iq4_nl,
};

const ak_dotn_fn KERNEL_SET(ak_dotn)[AK_TYPE_COUNT] = {
    [AK_TYPE_Q4_0] = dot_q4_0_xn, [AK_TYPE_Q8_0] = dot_q8_0_xn, [AK_TYPE_Q4_K] = dot_q4_k_xn,
    [AK_TYPE_Q5_K] = dot_q5_k_xn, [AK_TYPE_Q6_K] = dot_q6_k_xn, [AK_TYPE_IQ4_XS] = dot_iq4_xs_xn,
    [AK_TYPE_MXFP4] = dot_mxfp4_xn, [AK_TYPE_Q2_K] = dot_q2_k_xn, [AK_TYPE_Q3_K] = dot_q3_k_xn,
    [AK_TYPE_Q5_0] = dot_q5_0_xn, [AK_TYPE_IQ4_NL] = dot_iq4_nl_xn,
};

const ak_dotn_scaled_fn KERNEL_SET(ak_dotn_scaled)[AK_TYPE_COUNT] = {
    [AK_TYPE_Q8_0] = dot_q8_0_xns,     [AK_TYPE_Q4_0] = dot_q4_0_xns,   [AK_TYPE_Q5_0] = dot_q5_0_xns,
    [AK_TYPE_IQ4_NL] = dot_iq4_nl_xns, [AK_TYPE_MXFP4] = dot_mxfp4_xns,
};

/* ---- MXFP4 in the x8 layout (repack.c): 8 rows at once, one row per 32-bit lane */

/* acc + 8 sums of 4 products of unsigned bytes u and signed bytes y (no int16 pair can
 * saturate: u <= 24, so maddubs and vpdpbusd give the same sums) */
#ifdef AK_DOT_VNNI
#define DPBUSD(acc, u, y) _mm256_dpbusd_epi32(acc, u, y)
#else
#define DPBUSD(acc, u, y) _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, y), _mm256_set1_epi16(1)))
#endif

/* the 8 rows' half E8M0 scales, as mxfp4_half_scale computes each */
INLINE __m256 mxfp4_half_scales8(const uint8_t *e) {
    __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)e));
    __m256i normal = _mm256_slli_epi32(_mm256_sub_epi32(v, _mm256_set1_epi32(1)), 23);
    __m256i subnormal = _mm256_sllv_epi32(_mm256_set1_epi32(0x00200000), v);
    __m256i below2 = _mm256_cmpgt_epi32(_mm256_set1_epi32(2), v);
    return _mm256_castsi256_ps(_mm256_blendv_epi8(normal, subnormal, below2));
}

INLINE __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

INLINE void mxfp4_x8_cols(int64_t nb, const uint8_t *grp, const uint8_t *x, size_t xs, const ak_x8_prep *prep,
                          float *out, size_t os, const int NC) {
    const __m256i levels = _mm256_add_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)mxfp4_levels())),
                                           _mm256_set1_epi8(AK_X8_MXFP4_OFFSET));
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    __m256 acc[AK_DOTN_MAX];
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *b = grp + (size_t)i * AK_X8_ROWS * sizeof(blk_mxfp4);
        const __m256 ws = mxfp4_half_scales8(b);
        __m256i u[8];
        for (int k = 0; k < 4; k++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(b + AK_X8_ROWS + 32 * k));
            u[2 * k] = _mm256_shuffle_epi8(levels, _mm256_and_si256(v, low4));
            u[2 * k + 1] = _mm256_shuffle_epi8(levels, _mm256_and_si256(_mm256_srli_epi16(v, 4), low4));
        }
        for (int c = 0; c < NC; c++) {
            const int8_t *y = XCOL(blk_q8_0, x, xs, c)[i].qs;
            __m256i s = _mm256_setzero_si256();
            for (int k = 0; k < 4; k++) {
                s = DPBUSD(s, u[2 * k], bcast4(y + 4 * k));
                s = DPBUSD(s, u[2 * k + 1], bcast4(y + 16 + 4 * k));
            }
            s = _mm256_sub_epi32(s, _mm256_set1_epi32(prep->ysum_off[c][i]));
            const __m256 d = _mm256_mul_ps(ws, _mm256_set1_ps(prep->yd[c][i]));
            acc[c] = _mm256_add_ps(acc[c], _mm256_mul_ps(_mm256_cvtepi32_ps(s), d));
        }
    }
    for (int c = 0; c < NC; c++) _mm256_storeu_ps(out + (size_t)c * os, acc[c]);
}

/* Q4_K and Q5_K in the x8 layout (repack.c): words 1..3 of each row's block are its packed 6-bit
 * scales and mins (k4_scale_min), decoded for the 8 rows at once; nibbles are unsigned,
 * so vpdpbusd takes them directly (maddubs pairs stay below 2 x 31 x 127); Q5_K's words
 * 4..11 are qh, whose bits become the 5th bit of each code. Per row, as
 * dot_scalar.c's dot_k4: sumi = sum_s sc_s x (sub-block s's sum), summ = sum_s m_s x
 * (its activation sum), block value d yd sumi - dmin yd summ, accumulated in block order. */
INLINE __m256i k4_x8_scale(__m256i lo_word, __m256i hi_word, int s) { /* sc_s (or m_s) of 8 rows */
    const __m256i m6 = _mm256_set1_epi32(63), m4 = _mm256_set1_epi32(0x0F), top2 = _mm256_set1_epi32(0x30);
    if (s < 4) return _mm256_and_si256(_mm256_srli_epi32(lo_word, 8 * s), m6);
    const int t = s - 4;
    return _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(hi_word, 8 * t), m4),
                           _mm256_and_si256(_mm256_srli_epi32(lo_word, 8 * t + 2), top2));
}

INLINE void k4_x8_cols(int64_t nb, const uint8_t *grp, const uint8_t *x, size_t xs, const ak_x8_prep *prep,
                       float *out, size_t os, const int NC, const int HAS_QH) {
    const size_t bb = HAS_QH ? sizeof(blk_q5_k) : sizeof(blk_q4_k), qs_at = HAS_QH ? 384 : 128;
    const __m256i one = _mm256_set1_epi8(1);
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i lo16 = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, -1, -1, -1, -1, -1, -1, -1, -1, 0, 1, 4, 5, 8, 9,
                                          12, 13, -1, -1, -1, -1, -1, -1, -1, -1);
    __m256 acc[AK_DOTN_MAX];
    for (int c = 0; c < NC; c++) acc[c] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *b = grp + (size_t)i * AK_X8_ROWS * bb;
        const __m256i w0 = _mm256_loadu_si256((const __m256i *)b);
        const __m256i sc_w = _mm256_loadu_si256((const __m256i *)(b + 32));  /* scales bytes 0-3 */
        const __m256i m_w = _mm256_loadu_si256((const __m256i *)(b + 64));   /* bytes 4-7 */
        const __m256i hi_w = _mm256_loadu_si256((const __m256i *)(b + 96));  /* bytes 8-11 */
        /* d (low half of word 0) and dmin (high half) of the 8 rows as floats */
        const __m256i dd = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(w0, lo16), _MM_SHUFFLE(3, 1, 2, 0));
        const __m256i mm = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(_mm256_srli_epi32(w0, 16), lo16),
                                                    _MM_SHUFFLE(3, 1, 2, 0));
        const __m256 d = _mm256_cvtph_ps(_mm256_castsi256_si128(dd)), dmin = _mm256_cvtph_ps(_mm256_castsi256_si128(mm));
        __m256i sumi[AK_DOTN_MAX], summ[AK_DOTN_MAX];
        for (int c = 0; c < NC; c++) sumi[c] = summ[c] = _mm256_setzero_si256();
        for (int ch = 0; ch < 4; ch++) {
            __m256i lo_sum[AK_DOTN_MAX], hi_sum[AK_DOTN_MAX];
            for (int c = 0; c < NC; c++) lo_sum[c] = hi_sum[c] = _mm256_setzero_si256();
            for (int k = 0; k < 8; k++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(b + qs_at + 32 * (8 * ch + k)));
                __m256i lo = _mm256_and_si256(v, low4), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
                if (HAS_QH) { /* Q5_K: bit 2ch (2ch + 1) of qh[l] is the 5th bit of sub-block 2ch's (2ch + 1's) element l */
                    const __m256i h = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * k));
                    lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2 * ch), one), 4));
                    hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(h, 2 * ch + 1), one), 4));
                }
                for (int c = 0; c < NC; c++) {
                    const int8_t *y = XCOL(blk_q8_k, x, xs, c)[i].qs + 64 * ch + 4 * k;
                    lo_sum[c] = DPBUSD(lo_sum[c], lo, bcast4(y));
                    hi_sum[c] = DPBUSD(hi_sum[c], hi, bcast4(y + 32));
                }
            }
            const __m256i sc_lo = k4_x8_scale(sc_w, hi_w, 2 * ch), sc_hi = k4_x8_scale(sc_w, hi_w, 2 * ch + 1);
            for (int c = 0; c < NC; c++)
                sumi[c] = _mm256_add_epi32(sumi[c], _mm256_add_epi32(_mm256_mullo_epi32(sc_lo, lo_sum[c]),
                                                                     _mm256_mullo_epi32(sc_hi, hi_sum[c])));
        }
        for (int sb = 0; sb < 8; sb += 2) {
            /* mins: bytes 4-7 (m_w) hold m0-3 in their low 6 bits; m4-7 as the scales' rule on
             * the high nibbles of bytes 8-11 and the top bits of bytes 4-7. Two sub-blocks'
             * mins as an int16 pair per row meet two activation sums (one 32-bit load of
             * ysum16) in one madd: m <= 63 and |sum| <= 4096, so the int32 result is exact. */
            __m256i mp[2];
            for (int h = 0; h < 2; h++) {
                const int s = sb + h;
                mp[h] = s < 4 ? k4_x8_scale(m_w, hi_w, s)
                              : _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(hi_w, 8 * (s - 4) + 4),
                                                                 _mm256_set1_epi32(0x0F)),
                                                _mm256_and_si256(_mm256_srli_epi32(m_w, 8 * (s - 4) + 2),
                                                                 _mm256_set1_epi32(0x30)));
            }
            const __m256i m2 = _mm256_or_si256(mp[0], _mm256_slli_epi32(mp[1], 16));
            for (int c = 0; c < NC; c++) {
                int32_t pair;
                memcpy(&pair, &prep->ysum16[c][8 * i + sb], sizeof pair);
                summ[c] = _mm256_add_epi32(summ[c], _mm256_madd_epi16(m2, _mm256_set1_epi32(pair)));
            }
        }
        for (int c = 0; c < NC; c++) {
            const __m256 yd = _mm256_set1_ps(prep->yd[c][i]);
            const __m256 t1 = _mm256_mul_ps(_mm256_mul_ps(d, yd), _mm256_cvtepi32_ps(sumi[c]));
            const __m256 t2 = _mm256_mul_ps(_mm256_mul_ps(dmin, yd), _mm256_cvtepi32_ps(summ[c]));
            acc[c] = _mm256_add_ps(acc[c], _mm256_sub_ps(t1, t2));
        }
    }
    for (int c = 0; c < NC; c++) _mm256_storeu_ps(out + (size_t)c * os, acc[c]);
}

#define DEFINE_X8(NAME, COLS)                                                                              \
    static void NAME(int64_t nb, const uint8_t *grp, const uint8_t *x, size_t xs, const ak_x8_prep *prep, \
                     float *out, size_t os, int nc) {                                                      \
        switch (nc) {                                                                                      \
        case 8: COLS(nb, grp, x, xs, prep, out, os, 8); break;                                             \
        case 7: COLS(nb, grp, x, xs, prep, out, os, 7); break;                                             \
        case 6: COLS(nb, grp, x, xs, prep, out, os, 6); break;                                             \
        case 5: COLS(nb, grp, x, xs, prep, out, os, 5); break;                                             \
        case 4: COLS(nb, grp, x, xs, prep, out, os, 4); break;                                             \
        case 3: COLS(nb, grp, x, xs, prep, out, os, 3); break;                                             \
        case 2: COLS(nb, grp, x, xs, prep, out, os, 2); break;                                             \
        default: COLS(nb, grp, x, xs, prep, out, os, 1); break;                                            \
        }                                                                                                  \
    }
DEFINE_X8(x8_mxfp4, mxfp4_x8_cols)
#define Q4_K_X8(nb, grp, x, xs, prep, out, os, NC) k4_x8_cols(nb, grp, x, xs, prep, out, os, NC, 0)
#define Q5_K_X8(nb, grp, x, xs, prep, out, os, NC) k4_x8_cols(nb, grp, x, xs, prep, out, os, NC, 1)
DEFINE_X8(x8_q4_k, Q4_K_X8)
DEFINE_X8(x8_q5_k, Q5_K_X8)
const ak_x8_fn KERNEL_SET(ak_x8)[AK_TYPE_COUNT] = {[AK_TYPE_MXFP4] = x8_mxfp4, [AK_TYPE_Q4_K] = x8_q4_k,
                                                     [AK_TYPE_Q5_K] = x8_q5_k};

#else /* built without the flags (another architecture or compiler): scalar only */

int KERNEL_SET(ak_dot_available)(void) { return 0; }
const ak_f16_row_fn KERNEL_SET(ak_f16_row) = NULL;
const ak_f16_pack_fn KERNEL_SET(ak_f16_pack) = NULL;
const ak_dot_fn KERNEL_SET(ak_dot)[AK_TYPE_COUNT] = {0};
const ak_dotn_fn KERNEL_SET(ak_dotn)[AK_TYPE_COUNT] = {0};
const ak_dotn_scaled_fn KERNEL_SET(ak_dotn_scaled)[AK_TYPE_COUNT] = {0};
const ak_widen_scales_fn KERNEL_SET(ak_widen_q8_0_scales) = NULL;
const ak_x8_fn KERNEL_SET(ak_x8)[AK_TYPE_COUNT] = {0};
const ak_encode_block_fn KERNEL_SET(ak_encode_q8_k) = NULL;
const ak_encode_block_fn KERNEL_SET(ak_encode_q8_0) = NULL;

#endif
