/* test_repack.c - a model whose MXFP4 or Q4_K matrices are repacked at load (src/model/repack.c)
 * computes what the mapped layout computes: with the scalar kernels bit for bit (the x8
 * kernels equal the scalar reference, tests/quant/test_quant_repack.c), with the SIMD
 * kernels within float rounding; a prompt decoded as one batch equals the same tokens
 * decoded one by one; AK_REPACK=0 and ak_model_params.repack = 0 load the file as it is;
 * a matrix the layout does not take (rows not a multiple of 8) stays mapped. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "model/model_internal.h"
#include "quant/kernels.h"
#include "quant/quant.h"

enum { N_PROMPT = 12, N_STEPS = 4, N_CTX = 64, N_VOCAB = 264 };

static const int32_t prompt[N_PROMPT] = {1, 9, 17, 33, 4, 250, 77, 8, 100, 263, 5, 42};

/* Logits of the prompt (one batch, every token's) and of N_STEPS decodes after it; with
 * one_by_one the prompt goes in a token at a time. [N_PROMPT + N_STEPS][N_VOCAB]. */
static void run(ak_model *m, int n_threads, int one_by_one, const ak_router_config *rc, float *out) {
    ak_error err = {0};
    ak_context *c = test_context(m, N_CTX, N_PROMPT, n_threads, rc);
    if (!c) return;
    for (int i = 0; i < N_PROMPT; i += one_by_one ? 1 : N_PROMPT) {
        const int n = one_by_one ? 1 : N_PROMPT;
        CHECK(ak_decode(c, prompt + i, n, &err) == 0, "prompt: %s", err.msg);
        for (int t = 0; t < n; t++)
            memcpy(out + (size_t)(i + t) * N_VOCAB, ak_get_logits(c, t), N_VOCAB * sizeof *out);
    }
    for (int s = 0; s < N_STEPS; s++) {
        int32_t tok = (int32_t)((13 * s + 7) % N_VOCAB);
        CHECK(ak_decode(c, &tok, 1, &err) == 0, "step %d: %s", s, err.msg);
        memcpy(out + (size_t)(N_PROMPT + s) * N_VOCAB, ak_get_logits(c, -1), N_VOCAB * sizeof *out);
    }
    ak_context_free(c);
}

static ak_model *load(const char *path, int repack) {
    ak_error err = {0};
    ak_model_params p = ak_model_default_params();
    p.repack = repack;
    ak_model *m = ak_model_load_with(path, &p, &err);
    CHECK(m != NULL, "load (repack %d): %s", repack, err.msg);
    return m;
}

static int same_bits(const float *a, const float *b, size_t n) { return memcmp(a, b, n * sizeof *a) == 0; }

static double max_rel_diff(const float *a, const float *b, size_t n) {
    double worst = 0, scale = 1e-6;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(a[i]));
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]) / scale);
    return worst;
}

/* arch's small model with every matrix in type: repacked == mapped (scalar), batch ==
 * token by token (SIMD) */
static void test_type(const char *arch, int type) {
    ak_gen_params gp;
    ak_gen_params_default(&gp, arch);
    snprintf(gp.vocab_kind, sizeof gp.vocab_kind, "none");
    gp.n_vocab = N_VOCAB;
    gp.type = type;
    gp.n_layer = 2;
    if (type == AK_TYPE_Q4_K || type == AK_TYPE_Q5_K) gp.n_embd = gp.n_ff = 256; /* whole Q4_K blocks, else gen-model falls back to Q8_0 */
    char path[256];
    ak_model *probe = test_gen_write_load(&gp, "repack", path, sizeof path);
    if (!probe) return;
    ak_model_free(probe);

    ak_model *plain = load(path, 0), *packed = load(path, 1);
    if (!plain || !packed) return;
    const ak_layer *l1 = &packed->layers[1]; /* deepseek2's layer 0 is dense */
    CHECK(plain->repacked == NULL && !plain->layers[1].up_exps.repacked);
    CHECK(packed->repacked != NULL && l1->up_exps.repacked && l1->down_exps.repacked, "%s", arch);
    CHECK(packed->output.repacked, "%s: the head is %s too", arch, ak_type_name(type));
    CHECK(!l1->gate_inp.repacked, "the f32 router has no x8 kernel");
    CHECK(l1->up_exps.data != plain->layers[1].up_exps.data);

    const size_t n = (size_t)(N_PROMPT + N_STEPS) * N_VOCAB;
    float *ref = malloc(n * sizeof *ref), *got = malloc(n * sizeof *got), *simd_plain = malloc(n * sizeof *ref);
    /* scalar kernels: the repacked model's logits are the mapped model's, bit for bit */
    ak_quant_set_simd(AK_SIMD_SCALAR);
    run(plain, 1, 0, NULL, ref);
    run(packed, 1, 0, NULL, got);
    CHECK(same_bits(ref, got, n), "%s scalar: repacked differs from mapped (max rel %.3g)", arch,
          max_rel_diff(ref, got, n));
    run(packed, 2, 1, NULL, got);
    CHECK(same_bits(ref, got, n), "scalar, token by token, 2 threads");
    /* SIMD kernels (both builds): batch == token by token, any thread count; near the mapped
     * model with every expert running (a top-k choice at a near-tie may flip with the
     * rounding and then the outputs differ by more than rounding) */
    const ak_hparams *hp = ak_model_hparams(packed);
    ak_router_config all = ak_config_uniform(hp->n_expert, hp->n_expert_used, 0, ak_policy_fixed(hp->n_expert));
    const ak_router_config *rc_all = hp->gating == AK_GATING_SOFTMAX ? &all : NULL;
    ak_quant_set_simd(AK_SIMD_AVX2);
    if (ak_quant_simd() == AK_SIMD_AVX2) {
        run(plain, 1, 0, rc_all, simd_plain);
        for (int vnni = 0; vnni <= 1; vnni++) {
            ak_quant_set_vnni(vnni);
            run(packed, 1, 0, NULL, ref);
            run(packed, 3, 1, NULL, got);
            CHECK(same_bits(ref, got, n), "%s simd (vnni %d): batch differs from token by token", arch, vnni);
            if (!rc_all) continue; /* deepseek2's groups: no all-experts routing */
            run(packed, 1, 0, rc_all, ref);
            CHECK(max_rel_diff(simd_plain, ref, n) < 1e-4, "%s simd (vnni %d): %.3g from the mapped model", arch,
                  vnni, max_rel_diff(simd_plain, ref, n));
        }
        ak_quant_set_vnni(1);
    }
    ak_model_free(plain);
    ak_model_free(packed);
    free(ref), free(got), free(simd_plain);
    remove(path);
}

int main(void) {
    test_type("gpt-oss", AK_TYPE_MXFP4);
    test_type("deepseek2", AK_TYPE_MXFP4);
    test_type("olmoe", AK_TYPE_Q4_K);
    test_type("qwen35moe", AK_TYPE_Q4_K);
    test_type("qwen3moe", AK_TYPE_Q5_K);

    /* the environment's default, and a head of rows that are not a multiple of 8 */
    ak_gen_params gp;
    ak_gen_params_default(&gp, "gpt-oss");
    snprintf(gp.vocab_kind, sizeof gp.vocab_kind, "none");
    gp.type = AK_TYPE_MXFP4;
    gp.n_layer = 2;
    char path[256];
    setenv("AK_REPACK", "0", 1);
    CHECK(ak_model_default_params().repack == 0);
    unsetenv("AK_REPACK");
    CHECK(ak_model_default_params().repack == 1);
    gp.n_vocab = N_VOCAB - 3;
    ak_model *odd = test_gen_write_load(&gp, "repack_odd", path, sizeof path);
    if (odd) {
        CHECK(!odd->output.repacked && odd->layers[0].up_exps.repacked);
        ak_context *c = test_context(odd, N_CTX, N_PROMPT, 2, NULL);
        ak_error err = {0};
        CHECK(c && ak_decode(c, prompt, 5, &err) == 0, "odd head: %s", err.msg);
        ak_context_free(c);
        ak_model_free(odd);
    }
    remove(path);
    return check_finish("test_repack");
}
