/* test_ppl_vs_llama.c - our perplexity on generated models against the numbers llama.cpp's
 * llama-perplexity gave for the very same files (recorded by scripts/compare-llama.sh, see
 * docs/correctness.md). The models are regenerated here from the same seed and shapes, so
 * the test needs no llama.cpp. Tolerances: F32 0.1 %, quantised 0.5 %.
 * The pins hold for these exact weights: if gen_model.c's weights or ak_quantize_row's
 * K-quant fit change, rerun scripts/compare-llama.sh and re-record ppl_pins.inc.
 *
 * usage: test_ppl_vs_llama TEXT_FILE [all]
 *   default: native top-k of every arch and type, first 8 chunks (against llama.cpp's "[8]")
 *   all:     every recorded K, the whole text (against "Final estimate") */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "eval/perplexity.h"
#include "eval/session.h"
#include "model/gen_model.h"
#include "quant/quant.h"

typedef struct {
    const char *arch, *type;
    int k;           /* 0: native top-k; else --override-kv ARCH.expert_used_count=int:k */
    double llama;    /* llama-perplexity's "Final estimate: PPL" */
    double llama8;   /* its running value after 8 chunks, "[8]" */
} pin;

/* recorded with scripts/compare-llama.sh, see docs/correctness.md */
static const pin pins[] = {
#include "ppl_pins.inc"
};

/* The shapes of scripts/compare-llama.sh's gen_flags. "nemotron_h_moe+latent": the same
 * with experts in a latent space of 128 (NH_LATENT=128). */
static void shapes(ak_gen_params *p, const char *arch_tag, const char *type) {
    char arch[32];
    snprintf(arch, sizeof arch, "%.*s", (int)strcspn(arch_tag, "+"), arch_tag);
    ak_gen_params_default(p, arch);
    if (strstr(arch_tag, "+latent")) p->moe_latent = 128;
    p->type = ak_type_from_name(type);
    p->n_layer = 2, p->n_embd = 256, p->n_head = 4, p->n_head_kv = 2, p->n_expert = 8, p->n_expert_used = 2;
    p->n_ff = 256, p->n_vocab = 400, p->seed = 42;
    snprintf(p->vocab_kind, sizeof p->vocab_kind, "bytes");
    if (!strcmp(arch, "olmoe")) p->n_head_kv = 4;
    if (!strcmp(arch, "qwen2moe")) p->n_head_kv = 4, p->n_ff_shexp = 256;
    if (!strcmp(arch, "qwen3moe")) p->head_dim = 128;
    if (!strcmp(arch, "deepseek2")) /* the rest as ak_gen_params_default: sigmoid, bias, 4 groups */
        p->n_head_kv = 1, p->n_layer = 3, p->q_lora = 256, p->kv_lora = 256, p->qk_nope = 64, p->qk_rope = 32,
        p->v_head = 64, p->n_ff_dense = 256;
    if (!strcmp(arch, "qwen35moe")) /* 3 Gated DeltaNet layers, then gated attention; MoE in each */
        p->n_layer = 4, p->head_dim = 64, p->rope_dims = 16, p->ssm_heads = 8, p->ssm_groups = 4, p->ssm_head_dim = 32,
        p->n_ff_shexp = 256;
    if (!strcmp(arch, "nemotron_h_moe")) /* MEM*E: Mamba-2, experts, Mamba-2, attention, experts */
        p->n_layer = 5, p->head_dim = 64, p->ssm_heads = 8, p->ssm_head_dim = 32, p->ssm_groups = 2, p->ssm_state = 32,
        p->n_ff_shexp = 256;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_ppl_vs_llama TEXT_FILE [all]\n");
        return 2;
    }
    const int all = argc > 2 && !strcmp(argv[2], "all");
    char dir[512], path[600];
    ak_error err = {0};
    size_t len = 0;
    char *text = ak_read_file(argv[1], &len, &err);
    if (!text) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    if (len && text[len - 1] == '\n') text[--len] = 0; /* as llama.cpp's -f */
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/ak_pplpin_%d", t && *t ? t : "/tmp", (int)getpid());
    if (mkdir(dir, 0700)) {
        perror(dir);
        return 1;
    }
    int failures = 0, runs = 0;
    char cur[64] = ""; /* the model now on disk */
    for (size_t i = 0; i < sizeof pins / sizeof pins[0]; i++) {
        const pin *pn = &pins[i];
        if (!all && pn->k != 0) continue;
        char tag[64];
        snprintf(tag, sizeof tag, "%s-%s", pn->arch, pn->type);
        snprintf(path, sizeof path, "%s/%s.gguf", dir, tag);
        if (strcmp(cur, tag)) {
            ak_gen_params gp;
            shapes(&gp, pn->arch, pn->type);
            if (cur[0]) {
                char old[600];
                snprintf(old, sizeof old, "%s/%s.gguf", dir, cur);
                unlink(old);
            }
            snprintf(cur, sizeof cur, "%s", tag);
            if (ak_gen_model_write(&gp, path, 1, &err)) {
                fprintf(stderr, "%s: %s\n", tag, err.msg);
                failures++;
                continue;
            }
        }
        ak_session s;
        if (ak_session_load(&s, path, NULL, &err)) {
            fprintf(stderr, "%s: %s\n", tag, err.msg);
            failures++;
            continue;
        }
        const ak_hparams *hp = ak_model_hparams(s.model);
        ak_router_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.n_experts = hp->n_expert;
        cfg.k_native = hp->n_expert_used;
        cfg.renormalize = hp->renormalize;
        cfg.default_policy = ak_policy_fixed(pn->k);
        int32_t *tokens = NULL;
        int n = -1;
        if (ak_session_start(&s, 128, 128, 2, pn->k ? &cfg : NULL, &err) == 0)
            n = ak_session_tokenize(&s, text, len, ak_tokenizer_add_bos(s.tok), &tokens, &err);
        ak_ppl_result r = {0};
        if (n >= 0) {
            ak_ppl_params pp = ak_ppl_default_params();
            pp.n_vocab = hp->n_vocab, pp.n_ctx = 128, pp.n_batch = 128;
            pp.bos = ak_tokenizer_add_bos(s.tok) ? ak_tokenizer_bos(s.tok) : -1;
            pp.n_chunks = all ? 0 : 8;
            if (ak_perplexity(s.ctx, tokens, n, &pp, &r, &err)) n = -1;
        }
        if (n < 0) {
            fprintf(stderr, "%s k=%d: %s\n", tag, pn->k, err.msg);
            failures++;
        } else {
            const double tol = !strcmp(pn->type, "f32") ? 0.001 : 0.005;
            const double want = all ? pn->llama : pn->llama8;
            const double rel = fabs(r.ppl - want) / want;
            printf("%-9s %-5s k=%d chunks %2d  ours %10.4f  llama.cpp %10.4f  rel %.5f%%%s\n", pn->arch, pn->type,
                   pn->k, r.n_chunks, r.ppl, want, 100 * rel, rel <= tol ? "" : "  FAIL");
            if (!(rel <= tol)) failures++;
            runs++;
        }
        free(tokens);
        ak_session_close(&s);
    }
    if (cur[0]) {
        snprintf(path, sizeof path, "%s/%s.gguf", dir, cur);
        unlink(path);
    }
    rmdir(dir);
    free(text);
    if (failures || runs == 0) {
        fprintf(stderr, "test_ppl_vs_llama: %d failure(s), %d run(s)\n", failures, runs);
        return 1;
    }
    printf("test_ppl_vs_llama: %d run(s) within tolerance\n", runs);
    return 0;
}
