/* Forward pass of every architecture against the reference in ref.c; batch prefill against
 * token-by-token decoding; 1 thread against several; all-experts routing against the dense
 * mixture; K=1 against the native top-k; quantised weights. */
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "fixture.h"
#include "model/model.h"
#include "quant/quant.h"

#define N_TOK 9

static const int32_t tokens[N_TOK] = {3, 17, 0, 39, 5, 5, 22, 11, 30};

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) {
        double x = fabs((double)a[i] - b[i]);
        if (!(x <= d)) d = x; /* NaN propagates as a failure */
    }
    return d;
}

/* RMS of the difference relative to the RMS of b */
static double rel_rms(const float *a, const float *b, size_t n) {
    double dd = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        dd += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        bb += (double)b[i] * b[i];
    }
    return sqrt(dd / bb);
}

static void config_fixed(ak_router_config *rc, const ak_hparams *hp, int k) {
    memset(rc, 0, sizeof *rc);
    snprintf(rc->name, sizeof rc->name, "test-k%d", k);
    rc->n_experts = hp->n_expert;
    rc->k_native = hp->n_expert_used;
    rc->renormalize = hp->renormalize;
    rc->default_policy = ak_policy_fixed(k);
}

/* Runs the tokens either as one batch or one at a time; logits [N_TOK][n_vocab]. */
static int run(ak_model *m, int n_threads, const ak_router_config *rc, int one_by_one, float *out) {
    ak_error err = {0};
    ak_context *c = test_context_kv(m, 32, 16, n_threads, rc, AK_TYPE_F32); /* exact, as the reference */
    if (!c) return -1;
    const int V = ak_model_hparams(m)->n_vocab;
    int rc_ = 0;
    if (one_by_one) {
        for (int t = 0; t < N_TOK && !rc_; t++) {
            rc_ = ak_decode(c, &tokens[t], 1, &err);
            if (!rc_) memcpy(out + (size_t)t * V, ak_get_logits(c, -1), V * sizeof(float));
        }
    } else {
        rc_ = ak_decode(c, tokens, N_TOK, &err);
        for (int t = 0; t < N_TOK && !rc_; t++) memcpy(out + (size_t)t * V, ak_get_logits(c, t), V * sizeof(float));
        CHECK(ak_get_logits(c, N_TOK) == NULL, "logits past the batch");
    }
    CHECK(rc_ == 0, "decode: %s", err.msg);
    CHECK(ak_context_n_past(c) == N_TOK, "n_past %d", ak_context_n_past(c));
    ak_context_free(c);
    return rc_;
}

/* N_TOK tokens through a context with n_batch 4: in one ak_decode call (split internally
 * into batches of 4, 4, 1) or in three calls of those sizes. The last token's logits
 * [n_vocab] go to out; in one call, only the last batch's logits are kept. */
static int run_chunked(ak_model *m, int one_call, float *out) {
    ak_error err = {0};
    ak_context *c = test_context_kv(m, 32, 4, 2, NULL, AK_TYPE_F32);
    if (!c) return -1;
    const int V = ak_model_hparams(m)->n_vocab;
    int rc = 0;
    if (one_call) {
        rc = ak_decode(c, tokens, N_TOK, &err);
        CHECK(rc == 0 && ak_get_logits(c, N_TOK - 2) == NULL, "logits of an earlier batch are not kept");
        CHECK(rc == 0 && ak_get_logits(c, N_TOK - 1) == ak_get_logits(c, -1), "last token's logits");
    } else {
        for (int b0 = 0; b0 < N_TOK && !rc; b0 += 4)
            rc = ak_decode(c, tokens + b0, N_TOK - b0 < 4 ? N_TOK - b0 : 4, &err);
    }
    CHECK(rc == 0, "decode: %s", err.msg);
    if (!rc) memcpy(out, ak_get_logits(c, -1), V * sizeof(float));
    CHECK(ak_context_n_past(c) == N_TOK, "n_past %d", ak_context_n_past(c));
    ak_context_free(c);
    return rc;
}

/* fm written with weights of type wtype: batch and token-by-token decoding agree, and both
 * are within tol (relative RMS) of the float reference. */
static void check_type(const fx_model *fm, const char *arch, const char *path, int wtype, double tol, const float *ref,
                       float *batch, float *seq, size_t n, const char *note) {
    char what[64];
    snprintf(what, sizeof what, "%s %s", arch, ak_type_name(wtype));
    ak_model *m = test_write_load(fm, path, wtype, what);
    if (!m) return;
    run(m, 2, NULL, 0, batch);
    run(m, 1, NULL, 1, seq);
    double dq = max_abs_diff(batch, seq, n), dr = rel_rms(batch, ref, n);
    CHECK(dq < 1e-4, "%s: batch vs token-by-token %g", what, dq);
    CHECK(dr < tol, "%s: vs float reference %g", what, dr);
    printf("%-9s %-5s rel-rms-vs-ref %.2e  batch-vs-seq %.2e%s\n", arch, ak_type_name(wtype), dr, dq, note);
    ak_model_free(m);
    remove(path);
}

static void test_arch(const char *arch, int tied) {
    fx_params p = fx_default(arch);
    p.tied = tied;
    fx_model *fm = fx_build(&p);
    char path[256];
    tmp_path(path, sizeof path, arch);
    ak_model *m = test_write_load(fm, path, AK_TYPE_F32, arch);
    if (!m) {
        fx_free(fm);
        return;
    }
    const ak_hparams *hp = ak_model_hparams(m);
    CHECK(hp->tied_output == tied, "%s: tied %d", arch, hp->tied_output);
    const size_t n = (size_t)N_TOK * hp->n_vocab;
    float *batch = malloc(n * sizeof(float)), *seq = malloc(n * sizeof(float));
    float *thr = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));

    /* native top-k: engine against the reference, batch against sequential, 1 vs 3 threads */
    run(m, 1, NULL, 0, batch);
    run(m, 1, NULL, 1, seq);
    run(m, 3, NULL, 0, thr);
    ref_forward(fm, tokens, N_TOK, p.n_expert_used, ref);
    double d_ref = max_abs_diff(batch, ref, n), d_seq = max_abs_diff(batch, seq, n);
    double d_thr = max_abs_diff(batch, thr, n);
    CHECK(d_ref < 1e-3, "%s: engine vs reference max diff %g", arch, d_ref);
    CHECK(d_seq < 1e-4, "%s: batch vs token-by-token max diff %g", arch, d_seq);
    CHECK(d_thr == 0.0, "%s: 1 vs 3 threads max diff %g", arch, d_thr);

    /* more tokens than n_batch: the same as separate calls of n_batch tokens */
    {
        const int V = hp->n_vocab;
        float *one = malloc((size_t)V * sizeof(float)), *sep = malloc((size_t)V * sizeof(float));
        if (!run_chunked(m, 1, one) && !run_chunked(m, 0, sep)) {
            double d_split = max_abs_diff(one, sep, (size_t)V);
            double d_whole = max_abs_diff(one, batch + (size_t)(N_TOK - 1) * V, (size_t)V);
            CHECK(d_split == 0.0, "%s: one call over n_batch vs batches of n_batch: max diff %g", arch, d_split);
            CHECK(d_whole < 1e-4, "%s: split batches vs one batch: max diff %g", arch, d_whole);
        }
        free(one);
        free(sep);
    }

    /* all experts = the dense softmax mixture */
    ak_router_config rc;
    config_fixed(&rc, hp, hp->n_expert);
    run(m, 2, &rc, 0, batch);
    ref_forward(fm, tokens, N_TOK, hp->n_expert, ref);
    double d_all = max_abs_diff(batch, ref, n);
    CHECK(d_all < 1e-3, "%s: all experts vs dense reference max diff %g", arch, d_all);

    /* K = 1 is a different model output, and matches the reference at K = 1 */
    config_fixed(&rc, hp, 1);
    run(m, 2, &rc, 0, thr);
    run(m, 1, NULL, 0, seq);
    double d_k1 = max_abs_diff(thr, seq, n);
    CHECK(d_k1 > 1e-2, "%s: K=1 should differ from native, max diff %g", arch, d_k1);
    ref_forward(fm, tokens, N_TOK, 1, ref);
    CHECK(max_abs_diff(thr, ref, n) < 1e-3, "%s: K=1 vs reference %g", arch, max_abs_diff(thr, ref, n));
    ak_model_free(m);
    remove(path);

    /* quantised weights: batch == sequential, and close to the float reference */
    const int qtypes[] = {AK_TYPE_F16, AK_TYPE_BF16, AK_TYPE_Q8_0, AK_TYPE_Q4_0};
    /* relative RMS error against the float model: weights and activations are rounded */
    const double qtol[] = {0.01, 0.05, 0.05, 0.25};
    ref_forward(fm, tokens, N_TOK, p.n_expert_used, ref);
    for (int qi = 0; qi < 4; qi++) {
        if (!ak_type_supported(qtypes[qi])) {
            printf("%s: type %d not supported by this build, skipped\n", arch, qtypes[qi]);
            continue;
        }
        check_type(fm, arch, path, qtypes[qi], qtol[qi], ref, batch, seq, n, "");
    }
    printf("%-9s f32   engine-vs-ref %.2e  batch-vs-seq %.2e  all-experts %.2e  k1-vs-native %.2e\n", arch,
           d_ref, d_seq, d_all, d_k1);
    free(batch);
    free(seq);
    free(thr);
    free(ref);
    fx_free(fm);
}

/* K-quants need rows of 256: a wider model, checked against the float reference. */
static void test_kquants(const char *arch) {
    fx_params p = fx_default(arch);
    p.n_embd = 256;
    p.n_ff = 256;
    p.n_head = 4;
    p.head_dim = 64;
    p.n_head_kv = 2;
    if (p.n_ff_shexp) p.n_ff_shexp = 512;
    fx_model *fm = fx_build(&p);
    char path[256];
    tmp_path(path, sizeof path, "kq");
    const size_t n = (size_t)N_TOK * p.n_vocab;
    float *batch = malloc(n * sizeof(float)), *seq = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
    ref_forward(fm, tokens, N_TOK, p.n_expert_used, ref);
    const int types[] = {AK_TYPE_Q4_K, AK_TYPE_Q5_K, AK_TYPE_Q6_K};
    const double tol[] = {0.25, 0.12, 0.05};
    for (int i = 0; i < 3; i++) check_type(fm, arch, path, types[i], tol[i], ref, batch, seq, n, " (n_embd 256)");
    free(batch);
    free(seq);
    free(ref);
    fx_free(fm);
}

/* KV cache types: f16 and q8_0 caches give logits close to the f32 cache (the engine's
 * reference); a type the head dimension cannot hold is refused with a message. */
static void test_kv_types(void) {
    fx_params p = fx_default("olmoe");
    p.n_embd = 128, p.n_head = 4, p.n_head_kv = 4, p.head_dim = 32;
    fx_model *fm = fx_build(&p);
    char path[256];
    tmp_path(path, sizeof path, "kvt");
    ak_model *m = test_write_load(fm, path, AK_TYPE_F32, "kv types");
    const int V = p.n_vocab, types[3] = {AK_TYPE_F32, AK_TYPE_F16, AK_TYPE_Q8_0};
    float *logits[3];
    for (int i = 0; i < 3 && m; i++) {
        logits[i] = malloc((size_t)V * sizeof(float));
        ak_context_params cp = ak_context_default_params();
        cp.n_ctx = 32, cp.n_batch = 16, cp.n_threads = 2, cp.type_k = cp.type_v = types[i];
        ak_error err = {0};
        ak_context *c = ak_context_new(m, &cp, &err);
        CHECK(c && ak_decode(c, tokens, N_TOK, &err) == 0, "%s cache: %s", ak_type_name(types[i]), err.msg);
        if (c) memcpy(logits[i], ak_get_logits(c, -1), (size_t)V * sizeof(float));
        ak_context_free(c);
    }
    for (int i = 1; i < 3 && m; i++) {
        double d = 0;
        for (int v = 0; v < V; v++) d = fmax(d, fabs(logits[i][v] - logits[0][v]));
        CHECK(d > 0 && d < 2e-2, "%s cache: max |logit - f32 cache's| %g", ak_type_name(types[i]), d);
    }
    for (int i = 0; i < 3 && m; i++) free(logits[i]);
    ak_model_free(m);
    remove(path);
    fx_free(fm);

    p.head_dim = 16, p.n_embd = 64; /* q8_0 rows need a multiple of 32 */
    fm = fx_build(&p);
    m = test_write_load(fm, path, AK_TYPE_F32, "kv types, head_dim 16");
    ak_context_params cp = ak_context_default_params();
    cp.n_ctx = 8, cp.type_k = AK_TYPE_Q8_0;
    ak_error err = {0};
    ak_context *c = m ? ak_context_new(m, &cp, &err) : NULL;
    CHECK(!c && err.code == AK_ERR_INVALID_ARG && strstr(err.msg, "multiple of 32"), "%s", err.msg);
    ak_model_free(m);
    remove(path);
    fx_free(fm);
}

int main(void) {
    test_kv_types();
    test_arch("olmoe", 0);
    test_arch("qwen2moe", 0);
    test_arch("qwen3moe", 0);
    test_arch("llama", 1);
    test_kquants("olmoe");
    test_kquants("qwen2moe");
    return check_finish("test_model_forward");
}
