/*
 * sampler.h - next-token sampling: greedy, temperature, top-k, top-p, with a seeded RNG.
 *
 * Order (as llama.cpp's default chain): top-k, then top-p over the softmax of the raw
 * logits of the remaining tokens, then temperature, then a draw. temp <= 0 is greedy
 * (argmax, lowest id on ties). All buffers are allocated once in ak_sampler_new; sampling
 * allocates nothing.
 */
#ifndef AK_SAMPLER_H
#define AK_SAMPLER_H

#include <stdint.h>

typedef struct {
    float temp;     /* <= 0: greedy */
    int top_k;      /* <= 0 or >= n_vocab: off */
    float top_p;    /* >= 1: off */
    uint64_t seed;
} ak_sampler_params;

typedef struct ak_sampler ak_sampler;

ak_sampler_params ak_sampler_default_params(void); /* temp 0.8, top_k 40, top_p 0.95, seed 1 */
/* NULL for n_vocab < 1, top_p <= 0 or NaN parameters, or out of memory. */
ak_sampler *ak_sampler_new(int n_vocab, const ak_sampler_params *p);
void ak_sampler_free(ak_sampler *s);
/* Draws a token id from logits[n_vocab]. Non-finite logits are treated as -inf; if every
 * logit is, returns the argmax of the finite ones or 0. */
int32_t ak_sampler_sample(ak_sampler *s, const float *logits);
/* Uniform double in [0, 1) from the sampler's RNG (for tests). */
double ak_sampler_uniform(ak_sampler *s);

#endif
