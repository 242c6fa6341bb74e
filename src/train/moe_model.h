/* model.h - the trainable OLMoE-architecture model: parameters in one flat f32 buffer
 * (tensors named and shaped as in llama.cpp's olmoe GGUF files), forward and backward
 * over a batch of sequences, AdamW, checkpoints and GGUF export. */
#ifndef AK_TRAIN_MOE_MODEL_H
#define AK_TRAIN_MOE_MODEL_H

#include "adaptivek.h" /* ak_error */
#include <stddef.h>
#include <stdint.h>

#include "layers.h"

typedef struct {
    int n_vocab, n_ctx, n_embd, n_layer, n_head, n_expert, n_expert_used, n_ff;
    float rope_theta, norm_eps;
    float aux_coef, z_coef;
} ak_moe_config;

typedef struct {
    char name[64];
    int n_dims;
    int64_t ne[3]; /* GGUF order: ne[0] is the row length */
    size_t offset, n;
    int decay; /* matrices get weight decay; norms do not */
} ak_param_tensor;

/* Per-layer parameter pointers into the flat buffer (same struct for gradients). */
typedef struct {
    float *attn_norm, *wq, *wk, *wv, *wo, *q_norm, *k_norm, *ffn_norm, *gate_inp, *gate_exps, *up_exps, *down_exps;
} ak_layer_params;

typedef struct ak_moe_model ak_moe_model;

/* Checks the config (message in err) and creates the model with n_seq sequences of
 * n_ctx tokens per batch; parameters are initialised from seed. */
ak_moe_model *ak_moe_model_new(const ak_moe_config *c, int n_seq, uint64_t seed, ak_error *err);
void ak_moe_model_free(ak_moe_model *m);
int ak_moe_config_check(const ak_moe_config *c, ak_error *err);

const ak_moe_config *ak_moe_model_config(const ak_moe_model *m);
size_t ak_moe_model_n_params(const ak_moe_model *m);
/* Parameters active for one token (embedding row, attention, router, K experts, head). */
size_t ak_moe_model_n_active(const ak_moe_model *m);
int ak_moe_model_n_tensors(const ak_moe_model *m);
const ak_param_tensor *ak_moe_model_tensor(const ak_moe_model *m, int i);
float *ak_moe_model_params(ak_moe_model *m);
float *ak_moe_model_grads(ak_moe_model *m);

/* Forward of n_seq sequences of n_ctx tokens (inputs and targets [n_seq*n_ctx]).
 * Returns the mean cross-entropy; *aux (may be NULL) receives the summed auxiliary
 * losses. With backward != 0 the gradients of ce + aux are ADDED to the gradient buffer.
 * routing_hash (may be NULL) receives a hash of all top-K choices (for gradient checks). */
double ak_moe_model_step(ak_moe_model *m, const int32_t *inputs, const int32_t *targets, int backward, double *aux,
                         uint64_t *routing_hash);
void ak_moe_model_zero_grad(ak_moe_model *m);
/* Logits [n_seq*n_ctx][n_vocab] of the last forward. */
const float *ak_moe_model_logits(const ak_moe_model *m);

/* Fraction of token slots routed to each expert in the last forward, per layer:
 * out[layer * n_expert + e]. */
void ak_moe_model_expert_load(const ak_moe_model *m, float *out);

/* AdamW over the whole buffer; returns the gradient norm before clipping. */
typedef struct {
    float lr, beta1, beta2, eps, weight_decay, clip;
} ak_adamw;
double ak_moe_model_adamw(ak_moe_model *m, const ak_adamw *opt, int64_t step);
/* Warm-up (linear from 0) then cosine decay to min_ratio * lr_max at total_steps. */
float ak_lr_schedule(int64_t step, int64_t warmup, int64_t total_steps, float lr_max, float min_ratio);

/* Checkpoint: config, step, RNG state, parameters and AdamW moments. Written to
 * path.tmp and renamed, so an interrupted save never leaves a broken file. */
int ak_moe_checkpoint_save(const ak_moe_model *m, const char *path, int64_t step, uint64_t rng, ak_error *err);
/* Loads into a model created with the same config; NULL-config check is the caller's. */
int ak_moe_checkpoint_read_config(const char *path, ak_moe_config *c, ak_error *err);
int ak_moe_checkpoint_load(ak_moe_model *m, const char *path, int64_t *step, uint64_t *rng, ak_error *err);

#endif
