/* test_hybrid.c - hybrid models (nemotron_h_moe, qwen35moe): layer kinds read from the keys,
 * a KV cache for the attention layers only, a recurrent state per context that prefill in
 * chunks continues, that a reset clears and that truncation refuses to rewind, and clear
 * errors for a missing Mamba-2 tensor or key. Agreement with llama.cpp is pinned in
 * tests/eval/ppl_pins.inc; batching of several sequences in test_decode_group.c. */
#include <string.h>

#include "base/file.h"
#include "helpers.h"
#include "model/gen_model.h"
#include "model/model_internal.h"
#include "quant/quant.h"

enum { N_TOK = 20 };

static void layer_kinds(const ak_model *m) {
    const ak_hparams *hp = ak_model_hparams(m);
    /* the default pattern MEM*E: Mamba-2, experts, Mamba-2, attention, experts */
    const int mixer[5] = {AK_MIXER_SSM, AK_MIXER_NONE, AK_MIXER_SSM, AK_MIXER_ATTENTION, AK_MIXER_NONE};
    const int ffn[5] = {AK_FFN_NONE, AK_FFN_MOE, AK_FFN_NONE, AK_FFN_NONE, AK_FFN_MOE};
    CHECK(hp->n_layer == 5 && hp->n_layer_kv == 1 && hp->n_layer_ssm == 2, "layers %d, attention %d, Mamba-2 %d",
          hp->n_layer, hp->n_layer_kv, hp->n_layer_ssm);
    for (int il = 0; il < 5 && il < hp->n_layer; il++)
        CHECK(m->layers[il].mixer == mixer[il] && m->layers[il].ffn == ffn[il], "layer %d kind", il);
    CHECK(m->layers[3].kv_slot == 0 && m->layers[0].kv_slot == -1 && m->layers[2].ssm_slot == 1, "slots");
    CHECK(hp->n_rot == 0 && hp->ffn_relu2 && hp->gating == AK_GATING_DS_SIGMOID, "no RoPE, relu^2, sigmoid gating");
    /* the cache holds the one attention layer: 2 KV heads x 16 values, K and V in f16 */
    CHECK(ak_kv_cache_bytes(m, 1000, AK_TYPE_F16, AK_TYPE_F16) == 1000ull * 2 * 2 * 16 * 2, "KV bytes %llu",
          (unsigned long long)ak_kv_cache_bytes(m, 1000, AK_TYPE_F16, AK_TYPE_F16));
    /* per Mamba-2 layer: 3 conv inputs of 64 + 2 x 2 x 16 channels, 64 x 16 scan values */
    CHECK(ak_recurrent_state_bytes(m) == 2ull * (3 * 128 + 64 * 16) * 4, "state bytes %llu",
          (unsigned long long)ak_recurrent_state_bytes(m));
}

static void decode_all(ak_context *c, const int32_t *toks, int n, float *last) {
    ak_error err = {0};
    CHECK(ak_decode(c, toks, n, &err) == 0, "decode: %s", err.msg);
    const float *lg = ak_get_logits(c, -1);
    if (lg) memcpy(last, lg, (size_t)ak_model_hparams(ak_context_model(c))->n_vocab * sizeof *last);
}

/* Prefill in chunks of 3 continues the state: the same logits as one batch. A reset
 * clears it: the same logits as a fresh context. Truncation cannot rewind it. */
static void recurrent_state(ak_model *m) {
    const int V = ak_model_hparams(m)->n_vocab;
    int32_t a[N_TOK], b[N_TOK];
    for (int i = 0; i < N_TOK; i++) a[i] = (int32_t)((i * 37 + 5) % V), b[i] = (int32_t)((i * 11 + 3) % V);
    float *one = calloc((size_t)V, sizeof *one), *chunked = calloc((size_t)V, sizeof *chunked);
    float *fresh = calloc((size_t)V, sizeof *fresh), *again = calloc((size_t)V, sizeof *again);
    ak_context *c1 = test_context(m, 64, 32, 2, NULL), *c3 = test_context(m, 64, 3, 2, NULL);
    if (!c1 || !c3 || !one || !chunked || !fresh || !again) goto done;
    decode_all(c1, a, N_TOK, one);
    decode_all(c3, a, N_TOK, chunked);
    CHECK(memcmp(one, chunked, (size_t)V * sizeof *one) == 0, "prefill in chunks of 3 equals one batch");

    ak_context_reset(c1);
    decode_all(c1, b, N_TOK, again);
    ak_context *cf = test_context(m, 64, 32, 2, NULL);
    if (cf) decode_all(cf, b, N_TOK, fresh);
    CHECK(memcmp(again, fresh, (size_t)V * sizeof *again) == 0, "after a reset, a fresh context's logits");
    ak_context_free(cf);

    ak_error err = {0};
    CHECK(ak_context_truncate(c3, 5, &err) == -1 && strstr(err.msg, "recurrent"), "truncate refused: %s", err.msg);
    CHECK(ak_context_n_past(c3) == N_TOK, "a refused truncation changes nothing");
    CHECK(ak_context_truncate(c3, N_TOK, &err) == 0, "truncate to n_past: %s", err.msg);
    CHECK(ak_context_truncate(c3, 0, &err) == 0 && ak_context_n_past(c3) == 0, "truncate to 0 resets: %s", err.msg);
    decode_all(c3, b, N_TOK, again);
    CHECK(memcmp(again, fresh, (size_t)V * sizeof *again) == 0, "after truncating to 0, a fresh context's logits");
done:
    ak_context_free(c1);
    ak_context_free(c3);
    free(one), free(chunked), free(fresh), free(again);
}

/* The file with one name replaced by another of the same length must fail to load with a
 * message holding `want`. */
static void expect_renamed(const char *file, size_t len, const char *from, const char *to, const char *want) {
    char *buf = malloc(len);
    if (!buf) return;
    memcpy(buf, file, len);
    char *at = memmem(buf, len, from, strlen(from));
    CHECK(at != NULL && strlen(from) == strlen(to), "'%s' is in the file", from);
    if (at) memcpy(at, to, strlen(to));
    ak_error err = {0};
    ak_model *m = ak_model_load_buffer(buf, len, &err);
    CHECK(m == NULL && strstr(err.msg, want), "renaming %s: %s", from, err.msg);
    ak_model_free(m);
    free(buf);
}

static void qwen35_kinds(const ak_model *m) {
    const ak_hparams *hp = ak_model_hparams(m);
    CHECK(hp->n_layer == 4 && hp->n_layer_kv == 1 && hp->n_layer_ssm == 3 && hp->attn_gated && hp->qk_norm == 2,
          "qwen35moe: layers %d, attention %d, DeltaNet %d", hp->n_layer, hp->n_layer_kv, hp->n_layer_ssm);
    for (int il = 0; il < 4 && il < hp->n_layer; il++)
        CHECK(m->layers[il].mixer == (il == 3 ? AK_MIXER_ATTENTION : AK_MIXER_DELTANET) && m->layers[il].ffn == AK_FFN_MOE &&
                  m->layers[il].gate_inp_shexp != NULL,
              "qwen35moe layer %d kind", il);
    CHECK(hp->n_rot == 8 && hp->gating == AK_GATING_SOFTMAX && hp->renormalize, "partial RoPE, renormalised softmax");
    /* per DeltaNet layer: 3 conv inputs of 2 x 2 x 16 + 64 channels, 4 value heads of 16 x 16 */
    CHECK(ak_recurrent_state_bytes(m) == 3ull * (3 * 128 + 4 * 16 * 16) * 4, "state bytes %llu",
          (unsigned long long)ak_recurrent_state_bytes(m));
}

/* Writes the architecture's small default model to path and loads it. */
static ak_model *fixture(const char *arch, char *path, size_t len) {
    return test_gen_model(arch, 0, arch[0] == 'q' ? "hybrid_q35" : "hybrid", path, len);
}

/* rope_sections_overflow: rope.dimension_sections of two huge values once overflowed their
 * sum (UBSan, found by the gguf_model fuzzer); now a clear error. The key's array holds 4
 * int32 after its type, element type and count. */
static void rope_sections_overflow(const char *file, size_t len) {
    const char *key = "qwen35moe.rope.dimension_sections";
    char *buf = malloc(len);
    if (!buf) return;
    memcpy(buf, file, len);
    char *at = memmem(buf, len, key, strlen(key));
    CHECK(at != NULL, "the sections key is in the file");
    if (at) {
        const int32_t huge[4] = {1717920779, 1953264993, 10, 0};
        memcpy(at + strlen(key) + 4 + 4 + 8, huge, sizeof huge);
        ak_error err = {0};
        ak_model *m = ak_model_load_buffer(buf, len, &err);
        CHECK(m == NULL && strstr(err.msg, "out of range"), "huge rope sections: %s", err.msg);
        ak_model_free(m);
    }
    free(buf);
}

static void qwen35(void) {
    char path[256];
    ak_error err = {0};
    ak_model *m = fixture("qwen35moe", path, sizeof path);
    if (m) {
        qwen35_kinds(m);
        recurrent_state(m);
    }
    ak_model_free(m);
    size_t len = 0;
    char *file = ak_read_file(path, &len, &err);
    if (file) {
        expect_renamed(file, len, "blk.1.ssm_alpha.weight", "blk.1.ssm_alphX.weight", "missing tensor blk.1.ssm_alpha.weight");
        expect_renamed(file, len, "blk.3.attn_q_norm.weight", "blk.3.attn_q_norX.weight", "missing tensor blk.3.attn_q_norm");
        expect_renamed(file, len, "qwen35moe.ssm.group_count", "qwen35moe.ssm.group_counX",
                       "missing metadata key qwen35moe.ssm.group_count");
        rope_sections_overflow(file, len);
    }
    free(file);
    remove(path);
}

int main(void) {
    qwen35();
    char path[256];
    ak_gen_params gp;
    ak_gen_params_default(&gp, "nemotron_h_moe");
    snprintf(gp.vocab_kind, sizeof gp.vocab_kind, "bytes");
    ak_error err = {0};
    tmp_path(path, sizeof path, "hybrid");
    CHECK(ak_gen_model_write(&gp, path, 1, &err) == 0, "fixture: %s", err.msg);
    ak_model *m = ak_model_load(path, &err);
    CHECK(m != NULL, "load: %s", err.msg);
    if (m) {
        layer_kinds(m);
        recurrent_state(m);
    }
    ak_model_free(m);

    size_t len = 0;
    char *file = ak_read_file(path, &len, &err);
    CHECK(file != NULL, "read: %s", err.msg);
    if (file) {
        expect_renamed(file, len, "blk.2.ssm_a", "blk.2.ssm_X", "missing tensor blk.2.ssm_a");
        expect_renamed(file, len, "blk.0.ssm_conv1d.weight", "blk.0.ssm_conv1d.wEight", "missing tensor blk.0.ssm_conv1d.weight");
        expect_renamed(file, len, "nemotron_h_moe.ssm.state_size", "nemotron_h_moe.ssm.state_sizX",
                       "missing metadata key nemotron_h_moe.ssm.state_size");
        expect_renamed(file, len, "nemotron_h_moe.feed_forward_length", "nemotron_h_moe.feed_forward_lengtX",
                       "nemotron_h_moe.feed_forward_length");
        expect_renamed(file, len, "blk.1.ffn_up_exps.weight", "blk.1.ffn_up_exps.wEight", "missing tensor blk.1.ffn_up_exps");
    }
    free(file);
    remove(path);
    return check_finish("test_hybrid");
}
