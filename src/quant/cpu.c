/* cpu.c - run-time kernel choice, ak_vec_dot, ak_matvec, ak_matmul. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "quant/kernels.h"

/* level + 1 once chosen, 0 before; atomic because engine threads may ask first at once */
static atomic_int g_level_plus1;

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* F16C from CPUID (leaf 1, ECX bit 29): clang 14's __builtin_cpu_supports has no "f16c". */
static int has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}

/* The AVX2 kernels are built in and the CPU has AVX2, FMA and F16C. */
static int avx2_usable(void) {
    __builtin_cpu_init();
    return ak_dot_available_avx2() && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
}
#else
static int avx2_usable(void) { return 0; }
#endif

static ak_simd_level detect(void) {
    const char *env = getenv("AK_SIMD");
    if (env && strcmp(env, "scalar") == 0) return AK_SIMD_SCALAR;
    return avx2_usable() ? AK_SIMD_AVX2 : AK_SIMD_SCALAR;
}

ak_simd_level ak_quant_simd(void) {
    int v = atomic_load_explicit(&g_level_plus1, memory_order_relaxed);
    if (!v) {
        v = (int)detect() + 1;
        atomic_store_explicit(&g_level_plus1, v, memory_order_relaxed);
    }
    return (ak_simd_level)(v - 1);
}

/* Forcing AVX2 on a CPU without it would crash; such a request falls back to scalar. */
void ak_quant_set_simd(ak_simd_level level) {
    ak_simd_level best = avx2_usable() ? AK_SIMD_AVX2 : AK_SIMD_SCALAR;
    ak_simd_level chosen = level == AK_SIMD_AVX2 ? best : AK_SIMD_SCALAR;
    atomic_store_explicit(&g_level_plus1, (int)chosen + 1, memory_order_relaxed);
}

const char *ak_simd_name(ak_simd_level level) { return level == AK_SIMD_AVX2 ? "avx2" : "scalar"; }

/* The VNNI build of the AVX2 kernels: 0 not decided yet, 1 off, 2 on. */
static atomic_int g_vnni_plus1;

static int vnni_supported(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return ak_dot_available_vnni() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni");
#else
    return 0;
#endif
}

int ak_quant_vnni(void) {
    int v = atomic_load_explicit(&g_vnni_plus1, memory_order_relaxed);
    if (!v) {
        const char *env = getenv("AK_SIMD");
        v = (env && strcmp(env, "avx2") == 0) || !vnni_supported() ? 1 : 2;
        atomic_store_explicit(&g_vnni_plus1, v, memory_order_relaxed);
    }
    return v - 1;
}

void ak_quant_set_vnni(int on) {
    atomic_store_explicit(&g_vnni_plus1, on && vnni_supported() ? 2 : 1, memory_order_relaxed);
}

static const ak_dot_fn *simd_dots(void) { return ak_quant_vnni() ? ak_dot_vnni : ak_dot_avx2; }
static const ak_dotn_fn *simd_dotns(void) { return ak_quant_vnni() ? ak_dotn_vnni : ak_dotn_avx2; }
static const ak_dotn_scaled_fn *simd_dotn_scaleds(void) {
    return ak_quant_vnni() ? ak_dotn_scaled_vnni : ak_dotn_scaled_avx2;
}

ak_encode_block_fn ak_encode_simd(ak_type t) {
    if (ak_quant_simd() != AK_SIMD_AVX2) return NULL;
    const int vnni = ak_quant_vnni();
    if (t == AK_TYPE_Q8_K) return vnni ? ak_encode_q8_k_vnni : ak_encode_q8_k_avx2;
    if (t == AK_TYPE_Q8_0) return vnni ? ak_encode_q8_0_vnni : ak_encode_q8_0_avx2;
    return NULL;
}

static ak_dot_fn dot_for(ak_type t) {
    if ((int)t < 0 || (int)t >= AK_TYPE_COUNT) return NULL;
    if (ak_quant_simd() == AK_SIMD_AVX2 && simd_dots()[t]) return simd_dots()[t];
    return ak_dot_scalar[t];
}

float ak_vec_dot(ak_type t, int64_t n, const void *w_row, const void *x_enc) {
    ak_dot_fn f = dot_for(t);
    if (!f || n <= 0 || n % ak_type_block_elems(t)) return 0.0f;
    return f(n, w_row, x_enc);
}

void ak_matvec(ak_type t, const void *W, size_t row_bytes, int64_t n, const void *x_enc, float *y,
               int64_t r0, int64_t r1) {
    ak_dot_fn f = dot_for(t);
    if (!f || n <= 0 || n % ak_type_block_elems(t)) return;
    /* Rows one after another, no software prefetch: the hardware prefetcher follows one
     * stream, and asking for each row two rows ahead (as this loop did) made decode slower
     * once the common types had SIMD kernels: 65,536 x 2048 matrices out of cache, 1 thread,
     * Q8_0 28-30 -> 31.7 GB/s, Q4_K 24.1-24.9 -> 25.1-25.2; the Nemotron cut's mapped Q8_0
     * head 17.8-19.3 -> 21.3-22.5 GB/s; decode on the DeepSeek-V2-Lite Q4_K cut 58-65 ->
     * 69.5-72.5 tokens/s (bench_engine -n 64, interleaved). */
    const uint8_t *w = W;
    for (int64_t r = r0; r < r1; r++) y[r] = f(n, w + (size_t)r * row_bytes, x_enc);
}

void ak_matmul(ak_type t, const void *W, size_t row_bytes, int64_t n, int64_t r0, int64_t r1,
               const void *X_enc, size_t x_stride_bytes, int n_cols_x, float *Y, int64_t y_stride) {
    ak_dot_fn f = dot_for(t);
    if (!f || n <= 0 || n % ak_type_block_elems(t)) return;
    ak_dotn_fn fn = ak_quant_simd() == AK_SIMD_AVX2 && f == simd_dots()[t] ? simd_dotns()[t] : NULL;
    const int64_t nb = n / 32;
    ak_dotn_scaled_fn fs = fn && nb <= AK_YD_BLOCKS ? simd_dotn_scaleds()[t] : NULL;
    float yd[AK_DOTN_MAX * AK_YD_BLOCKS];
    int yd_of = -1; /* the first column whose group's scales yd holds */
    /* A tile of rows stays in L1/L2 while every column streams past it, so each weight
     * byte comes from memory once per call instead of once per column; the multi-column
     * kernels also decode each weight block once for up to AK_DOTN_MAX columns. */
    enum { ROW_TILE = 16 };
    const uint8_t *w = W, *x = X_enc;
    for (int64_t rt = r0; rt < r1; rt += ROW_TILE) {
        int64_t re = rt + ROW_TILE < r1 ? rt + ROW_TILE : r1;
        for (int j = 0; j < n_cols_x;) {
            const uint8_t *xj = x + (size_t)j * x_stride_bytes;
            float *yj = Y + (size_t)j * (size_t)y_stride;
            int nc = n_cols_x - j;
            if (!fn || nc == 1) {
                for (int64_t r = rt; r < re; r++) yj[r] = f(n, w + (size_t)r * row_bytes, xj);
                j++;
                continue;
            }
            if (nc > AK_DOTN_MAX) nc = AK_DOTN_MAX;
            if (fs && yd_of != j) { /* once per call when the columns fit one group */
                (ak_quant_vnni() ? ak_widen_q8_0_scales_vnni : ak_widen_q8_0_scales_avx2)(xj, x_stride_bytes, nc, nb, yd);
                yd_of = j;
            }
            for (int64_t r = rt; r < re; r++) {
                float out[AK_DOTN_MAX];
                if (fs) fs(n, w + (size_t)r * row_bytes, xj, x_stride_bytes, yd, out, nc);
                else fn(n, w + (size_t)r * row_bytes, xj, x_stride_bytes, out, nc);
                for (int c = 0; c < nc; c++) yj[(size_t)c * (size_t)y_stride + (size_t)r] = out[c];
            }
            j += nc;
        }
    }
}
