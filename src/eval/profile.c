/* profile.c - per-layer sensitivity to fewer experts (see profile.h). */
#include "eval/profile.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "eval/compare.h"
#include "base/errfmt.h"

int ak_profile_init(ak_profile *p, const ak_model *m, int64_t cap, ak_error *err) {
    memset(p, 0, sizeof *p);
    const ak_hparams *hp = ak_model_hparams(m);
    if (hp->n_embd_moe != hp->n_embd)
        return ak_failf(err, AK_ERR_INVALID_ARG, "profile: the experts of this %s model work in a latent space of %d "
                        "(moe_latent_size), which the profile's prefix errors do not cover yet; calibrate it with "
                        "`adaptive-k calibrate` (one parameter or per layer) instead", hp->arch, hp->n_embd_moe);
    /* the record's layers are the model's layers with experts (a dense lead layer, a hybrid's
     * recurrent or attention-only block has none): the profile's layer l is model layer layer_of[l] */
    if (ak_router_record_init_model(&p->router, m, cap, err)) return -1;
    p->n_layer = p->router.n_layer;
    p->n_model_layer = hp->n_layer;
    p->layer_of = p->router.layer_of;
    p->n_expert = hp->n_expert;
    p->k_native = hp->n_expert_used;
    p->renormalize = hp->renormalize;
    p->n_embd = hp->n_embd;
    p->stride = p->k_native + 2;
    p->cap = cap;
    const size_t LK = (size_t)p->n_layer * (size_t)p->k_native;
    p->err = malloc((size_t)p->n_layer * (size_t)cap * (size_t)p->stride * sizeof *p->err);
    p->filled = calloc((size_t)p->n_layer, sizeof *p->filled);
    double **tables[] = {&p->proxy, &p->proxy_out, &p->kl, &p->kl_err, &p->dnll, &p->dnll_err};
    int ok = p->err && p->filled;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) ok &= (*tables[i] = calloc(LK, sizeof(double))) != NULL;
    ok &= (p->alpha = calloc((size_t)p->n_layer, sizeof(double))) != NULL;
    ok &= (p->entropy_pct = calloc((size_t)p->n_layer * 3, sizeof(double))) != NULL;
    ok &= (p->scratch = malloc((size_t)p->n_embd * sizeof(float))) != NULL;
    if (!ok) {
        ak_profile_free(p);
        return ak_failf(err, AK_ERR_NOMEM, "profile: out of memory for %lld tokens", (long long)cap);
    }
    for (size_t i = 0; i < LK; i++) p->kl[i] = p->kl_err[i] = p->dnll[i] = p->dnll_err[i] = NAN;
    for (int l = 0; l < p->n_layer; l++) p->alpha[l] = 1.0;
    return 0;
}

void ak_profile_free(ak_profile *p) {
    free(p->err);
    free(p->filled);
    free(p->proxy), free(p->proxy_out), free(p->kl), free(p->kl_err), free(p->dnll), free(p->dnll_err);
    free(p->alpha);
    free(p->entropy_pct);
    free(p->scratch);
    ak_router_record_free(&p->router);
    memset(p, 0, sizeof *p);
}

/* Adds slot s of token t to the running sum acc as the engine adds it (forward.c, moe):
 * the first slot is stored, the others added, in slot order. */
static void prefix_add(const ak_expert_outputs *o, int t, int s, float *acc) {
    const int E = o->n_embd;
    const float w = o->weights[(size_t)t * o->slots + s];
    const float *y = o->rows + (size_t)o->row[(size_t)t * o->slots + s] * E;
    if (s == 0)
        for (int i = 0; i < E; i++) acc[i] = y[i] * w;
    else
        for (int i = 0; i < E; i++) acc[i] += y[i] * w;
}

/* What top-j weights the first j slots by, relative to the native weights: 1, or with
 * renormalisation the sum of the k[t] weights over the sum of the first j. */
static float prefix_scale(const ak_expert_outputs *o, int t, int j, int renormalize) {
    if (!renormalize || j >= o->k[t]) return 1.0f;
    const float *w = o->weights + (size_t)t * o->slots;
    double wj = 0, wk = 0;
    for (int s = 0; s < o->k[t]; s++) {
        if (s < j) wj += w[s];
        else wk += w[s];
    }
    return wj > 0 ? (float)((wj + wk) / wj) : 0.0f;
}

void ak_profile_prefix(const ak_expert_outputs *o, int t, int j, int renormalize, float *out) {
    const int E = o->n_embd;
    if (j <= 0) {
        memset(out, 0, (size_t)E * sizeof *out);
        return;
    }
    for (int s = 0; s < j; s++) prefix_add(o, t, s, out);
    const float scale = prefix_scale(o, t, j, renormalize);
    if (scale != 1.0f)
        for (int i = 0; i < E; i++) out[i] *= scale;
}

/* ||y_j - y_K||^2 for j = 1..K (the prefix grown one slot at a time: the same operations
 * as ak_profile_prefix), then ||y_K||^2 and ||h||^2, of token t. */
static void token_errors(const ak_profile *p, const ak_expert_outputs *o, int t, float *rec) {
    const int E = o->n_embd, K = p->k_native;
    const float *sum = o->sum + (size_t)t * E, *res = o->residual + (size_t)t * E;
    double ny = 0, nh = 0;
    for (int i = 0; i < E; i++) {
        ny += (double)sum[i] * sum[i];
        nh += ((double)res[i] + sum[i]) * ((double)res[i] + sum[i]);
    }
    for (int j = 1; j <= K; j++) {
        prefix_add(o, t, j - 1, p->scratch);
        const float scale = prefix_scale(o, t, j, p->renormalize);
        double d = 0;
        for (int i = 0; i < E; i++) {
            const float v = scale != 1.0f ? p->scratch[i] * scale : p->scratch[i];
            d += ((double)v - sum[i]) * ((double)v - sum[i]);
        }
        rec[j - 1] = (float)d;
    }
    rec[K] = (float)ny;
    rec[K + 1] = (float)nh;
}

void ak_profile_sink(void *user, const ak_expert_outputs *o) {
    ak_profile *p = user;
    const int l = o->layer >= 0 && o->layer < p->n_model_layer ? p->router.index_of[o->layer] : -1;
    if (l < 0 || o->n_embd != p->n_embd) return;
    for (int t = 0; t < o->n_tokens; t++) {
        if (o->k[t] != p->k_native) p->bad_k = 1;
        if (p->filled[l] >= p->cap) return;
        float *rec = p->err + ((size_t)l * (size_t)p->cap + (size_t)p->filled[l]) * (size_t)p->stride;
        token_errors(p, o, t, rec);
        p->filled[l]++;
    }
}

double ak_profile_token_cost(const ak_profile *p, int l, int64_t t, int j) {
    const float *rec = p->err + ((size_t)l * (size_t)p->cap + (size_t)t) * (size_t)p->stride;
    const int K = p->k_native;
    if (j >= K) return 0.0;
    return rec[K + 1] > 0 ? p->alpha[l] * (double)rec[j - 1] / (double)rec[K + 1] : 0.0;
}

/* Means over tokens of the two normalised errors, per layer and j. */
static void proxy_tables(ak_profile *p) {
    const int K = p->k_native;
    for (int l = 0; l < p->n_layer; l++)
        for (int j = 1; j <= K; j++) {
            double a = 0, b = 0;
            for (int64_t t = 0; t < p->n_tokens; t++) {
                const float *rec = p->err + ((size_t)l * (size_t)p->cap + (size_t)t) * (size_t)p->stride;
                if (rec[K + 1] > 0) a += (double)rec[j - 1] / rec[K + 1];
                if (rec[K] > 0) b += (double)rec[j - 1] / rec[K];
            }
            p->proxy[l * K + j - 1] = a / (double)p->n_tokens;
            p->proxy_out[l * K + j - 1] = b / (double)p->n_tokens;
        }
}

/* A config running layer `layer` at top-j and every other layer at the native top-K. */
static int one_layer_config(const ak_profile *p, int layer, int j, ak_router_config *cfg, ak_error *err) {
    *cfg = ak_config_uniform(p->n_expert, p->k_native, p->renormalize, ak_policy_fixed(p->k_native));
    snprintf(cfg->name, sizeof cfg->name, "profile-l%d-k%d", p->layer_of[layer], j);
    ak_error e;
    if (ak_config_set_layers(cfg, p->n_model_layer, &e) != AK_OK) return ak_failf(err, e.code, "profile: %s", e.msg);
    cfg->layers[p->layer_of[layer]] = ak_policy_fixed(j);
    return 0;
}

/* alpha[l]: least squares through the origin of the exact measure (KL, or the NLL change)
 * on proxy(l, j), j < K. */
static void fit_alpha(ak_profile *p) {
    const int K = p->k_native;
    for (int l = 0; l < p->n_layer; l++) {
        double xy = 0, xx = 0, xy_kl = 0;
        for (int j = 1; j < K; j++) {
            double x = p->proxy[l * K + j - 1], kl = p->kl[l * K + j - 1], dn = p->dnll[l * K + j - 1];
            if (!isfinite(kl)) continue;
            xy += x * (p->objective == AK_OBJECTIVE_NLL && isfinite(dn) ? dn : kl), xx += x * x, xy_kl += x * kl;
        }
        double a_kl = xx > 0 && xy_kl > 0 ? xy_kl / xx : 1.0;
        /* a layer whose NLL change is lost in the noise keeps a quarter of its KL scale */
        p->alpha[l] = p->objective == AK_OBJECTIVE_NLL ? fmax(xx > 0 ? xy / xx : 0.0, 0.25 * a_kl) : a_kl;
    }
}

void ak_profile_set_objective(ak_profile *p, ak_objective o) {
    p->objective = o;
    if (p->has_exact) fit_alpha(p);
}

/* Every layer alone at every top-j < K over the first `chunks` chunks, against native. */
static int exact_runs(ak_profile *p, ak_context *c, const int32_t *tokens, int64_t n_tokens, const ak_ppl_params *pp,
                      int chunks, FILE *progress, ak_error *err) {
    const int K = p->k_native;
    ak_ppl_params ep = *pp;
    ep.n_chunks = chunks;
    ep.progress = NULL;
    ak_compare_base *base = NULL;
    int rc = 0;
    for (int l = 0; l < p->n_layer && !rc; l++)
        for (int j = 1; j < K && !rc; j++) {
            ak_router_config cfg;
            ak_compare m;
            if ((rc = one_layer_config(p, l, j, &cfg, err))) break;
            rc = ak_compare_run(c, tokens, n_tokens, &ep, &cfg, &base, &m, err);
            ak_config_free(&cfg);
            if (rc) break;
            p->kl[l * K + j - 1] = m.kl.kld, p->kl_err[l * K + j - 1] = m.kl.kld_err;
            p->dnll[l * K + j - 1] = m.kl.ln_ratio, p->dnll_err[l * K + j - 1] = m.kl.ln_ratio_err;
            p->exact_scored = m.kl.count;
            if (progress)
                fprintf(progress, "profile: layer %d at top-%d: KL %.5f +/- %.5f, NLL %+.5f +/- %.5f\n", p->layer_of[l], j, m.kl.kld,
                        m.kl.kld_err, m.kl.ln_ratio, m.kl.ln_ratio_err);
        }
    ak_compare_base_free(base);
    if (rc) return -1;
    p->has_exact = 1;
    fit_alpha(p);
    return ak_context_set_routing(c, NULL, err);
}

static void entropy_percentiles(ak_profile *p, const ak_context *c) {
    for (int l = 0; l < p->n_layer; l++) {
        const ak_layer_stats *s = ak_context_layer_stats(c, p->layer_of[l]);
        const double q[3] = {0.1, 0.5, 0.9};
        for (int i = 0; i < 3; i++) p->entropy_pct[l * 3 + i] = ak_stats_entropy_percentile(s, q[i]);
    }
}

/* The native run with both sinks: router logits and per-token prefix errors. */
static int record(ak_profile *p, ak_context *c, const int32_t *tokens, int64_t n_tokens, const ak_ppl_params *pp,
                  ak_error *err) {
    ak_ppl_result r;
    ak_router_record_reset(&p->router);
    memset(p->filled, 0, (size_t)p->n_layer * sizeof *p->filled);
    p->bad_k = 0;
    ak_context_reset_stats(c);
    ak_context_set_router_logits_sink(c, ak_router_record_sink, &p->router);
    ak_context_set_expert_outputs_sink(c, ak_profile_sink, p);
    int rc = ak_perplexity(c, tokens, n_tokens, pp, &r, err);
    ak_context_set_router_logits_sink(c, NULL, NULL);
    ak_context_set_expert_outputs_sink(c, NULL, NULL);
    if (rc) return -1;
    if (p->bad_k) return ak_failf(err, AK_ERR_INVALID_ARG, "profile: the recording was not at the native top-%d", p->k_native);
    int64_t T = ak_router_record_finish(&p->router, err);
    if (T < 0) return -1;
    for (int l = 0; l < p->n_layer; l++)
        if (p->filled[l] != T)
            return ak_failf(err, AK_ERR_INVALID_ARG, "profile: layer %d recorded %lld tokens, the record %lld (more than %lld?)", p->layer_of[l],
                             (long long)p->filled[l], (long long)T, (long long)p->cap);
    p->n_tokens = T;
    p->base_ppl = r.ppl;
    return 0;
}

int ak_profile_run(ak_profile *p, ak_context *c, const int32_t *tokens, int64_t n_tokens, const ak_ppl_params *pp,
                   int exact_chunks, FILE *progress, ak_error *err) {
    if (ak_context_set_routing(c, NULL, err) || record(p, c, tokens, n_tokens, pp, err)) return -1;
    entropy_percentiles(p, c);
    proxy_tables(p);
    const int whole = (int)(n_tokens / pp->n_ctx);
    const int n_run = pp->n_chunks > 0 && pp->n_chunks < whole ? pp->n_chunks : whole;
    p->exact_chunks = exact_chunks < n_run ? exact_chunks : n_run;
    return p->exact_chunks > 0 ? exact_runs(p, c, tokens, n_tokens, pp, p->exact_chunks, progress, err) : 0;
}

void ak_profile_random_tokens(int32_t *out, int64_t n, int n_vocab, uint64_t seed) {
    uint64_t x = seed ? seed : 0x2545f4914f6cdd1dull;
    for (int64_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        out[i] = (int32_t)(x % (uint64_t)n_vocab);
    }
}
