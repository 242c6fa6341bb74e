/* route_stats.h - routing every layer of a logits array through a router config, with
 * the statistics the routing commands print: K histograms, average K, compute saved
 * against a native top-k, and exact entropy percentiles. */
#ifndef AK_ROUTE_STATS_H
#define AK_ROUTE_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "adaptivek.h"

typedef struct {
    int n_layers, n_tokens, n_experts;
    int slots;          /* ids/weights per token: the largest max K over the layers */
    uint64_t *k_hist;   /* [n_layers][n_experts + 1]: tokens of layer l that chose K = k */
    float *entropy;     /* [n_layers][n_tokens] nats */
    /* one layer's routing output, reused for every layer */
    ak_route_out out;
} ak_route_run;

/* Called after each layer is routed (out holds that layer); non-zero stops the run. */
typedef int (*ak_route_sink)(void *ctx, int layer, const ak_route_out *out, ak_error *err);

ak_status ak_route_run_init(ak_route_run *r, const ak_router_config *c, int n_layers, int n_tokens, int n_experts,
                            ak_error *err);
/* Routes logits [n_layers][n_tokens][n_experts]; errors name the layer. */
ak_status ak_route_run_all(ak_route_run *r, const ak_router_config *c, const float *logits, ak_route_sink sink,
                           void *ctx, ak_error *err);
void ak_route_run_free(ak_route_run *r);

/* layer -1: all layers together */
double ak_route_run_avg_k(const ak_route_run *r, int layer);
/* Exact percentile (linear interpolation between order statistics, as numpy's default)
 * of the entropies of one layer or all (-1); q in [0,1]. Sorts a copy. */
double ak_route_run_entropy_percentile(const ak_route_run *r, int layer, double q);
/* Percentiles q[0..n) in one sort. */
void ak_route_run_entropy_percentiles(const ak_route_run *r, int layer, const double *q, int n, double *out);

/* The summary of `adaptive-k route`: per-layer table, K histogram with bars, savings. */
void ak_route_run_print_summary(const ak_route_run *r, int k_native, FILE *out);

#endif
