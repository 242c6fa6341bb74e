/* perplexity.c - llama.cpp's perplexity method over the engine (see perplexity.h). */
#include "eval/perplexity.h"
#include "base/clock.h"
#include "base/errfmt.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

ak_ppl_params ak_ppl_default_params(void) {
    ak_ppl_params p = {0};
    p.n_ctx = 512;
    p.n_batch = 512;
    p.bos = -1;
    return p;
}

double ak_token_nll(const float *logits, int n_vocab, int32_t tok) {
    float max_logit = logits[0];
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > max_logit) max_logit = logits[i];
    double sum_exp = 0.0;
    for (int i = 0; i < n_vocab; i++) sum_exp += expf(logits[i] - max_logit);
    return (double)max_logit + log(sum_exp) - (double)logits[tok];
}

void ak_ppl_from_sums(double nll_sum, double nll2_sum, int64_t count, double *ppl, double *ppl_err) {
    if (count <= 0) {
        *ppl = NAN;
        *ppl_err = NAN;
        return;
    }
    double mean = nll_sum / (double)count;
    double var = nll2_sum / (double)count - mean * mean;
    *ppl = exp(mean);
    *ppl_err = var > 0 && count > 1 ? sqrt(var / (double)(count - 1)) * *ppl : 0.0;
}

int ak_perplexity(ak_context *c, const int32_t *tokens, int64_t n_tokens, const ak_ppl_params *p,
                  ak_ppl_result *r, ak_error *err) {
    const int n_ctx = p->n_ctx, n_vocab = p->n_vocab;
    *r = (ak_ppl_result){0};
    if (n_vocab <= 0 || n_ctx < 4 || p->n_batch < 1) {
        ak_failf(err, AK_ERR_INVALID_ARG, "perplexity: bad parameters (n_vocab %d, n_ctx %d, n_batch %d)", n_vocab, n_ctx,
                p->n_batch);
        return -1;
    }
    if (n_ctx > ak_context_n_ctx(c)) {
        ak_failf(err, AK_ERR_INVALID_ARG, "perplexity: chunk of %d tokens does not fit the context (%d)", n_ctx, ak_context_n_ctx(c));
        return -1;
    }
    if (n_tokens < 2 * (int64_t)n_ctx) {
        ak_failf(err, AK_ERR_INVALID_ARG, "you need at least %d tokens to evaluate perplexity with a context of %d; the text has only %lld",
                2 * n_ctx, n_ctx, (long long)n_tokens);
        return -1;
    }
    int n_batch = p->n_batch < n_ctx ? p->n_batch : n_ctx;
    if (n_batch > ak_context_n_batch(c)) n_batch = ak_context_n_batch(c);
    const int64_t n_chunk_max = n_tokens / n_ctx;
    const int n_chunk = (int)(p->n_chunks > 0 && p->n_chunks < n_chunk_max ? p->n_chunks : n_chunk_max);
    const int first = n_ctx / 2;
    double nll = 0, nll2 = 0;
    int64_t count = 0;
    const double t0 = ak_now();

    int32_t *batch = malloc((size_t)n_batch * sizeof *batch);
    if (!batch) {
        ak_failf(err, AK_ERR_NOMEM, "perplexity: out of memory");
        return -1;
    }
    for (int ch = 0; ch < n_chunk; ch++) {
        const int32_t *chunk = tokens + (int64_t)ch * n_ctx;
        ak_context_reset(c);
        for (int b0 = 0; b0 < n_ctx; b0 += n_batch) {
            const int nb = n_ctx - b0 < n_batch ? n_ctx - b0 : n_batch;
            memcpy(batch, chunk + b0, (size_t)nb * sizeof *batch);
            /* BOS replaces the chunk's first token for the forward pass only */
            if (b0 == 0 && p->bos >= 0) batch[0] = p->bos;
            if (ak_decode(c, batch, nb, err)) {
                free(batch);
                return -1;
            }
            for (int i = 0; i < nb; i++) {
                const int pos = b0 + i;
                if (pos < first || pos >= n_ctx - 1) continue;
                const float *lg = ak_get_logits(c, i);
                const double v = ak_token_nll(lg, n_vocab, chunk[pos + 1]);
                nll += v, nll2 += v * v, count++;
                if (p->on_logits) p->on_logits(p->user, ch, pos, lg, n_vocab, chunk[pos + 1]);
            }
        }
        if (p->progress) {
            fprintf(p->progress, "[%d]%.4lf,", ch + 1, exp(nll / (double)count));
            fflush(p->progress);
        }
    }
    free(batch);
    if (p->progress) fprintf(p->progress, "\n");
    r->seconds = ak_now() - t0;
    r->n_chunks = n_chunk;
    r->n_scored = count;
    r->nll_sum = nll;
    r->nll2_sum = nll2;
    ak_ppl_from_sums(nll, nll2, count, &r->ppl, &r->ppl_err);
    return 0;
}
