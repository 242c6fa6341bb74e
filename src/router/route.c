/* route.c - route a batch of tokens through one layer's policy.
 *
 * Per token: softmax + entropy + the top max_k experts by partial selection (one kernel,
 * softmax_kernel.h: a vector prefilter on the logits, then a sorted window of the few
 * candidates; no full sort), then K from the policy. Experts are ranked by logit (the
 * probability order); equal logits go to the lower expert id: candidates are visited in id
 * order and an equal value never displaces an earlier one.
 *
 * ak_route_f16 takes binary16 logits (what PyTorch and NumPy models often hold) without a
 * copy of the whole batch: each row is widened into a stack buffer (exact) and routed as
 * a float32 row, so both entry points make the same decisions on the same values. */
#include <math.h>
#include <string.h>

#include "quant/half.h"
#include "router/router_internal.h"

typedef struct {
    const ak_policy *policy;
    int n_experts, max_k, renormalize;
    float thr[AK_MAX_LEVELS];
    ak_route_row_fn route_row;
} route_plan;

/* The checks both entry points share; fills the plan. */
static ak_status route_prepare(route_plan *plan, const ak_policy *policy, const void *logits, int n_tokens,
                               int n_experts, int renormalize, const ak_route_out *out, ak_error *err) {
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
    plan->policy = policy;
    plan->n_experts = n_experts;
    plan->max_k = m;
    plan->renormalize = renormalize;
    if (policy->kind == AK_POLICY_ENTROPY) ak_policy_thresholds_nats(policy, n_experts, plan->thr);
    plan->route_row = ak_route_row_select();
    return AK_OK;
}

/* Routes token t from its float32 row z. */
static ak_status route_token(const route_plan *plan, const float *z, int t, ak_route_out *out, ak_error *err) {
    float probs[AK_MAX_EXPERTS];
    float top_p[AK_MAX_EXPERTS];
    const int slots = out->slots;
    float h = 0.0f;
    int32_t *ids = out->ids + (size_t)t * (size_t)slots;
    float *w = out->weights + (size_t)t * (size_t)slots;
    int bad = plan->route_row(z, plan->n_experts, plan->max_k, probs, &h, top_p, ids);
    if (bad >= 0)
        return ak_error_setf(err, AK_ERR_NONFINITE, "route: logit of token %d, expert %d is %s", t, bad,
                             isnan(z[bad]) ? "NaN" : "Inf");
    int k = ak_select_k_nats(plan->policy, top_p, plan->max_k, h, plan->thr);
    float scale = 1.0f;
    if (plan->renormalize) {
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
    return AK_OK;
}

ak_status ak_route(const ak_policy *policy, const float *logits, int n_tokens, int n_experts,
                   int renormalize, ak_route_out *out, ak_error *err) {
    route_plan plan;
    ak_status st = route_prepare(&plan, policy, logits, n_tokens, n_experts, renormalize, out, err);
    for (int t = 0; t < n_tokens && st == AK_OK; t++)
        st = route_token(&plan, logits + (size_t)t * (size_t)n_experts, t, out, err);
    return st;
}

ak_status ak_route_f16(const ak_policy *policy, const uint16_t *logits, int n_tokens, int n_experts,
                       int renormalize, ak_route_out *out, ak_error *err) {
    route_plan plan;
    ak_status st = route_prepare(&plan, policy, logits, n_tokens, n_experts, renormalize, out, err);
    float row[AK_MAX_EXPERTS];
    for (int t = 0; t < n_tokens && st == AK_OK; t++) {
        const uint16_t *src = logits + (size_t)t * (size_t)n_experts;
        for (int e = 0; e < n_experts; e++) row[e] = half_to_f32(src[e]);
        st = route_token(&plan, row, t, out, err);
    }
    return st;
}
