/* kl.c - KL divergence statistics against a base run (see kl.h). */
#include "eval/kl.h"

#include <math.h>
#include <string.h>

void ak_kl_init(ak_kl_stats *s) { memset(s, 0, sizeof *s); }

double ak_kl_add(ak_kl_stats *s, const float *base_logp, int32_t base_argmax, double nll_base, const float *logits,
                 int n_vocab, int32_t tok) {
    int32_t imax = 0;
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > logits[imax]) imax = i;
    const double max = logits[imax];
    double sum = 0.0;
    for (int i = 0; i < n_vocab; i++) sum += exp((double)logits[i] - max);
    const double lse = max + log(sum); /* log q_i = logits[i] - lse */
    if (base_argmax < 0) {
        base_argmax = 0;
        for (int i = 1; i < n_vocab; i++)
            if (base_logp[i] > base_logp[base_argmax]) base_argmax = i;
    }
    if (isnan(nll_base)) nll_base = -(double)base_logp[tok];

    double kld = 0.0;
    for (int i = 0; i < n_vocab; i++) {
        if (base_logp[i] == -INFINITY) continue;
        const double lp = base_logp[i];
        kld += exp(lp) * (lp - ((double)logits[i] - lse));
    }
    const double nll = lse - (double)logits[tok];
    s->count++;
    s->n_same_top += imax == base_argmax;
    s->sum_nll += nll;
    s->sum_nll2 += nll * nll;
    s->sum_nll_base += nll_base;
    s->sum_nll_base2 += nll_base * nll_base;
    s->sum_nll_nll_base += nll * nll_base;
    s->sum_kld += kld;
    s->sum_kld2 += kld * kld;
    if (kld > s->max_kld) s->max_kld = kld;
    return kld;
}

void ak_kl_merge(ak_kl_stats *dst, const ak_kl_stats *src) {
    dst->count += src->count;
    dst->n_same_top += src->n_same_top;
    dst->sum_nll += src->sum_nll;
    dst->sum_nll2 += src->sum_nll2;
    dst->sum_nll_base += src->sum_nll_base;
    dst->sum_nll_base2 += src->sum_nll_base2;
    dst->sum_nll_nll_base += src->sum_nll_nll_base;
    dst->sum_kld += src->sum_kld;
    dst->sum_kld2 += src->sum_kld2;
    if (src->max_kld > dst->max_kld) dst->max_kld = src->max_kld;
}

/* Mean of n values from their sums, and the standard error of the mean. */
static void mean_err(double sum, double sum2, int64_t n, double *mean, double *err) {
    *mean = n > 0 ? sum / (double)n : NAN;
    const double var = n > 0 ? sum2 / (double)n - *mean * *mean : 0.0;
    *err = var > 0 && n > 1 ? sqrt(var / (double)(n - 1)) : 0.0;
}

void ak_kl_summarize(const ak_kl_stats *s, ak_kl_summary *o) {
    memset(o, 0, sizeof *o);
    const int64_t n = s->count;
    o->count = n;
    if (n <= 0) return;
    double m, u, mb, ub;
    mean_err(s->sum_kld, s->sum_kld2, n, &o->kld, &o->kld_err);
    o->kld_max = s->max_kld;
    o->same_top = (double)s->n_same_top / (double)n;
    o->same_top_err = n > 1 ? sqrt(o->same_top * (1.0 - o->same_top) / (double)(n - 1)) : 0.0;
    mean_err(s->sum_nll, s->sum_nll2, n, &m, &u);
    mean_err(s->sum_nll_base, s->sum_nll_base2, n, &mb, &ub);
    o->ppl = exp(m);
    o->ppl_err = o->ppl * u;
    o->ppl_base = exp(mb);
    o->ppl_base_err = o->ppl_base * ub;
    const double cov = n > 1 ? (s->sum_nll_nll_base / (double)n - m * mb) / (double)(n - 1) : 0.0;
    const double v = u * u + ub * ub - 2.0 * cov;
    o->ln_ratio = m - mb;
    o->ln_ratio_err = v > 0 ? sqrt(v) : 0.0;
    o->ratio = exp(o->ln_ratio);
    o->ratio_err = o->ratio * o->ln_ratio_err;
}
