/* bench_quant - matvec throughput of every weight type, scalar vs AVX2.
 *
 * usage: bench_quant [runs] [n] [cpu]   (defaults: 7 runs, rows of 2048 elements)
 * With a third argument "cpu", times are this thread's CPU time instead of wall time: on a
 * shared machine that discounts the periods the thread was not running.
 * For 1024, 4096 and 65536 rows it reports the median over runs of weight GB/s (bytes of W
 * read) and GFLOP/s (2*rows*n), one thread. 4096 rows of 2048 exceed the L2 cache for every
 * type, 1024 rows of a quantised type mostly fit in L2/L3, 65536 rows (34-537 MB) come from
 * memory, as a decoded token's weights do.
 * A second table (AVX2 or the best path) compares ak_matmul on 8 activation columns with
 * 8 separate ak_matvec calls, 4096 rows: the prefill case. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_rng.h"
#include "quant/quant.h"

static clockid_t g_clock = CLOCK_MONOTONIC;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(g_clock, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Seconds per 8-column product: one ak_matmul (matmul != 0) or 8 ak_matvec calls. */
static double time_cols(ak_type t, const void *W, size_t rb, int64_t n, int64_t rows, const unsigned char *X,
                        size_t xb, float *Y, int matmul, int runs) {
    double per[64];
    for (int r = 0; r < runs; r++) {
        int iters = 0;
        double t0 = now_s(), t1;
        do {
            if (matmul) ak_matmul(t, W, rb, n, 0, rows, X, xb, 8, Y, rows);
            else
                for (int j = 0; j < 8; j++) ak_matvec(t, W, rb, n, X + j * xb, Y + j * rows, 0, rows);
            iters++;
            t1 = now_s();
        } while (t1 - t0 < 0.05);
        per[r] = (t1 - t0) / iters;
    }
    qsort(per, (size_t)runs, sizeof per[0], cmp_double);
    return per[runs / 2];
}

/* Seconds per matvec: median over runs, each run repeating until it lasts >= 50 ms. */
static double time_matvec(ak_type t, const void *W, size_t rb, int64_t n, int64_t rows, const void *x,
                          float *y, int runs) {
    double per[64];
    for (int r = 0; r < runs; r++) {
        int iters = 0;
        double t0 = now_s(), t1;
        do {
            ak_matvec(t, W, rb, n, x, y, 0, rows);
            iters++;
            t1 = now_s();
        } while (t1 - t0 < 0.05);
        per[r] = (t1 - t0) / iters;
    }
    qsort(per, (size_t)runs, sizeof per[0], cmp_double);
    return per[runs / 2];
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 7;
    int64_t n = argc > 2 ? atoll(argv[2]) : 2048;
    if (argc > 3 && strcmp(argv[3], "cpu") == 0) g_clock = CLOCK_THREAD_CPUTIME_ID;
    if (runs < 1 || runs > 64 || n <= 0 || n % 256 || (argc > 3 && g_clock == CLOCK_MONOTONIC)) {
        fprintf(stderr, "usage: bench_quant [runs 1..64] [n, a multiple of 256] [cpu]\n");
        return 1;
    }
    const ak_type types[] = {AK_TYPE_F32,  AK_TYPE_F16,  AK_TYPE_BF16, AK_TYPE_Q8_0,
                             AK_TYPE_Q4_0, AK_TYPE_Q4_K, AK_TYPE_Q5_K, AK_TYPE_Q6_K};
    const int64_t row_counts[] = {1024, 4096, 65536};
    float *src = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * 65536);
    if (!src || !y) return 1;
    ak_quant_set_simd(AK_SIMD_AVX2);
    int have_avx2 = ak_quant_simd() == AK_SIMD_AVX2;
    printf("n=%lld, median of %d runs, 1 thread, %s time\n", (long long)n, runs,
           g_clock == CLOCK_MONOTONIC ? "wall" : "thread CPU");
    printf("%-6s %6s %-7s %9s %9s %10s\n", "type", "rows", "path", "us/matvec", "GB/s", "GFLOP/s");
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        ak_type t = types[k];
        size_t rb = ak_row_bytes(t, n);
        for (size_t c = 0; c < sizeof row_counts / sizeof row_counts[0]; c++) {
            int64_t rows = row_counts[c];
            unsigned char *W = malloc(rb * (size_t)rows), *x = malloc(ak_encoded_row_bytes(t, n));
            if (!W || !x) return 1;
            for (int64_t r = 0; r < rows; r++) {
                for (int64_t i = 0; i < n; i++) src[i] = rnd();
                ak_quantize_row(t, src, W + (size_t)r * rb, n);
            }
            for (int64_t i = 0; i < n; i++) src[i] = rnd();
            ak_encode_activation(t, src, x, n);
            for (int level = 0; level <= have_avx2; level++) {
                ak_quant_set_simd(level ? AK_SIMD_AVX2 : AK_SIMD_SCALAR);
                double s = time_matvec(t, W, rb, n, rows, x, y, runs);
                printf("%-6s %6lld %-7s %9.1f %9.2f %10.2f\n", ak_type_name(t), (long long)rows,
                       ak_simd_name(ak_quant_simd()), s * 1e6, (double)rb * rows / s * 1e-9,
                       2.0 * n * rows / s * 1e-9);
                fflush(stdout);
            }
            free(W);
            free(x);
        }
    }

    ak_quant_set_simd(AK_SIMD_AVX2);
    int64_t rows = 4096;
    float *Y = malloc(sizeof(float) * 8 * (size_t)rows);
    if (!Y) return 1;
    printf("\n8 activation columns, %lld rows, path %s: ak_matmul vs 8 x ak_matvec\n", (long long)rows,
           ak_simd_name(ak_quant_simd()));
    printf("%-6s %14s %14s %8s\n", "type", "matmul GFLOP/s", "matvec GFLOP/s", "speedup");
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        ak_type t = types[k];
        size_t rb = ak_row_bytes(t, n), xb = ak_encoded_row_bytes(t, n);
        unsigned char *W = malloc(rb * (size_t)rows), *X = malloc(xb * 8);
        if (!W || !X) return 1;
        for (int64_t r = 0; r < rows; r++) {
            for (int64_t i = 0; i < n; i++) src[i] = rnd();
            ak_quantize_row(t, src, W + (size_t)r * rb, n);
        }
        for (int j = 0; j < 8; j++) {
            for (int64_t i = 0; i < n; i++) src[i] = rnd();
            ak_encode_activation(t, src, X + j * xb, n);
        }
        double mm = time_cols(t, W, rb, n, rows, X, xb, Y, 1, runs);
        double mv = time_cols(t, W, rb, n, rows, X, xb, Y, 0, runs);
        double flop = 2.0 * n * rows * 8;
        printf("%-6s %14.2f %14.2f %8.2f\n", ak_type_name(t), flop / mm * 1e-9, flop / mv * 1e-9, mv / mm);
        fflush(stdout);
        free(W);
        free(X);
    }
    free(Y);
    free(src);
    free(y);
    return 0;
}
