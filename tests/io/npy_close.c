/* npy_close.c - exits 0 when two float .npy files have the same shape and every pair of
 * values differs by at most TOL (absolute). Used to check that a shipped array is what
 * its documented command records, without requiring bit-identical floats across CPUs
 * (the engine's kernels are chosen at run time).
 *
 *   usage: npy_close A.npy B.npy TOL */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "io/npy.h"

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s A.npy B.npy TOL\n", argv[0]);
        return 2;
    }
    double tol = atof(argv[3]);
    ak_f32_array a, b;
    ak_error err;
    if (ak_npy_load_f32(argv[1], &a, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    if (ak_npy_load_f32(argv[2], &b, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        ak_f32_array_free(&a);
        return 1;
    }
    int rc = 0;
    if (a.ndim != b.ndim || a.count != b.count) {
        fprintf(stderr, "shapes differ: %d dims, %zu values vs %d dims, %zu values\n", a.ndim, a.count,
                b.ndim, b.count);
        rc = 1;
    } else {
        for (int d = 0; d < a.ndim; d++)
            if (a.shape[d] != b.shape[d]) rc = 1;
        if (rc) fprintf(stderr, "shapes differ\n");
    }
    if (!rc) {
        double max_diff = 0;
        size_t worst = 0;
        for (size_t i = 0; i < a.count; i++) {
            double d = fabs((double)a.data[i] - (double)b.data[i]);
            if (!(d <= max_diff)) max_diff = d, worst = i; /* NaN counts as the worst */
        }
        printf("%zu values, max |a - b| = %.3g at index %zu (tolerance %.3g)\n", a.count, max_diff, worst, tol);
        if (!(max_diff <= tol)) rc = 1;
    }
    ak_f32_array_free(&a);
    ak_f32_array_free(&b);
    return rc;
}
