/*
 * profile.h - how sensitive each MoE layer is to running fewer experts, measured on a text.
 *
 * One pass (the proxy): a token's experts are ranked, so the layer's output with only its
 * top j experts is a prefix of the weighted sum the engine forms at the native top-K. One
 * native run records, per layer and token, the router logits and the squared distance
 * ||y_j - y_K||^2 for j = 1..K, with the squared norms of y_K and of the hidden state the
 * layer writes (residual + y_K). The proxy cost of running j experts on a token is
 * ||y_j - y_K||^2 / ||h||^2: the share of the hidden state that the dropped experts carry.
 *
 * Exact and slower (optional): for every layer l and j < K, a run with layer l alone at
 * top-j (the other layers native) measures the mean KL divergence to the native run and
 * the change of the mean NLL of the next token, over the scored positions of the first
 * exact_chunks chunks. alpha[l], the least-squares scale with alpha * proxy(l, j) ~
 * KL(l, j), turns the proxy into predicted nats of KL for that layer.
 *
 * Renormalising architectures (Mixtral, Qwen3-MoE, deepseek2 and nemotron_h_moe with
 * norm_topk_prob): y_j is the prefix rescaled by the sum of the K native weights over the
 * sum of the first j weights, as the engine computes top-j when it renormalises. Sigmoid
 * routers with a selection bias rank their slots in selection order, so top-j is still the
 * first j slots; the router logits are recorded as the distribution the policies read
 * (ak_model_policy_logits). Experts in a latent space (moe_latent_size) are refused.
 */
#ifndef AK_EVAL_PROFILE_H
#define AK_EVAL_PROFILE_H

#include "adaptivek.h" /* ak_error */
#include <stdint.h>
#include <stdio.h>

#include "eval/calib.h"
#include "eval/perplexity.h"
#include "model/model.h"

/* What alpha scales the proxy to: the mean KL to native (default) or the NLL change. */
typedef enum { AK_OBJECTIVE_KL = 0, AK_OBJECTIVE_NLL } ak_objective;

typedef struct {
    /* layers are the model's layers with experts, l = 0..n_layer-1, model layer layer_of[l]
     * (deepseek2's dense lead layers and a hybrid's recurrent or attention blocks have none) */
    int n_layer, n_model_layer;
    const int *layer_of;   /* [n_layer] (the router record's) */
    int n_expert, k_native, renormalize, n_embd;
    int64_t n_tokens;      /* tokens per layer (every position of every chunk) */
    int stride;            /* floats per token in err: k_native + 2 */
    /* err[l][t][j - 1] = ||y_j - y_K||^2 for j = 1..K (the K-th is 0), then ||y_K||^2
     * and ||h||^2 */
    float *err;
    int64_t *filled;       /* [n_layer] tokens recorded so far */
    int64_t cap;
    ak_router_record router;
    /* per layer [n_layer][k_native]: index j - 1 */
    double *proxy;         /* mean over tokens of ||y_j - y_K||^2 / ||h||^2 */
    double *proxy_out;     /* mean over tokens of ||y_j - y_K||^2 / ||y_K||^2 */
    double *kl, *kl_err;   /* exact: mean KL to native with layer l alone at top-j; NAN if not run */
    double *dnll, *dnll_err; /* exact: mean NLL change (nats per token) */
    double *alpha;         /* [n_layer] KL per unit of proxy (1 when not measured) */
    int has_exact;
    ak_objective objective;
    int exact_chunks;
    int64_t exact_scored;  /* positions the exact runs scored */
    double *entropy_pct;   /* [n_layer][3] router entropy p10, p50, p90 (nats) */
    float *scratch;        /* [n_embd] */
    double base_ppl;       /* native perplexity on the profile text */
    int bad_k;             /* the recording saw a token with K != native: not a native run */
} ak_profile;

int ak_profile_init(ak_profile *p, const ak_model *m, int64_t cap, ak_error *err);
void ak_profile_free(ak_profile *p);

/* The expert-outputs sink (ak_context_set_expert_outputs_sink): records one batch. */
void ak_profile_sink(void *user, const ak_expert_outputs *o);

/* y_j of token t of a sink's batch into out[n_embd]: the first j slots summed in slot
 * order exactly as the engine sums them (renormalize: rescaled as top-j would weight
 * them). With j = k[t] and no renormalisation it equals o->sum bit for bit. */
void ak_profile_prefix(const ak_expert_outputs *o, int t, int j, int renormalize, float *out);

/* Runs the chunks of tokens at native top-K through c with both sinks installed, fills
 * the per-token records and the proxy tables, then, when exact_chunks > 0, the exact
 * KL/NLL tables over the first exact_chunks chunks (n_layer * (K - 1) more runs).
 * The context's routing is set to native. progress: one line per exact run, or NULL. */
int ak_profile_run(ak_profile *p, ak_context *c, const int32_t *tokens, int64_t n_tokens, const ak_ppl_params *pp,
                   int exact_chunks, FILE *progress, ak_error *err);

/* n uniformly random token ids in [0, n_vocab) from seed (xorshift; reproducible): the
 * input of a data-free profile, which then depends on nothing but the weights. */
void ak_profile_random_tokens(int32_t *out, int64_t n, int n_vocab, uint64_t seed);

/* Refits alpha to the objective (no-op without exact runs). */
void ak_profile_set_objective(ak_profile *p, ak_objective o);

/* Proxy cost of running j experts (1..K) on token t of layer l, scaled by alpha[l]. */
double ak_profile_token_cost(const ak_profile *p, int l, int64_t t, int j);

/* Writes the profile as JSON (tables per layer and k, entropy percentiles). 0 or -1. */
int ak_profile_write_json(const ak_profile *p, FILE *out, const char *model, const char *text);
/* Heat map (layer x k) of the proxy, or of the exact KL when measured, as SVG. 0 or -1. */
int ak_profile_write_svg(const ak_profile *p, FILE *out, const char *title);
/* The per-layer table as text. */
void ak_profile_print(const ak_profile *p, FILE *out);

#endif
