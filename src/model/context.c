/* context.c - context creation: KV cache, scratch buffers sized for n_batch, routing
 * policy, statistics and counters. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/attention.h"
#include "model/model_internal.h"
#include "base/errfmt.h"
#include "quant/quant.h"

ak_context_params ak_context_default_params(void) {
    ak_context_params p = {0, 512, 0, NULL, AK_TYPE_F16, AK_TYPE_F16, 0};
    return p;
}

static size_t max3(size_t a, size_t b, size_t c) { return a > b ? (a > c ? a : c) : (b > c ? b : c); }

static void *zalloc(size_t n, size_t size, int *ok) {
    if (n == 0) n = 1;
    void *p = calloc(n, size);
    if (!p) *ok = 0;
    return p;
}

static void free_slot_buffers(ak_context *c) {
    free(c->route_ids);
    free(c->route_w);
    free(c->assign_tok);
    free(c->assign_of);
    free(c->h_gate);
    free(c->h_up);
    free(c->henc);
    free(c->xgather);
    c->xgather = NULL;
    free(c->y_exp);
    c->route_ids = NULL;
    c->route_w = NULL;
    c->assign_tok = c->assign_of = NULL;
    c->h_gate = c->h_up = c->y_exp = NULL;
    c->henc = NULL;
    c->slots = 0;
}

/* Buffers whose size depends on the most experts a token can choose. */
int ak_context_reserve_slots(ak_context *c, int slots) {
    if (slots <= c->slots) return 0;
    free_slot_buffers(c);
    int ok = 1;
    size_t n = (size_t)c->n_batch * (size_t)slots;
    c->route_ids = zalloc(n, sizeof(int32_t), &ok);
    c->route_w = zalloc(n, sizeof(float), &ok);
    c->assign_tok = zalloc(n, sizeof(int), &ok);
    c->assign_of = zalloc(n, sizeof(int), &ok);
    c->h_gate = zalloc(n * (size_t)c->hp.n_ff_exp, sizeof(float), &ok);
    c->h_up = zalloc(n * (size_t)c->hp.n_ff_exp, sizeof(float), &ok);
    c->henc = zalloc(n, c->enc_stride_ff, &ok);
    c->xgather = zalloc(n, c->enc_stride, &ok);
    c->y_exp = zalloc(n * (size_t)(c->hp.n_embd > c->hp.n_embd_moe ? c->hp.n_embd : c->hp.n_embd_moe), sizeof(float), &ok);
    if (!ok) {
        free_slot_buffers(c);
        return -1;
    }
    c->slots = slots;
    return 0;
}

int ak_context_set_routing(ak_context *c, const ak_router_config *cfg, ak_error *err) {
    const int X = c->hp.n_expert;
    ak_router_config copy;
    memset(&copy, 0, sizeof copy);
    int slots = c->hp.n_expert_used;
    if (cfg) {
        ak_error e;
        if (cfg->n_experts != X) {
            ak_failf(err, AK_ERR_INVALID_ARG, "router config '%s' is for %d experts, the model has %d", cfg->name,
                    cfg->n_experts, X);
            return -1;
        }
        if (cfg->n_layers != 0 && cfg->n_layers != c->hp.n_layer) {
            ak_failf(err, AK_ERR_INVALID_ARG, "router config '%s' has %d layer policies, the model has %d layers", cfg->name,
                    cfg->n_layers, c->hp.n_layer);
            return -1;
        }
        if (ak_config_validate(cfg, &e) != AK_OK) {
            ak_failf(err, e.code, "router config '%s': %s", cfg->name, e.msg);
            return -1;
        }
        copy = *cfg;
        copy.layers = NULL;
        if (cfg->n_layers > 0) {
            copy.layers = malloc((size_t)cfg->n_layers * sizeof *copy.layers);
            if (!copy.layers) {
                ak_failf(err, AK_ERR_NOMEM, "out of memory");
                return -1;
            }
            memcpy(copy.layers, cfg->layers, (size_t)cfg->n_layers * sizeof *copy.layers);
        }
        for (int il = 0; il < c->hp.n_layer; il++) {
            if (ak_policy_validate(ak_config_layer_policy(&copy, il), X, &e) != AK_OK) {
                ak_failf(err, e.code, "router config '%s', layer %d: %s", cfg->name, il, e.msg);
                free(copy.layers);
                return -1;
            }
            int mk = ak_policy_max_k(ak_config_layer_policy(&copy, il), X);
            if (mk > slots) slots = mk;
        }
    }
    if (ak_context_reserve_slots(c, slots)) {
        free(copy.layers);
        ak_failf(err, AK_ERR_NOMEM, "out of memory for %d expert slots per token", slots);
        return -1;
    }
    if (c->has_cfg) free(c->cfg.layers);
    c->cfg = copy;
    c->has_cfg = cfg != NULL;
    c->native_policy = 1;
    for (int il = 0; cfg && il < c->hp.n_layer; il++) {
        const ak_policy *p = ak_config_layer_policy(&c->cfg, il);
        if (p->kind != AK_POLICY_FIXED || p->k != c->hp.n_expert_used) c->native_policy = 0;
    }
    return 0;
}

/* The rope table as ggml builds it: theta = pos * freq_scale * base^(-2i/n_rot), the power
 * taken by repeated multiplication in float. */
/* YaRN's correction dimension for a number of rotations (ggml_rope_yarn_corr_dim). */
static float yarn_corr_dim(int n_dims, int n_ctx_orig, float n_rot, float base) {
    return (float)n_dims * logf((float)n_ctx_orig / (n_rot * 2 * (float)M_PI)) / (2 * logf(base));
}

/* cos/sin of every position and rotated pair, computed as ggml's rope cache does (the same
 * float operations in the same order): theta = pos * base^(-2i/n_rot), scaled by
 * rope_freq_scale; with YaRN (ext_factor 1) mixed back towards the unscaled angle for the
 * fast-rotating dimensions (a ramp between the correction dimensions of beta_fast 32 and
 * beta_slow 1 rotations) and the magnitude raised by 1 + 0.1 ln(factor). */
static void fill_rope(ak_context *c, const ak_hparams *hp) {
    const int half = hp->n_rot / 2;
    const float theta_scale = powf(hp->rope_freq_base, -2.0f / (float)hp->n_rot);
    const float lo = fmaxf(0, floorf(yarn_corr_dim(hp->n_rot, hp->rope_orig_ctx, 32.0f, hp->rope_freq_base)));
    const float hi = fminf((float)(hp->n_rot - 1), ceilf(yarn_corr_dim(hp->n_rot, hp->rope_orig_ctx, 1.0f, hp->rope_freq_base)));
    for (int pos = 0; pos < c->n_ctx; pos++) {
        float theta = (float)pos;
        for (int i = 0; i < half; i++) {
            float t = hp->rope_freq_scale * theta, mscale = hp->rope_attn_factor;
            if (hp->rope_ext_factor != 0.0f) {
                float y = ((float)i - lo) / fmaxf(0.001f, hi - lo);
                float ramp_mix = (1 - fminf(1, fmaxf(0, y))) * hp->rope_ext_factor;
                t = t * (1 - ramp_mix) + theta * ramp_mix;
                mscale *= 1.0f + 0.1f * logf(1.0f / hp->rope_freq_scale);
            }
            c->rope_cos[(size_t)pos * half + i] = cosf(t) * mscale;
            c->rope_sin[(size_t)pos * half + i] = sinf(t) * mscale;
            theta *= theta_scale;
        }
    }
}

/* A type the cache can hold rows of head_dim values in: f32, or a weight type whose blocks
 * divide the row (its vec-dot kernel computes q.k; rows are (de)quantised for V). */
static int kv_type_ok(int t, int head_dim) {
    if (t == AK_TYPE_F32) return 1;
    return ak_type_supported(t) && ak_type_is_weight(t) && head_dim % ak_type_block_elems((ak_type)t) == 0 &&
           (t == AK_TYPE_F16 || t == AK_TYPE_BF16 || t == AK_TYPE_Q8_0 || t == AK_TYPE_Q4_0);
}

uint64_t ak_kv_cache_bytes(const ak_model *m, int n_ctx, int type_k, int type_v) {
    const ak_hparams *hp = &m->hp;
    if (!kv_type_ok(type_k, hp->head_dim) || !kv_type_ok(type_v, hp->head_dim)) return 0;
    uint64_t rows = (uint64_t)hp->n_layer_kv * (uint64_t)hp->n_head_kv * (uint64_t)n_ctx;
    if (hp->n_lora_kv) return rows * ak_row_bytes((ak_type)type_k, hp->head_dim); /* MLA: V is in K's rows */
    return rows * (ak_row_bytes((ak_type)type_k, hp->head_dim) + ak_row_bytes((ak_type)type_v, hp->head_dim));
}

uint64_t ak_recurrent_state_bytes(const ak_model *m) {
    const ak_hparams *hp = &m->hp;
    return (uint64_t)hp->n_layer_ssm * (ak_ssm_conv_state_floats(hp) + ak_ssm_scan_state_floats(hp)) * sizeof(float);
}

uint64_t ak_memory_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[128];
    unsigned long long kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) break;
    fclose(f);
    return (uint64_t)kib * 1024;
}

ak_context *ak_context_new(const ak_model *m, const ak_context_params *params, ak_error *err) {
    ak_error_clear(err);
    if (!m) {
        ak_failf(err, AK_ERR_INVALID_ARG, "no model");
        return NULL;
    }
    ak_context_params p = params ? *params : ak_context_default_params();
    const ak_hparams *hp = &m->hp;
    if (p.n_ctx < 0 || p.n_batch < 1 || p.n_threads < 0) {
        ak_failf(err, AK_ERR_INVALID_ARG, "invalid context parameters (n_ctx %d, n_batch %d, n_threads %d)", p.n_ctx,
                p.n_batch, p.n_threads);
        return NULL;
    }
    ak_context *c = calloc(1, sizeof *c);
    if (!c) {
        ak_failf(err, AK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    c->model = m;
    c->self = c;
    c->hp = *hp;
    c->n_ctx = p.n_ctx > 0 ? p.n_ctx : hp->n_ctx_train;
    if (!kv_type_ok(p.type_k, hp->head_dim) || !kv_type_ok(p.type_v, hp->head_dim)) {
        ak_failf(err, AK_ERR_INVALID_ARG,
                 "KV cache types %s/%s: supported are f32, f16, bf16, q8_0 and q4_0 (q8_0/q4_0 need a head "
                 "dimension that is a multiple of 32; this model's is %d)",
                 ak_type_name(p.type_k), ak_type_name(p.type_v), hp->head_dim);
        free(c);
        return NULL;
    }
    uint64_t kv = ak_kv_cache_bytes(m, c->n_ctx, p.type_k, p.type_v), avail = ak_memory_available();
    if (avail && kv > avail) { /* calloc would succeed (pages come on first touch) and fail later */
        ak_failf(err, AK_ERR_NOMEM,
                 "a context of %d tokens needs %.2f GiB of KV cache (%.1f KiB per token, K %s, V %s), more than "
                 "the %.2f GiB of memory available: use a smaller context (-c) or a smaller cache type (-ctk/-ctv)",
                 c->n_ctx, kv / 1073741824.0, kv / 1024.0 / c->n_ctx, ak_type_name(p.type_k), ak_type_name(p.type_v),
                 avail / 1073741824.0);
        free(c);
        return NULL;
    }
    /* the recurrent states are written whole at every reset: a file that asks for more than
     * the machine has is refused here rather than killed later */
    const uint64_t state = ak_recurrent_state_bytes(m);
    if (avail && state > avail - (kv < avail ? kv : avail)) {
        ak_failf(err, AK_ERR_NOMEM,
                 "the recurrent state of %d layers needs %.2f GiB (%.2f MiB per layer) next to %.2f GiB of KV "
                 "cache, more than the %.2f GiB of memory available", hp->n_layer_ssm, state / 1073741824.0,
                 state / 1048576.0 / hp->n_layer_ssm, kv / 1073741824.0, avail / 1073741824.0);
        free(c);
        return NULL;
    }
    c->n_batch = p.n_batch < c->n_ctx ? p.n_batch : c->n_ctx;
    c->logits_last = p.logits_last != 0;
    c->n_threads = p.n_threads > 0 ? p.n_threads : ak_cpu_count();
    c->native = ak_policy_fixed(hp->n_expert_used);

    const size_t B = (size_t)c->n_batch, E = (size_t)hp->n_embd, X = (size_t)hp->n_expert;
    const size_t q_dim = (size_t)hp->n_head * hp->head_dim, kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    const size_t mla_v = (size_t)hp->n_head * (size_t)hp->head_v_mla, mla_q = (size_t)hp->n_head * hp->head_k_mla;
    const size_t in_max = max3(max3(q_dim, E, (size_t)hp->n_embd_moe), mla_v, max3((size_t)hp->n_lora_q, (size_t)hp->ssm_d_inner, 0));
    const size_t ff_dense = max3((size_t)hp->n_ff_shexp, (size_t)hp->n_ff_dense, 0); /* shared experts, dense layers */
    const size_t ff_max = max3((size_t)hp->n_ff_exp, ff_dense, 0);
    /* f32 is the widest encoding of any vec-dot type; 64-byte rows keep them aligned */
    c->enc_stride = (in_max * sizeof(float) + 63) & ~(size_t)63;
    c->enc_stride_ff = (ff_max * sizeof(float) + 63) & ~(size_t)63;

    int ok = 1;
    const size_t rows = (size_t)hp->n_layer_kv * (size_t)hp->n_head_kv * (size_t)c->n_ctx;
    c->type_k = p.type_k, c->type_v = p.type_v;
    c->k_row = ak_row_bytes((ak_type)c->type_k, hp->head_dim), c->v_row = ak_row_bytes((ak_type)c->type_v, hp->head_dim);
    c->k_cache = zalloc(rows, c->k_row, &ok);
    if (hp->n_lora_kv) { /* MLA: the values are the latent part of the K rows */
        c->type_v = c->type_k, c->v_row = c->k_row;
    } else {
        c->v_cache = zalloc(rows, c->v_row, &ok);
    }
    c->attn_scratch_stride = (ak_encoded_row_bytes(c->type_k == AK_TYPE_F32 ? AK_TYPE_F16 : (ak_type)c->type_k,
                                                   hp->head_dim) + (size_t)hp->head_dim * sizeof(float) + 63) & ~(size_t)63;
    c->attn_scratch = zalloc((size_t)c->n_threads, c->attn_scratch_stride, &ok);
    c->attn_work = zalloc((size_t)c->n_threads * ak_attn_scratch_floats(c), sizeof(float), &ok);
    c->attn_split = zalloc(ak_attn_split_floats(c), sizeof(float), &ok);
    c->rope_cos = zalloc((size_t)c->n_ctx * (size_t)hp->n_rot / 2, sizeof(float), &ok);
    c->rope_sin = zalloc((size_t)c->n_ctx * (size_t)hp->n_rot / 2, sizeof(float), &ok);
    c->tok_run = zalloc(B, sizeof(int), &ok);
    c->batch_tokens = zalloc(B, sizeof(int32_t), &ok);
    c->tok_pos = zalloc(B, sizeof(int), &ok);
    c->tok_last = zalloc(B, sizeof(int), &ok);
    c->tok_checks = zalloc(B, sizeof(int), &ok);
    c->tok_list = zalloc(B, sizeof(int), &ok);
    c->tok_score = zalloc(B, sizeof(float), &ok);
    c->x_prev = zalloc(B * E, sizeof(float), &ok);
    c->x = zalloc(B * E, sizeof(float), &ok);
    c->xn = zalloc(B * E, sizeof(float), &ok);
    c->q = zalloc(B * q_dim, sizeof(float), &ok);
    c->k = zalloc(B * kv_dim, sizeof(float), &ok);
    c->v = zalloc(B * kv_dim, sizeof(float), &ok);
    c->att = zalloc(B * q_dim, sizeof(float), &ok);
    c->moe_out = zalloc(B * E, sizeof(float), &ok);
    c->shexp_out = zalloc(B * E, sizeof(float), &ok);
    c->xenc = zalloc(AK_ENC_CACHE * B, c->enc_stride, &ok);
    c->scores = zalloc((size_t)c->n_threads * (size_t)c->n_ctx, sizeof(float), &ok);
    c->router_logits = zalloc(B * X, sizeof(float), &ok);
    /* logits_last: one row per sequence of a group at most (a plain decode writes one) */
    const size_t logit_rows = c->logits_last && B > AK_GROUP_MAX ? AK_GROUP_MAX : B;
    c->logits = zalloc(logit_rows * (size_t)hp->n_vocab, sizeof(float), &ok);
    c->logit_rows = (int)logit_rows;
    c->skip = ak_skip_default_params();
    c->gap_layer = hp->n_layer;
    c->route_k = zalloc(B, sizeof(int), &ok);
    c->route_h = zalloc(B, sizeof(float), &ok);
    c->native_k = zalloc(B, sizeof(int), &ok);
    c->native_h = zalloc(B, sizeof(float), &ok);
    c->native_ids = zalloc(B * (size_t)hp->n_expert_used, sizeof(int32_t), &ok);
    c->native_w = zalloc(B * (size_t)hp->n_expert_used, sizeof(float), &ok);
    c->exp_count = zalloc(X, sizeof(int), &ok);
    c->exp_off = zalloc(X + 1, sizeof(int), &ok);
    c->active = zalloc(X, sizeof(int), &ok);
    c->mark = zalloc(X, 1, &ok);
    if (hp->n_lora_kv) {
        /* one encoded row per token and head for the per-head attn_k_b / attn_v_b products */
        c->mla_enc_stride = (max3((size_t)hp->n_lora_kv, (size_t)(hp->head_k_mla - hp->n_rot), 0) * sizeof(float) + 63) &
                            ~(size_t)63;
        c->mla_qa = zalloc(B * (size_t)(hp->n_lora_q ? hp->n_lora_q : 1), sizeof(float), &ok);
        c->mla_q = zalloc(B * mla_q, sizeof(float), &ok);
        c->mla_v = zalloc(B * mla_v, sizeof(float), &ok);
        c->mla_enc = zalloc(B * (size_t)hp->n_head, c->mla_enc_stride, &ok);
    }
    if (hp->n_layer_ssm) { /* Mamba-2: recurrent states, in_proj rows (z, xBC, dt) and scan outputs */
        /* Mamba-2: z | xBC | dt; Gated DeltaNet: q k v, z, beta, alpha (one more per head) */
        const size_t proj = (size_t)(ak_ssm_conv_channels(hp) + hp->ssm_d_inner + 2 * hp->ssm_n_head);
        c->conv_state = zalloc((size_t)hp->n_layer_ssm * ak_ssm_conv_state_floats(hp), sizeof(float), &ok);
        c->ssm_state = zalloc((size_t)hp->n_layer_ssm * ak_ssm_scan_state_floats(hp), sizeof(float), &ok);
        c->ssm_zxbcdt = zalloc(B * proj, sizeof(float), &ok);
        c->ssm_y = zalloc(B * (size_t)hp->ssm_d_inner, sizeof(float), &ok);
    }
    if (hp->n_embd_moe != hp->n_embd) {
        c->lat_in = zalloc(B * (size_t)hp->n_embd_moe, sizeof(float), &ok);
        c->lat_sum = zalloc(B * (size_t)hp->n_embd_moe, sizeof(float), &ok);
    }
    if (hp->attn_gated) {
        c->q_full = zalloc(B * 2 * q_dim, sizeof(float), &ok);
        c->attn_gate = zalloc(B * q_dim, sizeof(float), &ok);
    }
    if (ff_dense > 0) {
        c->sh_gate = zalloc(B * ff_dense, sizeof(float), &ok);
        c->sh_up = zalloc(B * ff_dense, sizeof(float), &ok);
        c->sh_enc = zalloc(B, c->enc_stride_ff, &ok);
    }
    c->ledger = zalloc((size_t)hp->n_layer, sizeof(ak_layer_ledger), &ok);
    c->native_baseline = 1;
    if (!ok) {
        ak_failf(err, AK_ERR_NOMEM, "out of memory for a context of %d tokens (batch %d)", c->n_ctx, c->n_batch);
        ak_context_free(c);
        return NULL;
    }
    c->pool = ak_pool_new(c->n_threads);
    if (!c->pool) {
        ak_failf(err, AK_ERR_INVALID_ARG, "could not start %d threads", c->n_threads);
        ak_context_free(c);
        return NULL;
    }
    if (ak_context_set_routing(c, p.routing, err)) {
        ak_context_free(c);
        return NULL;
    }

    fill_rope(c, hp);
    ak_context_reset_stats(c);
    return c;
}

void ak_context_free(ak_context *c) {
    if (!c) return;
    ak_pool_free(c->pool);
    free_slot_buffers(c);
    if (c->has_cfg) free(c->cfg.layers);
    void *bufs[] = {c->k_cache, c->v_cache, c->attn_scratch, c->attn_work, c->attn_split, c->rope_cos, c->rope_sin, c->tok_run, c->batch_tokens,
                    c->tok_pos, c->tok_last, c->tok_checks, c->tok_list, c->tok_score, c->x_prev, c->x, c->xn, c->q, c->k, c->v,
                    c->att, c->moe_out, c->shexp_out, c->xenc, c->scores, c->router_logits, c->logits,
                    c->route_k, c->route_h, c->native_k, c->native_h, c->native_ids, c->native_w,
                    c->exp_count, c->exp_off, c->active, c->mark, c->sh_gate, c->sh_up, c->sh_enc,
                    c->ledger, c->mla_qa, c->mla_q, c->mla_v, c->mla_enc, c->conv_state, c->ssm_state,
                    c->ssm_zxbcdt, c->ssm_y, c->q_full, c->attn_gate, c->lat_in, c->lat_sum};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(c);
}

int ak_context_n_ctx(const ak_context *c) { return c->n_ctx; }
uint64_t ak_context_kv_bytes_per_token(const ak_context *c) { return ak_kv_cache_bytes(c->model, 1, c->type_k, c->type_v); }
int ak_context_n_batch(const ak_context *c) { return c->n_batch; }
int ak_context_n_threads(const ak_context *c) { return c->n_threads; }
int ak_context_n_past(const ak_context *c) { return c->n_past; }
const ak_model *ak_context_model(const ak_context *c) { return c->model; }
void ak_context_reset(ak_context *c) {
    c->n_past = 0;
    c->kv_gap = 0;
    c->gap_layer = c->hp.n_layer;
    const ak_hparams *hp = &c->hp;
    if (!hp->n_layer_ssm) return;
    memset(c->conv_state, 0, (size_t)hp->n_layer_ssm * ak_ssm_conv_state_floats(hp) * sizeof(float));
    memset(c->ssm_state, 0, (size_t)hp->n_layer_ssm * ak_ssm_scan_state_floats(hp) * sizeof(float));
}

int ak_context_truncate(ak_context *c, int n, ak_error *err) {
    if (n < 0 || n > c->n_past)
        return ak_failf(err, AK_ERR_INVALID_ARG, "truncate to %d tokens: the cache holds %d", n, c->n_past);
    if (n == 0) ak_context_reset(c);
    if (n == 0 || n == c->n_past) return 0;
    if (c->hp.n_layer_ssm)
        return ak_failf(err, AK_ERR_INVALID_ARG, "truncate to %d of %d tokens: a %s model's recurrent state cannot go "
                        "back to an earlier position (only a reset)", n, c->n_past, c->hp.arch);
    if (c->kv_gap)
        return ak_failf(err, AK_ERR_INVALID_ARG, "truncate to %d of %d tokens: %d pruned prompt tokens are missing "
                        "from the cache of layers past %d (only a reset)", n, c->n_past, c->kv_gap, c->gap_layer);
    c->n_past = n;
    return 0;
}

int ak_context_set_logits_last(ak_context *c, int on, ak_error *err) {
    if (!on && c->logit_rows < c->n_batch)
        return ak_failf(err, AK_ERR_INVALID_ARG, "logits of every token need %d rows; this context (created for the last "
                        "token's logits) has %d", c->n_batch, c->logit_rows);
    c->logits_last = on != 0;
    return 0;
}

const float *ak_get_logits(const ak_context *c, int i) {
    if (i < 0) i += c->n_logits;
    if (i < c->logits_first || i >= c->n_logits) return NULL;
    return c->logits + (size_t)(i - c->logits_first) * (size_t)c->hp.n_vocab;
}

const ak_layer_ledger *ak_context_ledger(const ak_context *c, int layer) {
    if (layer < 0 || layer >= c->hp.n_layer) return NULL;
    return &c->ledger[layer];
}

const ak_layer_stats *ak_context_layer_stats(const ak_context *c, int layer) {
    if (layer < 0 || layer >= c->hp.n_layer) return NULL;
    return &c->ledger[layer].k;
}

void ak_context_set_native_baseline(ak_context *c, int on) { c->native_baseline = on != 0; }

void ak_context_reset_stats(ak_context *c) {
    for (int il = 0; il < c->hp.n_layer; il++) {
        memset(&c->ledger[il], 0, sizeof c->ledger[il]);
        ak_stats_init(&c->ledger[il].k, c->hp.n_expert, c->hp.n_expert_used);
    }
    memset(&c->counters, 0, sizeof c->counters);
}

void ak_context_counters(const ak_context *c, ak_compute_counters *out) { *out = c->counters; }

void ak_context_set_trace(ak_context *c, ak_route_trace_fn fn, void *user) {
    c->trace = fn;
    c->trace_user = user;
}

void ak_context_set_router_logits_sink(ak_context *c, ak_router_logits_fn fn, void *user) {
    c->sink = fn;
    c->sink_user = user;
}

void ak_context_set_expert_outputs_sink(ak_context *c, ak_expert_outputs_fn fn, void *user) {
    c->out_sink = fn;
    c->out_sink_user = user;
}
