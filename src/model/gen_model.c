/* gen_model.c - random-weight GGUF MoE models (see gen_model.h).
 *
 * Writing is two passes so that a 7 GB model never sits in memory: the GGUF writer lays
 * out the header and a zero-filled data section (every tensor points at one shared
 * zero buffer, so nothing is copied), then each tensor is generated in row chunks and
 * written over its zeros at the offset the reader reports. */
#include "model/gen_model.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "quant/quant.h"

#include "tokenizer/tokenizer.h"
#include "base/errfmt.h"

/* T_DT_BIAS, T_SSM_A: Mamba-2's dt bias (around -2: softplus of it is about 0.13) and
 * A = -exp(A_log) (in [-16, -1], as Mamba-2 initialises A_log) */
enum { T_EMBED, T_NORM, T_BIAS, T_MATRIX, T_ROUTER, T_SHEXP_GATE, T_DT_BIAS, T_SSM_A };

typedef struct {
    char name[GGUF_MAX_TENSOR_NAME];
    int kind, layer, type, nd;
    int64_t ne[3];
    float scale;   /* uniform amplitude (or spread around 1 for norms) */
    uint64_t nbytes;
    uint64_t file_offset;
} tensor_spec;

/* ---------------------------------------------------------------- parameters */

int ak_gen_params_default(ak_gen_params *p, const char *arch) {
    memset(p, 0, sizeof *p);
    if (strcmp(arch, "olmoe") && strcmp(arch, "qwen2moe") && strcmp(arch, "qwen3moe") && strcmp(arch, "mixtral") &&
        strcmp(arch, "gpt-oss") && strcmp(arch, "deepseek2") && strcmp(arch, "nemotron_h_moe") && strcmp(arch, "qwen35moe"))
        return -1;
    snprintf(p->arch, sizeof p->arch, "%s", arch);
    p->type = AK_TYPE_F32;
    p->n_layer = 2;
    p->n_embd = 64;
    p->n_head = 4;
    p->n_head_kv = 4;
    p->n_expert = 8;
    p->n_expert_used = 2;
    p->n_ff = 32;
    p->n_vocab = 320;
    p->n_ctx_train = 2048;
    p->rope_freq_base = 10000.0f;
    p->rms_eps = 1e-5f;
    p->seed = 1;
    snprintf(p->vocab_kind, sizeof p->vocab_kind, "%s", strcmp(arch, "mixtral") ? "gpt2" : "llama");
    if (!strcmp(arch, "qwen2moe")) {
        p->n_ff_shexp = 64;
        p->rms_eps = 1e-6f;
        p->rope_freq_base = 1000000.0f;
    }
    if (!strcmp(arch, "qwen3moe")) {
        p->n_head_kv = 2;
        p->head_dim = 32; /* n_head * head_dim != n_embd, as in Qwen3 */
        p->rms_eps = 1e-6f;
        p->rope_freq_base = 1000000.0f;
    }
    if (!strcmp(arch, "mixtral")) p->n_head_kv = 2;
    if (!strcmp(arch, "gpt-oss")) { /* GQA, head_dim apart from n_embd / n_head, a short window */
        p->n_head_kv = 2;
        p->head_dim = 32;
        p->n_swa = 32;
        p->rope_freq_base = 150000.0f;
    }
    if (!strcmp(arch, "deepseek2")) { /* a V3-like router: sigmoid, selection bias, groups */
        p->n_layer = 3, p->n_head_kv = 1;
        p->q_lora = 32, p->kv_lora = 32, p->qk_nope = 16, p->qk_rope = 16, p->v_head = 16;
        p->n_layer_dense = 1, p->n_ff_dense = 64, p->n_expert_shared = 1;
        p->sigmoid = 1, p->n_group = 4, p->n_group_used = 2, p->weights_norm = 1, p->weights_scale = 2.5f;
    }
    if (!strcmp(arch, "nemotron_h_moe")) { /* every kind of layer once or twice, GQA, head_dim apart */
        p->n_layer = 5, p->pattern = "MEM*E", p->n_head_kv = 2, p->head_dim = 16, p->n_ff_shexp = 64;
        p->n_expert_shared = 1, p->sigmoid = 1, p->n_group = 1, p->weights_norm = 1, p->weights_scale = 2.5f;
        p->ssm_heads = 8, p->ssm_head_dim = 8, p->ssm_groups = 2, p->ssm_state = 16, p->ssm_conv = 4;
    }
    if (!strcmp(arch, "qwen35moe")) { /* 3 DeltaNet layers and 1 attention, partial RoPE, GQA */
        p->n_layer = 4, p->n_head_kv = 2, p->head_dim = 32, p->rope_dims = 8, p->n_ff_shexp = 64;
        p->ssm_heads = 4, p->ssm_groups = 2, p->ssm_head_dim = 16, p->ssm_conv = 4;
        p->rms_eps = 1e-6f, p->rope_freq_base = 10000000.0f;
    }
    return 0;
}

const char *ak_gen_preset_names(void) {
    return "olmoe-1b-7b|qwen1.5-moe-a2.7b|mixtral-8x7b|gpt-oss-20b|deepseek-v2-lite|nemotron-3-nano-30b-a3b|"
           "qwen3.6-35b-a3b";
}

/* Shapes from the models' Hugging Face config.json files. */
int ak_gen_params_preset(ak_gen_params *p, const char *preset) {
    if (!strcmp(preset, "olmoe-1b-7b")) {
        ak_gen_params_default(p, "olmoe");
        p->n_layer = 16, p->n_embd = 2048, p->n_head = 16, p->n_head_kv = 16;
        p->n_expert = 64, p->n_expert_used = 8, p->n_ff = 1024, p->n_vocab = 50304, p->n_ctx_train = 4096;
        return 0;
    }
    if (!strcmp(preset, "qwen1.5-moe-a2.7b")) {
        ak_gen_params_default(p, "qwen2moe");
        p->n_layer = 24, p->n_embd = 2048, p->n_head = 16, p->n_head_kv = 16;
        p->n_expert = 60, p->n_expert_used = 4, p->n_ff = 1408, p->n_ff_shexp = 5632;
        p->n_vocab = 151936, p->n_ctx_train = 8192;
        return 0;
    }
    if (!strcmp(preset, "mixtral-8x7b")) {
        ak_gen_params_default(p, "mixtral");
        p->n_layer = 32, p->n_embd = 4096, p->n_head = 32, p->n_head_kv = 8;
        p->n_expert = 8, p->n_expert_used = 2, p->n_ff = 14336, p->n_vocab = 32000, p->n_ctx_train = 32768;
        p->rope_freq_base = 1000000.0f;
        return 0;
    }
    if (!strcmp(preset, "gpt-oss-20b")) { /* openai/gpt-oss-20b config.json (YaRN x32 from 4096) */
        ak_gen_params_default(p, "gpt-oss");
        p->n_layer = 24, p->n_embd = 2880, p->n_head = 64, p->n_head_kv = 8, p->head_dim = 64;
        p->n_expert = 32, p->n_expert_used = 4, p->n_ff = 2880, p->n_vocab = 201088, p->n_ctx_train = 131072;
        p->n_swa = 128, p->rope_freq_base = 150000.0f;
        p->rope_scaling = "yarn", p->rope_factor = 32.0f, p->rope_orig_ctx = 4096;
        return 0;
    }
    if (!strcmp(preset, "deepseek-v2-lite")) { /* deepseek-ai/DeepSeek-V2-Lite config.json */
        ak_gen_params_default(p, "deepseek2");
        p->n_layer = 27, p->n_embd = 2048, p->n_head = 16, p->n_vocab = 102400, p->n_ctx_train = 163840;
        p->rope_scaling = "yarn", p->rope_factor = 40.0f, p->rope_orig_ctx = 4096, p->rope_log_mul = 0.0707f;
        p->q_lora = 0, p->kv_lora = 512, p->qk_nope = 128, p->qk_rope = 64, p->v_head = 128;
        p->n_layer_dense = 1, p->n_ff_dense = 10944, p->n_expert = 64, p->n_expert_used = 6, p->n_ff = 1408;
        p->n_expert_shared = 2, p->sigmoid = 0, p->n_group = 1, p->n_group_used = 1, p->weights_norm = 0;
        p->weights_scale = 1.0f, p->rms_eps = 1e-6f;
        return 0;
    }
    if (!strcmp(preset, "nemotron-3-nano-30b-a3b")) { /* nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16 config.json */
        ak_gen_params_default(p, "nemotron_h_moe");
        p->n_layer = 52, p->pattern = "MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME";
        p->n_embd = 2688, p->n_head = 32, p->n_head_kv = 2, p->head_dim = 128, p->n_vocab = 131072;
        p->n_ctx_train = 262144, p->n_expert = 128, p->n_expert_used = 6, p->n_ff = 1856, p->n_ff_shexp = 3712;
        p->ssm_heads = 64, p->ssm_head_dim = 64, p->ssm_groups = 8, p->ssm_state = 128, p->ssm_conv = 4;
        p->weights_scale = 2.5f, p->weights_norm = 1;
        return 0;
    }
    if (!strcmp(preset, "qwen3.6-35b-a3b")) { /* Qwen/Qwen3.6-35B-A3B (qwen3_5_moe) text config */
        ak_gen_params_default(p, "qwen35moe");
        p->n_layer = 40, p->n_embd = 2048, p->n_head = 16, p->n_head_kv = 2, p->head_dim = 256, p->rope_dims = 64;
        p->n_expert = 256, p->n_expert_used = 8, p->n_ff = 512, p->n_ff_shexp = 512, p->n_vocab = 248320;
        p->n_ctx_train = 262144, p->ssm_heads = 32, p->ssm_groups = 16, p->ssm_head_dim = 128, p->ssm_conv = 4;
        return 0;
    }
    return -1;
}

static int validate_qwen35(const ak_gen_params *p, ak_error *err) {
    const int hd = p->head_dim ? p->head_dim : p->n_embd / p->n_head;
    if (p->ssm_heads < 1 || p->ssm_groups < 1 || p->ssm_heads % p->ssm_groups || p->ssm_head_dim < 1 ||
        p->ssm_head_dim > 1024 || p->ssm_conv < 2 || p->ssm_conv > 64 || p->n_ff_shexp < 1 || p->rope_dims < 0 ||
        p->rope_dims > hd || p->rope_dims % 2 || hd < 32)
        return ak_failf(err, AK_ERR_INVALID_ARG, "qwen35moe: --ssm-heads a multiple of --ssm-groups, --ssm-head-dim "
                        "1..1024, --ssm-conv 2..64, --ff-shexp >= 1, even --rope-dims <= head dim, head dim >= 32");
    return 0;
}

/* The kind of layer l of a nemotron_h_moe model: 'M', '*' or 'E'. */
static char hybrid_kind(const ak_gen_params *p, int l) { return p->pattern[l % (int)strlen(p->pattern)]; }

static int validate_nemotron_h(const ak_gen_params *p, ak_error *err) {
    if (!p->pattern || !*p->pattern) return ak_failf(err, AK_ERR_INVALID_ARG, "nemotron_h_moe: --pattern is empty");
    for (const char *c = p->pattern; *c; c++)
        if (*c != 'M' && *c != '*' && *c != 'E')
            return ak_failf(err, AK_ERR_INVALID_ARG, "--pattern: 'M' (Mamba-2), '*' (attention) or 'E' (experts), not '%c'", *c);
    int moe = 0;
    for (int l = 0; l < p->n_layer; l++) moe |= hybrid_kind(p, l) == 'E';
    if (!moe) return ak_failf(err, AK_ERR_INVALID_ARG, "nemotron_h_moe: --pattern needs an 'E' among the first --layers");
    if (p->ssm_heads < 1 || p->ssm_head_dim < 1 || p->ssm_groups < 1 || p->ssm_heads % p->ssm_groups ||
        p->ssm_state < 1 || p->ssm_conv < 2 || p->ssm_conv > 64 || p->n_ff_shexp < 1 || p->moe_latent < 0 ||
        p->moe_latent > 65536)
        return ak_failf(err, AK_ERR_INVALID_ARG, "nemotron_h_moe: --ssm-heads a multiple of --ssm-groups, --ssm-head-dim, "
                        "--ssm-state >= 1, --ssm-conv 2..64, --ff-shexp >= 1");
    return 0;
}

static int validate_deepseek2(const ak_gen_params *p, ak_error *err) {
    if (p->n_head_kv != 1 || p->kv_lora < 2 || p->qk_nope < 1 || p->qk_rope < 2 || p->qk_rope % 2 || p->v_head < 1 ||
        p->q_lora < 0 || p->n_layer_dense < 0 || p->n_layer_dense >= p->n_layer ||
        (p->n_layer_dense && p->n_ff_dense < 1) || p->n_expert_shared < 0)
        return ak_failf(err, AK_ERR_INVALID_ARG, "deepseek2: 1 KV head, kv_lora >= 2, qk_nope >= 1, even qk_rope, "
                        "v_head >= 1, fewer dense layers than layers");
    if (p->n_group > 1 && (p->n_expert % p->n_group || p->n_group_used < 1 || p->n_group_used >= p->n_group))
        return ak_failf(err, AK_ERR_INVALID_ARG, "deepseek2: %d experts in %d groups, %d used", p->n_expert, p->n_group,
                        p->n_group_used);
    return 0;
}

static int validate(const ak_gen_params *p, ak_error *err) {
    ak_gen_params d;
    if (ak_gen_params_default(&d, p->arch)) {
        ak_failf(err, AK_ERR_INVALID_ARG, "unknown architecture '%s' (olmoe, qwen2moe, qwen3moe, mixtral, gpt-oss, deepseek2, "
                 "nemotron_h_moe, qwen35moe)",
                 p->arch);
        return -1;
    }
    if (p->type < 0 || p->type >= AK_TYPE_COUNT || !ak_type_is_weight(p->type)) {
        ak_failf(err, AK_ERR_INVALID_ARG, "weight type %d is not one this engine computes with", p->type);
        return -1;
    }
    struct { const char *name; int v, min, max; } r[] = {
        {"layers", p->n_layer, 1, 1024},         {"embd", p->n_embd, 2, 65536},
        {"heads", p->n_head, 1, 1024},           {"heads-kv", p->n_head_kv, 1, 1024},
        {"experts", p->n_expert, 1, 1024},       {"top-k", p->n_expert_used, 1, p->n_expert},
        {"ff", p->n_ff, 1, 1 << 20},             {"vocab", p->n_vocab, 8, 1 << 22},
        {"ctx", p->n_ctx_train, 1, 1 << 24},     {"ff-shexp", p->n_ff_shexp, 0, 1 << 20},
        {"head-dim", p->head_dim, 0, 4096},      {"swa", p->n_swa, 0, 1 << 24},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++)
        if (r[i].v < r[i].min || r[i].v > r[i].max) {
            ak_failf(err, AK_ERR_INVALID_ARG, "--%s %d is out of range [%d, %d]", r[i].name, r[i].v, r[i].min, r[i].max);
            return -1;
        }
    if (p->rope_scaling && ((strcmp(p->rope_scaling, "linear") && strcmp(p->rope_scaling, "yarn")) || !(p->rope_factor > 0))) {
        ak_failf(err, AK_ERR_INVALID_ARG, "--rope-scaling %s: linear or yarn, with --rope-factor F > 0", p->rope_scaling);
        return -1;
    }
    if (p->n_head % p->n_head_kv) {
        ak_failf(err, AK_ERR_INVALID_ARG, "heads (%d) must be a multiple of heads-kv (%d)", p->n_head, p->n_head_kv);
        return -1;
    }
    int hd = p->head_dim ? p->head_dim : p->n_embd / p->n_head;
    if (!p->head_dim && p->n_embd % p->n_head) {
        ak_failf(err, AK_ERR_INVALID_ARG, "embd (%d) must be a multiple of heads (%d)", p->n_embd, p->n_head);
        return -1;
    }
    if (!strcmp(p->arch, "deepseek2") && validate_deepseek2(p, err)) return -1;
    if (!strcmp(p->arch, "nemotron_h_moe") && validate_nemotron_h(p, err)) return -1;
    if (!strcmp(p->arch, "qwen35moe") && validate_qwen35(p, err)) return -1;
    if (strcmp(p->arch, "qwen3moe") && strcmp(p->arch, "gpt-oss") && strcmp(p->arch, "deepseek2") &&
        strcmp(p->arch, "nemotron_h_moe") && strcmp(p->arch, "qwen35moe") && hd * p->n_head != p->n_embd) {
        ak_failf(err, AK_ERR_INVALID_ARG, "%s needs head_dim * heads == embd", p->arch);
        return -1;
    }
    if (!strcmp(p->arch, "olmoe") && p->n_head_kv != p->n_head) {
        /* llama.cpp's olmoe loader wants attn_k_norm over n_embd, i.e. no grouped-query attention */
        ak_failf(err, AK_ERR_INVALID_ARG, "olmoe has no grouped-query attention in llama.cpp: --heads-kv (%d) must equal --heads (%d)",
                p->n_head_kv, p->n_head);
        return -1;
    }
    if (hd % 2) {
        ak_failf(err, AK_ERR_INVALID_ARG, "head dimension %d must be even (rotary pairs)", hd);
        return -1;
    }
    if (!strcmp(p->arch, "qwen2moe") && p->n_ff_shexp < 1) {
        ak_failf(err, AK_ERR_INVALID_ARG, "qwen2moe needs a shared expert (--ff-shexp > 0)");
        return -1;
    }
    if (strcmp(p->vocab_kind, "gpt2") && strcmp(p->vocab_kind, "llama") && strcmp(p->vocab_kind, "bytes") &&
        strcmp(p->vocab_kind, "none")) {
        ak_failf(err, AK_ERR_INVALID_ARG, "unknown vocabulary kind '%s' (gpt2, llama, bytes, none)", p->vocab_kind);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------------------- random numbers */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float uniform_pm1(uint64_t *s) { return (float)((double)(splitmix64(s) >> 11) * 0x1p-53 * 2.0 - 1.0); }

static uint64_t stream_seed(uint64_t seed, const char *name, const char *salt) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *c = name; *c; c++) h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
    for (const char *c = salt; *c; c++) h = (h ^ (uint8_t)*c) * 0x100000001b3ull;
    uint64_t s = seed ^ h;
    splitmix64(&s);
    return s;
}

/* ---------------------------------------------------------------- tensor list */

static int row_type(int type, int64_t ne0) {
    if (ak_row_bytes((ak_type)type, ne0)) return type;
    if (ak_row_bytes(AK_TYPE_Q8_0, ne0)) return AK_TYPE_Q8_0;
    return AK_TYPE_F16;
}

static void add_spec(tensor_spec *t, int *n, int kind, int layer, const char *name, int type, int nd, int64_t n0,
                     int64_t n1, int64_t n2, float scale) {
    tensor_spec *s = &t[(*n)++];
    memset(s, 0, sizeof *s);
    if (layer >= 0)
        snprintf(s->name, sizeof s->name, "blk.%d.%s", layer, name);
    else
        snprintf(s->name, sizeof s->name, "%s", name);
    s->kind = kind;
    s->layer = layer;
    s->nd = nd;
    s->ne[0] = n0, s->ne[1] = n1, s->ne[2] = n2;
    /* vectors, biases, norms and Mamba-2's small tensors stay F32, as llama.cpp's converters write them */
    s->type = nd > 1 && (kind == T_MATRIX || kind == T_EMBED || kind == T_ROUTER) ? row_type(type, n0) : AK_TYPE_F32;
    s->scale = scale;
    s->nbytes = ak_row_bytes((ak_type)s->type, n0) * (uint64_t)(n1 * n2);
}

/* Amplitude of a uniform [-a, a] matrix that keeps unit-RMS inputs at unit-RMS outputs. */
static float keep_rms(int64_t fan_in) { return sqrtf(3.0f / (float)fan_in); }

/* One deepseek2 layer (llama_model_deepseek2::load_arch_tensors, MLA with split k_b/v_b). */
static void deepseek2_layer(const ak_gen_params *p, int l, tensor_spec *t, int *n) {
    const int64_t E = p->n_embd, H = p->n_head, X = p->n_expert, F = p->n_ff, lkv = p->kv_lora, lq = p->q_lora;
    const int64_t kmla = p->qk_nope + p->qk_rope, vq = H * p->v_head, S = F * p->n_expert_shared;
    const int ty = p->type;
    add_spec(t, n, T_NORM, l, "attn_norm.weight", ty, 1, E, 1, 1, 0.1f);
    if (lq) {
        add_spec(t, n, T_MATRIX, l, "attn_q_a.weight", ty, 2, E, lq, 1, keep_rms(E));
        add_spec(t, n, T_NORM, l, "attn_q_a_norm.weight", ty, 1, lq, 1, 1, 0.1f);
        add_spec(t, n, T_MATRIX, l, "attn_q_b.weight", ty, 2, lq, H * kmla, 1, keep_rms(lq));
    } else {
        add_spec(t, n, T_MATRIX, l, "attn_q.weight", ty, 2, E, H * kmla, 1, keep_rms(E));
    }
    add_spec(t, n, T_MATRIX, l, "attn_kv_a_mqa.weight", ty, 2, E, lkv + p->qk_rope, 1, keep_rms(E));
    add_spec(t, n, T_NORM, l, "attn_kv_a_norm.weight", ty, 1, lkv, 1, 1, 0.1f);
    add_spec(t, n, T_MATRIX, l, "attn_k_b.weight", ty, 3, p->qk_nope, lkv, H, keep_rms(p->qk_nope));
    add_spec(t, n, T_MATRIX, l, "attn_v_b.weight", ty, 3, lkv, p->v_head, H, keep_rms(lkv));
    add_spec(t, n, T_MATRIX, l, "attn_output.weight", ty, 2, vq, E, 1, keep_rms(vq));
    add_spec(t, n, T_NORM, l, "ffn_norm.weight", ty, 1, E, 1, 1, 0.1f);
    if (l < p->n_layer_dense) {
        add_spec(t, n, T_MATRIX, l, "ffn_gate.weight", ty, 2, E, p->n_ff_dense, 1, keep_rms(E));
        add_spec(t, n, T_MATRIX, l, "ffn_up.weight", ty, 2, E, p->n_ff_dense, 1, keep_rms(E));
        add_spec(t, n, T_MATRIX, l, "ffn_down.weight", ty, 2, p->n_ff_dense, E, 1, keep_rms(p->n_ff_dense));
        return;
    }
    add_spec(t, n, T_ROUTER, l, "ffn_gate_inp.weight", AK_TYPE_F32, 2, E, X, 1, 0.5f * keep_rms(E));
    if (p->sigmoid) add_spec(t, n, T_BIAS, l, "exp_probs_b.bias", ty, 1, X, 1, 1, 0.05f);
    add_spec(t, n, T_MATRIX, l, "ffn_gate_exps.weight", ty, 3, E, F, X, keep_rms(E));
    add_spec(t, n, T_MATRIX, l, "ffn_up_exps.weight", ty, 3, E, F, X, keep_rms(E));
    add_spec(t, n, T_MATRIX, l, "ffn_down_exps.weight", ty, 3, F, E, X, keep_rms(F));
    if (S) {
        add_spec(t, n, T_MATRIX, l, "ffn_gate_shexp.weight", ty, 2, E, S, 1, keep_rms(E));
        add_spec(t, n, T_MATRIX, l, "ffn_up_shexp.weight", ty, 2, E, S, 1, keep_rms(E));
        add_spec(t, n, T_MATRIX, l, "ffn_down_shexp.weight", ty, 2, S, E, 1, keep_rms(S));
    }
}

/* One nemotron_h_moe layer (llama_model_nemotron_h::load_arch_tensors): a Mamba-2 block,
 * attention without biases, or squared-ReLU experts with a selection bias and a shared
 * expert; each with its attn_norm. */
static void nemotron_h_layer(const ak_gen_params *p, int l, tensor_spec *t, int *n) {
    const int64_t E = p->n_embd, X = p->n_expert, F = p->n_ff, S = p->n_ff_shexp;
    const int64_t hd = p->head_dim ? p->head_dim : E / p->n_head, nh = p->ssm_heads, di = nh * p->ssm_head_dim, gs = (int64_t)p->ssm_groups * p->ssm_state;
    const int ty = p->type;
    add_spec(t, n, T_NORM, l, "attn_norm.weight", ty, 1, E, 1, 1, 0.1f);
    switch (hybrid_kind(p, l)) {
    case 'M':
        add_spec(t, n, T_MATRIX, l, "ssm_in.weight", ty, 2, E, 2 * di + 2 * gs + nh, 1, keep_rms(E));
        add_spec(t, n, T_BIAS, l, "ssm_conv1d.weight", ty, 2, p->ssm_conv, di + 2 * gs, 1, keep_rms(p->ssm_conv));
        add_spec(t, n, T_BIAS, l, "ssm_conv1d.bias", ty, 1, di + 2 * gs, 1, 1, 0.1f);
        add_spec(t, n, T_DT_BIAS, l, "ssm_dt.bias", ty, 1, nh, 1, 1, 1.0f);
        add_spec(t, n, T_SSM_A, l, "ssm_a", ty, 2, 1, nh, 1, 1.0f);
        add_spec(t, n, T_NORM, l, "ssm_d", ty, 2, 1, nh, 1, 0.5f);
        add_spec(t, n, T_NORM, l, "ssm_norm.weight", ty, 2, di / p->ssm_groups, p->ssm_groups, 1, 0.1f);
        add_spec(t, n, T_MATRIX, l, "ssm_out.weight", ty, 2, di, E, 1, keep_rms(di));
        break;
    case '*':
        add_spec(t, n, T_MATRIX, l, "attn_q.weight", ty, 2, E, hd * p->n_head, 1, keep_rms(E));
        add_spec(t, n, T_MATRIX, l, "attn_k.weight", ty, 2, E, hd * p->n_head_kv, 1, keep_rms(E));
        add_spec(t, n, T_MATRIX, l, "attn_v.weight", ty, 2, E, hd * p->n_head_kv, 1, keep_rms(E));
        add_spec(t, n, T_MATRIX, l, "attn_output.weight", ty, 2, hd * p->n_head, E, 1, keep_rms(hd * p->n_head));
        break;
    default: {
        const int64_t Em = p->moe_latent ? p->moe_latent : E; /* the experts' width */
        add_spec(t, n, T_ROUTER, l, "ffn_gate_inp.weight", AK_TYPE_F32, 2, E, X, 1, 0.5f * keep_rms(E));
        add_spec(t, n, T_BIAS, l, "exp_probs_b.bias", ty, 1, X, 1, 1, 0.05f);
        if (p->moe_latent) {
            add_spec(t, n, T_MATRIX, l, "ffn_latent_down.weight", ty, 2, E, Em, 1, keep_rms(E));
            add_spec(t, n, T_MATRIX, l, "ffn_latent_up.weight", ty, 2, Em, E, 1, keep_rms(Em));
        }
        add_spec(t, n, T_MATRIX, l, "ffn_up_exps.weight", ty, 3, Em, F, X, keep_rms(Em));
        add_spec(t, n, T_MATRIX, l, "ffn_down_exps.weight", ty, 3, F, Em, X, keep_rms(F));
        add_spec(t, n, T_MATRIX, l, "ffn_up_shexp.weight", ty, 2, E, S, 1, keep_rms(E));
        add_spec(t, n, T_MATRIX, l, "ffn_down_shexp.weight", ty, 2, S, E, 1, keep_rms(S));
    }
    }
}

/* One qwen35moe layer (llama_model_qwen35moe::load_arch_tensors): a Gated DeltaNet or, every
 * 4th layer, gated attention with q/k norms; then experts and a sigmoid-gated shared expert. */
static void qwen35_layer(const ak_gen_params *p, int l, tensor_spec *t, int *n) {
    const int64_t E = p->n_embd, X = p->n_expert, F = p->n_ff, S = p->n_ff_shexp;
    const int64_t hd = p->head_dim ? p->head_dim : E / p->n_head, w = p->ssm_head_dim, vd = w * p->ssm_heads, qkv = 2 * w * p->ssm_groups + vd, nv = p->ssm_heads;
    const int ty = p->type;
    add_spec(t, n, T_NORM, l, "attn_norm.weight", ty, 1, E, 1, 1, 0.1f);
    if ((l + 1) % 4 == 0) {
        add_spec(t, n, T_MATRIX, l, "attn_q.weight", ty, 2, E, 2 * hd * p->n_head, 1, keep_rms(E));
        add_spec(t, n, T_MATRIX, l, "attn_k.weight", ty, 2, E, hd * p->n_head_kv, 1, keep_rms(E));
        add_spec(t, n, T_MATRIX, l, "attn_v.weight", ty, 2, E, hd * p->n_head_kv, 1, keep_rms(E));
        add_spec(t, n, T_MATRIX, l, "attn_output.weight", ty, 2, hd * p->n_head, E, 1, keep_rms(hd * p->n_head));
        add_spec(t, n, T_NORM, l, "attn_q_norm.weight", ty, 1, hd, 1, 1, 0.1f);
        add_spec(t, n, T_NORM, l, "attn_k_norm.weight", ty, 1, hd, 1, 1, 0.1f);
    } else {
        add_spec(t, n, T_MATRIX, l, "attn_qkv.weight", ty, 2, E, qkv, 1, keep_rms(E));
        add_spec(t, n, T_MATRIX, l, "attn_gate.weight", ty, 2, E, vd, 1, keep_rms(E));
        add_spec(t, n, T_BIAS, l, "ssm_conv1d.weight", ty, 2, p->ssm_conv, qkv, 1, keep_rms(p->ssm_conv));
        add_spec(t, n, T_DT_BIAS, l, "ssm_dt.bias", ty, 1, nv, 1, 1, 1.0f);
        add_spec(t, n, T_SSM_A, l, "ssm_a", ty, 1, nv, 1, 1, 1.0f);
        add_spec(t, n, T_MATRIX, l, "ssm_beta.weight", ty, 2, E, nv, 1, keep_rms(E));
        add_spec(t, n, T_MATRIX, l, "ssm_alpha.weight", ty, 2, E, nv, 1, keep_rms(E));
        add_spec(t, n, T_NORM, l, "ssm_norm.weight", ty, 1, w, 1, 1, 0.1f);
        add_spec(t, n, T_MATRIX, l, "ssm_out.weight", ty, 2, vd, E, 1, keep_rms(vd));
    }
    add_spec(t, n, T_NORM, l, "post_attention_norm.weight", ty, 1, E, 1, 1, 0.1f);
    add_spec(t, n, T_ROUTER, l, "ffn_gate_inp.weight", AK_TYPE_F32, 2, E, X, 1, 0.5f * keep_rms(E));
    add_spec(t, n, T_MATRIX, l, "ffn_gate_exps.weight", ty, 3, E, F, X, keep_rms(E));
    add_spec(t, n, T_MATRIX, l, "ffn_up_exps.weight", ty, 3, E, F, X, keep_rms(E));
    add_spec(t, n, T_MATRIX, l, "ffn_down_exps.weight", ty, 3, F, E, X, keep_rms(F));
    add_spec(t, n, T_SHEXP_GATE, l, "ffn_gate_inp_shexp.weight", ty, 1, E, 1, 1, keep_rms(E));
    add_spec(t, n, T_MATRIX, l, "ffn_gate_shexp.weight", ty, 2, E, S, 1, keep_rms(E));
    add_spec(t, n, T_MATRIX, l, "ffn_up_shexp.weight", ty, 2, E, S, 1, keep_rms(E));
    add_spec(t, n, T_MATRIX, l, "ffn_down_shexp.weight", ty, 2, S, E, 1, keep_rms(S));
}

static int build_specs(const ak_gen_params *p, int n_vocab, tensor_spec *t) {
    const int q2 = !strcmp(p->arch, "qwen2moe"), q3 = !strcmp(p->arch, "qwen3moe"), ol = !strcmp(p->arch, "olmoe");
    const int oss = !strcmp(p->arch, "gpt-oss");
    const int64_t E = p->n_embd, X = p->n_expert, F = p->n_ff, S = p->n_ff_shexp;
    const int64_t hd = p->head_dim ? p->head_dim : E / p->n_head;
    const int64_t q = hd * p->n_head, kv = hd * p->n_head_kv;
    const int ty = p->type;
    int n = 0;
    add_spec(t, &n, T_EMBED, -1, "token_embd.weight", ty, 2, E, n_vocab, 1, 1.0f);
    const int own_layers = !strcmp(p->arch, "deepseek2") || !strcmp(p->arch, "nemotron_h_moe") || !strcmp(p->arch, "qwen35moe");
    for (int l = 0; l < p->n_layer && !strcmp(p->arch, "qwen35moe"); l++) qwen35_layer(p, l, t, &n);
    for (int l = 0; l < p->n_layer && !strcmp(p->arch, "deepseek2"); l++) deepseek2_layer(p, l, t, &n);
    for (int l = 0; l < p->n_layer && !strcmp(p->arch, "nemotron_h_moe"); l++) nemotron_h_layer(p, l, t, &n);
    for (int l = 0; l < p->n_layer && !own_layers; l++) {
        add_spec(t, &n, T_NORM, l, "attn_norm.weight", ty, 1, E, 1, 1, 0.1f);
        add_spec(t, &n, T_MATRIX, l, "attn_q.weight", ty, 2, E, q, 1, keep_rms(E));
        add_spec(t, &n, T_MATRIX, l, "attn_k.weight", ty, 2, E, kv, 1, keep_rms(E));
        add_spec(t, &n, T_MATRIX, l, "attn_v.weight", ty, 2, E, kv, 1, keep_rms(E));
        if (q2 || oss) {
            add_spec(t, &n, T_BIAS, l, "attn_q.bias", ty, 1, q, 1, 1, 0.1f);
            add_spec(t, &n, T_BIAS, l, "attn_k.bias", ty, 1, kv, 1, 1, 0.1f);
            add_spec(t, &n, T_BIAS, l, "attn_v.bias", ty, 1, kv, 1, 1, 0.1f);
        }
        add_spec(t, &n, T_MATRIX, l, "attn_output.weight", ty, 2, q, E, 1, keep_rms(q));
        if (oss) {
            add_spec(t, &n, T_BIAS, l, "attn_output.bias", ty, 1, E, 1, 1, 0.1f);
            add_spec(t, &n, T_BIAS, l, "attn_sinks.weight", ty, 1, p->n_head, 1, 1, 2.0f);
        }
        if (ol || q3) {
            add_spec(t, &n, T_NORM, l, "attn_q_norm.weight", ty, 1, ol ? q : hd, 1, 1, 0.1f);
            add_spec(t, &n, T_NORM, l, "attn_k_norm.weight", ty, 1, ol ? kv : hd, 1, 1, 0.1f);
        }
        add_spec(t, &n, T_NORM, l, oss ? "post_attention_norm.weight" : "ffn_norm.weight", ty, 1, E, 1, 1, 0.1f);
        /* routers stay F32, as llama.cpp's converter and llama-quantize keep them */
        add_spec(t, &n, T_ROUTER, l, "ffn_gate_inp.weight", AK_TYPE_F32, 2, E, X, 1, 0.5f * keep_rms(E));
        add_spec(t, &n, T_MATRIX, l, "ffn_gate_exps.weight", ty, 3, E, F, X, keep_rms(E));
        add_spec(t, &n, T_MATRIX, l, "ffn_up_exps.weight", ty, 3, E, F, X, keep_rms(E));
        add_spec(t, &n, T_MATRIX, l, "ffn_down_exps.weight", ty, 3, F, E, X, keep_rms(F));
        if (oss) { /* biases of the router and of every expert (2-D: one row per expert) */
            add_spec(t, &n, T_BIAS, l, "ffn_gate_inp.bias", ty, 1, X, 1, 1, 0.5f);
            add_spec(t, &n, T_BIAS, l, "ffn_gate_exps.bias", ty, 2, F, X, 1, 0.5f);
            add_spec(t, &n, T_BIAS, l, "ffn_up_exps.bias", ty, 2, F, X, 1, 0.5f);
            add_spec(t, &n, T_BIAS, l, "ffn_down_exps.bias", ty, 2, E, X, 1, 0.1f);
        }
        if (q2) {
            add_spec(t, &n, T_SHEXP_GATE, l, "ffn_gate_inp_shexp.weight", ty, 1, E, 1, 1, keep_rms(E));
            add_spec(t, &n, T_MATRIX, l, "ffn_gate_shexp.weight", ty, 2, E, S, 1, keep_rms(E));
            add_spec(t, &n, T_MATRIX, l, "ffn_up_shexp.weight", ty, 2, E, S, 1, keep_rms(E));
            add_spec(t, &n, T_MATRIX, l, "ffn_down_shexp.weight", ty, 2, S, E, 1, keep_rms(S));
        }
    }
    add_spec(t, &n, T_NORM, -1, "output_norm.weight", ty, 1, E, 1, 1, 0.1f);
    /* unit-variance logits: PPL of unrelated text is about n_vocab * e^(1/2) */
    add_spec(t, &n, T_MATRIX, -1, "output.weight", ty, 2, E, n_vocab, 1, keep_rms(E));
    return n;
}

/* Values of one tensor, rows r0..r0+nr-1, continuing the tensor's random stream.
 * Routers: noise plus a per-layer shared direction d scaled per expert by c[e], so the
 * logit spread follows |d . x| and varies between tokens; later layers route sharper. */
static void gen_rows(const tensor_spec *t, const ak_gen_params *p, uint64_t *rng, const float *dir,
                     const float *coef, int64_t r0, int64_t nr, float *out) {
    const int64_t n0 = t->ne[0];
    for (int64_t r = 0; r < nr; r++) {
        float *row = out + r * n0;
        for (int64_t j = 0; j < n0; j++) {
            float u = uniform_pm1(rng);
            switch (t->kind) {
            case T_NORM: row[j] = 1.0f + t->scale * u; break;
            case T_DT_BIAS: row[j] = -2.0f + u; break;
            case T_SSM_A: row[j] = -(8.5f + 7.5f * u); break;
            case T_ROUTER: {
                float strength = 2.0f + 3.0f * (float)t->layer / (float)(p->n_layer > 1 ? p->n_layer - 1 : 1);
                row[j] = t->scale * u + strength * coef[(r0 + r) % p->n_expert] * dir[j];
                break;
            }
            default: row[j] = t->scale * u; break;
            }
        }
    }
}

/* ---------------------------------------------------------------- writing */

static uint32_t llama_ftype(int type) {
    switch (type) {
    case AK_TYPE_F32: return 0;
    case AK_TYPE_F16: return 1;
    case AK_TYPE_Q4_0: return 2;
    case AK_TYPE_Q8_0: return 7;
    case AK_TYPE_Q4_K: return 15; /* Q4_K_M */
    case AK_TYPE_Q5_K: return 17; /* Q5_K_M */
    case AK_TYPE_Q6_K: return 18;
    case AK_TYPE_IQ4_XS: return 30;
    case AK_TYPE_Q5_0: return 8;
    case AK_TYPE_IQ4_NL: return 25;
    case AK_TYPE_Q2_K: return 10;
    case AK_TYPE_Q3_K: return 12; /* Q3_K_M */
    case AK_TYPE_MXFP4: return 38; /* MXFP4_MOE */
    case AK_TYPE_BF16: return 32;
    default: return 0;
    }
}

static const char *gguf_arch(const ak_gen_params *p) { return strcmp(p->arch, "mixtral") ? p->arch : "llama"; }

/* ---------------------------------------------------------------- "bytes" vocabulary */

/* A byte-level GPT-2 vocabulary whose tokenisation is trivial: ids 0..255 are the bytes
 * (GPT-2's byte-to-unicode text), 256 BOS, 257 EOS, 258 the one merge (bytes 0x00 0x01,
 * absent from text), then unused filler tokens up to n_vocab. Its token ids do not depend
 * on any tokenizer's subtleties, so perplexities on it compare the engines alone. */
enum { BYTES_BOS = 256, BYTES_EOS = 257, BYTES_VOCAB_MIN = 259 };

static int put_utf8(unsigned cp, char *o) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

static int write_bytes_vocab(gguf_writer *w, int n_vocab) {
    char (*text)[24] = calloc((size_t)n_vocab, sizeof *text);
    const char **toks = calloc((size_t)n_vocab, sizeof *toks);
    int32_t *types = calloc((size_t)n_vocab, sizeof *types);
    if (!text || !toks || !types) {
        free(text), free(toks), free(types);
        return -1;
    }
    unsigned shifted = 0;
    for (int b = 0; b < 256; b++) {
        /* GPT-2 keeps printable Latin-1 bytes as themselves and moves the rest to 256.. */
        int keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        put_utf8(keep ? (unsigned)b : 256u + shifted++, text[b]);
        types[b] = 1; /* normal */
    }
    snprintf(text[BYTES_BOS], sizeof text[0], "<|bos|>");
    snprintf(text[BYTES_EOS], sizeof text[0], "<|eos|>");
    types[BYTES_BOS] = types[BYTES_EOS] = 3; /* control */
    size_t l0 = strlen(text[0]), l1 = strlen(text[1]);
    memcpy(text[258], text[0], l0);
    memcpy(text[258] + l0, text[1], l1 + 1);
    types[258] = 1;
    for (int i = BYTES_VOCAB_MIN; i < n_vocab; i++) {
        snprintf(text[i], sizeof text[0], "<|unused%d|>", i - BYTES_VOCAB_MIN);
        types[i] = 4; /* user-defined: never produced from text without parse_special */
    }
    for (int i = 0; i < n_vocab; i++) toks[i] = text[i];
    char merge[16];
    snprintf(merge, sizeof merge, "%s %s", text[0], text[1]);
    const char *merges[1] = {merge};
    gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_set_str(w, "tokenizer.ggml.pre", "default");
    gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, (uint64_t)n_vocab);
    gguf_set_arr_data(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, (uint64_t)n_vocab);
    gguf_set_arr_str(w, "tokenizer.ggml.merges", merges, 1);
    gguf_set_u32(w, "tokenizer.ggml.bos_token_id", BYTES_BOS);
    gguf_set_u32(w, "tokenizer.ggml.eos_token_id", BYTES_EOS);
    gguf_set_bool(w, "tokenizer.ggml.add_bos_token", 1);
    gguf_set_bool(w, "tokenizer.ggml.add_eos_token", 0);
    free(text), free(toks), free(types);
    return 0;
}

static int write_vocab(gguf_writer *w, const ak_gen_params *p, int n_vocab) {
    char key[96];
    if (!strcmp(p->vocab_kind, "bytes")) return write_bytes_vocab(w, n_vocab);
    if (strcmp(p->vocab_kind, "none")) return ak_tokenizer_write_tiny_vocab(w, p->vocab_kind, n_vocab);
    gguf_set_str(w, "tokenizer.ggml.model", "none");
    snprintf(key, sizeof key, "%s.vocab_size", gguf_arch(p));
    gguf_set_u32(w, key, (uint32_t)n_vocab);
    return 0;
}

/* The tiny vocabulary decides its own exact size: write it alone once and count. */
static int probe_vocab_size(const ak_gen_params *p, const char *path, int *n_vocab, ak_error *err) {
    if (!strcmp(p->vocab_kind, "none")) {
        *n_vocab = p->n_vocab;
        return 0;
    }
    if (!strcmp(p->vocab_kind, "bytes")) {
        if (p->n_vocab < BYTES_VOCAB_MIN) {
            ak_failf(err, AK_ERR_INVALID_ARG, "a 'bytes' vocabulary needs --vocab >= %d", BYTES_VOCAB_MIN);
            return -1;
        }
        *n_vocab = p->n_vocab;
        return 0;
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.vocab-probe", path);
    gguf_writer *w = gguf_writer_new();
    if (!w) {
        ak_failf(err, AK_ERR_NOMEM, "out of memory");
        return -1;
    }
    int rc = -1;
    if (ak_tokenizer_write_tiny_vocab(w, p->vocab_kind, p->n_vocab)) {
        ak_failf(err, AK_ERR_INVALID_ARG, "cannot build a '%s' vocabulary of about %d tokens", p->vocab_kind, p->n_vocab);
    } else if (gguf_writer_write(w, tmp, err) == 0) {
        gguf_file *f = gguf_open(tmp, err);
        gguf_type et;
        uint64_t n = 0;
        if (f && gguf_get_arr_info(f, "tokenizer.ggml.tokens", &et, &n) && n > 0 && n < (1u << 22)) {
            *n_vocab = (int)n;
            rc = 0;
        } else if (f) {
            ak_failf(err, AK_ERR_INVALID_ARG, "the '%s' vocabulary has no tokenizer.ggml.tokens array", p->vocab_kind);
        }
        gguf_close(f);
        unlink(tmp);
    }
    gguf_writer_free(w);
    return rc;
}

/* nemotron_h_moe's keys as llama.cpp's converter writes them: per-layer head_count_kv and
 * feed_forward_length (0 where the layer has none), the Mamba-2 shapes (time_step_rank =
 * its number of heads), the routed experts' norm, scale and one group. */
static void set_nemotron_h_metadata(gguf_writer *w, const ak_gen_params *p) {
    char key[96];
#define K(s) (snprintf(key, sizeof key, "nemotron_h_moe.%s", s), key)
    int32_t *kv = calloc((size_t)p->n_layer, sizeof *kv), *ff = calloc((size_t)p->n_layer, sizeof *ff);
    if (kv && ff) {
        for (int l = 0; l < p->n_layer; l++) {
            kv[l] = hybrid_kind(p, l) == '*' ? p->n_head_kv : 0;
            ff[l] = hybrid_kind(p, l) == 'E' ? p->n_ff : 0;
        }
        gguf_set_arr_data(w, K("attention.head_count_kv"), GGUF_TYPE_INT32, kv, (uint64_t)p->n_layer);
        gguf_set_arr_data(w, K("feed_forward_length"), GGUF_TYPE_INT32, ff, (uint64_t)p->n_layer);
    }
    free(kv);
    free(ff);
    const uint32_t hd = (uint32_t)(p->head_dim ? p->head_dim : p->n_embd / p->n_head);
    gguf_set_u32(w, K("attention.key_length"), hd);
    gguf_set_u32(w, K("attention.value_length"), hd);
    gguf_set_u32(w, K("ssm.conv_kernel"), (uint32_t)p->ssm_conv);
    gguf_set_u32(w, K("ssm.state_size"), (uint32_t)p->ssm_state);
    gguf_set_u32(w, K("ssm.group_count"), (uint32_t)p->ssm_groups);
    gguf_set_u32(w, K("ssm.inner_size"), (uint32_t)(p->ssm_heads * p->ssm_head_dim));
    gguf_set_u32(w, K("ssm.time_step_rank"), (uint32_t)p->ssm_heads);
    gguf_set_u32(w, K("expert_shared_count"), (uint32_t)p->n_expert_shared);
    gguf_set_bool(w, K("expert_weights_norm"), p->weights_norm);
    gguf_set_f32(w, K("expert_weights_scale"), p->weights_scale);
    gguf_set_u32(w, K("expert_group_count"), (uint32_t)(p->n_group > 0 ? p->n_group : 1));
    if (p->moe_latent) gguf_set_u32(w, K("moe_latent_size"), (uint32_t)p->moe_latent);
#undef K
}

/* qwen35moe's keys as llama.cpp's converter writes them (Qwen3NextModel, _Qwen35MRopeMixin). */
static void set_qwen35_metadata(gguf_writer *w, const ak_gen_params *p) {
    char key[96];
#define K(s) (snprintf(key, sizeof key, "qwen35moe.%s", s), key)
    const int32_t sections[4] = {11, 11, 10, 0};
    const uint32_t hd = (uint32_t)(p->head_dim ? p->head_dim : p->n_embd / p->n_head);
    gguf_set_u32(w, K("attention.key_length"), hd);
    gguf_set_u32(w, K("attention.value_length"), hd);
    gguf_set_u32(w, K("rope.dimension_count"), p->rope_dims ? (uint32_t)p->rope_dims : hd);
    gguf_set_arr_data(w, K("rope.dimension_sections"), GGUF_TYPE_INT32, sections, 4);
    gguf_set_u32(w, K("expert_shared_feed_forward_length"), (uint32_t)p->n_ff_shexp);
    gguf_set_u32(w, K("ssm.conv_kernel"), (uint32_t)p->ssm_conv);
    gguf_set_u32(w, K("ssm.state_size"), (uint32_t)p->ssm_head_dim);
    gguf_set_u32(w, K("ssm.group_count"), (uint32_t)p->ssm_groups);
    gguf_set_u32(w, K("ssm.time_step_rank"), (uint32_t)p->ssm_heads);
    gguf_set_u32(w, K("ssm.inner_size"), (uint32_t)(p->ssm_heads * p->ssm_head_dim));
    gguf_set_u32(w, K("full_attention_interval"), 4);
#undef K
}

static void set_metadata(gguf_writer *w, const ak_gen_params *p) {
    const char *a = gguf_arch(p);
    char key[96];
#define K(s) (snprintf(key, sizeof key, "%s.%s", a, s), key)
    const int hd = p->head_dim ? p->head_dim : p->n_embd / p->n_head;
    char name[96];
    snprintf(name, sizeof name, "adaptive-k random %s seed %llu", p->arch, (unsigned long long)p->seed);
    gguf_set_str(w, "general.architecture", a);
    gguf_set_str(w, "general.name", name);
    gguf_set_u32(w, "general.file_type", llama_ftype(p->type));
    if (p->type != AK_TYPE_F32 && p->type != AK_TYPE_F16 && p->type != AK_TYPE_BF16)
        gguf_set_u32(w, "general.quantization_version", 2);
    gguf_set_u32(w, K("context_length"), (uint32_t)p->n_ctx_train);
    gguf_set_u32(w, K("embedding_length"), (uint32_t)p->n_embd);
    gguf_set_u32(w, K("block_count"), (uint32_t)p->n_layer);
    uint32_t ff_dense = (uint32_t)p->n_ff;
    if (!strcmp(p->arch, "qwen2moe")) ff_dense = (uint32_t)p->n_ff_shexp;
    if (!strcmp(p->arch, "qwen3moe")) ff_dense = (uint32_t)p->n_ff * 3;
    const int nemotron = !strcmp(p->arch, "nemotron_h_moe");
    if (strcmp(p->arch, "deepseek2") && !nemotron) gguf_set_u32(w, K("feed_forward_length"), ff_dense);
    gguf_set_u32(w, K("attention.head_count"), (uint32_t)p->n_head);
    if (!nemotron) gguf_set_u32(w, K("attention.head_count_kv"), (uint32_t)p->n_head_kv);
    if (nemotron) set_nemotron_h_metadata(w, p);
    if (!strcmp(p->arch, "qwen35moe")) set_qwen35_metadata(w, p);
    gguf_set_f32(w, K("rope.freq_base"), p->rope_freq_base);
    gguf_set_f32(w, K("attention.layer_norm_rms_epsilon"), p->rms_eps);
    gguf_set_u32(w, K("expert_count"), (uint32_t)p->n_expert);
    gguf_set_u32(w, K("expert_used_count"), (uint32_t)p->n_expert_used);
    const int q35 = !strcmp(p->arch, "qwen35moe");
    if (!strcmp(p->arch, "qwen2moe") || !strcmp(p->arch, "qwen3moe") || !strcmp(p->arch, "gpt-oss") || nemotron || q35)
        gguf_set_u32(w, K("expert_feed_forward_length"), (uint32_t)p->n_ff);
    if (!strcmp(p->arch, "gpt-oss")) gguf_set_u32(w, K("attention.sliding_window"), (uint32_t)p->n_swa);
    if (!strcmp(p->arch, "qwen2moe") || nemotron)
        gguf_set_u32(w, K("expert_shared_feed_forward_length"), (uint32_t)p->n_ff_shexp);
    if (strcmp(p->arch, "deepseek2") && !nemotron && !q35 &&
        (!strcmp(p->arch, "qwen3moe") || !strcmp(p->arch, "gpt-oss") || hd * p->n_head != p->n_embd)) {
        gguf_set_u32(w, K("attention.key_length"), (uint32_t)hd);
        gguf_set_u32(w, K("attention.value_length"), (uint32_t)hd);
    }
    if (!strcmp(p->arch, "mixtral")) gguf_set_u32(w, K("rope.dimension_count"), (uint32_t)hd);
    if (!strcmp(p->arch, "deepseek2")) { /* the keys of llama.cpp's converter for MLA files */
        gguf_set_u32(w, K("feed_forward_length"), (uint32_t)p->n_ff_dense);
        gguf_set_u32(w, K("leading_dense_block_count"), (uint32_t)p->n_layer_dense);
        gguf_set_u32(w, K("attention.q_lora_rank"), (uint32_t)p->q_lora);
        gguf_set_u32(w, K("attention.kv_lora_rank"), (uint32_t)p->kv_lora);
        gguf_set_u32(w, K("attention.key_length"), (uint32_t)(p->kv_lora + p->qk_rope));
        gguf_set_u32(w, K("attention.value_length"), (uint32_t)p->kv_lora);
        gguf_set_u32(w, K("attention.key_length_mla"), (uint32_t)(p->qk_nope + p->qk_rope));
        gguf_set_u32(w, K("attention.value_length_mla"), (uint32_t)p->v_head);
        gguf_set_u32(w, K("rope.dimension_count"), (uint32_t)p->qk_rope);
        gguf_set_u32(w, K("expert_feed_forward_length"), (uint32_t)p->n_ff);
        gguf_set_u32(w, K("expert_shared_count"), (uint32_t)p->n_expert_shared);
        gguf_set_f32(w, K("expert_weights_scale"), p->weights_scale);
        gguf_set_bool(w, K("expert_weights_norm"), p->weights_norm);
        gguf_set_u32(w, K("expert_gating_func"), p->sigmoid ? 2u : 1u);
        if (p->n_group > 1) {
            gguf_set_u32(w, K("expert_group_count"), (uint32_t)p->n_group);
            gguf_set_u32(w, K("expert_group_used_count"), (uint32_t)p->n_group_used);
        }
    }
    if (p->rope_scaling) { /* the keys llama.cpp's converters write for a rope_scaling config */
        gguf_set_str(w, K("rope.scaling.type"), p->rope_scaling);
        gguf_set_f32(w, K("rope.scaling.factor"), p->rope_factor);
        if (p->rope_orig_ctx > 0) gguf_set_u32(w, K("rope.scaling.original_context_length"), (uint32_t)p->rope_orig_ctx);
        if (p->rope_log_mul > 0) gguf_set_f32(w, K("rope.scaling.yarn_log_multiplier"), p->rope_log_mul);
    }
#undef K
}

static int write_tensor_data(int fd, const tensor_spec *t, const ak_gen_params *p, ak_error *err) {
    const int64_t n0 = t->ne[0], rows = t->ne[1] * t->ne[2];
    const size_t row_bytes = ak_row_bytes((ak_type)t->type, n0);
    int64_t chunk = (int64_t)((4u << 20) / (size_t)n0);
    if (chunk < 1) chunk = 1;
    if (chunk > rows) chunk = rows;
    float *vals = malloc((size_t)(chunk * n0) * sizeof(float));
    uint8_t *enc = malloc((size_t)chunk * row_bytes);
    float *dir = NULL, *coef = NULL;
    int rc = -1;
    if (!vals || !enc) goto oom;
    uint64_t rng = stream_seed(p->seed, t->name, "");
    if (t->kind == T_ROUTER) {
        dir = malloc((size_t)n0 * sizeof(float));
        coef = malloc((size_t)p->n_expert * sizeof(float));
        if (!dir || !coef) goto oom;
        uint64_t r2 = stream_seed(p->seed, t->name, "#shared-direction");
        const float unit = 1.0f / sqrtf((float)n0);
        for (int64_t j = 0; j < n0; j++) dir[j] = (splitmix64(&r2) >> 63) ? unit : -unit;
        for (int e = 0; e < p->n_expert; e++) coef[e] = uniform_pm1(&r2);
    }
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        const int64_t nr = rows - r0 < chunk ? rows - r0 : chunk;
        gen_rows(t, p, &rng, dir, coef, r0, nr, vals);
        const uint8_t *src = (const uint8_t *)vals;
        if (t->type != AK_TYPE_F32) {
            for (int64_t r = 0; r < nr; r++) ak_quantize_row((ak_type)t->type, vals + r * n0, enc + r * row_bytes, n0);
            src = enc;
        }
        size_t len = (size_t)nr * row_bytes, done = 0;
        off_t off = (off_t)(t->file_offset + (uint64_t)r0 * row_bytes);
        while (done < len) {
            ssize_t k = pwrite(fd, src + done, len - done, off + (off_t)done);
            if (k < 0 && errno == EINTR) continue;
            if (k <= 0) {
                ak_failf(err, AK_ERR_IO, "writing %s: %s", t->name, strerror(k < 0 ? errno : EIO));
                goto done;
            }
            done += (size_t)k;
        }
    }
    rc = 0;
    goto done;
oom:
    ak_failf(err, AK_ERR_NOMEM, "out of memory generating %s", t->name);
done:
    free(vals);
    free(enc);
    free(dir);
    free(coef);
    return rc;
}

int ak_gen_model_write(const ak_gen_params *p, const char *path, int quiet, ak_error *err) {
    if (validate(p, err)) return -1;
    int n_vocab = 0;
    if (probe_vocab_size(p, path, &n_vocab, err)) return -1;

    const int max_specs = 3 + p->n_layer * 20;
    tensor_spec *specs = calloc((size_t)max_specs, sizeof *specs);
    if (!specs) {
        ak_failf(err, AK_ERR_NOMEM, "out of memory");
        return -1;
    }
    const int n = build_specs(p, n_vocab, specs);
    uint64_t max_bytes = 0;
    int n_fallback = 0, first_fallback = -1;
    for (int i = 0; i < n; i++) {
        if (specs[i].nbytes > max_bytes) max_bytes = specs[i].nbytes;
        if (specs[i].nd > 1 && specs[i].kind != T_ROUTER && specs[i].kind != T_BIAS && specs[i].type != p->type) {
            if (first_fallback < 0) first_fallback = i;
            n_fallback++;
        }
    }
    if (!quiet && n_fallback)
        fprintf(stderr, "gen-model: %d matrices have rows that do not fit %s blocks and are written as %s (e.g. %s, rows of %lld)\n",
                n_fallback, ak_type_name(p->type), ak_type_name(specs[first_fallback].type), specs[first_fallback].name,
                (long long)specs[first_fallback].ne[0]);
    int rc = -1, fd = -1, written = 0;
    /* calloc'd zeros: large blocks come straight from mmap, so reading them costs no memory */
    void *zeros = calloc(1, (size_t)max_bytes);
    gguf_writer *w = gguf_writer_new();
    if (!zeros || !w) {
        ak_failf(err, AK_ERR_NOMEM, "out of memory (%llu bytes for the largest tensor)", (unsigned long long)max_bytes);
        goto done;
    }
    set_metadata(w, p);
    if (write_vocab(w, p, n_vocab)) {
        ak_failf(err, AK_ERR_IO, "cannot write the '%s' vocabulary", p->vocab_kind);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        const tensor_spec *t = &specs[i];
        if (gguf_add_tensor(w, t->name, t->type, (uint32_t)t->nd, t->ne, zeros, t->nbytes)) {
            ak_failf(err, AK_ERR_INVALID_ARG, "cannot add tensor %s", t->name);
            goto done;
        }
    }
    if (gguf_writer_write(w, path, err)) goto done;
    written = 1;
    gguf_writer_free(w);
    w = NULL;
    free(zeros);
    zeros = NULL;

    gguf_file *f = gguf_open(path, err);
    if (!f) goto done;
    for (int i = 0; i < n; i++) {
        const gguf_tensor *gt = gguf_find_tensor(f, specs[i].name);
        if (!gt || gt->nbytes != specs[i].nbytes) {
            ak_failf(err, AK_ERR_INVALID_ARG, "%s: tensor %s missing after writing", path, specs[i].name);
            gguf_close(f);
            goto done;
        }
        specs[i].file_offset = (uint64_t)((const char *)gt->data - (const char *)gguf_base(f));
    }
    gguf_close(f);

    fd = open(path, O_WRONLY);
    if (fd < 0) {
        ak_failf(err, AK_ERR_IO, "%s: %s", path, strerror(errno));
        goto done;
    }
    for (int i = 0; i < n; i++)
        if (write_tensor_data(fd, &specs[i], p, err)) goto done;
    if (close(fd)) {
        fd = -1;
        ak_failf(err, AK_ERR_IO, "%s: %s", path, strerror(errno));
        goto done;
    }
    fd = -1;
    rc = 0;
done:
    if (fd >= 0) close(fd);
    if (rc && written) unlink(path);
    gguf_writer_free(w);
    free(zeros);
    free(specs);
    return rc;
}
