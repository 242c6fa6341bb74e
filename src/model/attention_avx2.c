/* attention_avx2.c - the attention tile kernel (attn_kernel.h) built for AVX2+FMA+F16C;
 * attention.c uses it when the quant kernels run AVX2 (ak_quant_simd). Built without
 * those flags (another architecture), it reports so and is never called. */
#include "model/attention.h"

#if defined(__AVX2__) && defined(__FMA__)
#define ATTN_KERNEL_NAME ak_attn_kernel_avx2
#include "model/attn_kernel.h"

int ak_attn_avx2_built(void) { return 1; }
#else
void ak_attn_kernel_avx2(const attn_cache *d, const uint8_t *k, const uint8_t *v, int n_rows, const float *q,
                         const int *vis_lo, const int *vis_hi, int key_lo, int key_hi, float *m, float *l, float *acc,
                         float *work) {
    ak_attn_kernel_generic(d, k, v, n_rows, q, vis_lo, vis_hi, key_lo, key_hi, m, l, acc, work);
}

int ak_attn_avx2_built(void) { return 0; }
#endif
