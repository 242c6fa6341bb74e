/* Softmax and entropy against a direct double-precision computation; units; bad input. */
#include <float.h>

#include "adaptivek.h"
#include "../check.h"
#include "router/router_internal.h"

static void direct(const float *z, int n, double *p, double *h) {
    double m = z[0], s = 0.0;
    for (int i = 1; i < n; i++) m = z[i] > m ? z[i] : m;
    for (int i = 0; i < n; i++) s += exp((double)z[i] - m);
    *h = 0.0;
    for (int i = 0; i < n; i++) {
        p[i] = exp((double)z[i] - m) / s;
        if (p[i] > 0.0) *h -= p[i] * log(p[i]);
    }
}

static void test_known(void) {
    /* logits = log p for known p: entropies computed by hand */
    const float p[4] = {0.1f, 0.4f, 0.2f, 0.3f};
    float z[4], q[4], h;
    for (int i = 0; i < 4; i++) z[i] = logf(p[i]) + 3.0f; /* a shift must not matter */
    CHECK(ak_softmax_entropy(z, 4, q, &h, NULL) == AK_OK);
    for (int i = 0; i < 4; i++) CHECK_NEAR(q[i], p[i], 1e-6);
    CHECK_NEAR(h, 1.2798542258, 2e-6);

    /* uniform: H = ln n; one-hot-ish: H ~ 0 */
    float u[64] = {0}, pu[64];
    CHECK(ak_softmax_entropy(u, 64, pu, &h, NULL) == AK_OK);
    CHECK_NEAR(h, log(64.0), 2e-6);
    CHECK_NEAR(pu[17], 1.0 / 64, 1e-8);
    u[5] = 200.0f;
    CHECK(ak_softmax_entropy(u, 64, pu, &h, NULL) == AK_OK);
    CHECK_NEAR(h, 0.0, 1e-6);
    CHECK_NEAR(pu[5], 1.0, 1e-6);

    /* huge logits: no overflow thanks to the max shift */
    float big[3] = {1e30f, 1e30f, -1e30f}, pb[3];
    CHECK(ak_softmax_entropy(big, 3, pb, &h, NULL) == AK_OK);
    CHECK_NEAR(pb[0], 0.5, 1e-7);
    CHECK_NEAR(pb[2], 0.0, 1e-30);
    CHECK_NEAR(h, log(2.0), 1e-6);

    /* a huge gap: entropy of the two equal experts only, no denormal probabilities */
    float gap[1024], pg[1024];
    for (int i = 0; i < 1024; i++) gap[i] = i < 2 ? 0.0f : -1e30f;
    CHECK(ak_softmax_entropy(gap, 1024, pg, &h, NULL) == AK_OK);
    CHECK_NEAR(h, log(2.0), 1e-6);
    CHECK_NEAR(pg[0], 0.5, 1e-6);
    int denormal = 0;
    for (int i = 0; i < 1024; i++) denormal += pg[i] < FLT_MIN;
    CHECK_EQ_INT(denormal, 0);

    /* in place (probs aliasing logits) */
    float a[4];
    for (int i = 0; i < 4; i++) a[i] = logf(p[i]);
    CHECK(ak_softmax_entropy(a, 4, a, &h, NULL) == AK_OK);
    CHECK_NEAR(a[1], 0.4, 1e-6);
}

static void test_random_vs_direct(void) {
    test_rng rng = {12345};
    const int sizes[] = {1, 2, 3, 7, 8, 9, 60, 64, 128, 1000, 1024};
    float z[1024], q[1024];
    double p[1024];
    double worst_h = 0.0, worst_p = 0.0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        int n = sizes[si];
        for (int rep = 0; rep < 50; rep++) {
            double scale = 0.05 + 10.0 * rng_uniform(&rng);
            for (int i = 0; i < n; i++) z[i] = (float)(scale * rng_normal(&rng));
            float h;
            double hd;
            CHECK(ak_softmax_entropy(z, n, q, &h, NULL) == AK_OK);
            direct(z, n, p, &hd);
            double eh = fabs(h - hd) / (1.0 + hd);
            if (eh > worst_h) worst_h = eh;
            for (int i = 0; i < n; i++) {
                double ep = fabs(q[i] - p[i]) / (p[i] + 1e-30);
                if (p[i] > 1e-30 && ep > worst_p) worst_p = ep;
            }
        }
    }
    printf("worst entropy error %.3g (relative to 1+H), worst probability relative error %.3g\n",
           worst_h, worst_p);
    CHECK(worst_h < 1e-5);
    CHECK(worst_p < 1e-5); /* float rounding of z - max dominates for tiny p */
}

static void test_units(void) {
    CHECK_NEAR(ak_entropy_to_unit(1.0f, AK_ENTROPY_NATS, 64), 1.0, 0);
    CHECK_NEAR(ak_entropy_to_unit((float)log(2.0), AK_ENTROPY_BITS, 64), 1.0, 1e-6);
    CHECK_NEAR(ak_entropy_to_unit((float)log(64.0), AK_ENTROPY_NORMALIZED, 64), 1.0, 1e-6);
    CHECK_NEAR(ak_entropy_to_unit((float)log(8.0), AK_ENTROPY_NORMALIZED, 64), 0.5, 1e-6);
    CHECK_NEAR(ak_entropy_from_unit(3.0f, AK_ENTROPY_BITS, 64), 3.0 * log(2.0), 1e-6);
    CHECK_NEAR(ak_entropy_from_unit(0.5f, AK_ENTROPY_NORMALIZED, 128), 0.5 * log(128.0), 1e-6);
    float h = 0.77f;
    for (int u = 0; u <= AK_ENTROPY_NORMALIZED; u++)
        CHECK_NEAR(ak_entropy_from_unit(ak_entropy_to_unit(h, u, 60), u, 60), h, 1e-6);
}

/* A vocabulary-sized row (more than AK_MAX_EXPERTS): log p[id] against the double-precision
 * log-softmax, for the best token, a typical one and one 60 nats down; bad rows give NaN. */
static void test_log_softmax_at_vocabulary(void) {
    enum { V = 50304 };
    static float z[V], scratch[V];
    test_rng rng = {777};
    for (int i = 0; i < V; i++) z[i] = 8.0f * ((float)rng_uniform(&rng) - 0.5f);
    z[123] = 20.0f;
    z[4567] = -40.0f;
    double m = z[0], s = 0.0;
    for (int i = 1; i < V; i++) m = z[i] > m ? z[i] : m;
    for (int i = 0; i < V; i++) s += exp((double)z[i] - m);
    const int ids[3] = {123, 9, 4567};
    for (int k = 0; k < 3; k++) {
        const double want = (double)z[ids[k]] - m - log(s);
        CHECK_NEAR(ak_log_softmax_at(z, V, ids[k], scratch), want, 1e-4 + 2e-6 * fabs(want)); /* float sums */
    }
    CHECK(isnan(ak_log_softmax_at(z, V, V, scratch)));
    CHECK(isnan(ak_log_softmax_at(z, V, -1, scratch)));
    z[V - 1] = NAN;
    CHECK(isnan(ak_log_softmax_at(z, V, 123, scratch)));
}

static void test_bad_input(void) {
    ak_error e;
    float z[5] = {0, 1, 2, 3, 4}, q[5], h;
    z[3] = NAN;
    CHECK_ERR(ak_softmax_entropy(z, 5, q, &h, &e), AK_ERR_NONFINITE, e, "expert 3");
    z[3] = 0;
    z[4] = INFINITY;
    CHECK_ERR(ak_softmax_entropy(z, 5, q, &h, &e), AK_ERR_NONFINITE, e, "expert 4 is Inf");
    z[4] = -INFINITY;
    CHECK_ERR(ak_softmax_entropy(z, 5, q, &h, &e), AK_ERR_NONFINITE, e, "expert 4");
    z[4] = 0;
    CHECK_ERR(ak_softmax_entropy(z, 0, q, &h, &e), AK_ERR_INVALID_ARG, e, "n_experts 0");
    CHECK_ERR(ak_softmax_entropy(z, 1025, q, &h, &e), AK_ERR_INVALID_ARG, e, "1025");
    CHECK_ERR(ak_softmax_entropy(NULL, 5, q, &h, &e), AK_ERR_INVALID_ARG, e, "NULL");
    CHECK(ak_softmax_entropy(z, 5, q, &h, NULL) == AK_OK); /* err may be NULL */
    CHECK(strcmp(ak_status_str(AK_ERR_JSON), "invalid JSON") == 0);
}

int main(void) {
    for (int simd = 1; simd >= 0; simd--) { /* run-time kernel, then the baseline one */
        ak_router_use_simd(simd);
        test_known();
        test_random_vs_direct();
        test_log_softmax_at_vocabulary();
    }
    test_units();
    test_bad_input();
    return check_finish("test_gate");
}
