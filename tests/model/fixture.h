/* fixture.h - tiny random MoE models for the engine tests: the float weights kept in
 * memory (for the reference forward in ref.c) and written to GGUF in any weight type. */
#ifndef AK_TEST_FIXTURE_H
#define AK_TEST_FIXTURE_H

#include <stdint.h>

typedef struct {
    const char *arch; /* olmoe, qwen2moe, qwen3moe, llama */
    int n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff, n_ff_shexp, n_expert, n_expert_used, n_vocab;
    int n_ctx;
    int tied;         /* no output.weight */
    uint32_t seed;
    int vocab_none;   /* add tokenizer.ggml.model = none and vocab_size, so llama.cpp loads it */
} fx_params;

typedef struct {
    char name[64];
    int nd;
    int64_t ne[3];
    float *data;
} fx_tensor;

typedef struct {
    fx_params p;
    int n_tensors;
    fx_tensor t[256];
} fx_model;

/* Faults to inject when writing (for the loader's error tests). */
typedef struct {
    const char *arch_override;   /* general.architecture */
    const char *skip;            /* tensor left out */
    const char *transpose;       /* tensor written with ne[0] and ne[1] swapped */
    int legacy_experts;          /* adds blk.0.ffn_gate.0.weight */
    int expert_used_override;    /* > 0: expert_used_count written as this */
} fx_faults;

fx_params fx_default(const char *arch);
fx_model *fx_build(const fx_params *p);
void fx_free(fx_model *m);
const fx_tensor *fx_get(const fx_model *m, const char *name); /* NULL if absent */
/* Matrices (2-D, 3-D) in wtype (a ggml type id), vectors in f32. 0 on success. */
int fx_write(const fx_model *m, const char *path, int wtype, const fx_faults *faults);

/* Reference forward, written independently of the engine: plain loops over the float
 * weights, one token at a time. k_used: experts per token (top-k by probability with the
 * architecture's weight normalisation); logits: [n_tokens][n_vocab]. */
void ref_forward(const fx_model *m, const int32_t *tokens, int n_tokens, int k_used, float *logits);

#endif
