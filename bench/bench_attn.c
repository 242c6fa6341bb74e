/* bench_attn - the attention tile kernel (src/model/attn_kernel.h) alone, one thread.
 *
 * usage: bench_attn [-H heads (64)] [-n keys (8192)] [-q query rows (1)] [-s parts (2)]
 *                   [-r reps (5)] [-ctk f16|f32] [--generic]
 *
 * Each of H heads has its own n cached keys and values (head_dim 128, random f16 or f32
 * rows), as a decode step of a 4-layer, 16-head model at depth n has 64; every head's keys
 * are cut into s parts as ak_attend cuts a decode step's. With -q > 1 every item has that
 * many query rows (a prefill item: the kernel widens each tile once for all its rows).
 * Prints the best of the repetitions: ns per key and head, and the cache bytes read per
 * second. 64 heads x 8192 keys of f16 are 256 MiB, read from memory; -H 1 -n 512 fits in
 * L2 and shows the arithmetic alone. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/attention.h"
#include "bench_rng.h"
#include "quant/quant.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}


static int usage(void) {
    fprintf(stderr, "usage: bench_attn [-H heads] [-n keys] [-q rows] [-s parts] [-r reps] [-ctk f16|f32] [--generic]\n");
    return 2;
}

int main(int argc, char **argv) {
    int heads = 64, n_keys = 8192, rows = 1, parts = 2, reps = 5, generic = 0;
    ak_type type = AK_TYPE_F16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--generic")) { generic = 1; continue; }
        if (!v) return usage();
        if (!strcmp(a, "-H")) heads = atoi(v);
        else if (!strcmp(a, "-n")) n_keys = atoi(v);
        else if (!strcmp(a, "-q")) rows = atoi(v);
        else if (!strcmp(a, "-s")) parts = atoi(v);
        else if (!strcmp(a, "-r")) reps = atoi(v);
        else if (!strcmp(a, "-ctk") && (!strcmp(v, "f16") || !strcmp(v, "f32"))) type = !strcmp(v, "f16") ? AK_TYPE_F16 : AK_TYPE_F32;
        else return usage();
        i++;
    }
    if (heads < 1 || n_keys < 1 || rows < 1 || rows > 64 || parts < 1 || parts > n_keys || reps < 1) return usage();
    const int hd = 128;
    const size_t row_bytes = ak_row_bytes(type, hd), n_rows_total = (size_t)heads * (size_t)n_keys;
    uint8_t *k = malloc(n_rows_total * row_bytes), *v = malloc(n_rows_total * row_bytes);
    float *row = malloc(hd * sizeof *row), *q = malloc((size_t)rows * hd * sizeof *q);
    float *acc = malloc((size_t)rows * hd * sizeof *acc), *m = malloc(rows * sizeof *m), *l = malloc(rows * sizeof *l);
    float *work = malloc(ak_attn_work_floats(hd) * sizeof *work);
    int *vis_lo = calloc((size_t)rows, sizeof *vis_lo), *vis_hi = malloc(rows * sizeof *vis_hi);
    if (!k || !v || !row || !q || !acc || !m || !l || !work || !vis_lo || !vis_hi) {
        fprintf(stderr, "bench_attn: out of memory\n");
        return 1;
    }
    for (size_t r = 0; r < n_rows_total; r++) {
        for (int d = 0; d < hd; d++) row[d] = rnd();
        ak_quantize_row(type, row, k + r * row_bytes, hd);
        for (int d = 0; d < hd; d++) row[d] = rnd();
        ak_quantize_row(type, row, v + r * row_bytes, hd);
    }
    for (int i = 0; i < rows * hd; i++) q[i] = rnd() * 0.1f;
    for (int r = 0; r < rows; r++) vis_hi[r] = n_keys; /* every row sees every key */
    const attn_cache desc = {hd, type, type, row_bytes, row_bytes};
    attn_kernel_fn kernel = generic || !ak_attn_avx2_built() || ak_quant_simd() != AK_SIMD_AVX2 ? ak_attn_kernel_generic
                                                                                                 : ak_attn_kernel_avx2;
    double best = INFINITY, check = 0.0;
    for (int rep = 0; rep < reps; rep++) {
        const double t0 = now_s();
        for (int h = 0; h < heads; h++)
            for (int s = 0; s < parts; s++) {
                const size_t base = (size_t)h * (size_t)n_keys * row_bytes;
                for (int r = 0; r < rows; r++) m[r] = -INFINITY, l[r] = 0.0f;
                memset(acc, 0, (size_t)rows * hd * sizeof *acc);
                kernel(&desc, k + base, v + base, rows, q, vis_lo, vis_hi, (int)((long)n_keys * s / parts),
                       (int)((long)n_keys * (s + 1) / parts), m, l, acc, work);
                check += acc[0] / l[0];
            }
        const double t = now_s() - t0;
        if (t < best) best = t;
    }
    printf("bench_attn %s kernel, %s cache, %d heads x %d keys, %d query rows, %d parts: %.2f ns per key and head, "
           "%.1f GB/s of cache (best of %d; checksum %.6g)\n",
           kernel == ak_attn_kernel_avx2 ? "avx2" : "generic", ak_type_name(type), heads, n_keys, rows, parts,
           best / (double)n_rows_total * 1e9, (double)n_rows_total * row_bytes * 2 / best / 1e9, reps, check);
    free(k), free(v), free(row), free(q), free(acc), free(m), free(l), free(work), free(vis_lo), free(vis_hi);
    return 0;
}
