/* Activation encoding (Q8_K for the K-quants, Q8_0 for the 32-value types): the SIMD
 * encoders (dot_avx2.c, both builds) write the scalar encoder's bytes exactly - random
 * rows of several magnitudes, zero blocks, equal largest magnitudes of both signs (the
 * first one sets the scale's sign), values on rounding ties, and blocks with a NaN or an
 * infinity (left to the scalar encoder). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../check.h"
#include "quant/kernels.h"
#include "quant/quant.h"

enum { N = 4096 };

static float g_x[N];
static uint8_t g_ref[N * 2], g_got[N * 2];

static void fill(int pattern) {
    for (int i = 0; i < N; i++) g_x[i] = rnd() * (pattern == 0 ? 1.0f : pattern == 1 ? 1e-3f : 3e4f);
    memset(g_x + 256, 0, 256 * sizeof *g_x);         /* a zero block (Q8_K) and eight (Q8_0) */
    g_x[600] = -7.0f, g_x[610] = 7.0f;               /* equal magnitudes: the first is negative */
    g_x[900] = 5.0f, g_x[950] = -5.0f;
    for (int i = 1024; i < 1280; i++) g_x[i] = (float)(i % 7) * 0.5f - 1.5f; /* halves */
    g_x[1300] = NAN, g_x[1700] = INFINITY, g_x[2100] = -INFINITY;
}

static void check_type(ak_type weight_type, const char *what) {
    const size_t bytes = ak_encoded_row_bytes(weight_type, N);
    CHECK(bytes <= sizeof g_ref);
    for (int pattern = 0; pattern < 3; pattern++) {
        fill(pattern);
        ak_quant_set_simd(AK_SIMD_SCALAR);
        ak_encode_activation(weight_type, g_x, g_ref, N);
        for (int vnni = 0; vnni <= 1; vnni++) {
            ak_quant_set_simd(AK_SIMD_AVX2);
            ak_quant_set_vnni(vnni);
            memset(g_got, 0xAB, bytes);
            ak_encode_activation(weight_type, g_x, g_got, N);
            size_t first = 0;
            while (first < bytes && g_ref[first] == g_got[first]) first++;
            CHECK(first == bytes, "%s pattern %d vnni %d: byte %zu differs (%d vs %d)", what, pattern, vnni, first,
                  first < bytes ? g_got[first] : 0, first < bytes ? g_ref[first] : 0);
        }
    }
    ak_quant_set_vnni(1);
}

int main(void) {
    ak_quant_set_simd(AK_SIMD_AVX2);
    if (ak_quant_simd() != AK_SIMD_AVX2 || !ak_encode_simd(AK_TYPE_Q8_K)) {
        printf("test_quant_encode: no SIMD encoders on this CPU/build, nothing to compare\n");
        return check_finish("test_quant_encode");
    }
    check_type(AK_TYPE_Q4_K, "q8_k");
    check_type(AK_TYPE_MXFP4, "q8_0");
    return check_finish("test_quant_encode");
}
