/* model_internal.h - structures shared by the engine's source files (not a public API). */
#ifndef AK_MODEL_INTERNAL_H
#define AK_MODEL_INTERNAL_H

#include "adaptivek.h" /* ak_error */
#include <math.h>
#include <stdint.h>

#include "model/model.h"
#include "model/threadpool.h"

#define AK_ENC_CACHE 4 /* distinct vec-dot types one activation may be encoded into */

/* A weight matrix (or a stack of n_mat matrices for merged experts) in the mapped file:
 * n_out rows of n_in elements, each row row_bytes long; matrix e starts at e * mat_bytes.
 * repacked: data is a copy in quant's x8 layout (same size; src/model/repack.c). */
typedef struct {
    const uint8_t *data;
    int type;
    int repacked;
    int64_t n_in, n_out;
    int64_t n_mat;
    size_t row_bytes;
    size_t mat_bytes;
} ak_mat;

/* What a layer computes: a mixer (attention, a Mamba-2 block or nothing) and a feed-forward
 * (routed experts, a dense one or nothing), each with its residual. Every architecture but
 * the hybrids has attention and a feed-forward in every layer; a nemotron_h_moe layer has
 * one of the three (its norm is attn_norm either way). */
enum { AK_MIXER_ATTENTION = 0, AK_MIXER_SSM = 1, AK_MIXER_NONE = 2, AK_MIXER_DELTANET = 3 };
enum { AK_FFN_MOE = 0, AK_FFN_DENSE = 1, AK_FFN_NONE = 2 };

typedef struct {
    int mixer, ffn;              /* AK_MIXER_*, AK_FFN_* */
    int kv_slot;                 /* attention: its index in the KV cache, else -1 */
    int ssm_slot;                /* Mamba-2: its index in the recurrent states, else -1 */
    float *attn_norm;            /* [n_embd] */
    ak_mat wq, wk, wv, wo;
    float *bq, *bk, *bv, *bo;    /* optional biases, NULL if absent */
    float *q_norm, *k_norm;      /* [q_dim]/[kv_dim] (olmoe) or [head_dim] (qwen3moe) */
    float *ffn_norm;             /* [n_embd] (gpt-oss: post_attention_norm) */
    ak_mat gate_inp;             /* router [n_expert][n_embd] */
    ak_mat gate_exps, up_exps, down_exps;
    ak_mat latent_down, latent_up; /* nemotron_h_moe's latent MoE: n_embd -> n_embd_moe -> n_embd, else empty */
    /* gpt-oss: attention sinks [n_head], router bias [n_expert], expert biases
     * [n_expert][n_ff] (gate, up) and [n_expert][n_embd] (down); NULL elsewhere */
    float *sinks, *gate_inp_b, *gate_exps_b, *up_exps_b, *down_exps_b;
    /* deepseek2: latent attention (model.h), the experts' selection bias [n_expert] */
    ak_mat wq_a, wq_b, wkv_a, wk_b, wv_b; /* wk_b, wv_b: n_head stacked matrices */
    float *q_a_norm, *kv_a_norm;
    float *exp_probs_b;
    /* a dense feed-forward instead of experts (deepseek2's leading layers) */
    ak_mat ffn_gate, ffn_up, ffn_down;
    /* Mamba-2 (nemotron_h_moe): in_proj to z | x B C | dt, the depthwise convolution
     * [conv channels][d_conv] and its bias, dt's bias, A (= -exp(A_log)) and D per head,
     * the grouped gated RMSNorm [d_inner], out_proj */
    ak_mat ssm_in, ssm_out;
    float *ssm_conv, *ssm_conv_b, *ssm_dt_b, *ssm_a, *ssm_d, *ssm_norm;
    /* Gated DeltaNet (qwen35moe): q | k | v before the convolution (attn_qkv), the output
     * gate z (attn_gate), beta's and alpha's projections (one value per head); it shares
     * ssm_conv, ssm_dt_b, ssm_a (-exp(A_log)), ssm_norm (per head) and ssm_out */
    ak_mat dn_qkv, dn_z, dn_beta, dn_alpha;
    /* shared expert (qwen2moe: gated by gate_inp_shexp; deepseek2: ungated, NULL) */
    float *gate_inp_shexp;       /* [n_embd] */
    ak_mat gate_shexp, up_shexp, down_shexp;
    int has_shexp;
    /* multiply-accumulates per token (load.c), for the accounting: the layer outside its
     * routed experts and attention's q.k / a.v; what filling a skipped layer for an exited
     * token costs (K/V projections, or a recurrent mixer); the routed experts at native K */
    uint64_t macs, fill_macs, expert_macs_native;
} ak_layer;

struct ak_model {
    gguf_file *gguf;
    ak_hparams hp;
    float expert_weights_scale;  /* 0 or 1: none */
    const uint8_t *tok_embd;     /* [n_vocab] rows of tok_embd_type */
    int tok_embd_type;
    size_t tok_embd_row_bytes;
    float *output_norm;
    ak_mat output;
    ak_layer *layers;
    float **owned;               /* dequantised 1-D tensors, freed with the model */
    uint8_t *repacked;           /* the repacked matrices' bytes (repack.c), or NULL */
    size_t repacked_bytes;
    int n_owned, cap_owned;
    uint64_t weight_bytes, expert_bytes;
};

/* Bytes of one token's activation row of n elements encoded for weights of type t. */
size_t ak_enc_row_bytes(int weight_type, int64_t n);
/* Encodes x (n floats) into the vec-dot type of weight_type. */
void ak_encode_row(int weight_type, const float *x, void *dst, int64_t n);

/* y[t * ystride + r] = W_e[r] . x_t for rows r0..r1-1 and tokens 0..n_tok-1, x_t the
 * encoded row at x + idx[t] * xstride (idx NULL: t). Rows outer, tokens inner: each
 * weight row is read once for the whole batch. */
void ak_mat_rows(const ak_mat *w, int64_t e, int64_t r0, int64_t r1, const uint8_t *x,
                 size_t xstride, const int *idx, int n_tok, float *y, size_t ystride);

/* repack.c: every matrix the x8 kernels take, copied into their layout (the mapped pages
 * it leaves are released when the file is mapped). 0, or -1 with err. */
int ak_model_repack(ak_model *m, ak_error *err);
void ak_model_repack_free(ak_model *m);

void ak_rms_norm(const float *x, const float *w, float *out, int n, float eps);

/* ledger.c: records one MoE layer's routing of a batch (ro, grouped by expert) in the
 * ledger and the counters; routes the native baseline when tracked. 0 or -1 with err. */
int ak_ledger_record(ak_context *c, int il, int n_tok, ak_error *err);

/* forward.c's helpers for the other parts of the forward pass (mla.c): y[i][t] = w[i] x_t
 * for up to three matrices sharing the batch's rows src [n_tok][n_in]; RoPE of one vector's
 * first n_rot values at pos (sq's tables); one row into a cache, in the cache's type. */
void ak_batch_matmul(ak_context *c, const float *src, int64_t n_in, int n_tok, const ak_mat *const *w,
                     float *const *y, int n_mat);
void ak_rope_row(const ak_context *sq, float *v, int pos);
void ak_enc_invalidate(ak_context *c); /* the encoded activations no longer match their source */
void ak_cache_row(uint8_t *dst, int type, const float *src, int n);

/* mla.c: deepseek2's latent attention around ak_attend. ak_mla_qkv: from c->xn, the query
 * rows into c->q and each token's latent row into its sequence's cache; ak_mla_values: the
 * heads' values from ak_attend's output into c->mla_v. */
void ak_mla_qkv(ak_context *c, int il, int n_tok);
void ak_mla_values(ak_context *c, const ak_layer *l, int n_tok);

/* ssm.c: a Mamba-2 block on c->xn (normed), its output into c->moe_out, each run's tokens
 * continuing its own sequence's recurrent state. */
void ak_ssm_layer(ak_context *c, const ak_layer *l, int n_tok);
/* Channels of a recurrent layer's convolution: Mamba-2's x | B | C, Gated DeltaNet's
 * v | q | k (ssm_d_inner values, two ssm_n_group x ssm_d_state blocks). */
static inline int ak_ssm_conv_channels(const ak_hparams *hp) {
    return hp->ssm_d_inner + 2 * hp->ssm_n_group * hp->ssm_d_state;
}
static inline float ak_silu(float x) { return x / (1.0f + expf(-x)); }
/* The same for a Gated DeltaNet block (qwen35moe). */
void ak_deltanet_layer(ak_context *c, const ak_layer *l, int n_tok);
size_t ak_ssm_conv_state_floats(const ak_hparams *hp); /* per SSM layer */
size_t ak_ssm_scan_state_floats(const ak_hparams *hp);

/* gating.c: routes n tokens' router logits with policy pol as the architecture's gating
 * does (ak_route for a softmax router; deepseek2's scores, bias and groups otherwise). */
int ak_gate_route(const ak_context *c, int il, const ak_policy *pol, const float *logits, int n, ak_route_out *ro,
                  ak_error *err);

/* Grows the buffers of expert slots per token to at least `slots` (0, or -1 out of memory). */
int ak_context_reserve_slots(ak_context *c, int slots);


/* The sequences of the batch being decoded: run r is seq[r]'s tokens [start[r], start[r+1])
 * of the batch. A plain ak_decode is one run of the context itself; ak_decode_group runs
 * several member contexts through the forward pass of an executing context (grouped). */
#define AK_GROUP_MAX 256
typedef struct {
    ak_context *const *seq;
    int start[AK_GROUP_MAX + 1];
    int n_runs;
    int grouped;
    int pruned[AK_GROUP_MAX];    /* tokens of run r pruned in this batch */
} ak_batch_runs;

struct ak_context {
    const ak_model *model;
    ak_hparams hp;
    int n_ctx, n_batch, n_threads;
    int n_past;
    ak_pool *pool;

    /* routing */
    ak_router_config cfg;        /* own copy (layers allocated) */
    int has_cfg;
    int native_policy;           /* routing is the model's own top-k for every layer */
    int slots;                   /* ids per token: max K over the layers' policies */
    ak_policy native;

    /* KV cache [n_layer][n_head_kv][n_ctx] rows of head_dim values in type_k / type_v
     * (k_row / v_row bytes a row); attn_scratch: per thread, the query encoded for type_k
     * dot products and one V row as floats (for types other than f32) */
    uint8_t *k_cache, *v_cache;
    int type_k, type_v;
    size_t k_row, v_row, attn_scratch_stride;
    uint8_t *attn_scratch;
    float *attn_work;            /* [n_threads][ak_attn_scratch_floats] the tiled kernel's scratch */
    float *attn_split;           /* [ak_attn_split_floats] parts of split decode items */
    int attn_reference;          /* tests: the reference per-key loop instead (attention.h) */
    float *rope_cos, *rope_sin;  /* [n_ctx][n_rot/2] */

    /* the batch being decoded: its runs, and each token's run and id */
    ak_batch_runs runs;
    ak_context *self;            /* this context, the one sequence of a plain ak_decode */
    int *tok_run;                /* [n_batch] */
    int32_t *batch_tokens;       /* [n_batch] */
    int *tok_pos;                /* [n_batch] position in its sequence */

    /* early exit and pruning (skip.c): this sequence's settings, the positions its caches of
     * layers > gap_layer lack (pruned); per batch token the last layer it runs in full
     * (exit) and its exit checks; per run the pruned tokens; the prune layer's scores */
    ak_skip_params skip;
    int kv_gap, gap_layer;
    ak_exit_probe_fn probe;
    void *probe_user;
    int *tok_last, *tok_checks;  /* [n_batch] */
    int *tok_list;               /* [n_batch] scratch */
    int n_exited;                /* batch tokens that exited so far */
    int n_pruned;                /* batch tokens pruned */
    float *tok_score;            /* [n_batch] */
    float *x_prev;               /* [n_batch][n_embd] hidden states before the layer (saturation checks) */

    /* activations for n_batch tokens */
    float *x, *xn, *q, *k, *v, *att, *moe_out, *shexp_out;
    uint8_t *xenc;               /* [AK_ENC_CACHE][n_batch] encoded rows, enc_stride bytes each */
    int enc_vdt[AK_ENC_CACHE];   /* vec-dot type held by each xenc slot, -1 none */
    const float *enc_src;        /* activations the xenc slots encode */
    size_t enc_stride, enc_stride_ff;
    float *scores;               /* [n_threads][n_ctx] */
    float *router_logits;        /* [n_batch][n_expert] */
    float *logits;               /* [n_batch][n_vocab] */
    int logits_last;             /* the head only for each run's last token (ak_context_params) */
    int n_logits;                /* tokens of the last ak_decode call */
    int logits_first;            /* the first of them whose logits are kept (row 0 of logits) */
    int logit_rows;              /* rows the logits buffer holds */

    /* routing results and expert grouping */
    int *route_k, *native_k;
    int32_t *route_ids, *native_ids;
    float *route_w, *native_w, *route_h, *native_h;
    int *exp_count, *exp_off;    /* [n_expert], [n_expert + 1] */
    int *assign_tok;             /* [n_batch * slots] token of assignment a (grouped by expert) */
    int *assign_of;              /* [n_batch * slots] assignment of (token, slot) */
    int *active;                 /* [n_expert] experts with tokens, ascending */
    int n_active;
    uint8_t *mark;               /* [n_expert] scratch */
    float *h_gate, *h_up;        /* [n_batch * slots][n_ff] */
    uint8_t *henc;               /* [n_batch * slots] encoded rows of h */
    uint8_t *xgather;            /* [n_batch * slots] encoded inputs, grouped by expert */
    float *y_exp;                /* [n_batch * slots][n_embd] expert outputs */
    float *sh_gate, *sh_up;      /* [n_batch][n_ff_shexp] */
    uint8_t *sh_enc;
    /* MLA (deepseek2): q's low-rank input [n_batch][n_lora_q], q before absorption
     * [n_batch][n_head][head_k_mla], the heads' values [n_batch][n_head][head_v_mla], and
     * per-head encoded rows [n_batch][n_head] of mla_enc_stride bytes */
    float *mla_qa, *mla_q, *mla_v;
    uint8_t *mla_enc;
    size_t mla_enc_stride;
    /* Mamba-2: the recurrent state of this context's sequence per SSM layer (the last
     * d_conv - 1 convolution inputs [channels][d_conv - 1], the scan state
     * [n_ssm_head][head width][d_state]), and the batch's in_proj rows [n_batch][d_in_proj]
     * and scan outputs [n_batch][d_inner] */
    float *conv_state, *ssm_state;
    float *ssm_zxbcdt, *ssm_y;
    /* gated attention (qwen35moe): attn_q's rows [n_batch][2 q_dim] (each head's query then
     * its gate), the gates [n_batch][q_dim] */
    float *q_full, *attn_gate;
    /* latent MoE: the experts' input [n_batch][n_embd_moe] and their weighted sum */
    float *lat_in, *lat_sum;

    ak_layer_ledger *ledger;     /* [n_layer] */
    int native_baseline;         /* the ledger tracks what native top-k would cost */
    ak_compute_counters counters;
    ak_route_trace_fn trace;
    void *trace_user;
    ak_router_logits_fn sink;
    void *sink_user;
    ak_expert_outputs_fn out_sink;
    void *out_sink_user;
};

/* The sequence of batch token t, and its position in that sequence. */
static inline ak_context *ak_run_seq(const ak_context *c, int t) { return c->runs.seq[c->tok_run[t]]; }
static inline int ak_run_pos(const ak_context *c, int t) { return c->tok_pos[t]; }
/* The cache row of sequence sq's first token of this batch in layer il: its position,
 * less the pruned positions a layer past the prune layer lacks. Run r's rows follow on. */
static inline int ak_kv_base(const ak_context *sq, int il) {
    return sq->n_past - (il > sq->gap_layer ? sq->kv_gap : 0);
}
static inline int ak_run_kv(const ak_context *c, int t, int il) {
    const int r = c->tok_run[t];
    return ak_kv_base(c->runs.seq[r], il) + t - c->runs.start[r];
}
/* Whether a batch without pruning runs the head for every token (a plain decode without
 * logits_last); else, and in a batch that pruned, only for each run's last token. */
static inline int ak_head_every_token(const ak_context *c) { return !c->runs.grouped && !c->logits_last; }
static inline int ak_head_last_only(const ak_context *c) { return !ak_head_every_token(c) || c->n_pruned; }

/* Whether batch token t is still computed in layer il (it has not exited before). */
static inline int ak_tok_live(const ak_context *c, int t, int il) { return c->tok_last[t] >= il; }

/* skip.c: early exit and pruning inside the forward pass. ak_skip_batch_start: every token
 * live; ak_exit_check after layer il (marks exits, runs the probe); ak_prune_batch after
 * layer il: ranks the batch by its last token's attention there and drops the pruned tokens
 * (returns the new token count). */
void ak_skip_batch_start(ak_context *c, int n_tok);
void ak_exit_layer_start(ak_context *c, int il, int n_tok); /* keeps x for saturation checks after il */
void ak_exit_check(ak_context *c, int il, int n_tok);
int ak_prune_batch(ak_context *c, int il, int n_tok);
int ak_prune_here(const ak_context *c, int il); /* some run prunes after layer il */
/* attention.c: the attention probability of batch token t's heads (averaged) on each of
 * its run's batch tokens [t0, t] at layer il, into out[0 .. t - t0]. */
void ak_attention_of_token(ak_context *c, int il, int t, float *out);
/* ledger.c: the compute of the batch's tokens (all but the routed experts, which
 * ak_ledger_record counts), and of run r's token at position pos pruned after layer il. */
void ak_ledger_count_batch(ak_context *c);
void ak_ledger_count_pruned(ak_context *c, int r, int pos, int last, int checks, int il);
uint64_t ak_exit_check_macs(const ak_context *sq); /* what one of the sequence's exit checks costs */

#endif
