/* test_gen_model.c - the random-model generator: metadata keys, tensor names, shapes and
 * types as llama.cpp's loaders ask for them (expected values written out by hand from
 * llama.cpp's src/models/{olmoe,qwen2moe,qwen3moe,llama}.cpp, not from our code),
 * determinism, weight scales, router entropy spread, and bad parameters. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"
#include "gguf/gguf.h"
#include "model/gen_model.h"
#include "quant/quant.h"


static char tmpdir[512];

static void path_for(char *buf, size_t n, const char *tag) { snprintf(buf, n, "%s/%s.gguf", tmpdir, tag); }

static gguf_file *gen(const ak_gen_params *p, const char *tag, char *path, size_t n) {
    ak_error err = {0};
    path_for(path, n, tag);
    if (ak_gen_model_write(p, path, 1, &err)) {
        fprintf(stderr, "gen %s: %s\n", tag, err.msg);
        failures++;
        return NULL;
    }
    gguf_file *f = gguf_open(path, &err);
    CHECK(f != NULL, "open %s: %s", path, err.msg);
    return f;
}

static void expect_u32(const gguf_file *f, const char *key, uint32_t want) {
    uint32_t v = 0;
    CHECK(gguf_get_u32(f, key, &v) && v == want, "%s = %u, want %u", key, v, want);
}

static void expect_tensor(const gguf_file *f, const char *name, int type, int nd, int64_t n0, int64_t n1, int64_t n2) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    CHECK(t != NULL, "tensor %s missing", name);
    if (!t) return;
    CHECK(t->type == type, "%s type %d, want %d", name, t->type, type);
    CHECK((int)t->n_dims == nd, "%s n_dims %u, want %d", name, t->n_dims, nd);
    CHECK(t->ne[0] == n0 && t->ne[1] == n1 && t->ne[2] == n2, "%s shape %lld %lld %lld, want %lld %lld %lld", name,
          (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)n0, (long long)n1, (long long)n2);
}

/* Small OLMoE: every key and tensor llama.cpp's olmoe loader reads. */
static void test_olmoe_layout(void) {
    ak_gen_params p;
    ak_gen_params_default(&p, "olmoe");
    snprintf(p.vocab_kind, sizeof p.vocab_kind, "none");
    p.n_vocab = 100, p.n_layer = 3, p.n_embd = 64, p.n_head = 4, p.n_head_kv = 4, p.n_expert = 8;
    p.n_expert_used = 3, p.n_ff = 96, p.type = AK_TYPE_Q8_0;
    char path[600];
    gguf_file *f = gen(&p, "olmoe", path, sizeof path);
    if (!f) return;
    gguf_str s;
    CHECK(gguf_get_str(f, "general.architecture", &s) && gguf_str_eq(s, "olmoe"), "architecture");
    expect_u32(f, "olmoe.block_count", 3);
    expect_u32(f, "olmoe.embedding_length", 64);
    expect_u32(f, "olmoe.attention.head_count", 4);
    expect_u32(f, "olmoe.attention.head_count_kv", 4);
    expect_u32(f, "olmoe.expert_count", 8);
    expect_u32(f, "olmoe.expert_used_count", 3);
    expect_u32(f, "olmoe.feed_forward_length", 96);
    expect_u32(f, "olmoe.vocab_size", 100);
    expect_u32(f, "general.file_type", 7); /* LLAMA_FTYPE_MOSTLY_Q8_0 */
    float eps = 0;
    CHECK(gguf_get_f32(f, "olmoe.attention.layer_norm_rms_epsilon", &eps) && eps > 0, "rms eps");
    CHECK(gguf_get_str(f, "tokenizer.ggml.model", &s) && gguf_str_eq(s, "none"), "tokenizer model none");
    /* 2 global + 1 output + per layer: attn_norm q k v out q_norm k_norm ffn_norm gate_inp 3 experts */
    CHECK(gguf_n_tensors(f) == 3 + 3 * 12, "tensor count %lld", (long long)gguf_n_tensors(f));
    expect_tensor(f, "token_embd.weight", AK_TYPE_Q8_0, 2, 64, 100, 1);
    expect_tensor(f, "output_norm.weight", AK_TYPE_F32, 1, 64, 1, 1);
    expect_tensor(f, "output.weight", AK_TYPE_Q8_0, 2, 64, 100, 1);
    for (int l = 0; l < 3; l++) {
        char n[64];
#define T(s) (snprintf(n, sizeof n, "blk.%d.%s", l, s), n)
        expect_tensor(f, T("attn_norm.weight"), AK_TYPE_F32, 1, 64, 1, 1);
        expect_tensor(f, T("attn_q.weight"), AK_TYPE_Q8_0, 2, 64, 64, 1);
        expect_tensor(f, T("attn_k.weight"), AK_TYPE_Q8_0, 2, 64, 64, 1); /* n_embd_gqa = 16 * 4 */
        expect_tensor(f, T("attn_v.weight"), AK_TYPE_Q8_0, 2, 64, 64, 1);
        expect_tensor(f, T("attn_output.weight"), AK_TYPE_Q8_0, 2, 64, 64, 1);
        expect_tensor(f, T("attn_q_norm.weight"), AK_TYPE_F32, 1, 64, 1, 1);
        expect_tensor(f, T("attn_k_norm.weight"), AK_TYPE_F32, 1, 64, 1, 1); /* {n_embd} in llama.cpp */
        expect_tensor(f, T("ffn_norm.weight"), AK_TYPE_F32, 1, 64, 1, 1);
        expect_tensor(f, T("ffn_gate_inp.weight"), AK_TYPE_F32, 2, 64, 8, 1);
        expect_tensor(f, T("ffn_gate_exps.weight"), AK_TYPE_Q8_0, 3, 64, 96, 8);
        expect_tensor(f, T("ffn_up_exps.weight"), AK_TYPE_Q8_0, 3, 64, 96, 8);
        expect_tensor(f, T("ffn_down_exps.weight"), AK_TYPE_Q8_0, 3, 96, 64, 8);
#undef T
    }
    gguf_close(f);
    unlink(path);
}

/* Qwen1.5-MoE: q/k/v biases and the gated shared expert; Qwen3-MoE: per-head q/k norms
 * and n_head * head_dim != n_embd; Mixtral: GGUF arch "llama" with rope.dimension_count. */
static void test_other_layouts(void) {
    char path[600];
    ak_gen_params p;
    ak_gen_params_default(&p, "qwen2moe");
    snprintf(p.vocab_kind, sizeof p.vocab_kind, "none");
    p.n_vocab = 50, p.n_embd = 32, p.n_head = 2, p.n_head_kv = 2, p.n_ff = 32, p.n_ff_shexp = 64, p.n_layer = 1;
    gguf_file *f = gen(&p, "qwen2moe", path, sizeof path);
    if (f) {
        expect_u32(f, "qwen2moe.expert_feed_forward_length", 32);
        expect_u32(f, "qwen2moe.expert_shared_feed_forward_length", 64);
        expect_tensor(f, "blk.0.attn_q.bias", AK_TYPE_F32, 1, 32, 1, 1);
        expect_tensor(f, "blk.0.attn_k.bias", AK_TYPE_F32, 1, 32, 1, 1);
        expect_tensor(f, "blk.0.attn_v.bias", AK_TYPE_F32, 1, 32, 1, 1);
        expect_tensor(f, "blk.0.ffn_gate_inp_shexp.weight", AK_TYPE_F32, 1, 32, 1, 1);
        expect_tensor(f, "blk.0.ffn_gate_shexp.weight", AK_TYPE_F32, 2, 32, 64, 1);
        expect_tensor(f, "blk.0.ffn_up_shexp.weight", AK_TYPE_F32, 2, 32, 64, 1);
        expect_tensor(f, "blk.0.ffn_down_shexp.weight", AK_TYPE_F32, 2, 64, 32, 1);
        CHECK(gguf_find_tensor(f, "blk.0.attn_q_norm.weight") == NULL, "qwen2moe has no q norm");
        gguf_close(f);
        unlink(path);
    }
    ak_gen_params_default(&p, "qwen3moe");
    snprintf(p.vocab_kind, sizeof p.vocab_kind, "none");
    p.n_vocab = 50, p.n_embd = 64, p.n_head = 4, p.n_head_kv = 2, p.head_dim = 32, p.n_layer = 1;
    f = gen(&p, "qwen3moe", path, sizeof path);
    if (f) {
        expect_u32(f, "qwen3moe.attention.key_length", 32);
        expect_u32(f, "qwen3moe.attention.value_length", 32);
        expect_tensor(f, "blk.0.attn_q.weight", AK_TYPE_F32, 2, 64, 128, 1);
        expect_tensor(f, "blk.0.attn_k.weight", AK_TYPE_F32, 2, 64, 64, 1);
        expect_tensor(f, "blk.0.attn_output.weight", AK_TYPE_F32, 2, 128, 64, 1);
        expect_tensor(f, "blk.0.attn_q_norm.weight", AK_TYPE_F32, 1, 32, 1, 1);
        expect_tensor(f, "blk.0.attn_k_norm.weight", AK_TYPE_F32, 1, 32, 1, 1);
        gguf_close(f);
        unlink(path);
    }
    ak_gen_params_default(&p, "mixtral");
    snprintf(p.vocab_kind, sizeof p.vocab_kind, "none");
    p.n_vocab = 50, p.n_layer = 1, p.n_embd = 64, p.n_head = 4, p.n_head_kv = 2;
    f = gen(&p, "mixtral", path, sizeof path);
    if (f) {
        gguf_str s;
        CHECK(gguf_get_str(f, "general.architecture", &s) && gguf_str_eq(s, "llama"), "mixtral is arch llama");
        expect_u32(f, "llama.rope.dimension_count", 16);
        expect_u32(f, "llama.expert_count", 8);
        expect_tensor(f, "blk.0.attn_k.weight", AK_TYPE_F32, 2, 64, 32, 1);
        expect_tensor(f, "blk.0.ffn_down_exps.weight", AK_TYPE_F32, 3, 32, 64, 8);
        gguf_close(f);
        unlink(path);
    }
}

static int file_equal(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int eq = fa && fb;
    while (eq) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) eq = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return eq;
}

static void test_determinism(void) {
    ak_gen_params p;
    ak_gen_params_default(&p, "olmoe");
    snprintf(p.vocab_kind, sizeof p.vocab_kind, "none");
    p.type = AK_TYPE_Q4_0;
    char a[600], b[600], c[600];
    ak_error err = {0};
    path_for(a, sizeof a, "det_a");
    path_for(b, sizeof b, "det_b");
    path_for(c, sizeof c, "det_c");
    p.seed = 7;
    CHECK(ak_gen_model_write(&p, a, 1, &err) == 0, "%s", err.msg);
    CHECK(ak_gen_model_write(&p, b, 1, &err) == 0, "%s", err.msg);
    p.seed = 8;
    CHECK(ak_gen_model_write(&p, c, 1, &err) == 0, "%s", err.msg);
    CHECK(file_equal(a, b), "same seed gives identical files");
    CHECK(!file_equal(a, c), "another seed gives another file");
    unlink(a), unlink(b), unlink(c);
}

static void rms_norm(float *x, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)x[i] * x[i];
    float r = (float)(1.0 / sqrt(s / n));
    for (int i = 0; i < n; i++) x[i] *= r;
}

/* Scales: unit-RMS input -> matrix output RMS near 1 (uniform amplitude sqrt(3/fan_in));
 * routers: over random unit-RMS inputs, the normalised entropy of the router softmax
 * must spread (some tokens sharp, some near uniform), in every layer. */
static void test_scales_and_router_spread(void) {
    ak_gen_params p;
    ak_gen_params_default(&p, "olmoe");
    snprintf(p.vocab_kind, sizeof p.vocab_kind, "none");
    p.n_embd = 256, p.n_head = 4, p.n_head_kv = 4, p.n_expert = 64, p.n_expert_used = 8, p.n_layer = 2;
    p.n_ff = 256, p.type = AK_TYPE_Q4_K;
    char path[600];
    gguf_file *f = gen(&p, "scales", path, sizeof path);
    if (!f) return;
    const int E = 256, X = 64;
    float *w = malloc(sizeof(float) * E * 256), x[256], y[256];
    uint32_t s = 12345;
    const gguf_tensor *t = gguf_find_tensor(f, "blk.1.attn_q.weight");
    CHECK(t && t->type == AK_TYPE_Q4_K, "attn_q q4_k");
    if (t) {
        for (int r = 0; r < E; r++)
            ak_dequantize_row(AK_TYPE_Q4_K, (const char *)t->data + r * ak_row_bytes(AK_TYPE_Q4_K, E), w + r * E, E);
        double acc = 0;
        for (int trial = 0; trial < 20; trial++) {
            for (int i = 0; i < E; i++) {
                s = s * 1664525u + 1013904223u;
                x[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
            }
            rms_norm(x, E);
            for (int r = 0; r < E; r++) {
                double d = 0;
                for (int i = 0; i < E; i++) d += (double)w[r * E + i] * x[i];
                y[r] = (float)d;
            }
            double ss = 0;
            for (int r = 0; r < E; r++) ss += (double)y[r] * y[r];
            acc += sqrt(ss / E);
        }
        acc /= 20;
        CHECK(acc > 0.8 && acc < 1.25, "attn_q output RMS %.3f, want about 1", acc);
    }
    for (int l = 0; l < 2; l++) {
        char n[64];
        snprintf(n, sizeof n, "blk.%d.ffn_gate_inp.weight", l);
        t = gguf_find_tensor(f, n);
        CHECK(t && t->type == AK_TYPE_F32 && t->ne[1] == X, "%s F32 [%d, %d]", n, E, X);
        if (!t) continue;
        memcpy(w, t->data, sizeof(float) * E * X);
        double hmin = 1e9, hmax = -1e9;
        for (int trial = 0; trial < 200; trial++) {
            for (int i = 0; i < E; i++) {
                s = s * 1664525u + 1013904223u;
                x[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
            }
            rms_norm(x, E);
            double z[64], mx = -1e30, sum = 0, h = 0;
            for (int e = 0; e < X; e++) {
                z[e] = 0;
                for (int i = 0; i < E; i++) z[e] += (double)w[e * E + i] * x[i];
                if (z[e] > mx) mx = z[e];
            }
            for (int e = 0; e < X; e++) sum += exp(z[e] - mx);
            for (int e = 0; e < X; e++) {
                double pe = exp(z[e] - mx) / sum;
                if (pe > 0) h -= pe * log(pe);
            }
            h /= log((double)X);
            if (h < hmin) hmin = h;
            if (h > hmax) hmax = h;
        }
        CHECK(hmin < 0.75 && hmax > 0.9, "layer %d router entropy spread [%.3f, %.3f] too narrow", l, hmin, hmax);
    }
    free(w);
    gguf_close(f);
    unlink(path);
}

/* The built-in byte vocabulary: GPT-2 byte-to-unicode texts (space -> U+0120 "Ġ", newline
 * -> U+010A "Ċ", printable ASCII kept), BOS 256, EOS 257, one merge, filler to --vocab. */
static void test_bytes_vocab(void) {
    ak_gen_params p;
    ak_gen_params_default(&p, "olmoe");
    snprintf(p.vocab_kind, sizeof p.vocab_kind, "bytes");
    p.n_vocab = 300;
    char path[600];
    gguf_file *f = gen(&p, "bytes", path, sizeof path);
    if (!f) return;
    gguf_type et;
    uint64_t n = 0;
    gguf_str s;
    CHECK(gguf_get_arr_info(f, "tokenizer.ggml.tokens", &et, &n) && n == 300, "300 tokens (%llu)", (unsigned long long)n);
    CHECK(gguf_get_arr_str(f, "tokenizer.ggml.tokens", 65, &s) && gguf_str_eq(s, "A"), "token 65 is A");
    CHECK(gguf_get_arr_str(f, "tokenizer.ggml.tokens", 32, &s) && gguf_str_eq(s, "\xc4\xa0"), "token 32 is U+0120");
    CHECK(gguf_get_arr_str(f, "tokenizer.ggml.tokens", 10, &s) && gguf_str_eq(s, "\xc4\x8a"), "token 10 is U+010A");
    CHECK(gguf_get_arr_str(f, "tokenizer.ggml.tokens", 0xE9, &s) && gguf_str_eq(s, "\xc3\xa9"), "token 0xE9 is U+00E9");
    CHECK(gguf_get_arr_str(f, "tokenizer.ggml.merges", 0, &s) && gguf_str_eq(s, "\xc4\x80 \xc4\x81"), "merge");
    expect_u32(f, "tokenizer.ggml.bos_token_id", 256);
    expect_tensor(f, "token_embd.weight", AK_TYPE_F32, 2, 64, 300, 1);
    gguf_close(f);
    unlink(path);
}

static void test_fallback_and_errors(void) {
    ak_gen_params p;
    char path[600];
    ak_error err = {0};
    ak_gen_params_default(&p, "olmoe");
    snprintf(p.vocab_kind, sizeof p.vocab_kind, "none");
    p.type = AK_TYPE_Q4_K; /* 64-wide rows cannot be Q4_K (256 per block) */
    gguf_file *f = gen(&p, "fallback", path, sizeof path);
    if (f) {
        expect_tensor(f, "blk.0.attn_q.weight", AK_TYPE_Q8_0, 2, 64, 64, 1);
        gguf_close(f);
        unlink(path);
    }
    path_for(path, sizeof path, "bad");
    ak_gen_params_default(&p, "olmoe");
    p.n_expert_used = 9;
    CHECK(ak_gen_model_write(&p, path, 1, &err) != 0 && strstr(err.msg, "top-k"), "top-k > experts: %s", err.msg);
    ak_gen_params_default(&p, "olmoe");
    p.n_head = 5;
    CHECK(ak_gen_model_write(&p, path, 1, &err) != 0, "embd not a multiple of heads");
    ak_gen_params_default(&p, "mixtral");
    p.n_head_kv = 3;
    CHECK(ak_gen_model_write(&p, path, 1, &err) != 0, "heads not a multiple of heads-kv");
    ak_gen_params_default(&p, "olmoe");
    p.n_head_kv = 2;
    CHECK(ak_gen_model_write(&p, path, 1, &err) != 0 && strstr(err.msg, "heads-kv"), "olmoe with GQA: %s", err.msg);
    ak_gen_params_default(&p, "olmoe");
    snprintf(p.arch, sizeof p.arch, "gpt2");
    CHECK(ak_gen_model_write(&p, path, 1, &err) != 0 && strstr(err.msg, "gpt2"), "unknown arch: %s", err.msg);
    ak_gen_params_default(&p, "olmoe");
    CHECK(ak_gen_model_write(&p, "/nonexistent-dir/x.gguf", 1, &err) != 0, "unwritable path");
    CHECK(access(path, F_OK) != 0, "no file left after errors");
    CHECK(ak_gen_params_preset(&p, "olmoe-1b-7b") == 0 && p.n_expert == 64 && p.n_expert_used == 8 &&
              p.n_embd == 2048 && p.n_layer == 16 && p.n_ff == 1024 && p.n_vocab == 50304,
          "olmoe preset shapes");
    CHECK(ak_gen_params_preset(&p, "mixtral-8x7b") == 0 && p.n_expert == 8 && p.n_head_kv == 8 && p.n_ff == 14336,
          "mixtral preset shapes");
    CHECK(ak_gen_params_preset(&p, "gpt-oss-20b") == 0 && p.n_expert == 32 && p.n_expert_used == 4 &&
              p.n_embd == 2880 && p.head_dim == 64 && p.n_swa == 128 && p.rope_factor == 32.0f,
          "gpt-oss-20b preset shapes");
    CHECK(ak_gen_params_preset(&p, "nope") != 0, "unknown preset");
}

int main(void) {
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/ak_genmodel_%d", t && *t ? t : "/tmp", (int)getpid());
    if (mkdir(tmpdir, 0700)) {
        perror(tmpdir);
        return 1;
    }
    test_olmoe_layout();
    test_other_layouts();
    test_determinism();
    test_scales_and_router_spread();
    test_bytes_vocab();
    test_fallback_and_errors();
    rmdir(tmpdir);
    return check_finish("test_gen_model");
}
