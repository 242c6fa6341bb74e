/* The engine's batched products: ak_matmul over 1..11 activation columns (the multi-column
 * kernels take up to 8 at once, so this covers every width and the splits above it) must
 * equal per-column ak_matvec bit for bit, on every path, and leave rows outside r0..r1
 * untouched. Expected values: ak_matvec, which test_quant_dot checks against a
 * double-precision reference. Where the CPU has AVX512-VNNI, the VNNI build of the AVX2
 * kernels must give exactly the plain AVX2 build's values. */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "quant/kernels.h"
#include "quant/quant.h"

enum { ROWS = 21, R0 = 3, STRIDE = 24, N = 512, MAX_COLS = 11 };

static unsigned rng = 12345u;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

/* Y[cols][STRIDE] of the last check_type call, per kernel build, for the VNNI comparison */
static float g_last[2][MAX_COLS * STRIDE];

static void check_type(ak_type t, const char *path, float *keep) {
    size_t rb = ak_row_bytes(t, N), xb = ak_encoded_row_bytes(t, N);
    uint8_t *W = malloc(rb * ROWS), *X = malloc(xb * MAX_COLS);
    float *Y = malloc(sizeof(float) * MAX_COLS * STRIDE), y[ROWS], row[N];
    for (int r = 0; r < ROWS; r++) {
        for (int i = 0; i < N; i++) row[i] = frand();
        ak_quantize_row(t, row, W + (size_t)r * rb, N);
    }
    for (int j = 0; j < MAX_COLS; j++) {
        for (int i = 0; i < N; i++) row[i] = frand() * (1.0f + (float)j);
        ak_encode_activation(t, row, X + (size_t)j * xb, N);
    }
    for (int cols = 1; cols <= MAX_COLS; cols++) {
        for (int i = 0; i < MAX_COLS * STRIDE; i++) Y[i] = -7.0f;
        ak_matmul(t, W, rb, N, R0, ROWS, X, xb, cols, Y, STRIDE);
        int bad = 0;
        for (int j = 0; j < MAX_COLS; j++) {
            ak_matvec(t, W, rb, N, X + (size_t)j * xb, y, R0, ROWS);
            for (int r = 0; r < STRIDE; r++) {
                float want = j < cols && r >= R0 && r < ROWS ? y[r] : -7.0f;
                if (memcmp(&Y[j * STRIDE + r], &want, sizeof want) != 0) bad++;
            }
        }
        CHECK(bad == 0, "%s %s, %d columns: %d values differ from ak_matvec", path, ak_type_name(t), cols, bad);
    }
    if (keep) memcpy(keep, Y, sizeof(float) * MAX_COLS * STRIDE);
    free(W);
    free(X);
    free(Y);
}

int main(void) {
    const ak_type types[] = {AK_TYPE_F32, AK_TYPE_F16, AK_TYPE_BF16, AK_TYPE_Q4_0,
                             AK_TYPE_Q8_0, AK_TYPE_Q4_K, AK_TYPE_Q5_K, AK_TYPE_Q6_K, AK_TYPE_IQ4_XS,
                             AK_TYPE_MXFP4, AK_TYPE_Q2_K, AK_TYPE_Q3_K};
    const ak_simd_level levels[] = {AK_SIMD_SCALAR, AK_SIMD_AVX2};
    for (int l = 0; l < 2; l++) {
        ak_quant_set_simd(levels[l]);
        if (ak_quant_simd() != levels[l]) continue; /* no AVX2 on this CPU */
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) check_type(types[i], ak_simd_name(levels[l]), NULL);
    }

    ak_quant_set_simd(AK_SIMD_AVX2);
    ak_quant_set_vnni(1);
    if (ak_quant_simd() == AK_SIMD_AVX2 && ak_quant_vnni()) {
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
            rng = 777u + (unsigned)i; /* the same data for both builds */
            ak_quant_set_vnni(0);
            check_type(types[i], "avx2", g_last[0]);
            rng = 777u + (unsigned)i;
            ak_quant_set_vnni(1);
            check_type(types[i], "avx2+vnni", g_last[1]);
            CHECK(memcmp(g_last[0], g_last[1], sizeof g_last[0]) == 0, "%s: VNNI build differs from AVX2 build",
                  ak_type_name(types[i]));
        }
    } else {
        printf("no AVX512-VNNI on this CPU: VNNI build not compared\n");
    }
    return check_finish("test_model_matmul");
}
