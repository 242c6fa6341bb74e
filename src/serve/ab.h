/* ab.h - A/B tests: variants from --ab NAME=POLICY:SHARE,..., stable assignment by FNV-1a
 * of the user (or request id), and per-variant samples with Welch intervals. */
#ifndef AK_SERVE_AB_H
#define AK_SERVE_AB_H

#include <stddef.h>

#include "adaptivek.h"
#include "serve/sbuf.h"

#define AK_MAX_VARIANTS 8

typedef struct {
    char name[32];      /* [A-Za-z0-9_-]+ */
    char policy[256];   /* as given: fixed, fixed@K, entropy, entropy@AVGK, top-p@P, ratio@R, default, or a path */
    double share;       /* normalised so the shares sum to 1 */
    ak_router_config cfg;
    int native;         /* route with the model's own top-k (cfg unused) */
} ak_variant;

/* Parses the spec into names, policies and shares (configs are built later, once the model
 * is known). Returns 0, or -1 with a message. */
int ak_ab_parse(const char *spec, ak_variant *v, int max, int *n, ak_error *err);
/* The variant for a key: FNV-1a 64 of the key mapped to [0, 1), against cumulative shares. */
int ak_ab_assign(const ak_variant *v, int n, const char *key, size_t len);

/* Samples kept per variant and series for the latency percentiles (a uniform reservoir
 * once there are more); means and variances cover every sample. */
#define AK_AB_RESERVOIR 4096

typedef struct ak_ab_stats ak_ab_stats;
ak_ab_stats *ak_ab_stats_new(int n_variants);
void ak_ab_stats_free(ak_ab_stats *a);
/* One successful request. mean_logprob is used only when has_logprob (tokens were generated). */
void ak_ab_record(ak_ab_stats *a, int variant, double latency_s, double tokens_per_s, double avg_k,
                  double mean_logprob, int has_logprob);
/* Bytes the statistics hold (bounded: AK_AB_RESERVOIR samples per variant and series). */
size_t ak_ab_stats_bytes(ak_ab_stats *a);
/* JSON: per variant requests, latency mean/p50/p95, tokens/s, average K, mean log-prob; and each
 * variant against the first: difference of means with a 95% Welch interval. */
int ak_ab_results_json(ak_ab_stats *a, const ak_variant *v, int n, ak_sbuf *out);

#endif
