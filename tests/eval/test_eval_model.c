/* test_eval_model.c - evaluation over a generated model (2 layers, 8 experts, top-2,
 * embd 64, expert width 32, F32):
 *   - the routing ledger: expert MACs and bytes per layer by hand for fixed K, bytes equal
 *     to an independent re-routing of the router logits, the layers summing exactly to the
 *     engine's counters for every policy, and no native baseline when switched off;
 *   - calibration on one token stream (recorded router logits) reaching the target
 *     average K within 2% when the calibrated config routes a different stream. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check.h"
#include "eval/calib.h"
#include "model/gen_model.h"
#include "model/model.h"


enum { L = 2, E = 64, X = 8, K = 2, FF = 32, CTX = 128 };

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static int32_t next_token(int n_vocab) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (int32_t)(rng % (uint64_t)n_vocab);
}

static ak_router_config config(ak_policy p) { return ak_config_uniform(X, K, 0, p); }

/* Runs batches of 16 tokens and then 4 single tokens; returns 0 or -1. */
static int run(ak_context *ctx, int n_vocab) {
    ak_error err = {0};
    int32_t t[16];
    ak_context_reset(ctx);
    for (int i = 0; i < 16; i++) t[i] = next_token(n_vocab);
    if (ak_decode(ctx, t, 16, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        t[0] = next_token(n_vocab);
        if (ak_decode(ctx, t, 1, &err)) return -1;
    }
    return 0;
}

/* Distinct experts chosen by each batch, routed independently of the engine from the
 * router logits it hands out (a check on the ledger's "bytes read"). */
typedef struct {
    ak_policy policy;
    uint64_t unique[L];
} reroute;

static void reroute_sink(void *user, int layer, const float *logits, int n_tokens, int n_experts) {
    reroute *r = user;
    int k[16], slots = ak_policy_max_k(&r->policy, n_experts);
    int32_t ids[16 * X];
    float w[16 * X];
    ak_route_out ro = {n_tokens, slots, k, ids, w, NULL};
    if (n_tokens > 16 || ak_route(&r->policy, logits, n_tokens, n_experts, 0, &ro, NULL) != AK_OK) return;
    unsigned char mark[X] = {0};
    for (int t = 0; t < n_tokens; t++)
        for (int s = 0; s < k[t]; s++)
            if (!mark[ids[t * slots + s]]) mark[ids[t * slots + s]] = 1, r->unique[layer]++;
}

static void test_ledger(const ak_model *m) {
    ak_error err = {0};
    const int n_vocab = ak_model_hparams(m)->n_vocab;
    ak_context_params cp = ak_context_default_params();
    cp.n_ctx = CTX;
    cp.n_batch = 16;
    cp.n_threads = 1;
    ak_context *ctx = ak_context_new(m, &cp, &err);
    CHECK(ctx, "%s", err.msg);
    if (!ctx) return;
    const uint64_t macs = 3ull * E * FF;        /* gate, up, down of one expert, one token */
    const uint64_t bytes = 3ull * E * FF * 4;   /* F32 */
    const ak_policy policies[4] = {ak_policy_fixed(1), ak_policy_fixed(3), ak_policy_top_p(0.6f, 1, X),
                                   ak_policy_ratio(0.3f, 1, 4)};
    for (int pi = 0; pi < 4; pi++) {
        ak_router_config cfg = config(policies[pi]);
        reroute rr = {policies[pi], {0}};
        CHECK(ak_context_set_routing(ctx, &cfg, &err) == 0, "%s", err.msg);
        ak_context_set_router_logits_sink(ctx, reroute_sink, &rr);
        ak_context_reset_stats(ctx);
        if (run(ctx, n_vocab)) {
            failures++;
            continue;
        }
        ak_compute_counters cc;
        ak_context_counters(ctx, &cc);
        uint64_t sum_macs = 0, sum_native = 0, sum_bytes = 0, sum_bytes_native = 0;
        for (int l = 0; l < L; l++) {
            const ak_layer_ledger *g = ak_context_ledger(ctx, l);
            CHECK(g && g->k.n_tokens == 20, "policy %d layer %d: 20 tokens", pi, l);
            if (!g) continue;
            sum_macs += g->expert_macs, sum_native += g->expert_macs_native;
            sum_bytes += g->expert_bytes, sum_bytes_native += g->expert_bytes_native;
            CHECK(g->expert_macs == g->k.k_sum * macs, "policy %d layer %d: MACs = K sum x one expert", pi, l);
            CHECK(g->expert_macs_native == 20ull * K * macs, "native MACs by hand");
            CHECK(g->expert_bytes == rr.unique[l] * bytes, "policy %d layer %d: bytes %llu, rerouted %llu experts", pi,
                  l, (unsigned long long)g->expert_bytes, (unsigned long long)rr.unique[l]);
            if (policies[pi].kind == AK_POLICY_FIXED) {
                const uint64_t k = (uint64_t)policies[pi].k;
                CHECK(g->expert_macs == 20 * k * macs, "policy %d layer %d: MACs %llu want 20*%llu*3*64*32", pi, l,
                      (unsigned long long)g->expert_macs, (unsigned long long)k);
                /* 4 single-token batches each read exactly k experts; the 16-token batch
                 * reads between k and 8 */
                CHECK(g->expert_bytes >= (4 * k + k) * bytes && g->expert_bytes <= (4 * k + X) * bytes,
                      "policy %d layer %d: bytes %llu", pi, l, (unsigned long long)g->expert_bytes);
            }
        }
        CHECK(sum_macs == cc.expert_macs && sum_native == cc.expert_macs_native, "policy %d: ledger MACs = counters",
              pi);
        CHECK(sum_bytes == cc.expert_bytes_read && sum_bytes_native == cc.expert_bytes_read_native,
              "policy %d: ledger bytes = counters", pi);
        /* whole model: the engine's count by hand for fixed K = 1 (the rest of the model
         * is the same for both, so the difference is exactly the expert MACs saved) */
        if (pi == 0)
            CHECK(cc.model_macs_native - cc.model_macs == 20ull * L * (K - 1) * macs, "model MACs difference %llu",
                  (unsigned long long)(cc.model_macs_native - cc.model_macs));
    }
    /* without the native baseline the ledger skips the second routing */
    ak_context_set_router_logits_sink(ctx, NULL, NULL);
    ak_context_set_native_baseline(ctx, 0);
    ak_context_reset_stats(ctx);
    const uint64_t rng_before = rng; /* the calibration test below keeps its token streams */
    int rc = run(ctx, n_vocab);
    rng = rng_before;
    if (!rc) {
        const ak_layer_ledger *g = ak_context_ledger(ctx, 0);
        CHECK(g->expert_macs > 0 && g->expert_macs_native == 0 && g->expert_bytes_native == 0, "no native baseline");
    }
    ak_context_free(ctx);
}

/* Regression (a 64-expert model's sweep stopped on it): an entropy policy of three levels
 * whose thresholds are placed at each layer's quantiles (all zero before calibration),
 * calibrated with one shared parameter, left its uncalibrated default policy in the config,
 * which then failed validation when a context took it. */
static void regression_calibrated_default_invalid(const ak_router_record *rec, const ak_hparams *hp, ak_context *ctx) {
    const int levels[3] = {1, 2, 4};
    const float zero[2] = {0, 0};
    const ak_policy base = ak_policy_entropy(3, levels, zero, AK_ENTROPY_NATS);
    ak_error err = {0};
    for (int per_layer = 0; per_layer <= 1; per_layer++) {
        ak_router_config cfg;
        double got = 0;
        if (ak_calibrate_on_record(rec, hp, &base, 1.7, per_layer, &cfg, &got, &err)) {
            CHECK(0, "%s", err.msg);
            continue;
        }
        ak_error e;
        CHECK(ak_config_validate(&cfg, &e) == AK_OK, "calibrated config (per layer %d): %s", per_layer, e.msg);
        CHECK(ak_context_set_routing(ctx, &cfg, &err) == 0, "%s", err.msg);
        ak_config_free(&cfg);
    }
}

/* Feeds n chunks of CTX random tokens. */
static int feed(ak_context *ctx, int n_vocab, int chunks) {
    ak_error err = {0};
    int32_t t[CTX];
    for (int c = 0; c < chunks; c++) {
        ak_context_reset(ctx);
        for (int i = 0; i < CTX; i++) t[i] = next_token(n_vocab);
        if (ak_decode(ctx, t, CTX, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return -1;
        }
    }
    return 0;
}

static double avg_k(const ak_context *ctx) {
    uint64_t k = 0, n = 0;
    for (int l = 0; l < L; l++) {
        k += ak_context_layer_stats(ctx, l)->k_sum;
        n += ak_context_layer_stats(ctx, l)->n_tokens;
    }
    return (double)k / (double)n;
}

static void test_calibration(const ak_model *m) {
    ak_error err = {0};
    const ak_hparams *hp = ak_model_hparams(m);
    ak_context_params cp = ak_context_default_params();
    cp.n_ctx = CTX;
    cp.n_batch = CTX;
    cp.n_threads = 1;
    ak_context *ctx = ak_context_new(m, &cp, &err);
    CHECK(ctx, "%s", err.msg);
    if (!ctx) return;
    ak_router_record rec;
    CHECK(ak_router_record_init(&rec, L, X, 40 * CTX, &err) == 0, "%s", err.msg);
    ak_context_set_router_logits_sink(ctx, ak_router_record_sink, &rec);
    CHECK(feed(ctx, hp->n_vocab, 30) == 0, "calibration stream");
    ak_context_set_router_logits_sink(ctx, NULL, NULL);
    CHECK(ak_router_record_finish(&rec, &err) == 30 * CTX, "%s", err.msg);
    const int levels[2] = {1, 2};
    const float zero[1] = {0};
    const ak_policy bases[3] = {ak_policy_entropy(2, levels, zero, AK_ENTROPY_NATS), ak_policy_top_p(0.5f, 1, K),
                                ak_policy_ratio(0.5f, 1, K)};
    const double targets[2] = {1.3, 1.7};
    for (int b = 0; b < 3; b++)
        for (int per_layer = 0; per_layer <= 1; per_layer++)
            for (int t = 0; t < 2; t++) {
                ak_router_config cfg;
                double got = 0;
                if (ak_calibrate_on_record(&rec, hp, &bases[b], targets[t], per_layer, &cfg, &got, &err)) {
                    CHECK(0, "policy %d target %.2f: %s", b, targets[t], err.msg);
                    continue;
                }
                CHECK(cfg.n_layers == 0 || cfg.n_layers == L, "layers %d", cfg.n_layers);
                CHECK(fabs(got - targets[t]) / targets[t] < 0.02, "on calibration data %.4f", got);
                CHECK(ak_context_set_routing(ctx, &cfg, &err) == 0, "%s", err.msg);
                ak_context_reset_stats(ctx);
                CHECK(feed(ctx, hp->n_vocab, 10) == 0, "evaluation stream");
                const double k = avg_k(ctx);
                CHECK(fabs(k - targets[t]) / targets[t] < 0.02,
                      "policy %s %s target %.2f: average K %.4f on other tokens (more than 2%% off)",
                      ak_policy_kind_name(bases[b].kind), per_layer ? "per layer" : "global", targets[t], k);
                ak_config_free(&cfg);
            }
    regression_calibrated_default_invalid(&rec, hp, ctx);
    ak_router_record_free(&rec);
    ak_context_free(ctx);
}

int main(void) {
    char path[512];
    ak_error err = {0};
    const char *d = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/ak_eval_model_%d.gguf", d && *d ? d : "/tmp", (int)getpid());
    ak_gen_params gp;
    ak_gen_params_default(&gp, "olmoe");
    snprintf(gp.vocab_kind, sizeof gp.vocab_kind, "bytes");
    gp.seed = 11;
    if (ak_gen_model_write(&gp, path, 1, &err)) {
        fprintf(stderr, "gen model: %s\n", err.msg);
        return 1;
    }
    ak_model *m = ak_model_load(path, &err);
    remove(path);
    if (!m) {
        fprintf(stderr, "load: %s\n", err.msg);
        return 1;
    }
    const ak_hparams *hp = ak_model_hparams(m);
    CHECK(hp->n_layer == L && hp->n_embd == E && hp->n_expert == X && hp->n_expert_used == K && hp->n_ff_exp == FF,
          "generated shape");
    test_ledger(m);
    test_calibration(m);
    ak_model_free(m);
    return check_finish("test_eval_model");
}
