/* export.c - GGUF export of the trained model (needs ak_gguf and ak_quant). */
#include "base/errfmt.h"
#include "export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf/gguf.h"
#include "quant/quant.h"

/* Token strings and merges in GPT-2 form, kept alive until the file is written. */
static char **vocab_strings(const ak_bpe *b, int n, int merges) {
    char **s = calloc((size_t)n, sizeof *s);
    char buf[8192];
    for (int i = 0; s && i < n; i++) {
        int len = merges ? ak_bpe_merge_gpt2(b, i, buf, sizeof buf) : ak_bpe_token_gpt2(b, i, buf, sizeof buf);
        if (len < 0 || !(s[i] = strdup(buf))) {
            for (int j = 0; j <= i; j++) free(s[j]);
            free(s);
            return NULL;
        }
    }
    return s;
}

static void free_strings(char **s, int n) {
    for (int i = 0; s && i < n; i++) free(s[i]);
    free(s);
}

static int tensor_type(const ak_param_tensor *t, int type) {
    if (t->n_dims == 1 || strstr(t->name, "ffn_gate_inp")) return AK_TYPE_F32;
    return type;
}

int ak_moe_export_gguf(ak_moe_model *m, const ak_bpe *vocab, const char *path, int type, const char *name,
                       ak_error *err) {
    const ak_moe_config *c = ak_moe_model_config(m);
    if (type != AK_TYPE_F32 && type != AK_TYPE_F16 && type != AK_TYPE_Q8_0) {
        ak_failf(err, AK_ERR_INVALID_ARG, "export type must be f32, f16 or q8_0");
        return -1;
    }
    if (ak_bpe_n_tokens(vocab) != c->n_vocab) {
        ak_failf(err, AK_ERR_INVALID_ARG, "vocabulary has %d tokens but the model %d", ak_bpe_n_tokens(vocab), c->n_vocab);
        return -1;
    }
    int n_tok = ak_bpe_n_tokens(vocab), n_merge = ak_bpe_n_merges(vocab), rc = -1;
    int n_tensors = ak_moe_model_n_tensors(m);
    char **tokens = vocab_strings(vocab, n_tok, 0), **merges = vocab_strings(vocab, n_merge, 1);
    int32_t *types = malloc((size_t)n_tok * sizeof *types);
    void **data = calloc((size_t)n_tensors, sizeof *data);
    gguf_writer *w = gguf_writer_new();
    if (!tokens || !merges || !types || !data || !w) {
        ak_failf(err, AK_ERR_NOMEM, "out of memory exporting %s", path);
        goto done;
    }
    for (int i = 0; i < n_tok; i++) types[i] = ak_bpe_token_type(vocab, i);

    gguf_set_str(w, "general.architecture", "olmoe");
    gguf_set_str(w, "general.name", name);
    gguf_set_u32(w, "general.file_type", type == AK_TYPE_F32 ? 0 : type == AK_TYPE_F16 ? 1 : 7);
    gguf_set_u32(w, "olmoe.vocab_size", (uint32_t)c->n_vocab);
    gguf_set_u32(w, "olmoe.context_length", (uint32_t)c->n_ctx);
    gguf_set_u32(w, "olmoe.embedding_length", (uint32_t)c->n_embd);
    gguf_set_u32(w, "olmoe.block_count", (uint32_t)c->n_layer);
    gguf_set_u32(w, "olmoe.feed_forward_length", (uint32_t)c->n_ff);
    gguf_set_u32(w, "olmoe.attention.head_count", (uint32_t)c->n_head);
    gguf_set_u32(w, "olmoe.attention.head_count_kv", (uint32_t)c->n_head);
    gguf_set_f32(w, "olmoe.attention.layer_norm_rms_epsilon", c->norm_eps);
    gguf_set_u32(w, "olmoe.expert_count", (uint32_t)c->n_expert);
    gguf_set_u32(w, "olmoe.expert_used_count", (uint32_t)c->n_expert_used);
    gguf_set_f32(w, "olmoe.rope.freq_base", c->rope_theta);
    gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_set_str(w, "tokenizer.ggml.pre", "olmo"); /* llama.cpp: same split as gpt-2 */
    gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tokens, (uint64_t)n_tok);
    gguf_set_arr_data(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, (uint64_t)n_tok);
    gguf_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges, (uint64_t)n_merge);
    gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)ak_bpe_eot(vocab));
    gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)ak_bpe_eot(vocab));
    gguf_set_bool(w, "tokenizer.ggml.add_bos_token", 1);
    gguf_set_bool(w, "tokenizer.ggml.add_eos_token", 0);

    const float *params = ak_moe_model_params(m);
    for (int i = 0; i < n_tensors; i++) {
        const ak_param_tensor *t = ak_moe_model_tensor(m, i);
        int tt = tensor_type(t, type);
        int64_t row = t->ne[0], rows = (int64_t)t->n / row;
        size_t row_bytes = ak_row_bytes((ak_type)tt, row), nbytes = row_bytes * (size_t)rows;
        const float *src = params + t->offset;
        if (!row_bytes || !(data[i] = malloc(nbytes))) {
            ak_failf(err, AK_ERR_INVALID_ARG, "cannot encode tensor %s as %s", t->name, ak_type_name(tt));
            goto done;
        }
        for (int64_t r = 0; r < rows; r++) {
            char *dst = (char *)data[i] + (size_t)r * row_bytes;
            const float *x = src + (size_t)r * row;
            if (tt == AK_TYPE_F32) memcpy(dst, x, row_bytes);
            else if (tt == AK_TYPE_F16)
                for (int64_t j = 0; j < row; j++) ((uint16_t *)dst)[j] = ak_f32_to_f16(x[j]);
            else ak_quantize_row((ak_type)tt, x, dst, row);
        }
        if (gguf_add_tensor(w, t->name, tt, (uint32_t)t->n_dims, t->ne, data[i], nbytes)) {
            ak_failf(err, AK_ERR_INVALID_ARG, "GGUF writer rejected tensor %s", t->name);
            goto done;
        }
    }
    rc = gguf_writer_write(w, path, err);
done:
    if (w) gguf_writer_free(w);
    for (int i = 0; data && i < n_tensors; i++) free(data[i]);
    free(data);
    free(types);
    free_strings(tokens, n_tok);
    free_strings(merges, n_merge);
    return rc;
}
