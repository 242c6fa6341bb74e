/* compare.c - a config's run against the native run on the same chunks (see compare.h). */
#include "eval/compare.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errfmt.h"
#include "eval/logprobs.h"

struct ak_compare_base {
    ak_logprobs lp;
    float *logp;       /* [n_vocab] scratch */
    ak_kl_stats kl;
    int mismatch;
};

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

void ak_compare_base_free(ak_compare_base *b) {
    if (!b) return;
    ak_logprobs_free(&b->lp);
    free(b->logp);
    free(b);
}

/* One perplexity run with cfg; the base's callback stores (first run) or compares. */
static int run(ak_context *c, const int32_t *tokens, int64_t n, const ak_ppl_params *pp, const ak_router_config *cfg,
               ak_compare_base *b, int storing, ak_compare *out, ak_error *err) {
    ak_ppl_params np = *pp;
    np.on_logits = storing ? store : add;
    np.user = b;
    ak_kl_init(&b->kl);
    b->mismatch = 0;
    if (ak_context_set_routing(c, cfg, err)) return -1;
    ak_context_reset_stats(c);
    if (ak_perplexity(c, tokens, n, &np, &out->ppl, err)) return -1;
    if (b->mismatch) return ak_failf(err, AK_ERR_INVALID_ARG, "internal: the native run's tokens differ");
    out->nll = out->ppl.nll_sum / (double)out->ppl.n_scored;
    out->avg_k = ak_context_avg_k(c);
    memset(&out->kl, 0, sizeof out->kl);
    if (storing) { /* the native run against itself: the engine is deterministic */
        out->kl.count = out->ppl.n_scored;
        out->kl.ratio = out->kl.same_top = 1.0;
        out->kl.ppl = out->kl.ppl_base = out->ppl.ppl;
        out->kl.ppl_err = out->kl.ppl_base_err = out->ppl.ppl_err;
    } else {
        ak_kl_summarize(&b->kl, &out->kl);
    }
    return 0;
}

int ak_compare_run(ak_context *c, const int32_t *tokens, int64_t n, const ak_ppl_params *pp,
                   const ak_router_config *cfg, ak_compare_base **base, ak_compare *out, ak_error *err) {
    if (!*base) {
        const int whole = (int)(n / pp->n_ctx);
        const int n_run = pp->n_chunks > 0 && pp->n_chunks < whole ? pp->n_chunks : whole;
        ak_compare_base *b = calloc(1, sizeof *b);
        if (!b || !(b->logp = malloc((size_t)pp->n_vocab * sizeof *b->logp))) {
            ak_compare_base_free(b);
            return ak_failf(err, AK_ERR_NOMEM, "out of memory");
        }
        ak_compare native;
        if (ak_logprobs_init(&b->lp, pp->n_vocab, pp->n_ctx, n_run, err) ||
            run(c, tokens, n, pp, NULL, b, 1, &native, err)) {
            ak_compare_base_free(b);
            return -1;
        }
        *base = b;
        if (!cfg) {
            *out = native;
            return 0;
        }
    }
    return run(c, tokens, n, pp, cfg, *base, 0, out, err);
}
