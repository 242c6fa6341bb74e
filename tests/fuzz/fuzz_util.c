/* fuzz_util.c - the fixtures the harnesses share (fuzz.h). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "base/file.h"
#include "model/gen_model.h"
#include "model/model.h"
#include "quant/quant.h"
#include "serve/server_state.h"

uint8_t *fuzz_tiny_model(const char *arch, int type, const char *vocab, size_t *len) {
    ak_gen_params p;
    if (ak_gen_params_default(&p, arch)) return NULL;
    /* 2 layers 32 wide, 2 heads, 4 experts of 32 rows (top-2): a few KB per matrix */
    p.type = type, p.n_layer = 2, p.n_embd = 32, p.n_ff = 32;
    p.n_head = p.n_head_kv = 2, p.head_dim = 0;
    p.n_expert = 4, p.n_expert_used = 2;
    if (p.n_ff_shexp) p.n_ff_shexp = 32;
    if (!strcmp(arch, "deepseek2")) /* latent attention keeps one KV head; 2 groups of 2 experts */
        p.n_head_kv = 1, p.n_group = 2, p.n_group_used = 1, p.n_ff_dense = 32;
    if (!strcmp(arch, "qwen35moe")) /* 3 DeltaNet layers and an attention layer (heads of 32 or more) */
        p.n_layer = 4, p.head_dim = 32, p.rope_dims = 8;
    if (!strcmp(arch, "nemotron_h_moe")) /* Mamba-2, experts, attention */
        p.n_layer = 3, p.pattern = "ME*";
    p.n_vocab = strcmp(vocab, "none") ? 320 : 64; /* a byte or tiny vocabulary needs >= 259 */
    p.n_ctx_train = 64;
    snprintf(p.vocab_kind, sizeof p.vocab_kind, "%s", vocab);
    char path[64];
    snprintf(path, sizeof path, "/tmp/ak_fuzz_model_%d.gguf", (int)getpid());
    ak_error err = {0};
    if (ak_gen_model_write(&p, path, 1, &err)) {
        fprintf(stderr, "fuzz_tiny_model: %s\n", err.msg);
        return NULL;
    }
    uint8_t *b = (uint8_t *)ak_read_file(path, len, &err);
    unlink(path);
    return b;
}

uint8_t *fuzz_aligned_copy(const uint8_t *data, size_t size) {
    uint8_t *b = aligned_alloc(64, (size + 63) / 64 * 64 + 64);
    if (!b) abort();
    if (size) memcpy(b, data, size);
    return b;
}

static ak_model *g_model;
static ak_tokenizer *g_tok;
static ak_server *g_server;
static uint8_t *g_model_bytes;

/* The process exits with the fixture alive (libFuzzer never returns); LeakSanitizer would
 * call that a leak, so it is freed at exit. */
static void free_server(void) {
    ak_server_free(g_server);
    ak_tokenizer_free(g_tok);
    ak_model_free(g_model);
    free(g_model_bytes);
}

ak_server *fuzz_server(void) {
    if (g_server) return g_server;
    size_t len = 0;
    ak_error err = {0};
    g_model_bytes = fuzz_tiny_model("olmoe", AK_TYPE_F32, "gpt2", &len);
    if (!g_model_bytes || !(g_model = ak_model_load_buffer(g_model_bytes, len, &err)) ||
        !(g_tok = ak_tokenizer_load(ak_model_gguf(g_model), &err))) {
        fprintf(stderr, "fuzz_server: %s\n", err.msg);
        abort();
    }
    ak_serve_options o;
    ak_serve_default_options(&o);
    o.n_ctx = 64;
    o.log_file = "/dev/null";
    o.ab_spec = "a=fixed@1:0.5,b=native:0.5";
    o.min_exit_threshold = 0.5f; /* requests may ask for exits and pruning within these */
    o.max_prune_ratio = 0.5f;
    if (!(g_server = ak_server_new(&o, g_model, g_tok, NULL, &err))) {
        fprintf(stderr, "fuzz_server: %s\n", err.msg);
        abort();
    }
    atexit(free_server);
    return g_server;
}
