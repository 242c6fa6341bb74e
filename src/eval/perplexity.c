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

typedef struct {
    ak_context *c;
    const ak_ppl_params *p;
    const int32_t *chunk;
    int32_t *batch;
    int n_batch, ch;
    double *nll, *nll2;
    int64_t *count;
} span;

/* Positions [from, to) of the chunk through the context in batches, scoring each scored
 * position whose logits are kept (last_only: a span whose only kept logits are its last
 * token's). */
static int decode_span(span *s, int from, int to, int last_only, ak_error *err) {
    const ak_ppl_params *p = s->p;
    const int n_ctx = p->n_ctx, first = n_ctx / 2;
    if (last_only && ak_context_set_logits_last(s->c, 1, err)) return -1;
    for (int b0 = from; b0 < to; b0 += s->n_batch) {
        const int nb = to - b0 < s->n_batch ? to - b0 : s->n_batch;
        memcpy(s->batch, s->chunk + b0, (size_t)nb * sizeof *s->batch);
        /* BOS replaces the chunk's first token for the forward pass only */
        if (b0 == 0 && p->bos >= 0) s->batch[0] = p->bos;
        if (ak_decode(s->c, s->batch, nb, err)) return -1;
        for (int i = 0; i < nb; i++) {
            const int pos = b0 + i;
            const float *lg = ak_get_logits(s->c, i);
            if (pos < first || pos >= n_ctx - 1 || !lg) continue;
            const double v = ak_token_nll(lg, p->n_vocab, s->chunk[pos + 1]);
            *s->nll += v, *s->nll2 += v * v, (*s->count)++;
            if (p->on_logits) p->on_logits(p->user, s->ch, pos, lg, p->n_vocab, s->chunk[pos + 1]);
        }
    }
    return last_only ? ak_context_set_logits_last(s->c, 0, err) : 0;
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
        span sp = {c, p, chunk, batch, n_batch, ch, &nll, &nll2, &count};
        ak_context_reset(c);
        int rc;
        if (p->split_context) {
            const ak_skip_params skip = ak_context_skip(c);
            ak_skip_params no_prune = skip;
            no_prune.prune_ratio = 0.0f;
            rc = decode_span(&sp, 0, first + 1, 1, err);
            if (!rc) rc = ak_context_set_skip(c, &no_prune, err);
            if (!rc) rc = decode_span(&sp, first + 1, n_ctx, 0, err);
            ak_context_set_skip(c, &skip, NULL);
        } else {
            rc = decode_span(&sp, 0, n_ctx, 0, err);
        }
        if (rc) {
            free(batch);
            return -1;
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
