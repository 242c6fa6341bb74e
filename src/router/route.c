/* route.c - route a batch of tokens through one layer's policy.
 *
 * Per token: softmax + entropy + the top max_k experts by partial selection (one kernel,
 * softmax_kernel.h: a vector prefilter on the logits, then a sorted window of the few
 * candidates; no full sort), then K from the policy. Experts are ranked by logit (the
 * probability order); equal logits go to the lower expert id: candidates are visited in id
 * order and an equal value never displaces an earlier one. */
#include <math.h>
#include <string.h>

#include "router/router_internal.h"

ak_status ak_route(const ak_policy *policy, const float *logits, int n_tokens, int n_experts,
                   int renormalize, ak_route_out *out, ak_error *err) {
    if (!policy || !logits || !out)
        return ak_error_setf(err, AK_ERR_INVALID_ARG, "route: policy, logits and out must not be NULL");
    if (n_tokens <= 0)
        return ak_error_setf(err, AK_ERR_INVALID_ARG, "route: n_tokens=%d, need at least one token",
                       n_tokens);
    ak_status st = ak_policy_validate(policy, n_experts, err);
    if (st != AK_OK) return st;
    int m = ak_policy_max_k(policy, n_experts);
    if (out->slots < m)
        return ak_error_setf(err, AK_ERR_INVALID_ARG,
                       "route: out->slots=%d is less than the policy's max K %d", out->slots, m);
    if (!out->k || !out->ids || !out->weights)
        return ak_error_setf(err, AK_ERR_INVALID_ARG, "route: out->k, ids and weights must be allocated");
    if (out->n_tokens != 0 && out->n_tokens < n_tokens)
        return ak_error_setf(err, AK_ERR_INVALID_ARG, "route: out has room for %d tokens, got %d",
                       out->n_tokens, n_tokens);

    float thr[AK_MAX_LEVELS];
    if (policy->kind == AK_POLICY_ENTROPY) ak_policy_thresholds_nats(policy, n_experts, thr);
    float probs[AK_MAX_EXPERTS];
    float top_p[AK_MAX_EXPERTS];
    const int slots = out->slots;
    const ak_route_row_fn route_row = ak_route_row_select();

    for (int t = 0; t < n_tokens; t++) {
        const float *z = logits + (size_t)t * (size_t)n_experts;
        float h = 0.0f;
        int32_t *ids = out->ids + (size_t)t * (size_t)slots;
        float *w = out->weights + (size_t)t * (size_t)slots;
        int bad = route_row(z, n_experts, m, probs, &h, top_p, ids);
        if (bad >= 0)
            return ak_error_setf(err, AK_ERR_NONFINITE, "route: logit of token %d, expert %d is %s", t,
                           bad, isnan(z[bad]) ? "NaN" : "Inf");
        int k = ak_select_k_nats(policy, top_p, m, h, thr);
        float scale = 1.0f;
        if (renormalize) {
            float sum = 0.0f;
            for (int i = 0; i < k; i++) sum += top_p[i];
            scale = 1.0f / sum;
        }
        for (int i = 0; i < k; i++) w[i] = top_p[i] * scale;
        for (int i = k; i < slots; i++) {
            ids[i] = -1;
            w[i] = 0.0f;
        }
        out->k[t] = k;
        if (out->entropy) out->entropy[t] = h;
    }
    return AK_OK;
}
