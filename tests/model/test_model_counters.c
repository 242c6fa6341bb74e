/* Exact compute counters on a hand-computable configuration, and routing statistics that
 * agree with the trace callback.
 *
 * Fixture (olmoe): 2 layers, n_embd 64, 4 heads of 16 (q_dim 64), 2 KV heads (kv_dim 32),
 * 6 experts of n_ff 32, native top-2, vocabulary 40, f32 weights.
 * Per token and layer:  projections 64*(64+32+32) + 64*64 = 12288, router 64*6 = 384,
 *                       QK+AV 2 * 64 * (pos+1), one expert 3*64*32 = 6144.
 * Per token:            head 64*40 = 2560.
 * One expert's weights: 3 * 32*64 * 4 bytes = 24576. */
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "fixture.h"
#include "model/model.h"
#include "quant/quant.h"

#define N_TOK 5
#define N_LAYER 2
#define N_EXPERT 6
static const int32_t tokens[N_TOK] = {1, 2, 3, 4, 5};

typedef struct {
    uint8_t used[N_LAYER][N_EXPERT];
    uint64_t k_sum[N_LAYER];
    int calls[N_LAYER];
    double max_wsum_err;
    int sink_calls, sink_tokens;
} trace_state;

static void trace(void *user, int layer, int pos, float entropy, int k, const int32_t *ids, const float *w) {
    trace_state *s = user;
    (void)entropy;
    (void)pos;
    s->k_sum[layer] += (uint64_t)k;
    s->calls[layer]++;
    double sum = 0;
    for (int i = 0; i < k; i++) {
        s->used[layer][ids[i]] = 1;
        sum += w[i];
    }
    if (k == N_EXPERT && fabs(sum - 1.0) > s->max_wsum_err) s->max_wsum_err = fabs(sum - 1.0);
}

static void sink(void *user, int layer, const float *logits, int n_tokens, int n_experts) {
    trace_state *s = user;
    (void)layer;
    (void)logits;
    s->sink_calls++;
    s->sink_tokens += n_tokens;
    CHECK(n_experts == N_EXPERT, "sink experts %d", n_experts);
}

static ak_context *make(ak_model *m, const ak_router_config *rc) { return test_context(m, 16, 8, 2, rc); }

/* A: all 6 experts, one token per call (so the native top-2 reads exactly 2 experts) */
static void test_all_experts(ak_model *m, const ak_router_config *rc) {
    ak_error err = {0};
    ak_context *c = make(m, rc);
    trace_state ts;
    memset(&ts, 0, sizeof ts);
    ak_context_set_trace(c, trace, &ts);
    for (int t = 0; t < N_TOK; t++) CHECK(ak_decode(c, &tokens[t], 1, &err) == 0, "decode: %s", err.msg);
    ak_compute_counters k;
    ak_context_counters(c, &k);
    /* sum over positions 0..4 of (pos+1) = 15 */
    CHECK(k.tokens == 5, "tokens %llu", (unsigned long long)k.tokens);
    CHECK(k.expert_macs == 2ull * 5 * 6 * 6144, "expert_macs %llu", (unsigned long long)k.expert_macs);
    CHECK(k.expert_macs_native == 2ull * 5 * 2 * 6144, "expert_macs_native %llu",
          (unsigned long long)k.expert_macs_native);
    CHECK(k.model_macs == 2ull * (5 * (12288 + 384 + 6 * 6144) + 128 * 15) + 5 * 2560, "model_macs %llu",
          (unsigned long long)k.model_macs);
    CHECK(k.model_macs_native == 2ull * (5 * (12288 + 384 + 2 * 6144) + 128 * 15) + 5 * 2560,
          "model_macs_native %llu", (unsigned long long)k.model_macs_native);
    CHECK(k.expert_bytes_read == 5ull * 2 * 6 * 24576, "bytes %llu", (unsigned long long)k.expert_bytes_read);
    CHECK(k.expert_bytes_read_native == 5ull * 2 * 2 * 24576, "bytes native %llu",
          (unsigned long long)k.expert_bytes_read_native);
    CHECK(ts.max_wsum_err < 1e-5, "all-expert weights sum to 1 (err %g)", ts.max_wsum_err);
    for (int l = 0; l < N_LAYER; l++) {
        const ak_layer_stats *s = ak_context_layer_stats(c, l);
        CHECK(s->n_tokens == 5 && s->k_sum == 30 && s->k_hist[6] == 5, "layer %d stats", l);
        CHECK(fabs(ak_stats_avg_k(s) - 6.0) < 1e-12, "avg k %g", ak_stats_avg_k(s));
        CHECK(ts.calls[l] == 5, "trace calls %d", ts.calls[l]);
    }
    CHECK(ak_context_layer_stats(c, N_LAYER) == NULL, "bad layer index");
    ak_context_reset_stats(c);
    ak_context_counters(c, &k);
    CHECK(k.tokens == 0 && k.model_macs == 0 && ak_context_layer_stats(c, 0)->n_tokens == 0, "reset");
    ak_context_free(c);
}

/* B: native top-2 as one batch: each expert any token uses is read once */
static void test_native_batch(ak_model *m, const ak_router_config *rc) {
    ak_error err = {0};
    ak_compute_counters k;
    trace_state ts;
    ak_context *c = make(m, NULL);
    memset(&ts, 0, sizeof ts);
    ak_context_set_trace(c, trace, &ts);
    ak_context_set_router_logits_sink(c, sink, &ts);
    CHECK(ak_decode(c, tokens, N_TOK, &err) == 0, "prefill: %s", err.msg);
    ak_context_counters(c, &k);
    uint64_t used = 0;
    for (int l = 0; l < N_LAYER; l++)
        for (int e = 0; e < N_EXPERT; e++) used += ts.used[l][e];
    CHECK(k.expert_bytes_read == used * 24576, "batch bytes %llu vs %llu experts",
          (unsigned long long)k.expert_bytes_read, (unsigned long long)used);
    CHECK(k.expert_bytes_read_native == k.expert_bytes_read, "native = actual under native routing");
    CHECK(k.model_macs == k.model_macs_native && k.expert_macs == 2ull * 5 * 2 * 6144, "native macs");
    CHECK(k.model_macs == 2ull * (5 * (12288 + 384 + 2 * 6144) + 128 * 15) + 5 * 2560, "batch model_macs %llu",
          (unsigned long long)k.model_macs);
    CHECK(ts.sink_calls == N_LAYER && ts.sink_tokens == N_LAYER * N_TOK, "sink %d calls %d tokens", ts.sink_calls,
          ts.sink_tokens);
    /* switching to a policy with more slots mid-sequence (buffers grow), then back */
    uint64_t before = k.expert_macs;
    CHECK(ak_context_set_routing(c, rc, &err) == 0, "set routing: %s", err.msg);
    CHECK(ak_decode(c, tokens, 1, &err) == 0, "decode after switch: %s", err.msg);
    ak_context_counters(c, &k);
    CHECK(k.expert_macs - before == 2ull * 6 * 6144, "all-expert token after switch: %llu",
          (unsigned long long)(k.expert_macs - before));
    CHECK(ak_context_set_routing(c, NULL, &err) == 0, "back to native: %s", err.msg);
    CHECK(ak_decode(c, tokens, 1, &err) == 0, "decode after switch back: %s", err.msg);
    ak_context_counters(c, &k);
    CHECK(k.expert_macs - before == 2ull * 8 * 6144, "native token after switch back");
    ak_router_config bad = *rc;
    bad.default_policy = ak_policy_fixed(0);
    CHECK(ak_context_set_routing(c, &bad, &err) == -1, "k = 0 refused");
    ak_context_free(c);
}

/* C: entropy policy: statistics, trace and counters tell the same story */
static void test_entropy(ak_model *m, ak_router_config rc) {
    ak_error err = {0};
    ak_compute_counters k;
    trace_state ts;
    rc.default_policy = ak_policy_entropy_default();
    ak_context *c = make(m, &rc);
    memset(&ts, 0, sizeof ts);
    ak_context_set_trace(c, trace, &ts);
    CHECK(ak_decode(c, tokens, 3, &err) == 0, "decode: %s", err.msg);
    CHECK(ak_decode(c, tokens + 3, 2, &err) == 0, "decode: %s", err.msg);
    ak_context_counters(c, &k);
    uint64_t ksum = 0;
    for (int l = 0; l < N_LAYER; l++) {
        const ak_layer_stats *s = ak_context_layer_stats(c, l);
        CHECK(s->k_sum == ts.k_sum[l], "layer %d k_sum %llu vs trace %llu", l, (unsigned long long)s->k_sum,
              (unsigned long long)ts.k_sum[l]);
        uint64_t h = 0;
        for (int kk = 0; kk <= N_EXPERT; kk++) h += s->k_hist[kk];
        CHECK(h == N_TOK && s->n_tokens == N_TOK, "layer %d histogram", l);
        ksum += s->k_sum;
    }
    CHECK(k.expert_macs == ksum * 6144, "expert_macs %llu vs k_sum %llu", (unsigned long long)k.expert_macs,
          (unsigned long long)ksum);
    CHECK(k.model_macs_native - k.model_macs == k.expert_macs_native - k.expert_macs, "only experts differ");
    /* truncate and re-decode: positions restart where asked */
    CHECK(ak_context_truncate(c, 2, &err) == 0, "truncate: %s", err.msg);
    CHECK(ak_context_n_past(c) == 2, "truncate");
    ak_context_reset(c);
    CHECK(ak_context_n_past(c) == 0, "reset");
    ak_context_free(c);
}

/* logits_last: the head runs for the batch's last token only. Its logits are those of the
 * all-logits context bit for bit, the others are not kept, and the counters miss exactly
 * the head's MACs of the other tokens (2560 each). */
static void test_logits_last(ak_model *m) {
    ak_error err = {0};
    ak_context_params cp = ak_context_default_params();
    cp.n_ctx = 16, cp.n_batch = 8, cp.n_threads = 2;
    ak_context *all = ak_context_new(m, &cp, &err);
    cp.logits_last = 1;
    ak_context *last = ak_context_new(m, &cp, &err);
    CHECK(all && last, "contexts: %s", err.msg);
    if (!all || !last) goto done;
    CHECK(ak_decode(all, tokens, N_TOK, &err) == 0 && ak_decode(last, tokens, N_TOK, &err) == 0, "decode: %s", err.msg);
    const float *a = ak_get_logits(all, -1), *b = ak_get_logits(last, -1);
    CHECK(a && b && memcmp(a, b, 40 * sizeof *a) == 0, "the last token's logits are the same");
    CHECK(ak_get_logits(last, 0) == NULL && ak_get_logits(last, N_TOK - 1) == b, "only the last token's are kept");
    ak_compute_counters ca, cb;
    ak_context_counters(all, &ca);
    ak_context_counters(last, &cb);
    CHECK(ca.model_macs - cb.model_macs == (uint64_t)(N_TOK - 1) * 2560, "head MACs: %llu vs %llu",
          (unsigned long long)ca.model_macs, (unsigned long long)cb.model_macs);
done:
    ak_context_free(all);
    ak_context_free(last);
}

int main(void) {
    char path[256];
    ak_model *m = test_default_model("counters", AK_TYPE_F32, path, sizeof path);
    if (!m) return check_finish("test_model_counters");

    ak_router_config rc;
    memset(&rc, 0, sizeof rc);
    snprintf(rc.name, sizeof rc.name, "all");
    rc.n_experts = N_EXPERT;
    rc.k_native = 2;
    rc.default_policy = ak_policy_fixed(N_EXPERT);
    test_all_experts(m, &rc);
    test_native_batch(m, &rc);
    test_entropy(m, rc);
    test_logits_last(m);

    ak_model_free(m);
    remove(path);
    return check_finish("test_model_counters");
}
