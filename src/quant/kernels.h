/* kernels.h - per-path dot kernels (internal). */
#ifndef AK_QUANT_KERNELS_H
#define AK_QUANT_KERNELS_H

#include "quant/quant.h"

typedef float (*ak_dot_fn)(int64_t n, const void *w, const void *x);

/* Table indexed by weight type; NULL where the path has no kernel. */
extern const ak_dot_fn ak_dot_scalar[AK_TYPE_COUNT];
/* Filled only when the AVX2 file is built; ak_dot_avx2_available() says so. */
extern const ak_dot_fn ak_dot_avx2[AK_TYPE_COUNT];
int ak_dot_avx2_available(void);

/* Four activation columns at once (x rows x_stride bytes apart): out[c] = dot(w, x_c), bit
 * for bit what the single-column kernel of the same path returns. */
typedef void (*ak_dot4_fn)(int64_t n, const void *w, const void *x, size_t x_stride, float *out);
extern const ak_dot4_fn ak_dot4_avx2[AK_TYPE_COUNT];

#endif
