/*
 * kl.h - KL divergence of a run to a base run (the full-K model), with the statistics
 * llama-perplexity reports for quantisation (--kl-divergence):
 *
 *   per scored position: KL(base || run) = sum_i p_base_i (log p_base_i - log p_run_i)
 *                        (tokens whose base probability is kept as 0 contribute nothing),
 *                        NLL of the next token under both, and whether the top-1 agrees;
 *   mean KL +/- sqrt(var / (n - 1)); same-top share +/- sqrt(s (1 - s) / (n - 1));
 *   ln(PPL/PPL_base) = mean(NLL) - mean(NLL_base), uncertainty
 *     sqrt(u^2 + u_base^2 - 2 cov) with u = sd/sqrt(n - 1), cov = (E[ab] - E[a]E[b]) / (n - 1);
 *   PPL ratio = exp(ln ratio) +/- ratio * u_ln.
 */
#ifndef AK_EVAL_KL_H
#define AK_EVAL_KL_H

#include <stdint.h>

typedef struct {
    int64_t count;
    int64_t n_same_top;
    double sum_nll, sum_nll2;
    double sum_nll_base, sum_nll_base2;
    double sum_nll_nll_base;
    double sum_kld, sum_kld2;
    double max_kld;
} ak_kl_stats;

typedef struct {
    int64_t count;
    double kld, kld_err, kld_max;
    double same_top, same_top_err;     /* share in [0, 1] */
    double ppl, ppl_err;               /* of the run */
    double ppl_base, ppl_base_err;
    double ln_ratio, ln_ratio_err;     /* ln(PPL / PPL_base) */
    double ratio, ratio_err;           /* PPL / PPL_base */
} ak_kl_summary;

void ak_kl_init(ak_kl_stats *s);

/* Adds one position. base_logp: the base's log-probabilities (-INFINITY: p = 0);
 * base_argmax and nll_base: its top token and the NLL of tok (pass base_argmax < 0 or a
 * NaN nll_base to derive them from base_logp). logits: the run's raw logits. Returns the
 * position's KL. */
double ak_kl_add(ak_kl_stats *s, const float *base_logp, int32_t base_argmax, double nll_base, const float *logits,
                 int n_vocab, int32_t tok);

void ak_kl_merge(ak_kl_stats *dst, const ak_kl_stats *src);
void ak_kl_summarize(const ak_kl_stats *s, ak_kl_summary *out);

#endif
