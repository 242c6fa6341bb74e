/* gating.c - how an architecture's router turns logits into chosen experts and weights.
 *
 * Softmax routers (olmoe, qwen*, mixtral, gpt-oss) go to libadaptivek's ak_route. deepseek2
 * (llama.cpp's build_moe_ffn with its keys) scores the experts with a softmax (V2) or a
 * sigmoid (V3) of the logits, selects by score + exp_probs_b (the selection bias), only
 * within the n_group_used groups whose two best selection scores sum highest, and weighs
 * the chosen experts by their unbiased scores (divided by their sum when
 * expert_weights_norm; the engine multiplies by expert_weights_scale afterwards).
 *
 * Adaptive policies on such a router choose K along the model's own selection order, from
 * q = the eligible experts' unbiased scores normalised to sum to 1 (for V2 the softmax
 * renormalised over the eligible groups, for V3 the sigmoids normalised):
 *   fixed k     the first k in selection order (k = native top-k: exactly llama.cpp)
 *   top-p p     the shortest prefix of the selection order whose q sum reaches p
 *   ratio r     the prefix while q stays >= r * q of the first
 *   threshold   the prefix while q stays >= p_min
 *   entropy     the level of H(q) over the eligible experts (normalised units: ln of their number)
 * With a bias, q need not decrease along the selection order; the prefix rules above are
 * then what a user of that order can mean, and they reduce to the softmax definitions when
 * there is no bias and no grouping. */
#include <math.h>
#include <string.h>

#include "base/errfmt.h"
#include "model/model_internal.h"

/* The eligible experts in selection order (descending sel, ties by index) into order;
 * returns how many. sel of the experts outside the chosen groups is -inf. */
static int selection_order(const ak_hparams *hp, float *sel, int *order) {
    const int X = hp->n_expert;
    if (hp->n_group > 1) {
        const int per = X / hp->n_group;
        float gscore[AK_MAX_EXPERTS];
        int keep[AK_MAX_EXPERTS];
        for (int g = 0; g < hp->n_group; g++) keep[g] = 0;
        for (int g = 0; g < hp->n_group; g++) { /* the sum of the group's two best */
            float b1 = -INFINITY, b2 = -INFINITY;
            for (int i = g * per; i < (g + 1) * per; i++) {
                if (sel[i] > b1) b2 = b1, b1 = sel[i];
                else if (sel[i] > b2) b2 = sel[i];
            }
            gscore[g] = b1 + b2;
        }
        for (int u = 0; u < hp->n_group_used; u++) {
            int best = -1;
            for (int g = 0; g < hp->n_group; g++)
                if (!keep[g] && (best < 0 || gscore[g] > gscore[best])) best = g;
            keep[best] = 1;
        }
        for (int i = 0; i < X; i++)
            if (!keep[i / per]) sel[i] = -INFINITY;
    }
    int n = 0;
    for (int i = 0; i < X; i++) /* insertion into descending order (stable for ties) */
        if (sel[i] != -INFINITY) {
            int j = n++;
            while (j > 0 && sel[order[j - 1]] < sel[i]) order[j] = order[j - 1], j--;
            order[j] = i;
        }
    return n;
}

/* One token's scores (softmax or sigmoid of z), its eligible experts in selection order
 * (order, returned count n) and q, their scores normalised to sum 1 in that order. */
static int token_distribution(const ak_hparams *hp, const float *bias, const float *z, float *score, int *order,
                              float *q) {
    const int X = hp->n_expert;
    float sel[AK_MAX_EXPERTS];
    if (hp->gating == AK_GATING_DS_SIGMOID) {
        for (int i = 0; i < X; i++) score[i] = 1.0f / (1.0f + expf(-z[i]));
    } else { /* softmax in float, as ggml_soft_max */
        float mx = -INFINITY, sum = 0.0f;
        for (int i = 0; i < X; i++) mx = fmaxf(mx, z[i]);
        for (int i = 0; i < X; i++) sum += (score[i] = expf(z[i] - mx));
        for (int i = 0; i < X; i++) score[i] /= sum;
    }
    for (int i = 0; i < X; i++) sel[i] = score[i] + (bias ? bias[i] : 0.0f);
    const int n = selection_order(hp, sel, order);
    double qsum = 0.0;
    for (int j = 0; j < n; j++) qsum += score[order[j]];
    for (int j = 0; j < n; j++) q[j] = (float)(score[order[j]] / qsum);
    return n;
}

/* One token: scores, selection, K by the policy, ids and weights. */
static void route_token_ds(const ak_hparams *hp, const float *bias, const ak_policy *pol, const float *z, int slots,
                           int *k_out, int32_t *ids, float *w, float *h_out) {
    float score[AK_MAX_EXPERTS], q[AK_MAX_EXPERTS];
    int order[AK_MAX_EXPERTS];
    const int n = token_distribution(hp, bias, z, score, order, q);
    double h = 0.0;
    for (int j = 0; j < n; j++)
        if (q[j] > 0.0f) h -= (double)q[j] * log((double)q[j]);
    int k = n > 0 ? ak_select_k(pol, q, n, (float)h) : 0; /* n >= 1: a kept group has experts */
    if (k > n) k = n;
    if (k > slots) k = slots;
    float wsum = 0.0f;
    for (int j = 0; j < k; j++) ids[j] = order[j], w[j] = score[order[j]], wsum += w[j];
    if (hp->renormalize) { /* as ggml: the sum clamped to f16's smallest normal */
        if (wsum < 6.103515625e-5f) wsum = 6.103515625e-5f;
        for (int j = 0; j < k; j++) w[j] /= wsum;
    }
    for (int j = k; j < slots; j++) ids[j] = -1, w[j] = 0.0f;
    *k_out = k;
    if (h_out) *h_out = (float)h;
}

int ak_gate_route(const ak_context *c, int il, const ak_policy *pol, const float *logits, int n, ak_route_out *ro,
                  ak_error *err) {
    const ak_hparams *hp = &c->hp;
    const int X = hp->n_expert;
    if (hp->gating == AK_GATING_SOFTMAX) {
        ak_error e;
        if (ak_route(pol, logits, n, X, hp->renormalize, ro, &e) != AK_OK)
            return ak_failf(err, e.code, "layer %d routing: %s", il, e.msg);
        return 0;
    }
    const float *bias = c->model->layers[il].exp_probs_b;
    for (int t = 0; t < n; t++) {
        const float *z = logits + (size_t)t * X;
        for (int i = 0; i < X; i++)
            if (!isfinite(z[i]))
                return ak_failf(err, AK_ERR_NONFINITE, "layer %d routing: token %d, expert %d: router logit is not finite",
                                il, t, i);
        route_token_ds(hp, bias, pol, z, ro->slots, &ro->k[t], ro->ids + (size_t)t * ro->slots,
                       ro->weights + (size_t)t * ro->slots, ro->entropy ? &ro->entropy[t] : NULL);
    }
    return 0;
}

/* For calibration on recorded logits (which fits softmax policies): logits whose softmax is
 * the distribution the policies read. A softmax router's are its own; for deepseek2's and
 * nemotron_h_moe's routers, log q of the eligible experts and -1e30 (probability 0) for the
 * others. The entropy of q, and so an entropy policy's K, is then exactly the engine's; the
 * prefix rules (top-p, ratio, threshold) rank by q instead of the selection order, which is
 * the same unless the selection bias reorders the eligible experts. */
void ak_model_policy_logits(const ak_model *m, int il, const float *logits, int n_tokens, float *out) {
    const ak_hparams *hp = &m->hp;
    const int X = hp->n_expert;
    if (hp->gating == AK_GATING_SOFTMAX || il < 0 || il >= hp->n_layer) {
        memcpy(out, logits, (size_t)n_tokens * (size_t)X * sizeof *out);
        return;
    }
    const float *bias = m->layers[il].exp_probs_b;
    for (int t = 0; t < n_tokens; t++) {
        float score[AK_MAX_EXPERTS], q[AK_MAX_EXPERTS];
        int order[AK_MAX_EXPERTS];
        float *o = out + (size_t)t * X;
        const int n = token_distribution(hp, bias, logits + (size_t)t * X, score, order, q);
        for (int i = 0; i < X; i++) o[i] = -1e30f;
        for (int j = 0; j < n; j++) o[order[j]] = q[j] > 0.0f ? logf(q[j]) : -1e30f;
    }
}
