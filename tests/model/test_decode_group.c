/* test_decode_group.c - continuous batching (ak_decode_group): several sequences, each with
 * its own cache and routing, decoded in one forward pass give the logits, routing ledgers
 * and counters of their own ak_decode calls (bitwise: every product is computed per token
 * the same way whatever the batch); sequences join and leave between steps; the executing
 * context's ledger sees the batch's union of experts; bad groups are refused with nothing
 * changed. */
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "model/attention.h"
#include "model/gen_model.h"
#include "quant/quant.h"

enum { N_SEQ = 3, N_GEN = 6, N_CTX = 64, V_MAX = 4096 };

static const int32_t prompts[N_SEQ][8] = {{1, 5, 9, 13, 17}, {2, 4, 8}, {3, 6, 9, 12, 15, 18, 21}};
static const int prompt_len[N_SEQ] = {5, 3, 7};

/* The token sequence i decodes at generation step s (fixed, so solo and group runs agree). */
static int32_t gen_token(int i, int s, int n_vocab) { return (int32_t)((7 * i + 11 * s + 1) % n_vocab); }

static ak_router_config routing_of(const ak_model *m, int i) {
    const ak_hparams *hp = ak_model_hparams(m);
    ak_policy p = i == 0 ? ak_policy_fixed(hp->n_expert_used) : i == 1 ? ak_policy_fixed(1) : ak_policy_entropy_default();
    return ak_config_uniform(hp->n_expert, hp->n_expert_used, 0, p);
}

/* Sequence i's context; its head runs for each batch's last token only, as a group's does,
 * so that the counters of its own decode and of its group runs compare. */
static ak_context *seq_context(ak_model *m, int i, int kv_type) {
    ak_router_config rc = routing_of(m, i);
    ak_error err = {0};
    ak_context_params cp = ak_context_default_params();
    cp.type_k = cp.type_v = kv_type;
    cp.n_ctx = N_CTX, cp.n_batch = 8, cp.n_threads = 1, cp.routing = &rc, cp.logits_last = 1;
    ak_context *c = ak_context_new(m, &cp, &err);
    CHECK(c != NULL, "sequence context: %s", err.msg);
    return c;
}

/* Logits of every step of sequence i decoded alone: [1 + N_GEN][n_vocab]. */
static void solo(ak_model *m, int i, int kv_type, int reference, float *out, ak_compute_counters *cc,
                 ak_layer_stats *st0) {
    const int V = ak_model_hparams(m)->n_vocab;
    ak_error err = {0};
    ak_context *c = seq_context(m, i, kv_type);
    if (!c) return;
    ak_attn_use_reference(c, reference);
    CHECK(ak_decode(c, prompts[i], prompt_len[i], &err) == 0, "solo %d prompt: %s", i, err.msg);
    memcpy(out, ak_get_logits(c, -1), (size_t)V * sizeof *out);
    for (int s = 0; s < N_GEN; s++) {
        int32_t tok = gen_token(i, s, V);
        CHECK(ak_decode(c, &tok, 1, &err) == 0, "solo %d step %d: %s", i, s, err.msg);
        memcpy(out + (size_t)(s + 1) * V, ak_get_logits(c, -1), (size_t)V * sizeof *out);
    }
    ak_context_counters(c, cc);
    *st0 = *ak_context_layer_stats(c, 0);
    ak_context_free(c);
}

static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        double x = a[i] > b[i] ? (double)a[i] - b[i] : (double)b[i] - a[i];
        if (x > d) d = x;
    }
    return d;
}

/* The three sequences through groups: sequence 2 joins one step late (its prompt batched
 * with the others' first generated tokens), sequence 0 leaves one step early. */
static void grouped(ak_model *m, int threads, int kv_type, int reference, const float *want[N_SEQ],
                    const ak_compute_counters *want_cc, const ak_layer_stats *want_st, const char *what) {
    const int V = ak_model_hparams(m)->n_vocab;
    ak_error err = {0};
    ak_context *exec = test_context_kv(m, N_CTX, 32, threads, NULL, kv_type), *sq[N_SEQ];
    for (int i = 0; i < N_SEQ; i++) sq[i] = seq_context(m, i, kv_type);
    if (!exec || !sq[0] || !sq[1] || !sq[2]) return;
    ak_attn_use_reference(exec, reference);
    int step[N_SEQ] = {-1, -1, -1}; /* -1: prompt next; s: generation step s next */
    int32_t tok[N_SEQ];
    for (int round = 0; round < N_GEN + 2; round++) {
        ak_context *seq[N_SEQ];
        const int32_t *toks[N_SEQ];
        int n[N_SEQ], who[N_SEQ], g = 0;
        for (int i = 0; i < N_SEQ; i++) {
            if ((i == 2 && round == 0) || step[i] >= N_GEN || (i == 0 && step[i] == N_GEN - 1)) continue;
            if (step[i] < 0) {
                toks[g] = prompts[i], n[g] = prompt_len[i];
            } else {
                tok[i] = gen_token(i, step[i], V);
                toks[g] = &tok[i], n[g] = 1;
            }
            seq[g] = sq[i], who[g++] = i;
        }
        if (!g) break;
        CHECK(ak_decode_group(exec, seq, toks, n, g, &err) == 0, "%s: round %d: %s", what, round, err.msg);
        for (int k = 0; k < g; k++) {
            const int i = who[k], s = step[i] + 1;
            double d = max_diff(ak_get_logits(sq[i], -1), want[i] + (size_t)s * V, (size_t)V);
            CHECK(d == 0.0, "%s: sequence %d, step %d: logits differ from its own decode by %g", what, i, s, d);
            CHECK(ak_get_logits(sq[i], -2) == NULL || n[k] > 1, "%s: only the last token's logits are kept", what);
            step[i]++;
        }
    }
    /* sequences 1 and 2 ran every step: their ledgers and counters are their solo runs' */
    uint64_t bytes_sum = 0;
    for (int i = 1; i < N_SEQ; i++) {
        ak_compute_counters cc;
        ak_context_counters(sq[i], &cc);
        CHECK(cc.tokens == want_cc[i].tokens && cc.expert_macs == want_cc[i].expert_macs &&
                  cc.model_macs == want_cc[i].model_macs && cc.expert_bytes_read == want_cc[i].expert_bytes_read &&
                  cc.expert_macs_native == want_cc[i].expert_macs_native,
              "%s: sequence %d's counters differ from its own decode's", what, i);
        const ak_layer_stats *st = ak_context_layer_stats(sq[i], 0);
        CHECK(st->n_tokens == want_st[i].n_tokens && st->k_sum == want_st[i].k_sum,
              "%s: sequence %d's layer-0 K statistics differ (%llu/%llu tokens)", what, i,
              (unsigned long long)st->n_tokens, (unsigned long long)want_st[i].n_tokens);
        bytes_sum += cc.expert_bytes_read;
    }
    ak_compute_counters ec, c0;
    ak_context_counters(exec, &ec);
    ak_context_counters(sq[0], &c0);
    bytes_sum += c0.expert_bytes_read;
    const uint64_t total = (uint64_t)(prompt_len[0] + prompt_len[1] + prompt_len[2] + 3 * N_GEN - 1);
    CHECK(ec.tokens == total, "%s: the executing context counted %llu tokens, want %llu", what,
          (unsigned long long)ec.tokens, (unsigned long long)total);
    CHECK(ec.expert_bytes_read > 0 && ec.expert_bytes_read < bytes_sum,
          "%s: the batch reads each expert once: %llu bytes, the sequences alone %llu", what,
          (unsigned long long)ec.expert_bytes_read, (unsigned long long)bytes_sum);
    CHECK(ak_context_n_past(exec) == 0, "%s: the executing context's own cache is untouched", what);
    for (int i = 0; i < N_SEQ; i++) ak_context_free(sq[i]);
    ak_context_free(exec);
}

/* Groups that cannot run are refused, and nothing changes. */
static void refusals(ak_model *m) {
    ak_error err = {0};
    ak_context *exec = test_context(m, N_CTX, 8, 1, NULL), *a = test_context(m, N_CTX, 8, 1, NULL);
    ak_context *b = test_context(m, 8, 8, 1, NULL), *f32 = test_context_kv(m, N_CTX, 8, 1, NULL, AK_TYPE_F32);
    if (!exec || !a || !b || !f32) return;
    const int32_t t9[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, bad[1] = {-1};
    const int32_t *toks[2] = {t9, t9};
    int n[2] = {1, 1};
    struct {
        ak_context *s0, *s1;
        int n0, n_seq;
        const int32_t *tok0;
        const char *what, *msg;
    } cases[] = {
        {exec, a, 1, 2, t9, "the executing context as a sequence", "executing context"},
        {a, a, 1, 2, t9, "a sequence twice", "is also"},
        {a, b, 9, 1, t9, "more tokens than n_batch", "n_batch"},
        {b, a, 9, 1, t9, "more tokens than the context holds", "context full"},
        {a, b, 1, 2, bad, "a token out of range", "out of range"},
        {f32, a, 1, 1, t9, "another cache type", "cache types"},
        {a, b, 0, 1, t9, "no tokens", "0 tokens"},
        {a, b, 1, 0, t9, "no sequences", "0 sequences"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ak_context *seq[2] = {cases[i].s0, cases[i].s1};
        toks[0] = cases[i].tok0;
        n[0] = cases[i].n0;
        int rc = ak_decode_group(exec, seq, toks, n, cases[i].n_seq, &err);
        CHECK(rc == -1 && err.code == AK_ERR_INVALID_ARG && strstr(err.msg, cases[i].msg),
              "%s: refused naming '%s' (rc %d: %s)", cases[i].what, cases[i].msg, rc, err.msg);
        CHECK(ak_context_n_past(a) == 0 && ak_context_n_past(b) == 0, "%s: nothing changed", cases[i].what);
    }
    ak_context_free(exec);
    ak_context_free(a);
    ak_context_free(b);
    ak_context_free(f32);
}

/* Every check above for one model: solo runs, then groups, for f16 and f32 caches, the
 * kernel and the reference attention, 1 and 3 threads. */
static void check_model(ak_model *m, const char *name) {
    const int V = ak_model_hparams(m)->n_vocab;
    CHECK(V <= V_MAX, "fixture vocabulary %d", V);
    const int kv_types[2] = {AK_TYPE_F16, AK_TYPE_F32}; /* q8_0 needs head_dim 32 */
    for (int kt = 0; kt < 2; kt++)
        for (int reference = 0; reference < 2; reference++) {
            float *buf = malloc((size_t)N_SEQ * (N_GEN + 1) * V * sizeof *buf);
            const float *want[N_SEQ];
            ak_compute_counters cc[N_SEQ];
            ak_layer_stats st[N_SEQ];
            for (int i = 0; i < N_SEQ; i++) {
                float *w = buf + (size_t)i * (N_GEN + 1) * V;
                solo(m, i, kv_types[kt], reference, w, &cc[i], &st[i]);
                want[i] = w;
            }
            char what[64];
            for (int threads = 1; threads <= 3; threads += 2) {
                snprintf(what, sizeof what, "%s: %s cache, %s, %d thread%s", name, ak_type_name(kv_types[kt]),
                         reference ? "reference attention" : "tiled kernel", threads, threads == 1 ? "" : "s");
                grouped(m, threads, kv_types[kt], reference, want, cc, st, what);
            }
            free(buf);
        }
}

int main(void) {
    char path[256];
    ak_model *m = test_default_model("decode_group", AK_TYPE_Q8_0, path, sizeof path);
    if (!m) return check_finish("test_decode_group");
    check_model(m, "olmoe");
    refusals(m);
    ak_model_free(m);
    remove(path);

    /* deepseek2: latent attention (the cache row is the value), a dense layer, grouped
     * sigmoid routing with a selection bias, a shared expert (regression test
     * shared_expert_macs_counted_per_sequence: its MACs once went to the executing
     * context's counters instead of the sequences') */
    m = test_gen_model("deepseek2", 0, "decode_group_ds", path, sizeof path);
    if (m) check_model(m, "deepseek2");
    ak_model_free(m);
    remove(path);

    /* nemotron_h_moe: Mamba-2 layers whose recurrent state is each sequence's own (a run
     * continues it token after token), attention without RoPE, squared-ReLU experts */
    ak_gen_params gp;
    ak_gen_params_default(&gp, "nemotron_h_moe");
    snprintf(gp.vocab_kind, sizeof gp.vocab_kind, "bytes");
    gp.moe_latent = 32; /* experts in a latent space (ffn_latent_down / up around them) */
    m = test_gen_write_load(&gp, "decode_group_nh", path, sizeof path);
    if (m) check_model(m, "nemotron_h_moe");
    ak_model_free(m);
    remove(path);

    /* qwen35moe: Gated DeltaNet states per sequence, gated attention, a gated shared expert */
    m = test_gen_model("qwen35moe", 0, "decode_group_q35", path, sizeof path);
    if (m) check_model(m, "qwen35moe");
    ak_model_free(m);
    remove(path);
    return check_finish("test_decode_group");
}
