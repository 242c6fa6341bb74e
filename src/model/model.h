/*
 * model.h - the CPU inference engine for GGUF Mixture-of-Experts models.
 *
 * Architectures (computed exactly as llama.cpp does): olmoe, qwen2moe, qwen3moe and
 * llama with experts (Mixtral). Expert tensors must be merged (blk.N.ffn_*_exps, 3-D).
 *
 *   ak_model    the mapped GGUF file and its validated tensors (read-only, shareable)
 *   ak_context  KV cache, scratch buffers, thread pool, routing policy, statistics
 *
 * A model may be shared by any number of contexts (it is read-only after loading); a
 * context must be used by one thread at a time.
 *
 * Per MoE layer the router logits go through libadaptivek (ak_route) with the context's
 * policy, and only the chosen experts are computed. Nothing allocates per token: every
 * buffer is sized for n_batch tokens at context creation (or at ak_context_set_routing).
 */
#ifndef AK_MODEL_H
#define AK_MODEL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "adaptivek.h"
#include "gguf/gguf.h"

typedef struct ak_model ak_model;

typedef struct {
    char arch[32];       /* "olmoe", "qwen2moe", "qwen3moe", "llama", "gpt-oss", "deepseek2", "nemotron_h_moe" */
    int n_layer;
    int n_embd;
    int n_head;
    int n_head_kv;
    int head_dim;        /* key/value length per head */
    int n_rot;           /* rotated dims per head (rope.dimension_count, default head_dim) */
    int n_vocab;
    int n_ctx_train;
    int n_expert;
    int n_expert_used;   /* native top-k */
    int n_ff_exp;        /* rows of one expert's gate/up */
    int n_ff_shexp;      /* shared expert (qwen2moe), 0 if none */
    float rms_eps;
    float rope_freq_base;
    float rope_freq_scale; /* 1 / scaling factor (linear or YaRN); 1 when absent or "none" */
    float rope_ext_factor; /* YaRN extrapolation mix: 1 for rope.scaling.type "yarn", else 0 */
    float rope_attn_factor; /* magnitude of cos/sin before YaRN's own (llama.cpp's yarn_attn_factor) */
    int rope_orig_ctx;     /* YaRN: rope.scaling.original_context_length, else the trained context */
    int rope_neox;       /* 1: pairs (i, i + n_rot/2); 0: pairs (2i, 2i+1) */
    int renormalize;     /* chosen expert weights rescaled to sum to 1 */
    int has_qkv_bias;
    int qk_norm;         /* 0 none, 1 over the whole projection (olmoe), 2 per head (qwen3moe) */
    int tied_output;     /* no output.weight: token_embd is the head */
    int n_swa;           /* sliding window of the windowed layers (gpt-oss), 0: none */
    int swa_period;      /* layer l is windowed when l % swa_period < swa_period - 1 (llama.cpp) */
    int oai_ffn;         /* gpt-oss: biased experts and router, clamped SwiGLU, attention sinks */
    int weight_type;     /* ggml type of the first MoE layer's ffn_gate_exps (for display) */
    /* deepseek2 (0 elsewhere). Multi-head latent attention: the cache holds one row per
     * token, the normalised latent (n_lora_kv) and the rotated key part (n_rot): head_dim
     * is n_lora_kv + n_rot, n_head_kv 1, and the values are the latent part of that row. */
    int n_lora_q;        /* query down-projection rank (0: one attn_q matrix, the "lite" models) */
    int n_lora_kv;       /* latent width; > 0 marks MLA */
    int head_k_mla;      /* per-head query/key width before absorption (nope + n_rot) */
    int head_v_mla;      /* per-head value width after attn_v_b */
    float kq_scale;      /* softmax scale of q.k, 0: 1 / sqrt(head_dim) */
    int n_layer_dense;   /* leading layers with a dense feed-forward and no experts */
    int n_ff_dense;      /* their width */
    int gating;          /* AK_GATING_*: how router logits become expert scores */
    int n_group, n_group_used; /* grouped selection: experts in n_group groups, the best n_group_used kept */
    int ffn_relu2;       /* experts and shared expert are up -> relu(.)^2 -> down, no gate (nemotron_h_moe) */
    int n_embd_moe;      /* the routed experts' input/output width: n_embd, or nemotron_h_moe's
                          * moe_latent_size (ffn_latent_down before, ffn_latent_up after them) */
    int attn_gated;      /* attn_q also gives a per-head gate: attention output x sigmoid(gate) (qwen35moe) */
    /* Hybrids: nemotron_h_moe's layers are each one block, a Mamba-2 mixer, attention or
     * MoE (ak_layer's mixer / ffn), read from the per-layer head_count_kv /
     * feed_forward_length; qwen35moe's are Gated DeltaNet or attention, each followed by
     * MoE. Only attention layers have a KV cache (n_layer_kv of them; n_layer_kv == n_layer
     * for the other architectures); each recurrent layer keeps a state per context. The
     * ssm_* keys: Mamba-2's d_inner, d_state, heads and groups; for a Gated DeltaNet the
     * value width (heads x head width), the key head width, the value heads and the key
     * heads. */
    int n_layer_kv;
    int n_layer_ssm;
    int ssm_d_conv;      /* causal depthwise convolution width */
    int ssm_d_inner;     /* n_ssm_head * head width */
    int ssm_d_state;
    int ssm_n_head;      /* ssm.time_step_rank in the file */
    int ssm_n_group;     /* B and C are shared by the heads of a group */
} ak_hparams;

/* Router gating of an architecture: a softmax over the experts (every architecture but
 * deepseek2), or deepseek2's scores (softmax or sigmoid, a selection bias, groups), routed
 * by src/model/gating.c. */
enum { AK_GATING_SOFTMAX = 0, AK_GATING_DS_SOFTMAX = 1, AK_GATING_DS_SIGMOID = 2 };

/* Maps and validates a GGUF file. Unknown architecture, per-expert (unmerged) tensors,
 * a missing tensor or a wrong shape or type -> NULL and a message naming the tensor. */
ak_model *ak_model_load(const char *path, ak_error *err);
/* Load options. repack: copy the matrices that have faster kernels in another layout
 * (MXFP4, Q4_K, Q5_K: quant/repack.c) into it at load, at no memory cost for a mapped file (the
 * pages it replaces are released); 0 computes on the mapped bytes as they are. */
typedef struct {
    int repack;
} ak_model_params;
ak_model_params ak_model_default_params(void); /* repack 1, or 0 when AK_REPACK=0 is set */
ak_model *ak_model_load_with(const char *path, const ak_model_params *p, ak_error *err);
/* The same from a GGUF image in memory (not copied: buf must outlive the model). */
ak_model *ak_model_load_buffer(const void *buf, size_t len, ak_error *err);
void ak_model_free(ak_model *m);
const gguf_file *ak_model_gguf(const ak_model *m);
const ak_hparams *ak_model_hparams(const ak_model *m);
/* Whether layer il routes tokens to experts (not a dense, Mamba-2 or attention-only block). */
int ak_model_layer_has_experts(const ak_model *m, int il);
/* Router logits of layer il [n_tokens][n_expert] as logits whose softmax is the distribution
 * the routing policies read (src/model/gating.c): the same for a softmax router; for a
 * sigmoid/biased/grouped router (deepseek2, nemotron_h_moe) log q over the eligible experts.
 * For calibrating such routers on recorded logits. */
void ak_model_policy_logits(const ak_model *m, int il, const float *logits, int n_tokens, float *out);
/* Bytes of weights in the file's tensors, and of the expert tensors alone. */
uint64_t ak_model_weight_bytes(const ak_model *m);
uint64_t ak_model_expert_bytes(const ak_model *m);

typedef struct {
    int n_ctx;       /* KV cache length; 0 = the model's trained length */
    int n_batch;     /* most tokens per ak_decode call */
    int n_threads;   /* 0 = number of online CPUs */
    const ak_router_config *routing; /* NULL: native top-k; copied by the context */
    int type_k, type_v; /* KV cache types (ak_type, as llama.cpp's -ctk/-ctv): f32 (0), f16 (the
                         * default: as fast or faster than f32 with the tiled attention kernel, at half
                         * the memory, BENCHMARKS.md session 6), bf16, q8_0, q4_0 (head_dim a multiple
                         * of the block) */
    int logits_last;    /* 1: the head runs only for the last token of each ak_decode batch (what
                         * generation needs, and what llama.cpp computes by default); 0 (the
                         * default): every token's logits (perplexity) */
} ak_context_params;

ak_context_params ak_context_default_params(void); /* n_ctx 0, n_batch 512, n_threads 0, f16 K/V, all logits */
/* Bytes of the KV cache of a context of n_ctx tokens: K and V of every layer, in the given
 * types (0 for an unsupported type: see ak_context_params). */
uint64_t ak_kv_cache_bytes(const ak_model *m, int n_ctx, int type_k, int type_v);
/* Bytes of a context's recurrent state (its Mamba-2 / Gated DeltaNet layers; 0 for models
 * without): constant, whatever the context length. */
uint64_t ak_recurrent_state_bytes(const ak_model *m);
/* Bytes the system can still give this process (MemAvailable of /proc/meminfo); 0 if unknown. */
uint64_t ak_memory_available(void);

typedef struct ak_context ak_context;

ak_context *ak_context_new(const ak_model *m, const ak_context_params *p, ak_error *err);
void ak_context_free(ak_context *c);
int ak_context_n_ctx(const ak_context *c);
/* Bytes of K and V one cached token takes in this context (its cache types). */
uint64_t ak_context_kv_bytes_per_token(const ak_context *c);
int ak_context_n_batch(const ak_context *c);
int ak_context_n_threads(const ak_context *c);
const ak_model *ak_context_model(const ak_context *c);

/* Evaluates n_tokens (>= 1) tokens at positions n_past.., appending them to the KV cache.
 * More than n_batch tokens are computed as consecutive batches of n_batch (same results as
 * calling ak_decode once per batch); logits are kept for the tokens of the last batch, i.e.
 * for every token when n_tokens <= n_batch. Returns 0, or -1 with a message (token id out
 * of range, KV cache full, non-finite router logits). On error the KV cache is left as it
 * was before the call. */
int ak_decode(ak_context *c, const int32_t *tokens, int n_tokens, ak_error *err);
/* Continuous batching: the tokens of n_seq sequences (1..256 contexts of c's model, not c)
 * in one forward pass of the executing context c, which lends its buffers and threads:
 * sequence i's n_tokens[i] tokens continue its own KV cache, are routed by its own routing
 * config, and go to its own ledger, counters, trace and router-logits sink, as
 * ak_decode(seq[i], ...) would; each sequence keeps the logits of its last token (the head
 * runs for those tokens only; c keeps none)
 * (ak_get_logits(seq[i], -1)). c's ledger and counters get the batch as a whole: each
 * expert chosen by any of its tokens is read once. The sum of n_tokens must be at most
 * c's n_batch; the sequences need c's cache types, at most its n_ctx, and no expert-
 * outputs sink. Results equal the sequences' own ak_decode calls up to the float order of
 * batched matrix products. 0, or -1 with err (nothing changed). */
int ak_decode_group(ak_context *c, ak_context *const *seq, const int32_t *const *tokens, const int *n_tokens,
                    int n_seq, ak_error *err);
/* Switches logits_last (ak_context_params) on or off for the next decodes; off is refused
 * for a context created with it on whose logits buffer is smaller than n_batch rows.
 * 0, or -1 with err. */
int ak_context_set_logits_last(ak_context *c, int on, ak_error *err);
/* Logits (n_vocab floats) of the i-th token of the last ak_decode; i = -1: the last one.
 * NULL if i is out of range or the token's logits were not kept (n_tokens > n_batch, or
 * any but the last with logits_last). */
const float *ak_get_logits(const ak_context *c, int i);
int ak_context_n_past(const ak_context *c);
void ak_context_reset(ak_context *c); /* clears the KV cache and recurrent states (not statistics) */
/* Drops cache entries from position n on (n <= n_past), e.g. to reuse a common prefix.
 * A model with recurrent layers keeps no per-position state to go back to: there only
 * n == 0 (a reset) or n == n_past work. 0, or -1 with err. */
int ak_context_truncate(ak_context *c, int n, ak_error *err);

/* Replaces the routing policy (NULL: native top-k). The config's n_experts must match the
 * model; the architecture's own weight normalisation is always used. Returns 0 or -1. */
int ak_context_set_routing(ak_context *c, const ak_router_config *cfg, ak_error *err);

/* Early exit and prompt-token pruning, training-free, per context (so per sequence and per
 * server request); docs/stacking.md.
 *
 * Early exit: after each checked layer (exit_layer, exit_layer + exit_every, ... up to
 * n_layer - 2) a token's confidence is measured: its hidden state through the model's own
 * final norm and head (the top token's probability), or how little the layer changed it
 * (saturation); when it reaches exit_threshold the token skips the remaining layers (its
 * logits are the head on that state). The cache entries of the skipped attention
 * layers are filled from the exit state through those layers' K/V projections (CALM's
 * state propagation, Schuster et al. 2022); recurrent layers read it too, so that the
 * next tokens find every layer's state. The checks' head evaluations are counted work.
 *
 * Prompt pruning (LazyLLM-style, Fu et al. 2024): in a batch of several tokens of a
 * sequence (a prefill), layer prune_layer's attention of the batch's last token ranks the
 * batch's other tokens; the lowest prune_ratio of them leave the batch after that layer:
 * later layers neither compute them nor keep cache entries for them, so every later token
 * attends to the kept ones only. The last token is always kept; only its logits are kept
 * for a batch that pruned (as logits_last). Windowed attention (gpt-oss) is refused.
 *
 * Zeroes switch both off (the default), and the forward pass is then the plain one. */
enum { AK_EXIT_TOP1 = 0, AK_EXIT_SATURATION = 1 };
enum { AK_PRUNE_ATTENTION = 0, AK_PRUNE_OLDEST = 1 };
typedef struct {
    int exit_measure;     /* AK_EXIT_TOP1: the head's top-token probability (CALM's softmax
                           * response; a check costs a head); AK_EXIT_SATURATION: the cosine
                           * similarity of the hidden state before and after the layer
                           * (CALM's hidden-state saturation; a check costs 3 n_embd) */
    float exit_threshold; /* 0: no early exit; else in (0, 1] */
    int exit_layer;       /* the first layer after which tokens may exit (0 .. n_layer - 2) */
    int exit_every;       /* checks every this many layers (>= 1) */
    float prune_ratio;    /* 0: no pruning; else in (0, 1) */
    int prune_by;         /* AK_PRUNE_ATTENTION: the lowest-ranked; AK_PRUNE_OLDEST: the earliest
                           * (the static alternative: a shorter context, at the same compute) */
    int prune_layer;      /* the layer whose attention decides (0 .. n_layer - 2) */
} ak_skip_params;

ak_skip_params ak_skip_default_params(void); /* everything off; exit_every 1 */
/* Whether the parameters suit the model (ranges, an attention layer to prune after, no
 * windowed attention with pruning). 0, or -1 with err. */
int ak_skip_check(const ak_model *m, const ak_skip_params *p, ak_error *err);
/* Validates and sets the context's skipping. A context whose cache lacks pruned tokens
 * keeps its prune_layer until it is reset. 0, or -1 with err (nothing changed). */
int ak_context_set_skip(ak_context *c, const ak_skip_params *p, ak_error *err);
ak_skip_params ak_context_skip(const ak_context *c);
/* Called at every check with the token's position, the layer and its confidence there
 * (the top token's probability, or the saturation; for calibration); set, it makes the checks run even with exits off
 * (exit_threshold 0: the forward pass is otherwise the plain one). */
typedef void (*ak_exit_probe_fn)(void *user, int layer, int pos, float confidence);
void ak_context_set_exit_probe(ak_context *c, ak_exit_probe_fn fn, void *user);

/* The routing ledger: per MoE layer, what the tokens chose and what it cost, since the
 * last reset. It is the one record of routing: perplexity's per-layer table, the sweep,
 * the server's usage and metrics all read it. "native" = what the model's own top-k would
 * have cost for the same tokens (a second routing per layer, skipped when the context's
 * policy is native or the baseline is switched off). */
typedef struct {
    ak_layer_stats k;              /* tokens, K histogram and sum, router entropy histogram */
    uint64_t expert_macs;          /* routed experts' gate + up + down */
    uint64_t expert_bytes;         /* expert weight bytes read: each chosen expert once per batch */
    uint64_t expert_macs_native, expert_bytes_native;
} ak_layer_ledger;

const ak_layer_ledger *ak_context_ledger(const ak_context *c, int layer); /* NULL for a bad index */
/* The K statistics of a layer (the ledger's k); NULL for a bad layer index. */
const ak_layer_stats *ak_context_layer_stats(const ak_context *c, int layer);
void ak_context_reset_stats(ak_context *c); /* the ledger and the counters */
/* Whether the ledger and counters track the native baseline (default on). */
void ak_context_set_native_baseline(ak_context *c, int on);
/* Average K per token and layer over the ledger (0 before any token). */
double ak_context_avg_k(const ak_context *c);
/* The per-layer table: average K, expert MACs and bytes per token against native. */
void ak_context_print_ledger(const ak_context *c, FILE *out);

/* Exact counts (multiply-accumulates and bytes), accumulated over ak_decode calls since
 * ak_context_reset_stats. "native" = what the model's own top-k routing would have done
 * for the same tokens. See docs/engine.md for what is included. */
typedef struct {
    uint64_t tokens;
    uint64_t expert_macs;            /* routed experts' gate+up+down */
    uint64_t expert_macs_native;
    uint64_t model_macs;             /* everything: projections, QK, AV, router, experts, shared, head */
    uint64_t model_macs_native;
    uint64_t expert_bytes_read;      /* routed expert weight bytes, each used expert once per batch */
    uint64_t expert_bytes_read_native;
    /* early exit and pruning (ak_skip_params); each saving is counted once:
     * model_macs_native - model_macs = (expert_macs_native - expert_macs) [adaptive K, over
     * the layers tokens ran] + macs_saved_exit + macs_saved_prune */
    uint64_t layers_run;             /* (token, layer) pairs computed in full */
    uint64_t layers_native;          /* tokens x n_layer */
    uint64_t exit_tokens;            /* tokens that skipped layers */
    uint64_t exit_checks;            /* head evaluations that decided exits */
    uint64_t pruned_tokens;          /* prompt tokens dropped by pruning */
    int64_t macs_saved_exit;         /* skipped layers at native K - their K/V fill - the checks (may be < 0) */
    uint64_t macs_saved_prune;       /* pruned tokens' later layers + the keys later tokens did not attend */
} ak_compute_counters;

void ak_context_counters(const ak_context *c, ak_compute_counters *out);

/* Called for every token of every MoE layer with its routing decision (ids/weights: k
 * entries, descending probability). pos is the token's position in the sequence. */
typedef void (*ak_route_trace_fn)(void *user, int layer, int pos, float entropy, int k,
                                  const int32_t *ids, const float *weights);
void ak_context_set_trace(ak_context *c, ak_route_trace_fn fn, void *user);

/* Called once per MoE layer per ak_decode with the router logits [n_tokens][n_experts]
 * (for calibration). */
typedef void (*ak_router_logits_fn)(void *user, int layer, const float *logits, int n_tokens,
                                    int n_experts);
void ak_context_set_router_logits_sink(ak_context *c, ak_router_logits_fn fn, void *user);

/* The routed experts' outputs of one MoE layer for one ak_decode batch, exactly as the
 * layer sums them: sum[t] = sum over s < k[t] of weights[t][s] * rows[row[t][s]], slots in
 * descending router probability, added in slot order (for sensitivity profiles: the
 * output with only the top j experts is a prefix of that sum). */
typedef struct {
    int layer, n_tokens, n_embd, slots;
    const int *k;           /* [n_tokens] experts run per token */
    const float *weights;   /* [n_tokens][slots] weight of slot s (0 past k[t]) */
    const int *row;         /* [n_tokens][slots] row of `rows` holding slot s's output */
    const float *rows;      /* unweighted expert outputs, n_embd floats per row */
    const float *sum;       /* [n_tokens][n_embd] the weighted sum (before any shared expert) */
    const float *residual;  /* [n_tokens][n_embd] the residual stream the layer adds it to */
} ak_expert_outputs;
typedef void (*ak_expert_outputs_fn)(void *user, const ak_expert_outputs *o);
void ak_context_set_expert_outputs_sink(ak_context *c, ak_expert_outputs_fn fn, void *user);

#endif
