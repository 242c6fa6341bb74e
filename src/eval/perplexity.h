/*
 * perplexity.h - perplexity of a token sequence, computed exactly as llama.cpp's
 * llama-perplexity does it (tools/perplexity/perplexity.cpp, default mode):
 *
 *   - the text is split into disjoint chunks of n_ctx tokens (a tail shorter than n_ctx
 *     is dropped); the KV cache is cleared before each chunk;
 *   - if the vocabulary adds BOS, the first token of each chunk is replaced by BOS for the
 *     forward pass (the original token is still what position 0 stands for);
 *   - only the second half is scored: the logits at positions n_ctx/2 .. n_ctx-2 predict
 *     the tokens at n_ctx/2+1 .. n_ctx-1 (n_ctx - 1 - n_ctx/2 tokens per chunk);
 *   - NLL of a token = max + log(sum exp(logit - max)) - logit[token] (float max, double sum);
 *   - PPL = exp(mean NLL); uncertainty = PPL * sqrt((E[NLL^2] - E[NLL]^2) / (count - 1)).
 */
#ifndef AK_EVAL_PERPLEXITY_H
#define AK_EVAL_PERPLEXITY_H

#include "adaptivek.h" /* ak_error */
#include <stdint.h>
#include <stdio.h>

#include "model/model.h"

typedef struct {
    int n_vocab;    /* logits per token (ak_hparams.n_vocab); required */
    int n_ctx;      /* tokens per chunk (llama.cpp's -c) */
    int n_batch;    /* tokens per ak_decode call, <= n_ctx and <= the context's n_batch */
    int n_chunks;   /* <= 0: every whole chunk */
    int32_t bos;    /* BOS id put at the start of each chunk; -1: the vocabulary adds none */
    FILE *progress; /* "[1]x,[2]y,..." as llama.cpp prints them, then a newline; NULL: silent */
    /* Optional: called for every scored position with its logits and the token that follows
     * (for KL divergence and saved logits). chunk and pos are 0-based. */
    void (*on_logits)(void *user, int chunk, int pos, const float *logits, int n_vocab, int32_t next_token);
    void *user;
    /* 1: each chunk's unscored first half runs as one decode that keeps only its last
     * token's logits (the first scored position), then the scored half as another, without
     * prompt pruning: the context is pruned, the continuation scored at full compute, and
     * the counts leave out heads nobody reads. The scored values equal the 0 mode's. */
    int split_context;
} ak_ppl_params;

typedef struct {
    int n_chunks;
    int64_t n_scored;   /* tokens scored */
    double nll_sum;     /* sum of NLL over scored tokens */
    double nll2_sum;    /* sum of NLL^2 */
    double ppl;
    double ppl_err;     /* llama.cpp's "+/-" */
    double seconds;     /* wall time of the forward passes */
} ak_ppl_result;

ak_ppl_params ak_ppl_default_params(void); /* n_ctx 512, n_batch 512, all chunks, bos -1, n_vocab 0 */

/* Negative log-likelihood of token tok under softmax(logits), computed as llama.cpp does. */
double ak_token_nll(const float *logits, int n_vocab, int32_t tok);

/* PPL and its uncertainty from sums over count tokens (llama.cpp's formula). */
void ak_ppl_from_sums(double nll_sum, double nll2_sum, int64_t count, double *ppl, double *ppl_err);

/* Runs the chunks through the context (whose n_ctx must be >= p->n_ctx). Needs at least
 * 2 * n_ctx tokens, as llama.cpp. The context's KV cache is cleared; its routing
 * statistics and counters keep accumulating (reset them before if wanted). Returns 0, or
 * -1 with a message. */
int ak_perplexity(ak_context *c, const int32_t *tokens, int64_t n_tokens, const ak_ppl_params *p,
                  ak_ppl_result *r, ak_error *err);

#endif
