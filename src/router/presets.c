/* presets.c - router configs for the models the seeds name.
 *
 * Expert counts, native top-k and weight normalisation are the models' Hugging Face
 * config.json values (num_experts / num_local_experts, num_experts_per_tok, norm_topk_prob),
 * cross-checked against llama.cpp's converters. The default policy is the seeds' entropy
 * policy, uncalibrated; calibrate it per model (docs/calibration.md) before relying on it. */
#include <string.h>

#include "router/router_internal.h"

typedef struct {
    const char *name;
    int n_experts;
    int k_native;
    int renormalize;
    const char *source;
} preset;

static const preset presets[] = {
    {"olmoe-1b-7b", 64, 8, 0,
     "allenai/OLMoE-1B-7B-0924 config.json: num_experts=64, num_experts_per_tok=8, "
     "norm_topk_prob=false"},
    {"qwen1.5-moe-a2.7b", 60, 4, 0,
     "Qwen/Qwen1.5-MoE-A2.7B config.json: num_experts=60 routed (plus one always-on shared "
     "expert, not routed), num_experts_per_tok=4, norm_topk_prob=false"},
    {"qwen3-30b-a3b", 128, 8, 1,
     "Qwen/Qwen3-30B-A3B config.json: num_experts=128, num_experts_per_tok=8, "
     "norm_topk_prob=true"},
    {"mixtral-8x7b", 8, 2, 1,
     "mistralai/Mixtral-8x7B-v0.1 config.json: num_local_experts=8, num_experts_per_tok=2; "
     "top-2 weights renormalised"},
    {"gpt-oss-20b", 32, 4, 1,
     "openai/gpt-oss-20b config.json: num_local_experts=32, num_experts_per_tok=4; the router "
     "(with a bias) takes the softmax over the top-4 logits, i.e. the renormalised softmax"},
    {"deepseek-v2-lite", 64, 6, 0,
     "deepseek-ai/DeepSeek-V2-Lite config.json: n_routed_experts=64, num_experts_per_tok=6, "
     "scoring_func=softmax, norm_topk_prob=false, n_shared_experts=2 (always on, not routed), "
     "first_k_dense_replace=1; the engine reads the gating from the GGUF file"},
    {"deepseek-v3", 256, 8, 1,
     "deepseek-ai/DeepSeek-V3 config.json: n_routed_experts=256, num_experts_per_tok=8, "
     "scoring_func=sigmoid with e_score_correction_bias, n_group=8, topk_group=4, "
     "norm_topk_prob=true, routed_scaling_factor=2.5, n_shared_experts=1, first_k_dense_replace=3; "
     "the engine reads the gating from the GGUF file"},
    {"qwen3.6-35b-a3b", 256, 8, 1,
     "Qwen/Qwen3.6-35B-A3B config.json (qwen3_5_moe text config): num_experts=256, num_experts_per_tok=8, "
     "softmax router with the top-8 renormalised (as llama.cpp's qwen35moe), a sigmoid-gated shared expert "
     "(shared_expert_intermediate_size=512, not routed), 40 layers of which 30 Gated DeltaNet"},
    {"nemotron-3-nano-30b-a3b", 128, 6, 1,
     "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16 config.json: n_routed_experts=128, num_experts_per_tok=6, "
     "sigmoid scores with a selection bias (e_score_correction_bias), n_group=1, topk_group=1, "
     "norm_topk_prob=true, routed_scaling_factor=2.5, n_shared_experts=1 (always on, not routed), "
     "23 MoE layers of 52 (hybrid_override_pattern); the engine reads the gating from the GGUF file"},
};

#define N_PRESETS ((int)(sizeof presets / sizeof presets[0]))

int ak_preset_count(void) { return N_PRESETS; }

const char *ak_preset_name(int i) { return i >= 0 && i < N_PRESETS ? presets[i].name : NULL; }

/* The seeds' entropy policy with k clamped to the expert count (levels that collapse
 * onto the same k are merged, keeping the lowest threshold of the merged run). */
static ak_policy seed_policy_for(int n_experts) {
    ak_policy seed = ak_policy_entropy_default();
    int k[AK_MAX_LEVELS];
    float h[AK_MAX_LEVELS];
    int n = 0;
    for (int i = 0; i < seed.n_levels; i++) {
        int ki = seed.k_values[i] < n_experts ? seed.k_values[i] : n_experts;
        if (n > 0 && ki == k[n - 1]) continue;
        if (n > 0) h[n - 1] = seed.thresholds[i - 1];
        k[n++] = ki;
    }
    return ak_policy_entropy(n, k, h, AK_ENTROPY_NATS);
}

ak_status ak_preset_get(const char *name, ak_router_config *c, ak_error *err) {
    if (!name || !c) return ak_error_setf(err, AK_ERR_INVALID_ARG, "preset: NULL argument");
    for (int i = 0; i < N_PRESETS; i++) {
        const preset *p = &presets[i];
        if (strcmp(name, p->name) != 0) continue;
        memset(c, 0, sizeof *c);
        strcpy(c->name, p->name);
        c->n_experts = p->n_experts;
        c->k_native = p->k_native;
        c->renormalize = p->renormalize;
        c->default_policy = seed_policy_for(p->n_experts);
        size_t n = strlen(p->source);
        const char *tail = "; policy: the seeds' uncalibrated entropy defaults k={1,2,4} "
                           "h={0.6,1.2} nats";
        if (n + strlen(tail) >= sizeof c->provenance) n = sizeof c->provenance - 1 - strlen(tail);
        memcpy(c->provenance, p->source, n);
        strcpy(c->provenance + n, tail);
        return AK_OK;
    }
    char names[128] = "";
    for (int i = 0; i < N_PRESETS; i++) {
        strncat(names, i ? ", " : "", sizeof names - strlen(names) - 1);
        strncat(names, presets[i].name, sizeof names - strlen(names) - 1);
    }
    return ak_error_setf(err, AK_ERR_INVALID_ARG, "unknown preset \"%s\" (known: %s)", name, names);
}
