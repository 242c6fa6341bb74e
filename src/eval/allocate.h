/*
 * allocate.h - per-layer expert budgets from a sensitivity profile (profile.h), and a
 * token-level rule inside each layer calibrated to that layer's budget.
 *
 * For a rule family and each layer, a cost curve over budgets b (average K in that layer,
 * 1..K in steps of 1/16): the mean proxy cost (scaled by alpha, so predicted KL when the
 * profile has exact runs) of the tokens' K under the rule calibrated to b.
 *   fixed:   integer b only; every token runs b experts.
 *   ratio:   keep rank i while p_i >= r p_0, K in [k_min, K]; for each b the k_min with
 *            the lowest cost is kept. Because the kept ranks are a prefix of each token's
 *            list ordered by p_i / p_0, the whole curve comes from one sort per k_min.
 *   top-p:   the same with the cumulative probability before rank i as the key.
 *   threshold: the same with p_i itself as the key (keep rank i while p_i >= p_min).
 *   entropy: the seeds' levels ({1,2,4}, or {1, K/2, K}) calibrated to b (every 1/4,
 *            interpolated between).
 * Dynamic programming then picks one budget per layer minimising the summed cost with
 * the budgets summing exactly to n_layer x target (the last 1/16 step goes to the layer
 * where it costs least), and each layer's policy is calibrated to its budget on the
 * profile's router logits (ak_calibrate_policy). The result is an ordinary per-layer
 * router config.
 */
#ifndef AK_EVAL_ALLOCATE_H
#define AK_EVAL_ALLOCATE_H

#include "adaptivek.h" /* ak_error */
#include <stdint.h>
#include <stdio.h>

#include "eval/compare.h"
#include "eval/perplexity.h"
#include "eval/profile.h"

typedef enum {
    AK_RULE_FIXED = 0,
    AK_RULE_RATIO,
    AK_RULE_TOP_P,
    AK_RULE_THRESHOLD,
    AK_RULE_ENTROPY,
    AK_RULE_COUNT
} ak_alloc_rule;

const char *ak_alloc_rule_name(ak_alloc_rule r); /* "fixed", "ratio", "top-p", "threshold", "entropy" */
int ak_alloc_rule_parse(const char *name, ak_alloc_rule *r); /* 0 on success */

typedef struct {
    ak_alloc_rule rule;
    double target;
    int n_layer;
    double *budget;     /* [n_layer] average K allocated to each layer; they sum to n_layer * target */
    int *k_min;         /* [n_layer] the floor chosen for ratio and top-p (1 otherwise) */
    double predicted;   /* summed cost of the budgets (predicted KL in nats with exact runs) */
    double achieved;    /* average K of the config on the profile's router logits */
} ak_allocation;

void ak_allocation_free(ak_allocation *a);

/* Allocates budgets for target average K (0 < target <= k_native) with rule and writes the
 * per-layer config (caller frees with ak_config_free). 0, or -1 with a message. */
int ak_allocate(const ak_profile *p, ak_alloc_rule rule, double target, ak_allocation *out, ak_router_config *cfg,
                ak_error *err);

/* Builds the config of given per-layer budgets (and floors) with rule, calibrating each
 * layer's policy on the profile's router logits; *achieved: its average K there. */
int ak_allocation_config(const ak_profile *p, const ak_allocation *a, ak_router_config *cfg, double *achieved,
                         ak_error *err);

/* Does the predicted cost rank allocations as measured KL and NLL do? n_random allocations
 * around the optimum of rule at target (and uniform and the optimum itself) are built,
 * predicted and measured on the chunks of tokens; prints one line each and the Spearman
 * correlations; *rho_kl, *rho_nll receive them. */
int ak_allocation_check(const ak_profile *p, ak_alloc_rule rule, double target, int n_random, ak_context *c,
                        const int32_t *tokens, int64_t n, const ak_ppl_params *pp, FILE *out, double *rho_kl,
                        double *rho_nll, ak_error *err);

/* Allocates with every rule use_rule[r] != 0 marks and keeps the one with the lowest mean
 * NLL (by_kl: the lowest mean KL to native, for token sequences without meaning) over the
 * held-out chunks of tokens; a line per rule goes to report (may be NULL). */
int ak_allocate_choose(const ak_profile *p, const int *use_rule, double target, int by_kl, ak_context *c,
                       const int32_t *tokens, int64_t n, const ak_ppl_params *pp, ak_allocation *out,
                       ak_router_config *cfg, FILE *report, ak_error *err);

#endif
