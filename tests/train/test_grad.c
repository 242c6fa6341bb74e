/* test_grad.c - every layer's backward against central finite differences of a scalar
 * loss. Each check compares the analytic and numeric gradients of a sample of inputs
 * and weights: ||analytic - numeric|| / ||numeric|| must stay under a threshold. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/layers.h"
#include "train/moe_model.h"

static int failures;
static uint64_t rng = 12345;

static double uniform(void) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(rng >> 11) / 9007199254740992.0;
}
static void fill(float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)uniform();
}
static float *randv(size_t n, float lo, float hi) {
    float *x = malloc(n * sizeof *x);
    fill(x, n, lo, hi);
    return x;
}
static float *zeros(size_t n) { return calloc(n, sizeof(float)); }

static double dotd(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* One gradient check: accumulates squared errors over sampled coordinates. */
typedef struct {
    const char *name;
    double err2, ref2;
    int n;
} check;

typedef double (*loss_fn)(void *ctx);

/* Perturbs x[i] by +-eps, evaluates the loss, compares with the analytic grad[i]. */
static void probe(check *c, loss_fn f, void *ctx, float *x, const float *grad, size_t n, int samples, float eps) {
    for (int s = 0; s < samples; s++) {
        size_t i = (size_t)(uniform() * (double)n);
        float keep = x[i];
        x[i] = keep + eps;
        double lp = f(ctx);
        x[i] = keep - eps;
        double lm = f(ctx);
        x[i] = keep;
        double num = (lp - lm) / (2.0 * eps);
        c->err2 += (grad[i] - num) * (grad[i] - num);
        c->ref2 += num * num;
        c->n++;
    }
}

static void verdict(const check *c, double tol) {
    double rel = sqrt(c->err2) / (sqrt(c->ref2) + 1e-30);
    int ok = rel < tol && c->ref2 > 0;
    printf("%-28s %3d coords  rel err %.2e  (tol %.0e)  %s\n", c->name, c->n, rel, tol, ok ? "ok" : "FAIL");
    failures += !ok;
}

/* ------------------------------------------------------------------ rmsnorm */
typedef struct {
    int n, d;
    float *x, *w, *y, *rstd, *R;
} norm_ctx;

static double norm_loss(void *p) {
    norm_ctx *c = p;
    ak_rmsnorm_fwd(c->y, c->rstd, c->x, c->w, c->n, c->d, 1e-5f);
    return dotd(c->y, c->R, (size_t)c->n * c->d);
}

static void test_rmsnorm(const char *name, int d) {
    norm_ctx c = {3, d, randv(3 * (size_t)d, -2, 2), randv((size_t)d, 0.5f, 1.5f), zeros(3 * (size_t)d), zeros(3),
                  randv(3 * (size_t)d, -1, 1)};
    float *dx = zeros(3 * (size_t)d), *dw = zeros((size_t)d);
    norm_loss(&c);
    ak_rmsnorm_bwd(dx, dw, c.R, c.x, c.w, c.rstd, c.n, d);
    check k = {name, 0, 0, 0};
    probe(&k, norm_loss, &c, c.x, dx, 3 * (size_t)d, 30, 1e-3f);
    probe(&k, norm_loss, &c, c.w, dw, (size_t)d, 20, 1e-3f);
    verdict(&k, 1e-2);
    free(c.x), free(c.w), free(c.y), free(c.rstd), free(c.R), free(dx), free(dw);
}

/* ------------------------------------------------------------------ linear */
typedef struct {
    int n, in, out;
    float *x, *W, *y, *R;
} lin_ctx;

static double lin_loss(void *p) {
    lin_ctx *c = p;
    ak_linear_fwd(c->y, c->x, c->W, c->n, c->in, c->out);
    return dotd(c->y, c->R, (size_t)c->n * c->out);
}

static void test_linear(void) {
    lin_ctx c = {5, 12, 7, randv(60, -1, 1), randv(84, -1, 1), zeros(35), randv(35, -1, 1)};
    float *dx = zeros(60), *dW = zeros(84);
    ak_linear_bwd(dx, dW, c.R, c.x, c.W, c.n, c.in, c.out);
    check k = {"linear", 0, 0, 0};
    probe(&k, lin_loss, &c, c.x, dx, 60, 20, 1e-2f);
    probe(&k, lin_loss, &c, c.W, dW, 84, 20, 1e-2f);
    verdict(&k, 1e-3);
    free(c.x), free(c.W), free(c.y), free(c.R), free(dx), free(dW);
}

/* ------------------------------------------------------------------ rope + attention */
typedef struct {
    int B, T, H, hd;
    float *q, *k, *v, *qr, *kr, *out, *probs, *R;
} att_ctx;

static double att_loss(void *p) {
    att_ctx *c = p;
    size_t n = (size_t)c->B * c->T * c->H * c->hd;
    memcpy(c->qr, c->q, n * sizeof(float));
    memcpy(c->kr, c->k, n * sizeof(float));
    ak_rope_fwd(c->qr, c->B, c->T, c->H, c->hd, 10000.0f);
    ak_rope_fwd(c->kr, c->B, c->T, c->H, c->hd, 10000.0f);
    ak_attention_fwd(c->out, c->probs, c->qr, c->kr, c->v, c->B, c->T, c->H, c->hd);
    return dotd(c->out, c->R, n);
}

static void test_attention(void) {
    int B = 2, T = 5, H = 2, hd = 8;
    size_t n = (size_t)B * T * H * hd;
    att_ctx c = {B, T, H, hd, randv(n, -1, 1), randv(n, -1, 1), randv(n, -1, 1), zeros(n), zeros(n), zeros(n),
                 zeros((size_t)B * H * T * T), randv(n, -1, 1)};
    float *dq = zeros(n), *dk = zeros(n), *dv = zeros(n), *scratch = zeros((size_t)T * T);
    att_loss(&c);
    ak_attention_bwd(dq, dk, dv, c.R, c.probs, c.qr, c.kr, c.v, B, T, H, hd, scratch);
    ak_rope_bwd(dq, B, T, H, hd, 10000.0f);
    ak_rope_bwd(dk, B, T, H, hd, 10000.0f);
    check k = {"attention + neox rope", 0, 0, 0};
    probe(&k, att_loss, &c, c.q, dq, n, 30, 1e-3f);
    probe(&k, att_loss, &c, c.k, dk, n, 30, 1e-3f);
    probe(&k, att_loss, &c, c.v, dv, n, 30, 1e-3f);
    verdict(&k, 1e-2);
    /* causality: the first token's output depends on its own value row only */
    float keep = c.v[(size_t)4 * H * hd];
    double before = (att_loss(&c), c.out[0]);
    c.v[(size_t)4 * H * hd] = keep + 1;
    double after = (att_loss(&c), c.out[0]);
    if (before != after) {
        printf("attention is not causal\n");
        failures++;
    }
    c.v[(size_t)4 * H * hd] = keep;
    free(c.q), free(c.k), free(c.v), free(c.qr), free(c.kr), free(c.out), free(c.probs), free(c.R);
    free(dq), free(dk), free(dv), free(scratch);
}

/* Rope of position 0 is the identity and rope keeps norms; pos p rotates pair i by p*theta^(-2i/hd). */
static void test_rope_values(void) {
    float x[2 * 4] = {1, 2, 3, 4, 1, 0, 0, 0}; /* T = 2, one head of 4: (x0,x2) and (x1,x3) pairs */
    ak_rope_fwd(x, 1, 2, 1, 4, 10000.0f);
    int ok = x[0] == 1 && x[1] == 2 && x[2] == 3 && x[3] == 4;
    /* position 1, pair 0 angle 1 rad: (1,0) -> (cos 1, sin 1); pair 1 angle 0.01: (0,0) stays */
    ok &= fabsf(x[4] - 0.5403023f) < 1e-6f && fabsf(x[6] - 0.8414710f) < 1e-6f && x[5] == 0 && x[7] == 0;
    printf("%-28s %s\n", "rope values", ok ? "ok" : "FAIL");
    failures += !ok;
}

/* ------------------------------------------------------------------ cross-entropy */
typedef struct {
    float *logits;
    int32_t *t;
} ce_ctx;

static double ce_loss(void *p) {
    ce_ctx *c = p;
    return ak_cross_entropy(NULL, c->logits, c->t, 4, 9, 1.0f);
}

static void test_cross_entropy(void) {
    int32_t t[4] = {0, 8, 3, 3};
    ce_ctx c = {randv(36, -3, 3), t};
    float *d = zeros(36);
    double l = ak_cross_entropy(d, c.logits, t, 4, 9, 1.0f);
    check k = {"cross-entropy", 0, 0, 0};
    probe(&k, ce_loss, &c, c.logits, d, 36, 30, 1e-3f);
    verdict(&k, 1e-2);
    /* uniform logits: loss is ln 9 */
    for (int i = 0; i < 36; i++) c.logits[i] = 0.5f;
    l = ak_cross_entropy(NULL, c.logits, t, 4, 9, 1.0f);
    int ok = fabs(l - log(9.0)) < 1e-6;
    printf("%-28s %s\n", "cross-entropy of uniform", ok ? "ok" : "FAIL");
    failures += !ok;
    free(c.logits), free(d);
}

/* ------------------------------------------------------------------ MoE block */
typedef struct {
    ak_moe_dims m;
    float *h, *Wr, *Wg, *Wu, *Wd, *y, *R;
    ak_moe_acts a;
    ak_moe_scratch s;
    int with_y;
} moe_ctx;

static double moe_loss(void *p) {
    moe_ctx *c = p;
    double aux = ak_moe_fwd(c->y, &c->a, &c->s, c->h, c->Wr, c->Wg, c->Wu, c->Wd, &c->m);
    return aux + (c->with_y ? dotd(c->y, c->R, (size_t)c->m.n * c->m.d) : 0);
}

static void test_moe(const char *name, float aux, float z, int with_y) {
    moe_ctx c = {{6, 8, 5, 2, 4, aux, z}, NULL, NULL, NULL, NULL, NULL, NULL, NULL, {0}, {0}, with_y};
    int n = c.m.n, d = c.m.d, E = c.m.E, F = c.m.F;
    c.h = randv((size_t)n * d, -1, 1);
    c.Wr = randv((size_t)E * d, -1, 1);
    c.Wg = randv((size_t)E * F * d, -0.5f, 0.5f);
    c.Wu = randv((size_t)E * F * d, -0.5f, 0.5f);
    c.Wd = randv((size_t)E * d * F, -0.5f, 0.5f);
    c.y = zeros((size_t)n * d);
    c.R = randv((size_t)n * d, -1, 1);
    ak_moe_acts_alloc(&c.a, &c.m);
    ak_moe_scratch_alloc(&c.s, &c.m);
    float *dh = zeros((size_t)n * d), *dWr = zeros((size_t)E * d), *dWg = zeros((size_t)E * F * d),
          *dWu = zeros((size_t)E * F * d), *dWd = zeros((size_t)E * d * F), *dy = zeros((size_t)n * d);
    if (with_y) memcpy(dy, c.R, (size_t)n * d * sizeof(float));
    moe_loss(&c);
    int32_t idx0[12];
    memcpy(idx0, c.a.idx, sizeof idx0);
    ak_moe_bwd(dh, dWr, dWg, dWu, dWd, dy, &c.a, &c.s, c.h, c.Wr, c.Wg, c.Wu, c.Wd, &c.m);
    check k = {name, 0, 0, 0};
    probe(&k, moe_loss, &c, c.h, dh, (size_t)n * d, 30, 1e-3f);
    probe(&k, moe_loss, &c, c.Wr, dWr, (size_t)E * d, 30, 1e-3f);
    if (with_y) {
        probe(&k, moe_loss, &c, c.Wg, dWg, (size_t)E * F * d, 30, 1e-3f);
        probe(&k, moe_loss, &c, c.Wu, dWu, (size_t)E * F * d, 30, 1e-3f);
        probe(&k, moe_loss, &c, c.Wd, dWd, (size_t)E * d * F, 30, 1e-3f);
    }
    moe_loss(&c);
    if (memcmp(idx0, c.a.idx, sizeof idx0)) printf("(routing changed under a probe: results may be noisy)\n");
    verdict(&k, 2e-2);
    ak_moe_acts_free(&c.a);
    ak_moe_scratch_free(&c.s);
    free(c.h), free(c.Wr), free(c.Wg), free(c.Wu), free(c.Wd), free(c.y), free(c.R);
    free(dh), free(dWr), free(dWg), free(dWu), free(dWd), free(dy);
}

/* Hand values: 2 tokens, 2 experts, top-1, router logits (0, ln 3) for both tokens so
 * p = (1/4, 3/4), expert 1 chosen twice: f = (0, 1), P = (1/4, 3/4);
 * balance = aux * E * (0*1/4 + 1*3/4) = 1.5 aux; z = mean(ln(1 + 3)^2) = ln(4)^2. */
static void test_moe_aux_values(void) {
    ak_moe_dims m = {2, 32, 2, 1, 32, 1.0f, 1.0f};
    ak_moe_acts a;
    ak_moe_scratch s;
    ak_moe_acts_alloc(&a, &m);
    ak_moe_scratch_alloc(&s, &m);
    float *h = zeros(64), *Wr = zeros(64), *W = zeros(32 * 32 * 2), *y = zeros(64);
    h[0] = 1, h[32] = 1, Wr[32] = logf(3.0f);
    ak_moe_fwd(y, &a, &s, h, Wr, W, W, W, &m);
    int ok = a.idx[0] == 1 && a.idx[1] == 1 && fabs(a.aux_loss - 1.5) < 1e-6 &&
             fabs(a.z_loss - log(4.0) * log(4.0)) < 1e-5 && fabsf(a.probs[1] - 0.75f) < 1e-6f;
    printf("%-28s %s\n", "moe aux/z hand values", ok ? "ok" : "FAIL");
    failures += !ok;
    ak_moe_acts_free(&a);
    ak_moe_scratch_free(&s);
    free(h), free(Wr), free(W), free(y);
}

/* ------------------------------------------------------------------ whole model */
typedef struct {
    ak_moe_model *m;
    int32_t in[2 * 8], tg[2 * 8];
    uint64_t hash;
    int routing_changed;
} model_ctx;

static double model_loss(void *p) {
    model_ctx *c = p;
    double aux;
    uint64_t h;
    double ce = ak_moe_model_step(c->m, c->in, c->tg, 0, &aux, &h);
    c->routing_changed |= h != c->hash;
    return ce + aux;
}

static void test_model(void) {
    ak_moe_config cfg = {48, 8, 32, 2, 2, 4, 2, 32, 10000.0f, 1e-5f, 0.01f, 0.001f};
    ak_error err = {0};
    model_ctx c = {ak_moe_model_new(&cfg, 2, 7, &err), {0}, {0}, 0, 0};
    if (!c.m) {
        printf("model: %s\n", err.msg);
        failures++;
        return;
    }
    float *p = ak_moe_model_params(c.m), *g = ak_moe_model_grads(c.m);
    /* larger weights than the training init, so gradients stand well above f32 noise */
    for (int i = 0; i < ak_moe_model_n_tensors(c.m); i++) {
        const ak_param_tensor *t = ak_moe_model_tensor(c.m, i);
        for (size_t j = 0; j < t->n; j++) p[t->offset + j] = t->n_dims == 1 ? 0.7f + 0.6f * (float)uniform()
                                                                             : (float)(uniform() - 0.5) * 0.6f;
    }
    for (int i = 0; i < 16; i++) c.in[i] = (int32_t)(uniform() * 48), c.tg[i] = (int32_t)(uniform() * 48);
    ak_moe_model_zero_grad(c.m);
    double aux;
    ak_moe_model_step(c.m, c.in, c.tg, 1, &aux, &c.hash);
    int all_ok = 1;
    for (int i = 0; i < ak_moe_model_n_tensors(c.m); i++) {
        const ak_param_tensor *t = ak_moe_model_tensor(c.m, i);
        check k = {t->name, 0, 0, 0};
        c.routing_changed = 0;
        if (i == 0) { /* embedding: probe the rows of tokens that occur */
            for (int s = 0; s < 6; s++) {
                size_t off = (size_t)c.in[s] * 32 + (size_t)(uniform() * 32);
                float keep = p[off];
                p[off] = keep + 1e-2f;
                double lp = model_loss(&c);
                p[off] = keep - 1e-2f;
                double lm = model_loss(&c);
                p[off] = keep;
                double num = (lp - lm) / 2e-2;
                k.err2 += (g[off] - num) * (g[off] - num), k.ref2 += num * num, k.n++;
            }
        } else {
            probe(&k, model_loss, &c, p + t->offset, g + t->offset, t->n, 8, 1e-2f);
        }
        if (c.routing_changed) {
            printf("%-28s skipped: a probe changed the routing\n", t->name);
            continue;
        }
        double rel = sqrt(k.err2) / (sqrt(k.ref2) + 1e-30);
        if (!(rel < 5e-2) || k.ref2 == 0) {
            printf("model grad %-28s rel err %.2e FAIL\n", t->name, rel);
            all_ok = 0;
        }
    }
    printf("%-28s %s\n", "whole model (all tensors)", all_ok ? "ok" : "FAIL");
    failures += !all_ok;
    ak_moe_model_free(c.m);
}

int main(void) {
    test_rmsnorm("rmsnorm", 16);
    test_rmsnorm("qk-norm (full width 64)", 64);
    test_linear();
    test_rope_values();
    test_attention();
    test_cross_entropy();
    test_moe("moe router+top-k+swiglu", 0, 0, 1);
    test_moe("moe load-balance loss", 1.0f, 0, 0);
    test_moe("moe router z-loss", 0, 1.0f, 0);
    test_moe_aux_values();
    test_model();
    if (failures) printf("test_grad: %d failures\n", failures);
    return failures != 0;
}
