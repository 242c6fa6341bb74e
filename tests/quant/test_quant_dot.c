/* Dot products: kernel vs double-precision reference, AVX2 vs scalar, matmul vs matvec. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "quant/kernels.h"
#include "quant/quant.h"

static const ak_type k_weights[] = {AK_TYPE_F32,  AK_TYPE_F16,  AK_TYPE_BF16, AK_TYPE_Q4_0,  AK_TYPE_Q8_0,
                                    AK_TYPE_Q4_K, AK_TYPE_Q5_K, AK_TYPE_Q6_K, AK_TYPE_IQ4_XS,
                                    AK_TYPE_MXFP4, AK_TYPE_Q2_K, AK_TYPE_Q3_K, AK_TYPE_Q5_0, AK_TYPE_IQ4_NL};
enum { N_WEIGHTS = sizeof k_weights / sizeof k_weights[0], MAX_N = 4096 + 256 };

static float g_w[MAX_N], g_x[MAX_N], g_wd[MAX_N], g_xd[MAX_N];
static uint8_t g_wq[MAX_N * 4], g_xq[MAX_N * 4];

static void fill(float *v, int64_t n, float scale) {
    for (int64_t i = 0; i < n; i++) v[i] = rnd() * scale;
}

/* Encodes random w (as weights) and x (as activation); fills g_wd/g_xd with their decoded values. */
static void setup(ak_type t, int64_t n) {
    fill(g_w, n, 0.5f);
    fill(g_x, n, 3.0f);
    ak_quantize_row(t, g_w, g_wq, n);
    ak_dequantize_row(t, g_wq, g_wd, n);
    ak_encode_activation(t, g_x, g_xq, n);
    ak_dequantize_row(ak_vec_dot_type(t), g_xq, g_xd, n);
}

/* 1) Against the exact dot of what was encoded: only the kernel's float rounding differs,
 *    so the error is below a few float ulps of sum|w*x| (tolerance 1e-5 of it).
 * 2) Against the float activation: the activation encoding error adds at most
 *    sum_i |w_i| * (half a step of x_i's block): amax/254 for Q8_0/Q8_K, |x|*2^-11 for F16,
 *    |x|*2^-8 for BF16; the test allows exactly that bound plus the 1e-5 term. */
static void test_reference(ak_type t, int64_t n) {
    setup(t, n);
    ak_type et = ak_vec_dot_type(t);
    int64_t eb = ak_type_block_elems(et);
    double exact = 0, mag = 0, against_float = 0, enc_bound = 0;
    for (int64_t i0 = 0; i0 < n; i0 += eb) {
        float amax = 0;
        for (int64_t i = i0; i < i0 + eb; i++) amax = fmaxf(amax, fabsf(g_x[i]));
        for (int64_t i = i0; i < i0 + eb; i++) {
            exact += (double)g_wd[i] * g_xd[i];
            mag += fabs((double)g_wd[i] * g_xd[i]);
            against_float += (double)g_wd[i] * g_x[i];
            double half_step = et == AK_TYPE_F32 ? 0 : et == AK_TYPE_F16 ? fabsf(g_x[i]) * 0x1p-11
                             : et == AK_TYPE_BF16 ? fabsf(g_x[i]) * 0x1p-8 : amax / 254.0 * 1.001;
            enc_bound += fabs(g_wd[i]) * half_step;
        }
    }
    float got = ak_vec_dot(t, n, g_wq, g_xq);
    if (fabs(got - exact) > 1e-5 * mag)
        fprintf(stderr, "%s n=%lld simd=%s: dot %.9g vs exact %.9g (mag %.3g)\n", ak_type_name(t),
                (long long)n, ak_simd_name(ak_quant_simd()), got, exact, mag);
    CHECK(fabs(got - exact) <= 1e-5 * mag);
    CHECK(fabs(got - against_float) <= enc_bound + 1e-5 * mag);
}

/* The AVX2 kernels sum in a different order; they must agree with scalar to 1e-5 of sum|w*x|
 * (relative to the terms' magnitude, as the sum itself may cancel to near zero). */
static void check_paths_agree(ak_type t, int64_t n, const void *w, const void *x, double mag, const char *what) {
    ak_quant_set_simd(AK_SIMD_SCALAR);
    float s = ak_vec_dot(t, n, w, x);
    ak_quant_set_simd(AK_SIMD_AVX2);
    float v = ak_vec_dot(t, n, w, x);
    if (fabs(s - v) > 1e-5 * mag)
        fprintf(stderr, "%s %s n=%lld: scalar %.9g avx2 %.9g\n", ak_type_name(t), what, (long long)n, s, v);
    CHECK(fabs(s - v) <= 1e-5 * mag);
}

static void test_avx2_vs_scalar(ak_type t, int64_t n) {
    setup(t, n);
    double mag = 0;
    for (int64_t i = 0; i < n; i++) mag += fabs((double)g_wd[i] * g_xd[i]);
    check_paths_agree(t, n, g_wq, g_xq, mag, "random rows");
}

/* q3_k_scales_every_bit_pattern: the AVX2 kernel decodes Q3_K's 16 packed 6-bit scales
 * all at once; blocks of random bytes (every scale and high-bit pattern, d = 1) must give
 * the scalar dot, whose q3_k_scale decodes one at a time. */
static void test_q3_k_random_bytes(void) {
    enum { NB = 64 };
    const int64_t n = NB * 256;
    const size_t rb = ak_row_bytes(AK_TYPE_Q3_K, n), bb = rb / NB;
    uint8_t *w = malloc(rb), *x = malloc(ak_encoded_row_bytes(AK_TYPE_Q3_K, n));
    float *wd = malloc(sizeof(float) * (size_t)n), *xs = malloc(sizeof(float) * (size_t)n);
    uint32_t r = 12345;
    for (size_t i = 0; i < rb; i++) w[i] = (uint8_t)((r = r * 1103515245u + 12345u) >> 16);
    for (int b = 0; b < NB; b++) w[b * bb + bb - 2] = 0x00, w[b * bb + bb - 1] = 0x3C; /* d = 1.0 (f16) */
    fill(xs, n, 1.0f);
    ak_encode_activation(AK_TYPE_Q3_K, xs, x, n);
    ak_dequantize_row(AK_TYPE_Q3_K, w, wd, n);
    double mag = 0;
    for (int64_t i = 0; i < n; i++) mag += fabs((double)wd[i] * xs[i]);
    check_paths_agree(AK_TYPE_Q3_K, n, w, x, mag, "random bytes");
    free(w), free(x), free(wd), free(xs);
}

/* ak_matmul against ak_matvec, bit for bit: 11 columns (the wide kernels' 8 or 4, then the
 * rest), 35 rows from r0 = 3 (tiles of 16 and a tail of 3), with both builds of the SIMD
 * kernels (AVX2, and AVX2 + VNNI where the CPU has it). */
static void test_matmul(ak_type t) {
    enum { ROWS = 38, COLS = 11 };
    int64_t n = 512;
    size_t rb = ak_row_bytes(t, n), xb = ak_encoded_row_bytes(t, n);
    uint8_t *W = malloc(rb * ROWS), *X = malloc(xb * COLS);
    float *Y = malloc(sizeof(float) * COLS * 40), y[ROWS];
    for (int r = 0; r < ROWS; r++) {
        fill(g_w, n, 1.0f);
        ak_quantize_row(t, g_w, W + r * rb, n);
    }
    for (int j = 0; j < COLS; j++) {
        fill(g_x, n, 1.0f);
        ak_encode_activation(t, g_x, X + j * xb, n);
    }
    for (int i = 0; i < COLS * 40; i++) Y[i] = -12345.0f;
    ak_matmul(t, W, rb, n, 3, ROWS, X, xb, COLS, Y, 40);
    int bad = 0;
    for (int j = 0; j < COLS; j++) {
        ak_matvec(t, W, rb, n, X + j * xb, y, 3, ROWS);
        for (int r = 0; r < 40; r++) {
            float want = r >= 3 && r < ROWS ? y[r] : -12345.0f; /* rows outside r0..r1 untouched */
            if (memcmp(&Y[j * 40 + r], &want, sizeof want) != 0) bad++;
        }
        CHECK(y[5] == ak_vec_dot(t, n, W + 5 * rb, X + j * xb));
    }
    CHECK_EQ_INT(bad, 0);
    free(W);
    free(X);
    free(Y);
}

int main(void) {
    int have_avx2 = 0;
    ak_quant_set_simd(AK_SIMD_AVX2);
    have_avx2 = ak_quant_simd() == AK_SIMD_AVX2;
    for (int level = 0; level < 1 + have_avx2; level++) {
        ak_quant_set_simd(level ? AK_SIMD_AVX2 : AK_SIMD_SCALAR);
        for (int k = 0; k < N_WEIGHTS; k++) {
            ak_type t = k_weights[k];
            int64_t bs = ak_type_block_elems(t);
            const int64_t lens[] = {256, 512, 2048, 4096 + 256};
            for (int i = 0; i < 4; i++) test_reference(t, lens[i]);
            if (bs == 1) /* odd lengths exercise the vector tails */
                for (int64_t n = 1; n < 70; n += 3) test_reference(t, n);
            for (int vnni = 0; vnni < 1 + level; vnni++) { /* the AVX2 kernels built twice */
                ak_quant_set_vnni(vnni);
                test_matmul(t);
            }
            ak_quant_set_vnni(1);
        }
    }
    if (have_avx2) {
        for (int k = 0; k < N_WEIGHTS; k++) {
            ak_type t = k_weights[k];
            int64_t bs = ak_type_block_elems(t);
            for (int64_t n = bs; n <= 4096 + 256; n += bs * (bs == 1 ? 37 : bs == 32 ? 7 : 3))
                for (int rep = 0; rep < 3; rep++) test_avx2_vs_scalar(t, n);
            if (bs == 1)
                for (int64_t n = 1; n < 100; n++) test_avx2_vs_scalar(t, n);
        }
        test_q3_k_random_bytes();
    } else {
        printf("AVX2 kernels not available on this CPU/build: scalar only\n");
    }
    return check_finish("test_quant_dot");
}
