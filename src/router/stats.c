/* stats.c - per-layer routing statistics. */
#include <math.h>
#include <string.h>

#include "router/router_internal.h"

void ak_stats_init(ak_layer_stats *s, int n_experts, int k_native) {
    memset(s, 0, sizeof *s);
    s->n_experts = n_experts;
    s->k_native = k_native;
}

void ak_stats_add(ak_layer_stats *s, const ak_route_out *out) {
    if (!s || !out || !out->k) return;
    float ln_n = s->n_experts > 1 ? logf((float)s->n_experts) : 1.0f;
    for (int t = 0; t < out->n_tokens; t++) {
        int k = out->k[t];
        if (k < 0) k = 0;
        if (k > AK_MAX_EXPERTS) k = AK_MAX_EXPERTS;
        s->k_hist[k]++;
        s->k_sum += (uint64_t)k;
        s->n_tokens++;
        if (out->entropy) {
            float h = out->entropy[t];
            int bin = (int)(h / ln_n * AK_ENTROPY_BINS);
            if (bin < 0) bin = 0;
            if (bin >= AK_ENTROPY_BINS) bin = AK_ENTROPY_BINS - 1;
            s->entropy_hist[bin]++;
            s->entropy_sum += h;
            s->n_entropy++;
        }
    }
}

void ak_stats_merge(ak_layer_stats *dst, const ak_layer_stats *src) {
    dst->n_tokens += src->n_tokens;
    dst->k_sum += src->k_sum;
    dst->n_entropy += src->n_entropy;
    dst->entropy_sum += src->entropy_sum;
    for (int k = 0; k <= AK_MAX_EXPERTS; k++) dst->k_hist[k] += src->k_hist[k];
    for (int b = 0; b < AK_ENTROPY_BINS; b++) dst->entropy_hist[b] += src->entropy_hist[b];
}

double ak_stats_avg_k(const ak_layer_stats *s) {
    return s->n_tokens ? (double)s->k_sum / (double)s->n_tokens : 0.0;
}

double ak_stats_avg_entropy(const ak_layer_stats *s) {
    return s->n_entropy ? s->entropy_sum / (double)s->n_entropy : 0.0;
}

double ak_stats_saved(const ak_layer_stats *s) {
    if (s->k_native <= 0 || s->n_tokens == 0) return 0.0;
    return 1.0 - ak_stats_avg_k(s) / (double)s->k_native;
}

double ak_stats_entropy_percentile(const ak_layer_stats *s, double q) {
    if (s->n_entropy == 0) return 0.0;
    if (q < 0.0) q = 0.0;
    if (q > 1.0) q = 1.0;
    double ln_n = s->n_experts > 1 ? log((double)s->n_experts) : 1.0;
    double need = q * (double)s->n_entropy;
    uint64_t cum = 0;
    int b = 0;
    for (; b < AK_ENTROPY_BINS - 1; b++) {
        cum += s->entropy_hist[b];
        if ((double)cum >= need && cum > 0) break;
    }
    return (b + 0.5) / AK_ENTROPY_BINS * ln_n;
}
