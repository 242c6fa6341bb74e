/* dot_avx2.c - AVX2/FMA/F16C dot kernels; only this file is built with those flags and its
 * functions run only after cpu.c has checked the CPU (the scalar file is the reference). */
#include "quant/kernels.h"

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
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

/* 8 int32 sums of 4 products each, for signed bytes a and b (maddubs needs one unsigned
 * operand: move a's sign onto b). */
static __m256i mul_sum_i8(__m256i a, __m256i b) {
    __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

static float dot_q8_0(int64_t n, const void *w, const void *x) {
    const blk_q8_0 *a = w, *b = x;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK32; i++) {
        __m256i qa = _mm256_loadu_si256((const __m256i *)a[i].qs);
        __m256i qb = _mm256_loadu_si256((const __m256i *)b[i].qs);
        __m256 d = _mm256_set1_ps(h2f(a[i].d) * h2f(b[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(mul_sum_i8(qa, qb)), acc);
    }
    return hsum8(acc);
}

static float dot_q4_0(int64_t n, const void *w, const void *x) {
    const blk_q4_0 *a = w;
    const blk_q8_0 *b = x;
    const __m256i low4 = _mm256_set1_epi8(0x0F), eight = _mm256_set1_epi8(8);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK32; i++) {
        __m128i packed = _mm_loadu_si128((const __m128i *)a[i].qs);
        /* low nibbles are elements 0..15, high nibbles 16..31 */
        __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(packed, 4), packed), low4);
        q = _mm256_sub_epi8(q, eight);
        __m256i qb = _mm256_loadu_si256((const __m256i *)b[i].qs);
        __m256 d = _mm256_set1_ps(h2f(a[i].d) * h2f(b[i].d));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(mul_sum_i8(q, qb)), acc);
    }
    return hsum8(acc);
}

/* Q4_K/Q5_K: sum over sub-blocks of sc * sum(q*y) in int32 lanes (q unsigned, so maddubs
 * applies directly); the min term uses the activation's bsums. qh is NULL for Q4_K. */
static void k4_block(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh, const blk_q8_k *b,
                     __m256i *sumi, int *summ) {
    const __m256i low4 = _mm256_set1_epi8(0x0F), sixteen = _mm256_set1_epi8(16);
    __m256i hbits = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    int mins = 0;
    for (int c = 0; c < 4; c++) {
        uint8_t sc0, m0, sc1, m1;
        k4_scale_min(2 * c, scales, &sc0, &m0);
        k4_scale_min(2 * c + 1, scales, &sc1, &m1);
        mins += m0 * (b->bsums[4 * c] + b->bsums[4 * c + 1]) + m1 * (b->bsums[4 * c + 2] + b->bsums[4 * c + 3]);
        __m256i packed = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        __m256i lo = _mm256_and_si256(packed, low4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low4);
        if (qh) {
            __m256i bit_lo = _mm256_set1_epi8((char)(1 << (2 * c))), bit_hi = _mm256_set1_epi8((char)(2 << (2 * c)));
            lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, bit_lo), bit_lo), sixteen));
            hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hbits, bit_hi), bit_hi), sixteen));
        }
        __m256i y0 = _mm256_loadu_si256((const __m256i *)(b->qs + 64 * c));
        __m256i y1 = _mm256_loadu_si256((const __m256i *)(b->qs + 64 * c + 32));
        __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, y0), _mm256_set1_epi16(sc0));
        __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, y1), _mm256_set1_epi16(sc1));
        *sumi = _mm256_add_epi32(*sumi, _mm256_add_epi32(p0, p1));
    }
    *summ = mins;
}

static float dot_q4_k(int64_t n, const void *w, const void *x) {
    const blk_q4_k *a = w;
    const blk_q8_k *b = x;
    __m256 acc = _mm256_setzero_ps();
    float acc_min = 0.0f;
    for (int64_t i = 0; i < n / QKK; i++) {
        __m256i sumi = _mm256_setzero_si256();
        int summ;
        k4_block(a[i].scales, a[i].qs, NULL, &b[i], &sumi, &summ);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * b[i].d), _mm256_cvtepi32_ps(sumi), acc);
        acc_min += h2f(a[i].dmin) * b[i].d * (float)summ;
    }
    return hsum8(acc) - acc_min;
}

static float dot_q5_k(int64_t n, const void *w, const void *x) {
    const blk_q5_k *a = w;
    const blk_q8_k *b = x;
    __m256 acc = _mm256_setzero_ps();
    float acc_min = 0.0f;
    for (int64_t i = 0; i < n / QKK; i++) {
        __m256i sumi = _mm256_setzero_si256();
        int summ;
        k4_block(a[i].scales, a[i].qs, a[i].qh, &b[i], &sumi, &summ);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * b[i].d), _mm256_cvtepi32_ps(sumi), acc);
        acc_min += h2f(a[i].dmin) * b[i].d * (float)summ;
    }
    return hsum8(acc) - acc_min;
}

/* Q6_K: q in 0..63 stored, value q-32. sum((q-32)*y) = maddubs(q,y) - maddubs(32,y) per pair
 * (both fit int16); each 32-lane vector spans two 16-element sub-blocks (two scales). */
static float dot_q6_k(int64_t n, const void *w, const void *x) {
    const blk_q6_k *a = w;
    const blk_q8_k *b = x;
    const __m256i low4 = _mm256_set1_epi8(0x0F), two = _mm256_set1_epi8(3), m32 = _mm256_set1_epi8(32);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QKK; i++) {
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = a[i].ql + 64 * h;
            const int8_t *sc = a[i].scales + 8 * h, *y = b[i].qs + 128 * h;
            __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            __m256i hb = _mm256_loadu_si256((const __m256i *)(a[i].qh + 32 * h));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_slli_epi16(_mm256_and_si256(hb, two), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, low4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), two), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), two), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), two), 4));
            for (int k = 0; k < 4; k++) {
                __m256i yk = _mm256_loadu_si256((const __m256i *)(y + 32 * k));
                __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q[k], yk), _mm256_maddubs_epi16(m32, yk));
                __m256i s = _mm256_set_m128i(_mm_set1_epi16(sc[2 * k + 1]), _mm_set1_epi16(sc[2 * k]));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, s));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * b[i].d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(acc);
}

int ak_dot_avx2_available(void) { return 1; }

const ak_dot_fn ak_dot_avx2[AK_TYPE_COUNT] = {
    [AK_TYPE_F32] = dot_f32,   [AK_TYPE_F16] = dot_f16,   [AK_TYPE_BF16] = dot_bf16,
    [AK_TYPE_Q4_0] = dot_q4_0, [AK_TYPE_Q8_0] = dot_q8_0, [AK_TYPE_Q4_K] = dot_q4_k,
    [AK_TYPE_Q5_K] = dot_q5_k, [AK_TYPE_Q6_K] = dot_q6_k,
};

#else /* built without the AVX2 flags (another architecture): scalar only */

int ak_dot_avx2_available(void) { return 0; }
const ak_dot_fn ak_dot_avx2[AK_TYPE_COUNT] = {0};

#endif
