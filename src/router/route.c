/* route.c - route a batch of tokens through one layer's policy.
 *
 * Per token: softmax + entropy (gate.c), then the top max_k experts by partial selection
 * (insertion into a sorted window of max_k slots: one compare per expert for most experts,
 * no full sort), then K from the policy. Ties in probability go to the lower expert id:
 * experts are scanned in id order and an equal value never displaces an earlier one. */
#include <math.h>
#include <string.h>

#include "router/router_internal.h"

/* Keep the m largest of p[0..n) in descending order in top_p/top_id. */
static void select_top(const float *p, int n, int m, float *top_p, int32_t *top_id) {
    int count = 0;
    for (int i = 0; i < n; i++) {
        float v = p[i];
        if (count == m) {
            if (!(v > top_p[m - 1])) continue;
            count--;
        }
        int j = count++;
        while (j > 0 && v > top_p[j - 1]) {
            top_p[j] = top_p[j - 1];
            top_id[j] = top_id[j - 1];
            j--;
        }
        top_p[j] = v;
        top_id[j] = (int32_t)i;
    }
}

ak_status ak_route(const ak_policy *policy, const float *logits, int n_tokens, int n_experts,
                   int renormalize, ak_route_out *out, ak_error *err) {
    if (!policy || !logits || !out)
        return ak_fail(err, AK_ERR_INVALID_ARG, "route: policy, logits and out must not be NULL");
    if (n_tokens <= 0)
        return ak_fail(err, AK_ERR_INVALID_ARG, "route: n_tokens=%d, need at least one token",
                       n_tokens);
    ak_status st = ak_policy_validate(policy, n_experts, err);
    if (st != AK_OK) return st;
    int m = ak_policy_max_k(policy, n_experts);
    if (out->slots < m)
        return ak_fail(err, AK_ERR_INVALID_ARG,
                       "route: out->slots=%d is less than the policy's max K %d", out->slots, m);
    if (!out->k || !out->ids || !out->weights)
        return ak_fail(err, AK_ERR_INVALID_ARG, "route: out->k, ids and weights must be allocated");
    if (out->n_tokens != 0 && out->n_tokens < n_tokens)
        return ak_fail(err, AK_ERR_INVALID_ARG, "route: out has room for %d tokens, got %d",
                       out->n_tokens, n_tokens);

    float thr[AK_MAX_LEVELS];
    if (policy->kind == AK_POLICY_ENTROPY) ak_policy_thresholds_nats(policy, n_experts, thr);
    float probs[AK_MAX_EXPERTS];
    float top_p[AK_MAX_EXPERTS];
    const int slots = out->slots;
    const ak_softmax_row_fn softmax_row = ak_softmax_row_select();

    for (int t = 0; t < n_tokens; t++) {
        const float *z = logits + (size_t)t * (size_t)n_experts;
        float h = 0.0f;
        int bad = softmax_row(z, n_experts, probs, &h);
        if (bad >= 0)
            return ak_fail(err, AK_ERR_NONFINITE, "route: logit of token %d, expert %d is %s", t,
                           bad, isnan(z[bad]) ? "NaN" : "Inf");
        int32_t *ids = out->ids + (size_t)t * (size_t)slots;
        float *w = out->weights + (size_t)t * (size_t)slots;
        select_top(probs, n_experts, m, top_p, ids);
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
