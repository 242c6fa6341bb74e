/*
 * gen_model.h - random-weight MoE models written as GGUF files that both this engine and
 * llama.cpp load: the metadata keys, tensor names, shapes and types of llama.cpp's
 * converters for olmoe, qwen2moe, qwen3moe, mixtral (GGUF architecture "llama"), gpt-oss
 * and deepseek2.
 *
 * Weights are deterministic for a seed. They are scaled so that activations stay O(1)
 * through the layers, and the router (ffn_gate_inp) has a shared low-rank direction on
 * top of noise, so routing entropies vary from token to token instead of all being near
 * uniform. Vectors, norms and routers are F32 (as the converters write them); the other
 * matrices use the requested type. Tensor data is streamed to disk, never held whole.
 */
#ifndef AK_GEN_MODEL_H
#define AK_GEN_MODEL_H

#include "adaptivek.h" /* ak_error */
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char arch[16];       /* "olmoe", "qwen2moe", "qwen3moe", "mixtral", "gpt-oss", "deepseek2", "nemotron_h_moe",
                          * "qwen35moe" */
    int type;            /* ggml type of the big matrices (ak_type) */
    int n_layer, n_embd, n_head, n_head_kv;
    int head_dim;        /* 0: n_embd / n_head */
    int n_expert, n_expert_used;
    int n_ff;            /* rows of one expert's gate/up */
    int n_ff_shexp;      /* shared expert (qwen2moe only) */
    int n_vocab;         /* target vocabulary size (the tiny vocabulary may differ a little) */
    int n_ctx_train;
    char vocab_kind[8];  /* "gpt2", "llama" (the tokenizer module's tiny vocabularies), "bytes"
                          * (byte-level, ids = bytes, BOS 256, built in), or "none" (no
                          * tokenizer, only a vocabulary size) */
    float rope_freq_base;
    const char *rope_scaling; /* NULL: no scaling keys; "linear" or "yarn" with rope_factor */
    float rope_factor;
    int rope_orig_ctx;        /* YaRN's original context (0: not written) */
    float rope_log_mul;       /* rope.scaling.yarn_log_multiplier (0: not written; deepseek2's converter
                               * writes 0.1 x mscale_all_dim) */
    float rms_eps;
    int n_swa;           /* gpt-oss: sliding window of the windowed (even) layers */
    /* deepseek2: latent attention (q_lora 0: one attn_q, the "lite" models), the widths of
     * a head's non-rotated and rotated query/key parts and of its value, leading dense
     * layers, shared experts, gating (sigmoid with exp_probs_b, V3; else softmax, V2),
     * groups, the routed weights' norm and scale; n_head_kv is 1 */
    int q_lora, kv_lora, qk_nope, qk_rope, v_head;
    int n_layer_dense, n_ff_dense, n_expert_shared;
    int sigmoid, n_group, n_group_used, weights_norm;
    float weights_scale;
    /* nemotron_h_moe: the layers' kinds as in the model's hybrid_override_pattern (M Mamba-2,
     * * attention, E experts; layer l takes pattern[l], the pattern repeated when shorter),
     * and the Mamba-2 shapes; experts are squared-ReLU without a gate, sigmoid routing with
     * the selection bias, one shared expert of n_ff_shexp rows */
    const char *pattern;
    int ssm_heads, ssm_head_dim, ssm_groups, ssm_state, ssm_conv;
    int moe_latent;      /* nemotron_h_moe: experts in a latent space of this width (0: none) */
    /* qwen35moe: Gated DeltaNet layers but every 4th (attention with an output gate, q/k
     * norms, partial RoPE over rope_dims), each followed by experts and a sigmoid-gated
     * shared expert (n_ff_shexp); the DeltaNet has ssm_heads value heads and ssm_groups key
     * heads, both ssm_head_dim wide */
    int rope_dims;       /* rotated dims per head (0: head_dim) */
    uint64_t seed;
} ak_gen_params;

/* Small defaults for an architecture (fast tests): 2 layers, 64 embd, 8 experts, ... .
 * Returns 0, or -1 for an unknown architecture. */
int ak_gen_params_default(ak_gen_params *p, const char *arch);
/* Full-size shapes of a real model: "olmoe-1b-7b", "qwen1.5-moe-a2.7b", "mixtral-8x7b".
 * Returns 0, or -1 for an unknown name. */
int ak_gen_params_preset(ak_gen_params *p, const char *preset);
const char *ak_gen_preset_names(void); /* "olmoe-1b-7b|..." for help texts */

/* Writes the model. A matrix whose row length is not a multiple of the type's block is
 * written as q8_0 (or f16 if that does not fit either), as llama-quantize falls back, and
 * named on stderr unless quiet. Returns 0, or -1 with a message (bad parameters, I/O);
 * no partial file is left behind. */
int ak_gen_model_write(const ak_gen_params *p, const char *path, int quiet, ak_error *err);

#endif
