/* load.c - hyperparameters and tensors of a GGUF MoE model, validated against what each
 * architecture needs (names and shapes as llama.cpp's loader expects them). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"
#include "quant/quant.h"
#include "base/errfmt.h"

typedef struct {
    ak_model *m;
    ak_error *err;
} loader;

/* "<arch>.<suffix>" as an integer; arrays (per-layer values) must hold one repeated value.
 * Returns 1 found, 0 absent, -1 error. */
static int get_int(loader *L, const char *suffix, int64_t *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", L->m->hp.arch, suffix);
    const gguf_file *f = L->m->gguf;
    if (gguf_get_i64(f, key, out)) return 1;
    gguf_type et;
    uint64_t n;
    if (gguf_get_arr_info(f, key, &et, &n)) {
        if (n == 0 || (et != GGUF_TYPE_INT32 && et != GGUF_TYPE_UINT32))
            return ak_failf(L->err, AK_ERR_FORMAT, "metadata %s: expected an integer or an array of int32", key);
        const uint8_t *d = gguf_get_arr_data(f, key);
        int32_t first, v;
        memcpy(&first, d, 4);
        for (uint64_t i = 1; i < n; i++) {
            memcpy(&v, d + 4 * i, 4);
            if (v != first) return ak_failf(L->err, AK_ERR_FORMAT, "metadata %s: per-layer values that differ are not supported", key);
        }
        *out = first;
        return 1;
    }
    if (gguf_find_key(f, key) >= 0) return ak_failf(L->err, AK_ERR_FORMAT, "metadata %s: expected an integer", key);
    return 0;
}

static int need_int(loader *L, const char *suffix, int64_t lo, int64_t hi, int *out) {
    int64_t v;
    int r = get_int(L, suffix, &v);
    if (r < 0) return -1;
    if (r == 0) return ak_failf(L->err, AK_ERR_FORMAT, "missing metadata key %s.%s", L->m->hp.arch, suffix);
    if (v < lo || v > hi)
        return ak_failf(L->err, AK_ERR_FORMAT, "metadata %s.%s = %lld is out of range [%lld, %lld]", L->m->hp.arch, suffix,
                    (long long)v, (long long)lo, (long long)hi);
    *out = (int)v;
    return 0;
}

static int opt_int(loader *L, const char *suffix, int64_t lo, int64_t hi, int def, int *out) {
    int64_t v;
    int r = get_int(L, suffix, &v);
    if (r < 0) return -1;
    if (r == 0) {
        *out = def;
        return 0;
    }
    if (v < lo || v > hi)
        return ak_failf(L->err, AK_ERR_FORMAT, "metadata %s.%s = %lld is out of range [%lld, %lld]", L->m->hp.arch, suffix,
                    (long long)v, (long long)lo, (long long)hi);
    *out = (int)v;
    return 0;
}

static int opt_f32(loader *L, const char *suffix, float def, float *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", L->m->hp.arch, suffix);
    if (gguf_find_key(L->m->gguf, key) < 0) {
        *out = def;
        return 0;
    }
    if (!gguf_get_f32(L->m->gguf, key, out) || !isfinite(*out))
        return ak_failf(L->err, AK_ERR_FORMAT, "metadata %s: expected a finite float", key);
    return 0;
}

static void shape_str(const int64_t *ne, int nd, char *buf, size_t len) {
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < nd && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? ", " : "", (long long)ne[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

/* Finds a tensor and checks its shape (nd dims, ne[0] fastest) and type. */
static const gguf_tensor *find(loader *L, const char *name, int nd, const int64_t *ne, int required) {
    const gguf_tensor *t = gguf_find_tensor(L->m->gguf, name);
    char want[96], got[96];
    shape_str(ne, nd, want, sizeof want);
    if (!t) {
        if (required) ak_failf(L->err, AK_ERR_FORMAT, "missing tensor %s (expected shape %s)", name, want);
        return NULL;
    }
    int ok = 1;
    for (int i = 0; i < GGUF_MAX_DIMS; i++) {
        int64_t expect = i < nd ? ne[i] : 1;
        int64_t have = i < (int)t->n_dims ? t->ne[i] : 1;
        if (expect != have) ok = 0;
    }
    if (!ok) {
        shape_str(t->ne, (int)t->n_dims, got, sizeof got);
        ak_failf(L->err, AK_ERR_FORMAT, "tensor %s has shape %s, expected %s", name, got, want);
        return NULL;
    }
    if (t->type < 0 || t->type >= AK_TYPE_COUNT || !ak_type_supported(t->type) || t->type == AK_TYPE_Q8_K) {
        ak_failf(L->err, AK_ERR_FORMAT, "tensor %s has unsupported type %s (%d)", name, ak_type_name(t->type), t->type);
        return NULL;
    }
    if (ak_row_bytes((ak_type)t->type, t->ne[0]) == 0) {
        ak_failf(L->err, AK_ERR_FORMAT, "tensor %s: row length %lld is not a multiple of the %s block size", name,
             (long long)t->ne[0], ak_type_name(t->type));
        return NULL;
    }
    return t;
}

static int load_mat(loader *L, ak_mat *out, const char *name, int64_t n_in, int64_t n_out,
                    int64_t n_mat, int required) {
    int64_t ne[3] = {n_in, n_out, n_mat};
    memset(out, 0, sizeof *out);
    const gguf_tensor *t = find(L, name, n_mat > 1 ? 3 : 2, ne, required);
    if (!t) return required ? -1 : 0;
    out->data = t->data;
    out->type = t->type;
    out->n_in = n_in;
    out->n_out = n_out;
    out->n_mat = n_mat;
    out->row_bytes = ak_row_bytes((ak_type)t->type, n_in);
    out->mat_bytes = out->row_bytes * (size_t)n_out;
    L->m->weight_bytes += t->nbytes;
    return 0;
}

/* A 1-D tensor of n0 values, or a 2-D one of n0 x n1 (per-expert biases), as floats. */
static int load_vec2(loader *L, float **out, const char *name, int64_t n0, int64_t n1, int required) {
    *out = NULL;
    const int64_t ne[2] = {n0, n1}, n = n0 * n1;
    const gguf_tensor *t = find(L, name, n1 > 1 ? 2 : 1, ne, required);
    if (!t) return required ? -1 : 0;
    ak_model *m = L->m;
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 64;
        float **o = realloc(m->owned, (size_t)cap * sizeof *o);
        if (!o) return ak_failf(L->err, AK_ERR_NOMEM, "out of memory");
        m->owned = o;
        m->cap_owned = cap;
    }
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return ak_failf(L->err, AK_ERR_NOMEM, "out of memory");
    ak_dequantize_row((ak_type)t->type, t->data, v, n);
    m->owned[m->n_owned++] = v;
    m->weight_bytes += t->nbytes;
    *out = v;
    return 0;
}

static int load_vec(loader *L, float **out, const char *name, int64_t n, int required) {
    return load_vec2(L, out, name, n, 1, required);
}

/* RoPE scaling as llama.cpp reads it (llama-model.cpp, llama-context.cpp): type "linear"
 * unless rope.scaling.type says "none" or "yarn"; the factor from rope.scaling.factor (or
 * the old rope.scale_linear); for YaRN the extrapolation mix 1 and a magnitude that
 * llama.cpp sets to get_mscale(f) / (1 + 0.1 ln f) (1 for a factor >= 1, the YaRN kernel
 * then applies its own 1 + 0.1 ln f), times rope.scaling.attn_factor. */
static int load_rope_scaling(loader *L) {
    ak_hparams *hp = &L->m->hp;
    char key[160];
    gguf_str stype;
    int yarn = 0, none = 0;
    snprintf(key, sizeof key, "%s.rope.scaling.type", hp->arch);
    if (gguf_get_str(L->m->gguf, key, &stype)) {
        yarn = gguf_str_eq(stype, "yarn"), none = gguf_str_eq(stype, "none");
        if (!yarn && !none && !gguf_str_eq(stype, "linear"))
            return ak_failf(L->err, AK_ERR_FORMAT, "%s = '%.*s': supported are none, linear and yarn", key,
                            (int)stype.len, stype.ptr);
    }
    float factor = 0, attn = 1, log_mul = 0;
    int64_t orig = hp->n_ctx_train;
    if (opt_f32(L, "rope.scaling.factor", 0.0f, &factor)) return -1;
    if (factor == 0 && opt_f32(L, "rope.scale_linear", 0.0f, &factor)) return -1;
    if (opt_f32(L, "rope.scaling.attn_factor", 1.0f, &attn) ||
        opt_f32(L, "rope.scaling.yarn_log_multiplier", 0.0f, &log_mul))
        return -1;
    snprintf(key, sizeof key, "%s.rope.scaling.original_context_length", hp->arch);
    if (gguf_find_key(L->m->gguf, key) >= 0 && !gguf_get_i64(L->m->gguf, key, &orig))
        return ak_failf(L->err, AK_ERR_FORMAT, "metadata %s: expected an integer", key);
    if (!(factor >= 0) || orig < 1 || orig > (1 << 24))
        return ak_failf(L->err, AK_ERR_FORMAT, "rope scaling factor %g / original context %lld out of range", factor,
                        (long long)orig);
    hp->rope_freq_scale = none || factor == 0 ? 1.0f : 1.0f / factor;
    hp->rope_ext_factor = yarn ? 1.0f : 0.0f;
    hp->rope_orig_ctx = (int)orig;
    const int ds = !strcmp(hp->arch, "deepseek2");
    if (ds) log_mul /= 0.1f; /* llama.cpp cancels the factor its converter writes for deepseek2 */
    float y = 1.0f; /* llama.cpp's cparams.yarn_attn_factor */
    if (yarn) {
        float f = 1.0f / hp->rope_freq_scale;
#define MSCALE(s, m) ((s) <= 1.0f ? 1.0f : 0.1f * (m) * logf(s) + 1.0f)
        float mscale = ds && log_mul != 1.0f ? log_mul : 1.0f; /* deepseek2's mscale = mscale_all_dim */
        y = log_mul != 0.0f ? MSCALE(f, mscale) / MSCALE(f, log_mul) : MSCALE(f, 1.0f);
#undef MSCALE
        y *= 1.0f / (1.0f + 0.1f * logf(f));
    }
    hp->rope_attn_factor = y * attn;
    if (ds) { /* deepseek2's attention scale: mscale^2 / sqrt(key_length_mla), with YaRN's magnitude */
        const float ln = logf(1.0f / hp->rope_freq_scale);
        const float m = hp->rope_attn_factor * (1.0f + 0.1f * ln) * (1.0f + 0.1f * log_mul * ln);
        hp->kq_scale = m * m / sqrtf((float)hp->head_k_mla);
    }
    return 0;
}

/* The keys of the routers that select by score + a bias (deepseek2, nemotron_h_moe): the
 * expert groups (checked), the routed weights' norm and scale. */
static int load_biased_routing(loader *L) {
    ak_hparams *hp = &L->m->hp;
    int norm = 0;
    char key[128];
    if (opt_int(L, "expert_group_count", 0, AK_MAX_EXPERTS, 0, &hp->n_group) ||
        opt_int(L, "expert_group_used_count", 0, AK_MAX_EXPERTS, 0, &hp->n_group_used) ||
        opt_f32(L, "expert_weights_scale", 0.0f, &L->m->expert_weights_scale))
        return -1;
    snprintf(key, sizeof key, "%s.expert_weights_norm", hp->arch);
    if (gguf_find_key(L->m->gguf, key) >= 0 && !gguf_get_bool(L->m->gguf, key, &norm))
        return ak_failf(L->err, AK_ERR_FORMAT, "metadata %s: expected a bool", key);
    if (hp->n_group > 1 && (hp->n_expert % hp->n_group || hp->n_group_used < 1 || hp->n_group_used >= hp->n_group ||
                            hp->n_expert / hp->n_group < 2))
        return ak_failf(L->err, AK_ERR_FORMAT, "%s: %d experts in %d groups, %d used: not a valid grouping", hp->arch,
                        hp->n_expert, hp->n_group, hp->n_group_used);
    hp->renormalize = norm;
    return 0;
}

/* The recurrent layers' shapes (ssm.*), a state width of at most max_state. */
static int load_ssm_shape(loader *L, int max_state) {
    ak_hparams *hp = &L->m->hp;
    return need_int(L, "ssm.conv_kernel", 2, 64, &hp->ssm_d_conv) || need_int(L, "ssm.inner_size", 1, 1 << 20, &hp->ssm_d_inner) ||
                   need_int(L, "ssm.state_size", 1, max_state, &hp->ssm_d_state) ||
                   need_int(L, "ssm.time_step_rank", 1, 1 << 16, &hp->ssm_n_head) ||
                   need_int(L, "ssm.group_count", 1, 1 << 16, &hp->ssm_n_group)
               ? -1
               : 0;
}

/* deepseek2's keys (llama.cpp's llama_model_deepseek2::load_arch_hparams): multi-head
 * latent attention with its split attn_k_b / attn_v_b (files converted with the older
 * unsplit attn_kv_b are refused), leading dense layers, shared experts, the gating
 * function, groups, and the routed weights' norm and scale. */
static int load_deepseek2(loader *L, int n_ff, int value_length) {
    ak_hparams *hp = &L->m->hp;
    int gating = 0, shared = 0;
    if (opt_int(L, "attention.key_length_mla", 1, 1 << 16, 0, &hp->head_k_mla) ||
        opt_int(L, "attention.value_length_mla", 1, 1 << 16, 0, &hp->head_v_mla))
        return -1;
    if (!hp->head_k_mla || !hp->head_v_mla)
        return ak_failf(L->err, AK_ERR_FORMAT, "deepseek2 without attention.key_length_mla/value_length_mla (an "
                        "older conversion with an unsplit attn_kv_b) is not supported: reconvert the model");
    if (need_int(L, "attention.kv_lora_rank", 1, 1 << 16, &hp->n_lora_kv) ||
        opt_int(L, "attention.q_lora_rank", 0, 1 << 16, 0, &hp->n_lora_q) ||
        opt_int(L, "leading_dense_block_count", 0, hp->n_layer - 1, 0, &hp->n_layer_dense) ||
        need_int(L, "expert_feed_forward_length", 1, 1 << 24, &hp->n_ff_exp) ||
        opt_int(L, "expert_shared_count", 0, 64, 0, &shared) ||
        opt_int(L, "expert_gating_func", 0, 2, 0, &gating) || load_biased_routing(L))
        return -1;
    if (hp->head_dim != hp->n_lora_kv + hp->n_rot || value_length != hp->n_lora_kv || hp->n_head_kv != 1 ||
        hp->head_k_mla <= hp->n_rot)
        return ak_failf(L->err, AK_ERR_FORMAT,
                        "deepseek2: key_length %d, value_length %d, head_count_kv %d and key_length_mla %d do not "
                        "describe latent attention (kv_lora_rank %d + rope %d, 1 KV head)",
                        hp->head_dim, value_length, hp->n_head_kv, hp->head_k_mla, hp->n_lora_kv, hp->n_rot);
    hp->gating = gating == 2 ? AK_GATING_DS_SIGMOID : AK_GATING_DS_SOFTMAX; /* absent: softmax (V2) */
    hp->n_ff_dense = n_ff;
    if (hp->n_layer_dense > 0 && n_ff <= 0)
        return ak_failf(L->err, AK_ERR_FORMAT, "missing metadata key deepseek2.feed_forward_length (dense layers)");
    hp->n_ff_shexp = hp->n_ff_exp * shared;
    return 0; /* kq_scale: with the rope scaling (load_rope_scaling) */
}

/* A per-layer key: one value for every layer, or an array of n_layer integers. */
static int layer_ints(loader *L, const char *suffix, int *vals) {
    const ak_hparams *hp = &L->m->hp;
    char key[128];
    snprintf(key, sizeof key, "%s.%s", hp->arch, suffix);
    const gguf_file *f = L->m->gguf;
    int64_t v;
    gguf_type et;
    uint64_t n;
    if (gguf_get_i64(f, key, &v)) {
        if (v < 0 || v > (1 << 24)) return ak_failf(L->err, AK_ERR_FORMAT, "metadata %s = %lld is out of range", key, (long long)v);
        for (int il = 0; il < hp->n_layer; il++) vals[il] = (int)v;
        return 0;
    }
    if (!gguf_get_arr_info(f, key, &et, &n))
        return ak_failf(L->err, AK_ERR_FORMAT, "missing metadata key %s (one value per layer)", key);
    if (n != (uint64_t)hp->n_layer || (et != GGUF_TYPE_INT32 && et != GGUF_TYPE_UINT32))
        return ak_failf(L->err, AK_ERR_FORMAT, "metadata %s: expected %d int32 values (one per layer)", key, hp->n_layer);
    const uint8_t *d = gguf_get_arr_data(f, key);
    for (int il = 0; il < hp->n_layer; il++) {
        int32_t x;
        memcpy(&x, d + 4 * (size_t)il, 4);
        if (x < 0 || x > (1 << 24)) return ak_failf(L->err, AK_ERR_FORMAT, "metadata %s[%d] = %d is out of range", key, il, x);
        vals[il] = x;
    }
    return 0;
}

/* nemotron_h_moe's layer kinds (llama_model_nemotron_h::load_arch_hparams): a layer is a
 * Mamba-2 block when its head_count_kv and feed_forward_length are both 0, attention when
 * only its feed_forward_length is 0, else routed experts. */
static int load_nemotron_layers(loader *L) {
    ak_model *m = L->m;
    ak_hparams *hp = &m->hp;
    int *kv = calloc((size_t)hp->n_layer, sizeof *kv), *ff = calloc((size_t)hp->n_layer, sizeof *ff), rc = 0;
    if (!kv || !ff) rc = ak_failf(L->err, AK_ERR_NOMEM, "out of memory");
    if (!rc) rc = layer_ints(L, "attention.head_count_kv", kv) || layer_ints(L, "feed_forward_length", ff) ? -1 : 0;
    hp->n_head_kv = 0;
    for (int il = 0; !rc && il < hp->n_layer; il++) {
        ak_layer *l = &m->layers[il];
        l->mixer = kv[il] == 0 && ff[il] == 0 ? AK_MIXER_SSM : ff[il] == 0 ? AK_MIXER_ATTENTION : AK_MIXER_NONE;
        l->ffn = ff[il] ? AK_FFN_MOE : AK_FFN_NONE;
        if (l->mixer != AK_MIXER_ATTENTION) continue;
        if (hp->n_head_kv && kv[il] != hp->n_head_kv)
            rc = ak_failf(L->err, AK_ERR_FORMAT, "nemotron_h_moe: attention layers with %d and %d KV heads are not "
                          "supported", hp->n_head_kv, kv[il]);
        hp->n_head_kv = kv[il];
    }
    if (!hp->n_head_kv) hp->n_head_kv = hp->n_head; /* no attention layer at all: any valid value */
    free(kv);
    free(ff);
    return rc;
}

/* The rest of nemotron_h_moe's keys: the Mamba-2 shapes, routed experts with sigmoid
 * scores and a selection bias, squared-ReLU experts without a gate, the shared expert.
 * Its attention has no RoPE. */
static int load_nemotron_h(loader *L) {
    ak_model *m = L->m;
    ak_hparams *hp = &m->hp;
    int latent = 0;
    if (load_ssm_shape(L, 4096) || need_int(L, "expert_feed_forward_length", 1, 1 << 24, &hp->n_ff_exp) ||
        opt_int(L, "expert_shared_feed_forward_length", 0, 1 << 24, 0, &hp->n_ff_shexp) ||
        opt_int(L, "moe_latent_size", 0, 1 << 20, 0, &latent) || load_biased_routing(L))
        return -1;
    if (hp->ssm_d_inner % hp->ssm_n_head || hp->ssm_n_head % hp->ssm_n_group)
        return ak_failf(L->err, AK_ERR_FORMAT, "nemotron_h_moe: ssm.inner_size %d, %d heads (time_step_rank) and %d "
                        "groups do not divide evenly", hp->ssm_d_inner, hp->ssm_n_head, hp->ssm_n_group);
    if (latent > 0) hp->n_embd_moe = latent; /* the experts work in a latent space (Nemotron-3 Super) */
    hp->gating = AK_GATING_DS_SIGMOID;
    hp->ffn_relu2 = 1;
    return 0;
}

/* qwen35moe (llama_model_qwen35moe::load_arch_hparams): Gated DeltaNet layers except every
 * full_attention_interval-th (or as attention.recurrent_layers lists them), each followed
 * by MoE with a sigmoid-gated shared expert; attention with a per-head output gate, q/k
 * norms per head and partial IMRoPE. Text tokens have the same position in every RoPE
 * section, so IMRoPE is plain NEOX RoPE over rope.dimension_count dims, provided every
 * rotated pair falls in a t/h/w section (a pair in none would use position 0: refused). */
static int load_qwen35(loader *L) {
    ak_model *m = L->m;
    ak_hparams *hp = &m->hp;
    int interval = 4;
    if (load_ssm_shape(L, 1024) || opt_int(L, "full_attention_interval", 1, 4096, 4, &interval)) return -1;
    if (hp->ssm_d_inner % hp->ssm_n_head || hp->ssm_d_inner / hp->ssm_n_head != hp->ssm_d_state ||
        hp->ssm_n_head % hp->ssm_n_group)
        return ak_failf(L->err, AK_ERR_FORMAT, "qwen35moe: %d value heads of %d (ssm.inner_size / time_step_rank) and %d "
                        "key heads of %d (ssm.group_count, state_size): supported are equal key and value head widths and "
                        "value heads a multiple of key heads", hp->ssm_n_head, hp->ssm_d_inner / hp->ssm_n_head,
                        hp->ssm_n_group, hp->ssm_d_state);
    char key[128];
    snprintf(key, sizeof key, "%s.attention.recurrent_layers", hp->arch);
    gguf_type et;
    uint64_t n;
    const int listed = gguf_get_arr_info(m->gguf, key, &et, &n);
    if (listed && (n < (uint64_t)hp->n_layer || (et != GGUF_TYPE_BOOL && et != GGUF_TYPE_INT32 && et != GGUF_TYPE_UINT32)))
        return ak_failf(L->err, AK_ERR_FORMAT, "metadata %s: expected %d bools (one per layer)", key, hp->n_layer);
    const uint8_t *d = listed ? gguf_get_arr_data(m->gguf, key) : NULL;
    for (int il = 0; il < hp->n_layer; il++) {
        int recurrent = (il + 1) % interval != 0;
        if (listed) recurrent = et == GGUF_TYPE_BOOL ? d[il] != 0 : (d[4 * (size_t)il] | d[4 * (size_t)il + 1]) != 0;
        m->layers[il].mixer = recurrent ? AK_MIXER_DELTANET : AK_MIXER_ATTENTION;
    }
    snprintf(key, sizeof key, "%s.rope.dimension_sections", hp->arch);
    if (gguf_get_arr_info(m->gguf, key, &et, &n)) {
        int32_t s[4] = {0, 0, 0, 0};
        if (n != 4 || (et != GGUF_TYPE_INT32 && et != GGUF_TYPE_UINT32))
            return ak_failf(L->err, AK_ERR_FORMAT, "metadata %s: expected 4 integers", key);
        memcpy(s, gguf_get_arr_data(m->gguf, key), sizeof s);
        for (int i = 0; i < 4; i++) /* (regression test rope_sections_overflow: their sum once overflowed) */
            if (s[i] < 0 || s[i] > (1 << 16))
                return ak_failf(L->err, AK_ERR_FORMAT, "metadata %s: section %d = %d is out of range [0, 65536]", key, i, s[i]);
        const int dims = s[0] + s[1] + s[2] + s[3];
        for (int i = 0; i < hp->n_rot / 2; i++) {
            const int sec = dims > 0 ? i % dims : 0; /* ggml's IMRoPE: sections interleaved t, h, w */
            if (!(sec % 3 == 0 && sec < 3 * s[0]) && !(sec % 3 == 1 && sec < 3 * s[1]) && !(sec % 3 == 2 && sec < 3 * s[2]))
                return ak_failf(L->err, AK_ERR_FORMAT, "%s [%d, %d, %d, %d]: rotated pair %d falls in no text section "
                                "(not supported)", key, s[0], s[1], s[2], s[3], i);
        }
    }
    hp->attn_gated = 1;
    return 0;
}

static int load_hparams(loader *L) {
    ak_hparams *hp = &L->m->hp;
    gguf_str arch;
    if (!gguf_get_str(L->m->gguf, "general.architecture", &arch))
        return ak_failf(L->err, AK_ERR_FORMAT, "missing metadata key general.architecture");
    if (arch.len >= sizeof hp->arch) return ak_failf(L->err, AK_ERR_FORMAT, "architecture name too long");
    memcpy(hp->arch, arch.ptr, arch.len);
    hp->arch[arch.len] = 0;

    int is_olmoe = !strcmp(hp->arch, "olmoe"), is_q2 = !strcmp(hp->arch, "qwen2moe");
    int is_q3 = !strcmp(hp->arch, "qwen3moe"), is_llama = !strcmp(hp->arch, "llama");
    int is_oss = !strcmp(hp->arch, "gpt-oss"), is_ds = !strcmp(hp->arch, "deepseek2");
    int is_nh = !strcmp(hp->arch, "nemotron_h_moe"), is_q35 = !strcmp(hp->arch, "qwen35moe");
    if (!is_olmoe && !is_q2 && !is_q3 && !is_llama && !is_oss && !is_ds && !is_nh && !is_q35)
        return ak_failf(L->err, AK_ERR_FORMAT,
                        "unsupported architecture '%s' (supported: olmoe, qwen2moe, qwen3moe, llama with experts, "
                        "gpt-oss, deepseek2, nemotron_h_moe, qwen35moe)",
                        hp->arch);

    if (need_int(L, "block_count", 1, 4096, &hp->n_layer) || need_int(L, "embedding_length", 1, 1 << 20, &hp->n_embd) ||
        need_int(L, "attention.head_count", 1, 4096, &hp->n_head))
        return -1;
    L->m->layers = calloc((size_t)hp->n_layer, sizeof *L->m->layers);
    if (!L->m->layers) return ak_failf(L->err, AK_ERR_NOMEM, "out of memory");
    int n_nextn = 0; /* qwen35moe: multi-token-prediction blocks after the trunk, not run */
    if (is_q35 && opt_int(L, "nextn_predict_layers", 0, hp->n_layer - 1, 0, &n_nextn)) return -1;
    hp->n_layer -= n_nextn;
    if (is_nh ? load_nemotron_layers(L) : opt_int(L, "attention.head_count_kv", 1, hp->n_head, hp->n_head, &hp->n_head_kv))
        return -1;
    if (hp->n_head % hp->n_head_kv)
        return ak_failf(L->err, AK_ERR_FORMAT, "head_count %d is not a multiple of head_count_kv %d", hp->n_head, hp->n_head_kv);
    int def_hd = hp->n_embd % hp->n_head ? 0 : hp->n_embd / hp->n_head;
    if (opt_int(L, "attention.key_length", 1, 1 << 16, def_hd, &hp->head_dim)) return -1;
    if (hp->head_dim <= 0 || hp->head_dim % 2) return ak_failf(L->err, AK_ERR_FORMAT, "invalid head dimension %d", hp->head_dim);
    int vlen;
    if (opt_int(L, "attention.value_length", 1, 1 << 16, hp->head_dim, &vlen)) return -1;
    if (vlen != hp->head_dim && !is_ds)
        return ak_failf(L->err, AK_ERR_FORMAT, "key_length %d != value_length %d is not supported", hp->head_dim, vlen);
    if (opt_int(L, "rope.dimension_count", 2, hp->head_dim, hp->head_dim, &hp->n_rot)) return -1;
    if (hp->n_rot % 2) return ak_failf(L->err, AK_ERR_FORMAT, "rope.dimension_count %d must be even", hp->n_rot);
    if (opt_int(L, "context_length", 1, 1 << 24, 4096, &hp->n_ctx_train)) return -1;

    if (opt_int(L, "expert_count", 0, AK_MAX_EXPERTS, 0, &hp->n_expert)) return -1;
    if (hp->n_expert == 0)
        return ak_failf(L->err, AK_ERR_FORMAT, "%s model without experts (%s.expert_count missing or 0): only MoE models are supported",
                    hp->arch, hp->arch);
    if (need_int(L, "expert_used_count", 1, hp->n_expert, &hp->n_expert_used)) return -1;
    int n_ff = 0;
    if (!is_nh && opt_int(L, "feed_forward_length", 0, 1 << 24, 0, &n_ff)) return -1;
    if (is_ds && load_deepseek2(L, n_ff, vlen)) return -1;
    if (is_nh) {
        if (load_nemotron_h(L)) return -1;
    } else if (is_q35 && load_qwen35(L)) {
        return -1;
    } else if (is_olmoe || is_llama) {
        hp->n_ff_exp = n_ff; /* these two use feed_forward_length for the experts */
    } else {
        if (opt_int(L, "expert_feed_forward_length", 0, 1 << 24, 0, &hp->n_ff_exp)) return -1;
        if (!hp->n_ff_exp) hp->n_ff_exp = n_ff / hp->n_expert_used;
    }
    if (hp->n_ff_exp <= 0) return ak_failf(L->err, AK_ERR_FORMAT, "missing metadata key %s.feed_forward_length", hp->arch);
    if (is_q2 || is_q35) {
        if (opt_int(L, "expert_shared_feed_forward_length", 0, 1 << 24, 0, &hp->n_ff_shexp)) return -1;
        if (!hp->n_ff_shexp) hp->n_ff_shexp = n_ff;
        if (hp->n_ff_shexp <= 0)
            return ak_failf(L->err, AK_ERR_FORMAT, "missing metadata key %s.expert_shared_feed_forward_length", hp->arch);
    }

    char key[128];
    snprintf(key, sizeof key, "%s.attention.layer_norm_rms_epsilon", hp->arch);
    if (!gguf_get_f32(L->m->gguf, key, &hp->rms_eps) || !(hp->rms_eps >= 0))
        return ak_failf(L->err, AK_ERR_FORMAT, "missing metadata key %s", key);
    if (opt_f32(L, "rope.freq_base", 10000.0f, &hp->rope_freq_base)) return -1;
    if (load_rope_scaling(L)) return -1;
    /* llama.cpp reads expert_weights_scale for none of the other architectures */
    if (!is_ds && !is_nh) L->m->expert_weights_scale = 0.0f;

    if (is_oss) { /* alternating sliding-window layers, period 2 unless the file says */
        hp->oai_ffn = 1;
        if (need_int(L, "attention.sliding_window", 1, 1 << 24, &hp->n_swa) ||
            opt_int(L, "attention.sliding_window_pattern", 1, 4096, 2, &hp->swa_period))
            return -1;
        float base_swa;
        if (opt_f32(L, "rope.freq_base_swa", hp->rope_freq_base, &base_swa)) return -1;
        if (base_swa != hp->rope_freq_base)
            return ak_failf(L->err, AK_ERR_FORMAT, "%s.rope.freq_base_swa %g differs from rope.freq_base %g: not supported",
                            hp->arch, base_swa, hp->rope_freq_base);
    }
    if (!hp->n_embd_moe) hp->n_embd_moe = hp->n_embd;
    hp->rope_neox = !is_llama && !is_ds;
    if (is_nh) hp->n_rot = 0; /* no position encoding in its attention layers */
    /* gpt-oss takes the softmax over the chosen experts' logits: the renormalised softmax */
    hp->renormalize = is_q3 || is_llama || is_oss || is_q35 || ((is_ds || is_nh) && hp->renormalize);
    hp->qk_norm = is_olmoe ? 1 : is_q3 || is_q35 ? 2 : 0;
    for (int il = 0; il < hp->n_layer_dense; il++) L->m->layers[il].ffn = AK_FFN_DENSE;
    for (int il = 0; il < hp->n_layer; il++) { /* the KV cache and the recurrent states hold their layers only */
        ak_layer *l = &L->m->layers[il];
        l->kv_slot = l->mixer == AK_MIXER_ATTENTION ? hp->n_layer_kv++ : -1;
        l->ssm_slot = l->mixer == AK_MIXER_SSM || l->mixer == AK_MIXER_DELTANET ? hp->n_layer_ssm++ : -1;
    }
    return 0;
}

#define NAME(fmt) (snprintf(n, sizeof n, "blk.%d." fmt, il), n)

/* q, k, v and output projections (with their optional biases and norms). */
static int load_attention(loader *L, ak_layer *l, int il) {
    ak_hparams *hp = &L->m->hp;
    const int64_t E = hp->n_embd, q_dim = (int64_t)hp->n_head * hp->head_dim;
    const int64_t kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    char n[96];
    if (gguf_find_tensor(L->m->gguf, NAME("attn_qkv.weight")))
        return ak_failf(L->err, AK_ERR_FORMAT, "tensor %s: fused QKV projections are not supported", n);
    if (load_mat(L, &l->wq, NAME("attn_q.weight"), E, hp->attn_gated ? 2 * q_dim : q_dim, 1, 1) ||
        load_mat(L, &l->wk, NAME("attn_k.weight"), E, kv_dim, 1, 1) ||
        load_mat(L, &l->wv, NAME("attn_v.weight"), E, kv_dim, 1, 1) ||
        load_mat(L, &l->wo, NAME("attn_output.weight"), q_dim, E, 1, 1) ||
        load_vec(L, &l->bq, NAME("attn_q.bias"), q_dim, 0) || load_vec(L, &l->bk, NAME("attn_k.bias"), kv_dim, 0) ||
        load_vec(L, &l->bv, NAME("attn_v.bias"), kv_dim, 0) || load_vec(L, &l->bo, NAME("attn_output.bias"), E, 0))
        return -1;
    if (l->bq || l->bk || l->bv) hp->has_qkv_bias = 1;
    if (hp->qk_norm == 1 && (load_vec(L, &l->q_norm, NAME("attn_q_norm.weight"), q_dim, 1) ||
                             load_vec(L, &l->k_norm, NAME("attn_k_norm.weight"), kv_dim, 1)))
        return -1;
    if (hp->qk_norm == 2 && (load_vec(L, &l->q_norm, NAME("attn_q_norm.weight"), hp->head_dim, 1) ||
                             load_vec(L, &l->k_norm, NAME("attn_k_norm.weight"), hp->head_dim, 1)))
        return -1;
    if (hp->oai_ffn && load_vec(L, &l->sinks, NAME("attn_sinks.weight"), hp->n_head, 1)) return -1;
    return 0;
}

/* deepseek2's latent attention: q through a low-rank pair (or one matrix), the latent and
 * the rotated key part from attn_kv_a_mqa, per-head attn_k_b / attn_v_b. */
static int load_attention_mla(loader *L, ak_layer *l, int il) {
    const ak_hparams *hp = &L->m->hp;
    const int64_t E = hp->n_embd, H = hp->n_head, lkv = hp->n_lora_kv, lq = hp->n_lora_q;
    const int64_t nope = hp->head_k_mla - hp->n_rot;
    char n[96];
    if (gguf_find_tensor(L->m->gguf, NAME("attn_kv_b.weight")))
        return ak_failf(L->err, AK_ERR_FORMAT, "tensor %s: the unsplit attn_kv_b of older conversions is not "
                        "supported: reconvert the model (attn_k_b, attn_v_b)", n);
    if (lq ? (load_vec(L, &l->q_a_norm, NAME("attn_q_a_norm.weight"), lq, 1) ||
              load_mat(L, &l->wq_a, NAME("attn_q_a.weight"), E, lq, 1, 1) ||
              load_mat(L, &l->wq_b, NAME("attn_q_b.weight"), lq, H * hp->head_k_mla, 1, 1))
           : load_mat(L, &l->wq, NAME("attn_q.weight"), E, H * hp->head_k_mla, 1, 1))
        return -1;
    return load_vec(L, &l->kv_a_norm, NAME("attn_kv_a_norm.weight"), lkv, 1) ||
           load_mat(L, &l->wkv_a, NAME("attn_kv_a_mqa.weight"), E, lkv + hp->n_rot, 1, 1) ||
           load_mat(L, &l->wk_b, NAME("attn_k_b.weight"), nope, lkv, H, 1) ||
           load_mat(L, &l->wv_b, NAME("attn_v_b.weight"), lkv, hp->head_v_mla, H, 1) ||
           load_mat(L, &l->wo, NAME("attn_output.weight"), H * hp->head_v_mla, E, 1, 1)
               ? -1
               : 0;
}

/* A dense feed-forward layer (deepseek2's leading layers). */
static int load_dense_ffn(loader *L, ak_layer *l, int il) {
    const ak_hparams *hp = &L->m->hp;
    char n[96];
    return load_mat(L, &l->ffn_gate, NAME("ffn_gate.weight"), hp->n_embd, hp->n_ff_dense, 1, 1) ||
           load_mat(L, &l->ffn_up, NAME("ffn_up.weight"), hp->n_embd, hp->n_ff_dense, 1, 1) ||
           load_mat(L, &l->ffn_down, NAME("ffn_down.weight"), hp->n_ff_dense, hp->n_embd, 1, 1)
               ? -1
               : 0;
}

/* Router, merged experts (with gpt-oss's biases), deepseek2's selection bias, the shared
 * expert (qwen2moe: gated; deepseek2: ungated). */
static int load_moe(loader *L, ak_layer *l, int il) {
    ak_model *m = L->m;
    const ak_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd_moe, ff = hp->n_ff_exp, X = hp->n_expert; /* E: the experts' width */
    char n[96];
    if (gguf_find_tensor(m->gguf, NAME("ffn_gate.0.weight")) || gguf_find_tensor(m->gguf, NAME("ffn_up.0.weight")))
        return ak_failf(L->err, AK_ERR_FORMAT, "tensor %s: per-expert (unmerged) expert tensors are not supported; "
                        "convert the model with merged blk.N.ffn_*_exps tensors", n);
    if (gguf_find_tensor(m->gguf, NAME("ffn_gate_up_exps.weight")))
        return ak_failf(L->err, AK_ERR_FORMAT, "tensor %s: fused gate/up expert tensors are not supported", n);
    if (load_mat(L, &l->gate_inp, NAME("ffn_gate_inp.weight"), hp->n_embd, X, 1, 1)) return -1;
    if (E != hp->n_embd && (load_mat(L, &l->latent_down, NAME("ffn_latent_down.weight"), hp->n_embd, E, 1, 1) ||
                            load_mat(L, &l->latent_up, NAME("ffn_latent_up.weight"), E, hp->n_embd, 1, 1)))
        return -1;
    if (hp->oai_ffn && (load_vec(L, &l->gate_inp_b, NAME("ffn_gate_inp.bias"), X, 1) ||
                        load_vec2(L, &l->gate_exps_b, NAME("ffn_gate_exps.bias"), ff, X, 1) ||
                        load_vec2(L, &l->up_exps_b, NAME("ffn_up_exps.bias"), ff, X, 1) ||
                        load_vec2(L, &l->down_exps_b, NAME("ffn_down_exps.bias"), E, X, 1)))
        return -1;
    if (hp->gating != AK_GATING_SOFTMAX && load_vec(L, &l->exp_probs_b, NAME("exp_probs_b.bias"), X, 0)) return -1;
    uint64_t before = m->weight_bytes;
    if ((!hp->ffn_relu2 && load_mat(L, &l->gate_exps, NAME("ffn_gate_exps.weight"), E, ff, X, 1)) ||
        load_mat(L, &l->up_exps, NAME("ffn_up_exps.weight"), E, ff, X, 1) ||
        load_mat(L, &l->down_exps, NAME("ffn_down_exps.weight"), ff, E, X, 1))
        return -1;
    m->expert_bytes += m->weight_bytes - before;
    if (hp->n_ff_shexp <= 0) return 0;
    l->has_shexp = 1;
    const int64_t D = hp->n_embd; /* the shared expert works on the full width */
    if (hp->gating == AK_GATING_SOFTMAX && load_vec(L, &l->gate_inp_shexp, NAME("ffn_gate_inp_shexp.weight"), D, 1))
        return -1;
    return (!hp->ffn_relu2 && load_mat(L, &l->gate_shexp, NAME("ffn_gate_shexp.weight"), D, hp->n_ff_shexp, 1, 1)) ||
           load_mat(L, &l->up_shexp, NAME("ffn_up_shexp.weight"), D, hp->n_ff_shexp, 1, 1) ||
           load_mat(L, &l->down_shexp, NAME("ffn_down_shexp.weight"), hp->n_ff_shexp, D, 1, 1)
               ? -1
               : 0;
}

/* A Mamba-2 block (llama_model_nemotron_h::load_arch_tensors): ssm_a and ssm_d have no
 * ".weight" suffix, the norm is [d_inner / groups, groups]. */
static int load_ssm(loader *L, ak_layer *l, int il) {
    const ak_hparams *hp = &L->m->hp;
    const int64_t di = hp->ssm_d_inner, nh = hp->ssm_n_head, channels = ak_ssm_conv_channels(hp);
    char n[96];
    return load_mat(L, &l->ssm_in, NAME("ssm_in.weight"), hp->n_embd, channels + di + nh, 1, 1) ||
           load_vec2(L, &l->ssm_conv, NAME("ssm_conv1d.weight"), hp->ssm_d_conv, channels, 1) ||
           load_vec(L, &l->ssm_conv_b, NAME("ssm_conv1d.bias"), channels, 0) ||
           load_vec(L, &l->ssm_dt_b, NAME("ssm_dt.bias"), nh, 1) || load_vec2(L, &l->ssm_a, NAME("ssm_a"), 1, nh, 1) ||
           load_vec2(L, &l->ssm_d, NAME("ssm_d"), 1, nh, 1) ||
           load_vec2(L, &l->ssm_norm, NAME("ssm_norm.weight"), di / hp->ssm_n_group, hp->ssm_n_group, 1) ||
           load_mat(L, &l->ssm_out, NAME("ssm_out.weight"), di, hp->n_embd, 1, 1)
               ? -1
               : 0;
}

/* A Gated DeltaNet block (llama_model_qwen35moe::load_arch_tensors): q, k (key heads) and
 * v (value heads) from one attn_qkv, the gate z, beta and alpha per value head; ssm_a has
 * no ".weight" suffix. Fused gate/up experts are not supported (checked by load_moe). */
static int load_deltanet(loader *L, ak_layer *l, int il) {
    const ak_hparams *hp = &L->m->hp;
    const int64_t E = hp->n_embd, vd = hp->ssm_d_inner, nv = hp->ssm_n_head;
    const int64_t conv_dim = ak_ssm_conv_channels(hp);
    char n[96];
    return load_mat(L, &l->dn_qkv, NAME("attn_qkv.weight"), E, conv_dim, 1, 1) ||
           load_mat(L, &l->dn_z, NAME("attn_gate.weight"), E, vd, 1, 1) ||
           load_vec2(L, &l->ssm_conv, NAME("ssm_conv1d.weight"), hp->ssm_d_conv, conv_dim, 1) ||
           load_vec(L, &l->ssm_dt_b, NAME("ssm_dt.bias"), nv, 1) || load_vec(L, &l->ssm_a, NAME("ssm_a"), nv, 1) ||
           load_mat(L, &l->dn_beta, NAME("ssm_beta.weight"), E, nv, 1, 1) ||
           load_mat(L, &l->dn_alpha, NAME("ssm_alpha.weight"), E, nv, 1, 1) ||
           load_vec(L, &l->ssm_norm, NAME("ssm_norm.weight"), vd / nv, 1) ||
           load_mat(L, &l->ssm_out, NAME("ssm_out.weight"), vd, E, 1, 1)
               ? -1
               : 0;
}

static uint64_t mat_macs(const ak_mat *w) { return (uint64_t)(w->n_in * w->n_out * (w->n_mat ? w->n_mat : 1)); }

/* Multiply-accumulates per token of each layer outside the routed experts and attention's
 * q.k and a.v (which depend on the position): its projections, its router or dense
 * feed-forward, its shared expert (l->macs); what filling it for an exited token costs
 * (l->fill_macs: the K/V projections of an attention layer, a recurrent layer's mixer);
 * its routed experts at native K. The forward pass counts them per token (ledger.c). */
static void layer_macs(ak_model *m) {
    const ak_hparams *hp = &m->hp;
    const uint64_t E = (uint64_t)hp->n_embd;
    for (int il = 0; il < hp->n_layer; il++) {
        ak_layer *l = &m->layers[il];
        const ak_mat *mixer[] = {&l->wq,    &l->wk,      &l->wv,     &l->wo,      &l->wq_a,   &l->wq_b,
                                 &l->wkv_a, &l->wk_b,    &l->wv_b,   &l->ssm_in,  &l->ssm_out, &l->dn_qkv,
                                 &l->dn_z,  &l->dn_beta, &l->dn_alpha};
        const ak_mat *fill[] = {&l->wk, &l->wv, &l->wkv_a};
        uint64_t n = 0, f = 0;
        for (size_t i = 0; i < sizeof mixer / sizeof mixer[0]; i++) n += mat_macs(mixer[i]);
        for (size_t i = 0; i < sizeof fill / sizeof fill[0]; i++) f += mat_macs(fill[i]);
        if (hp->n_lora_kv) /* deepseek2's fill runs ak_mla_qkv whole: the query's matrices too */
            f += mat_macs(&l->wq) + mat_macs(&l->wq_a) + mat_macs(&l->wq_b) + mat_macs(&l->wk_b);
        if (l->mixer == AK_MIXER_SSM || l->mixer == AK_MIXER_DELTANET) { /* the convolution, the state's update and read-out */
            n += (uint64_t)ak_ssm_conv_channels(hp) * (uint64_t)hp->ssm_d_conv +
                 (l->mixer == AK_MIXER_SSM ? 2 : 3) * (uint64_t)hp->ssm_d_inner * (uint64_t)hp->ssm_d_state;
            f = n; /* the state needs the whole mixer */
        }
        n += mat_macs(&l->latent_down) + mat_macs(&l->latent_up);
        if (l->ffn == AK_FFN_DENSE) n += 3 * E * (uint64_t)hp->n_ff_dense;
        if (l->ffn == AK_FFN_MOE) n += E * (uint64_t)hp->n_expert;
        if (l->has_shexp) n += (hp->ffn_relu2 ? 2 : 3) * E * (uint64_t)hp->n_ff_shexp + (l->gate_inp_shexp ? E : 0);
        l->macs = n;
        l->fill_macs = f;
        l->expert_macs_native = l->ffn == AK_FFN_MOE ? (uint64_t)hp->n_expert_used * (l->gate_exps.data ? 3ull : 2ull) *
                                                           (uint64_t)hp->n_embd_moe * (uint64_t)hp->n_ff_exp
                                                     : 0;
    }
}

static int load_tensors(loader *L) {
    ak_model *m = L->m;
    ak_hparams *hp = &m->hp;
    const int64_t E = hp->n_embd;

    const gguf_tensor *te = gguf_find_tensor(m->gguf, "token_embd.weight");
    if (!te) return ak_failf(L->err, AK_ERR_FORMAT, "missing tensor token_embd.weight (expected shape [%lld, n_vocab])", (long long)E);
    if (te->n_dims != 2 || te->ne[0] != E || te->ne[1] < 1 || te->ne[1] > INT32_MAX)
        return ak_failf(L->err, AK_ERR_FORMAT, "tensor token_embd.weight has the wrong shape, expected [%lld, n_vocab]", (long long)E);
    hp->n_vocab = (int)te->ne[1];
    int64_t ne_embd[2] = {E, hp->n_vocab};
    if (!find(L, "token_embd.weight", 2, ne_embd, 1)) return -1;
    m->tok_embd = te->data;
    m->tok_embd_type = te->type;
    m->tok_embd_row_bytes = ak_row_bytes((ak_type)te->type, E);
    m->weight_bytes += te->nbytes;

    if (load_vec(L, &m->output_norm, "output_norm.weight", E, 1)) return -1;
    if (gguf_find_tensor(m->gguf, "output.weight")) {
        if (load_mat(L, &m->output, "output.weight", E, hp->n_vocab, 1, 1)) return -1;
    } else {
        hp->tied_output = 1;
        m->output.data = m->tok_embd;
        m->output.type = m->tok_embd_type;
        m->output.n_in = E;
        m->output.n_out = hp->n_vocab;
        m->output.n_mat = 1;
        m->output.row_bytes = m->tok_embd_row_bytes;
        m->output.mat_bytes = m->tok_embd_row_bytes * (size_t)hp->n_vocab;
    }
    if (gguf_find_tensor(m->gguf, "rope_freqs.weight"))
        return ak_failf(L->err, AK_ERR_FORMAT, "tensor rope_freqs.weight (rope frequency factors) is not supported");

    char n[96];
    hp->weight_type = -1;
    for (int il = 0; il < hp->n_layer; il++) {
        ak_layer *l = &m->layers[il];
        if (load_vec(L, &l->attn_norm, NAME("attn_norm.weight"), E, 1)) return -1;
        if (l->mixer == AK_MIXER_ATTENTION && (hp->n_lora_kv ? load_attention_mla(L, l, il) : load_attention(L, l, il)))
            return -1;
        if (l->mixer == AK_MIXER_SSM && load_ssm(L, l, il)) return -1;
        if (l->mixer == AK_MIXER_DELTANET && load_deltanet(L, l, il)) return -1;
        const int post = hp->oai_ffn || hp->attn_gated; /* gpt-oss and qwen35moe name their MoE norm so */
        if (l->mixer == AK_MIXER_NONE) /* a hybrid's feed-forward block: its one norm */
            l->ffn_norm = l->attn_norm;
        else if (l->ffn != AK_FFN_NONE &&
                 load_vec(L, &l->ffn_norm, post ? NAME("post_attention_norm.weight") : NAME("ffn_norm.weight"), E, 1))
            return -1;
        if (l->ffn == AK_FFN_DENSE && load_dense_ffn(L, l, il)) return -1;
        if (l->ffn == AK_FFN_MOE && load_moe(L, l, il)) return -1;
        if (l->ffn == AK_FFN_MOE && hp->weight_type < 0) hp->weight_type = l->up_exps.type;
    }
    if (hp->weight_type < 0) return ak_failf(L->err, AK_ERR_FORMAT, "%s model without a layer of experts", hp->arch);
    layer_macs(m);
    return 0;
}

#undef NAME

/* Takes f (closed on failure) and validates it as a model; messages start with name. */
static ak_model *model_from_gguf(gguf_file *f, const char *name, const ak_model_params *p, ak_error *err) {
    ak_model *m = calloc(1, sizeof *m);
    if (!m) {
        gguf_close(f);
        ak_failf(err, AK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    m->gguf = f;
    ak_error why = {0};
    loader L = {m, &why};
    if (load_hparams(&L) || load_tensors(&L) || (p->repack && ak_model_repack(m, &why))) {
        ak_failf(err, why.code, "%s: %s", name, why.msg);
        ak_model_free(m);
        return NULL;
    }
    return m;
}

ak_model_params ak_model_default_params(void) {
    const char *env = getenv("AK_REPACK");
    ak_model_params p = {.repack = !(env && strcmp(env, "0") == 0)};
    return p;
}

ak_model *ak_model_load_with(const char *path, const ak_model_params *p, ak_error *err) {
    ak_error_clear(err);
    if (!path) {
        ak_failf(err, AK_ERR_INVALID_ARG, "no model path given");
        return NULL;
    }
    ak_model_params def = ak_model_default_params();
    gguf_file *f = gguf_open(path, err);
    return f ? model_from_gguf(f, path, p ? p : &def, err) : NULL;
}

ak_model *ak_model_load(const char *path, ak_error *err) { return ak_model_load_with(path, NULL, err); }

ak_model *ak_model_load_buffer(const void *buf, size_t len, ak_error *err) {
    ak_error_clear(err);
    ak_model_params def = ak_model_default_params();
    gguf_file *f = gguf_open_buffer(buf, len, err);
    return f ? model_from_gguf(f, "<buffer>", &def, err) : NULL;
}

void ak_model_free(ak_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    ak_model_repack_free(m);
    free(m->layers);
    gguf_close(m->gguf);
    free(m);
}

const gguf_file *ak_model_gguf(const ak_model *m) { return m->gguf; }
int ak_model_layer_has_experts(const ak_model *m, int il) {
    return il >= 0 && il < m->hp.n_layer && m->layers[il].ffn == AK_FFN_MOE;
}
const ak_hparams *ak_model_hparams(const ak_model *m) { return &m->hp; }
uint64_t ak_model_weight_bytes(const ak_model *m) { return m->weight_bytes; }
uint64_t ak_model_expert_bytes(const ak_model *m) { return m->expert_bytes; }
