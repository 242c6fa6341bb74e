/* layers.h - forward and backward passes of the layers of the OLMoE architecture, in
 * f32 on row-major arrays ([rows][cols], a weight W[out][in] as GGUF stores it).
 *
 * Backward functions ACCUMULATE into their gradient outputs (dx, dW, ...) unless the
 * comment says otherwise, so residual branches and shared weights add up naturally. */
#ifndef AK_TRAIN_LAYERS_H
#define AK_TRAIN_LAYERS_H

#include <stdint.h>

/* y[n][d] = x * rstd * w with rstd[i] = 1/sqrt(mean(x[i]^2) + eps). */
void ak_rmsnorm_fwd(float *y, float *rstd, const float *x, const float *w, int n, int d, float eps);
void ak_rmsnorm_bwd(float *dx, float *dw, const float *dy, const float *x, const float *w, const float *rstd,
                    int n, int d);

/* y[n][out] = x[n][in] W^T (overwrites y). */
void ak_linear_fwd(float *y, const float *x, const float *W, int n, int in, int out);
/* dx += dy W (skipped when dx is NULL), dW += dy^T x. */
void ak_linear_bwd(float *dx, float *dW, const float *dy, const float *x, const float *W, int n, int in, int out);

/* NEOX rotary embedding in place on x[n_seq*T][n_head*head_dim]; the token at row r has
 * position r % T. Pairs (i, i + head_dim/2) rotate by pos * theta^(-2i/head_dim).
 * The backward applies the inverse rotation to the gradient in place. */
void ak_rope_fwd(float *x, int n_seq, int T, int n_head, int head_dim, float theta);
void ak_rope_bwd(float *dx, int n_seq, int T, int n_head, int head_dim, float theta);

/* Causal multi-head attention over n_seq independent sequences of T tokens:
 * out = softmax(q k^T / sqrt(head_dim), causal) v per head. probs [n_seq][n_head][T][T]
 * keeps the softmax for the backward. The backward OVERWRITES dq, dk, dv; scratch holds
 * T*T floats. */
void ak_attention_fwd(float *out, float *probs, const float *q, const float *k, const float *v, int n_seq, int T,
                      int n_head, int head_dim);
void ak_attention_bwd(float *dq, float *dk, float *dv, const float *dout, const float *probs, const float *q,
                      const float *k, const float *v, int n_seq, int T, int n_head, int head_dim, float *scratch);

/* Mean cross-entropy of logits[n][V] against targets; if dlogits is not NULL it receives
 * (OVERWRITES) scale * d(mean loss)/d(logits). */
double ak_cross_entropy(float *dlogits, const float *logits, const int32_t *targets, int n, int V, float scale);

/* ------------------------------------------------------------------ MoE block */

/* Shapes of one MoE block: n tokens of width d, E experts of width F, top-K. */
typedef struct {
    int n, d, E, K, F;
    float aux_coef; /* Switch load balancing: aux_coef * E * sum_e f_e * P_e */
    float z_coef;   /* router z-loss: z_coef * mean(logsumexp(logits)^2) */
} ak_moe_dims;

/* What the forward keeps for the backward (sizes from ak_moe_acts_alloc). */
typedef struct {
    float *logits, *probs; /* [n][E] */
    int32_t *idx;          /* [n][K] chosen experts, by decreasing probability */
    int32_t *count;        /* [E] token slots per expert */
    int32_t *offset;       /* [E+1] first slot of each expert */
    int32_t *slot_tok;     /* [n*K] token of each slot (slots grouped by expert) */
    int32_t *slot_of;      /* [n*K] slot of (token, k) */
    float *g, *u, *yexp;   /* [n*K][F], [n*K][F], [n*K][d] */
    double aux_loss, z_loss;
} ak_moe_acts;

/* Scratch shared by all blocks of a model: [n*K][d] x3, [n*K][F] x4, [n][E] x1, [n][K] x1. */
typedef struct {
    float *hs, *dhs, *dyexp, *a, *da, *dg, *du, *dlogits, *dw;
} ak_moe_scratch;

int ak_moe_acts_alloc(ak_moe_acts *a, const ak_moe_dims *m);
void ak_moe_acts_free(ak_moe_acts *a);
int ak_moe_scratch_alloc(ak_moe_scratch *s, const ak_moe_dims *m);
void ak_moe_scratch_free(ak_moe_scratch *s);

/* y[n][d] (overwritten) = sum_k p[idx_k] * expert_{idx_k}(h), with p the softmax of the
 * router logits h Wr^T over all experts and no renormalisation of the chosen weights.
 * Wg, Wu: [E][F][d]; Wd: [E][d][F]; Wr: [E][d]. Returns aux_loss + z_loss. */
double ak_moe_fwd(float *y, ak_moe_acts *a, ak_moe_scratch *s, const float *h, const float *Wr, const float *Wg,
                  const float *Wu, const float *Wd, const ak_moe_dims *m);
/* Backward of y and of the two auxiliary losses (with weight 1 each, as returned). */
void ak_moe_bwd(float *dh, float *dWr, float *dWg, float *dWu, float *dWd, const float *dy, const ak_moe_acts *a,
                ak_moe_scratch *s, const float *h, const float *Wr, const float *Wg, const float *Wu, const float *Wd,
                const ak_moe_dims *m);

#endif
