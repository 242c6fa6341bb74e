/* Dequantisation of hand-built blocks (bytes laid out by hand from the ggml block layouts)
 * and quantise -> dequantise checks with hand-computed codes and error bounds. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../check.h"
#include "quant/quant.h"

static void put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v & 0xFF); p[1] = (uint8_t)(v >> 8); }

static void test_q4_0(void) {
    uint8_t b[18]; /* d (f16) | 16 bytes: low nibble = element j, high nibble = element j+16 */
    put_u16(b, 0x3800); /* 0.5 */
    for (int j = 0; j < 16; j++) b[2 + j] = (uint8_t)(j | (15 - j) << 4);
    float y[32];
    ak_dequantize_row(AK_TYPE_Q4_0, b, y, 32);
    CHECK(y[0] == -4.0f && y[8] == 0.0f && y[15] == 3.5f);
    CHECK(y[16] == 3.5f && y[31] == -4.0f);
    for (int j = 0; j < 16; j++) CHECK(y[j] == 0.5f * (j - 8) && y[j + 16] == 0.5f * (7 - j));
}

static void test_q8_0(void) {
    uint8_t b[2 * 34];
    put_u16(b, 0x3400); /* 0.25 */
    put_u16(b + 34, 0xC000); /* -2 */
    for (int j = 0; j < 32; j++) {
        b[2 + j] = (uint8_t)(int8_t)(j - 16);
        b[36 + j] = (uint8_t)(int8_t)(j == 0 ? -128 : 127 - j);
    }
    float y[64];
    ak_dequantize_row(AK_TYPE_Q8_0, b, y, 64);
    CHECK(y[0] == -4.0f && y[16] == 0.0f && y[31] == 3.75f);
    CHECK(y[32] == 256.0f && y[33] == -252.0f && y[63] == -192.0f);
}

/* Q4_K/Q5_K 12-byte scale array for scales sc[8] and mins m[8]: bytes 0-3 hold sc0-3 in the
 * low 6 bits and bits 4-5 of sc4-7 on top; bytes 4-7 the same for the mins; bytes 8-11 hold
 * the low 4 bits of sc4-7 (low nibble) and m4-7 (high nibble). */
static const uint8_t k_sc[8] = {1, 2, 3, 4, 17, 33, 50, 63};
static const uint8_t k_m[8] = {0, 1, 5, 63, 16, 31, 47, 2};
static const uint8_t k_scales_bytes[12] = {
    0x41, /* sc0=1,  sc4=17=0b01_0001 -> bits 4-5 = 01 */
    0x82, /* sc1=2,  sc5=33=0b10_0001 -> 10 */
    0xC3, /* sc2=3,  sc6=50=0b11_0010 -> 11 */
    0xC4, /* sc3=4,  sc7=63=0b11_1111 -> 11 */
    0x40, /* m0=0,   m4=16=0b01_0000 -> 01 */
    0x41, /* m1=1,   m5=31=0b01_1111 -> 01 */
    0x85, /* m2=5,   m6=47=0b10_1111 -> 10 */
    0x3F, /* m3=63,  m7=2 -> 00 */
    0x01, /* sc4 low 1, m4 low 0 */
    0xF1, /* sc5 low 1, m5 low 15 */
    0xF2, /* sc6 low 2, m6 low 15 */
    0x2F, /* sc7 low 15, m7 low 2 */
};

static void test_q4_k(int with_qh) {
    uint8_t b[176];
    memset(b, 0, sizeof b);
    put_u16(b, 0x3C00);     /* d = 1 */
    put_u16(b + 2, 0x3800); /* dmin = 0.5 */
    memcpy(b + 4, k_scales_bytes, 12);
    uint8_t *qh = with_qh ? b + 16 : NULL, *qs = b + 16 + (with_qh ? 32 : 0);
    for (int i = 0; i < 128; i++) qs[i] = (uint8_t)((i % 16) | (15 - i % 16) << 4);
    if (qh)
        for (int l = 0; l < 32; l++) qh[l] = (uint8_t)(0xA5 ^ l);
    float y[256];
    ak_dequantize_row(with_qh ? AK_TYPE_Q5_K : AK_TYPE_Q4_K, b, y, 256);
    /* element 64c+l: low nibble of qs[32c+l], sub-block 2c; element 64c+32+l: high nibble,
     * sub-block 2c+1. Q5_K adds 16 when bit (sub-block index) of qh[l] is set. */
    int bad = 0;
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++)
            for (int hi = 0; hi < 2; hi++) {
                int s = 2 * c + hi, i = 32 * c + l;
                int q = hi ? 15 - i % 16 : i % 16;
                if (qh && ((0xA5 ^ l) >> s & 1)) q += 16;
                float want = 1.0f * k_sc[s] * q - 0.5f * k_m[s];
                if (y[64 * c + 32 * hi + l] != want) bad++;
            }
    CHECK_EQ_INT(bad, 0);
    /* spot values: element 0 is sub-block 0, q=0 (+16 in q5: 0xA5 bit0 set): 1*1*q - 0 */
    CHECK(y[0] == (with_qh ? 16.0f : 0.0f));
    /* element 255: c=3, hi, l=31: qs[127]=15 | 0<<4 -> q=0 (+16 if (0xA5^31)=0xBA bit7 set) ; sc7=63, m7=2 */
    CHECK(y[255] == (with_qh ? 63.0f * 16 - 1.0f : -1.0f));
    /* element 200: c=3, l=8, low nibble of qs[104] = 8, sub-block 6: 50*8 - 0.5*47; q5: bit 6
     * of qh[8] = 0xA5^8 = 0xAD is clear */
    CHECK(y[200] == 50.0f * 8 - 23.5f);
}

static void test_q6_k(void) {
    uint8_t b[210]; /* ql[128] | qh[64] | scales[16] (int8) | d (f16) */
    memset(b, 0, sizeof b);
    uint8_t *ql = b, *qh = b + 128;
    int8_t *sc = (int8_t *)(b + 192);
    for (int s = 0; s < 16; s++) sc[s] = (int8_t)(s - 8);
    put_u16(b + 208, 0x3800); /* d = 0.5 */
    ql[0] = 0x21; qh[0] = 0x1B; /* elements 0, 32, 64, 96 */
    ql[64 + 33] = 0xF7; qh[32 + 1] = 0xE4; /* second half: elements 128+33, 128+1+32.., see below */
    float y[256];
    ak_dequantize_row(AK_TYPE_Q6_K, b, y, 256);
    /* element 0: low = 0x21&15 = 1, high = 0x1B&3 = 3 -> 49-32 = 17, scale sc[0] = -8 */
    CHECK(y[0] == 0.5f * -8 * 17);
    /* element 32: ql[32]=0 low 0, high (0x1B>>2)&3 = 2 -> 32-32 = 0 */
    CHECK(y[32] == 0.0f);
    /* element 64: low 0x21>>4 = 2, high (0x1B>>4)&3 = 1 -> 18-32 = -14, scale sc[4] = -4 */
    CHECK(y[64] == 0.5f * -4 * -14);
    /* element 96: low 0, high (0x1B>>6)&3 = 0 -> -32, scale sc[6] = -2 */
    CHECK(y[96] == 0.5f * -2 * -32);
    /* element 1: all zero bits -> -32, scale sc[0] */
    CHECK(y[1] == 0.5f * -8 * -32);
    /* element 17: scale index l/16 = 1 -> sc[1] = -7 */
    CHECK(y[17] == 0.5f * -7 * -32);
    /* second half (128..255): ql[64..], qh[32..], scales sc[8..].
     * element 128+32+1 = 161 uses ql[64+33] low = 7 and qh[33] bits 2-3 = (0xE4>>2)&3 = 1 -> 23-32=-9, sc[8+2]=2 */
    CHECK(y[161] == 0.5f * 2 * -9);
    /* element 128+96+1 = 225 uses ql[64+33] high = 15 and qh[33] bits 6-7 = 3 -> 63-32 = 31, sc[8+6] = 6 */
    CHECK(y[225] == 0.5f * 6 * 31);
    /* element 128+1 = 129 uses ql[65] = 0 and qh[33] bits 0-1 = 0 -> -32, sc[8] = 0 */
    CHECK(y[129] == 0.0f);
    /* element 128+64+1 = 193 uses ql[65] high = 0, qh[33] bits 4-5 = (0xE4>>4)&3 = 2 -> 0 */
    CHECK(y[193] == 0.0f);
}

static void test_q8_k_quantize(void) {
    float x[256];
    for (int j = 0; j < 256; j++) x[j] = (float)(j % 16 - 8);
    x[5] = -10.0f; /* the largest magnitude, negative: iscale = -127/-10 = 12.7 */
    uint8_t b[292];
    ak_quantize_row(AK_TYPE_Q8_K, x, b, 256);
    float d;
    memcpy(&d, b, 4);
    CHECK(d == 1.0f / (127.0f / 10.0f));
    const int8_t *qs = (const int8_t *)(b + 4);
    int16_t bsums[16];
    memcpy(bsums, b + 4 + 256, sizeof bsums);
    CHECK_EQ_INT(qs[5], -127);
    CHECK_EQ_INT(qs[0], -102);  /* -101.6 */
    CHECK_EQ_INT(qs[3], -64);   /* -63.5: tie -> even */
    CHECK_EQ_INT(qs[13], 64);   /* 63.5 -> 64 */
    CHECK_EQ_INT(qs[15], 89);   /* 88.9 */
    CHECK_EQ_INT(qs[8], 0);
    /* a 16-run sums to -102 (the other codes cancel in pairs); the first has -127 for -38 */
    CHECK_EQ_INT(bsums[0], -191);
    for (int s = 1; s < 16; s++) CHECK_EQ_INT(bsums[s], -102);
    float zero[256] = {0};
    ak_quantize_row(AK_TYPE_Q8_K, zero, b, 256);
    memcpy(&d, b, 4);
    CHECK(d == 0.0f);
}

static void test_q8_0_q4_0_quantize(void) {
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16);
    uint8_t b[34];
    ak_quantize_row(AK_TYPE_Q8_0, x, b, 32);
    CHECK_EQ_INT(b[0] | b[1] << 8, ak_f32_to_f16(16.0f / 127));
    const int8_t *q = (const int8_t *)(b + 2);
    CHECK_EQ_INT(q[0], -127);  /* -16 * 127/16 */
    CHECK_EQ_INT(q[17], 8);    /* 7.9375 */
    CHECK_EQ_INT(q[18], 16);   /* 15.875 */
    CHECK_EQ_INT(q[1], -119);  /* -119.0625 */
    CHECK_EQ_INT(q[16], 0);

    /* Q4_0: max magnitude -16 -> d = -16/-8 = 2, code = trunc(x/2 + 8.5) capped at 15 */
    uint8_t c[18];
    ak_quantize_row(AK_TYPE_Q4_0, x, c, 32);
    CHECK_EQ_INT(c[0] | c[1] << 8, 0x4000);
    CHECK_EQ_INT(c[2 + 0], 0 | 8 << 4);   /* x=-16 -> 0; x=0 -> 8 */
    CHECK_EQ_INT(c[2 + 1], 1 | 9 << 4);   /* x=-15 -> 1.0 -> 1; x=1 -> 9.0 -> 9 */
    CHECK_EQ_INT(c[2 + 15], 8 | 15 << 4); /* x=-1 -> 8.0 -> 8; x=15 -> 16.0 -> capped 15 */
}

/* Activation encoding follows llama.cpp's x86 path: q8_0 scale 127/amax, ties to even
 * (ggml's reference weight quantiser would round 2.5 away from zero instead). */
static void test_activation_encoding(void) {
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = 0.0f;
    x[0] = 127.0f; /* amax 127: d = 1, codes are x rounded */
    x[1] = 2.5f;
    x[2] = -3.5f;
    x[3] = 0.49f;
    x[4] = -126.5f;
    uint8_t b[34];
    ak_encode_activation(AK_TYPE_Q4_0, x, b, 32);
    CHECK_EQ_INT(b[0] | b[1] << 8, 0x3C00);
    const int8_t *q = (const int8_t *)(b + 2);
    CHECK_EQ_INT(q[0], 127);
    CHECK_EQ_INT(q[1], 2);    /* tie -> even */
    CHECK_EQ_INT(q[2], -4);   /* tie -> even */
    CHECK_EQ_INT(q[3], 0);
    CHECK_EQ_INT(q[4], -126); /* tie -> even */
    ak_quantize_row(AK_TYPE_Q8_0, x, b, 32); /* weights: ggml reference, roundf */
    CHECK_EQ_INT(q[1], 3);
    CHECK_EQ_INT(q[2], -4);
    CHECK_EQ_INT(q[4], -127);

    /* K-quant weights take q8_K; f16/bf16 weights take their own type, rounded to even */
    CHECK_EQ_INT(ak_encoded_row_bytes(AK_TYPE_Q4_K, 256), 292);
    float xk[256];
    for (int j = 0; j < 256; j++) xk[j] = j == 7 ? 2.0f : 0.5f;
    uint8_t bk[292];
    ak_encode_activation(AK_TYPE_Q6_K, xk, bk, 256);
    float d;
    memcpy(&d, bk, 4);
    CHECK(d == 1.0f / (-127.0f / 2.0f)); /* max is +2: iscale -63.5, d negative */
    CHECK_EQ_INT((int8_t)bk[4 + 7], -127);
    CHECK_EQ_INT((int8_t)bk[4 + 0], -32); /* 0.5 * -63.5 = -31.75 */
    int16_t bs0;
    memcpy(&bs0, bk + 4 + 256, 2);
    CHECK_EQ_INT(bs0, 15 * -32 - 127);
    float xh[3] = {1.0f + 0x1p-11f, 3.0f, -0.0f};
    uint16_t h[3];
    ak_encode_activation(AK_TYPE_F16, xh, h, 3);
    CHECK(h[0] == 0x3C00 && h[1] == 0x4200 && h[2] == 0x8000);
    ak_encode_activation(AK_TYPE_BF16, xh, h, 3);
    CHECK(h[0] == 0x3F80 && h[1] == 0x4040 && h[2] == 0x8000);
    float xf[3];
    ak_encode_activation(AK_TYPE_F32, xh, xf, 3);
    CHECK(memcmp(xf, xh, sizeof xf) == 0);
}

/* Quantise random data of three shapes (uniform, heavy-tailed with an all-zero block,
 * all positive), dequantise and compare. A "step" is the grid step the format can reach
 * for a block: (max(0,hi) - min(0,lo)) / levels over the type's block (the super-block for
 * K-quants, whose sub-block grids are at least this fine). Rounding gives at most half a
 * step; the margins above 0.5 are the fp16 scale rounding (q8_0), the one-sided clip of
 * q4_0 (+amax maps to 7 of 8 steps) and the rounded-up shared scale d of the K-quants. */
static void test_roundtrip(ak_type t, double levels, double max_steps, double max_rel_rms) {
    enum { N = 4096 };
    static float x[N], y[N];
    static uint8_t buf[N * 2];
    int bs = (int)ak_type_block_elems(t);
    for (int shape = 0; shape < 3; shape++) {
        for (int i = 0; i < N; i++) {
            float r = rnd();
            x[i] = shape == 0 ? r : shape == 1 ? r * r * r * 3 : fabsf(r) + 0.5f;
        }
        if (shape == 1)
            for (int i = 256; i < 512; i++) x[i] = 0.0f;
        ak_quantize_row(t, x, buf, N);
        ak_dequantize_row(t, buf, y, N);
        double se = 0, sx = 0, worst = 0;
        for (int i0 = 0; i0 < N; i0 += bs) {
            float lo = 0, hi = 0;
            for (int i = i0; i < i0 + bs; i++) {
                lo = fminf(lo, x[i]);
                hi = fmaxf(hi, x[i]);
            }
            double step = (hi - lo) / levels;
            for (int i = i0; i < i0 + bs; i++) {
                double e = fabs((double)x[i] - y[i]);
                se += e * e;
                sx += (double)x[i] * x[i];
                if (step > 0) worst = fmax(worst, (e - 0x1p-25) / step); /* f16 subnormal spacing */
                else CHECK(y[i] == 0.0f);
            }
        }
        double rel = sqrt(se / sx);
        if (!(rel <= max_rel_rms) || !(worst <= max_steps))
            fprintf(stderr, "%s shape %d: rel rms %.4g (max %.4g), worst %.3g steps (max %.3g)\n",
                    ak_type_name(t), shape, rel, max_rel_rms, worst, max_steps);
        CHECK(rel <= max_rel_rms);
        CHECK(worst <= max_steps);
    }
}

/* Rows with inf/nan must not trip undefined behaviour (run under UBSan in the ASan build);
 * blocks without such values must come out as usual. */
static void test_non_finite_input(void) {
    const ak_type types[] = {AK_TYPE_Q4_0, AK_TYPE_Q8_0, AK_TYPE_Q8_K, AK_TYPE_Q4_K,
                             AK_TYPE_Q5_K, AK_TYPE_Q6_K, AK_TYPE_IQ4_XS, AK_TYPE_MXFP4, AK_TYPE_Q2_K, AK_TYPE_Q3_K,
                             AK_TYPE_Q5_0, AK_TYPE_IQ4_NL};
    float x[512], y[512];
    static uint8_t b[2048];
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        for (int i = 0; i < 512; i++) x[i] = 0.25f * (float)(i % 7) - 0.5f;
        x[3] = NAN;
        x[40] = INFINITY;
        x[300] = -INFINITY;
        ak_quantize_row(types[k], x, b, 512);
        ak_dequantize_row(types[k], b, y, 512);
        for (int i = 0; i < 512; i++) x[i] = 0.25f * (float)(i % 7) - 0.5f;
        int bad = 0; /* the second 256-block of q4_0/q8_0 (elements 320..511) is clean */
        /* within half a step of q4_0's 1/8 grid; IQ4_NL's widest level gap is 23/127 of the max */
        const float tol = types[k] == AK_TYPE_IQ4_NL ? 0.5f * 23.0f / 127.0f : 0.51f * 0.125f;
        if (ak_type_block_elems(types[k]) == 32)
            for (int i = 320; i < 512; i++) bad += fabsf(y[i] - x[i]) > tol + 1e-3f;
        CHECK_EQ_INT(bad, 0);
    }
}

/* Q2_K by hand (ggml's layout, blocks.h): d = 0.5, dmin = 0.25; element e of the block sits
 * in qs[32 (e / 128) + e % 32] bits 2 ((e % 128) / 32) and is d (sc & 15) q - dmin (sc >> 4). */
static void test_q2_k(void) {
    uint8_t b[84]; /* scales[16] | qs[64] | d (f16) | dmin (f16) */
    memset(b, 0, sizeof b);
    b[0] = 2 | 1 << 4;    /* sub-block 0: sc 2, m 1 */
    b[5] = 15 | 3 << 4;   /* sub-block 5: elements 80..95 */
    b[15] = 1;            /* sub-block 15: elements 240..255 */
    uint8_t *qs = b + 16;
    qs[0] = 3;            /* element 0: q 3 */
    qs[16] = 1 << 4;      /* element 80 = 64 + 16: half 0, quarter 2 (bits 4..5), l 16: q 1 */
    qs[32 + 31] = 2 << 6; /* element 255 = 128 + 96 + 31: half 1, quarter 3, l 31: q 2 */
    put_u16(b + 80, 0x3800); /* d 0.5 */
    put_u16(b + 82, 0x3400); /* dmin 0.25 */
    float y[256];
    ak_dequantize_row(AK_TYPE_Q2_K, b, y, 256);
    CHECK(y[0] == 0.5f * 2 * 3 - 0.25f * 1);
    CHECK(y[1] == -0.25f); /* q 0 in sub-block 0 */
    CHECK(y[80] == 0.5f * 15 * 1 - 0.25f * 3);
    CHECK(y[81] == -0.75f);
    CHECK(y[255] == 0.5f * 1 * 2);
    CHECK(y[16] == 0.0f); /* sub-block 1: scale 0, min 0 */
}

/* IQ4_XS by hand (ggml's layout, blocks.h): d = 0.5, each element is d * (ls - 32) * level. */
static void test_iq4_xs(void) {
    uint8_t b[136]; /* d (f16) | scales_h (u16) | scales_l[4] | qs[128] */
    memset(b, 0, sizeof b);
    put_u16(b, 0x3800); /* d = 0.5 */
    /* ls: sub-block 0 = 33 (low 4 bits 1, high 2 bits 2), sub-block 1 = 20 (4, 1), sub-block
     * 7 = 63 (15, 3); scales_l[ib / 2] nibble ib % 2, scales_h bits 2ib..2ib+1 */
    b[4] = 0x1 | 0x4 << 4;
    b[4 + 3] = 0xF << 4;
    put_u16(b + 2, (uint16_t)(2 << 0 | 1 << 2 | 3 << 14));
    uint8_t *qs = b + 8;
    qs[0] = 0x0 | 0xF << 4;  /* element 0: level -127, element 16: level 113 */
    qs[16 + 3] = 0x8 | 0x7 << 4; /* sub-block 1, element 32 + 3: level 1; 32 + 19: level -10 */
    qs[112 + 15] = 0xB;      /* sub-block 7, element 224 + 15: level 38; 224 + 31: level -127 */
    float y[256];
    ak_dequantize_row(AK_TYPE_IQ4_XS, b, y, 256);
    CHECK(y[0] == 0.5f * 1 * -127 && y[16] == 0.5f * 1 * 113 && y[1] == 0.5f * 1 * -127);
    CHECK(y[35] == 0.5f * -12 * 1 && y[51] == 0.5f * -12 * -10);
    CHECK(y[239] == 0.5f * 31 * 38 && y[255] == 0.5f * 31 * -127);
    CHECK(y[100] == 0.5f * -32 * -127); /* sub-blocks 2..6: stored 0, i.e. -32; index 0 */
}

/* MXFP4 by hand: e = 130 -> half scale 2^2 = 4; e = 1 -> 2^-127; codes index the doubled
 * E2M1 levels (ggml's layout, blocks.h). */
static void test_mxfp4(void) {
    uint8_t b[34]; /* two blocks: e | qs[16] */
    memset(b, 0, sizeof b);
    b[0] = 130;
    b[1] = 0x7 | 0xF << 4; /* element 0: level 12, element 16: level -12 */
    b[1 + 5] = 0x9 | 0x3 << 4; /* element 5: level -1, element 21: level 3 */
    b[17] = 1;
    b[18] = 0x1; /* element 32: level 1, times 2^-127 */
    float y[64];
    ak_dequantize_row(AK_TYPE_MXFP4, b, y, 64);
    CHECK(y[0] == 48.0f && y[16] == -48.0f && y[5] == -4.0f && y[21] == 12.0f && y[1] == 0.0f);
    CHECK(y[32] == 0x1p-127f && y[48] == 0.0f);
    b[0] = 255; /* the largest exponent: 2^127, finite */
    ak_dequantize_row(AK_TYPE_MXFP4, b, y, 32);
    CHECK(y[0] == 12.0f * 0x1p127f);
}

int main(void) {
    test_non_finite_input();
    test_mxfp4();
    test_iq4_xs();
    test_q4_0();
    test_q8_0();
    test_q4_k(0);
    test_q4_k(1);
    test_q6_k();
    test_q8_k_quantize();
    test_q8_0_q4_0_quantize();
    test_activation_encoding();
    /* relative error of one element: 2^-11 (f16), 2^-8 (bf16) = half a step of |x|/1024, |x|/128 */
    test_roundtrip(AK_TYPE_F16, 1024, 0.5, 3e-4);
    test_roundtrip(AK_TYPE_BF16, 128, 0.5, 3e-3);
    /* uniform noise has rms step/sqrt(12); the rms bounds allow for that plus the margins */
    test_roundtrip(AK_TYPE_Q8_0, 127, 0.55, 0.01);
    test_roundtrip(AK_TYPE_Q8_K, 127, 0.51, 0.01);
    test_roundtrip(AK_TYPE_Q4_0, 8, 1.05, 0.12);
    test_roundtrip(AK_TYPE_Q4_K, 15, 0.55, 0.1);
    test_roundtrip(AK_TYPE_Q5_K, 31, 0.55, 0.05);
    test_roundtrip(AK_TYPE_Q6_K, 31, 0.55, 0.03);
    /* IQ4_XS levels are not evenly spaced: the widest gap (-127 to -104) is 23/127 of a
     * sub-block's largest magnitude, so half of it is 0.09 amax = 1.36 steps of amax/15 */
    test_roundtrip(AK_TYPE_IQ4_XS, 15, 1.4, 0.12);
    /* MXFP4: levels 4 and 6 (of 6) are the widest gap, 2/6 of the scaled range; with a
     * power-of-two scale the block maximum may sit at only half the top level */
    test_roundtrip(AK_TYPE_MXFP4, 7, 1.4, 0.2);
    /* Q2_K: 4 levels per sub-block of 16 on 4-bit scale and min grids rounded up: at most
     * (1 + 1/15) half-steps of the block's range / 3; uniform noise has rms 1/3 of its own */
    test_roundtrip(AK_TYPE_Q2_K, 3, 0.6, 0.4);
    /* Q3_K: levels -4..3 per sub-block, the step covering the largest positive value in 3
     * steps or the most negative in 4, so at most the block's range / 3 (+1/31 of grid) */
    test_roundtrip(AK_TYPE_Q3_K, 3, 0.55, 0.2);
    /* Q5_0: Q4_0 with twice the levels; IQ4_NL: one IQ4_XS sub-block with an f16 scale */
    test_roundtrip(AK_TYPE_Q5_0, 16, 1.05, 0.06);
    test_roundtrip(AK_TYPE_IQ4_NL, 15, 1.4, 0.12);
    test_q2_k();
    return check_finish("test_quant_blocks");
}
