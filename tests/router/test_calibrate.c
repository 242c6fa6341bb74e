/* Calibration: a hand-checked case, every policy kind on held-out synthetic logits,
 * unreachable targets, whole-config calibration (per layer and global). */
#include <stdlib.h>

#include "adaptivek.h"
#include "../check.h"

enum { N = 64, T = 4000 };

/* Gaussian logits whose per-token scale varies (log-uniform in [0.25, 5]), so router
 * entropies spread from almost one-hot to almost uniform, as in real MoE layers. */
static void synth(float *z, int n_tokens, int n_experts, double scale_lo, double scale_hi,
                  unsigned long long seed) {
    test_rng rng = {seed};
    for (int t = 0; t < n_tokens; t++) {
        double s = scale_lo * pow(scale_hi / scale_lo, rng_uniform(&rng));
        for (int i = 0; i < n_experts; i++)
            z[(size_t)t * n_experts + i] = (float)(s * rng_normal(&rng));
    }
}

static double routed_avg_k(const ak_policy *p, const float *z, int n_tokens, int n_experts) {
    static int k[T];
    static int32_t ids[T * 16];
    static float w[T * 16];
    ak_route_out out = {n_tokens, 16, k, ids, w, NULL};
    if (ak_route(p, z, n_tokens, n_experts, 0, &out, NULL) != AK_OK) return -1.0;
    double s = 0;
    for (int t = 0; t < n_tokens; t++) s += k[t];
    return s / n_tokens;
}

static void test_hand_case(void) {
    /* entropies 0.1 .. 1.0, k = {1, 2}: average 1.3 needs exactly the 3 tokens with
     * H >= t to take k = 2, i.e. 0.7 < t <= 0.8 */
    float h[10];
    for (int i = 0; i < 10; i++) h[i] = 0.1f * (float)(i + 1);
    int k[2] = {1, 2};
    float t0[1] = {0.5f};
    ak_policy p = ak_policy_entropy(2, k, t0, AK_ENTROPY_NATS);
    double got = 0;
    ak_error e;
    CHECK(ak_calibrate_entropy(&p, h, 10, 8, 1.3, &got, &e) == AK_OK);
    CHECK_NEAR(got, 1.3, 1e-12);
    CHECK(p.thresholds[0] > 0.7f && p.thresholds[0] <= 0.8f);
    /* 1.35 is between steps 1.3 and 1.4: either neighbour is acceptable */
    CHECK(ak_calibrate_entropy(&p, h, 10, 8, 1.35, &got, &e) == AK_OK);
    CHECK(fabs(got - 1.3) < 1e-12 || fabs(got - 1.4) < 1e-12);
    /* 1.33 is closest to 1.3 */
    CHECK(ak_calibrate_entropy(&p, h, 10, 8, 1.33, &got, &e) == AK_OK);
    CHECK_NEAR(got, 1.3, 1e-12);
    /* the range is [1, 2]; 2.5 is unreachable */
    CHECK_ERR(ak_calibrate_entropy(&p, h, 10, 8, 2.5, &got, &e), AK_ERR_CONFIG, e, "outside");
    CHECK_ERR(ak_calibrate_entropy(&p, h, 10, 8, 0.5, &got, &e), AK_ERR_CONFIG, e, "[1, 2]");
    /* entropy calibration needs an entropy policy */
    ak_policy tp = ak_policy_top_p(0.5f, 1, 4);
    CHECK_ERR(ak_calibrate_entropy(&tp, h, 10, 8, 1.3, &got, &e), AK_ERR_CONFIG, e, NULL);
    h[3] = NAN;
    CHECK_ERR(ak_calibrate_entropy(&p, h, 10, 8, 1.3, &got, &e), AK_ERR_NONFINITE, e, "token 3");
}

typedef struct {
    ak_policy policy;
    double target;
} calib_case;

static void test_held_out(void) {
    float *a = malloc(sizeof(float) * T * N), *b = malloc(sizeof(float) * T * N);
    synth(a, T, N, 0.25, 5.0, 1);
    synth(b, T, N, 0.25, 5.0, 2);
    int k3[3] = {1, 2, 4}, k4[4] = {1, 2, 4, 8};
    float h3[2] = {0.6f, 1.2f}, h4[3] = {1.0f, 2.0f, 3.0f};
    const calib_case cases[] = {
        {ak_policy_entropy(3, k3, h3, AK_ENTROPY_NATS), 1.5},
        {ak_policy_entropy(3, k3, h3, AK_ENTROPY_NATS), 2.5},
        {ak_policy_entropy(3, k3, h3, AK_ENTROPY_NATS), 3.5},
        {ak_policy_entropy(4, k4, h4, AK_ENTROPY_BITS), 2.0},
        {ak_policy_entropy(4, k4, h4, AK_ENTROPY_NORMALIZED), 4.0},
        {ak_policy_entropy(4, k4, h4, AK_ENTROPY_NATS), 6.0},
        {ak_policy_top_p(0.5f, 1, 8), 2.0},
        {ak_policy_top_p(0.5f, 1, 8), 4.0},
        {ak_policy_top_p(0.5f, 1, 8), 6.0},
        {ak_policy_ratio(0.5f, 1, 8), 2.0},
        {ak_policy_ratio(0.5f, 1, 8), 4.0},
        {ak_policy_ratio(0.5f, 1, 8), 6.0},
        {ak_policy_threshold(0.1f, 1, 8), 2.0},
        {ak_policy_threshold(0.1f, 2, 8), 4.0},
        {ak_policy_threshold(0.1f, 1, 8), 6.0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ak_policy p = cases[i].policy;
        double got = 0;
        ak_error e;
        char d[128];
        if (ak_calibrate_policy(&p, a, T, N, cases[i].target, &got, &e) != AK_OK) {
            fprintf(stderr, "case %zu: %s\n", i, e.msg);
            failures++;
            continue;
        }
        double same = routed_avg_k(&p, a, T, N), held = routed_avg_k(&p, b, T, N);
        ak_policy_describe(&p, d, sizeof d);
        printf("target %.2f: sample %.4f, held-out %.4f  (%s)\n", cases[i].target, got, held, d);
        CHECK_NEAR(same, got, 1e-9);                       /* reported = what ak_route does */
        CHECK(fabs(got - cases[i].target) <= 0.002 * cases[i].target); /* steps of ~1/T */
        CHECK(fabs(held - cases[i].target) <= 0.02 * cases[i].target);
    }
    /* thresholds not set yet (all zero): quantiles give the shape */
    float zero[2] = {0, 0};
    ak_policy q = ak_policy_entropy(3, k3, zero, AK_ENTROPY_NATS);
    double got = 0;
    ak_error e;
    CHECK(ak_calibrate_policy(&q, a, T, N, 2.0, &got, &e) == AK_OK);
    CHECK(q.thresholds[0] > 0.0f && q.thresholds[1] > q.thresholds[0]);
    CHECK(fabs(got - 2.0) <= 0.004);
    /* errors */
    ak_policy f = ak_policy_fixed(4);
    CHECK_ERR(ak_calibrate_policy(&f, a, T, N, 2.0, &got, &e), AK_ERR_CONFIG, e, "fixed");
    ak_policy p = ak_policy_entropy_default();
    CHECK_ERR(ak_calibrate_policy(&p, a, T, N, 5.0, &got, &e), AK_ERR_CONFIG, e, "outside");
    CHECK_ERR(ak_calibrate_policy(&p, a, 0, N, 2.0, &got, &e), AK_ERR_INVALID_ARG, e, "n_tokens=0");
    ak_policy tp = ak_policy_top_p(0.5f, 2, 8);
    CHECK_ERR(ak_calibrate_policy(&tp, a, T, N, 1.5, &got, &e), AK_ERR_CONFIG, e, "outside");
    a[5 * N + 7] = INFINITY;
    CHECK_ERR(ak_calibrate_policy(&p, a, T, N, 2.0, &got, &e), AK_ERR_NONFINITE, e,
              "token 5, expert 7");
    free(a);
    free(b);
}

static void test_config(void) {
    enum { L = 3, TL = 2000 };
    float *z = malloc(sizeof(float) * L * TL * N);
    /* layers with different sharpness: their entropy distributions differ */
    synth(z, TL, N, 0.25, 1.5, 11);
    synth(z + TL * N, TL, N, 0.5, 3.0, 12);
    synth(z + 2 * TL * N, TL, N, 1.0, 6.0, 13);
    ak_router_config c;
    ak_error e;
    CHECK(ak_preset_get("olmoe-1b-7b", &c, &e) == AK_OK);
    double got = 0;
    CHECK_ERR(ak_calibrate_config(&c, z, L, TL, 2.0, 1, &got, &e), AK_ERR_INVALID_ARG, e,
              "ak_config_set_layers");
    CHECK(ak_config_set_layers(&c, L, &e) == AK_OK);
    CHECK(ak_calibrate_config(&c, z, L, TL, 2.0, 1, &got, &e) == AK_OK);
    CHECK(fabs(got - 2.0) < 0.01);
    for (int l = 0; l < L; l++) {
        double k = routed_avg_k(&c.layers[l], z + (size_t)l * TL * N, TL, N);
        CHECK(fabs(k - 2.0) < 0.004);
    }
    /* global: one scale for all layers; the average over layers hits the target and the
     * layers keep the same policy (same thresholds) while their K differ */
    ak_config_free(&c);
    CHECK(ak_preset_get("olmoe-1b-7b", &c, &e) == AK_OK);
    CHECK(ak_config_set_layers(&c, L, &e) == AK_OK);
    CHECK(ak_calibrate_config(&c, z, L, TL, 2.0, 0, &got, &e) == AK_OK);
    double sum = 0, k0 = 0, k2 = 0;
    for (int l = 0; l < L; l++) {
        double k = routed_avg_k(&c.layers[l], z + (size_t)l * TL * N, TL, N);
        if (l == 0) k0 = k;
        if (l == 2) k2 = k;
        sum += k;
        CHECK(c.layers[l].thresholds[0] == c.layers[0].thresholds[0]);
    }
    CHECK_NEAR(sum / L, got, 1e-9);
    CHECK(fabs(got - 2.0) < 0.004);
    CHECK(k0 > k2 + 0.5); /* the flatter layer runs more experts */
    /* mixed kinds cannot share one parameter */
    c.layers[1] = ak_policy_top_p(0.5f, 1, 8);
    CHECK_ERR(ak_calibrate_config(&c, z, L, TL, 2.0, 0, &got, &e), AK_ERR_CONFIG, e, "same policy");
    ak_config_free(&c);
    free(z);
}

int main(void) {
    test_hand_case();
    test_held_out();
    test_config();
    return check_finish("test_calibrate");
}
