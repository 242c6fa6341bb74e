/* dot_avx2.c - AVX2/FMA/F16C dot kernels; only this file is built with those flags. */
#include "quant/kernels.h"

int ak_dot_avx2_available(void) { return 0; }
const ak_dot_fn ak_dot_avx2[AK_TYPE_COUNT] = {0};
