/* gate_avx2.c - the softmax row kernel compiled with AVX2+FMA (see gate.c). */
#include "router/router_internal.h"

#define SOFTMAX_ROW_NAME ak_softmax_row_avx2
#define ROUTE_ROW_NAME ak_route_row_avx2
#include "router/softmax_kernel.h"
