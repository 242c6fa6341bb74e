/* test_export.c - a tiny model exported as F32, F16 and Q8_0 GGUF reads back with the
 * keys llama.cpp's olmoe loader needs, the tokenizer arrays, and tensors whose values
 * match the parameters (exactly for F32, to the type's precision otherwise). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "quant/quant.h"
#include "train/bpe.h"
#include "train/export.h"
#include "train/moe_model.h"
#include "../check.h"


static uint32_t u32(const gguf_file *f, const char *key) {
    uint32_t v = 0;
    if (!gguf_get_u32(f, key, &v)) {
        fprintf(stderr, "missing key %s\n", key);
        failures++;
    }
    return v;
}

static void check_file(ak_moe_model *m, const ak_bpe *b, int type, const char *path) {
    ak_error err = {0};
    gguf_file *f = gguf_open(path, &err);
    CHECK(f != NULL);
    if (!f) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    gguf_str s;
    CHECK(gguf_get_str(f, "general.architecture", &s) && gguf_str_eq(s, "olmoe"));
    CHECK(u32(f, "olmoe.embedding_length") == 32 && u32(f, "olmoe.block_count") == 2);
    CHECK(u32(f, "olmoe.feed_forward_length") == 32 && u32(f, "olmoe.context_length") == 16);
    CHECK(u32(f, "olmoe.attention.head_count") == 2 && u32(f, "olmoe.attention.head_count_kv") == 2);
    CHECK(u32(f, "olmoe.expert_count") == 4 && u32(f, "olmoe.expert_used_count") == 2);
    float eps = 0, theta = 0;
    CHECK(gguf_get_f32(f, "olmoe.attention.layer_norm_rms_epsilon", &eps) && eps == 1e-5f);
    CHECK(gguf_get_f32(f, "olmoe.rope.freq_base", &theta) && theta == 10000.0f);
    CHECK(gguf_get_str(f, "tokenizer.ggml.model", &s) && gguf_str_eq(s, "gpt2"));
    CHECK(gguf_get_str(f, "tokenizer.ggml.pre", &s) && gguf_str_eq(s, "olmo"));
    gguf_type et;
    uint64_t n = 0;
    CHECK(gguf_get_arr_info(f, "tokenizer.ggml.tokens", &et, &n) && et == GGUF_TYPE_STRING &&
          n == (uint64_t)ak_bpe_n_tokens(b));
    CHECK(gguf_get_arr_str(f, "tokenizer.ggml.tokens", 32, &s) && gguf_str_eq(s, "\xC4\xA0")); /* byte ' ' */
    CHECK(gguf_get_arr_str(f, "tokenizer.ggml.tokens", n - 1, &s) && gguf_str_eq(s, "<|endoftext|>"));
    CHECK(gguf_get_arr_info(f, "tokenizer.ggml.token_type", &et, &n) && et == GGUF_TYPE_INT32);
    CHECK(gguf_get_arr_info(f, "tokenizer.ggml.merges", &et, &n) && n == (uint64_t)ak_bpe_n_merges(b));
    char merge0[256];
    CHECK(ak_bpe_merge_gpt2(b, 0, merge0, sizeof merge0) > 0);
    CHECK(gguf_get_arr_str(f, "tokenizer.ggml.merges", 0, &s) && gguf_str_eq(s, merge0));
    CHECK(u32(f, "tokenizer.ggml.bos_token_id") == (uint32_t)ak_bpe_eot(b));
    CHECK(u32(f, "tokenizer.ggml.eos_token_id") == (uint32_t)ak_bpe_eot(b));

    CHECK(gguf_n_tensors(f) == ak_moe_model_n_tensors(m));
    const float *p = ak_moe_model_params(m);
    for (int i = 0; i < ak_moe_model_n_tensors(m); i++) {
        const ak_param_tensor *t = ak_moe_model_tensor(m, i);
        const gguf_tensor *g = gguf_find_tensor(f, t->name);
        CHECK(g != NULL);
        if (!g) continue;
        int want = t->n_dims == 1 || strstr(t->name, "ffn_gate_inp") ? AK_TYPE_F32 : type;
        CHECK(g->type == want && (int)g->n_dims == t->n_dims);
        for (int k = 0; k < t->n_dims; k++) CHECK(g->ne[k] == t->ne[k]);
        int64_t row = t->ne[0], rows = (int64_t)t->n / row;
        float *back = malloc((size_t)row * sizeof *back);
        double max_err = 0, max_abs = 0;
        for (int64_t r = 0; r < rows; r++) {
            ak_dequantize_row((ak_type)g->type, (const char *)g->data + (size_t)r * ak_row_bytes((ak_type)g->type, row),
                              back, row);
            for (int64_t j = 0; j < row; j++) {
                double x = p[t->offset + (size_t)(r * row + j)];
                max_err = fmax(max_err, fabs(back[j] - x));
                max_abs = fmax(max_abs, fabs(x));
            }
        }
        /* f16 keeps 11 significant bits; q8_0 rounds to 1/254 of a block's range */
        double tol = want == AK_TYPE_F32 ? 0 : want == AK_TYPE_F16 ? max_abs / 2048 : max_abs / 127;
        if (max_err > tol) {
            fprintf(stderr, "%s (%s): max error %g > %g\n", t->name, ak_type_name(want), max_err, tol);
            failures++;
        }
        free(back);
    }
    gguf_close(f);
}

int main(void) {
    ak_error err = {0};
    const char *text = "aaabdaaabac the cat sat on the mat; the cat ate.";
    ak_bpe *b = ak_bpe_train(text, strlen(text), 300, &err);
    ak_moe_config cfg = {ak_bpe_n_tokens(b), 16, 32, 2, 2, 4, 2, 32, 10000.0f, 1e-5f, 0.01f, 0.001f};
    ak_moe_model *m = ak_moe_model_new(&cfg, 1, 5, &err);
    CHECK(b && m);
    if (!b || !m) return 1;
    const int types[3] = {AK_TYPE_F32, AK_TYPE_F16, AK_TYPE_Q8_0};
    for (int i = 0; i < 3; i++) {
        const char *path = "test_export.gguf";
        CHECK(ak_moe_export_gguf(m, b, path, types[i], "test", &err) == 0);
        check_file(m, b, types[i], path);
        remove(path);
    }
    CHECK(ak_moe_export_gguf(m, b, "x.gguf", AK_TYPE_Q4_K, "test", &err) != 0);
    CHECK(ak_moe_export_gguf(m, b, "/nonexistent/dir/x.gguf", AK_TYPE_F32, "test", &err) != 0);
    ak_moe_model_free(m);
    ak_bpe_free(b);
    return check_finish("test_export");
}
