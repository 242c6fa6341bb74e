/* Repacked (x8) weights: every path's ak_matmul_x8 equals the scalar ak_vec_dot of the plain
 * rows bit for bit, for any row range and number of columns, and writes nothing outside it. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "quant/blocks.h"
#include "quant/kernels.h"
#include "quant/quant.h"

enum { MAX_ROWS = 40, MAX_COLS = 11, MAX_N = 4096 };

static uint8_t g_plain[MAX_ROWS * (MAX_N / 32) * 34], g_x8[sizeof g_plain], g_x[MAX_COLS * (MAX_N / 256) * 292];
static ak_type g_t;
static float g_ref[MAX_COLS][MAX_ROWS], g_y[MAX_COLS][MAX_ROWS];

static void make(int64_t n, int rows, int cols) {
    float v[MAX_N];
    for (int r = 0; r < rows; r++) {
        for (int64_t i = 0; i < n; i++) v[i] = rnd() * (r % 3 == 0 ? 40.0f : 0.5f);
        ak_quantize_row(g_t, v, g_plain + (size_t)r * ak_row_bytes(g_t, n), n);
    }
    if (g_t == AK_TYPE_MXFP4) { /* the subnormal scales (e < 2) take another branch of the scale's decoding */
        blk_mxfp4 *b = (blk_mxfp4 *)g_plain;
        b[0].e = 0, b[1 % (rows * (n / 32))].e = 1, b[(rows * (n / 32)) / 2].e = 2;
    } else if (g_t == AK_TYPE_Q4_K) { /* every 6-bit scale and min at its largest in one block: each bit of the packing */
        blk_q4_k *b = (blk_q4_k *)g_plain;
        memset(b[0].scales, 0xFF, sizeof b[0].scales);
    } else { /* the same, and every 5th bit set */
        blk_q5_k *b = (blk_q5_k *)g_plain;
        memset(b[0].scales, 0xFF, sizeof b[0].scales);
        memset(b[0].qh, 0xFF, sizeof b[0].qh);
    }
    for (int c = 0; c < cols; c++) {
        for (int64_t i = 0; i < n; i++) v[i] = rnd() * (c == 0 ? 100.0f : 3.0f);
        ak_encode_activation(g_t, v, g_x + (size_t)c * ak_encoded_row_bytes(g_t, n), n);
    }
    ak_quant_set_simd(AK_SIMD_SCALAR);
    for (int c = 0; c < cols; c++)
        for (int r = 0; r < rows; r++)
            g_ref[c][r] = ak_vec_dot(g_t, n, g_plain + (size_t)r * ak_row_bytes(g_t, n),
                                     g_x + (size_t)c * ak_encoded_row_bytes(g_t, n));
    ak_repack_x8(g_t, g_plain, g_x8, n, rows);
}

static void check_range(const char *path, int64_t n, int cols, int r0, int r1) {
    const size_t xs = ak_encoded_row_bytes(g_t, n);
    for (int c = 0; c < MAX_COLS; c++)
        for (int r = 0; r < MAX_ROWS; r++) g_y[c][r] = -12345.0f;
    ak_matmul_x8(g_t, g_x8, n, r0, r1, g_x, xs, cols, &g_y[0][0], MAX_ROWS);
    int bad = 0;
    for (int c = 0; c < MAX_COLS; c++)
        for (int r = 0; r < MAX_ROWS; r++) {
            const int in = c < cols && r >= r0 && r < r1;
            if (in ? memcmp(&g_y[c][r], &g_ref[c][r], sizeof(float)) != 0 : g_y[c][r] != -12345.0f) {
                if (!bad++)
                    fprintf(stderr, "%s %s n=%lld rows %d..%d cols %d: [%d][%d] %.9g vs %.9g\n", ak_type_name(g_t), path, (long long)n, r0,
                            r1, cols, c, r, g_y[c][r], in ? g_ref[c][r] : -12345.0f);
            }
        }
    CHECK(bad == 0);
}

static void test_paths(int64_t n, int rows) {
    make(n, rows, MAX_COLS);
    const int ranges[][2] = {{0, rows}, {3, rows - 5}, {8, 16}, {5, 6}, {rows - 1, rows}};
    struct { const char *name; ak_simd_level simd; int vnni; } paths[] = {
        {"scalar", AK_SIMD_SCALAR, 0}, {"avx2", AK_SIMD_AVX2, 0}, {"vnni", AK_SIMD_AVX2, 1}};
    for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
        ak_quant_set_simd(paths[p].simd);
        ak_quant_set_vnni(paths[p].vnni);
        for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++)
            for (int cols = 1; cols <= MAX_COLS && ranges[k][1] <= rows && ranges[k][0] < ranges[k][1];
                 cols += cols < 3 ? 1 : 4)
                check_range(paths[p].name, n, cols, ranges[k][0], ranges[k][1]);
    }
    ak_quant_set_vnni(1);
    ak_quant_set_simd(AK_SIMD_AVX2);
}

static void test_supported(void) {
    CHECK(ak_repack_supported(AK_TYPE_MXFP4, 2880, 2880));
    CHECK(!ak_repack_supported(AK_TYPE_MXFP4, 2880, 12));     /* rows not a multiple of 8 */
    CHECK(!ak_repack_supported(AK_TYPE_MXFP4, 48, 16));       /* not whole blocks */
    CHECK(!ak_repack_supported(AK_TYPE_MXFP4, 32 * (AK_X8_MAX_BLOCKS + 1), 8));
    CHECK(!ak_repack_supported(AK_TYPE_Q8_0, 2048, 512));     /* no x8 kernel for the type */
    CHECK(ak_repack_supported(AK_TYPE_Q4_K, 2048, 512));
    CHECK(!ak_repack_supported(AK_TYPE_Q4_K, 2048 + 32, 512)); /* not whole Q4_K blocks */
    CHECK(!ak_repack_supported(AK_TYPE_MXFP4, 0, 8));
}

int main(void) {
    test_supported();
    g_t = AK_TYPE_MXFP4;
    test_paths(32, 8);
    test_paths(64, 24);
    test_paths(2880, 40);
    test_paths(4096, 16);
    for (int k = 0; k < 2; k++) {
        g_t = k ? AK_TYPE_Q5_K : AK_TYPE_Q4_K;
        test_paths(256, 8);
        test_paths(512, 24);
        test_paths(2048, 40);
        test_paths(4096, 16);
    }
    return check_finish("test_quant_repack");
}
