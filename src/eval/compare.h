/* compare.h - a run with a router config against the native top-k run on the same chunks:
 * perplexity, mean KL divergence, the PPL ratio and same-top-1 share (llama.cpp's
 * statistics, kl.h), and the average K. The native run is computed once and kept (its
 * log-probabilities, logprobs.h) in a base the caller owns. */
#ifndef AK_EVAL_COMPARE_H
#define AK_EVAL_COMPARE_H

#include "adaptivek.h" /* ak_error */
#include <stdint.h>

#include "eval/kl.h"
#include "eval/perplexity.h"
#include "model/model.h"

typedef struct {
    ak_ppl_result ppl;               /* of the run */
    ak_kl_summary kl;                /* against native; for the native run itself: KL 0, ratio 1 */
    double nll;                      /* mean NLL of the run (nats per scored token) */
    double avg_k;                    /* over every routed token and layer */
} ak_compare;

typedef struct ak_compare_base ak_compare_base;

/* Runs cfg (NULL: native) over the chunks of tokens (pp) and compares it with the native
 * run. The first call (*base == NULL) runs native and keeps it in *base (with cfg NULL,
 * that run is the result); later calls reuse it. The context's routing is left at cfg and
 * its statistics and counters cover the run. 0, or -1 with a message. */
int ak_compare_run(ak_context *c, const int32_t *tokens, int64_t n, const ak_ppl_params *pp,
                   const ak_router_config *cfg, ak_compare_base **base, ak_compare *out, ak_error *err);
void ak_compare_base_free(ak_compare_base *b);

#endif
