/* metrics.h - the server's Prometheus metrics (text exposition format 0.0.4):
 *   adaptive_k_selected{layer}                 histogram of K per token (prompt and generated)
 *   adaptive_k_entropy{layer}                  histogram of router entropy per token, nats
 *   adaptive_k_latency_seconds{variant}        request latency, arrival to last byte produced
 *   adaptive_k_time_to_first_token_seconds{variant}
 *   adaptive_k_avg_k{variant}, adaptive_k_compute_saved_ratio{variant}   gauges since start
 *   adaptive_k_requests_total{status,variant}, adaptive_k_tokens_total{kind,variant}
 *   adaptive_k_batch_steps_total, _sequences_total, _tokens_total, and
 *   adaptive_k_batch_expert_bytes_total{routing=chosen|native}   continuous batching
 *   adaptive_k_layers_total{kind=run|native}, adaptive_k_exit_tokens_total,
 *   adaptive_k_exit_checks_total, adaptive_k_pruned_tokens_total,
 *   adaptive_k_model_compute_saved_ratio{by=adaptive_k|early_exit|pruning|all}   early exit, pruning
 *   adaptive_k_queue_depth, adaptive_k_requests_running
 * Thread-safe (one mutex). */
#ifndef AK_SERVE_METRICS_H
#define AK_SERVE_METRICS_H

#include <stdint.h>

#include "serve/sbuf.h"

/* Entropy buckets: these fractions of ln(n_experts), then +Inf. */
#define AK_METRICS_H_BUCKETS 11

typedef struct ak_metrics ak_metrics;

/* variant_names: n_variants names (label values, [a-zA-Z0-9_-] only). */
ak_metrics *ak_metrics_new(int n_layer, int n_expert, int n_variants, const char *const *variant_names);
void ak_metrics_free(ak_metrics *m);
/* The bucket (0..AK_METRICS_H_BUCKETS, the last being +Inf only) a token's entropy falls in:
 * the first whose upper bound is >= h. */
int ak_metrics_entropy_bucket(const ak_metrics *m, float h_nats);
/* One request's routing: k_hist [n_layer][n_expert + 1] token counts by K, h_hist
 * [n_layer][AK_METRICS_H_BUCKETS + 1] counts by entropy bucket, h_sum [n_layer]. */
void ak_metrics_add_routing(ak_metrics *m, const uint64_t *k_hist, const uint64_t *h_hist, const double *h_sum);
/* One finished request. variant in 0..n_variants-1; ttft_s < 0: no token was produced. */
void ak_metrics_add_request(ak_metrics *m, int variant, int status, double latency_s, double ttft_s,
                            int prompt_tokens, int completion_tokens, uint64_t k_sum, uint64_t routed,
                            uint64_t expert_macs, uint64_t expert_macs_native);
/* One batched forward pass of n_seq requests and n_tok tokens, and the expert bytes it read
 * (with the routing used, and what the native top-k of its tokens would have read). */
void ak_metrics_add_step(ak_metrics *m, int n_seq, int n_tok, uint64_t expert_bytes, uint64_t expert_bytes_native);
/* One request's early exit and pruning (ak_compute_counters' fields; saved_k: the expert
 * MACs adaptive K saved on the layers that ran). */
typedef struct {
    uint64_t layers_run, layers_native, exit_tokens, exit_checks, pruned_tokens;
    uint64_t model_macs, model_macs_native, saved_k, saved_prune;
    int64_t saved_exit;
} ak_metrics_skip;
void ak_metrics_add_skip(ak_metrics *m, const ak_metrics_skip *k);
int ak_metrics_render(ak_metrics *m, ak_sbuf *out, int queue_depth, int running);

#endif
