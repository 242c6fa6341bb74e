/* compare.h - a run with a router config against the native top-k run on the same chunks:
 * mean KL divergence, the change of the mean NLL (llama.cpp's statistics, kl.h) and the
 * average K. The native run is computed once and kept in a base the caller owns. */
#ifndef AK_EVAL_COMPARE_H
#define AK_EVAL_COMPARE_H

#include <stdint.h>

#include "eval/perplexity.h"
#include "model/model.h"

typedef struct {
    double nll;                      /* mean NLL of the run (nats per scored token) */
    double kl, kl_err;               /* mean KL(native || run) */
    double ln_ratio, ln_ratio_err;   /* mean NLL change = ln(PPL / PPL native) */
    double avg_k;                    /* over every routed token and layer */
    int64_t scored;
} ak_compare;

typedef struct ak_compare_base ak_compare_base;

/* Runs cfg (NULL: native) over the chunks of tokens (pp) and compares it with the native
 * run; *base is computed on the first call (*base == NULL) and reused after. The context's
 * routing is left at cfg. 0, or -1 with a message. */
int ak_compare_run(ak_context *c, const int32_t *tokens, int64_t n, const ak_ppl_params *pp,
                   const ak_router_config *cfg, ak_compare_base **base, ak_compare *out, char *err, size_t errlen);
void ak_compare_base_free(ak_compare_base *b);

#endif
