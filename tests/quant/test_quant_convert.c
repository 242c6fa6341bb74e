/* fp16 / bf16 conversions against hand-derived bit patterns. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "quant/quant.h"

static float from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static void test_f32_to_f16(void) {
    CHECK_EQ_INT(ak_f32_to_f16(1.0f), 0x3C00);
    CHECK_EQ_INT(ak_f32_to_f16(-2.0f), 0xC000);
    CHECK_EQ_INT(ak_f32_to_f16(0.0f), 0x0000);
    CHECK_EQ_INT(ak_f32_to_f16(-0.0f), 0x8000);
    CHECK_EQ_INT(ak_f32_to_f16(0.1f), 0x2E66);      /* 0.0999755859375 */
    CHECK_EQ_INT(ak_f32_to_f16(65504.0f), 0x7BFF);  /* largest finite half */
    CHECK_EQ_INT(ak_f32_to_f16(65519.0f), 0x7BFF);  /* below the midpoint to 65536 */
    CHECK_EQ_INT(ak_f32_to_f16(65520.0f), 0x7C00);  /* tie; even neighbour is inf */
    CHECK_EQ_INT(ak_f32_to_f16(1e10f), 0x7C00);
    CHECK_EQ_INT(ak_f32_to_f16(INFINITY), 0x7C00);
    CHECK_EQ_INT(ak_f32_to_f16(-INFINITY), 0xFC00);
    uint16_t n = ak_f32_to_f16(NAN);
    CHECK((n & 0x7C00) == 0x7C00 && (n & 0x03FF) != 0);
    /* ties in the normal range: 1 + 2^-11 lies halfway between 0x3C00 and 0x3C01 */
    CHECK_EQ_INT(ak_f32_to_f16(1.0f + 0x1p-11f), 0x3C00);
    CHECK_EQ_INT(ak_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3C02);
    CHECK_EQ_INT(ak_f32_to_f16(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);
    CHECK_EQ_INT(ak_f32_to_f16(2047.0f), 0x67FF);   /* 2^10 * 1.9990234375 */
    CHECK_EQ_INT(ak_f32_to_f16(2049.0f), 0x6800);   /* tie between 2048 and 2050 -> 2048 */
    CHECK_EQ_INT(ak_f32_to_f16(2051.0f), 0x6802);   /* tie between 2050 and 2052 -> 2052 */
    /* subnormals: unit 2^-24 */
    CHECK_EQ_INT(ak_f32_to_f16(0x1p-14f), 0x0400);  /* smallest normal */
    CHECK_EQ_INT(ak_f32_to_f16(1023 * 0x1p-24f), 0x03FF);
    CHECK_EQ_INT(ak_f32_to_f16(0x1p-24f), 0x0001);
    CHECK_EQ_INT(ak_f32_to_f16(0x1p-25f), 0x0000);  /* tie -> even (0) */
    CHECK_EQ_INT(ak_f32_to_f16(1.5f * 0x1p-25f), 0x0001);
    CHECK_EQ_INT(ak_f32_to_f16(3 * 0x1p-25f), 0x0002); /* 1.5 units, tie -> 2 */
    CHECK_EQ_INT(ak_f32_to_f16(-5 * 0x1p-24f), 0x8005);
    CHECK_EQ_INT(ak_f32_to_f16(1e-30f), 0x0000);
    CHECK_EQ_INT(ak_f32_to_f16(1023.5f * 0x1p-24f), 0x0400); /* tie rounds up into the normals */
}

static void test_f16_to_f32(void) {
    CHECK(ak_f16_to_f32(0x3C00) == 1.0f);
    CHECK(ak_f16_to_f32(0xC000) == -2.0f);
    CHECK(ak_f16_to_f32(0x3555) == 0.333251953125f);
    CHECK(ak_f16_to_f32(0x7BFF) == 65504.0f);
    CHECK(ak_f16_to_f32(0x0001) == 0x1p-24f);
    CHECK(ak_f16_to_f32(0x03FF) == 1023 * 0x1p-24f);
    CHECK(ak_f16_to_f32(0x8000) == 0.0f && signbit(ak_f16_to_f32(0x8000)));
    CHECK(ak_f16_to_f32(0x7C00) == INFINITY);
    CHECK(ak_f16_to_f32(0xFC00) == -INFINITY);
    CHECK(isnan(ak_f16_to_f32(0x7E00)));
    CHECK(isnan(ak_f16_to_f32(0x7C01)));
    /* every finite half survives the round trip */
    int bad = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7C00) == 0x7C00 && (h & 0x3FF)) continue;
        if (ak_f32_to_f16(ak_f16_to_f32((uint16_t)h)) != h) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

static void test_bf16(void) {
    CHECK_EQ_INT(ak_f32_to_bf16(1.0f), 0x3F80);
    CHECK_EQ_INT(ak_f32_to_bf16(-2.0f), 0xC000);
    CHECK_EQ_INT(ak_f32_to_bf16(1.0f + 0x1p-8f), 0x3F80);            /* tie -> even */
    CHECK_EQ_INT(ak_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3F82);        /* tie -> even (up) */
    CHECK_EQ_INT(ak_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3F81); /* above the tie */
    CHECK_EQ_INT(ak_f32_to_bf16(INFINITY), 0x7F80);
    CHECK_EQ_INT(ak_f32_to_bf16(-INFINITY), 0xFF80);
    CHECK_EQ_INT(ak_f32_to_bf16(from_bits(0x7F800001)), 0x7FC0);     /* signalling nan made quiet */
    CHECK_EQ_INT(ak_f32_to_bf16(from_bits(0x7F7FFFFF)), 0x7F80);     /* FLT_MAX rounds to inf */
    CHECK_EQ_INT(ak_f32_to_bf16(from_bits(0x00000001)), 0x0000);     /* subnormal float, no flush rule */
    CHECK_EQ_INT(ak_f32_to_bf16(from_bits(0x00018000)), 0x0002);     /* subnormal tie -> even */
    CHECK_EQ_INT(ak_f32_to_bf16(from_bits(0x00010000)), 0x0001);
    CHECK_EQ_INT(to_bits(ak_bf16_to_f32(0x0001)), 0x00010000);
    CHECK(ak_bf16_to_f32(0x3F80) == 1.0f);
    CHECK(ak_bf16_to_f32(0x4049) == 3.140625f);
    CHECK(isnan(ak_bf16_to_f32(0x7FC0)));
}

static void test_type_table(void) {
    CHECK_EQ_INT(ak_type_block_bytes(AK_TYPE_Q4_0), 18);
    CHECK_EQ_INT(ak_type_block_bytes(AK_TYPE_Q8_0), 34);
    CHECK_EQ_INT(ak_type_block_bytes(AK_TYPE_Q4_K), 144);
    CHECK_EQ_INT(ak_type_block_bytes(AK_TYPE_Q5_K), 176);
    CHECK_EQ_INT(ak_type_block_bytes(AK_TYPE_Q6_K), 210);
    CHECK_EQ_INT(ak_type_block_bytes(AK_TYPE_Q8_K), 292);
    CHECK_EQ_INT(ak_row_bytes(AK_TYPE_Q4_K, 2048), 8 * 144);
    CHECK_EQ_INT(ak_row_bytes(AK_TYPE_Q4_K, 100), 0);
    CHECK_EQ_INT(ak_row_bytes(AK_TYPE_BF16, 3), 6);
    CHECK_EQ_INT(ak_vec_dot_type(AK_TYPE_Q4_0), AK_TYPE_Q8_0);
    CHECK_EQ_INT(ak_vec_dot_type(AK_TYPE_Q6_K), AK_TYPE_Q8_K);
    CHECK_EQ_INT(ak_vec_dot_type(AK_TYPE_BF16), AK_TYPE_BF16);
    CHECK_EQ_INT(ak_encoded_row_bytes(AK_TYPE_Q5_K, 512), 2 * 292);
    CHECK_EQ_INT(ak_type_from_name("q6_K"), AK_TYPE_Q6_K);
    CHECK_EQ_INT(ak_type_from_name("Q4_0"), AK_TYPE_Q4_0);
    CHECK_EQ_INT(ak_type_from_name("iq2_xs"), -1);
    CHECK_EQ_INT(ak_type_from_name(NULL), -1);
    CHECK(!ak_type_supported(3) && !ak_type_supported(-1) && !ak_type_supported(AK_TYPE_COUNT));
    CHECK(ak_type_supported(AK_TYPE_BF16) && ak_type_is_weight(AK_TYPE_Q5_K) && !ak_type_is_weight(AK_TYPE_Q8_K));
    CHECK(strcmp(ak_type_name(99), "unknown") == 0);
}

/* Run a second time by CTest with AK_SIMD=scalar: the environment must force the scalar path. */
static void test_simd_env(void) {
    const char *env = getenv("AK_SIMD");
    if (env && strcmp(env, "scalar") == 0) CHECK_EQ_INT(ak_quant_simd(), AK_SIMD_SCALAR);
    CHECK(strcmp(ak_simd_name(AK_SIMD_SCALAR), "scalar") == 0 && strcmp(ak_simd_name(AK_SIMD_AVX2), "avx2") == 0);
    ak_quant_set_simd(AK_SIMD_SCALAR);
    CHECK_EQ_INT(ak_quant_simd(), AK_SIMD_SCALAR);
}

/* ak_dequantize_row(f16), which the KV cache's f16 V rows use: the F16C path equals the
 * scalar conversion bit for bit on all 65536 halves (NaNs: both NaN; F16C quiets a
 * signalling NaN, the scalar conversion keeps its bits). */
static void test_f16_row_paths(void) {
    static uint16_t h[0x10000];
    static float simd[0x10000], scalar[0x10000];
    for (uint32_t i = 0; i < 0x10000; i++) h[i] = (uint16_t)i;
    ak_simd_level was = ak_quant_simd();
    ak_quant_set_simd(AK_SIMD_AVX2);
    ak_dequantize_row(AK_TYPE_F16, h, simd, 0x10000);
    ak_quant_set_simd(AK_SIMD_SCALAR);
    ak_dequantize_row(AK_TYPE_F16, h, scalar, 0x10000);
    ak_quant_set_simd(was);
    int bad = 0;
    for (uint32_t i = 0; i < 0x10000; i++)
        bad += isnan(scalar[i]) ? !isnan(simd[i]) : memcmp(&simd[i], &scalar[i], sizeof(float)) != 0;
    CHECK(bad == 0, "%d halves convert differently", bad);
}

/* ak_quantize_row(f16), which writes the KV cache's f16 rows: the F16C path equals the
 * scalar ak_f32_to_f16 bit for bit on the floats around every exponent (each exponent's
 * smallest, largest and middle mantissas, the half-unit ties and their neighbours, so the
 * subnormal range, the overflow to inf and the rounding carries), both signs, infinities,
 * and NaNs (both NaN); and on a row whose length is no multiple of 8. */
static void test_f16_pack_paths(void) {
    enum { N = 256 * 2 * 12 + 7 };
    static float x[N];
    static uint16_t simd[N], scalar[N];
    int n = 0;
    static const uint32_t mant[] = {0, 1, 0xFFF, 0x1000, 0x1001, 0x2000, 0x3000, 0x400000, 0x7FE000, 0x7FEFFF, 0x7FF000, 0x7FFFFF};
    for (uint32_t e = 0; e < 256; e++)
        for (uint32_t sign = 0; sign < 2; sign++)
            for (int m = 0; m < 12; m++) x[n++] = from_bits(sign << 31 | e << 23 | mant[m]);
    while (n < N) x[n++] = 65520.0f; /* the tie that rounds to inf */
    ak_simd_level was = ak_quant_simd();
    ak_quant_set_simd(AK_SIMD_AVX2);
    ak_quantize_row(AK_TYPE_F16, x, simd, N);
    ak_quant_set_simd(AK_SIMD_SCALAR);
    ak_quantize_row(AK_TYPE_F16, x, scalar, N);
    ak_quant_set_simd(was);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        CHECK_EQ_INT(scalar[i], ak_f32_to_f16(x[i]));
        const int nan_s = (scalar[i] & 0x7C00) == 0x7C00 && (scalar[i] & 0x3FF), nan_v = (simd[i] & 0x7C00) == 0x7C00 && (simd[i] & 0x3FF);
        bad += nan_s ? !nan_v : simd[i] != scalar[i];
    }
    CHECK(bad == 0, "%d floats convert to f16 differently", bad);
}

int main(void) {
    test_f16_row_paths();
    test_f16_pack_paths();
    test_simd_env();
    test_f32_to_f16();
    test_f16_to_f32();
    test_bf16();
    test_type_table();
    return check_finish("test_quant_convert");
}
