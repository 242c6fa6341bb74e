/* gate.c - softmax + entropy of a router row (kernel: softmax_kernel.h), units.
 *
 * The kernel is compiled for baseline x86-64 here and for AVX2+FMA in gate_avx2.c; the
 * AVX2 build is used when the CPU has it (checked once). */
#include <math.h>
#include <stdatomic.h>

#include "router/router_internal.h"

#define SOFTMAX_ROW_NAME softmax_row_generic
#define ROUTE_ROW_NAME route_row_generic
#include "router/softmax_kernel.h"

#if defined(AK_ROUTER_HAVE_AVX2)
int ak_softmax_row_avx2(const float *z, int n, float *p, float *h_nats);
int ak_route_row_avx2(const float *z, int n, int m, float *p, float *h_nats, float *top_p,
                      int32_t *top_id);

static int cpu_has_avx2_fma(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

static atomic_int has_avx2 = -1; /* racing first callers all store the same value */

void ak_router_use_simd(int enable) {
    atomic_store_explicit(&has_avx2, enable ? -1 : 0, memory_order_relaxed);
}

#if defined(AK_ROUTER_HAVE_AVX2)
static int use_avx2(void) {
    int has = atomic_load_explicit(&has_avx2, memory_order_relaxed);
    if (has < 0) {
        has = cpu_has_avx2_fma();
        atomic_store_explicit(&has_avx2, has, memory_order_relaxed);
    }
    return has;
}
#endif

ak_softmax_row_fn ak_softmax_row_select(void) {
#if defined(AK_ROUTER_HAVE_AVX2)
    if (use_avx2()) return ak_softmax_row_avx2;
#endif
    return softmax_row_generic;
}

ak_route_row_fn ak_route_row_select(void) {
#if defined(AK_ROUTER_HAVE_AVX2)
    if (use_avx2()) return ak_route_row_avx2;
#endif
    return route_row_generic;
}

int ak_softmax_row(const float *z, int n, float *p, float *h_nats) {
    return ak_softmax_row_select()(z, n, p, h_nats);
}

ak_status ak_softmax_entropy(const float *logits, int n_experts, float *probs, float *entropy_nats,
                             ak_error *err) {
    if (!logits || !probs)
        return ak_error_setf(err, AK_ERR_INVALID_ARG, "softmax: logits and probs must not be NULL");
    if (n_experts < 1 || n_experts > AK_MAX_EXPERTS)
        return ak_error_setf(err, AK_ERR_INVALID_ARG, "softmax: n_experts %d out of range 1..%d",
                       n_experts, AK_MAX_EXPERTS);
    int bad = ak_softmax_row(logits, n_experts, probs, entropy_nats);
    if (bad >= 0)
        return ak_error_setf(err, AK_ERR_NONFINITE, "softmax: logit of expert %d is %s", bad,
                       isnan(logits[bad]) ? "NaN" : "Inf");
    return AK_OK;
}

float ak_log_softmax_at(const float *logits, int n, int id, float *scratch) {
    float h;
    if (!logits || !scratch || n < 1 || id < 0 || id >= n || ak_softmax_row(logits, n, scratch, &h) >= 0) return NAN;
    return logf(scratch[id]);
}

static float unit_scale(ak_entropy_unit unit, int n_experts) {
    switch (unit) {
    case AK_ENTROPY_BITS: return (float)M_LN2;
    case AK_ENTROPY_NORMALIZED: return n_experts > 1 ? logf((float)n_experts) : 1.0f;
    case AK_ENTROPY_NATS: break;
    }
    return 1.0f;
}

float ak_entropy_to_unit(float h_nats, ak_entropy_unit unit, int n_experts) {
    return h_nats / unit_scale(unit, n_experts);
}

float ak_entropy_from_unit(float h, ak_entropy_unit unit, int n_experts) {
    return h * unit_scale(unit, n_experts);
}
