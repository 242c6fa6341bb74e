/* test_profile_alloc.c - sensitivity profile and per-layer budgets on generated models
 * (2 layers, 8 experts, top-2 olmoe; top-4 qwen3moe with renormalised weights):
 *   - the prefix of the engine's weighted sum that the profile forms for top-j equals
 *     the layer's output when the engine itself runs that layer at top-j (the other
 *     layers native): bit for bit without renormalisation, within float rounding with it
 *     (||difference|| / ||output|| < 1e-6: the engine rescales the weights before summing);
 *   - the proxy at j = K is 0 and falls with j; the exact runs fill the KL table;
 *   - the allocator meets the budget exactly (budgets sum to n_layers x target), the
 *     config's average K on the profiled router logits is within 1% of the target, and
 *     bad targets are clear errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check.h"
#include "eval/allocate.h"
#include "eval/profile.h"
#include "model/gen_model.h"
#include "model/model.h"

enum { CTX = 64, CHUNKS = 12 };

/* The expert outputs of one layer in one batch, copied out of the sink. */
typedef struct {
    int layer, n_tok, E, S;
    int k[CTX], row[CTX * 8];
    float w[CTX * 8];
    float *rows, *sum;
    int renormalize;
} capture;

static void capture_sink(void *user, const ak_expert_outputs *o) {
    capture *c = user;
    if (o->layer != c->layer || c->rows) return; /* the first batch only */
    c->n_tok = o->n_tokens, c->E = o->n_embd, c->S = o->slots;
    memcpy(c->k, o->k, (size_t)o->n_tokens * sizeof(int));
    memcpy(c->row, o->row, (size_t)o->n_tokens * o->slots * sizeof(int));
    memcpy(c->w, o->weights, (size_t)o->n_tokens * o->slots * sizeof(float));
    int max_row = 0;
    for (int t = 0; t < o->n_tokens; t++)
        for (int s = 0; s < o->k[t]; s++)
            if (o->row[t * o->slots + s] > max_row) max_row = o->row[t * o->slots + s];
    c->rows = malloc((size_t)(max_row + 1) * o->n_embd * sizeof(float));
    c->sum = malloc((size_t)o->n_tokens * o->n_embd * sizeof(float));
    memcpy(c->rows, o->rows, (size_t)(max_row + 1) * o->n_embd * sizeof(float));
    memcpy(c->sum, o->sum, (size_t)o->n_tokens * o->n_embd * sizeof(float));
}

static ak_expert_outputs view(const capture *c) {
    ak_expert_outputs o = {c->layer, c->n_tok, c->E, c->S, c->k, c->w, c->row, c->rows, c->sum, NULL};
    return o;
}

static int run_batch(ak_context *ctx, const int32_t *tokens, const ak_router_config *cfg, capture *cap) {
    ak_error err = {0};
    cap->rows = cap->sum = NULL;
    ak_context_reset(ctx);
    if (ak_context_set_routing(ctx, cfg, &err)) return fprintf(stderr, "%s\n", err.msg), -1;
    ak_context_set_expert_outputs_sink(ctx, capture_sink, cap);
    int rc = ak_decode(ctx, tokens, CTX, &err);
    ak_context_set_expert_outputs_sink(ctx, NULL, NULL);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    return rc;
}

/* Layer `layer` at top-j with the others native: its sum against the native run's prefix. */
static void test_prefix(ak_context *ctx, const ak_hparams *hp, const int32_t *tokens, int layer) {
    const int K = hp->n_expert_used;
    capture native = {.layer = layer}, run = {.layer = layer};
    if (run_batch(ctx, tokens, NULL, &native)) {
        CHECK(0, "native run");
        return;
    }
    ak_expert_outputs nv = view(&native);
    float *y = malloc((size_t)hp->n_embd * sizeof *y);
    for (int t = 0; t < CTX; t++) { /* j = K reproduces the engine's sum exactly */
        ak_profile_prefix(&nv, t, K, hp->renormalize, y);
        CHECK(!memcmp(y, native.sum + (size_t)t * hp->n_embd, (size_t)hp->n_embd * sizeof *y), "layer %d token %d", layer, t);
    }
    for (int j = 1; j < K; j++) {
        ak_router_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.n_experts = hp->n_expert, cfg.k_native = K, cfg.renormalize = hp->renormalize;
        cfg.default_policy = ak_policy_fixed(K);
        ak_error e;
        CHECK(ak_config_set_layers(&cfg, hp->n_layer, &e) == AK_OK, "%s", e.msg);
        cfg.layers[layer] = ak_policy_fixed(j);
        if (run_batch(ctx, tokens, &cfg, &run)) CHECK(0, "top-%d run", j);
        double worst = 0;
        int identical = 1;
        for (int t = 0; t < CTX && run.sum; t++) {
            ak_profile_prefix(&nv, t, j, hp->renormalize, y);
            const float *got = run.sum + (size_t)t * hp->n_embd;
            identical &= !memcmp(y, got, (size_t)hp->n_embd * sizeof *y);
            double d2 = 0, n2 = 0;
            for (int i = 0; i < hp->n_embd; i++) d2 += ((double)y[i] - got[i]) * ((double)y[i] - got[i]), n2 += (double)got[i] * got[i];
            worst = fmax(worst, sqrt(d2 / (n2 + 1e-30)));
        }
        printf("%s layer %d top-%d: prefix vs engine run: %s, worst ||difference|| / ||output|| %.3g\n", hp->arch, layer, j,
               identical ? "bit-identical" : "not bit-identical", worst);
        if (!hp->renormalize) CHECK(identical, "prefix of the native sum = the top-%d run, bit for bit", j);
        else CHECK(worst < 1e-6, "renormalised prefix within float rounding: %g", worst);
        free(run.rows), free(run.sum);
        ak_config_free(&cfg);
    }
    free(native.rows), free(native.sum);
    free(y);
}

static void test_allocation(const ak_profile *p) {
    const int L = p->n_layer, K = p->k_native;
    ak_error err = {0};
    const double targets[3] = {1.25, 1.5, (double)K - 0.25};
    for (int r = 0; r < AK_RULE_COUNT; r++)
        for (int i = 0; i < 3; i++) {
            ak_allocation a;
            ak_router_config cfg;
            int rc = ak_allocate(p, (ak_alloc_rule)r, targets[i], &a, &cfg, &err);
            if (r == AK_RULE_FIXED && fabs(targets[i] * L - round(targets[i] * L)) > 1e-9) {
                CHECK(rc != 0 && strstr(err.msg, "whole number"), "fixed with a fractional total: %s", err.msg);
                continue;
            }
            CHECK(rc == 0, "%s at %g: %s", ak_alloc_rule_name((ak_alloc_rule)r), targets[i], err.msg);
            if (rc) continue;
            double sum = 0;
            for (int l = 0; l < L; l++) {
                sum += a.budget[l];
                CHECK(a.budget[l] >= 1.0 - 1e-12 && a.budget[l] <= K + 1e-12, "budget %g", a.budget[l]);
            }
            CHECK(fabs(sum - L * targets[i]) < 1e-9, "budgets sum %.12g, want %g", sum, L * targets[i]);
            CHECK(fabs(a.achieved - targets[i]) / targets[i] < 0.01, "%s at %g: achieved %g",
                  ak_alloc_rule_name((ak_alloc_rule)r), targets[i], a.achieved);
            CHECK(cfg.n_layers == p->n_model_layer, "per-layer config");
            for (int l = 0, m = 0; l < cfg.n_layers; l++) { /* layers without experts: native (unused) */
                const int profiled = m < L && p->layer_of[m] == l;
                const ak_policy nat = ak_policy_fixed(K);
                if (profiled) m++;
                else CHECK(!memcmp(&cfg.layers[l], &nat, sizeof nat), "layer %d without experts: native", l);
            }
            ak_error e;
            CHECK(ak_config_validate(&cfg, &e) == AK_OK, "%s", e.msg);
            printf("%-9s target %.2f: budgets %.4f %.4f, achieved %.4f, predicted %.5f\n",
                   ak_alloc_rule_name((ak_alloc_rule)r), targets[i], a.budget[0], a.budget[L - 1], a.achieved, a.predicted);
            ak_allocation_free(&a);
            ak_config_free(&cfg);
        }
    const double bad[4] = {0.0, -1.0, K + 0.5, 1e9};
    for (int i = 0; i < 4; i++) {
        ak_allocation a;
        ak_router_config cfg;
        CHECK(ak_allocate(p, AK_RULE_RATIO, bad[i], &a, &cfg, &err) != 0 && strstr(err.msg, "outside 1.."),
              "target %g: %s", bad[i], err.msg);
    }
}

static void test_model(const char *arch, int k_native) {
    char path[] = "/tmp/ak_profile_XXXXXX";
    ak_error err = {0};
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    ak_gen_params gp;
    ak_gen_params_default(&gp, arch);
    gp.n_expert_used = k_native;
    gp.type = 0; /* F32 */
    if (ak_gen_model_write(&gp, path, 1, &err)) {
        CHECK(0, "%s", err.msg);
        return;
    }
    ak_model *m = ak_model_load(path, &err);
    CHECK(m, "%s", err.msg);
    if (!m) return;
    const ak_hparams *hp = ak_model_hparams(m);
    ak_context_params cp = ak_context_default_params();
    cp.n_ctx = CTX, cp.n_batch = CTX, cp.n_threads = 2;
    ak_context *ctx = ak_context_new(m, &cp, &err);
    CHECK(ctx, "%s", err.msg);
    int32_t *tokens = malloc(CTX * CHUNKS * sizeof *tokens);
    ak_profile_random_tokens(tokens, CTX * CHUNKS, hp->n_vocab, 7);
    int n_moe = 0;
    for (int l = 0; l < hp->n_layer; l++)
        if (ak_model_layer_has_experts(m, l)) test_prefix(ctx, hp, tokens, l), n_moe++;

    ak_profile p;
    CHECK(ak_profile_init(&p, m, CTX * CHUNKS, &err) == 0, "%s", err.msg);
    ak_ppl_params pp = ak_ppl_default_params();
    pp.n_vocab = hp->n_vocab, pp.n_ctx = CTX, pp.n_batch = CTX;
    CHECK(ak_profile_run(&p, ctx, tokens, CTX * CHUNKS, &pp, 3, NULL, &err) == 0, "%s", err.msg);
    CHECK(p.n_tokens == CTX * CHUNKS && p.has_exact, "profile filled");
    CHECK(p.n_layer == n_moe && p.n_model_layer == hp->n_layer, "%s: %d of %d layers profiled, %d have experts", arch,
          p.n_layer, hp->n_layer, n_moe);
    for (int l = 0; l < p.n_layer; l++) {
        CHECK(ak_model_layer_has_experts(m, p.layer_of[l]) && (l == 0 || p.layer_of[l] > p.layer_of[l - 1]),
              "profile layer %d is model layer %d, with experts", l, p.layer_of[l]);
        CHECK(p.proxy[l * k_native + k_native - 1] == 0.0, "proxy at K is 0");
        for (int j = 1; j < k_native; j++) {
            CHECK(p.proxy[l * k_native + j - 1] > p.proxy[l * k_native + j], "proxy falls with j");
            CHECK(p.kl[l * k_native + j - 1] > 0, "exact KL measured");
        }
    }
    test_allocation(&p);
    ak_profile_free(&p);
    free(tokens);
    ak_context_free(ctx);
    ak_model_free(m);
    unlink(path);
}

int main(void) {
    test_model("olmoe", 2);
    test_model("qwen3moe", 4);
    /* sigmoid routers with a selection bias, groups (deepseek2) and layers without experts
     * (deepseek2's dense lead layer, nemotron_h_moe's Mamba-2 and attention blocks) */
    test_model("deepseek2", 4);
    test_model("nemotron_h_moe", 4);
    return check_finish("test_profile_alloc");
}
