/* compare.c - a config's run against the native run on the same chunks (see compare.h). */
#include "eval/compare.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/kl.h"
#include "eval/logprobs.h"

struct ak_compare_base {
    ak_logprobs lp;
    float *logp;
    ak_kl_stats kl;
    int mismatch;
};

static int fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void store(void *user, int chunk, int pos, const float *logits, int n_vocab, int32_t next) {
    ak_compare_base *b = user;
    (void)n_vocab;
    int64_t r = ak_logprobs_row(&b->lp, chunk, pos);
    if (r >= 0) ak_logprobs_put(&b->lp, r, logits, next);
}

static void add(void *user, int chunk, int pos, const float *logits, int n_vocab, int32_t next) {
    ak_compare_base *b = user;
    int64_t r = ak_logprobs_row(&b->lp, chunk, pos);
    if (r < 0) return;
    int32_t argmax, base_next;
    double nll_base;
    ak_logprobs_get(&b->lp, r, b->logp, &argmax, &base_next, &nll_base);
    if (base_next != next) b->mismatch = 1;
    else ak_kl_add(&b->kl, b->logp, argmax, nll_base, logits, n_vocab, next);
}

static ak_compare_base *base_new(ak_context *c, const int32_t *tokens, int64_t n, const ak_ppl_params *pp, char *err,
                                 size_t errlen) {
    const int whole = (int)(n / pp->n_ctx);
    const int n_run = pp->n_chunks > 0 && pp->n_chunks < whole ? pp->n_chunks : whole;
    ak_compare_base *b = calloc(1, sizeof *b);
    if (!b) return fail(err, errlen, "out of memory"), NULL;
    if (ak_logprobs_init(&b->lp, pp->n_vocab, pp->n_ctx, n_run, err, errlen)) {
        free(b);
        return NULL;
    }
    ak_ppl_params np = *pp;
    np.on_logits = store;
    np.user = b;
    ak_ppl_result r;
    if (!(b->logp = malloc((size_t)pp->n_vocab * sizeof *b->logp))) fail(err, errlen, "out of memory");
    else if (!ak_context_set_routing(c, NULL, err, errlen) && !ak_perplexity(c, tokens, n, &np, &r, err, errlen))
        return b;
    ak_compare_base_free(b);
    return NULL;
}

void ak_compare_base_free(ak_compare_base *b) {
    if (!b) return;
    ak_logprobs_free(&b->lp);
    free(b->logp);
    free(b);
}

static double context_avg_k(const ak_context *c, int n_layer) {
    double s = 0;
    for (int l = 0; l < n_layer; l++) s += ak_stats_avg_k(ak_context_layer_stats(c, l));
    return s / n_layer;
}

int ak_compare_run(ak_context *c, const int32_t *tokens, int64_t n, const ak_ppl_params *pp,
                   const ak_router_config *cfg, ak_compare_base **base, ak_compare *out, char *err, size_t errlen) {
    if (!*base && !(*base = base_new(c, tokens, n, pp, err, errlen))) return -1;
    ak_compare_base *b = *base;
    ak_kl_init(&b->kl);
    b->mismatch = 0;
    ak_ppl_params np = *pp;
    np.on_logits = add;
    np.user = b;
    ak_ppl_result r;
    if (ak_context_set_routing(c, cfg, err, errlen)) return -1;
    ak_context_reset_stats(c);
    if (ak_perplexity(c, tokens, n, &np, &r, err, errlen)) return -1;
    if (b->mismatch) return fail(err, errlen, "internal: the native run's tokens differ");
    ak_kl_summary s;
    ak_kl_summarize(&b->kl, &s);
    out->nll = r.nll_sum / (double)r.n_scored;
    out->kl = s.kld, out->kl_err = s.kld_err;
    out->ln_ratio = s.ln_ratio, out->ln_ratio_err = s.ln_ratio_err;
    out->scored = r.n_scored;
    out->avg_k = context_avg_k(c, ak_model_hparams(ak_context_model(c))->n_layer);
    return 0;
}
