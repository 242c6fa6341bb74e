/* router_internal.h - helpers shared by the files of libadaptivek (not public). */
#ifndef AK_ROUTER_INTERNAL_H
#define AK_ROUTER_INTERNAL_H

#include "adaptivek.h"
#include "base/errfmt.h" /* ak_error_setf: err (when not NULL) = code + message; returns code */

/* Softmax of one row into p, entropy (nats) into *h_nats when not NULL. Returns -1, or the
 * index of the first non-finite logit (p is then unspecified). */
int ak_softmax_row(const float *z, int n, float *p, float *h_nats);

/* The row kernel for this CPU (AVX2+FMA build when available); resolve once per batch. */
typedef int (*ak_softmax_row_fn)(const float *z, int n, float *p, float *h_nats);
ak_softmax_row_fn ak_softmax_row_select(void);

/* Softmax + entropy + the m (1..n) largest probabilities in top_p/top_id, descending with
 * the lower id first on ties. Returns -1 or the index of the first non-finite logit. */
typedef int (*ak_route_row_fn)(const float *z, int n, int m, float *p, float *h_nats,
                               float *top_p, int32_t *top_id);
ak_route_row_fn ak_route_row_select(void);

/* Tests: enable = 0 forces the baseline kernel, 1 restores the run-time choice. */
void ak_router_use_simd(int enable);

/* Entropy policy thresholds converted to nats. */
void ak_policy_thresholds_nats(const ak_policy *p, int n_experts, float *out);

/* ak_select_k with entropy thresholds already in nats (thr_nats unused by other kinds). */
int ak_select_k_nats(const ak_policy *policy, const float *sorted_p, int n_experts,
                     float entropy_nats, const float *thr_nats);

/* K for an entropy policy given thresholds already in nats. */
static inline int ak_entropy_level_k(const ak_policy *p, const float *thr_nats, float h) {
    int level = 0;
    while (level < p->n_levels - 1 && h >= thr_nats[level]) level++;
    return p->k_values[level];
}

#endif
