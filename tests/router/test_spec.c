/* test_spec.c - policy specifications (ak_policy_spec -> policies and configs): kind
 * inference, defaults of a new kind, overrides, placeholders for calibration, errors named
 * in the syntax's own words, per-layer application, and the K range helpers. */
#include <math.h>
#include <string.h>

#include "adaptivek.h"
#include "../check.h"

static ak_router_config config(int n_experts, int k_native, ak_policy p) {
    return ak_config_uniform(n_experts, k_native, 0, p);
}

static void test_kind_inference(void) {
    ak_policy_spec s;
    ak_error err = {0};
    ak_policy p = ak_policy_entropy_default();

    ak_policy_spec_init(&s);
    CHECK(ak_policy_spec_apply(&s, 64, 0, &p, &err) == AK_OK); /* nothing given: unchanged */
    CHECK(p.kind == AK_POLICY_ENTROPY && p.n_levels == 3 && p.thresholds[1] == 1.2f);

    s.has_k = 1, s.k = 3; /* k implies fixed */
    CHECK(ak_policy_spec_apply(&s, 64, 0, &p, &err) == AK_OK);
    CHECK(p.kind == AK_POLICY_FIXED && p.k == 3);

    ak_policy_spec_init(&s);
    s.has_top_p = 1, s.top_p = 0.9f; /* top_p implies top-p over 1..n_experts */
    p = ak_policy_entropy_default();
    CHECK(ak_policy_spec_apply(&s, 16, 0, &p, &err) == AK_OK);
    CHECK(p.kind == AK_POLICY_TOP_P && p.top_p == 0.9f && p.k_min == 1 && p.k_max == 16);

    ak_policy_spec_init(&s); /* a given kind keeps the policy when it is the same kind */
    s.has_kind = 1, s.kind = AK_POLICY_TOP_P, s.has_k_max = 1, s.k_max = 4;
    CHECK(ak_policy_spec_apply(&s, 16, 0, &p, &err) == AK_OK);
    CHECK(p.kind == AK_POLICY_TOP_P && p.top_p == 0.9f && p.k_max == 4);

    ak_policy_spec_init(&s); /* fixed without k: the native K */
    s.has_kind = 1, s.kind = AK_POLICY_FIXED;
    CHECK(ak_policy_spec_apply(&s, 16, 2, &p, &err) == AK_OK);
    CHECK(p.kind == AK_POLICY_FIXED && p.k == 2);
    p = ak_policy_entropy_default();
    CHECK_ERR(ak_policy_spec_apply(&s, 16, 0, &p, &err), AK_ERR_CONFIG, err, "kind fixed needs k");
}

static void test_errors_in_syntax_words(void) {
    static const ak_policy_spec_names flags = {"--policy", "--k", "--k-values", "--thresholds", "--threshold-unit",
                                               "--top-p", "--ratio", "--k-min", "--k-max"};
    ak_policy_spec s;
    ak_error err = {0};
    ak_policy p = ak_policy_entropy_default();

    ak_policy_spec_init(&s);
    s.names = &flags;
    s.has_k = 1, s.k = 2, s.has_ratio = 1, s.ratio = 0.1f;
    CHECK_ERR(ak_policy_spec_apply(&s, 8, 0, &p, &err), AK_ERR_CONFIG, err,
              "--k (fixed) and --ratio (ratio) select different policies");

    ak_policy_spec_init(&s);
    s.names = &flags;
    s.has_kind = 1, s.kind = AK_POLICY_ENTROPY, s.has_k = 1, s.k = 2;
    CHECK_ERR(ak_policy_spec_apply(&s, 8, 0, &p, &err), AK_ERR_CONFIG, err, "--k does not apply to --policy entropy");

    ak_policy_spec_init(&s); /* default names: the router-config JSON's */
    s.has_kind = 1, s.kind = AK_POLICY_RATIO;
    CHECK_ERR(ak_policy_spec_apply(&s, 8, 0, &p, &err), AK_ERR_CONFIG, err, "kind ratio needs ratio");

    ak_policy_spec_init(&s);
    s.has_k_min = 1, s.k_min = 2;
    CHECK_ERR(ak_policy_spec_apply(&s, 8, 0, &p, &err), AK_ERR_CONFIG, err,
              "k_min/k_max apply to the top-p and ratio policies, not entropy");

    ak_policy_spec_init(&s);
    s.n_thresholds = 3, s.thresholds[0] = 1, s.thresholds[1] = 2, s.thresholds[2] = 3;
    CHECK_ERR(ak_policy_spec_apply(&s, 8, 0, &p, &err), AK_ERR_CONFIG, err, "3 k-values need 2 thresholds");

    ak_policy_spec_init(&s);
    s.n_k_values = 4, s.k_values[0] = 1, s.k_values[1] = 2, s.k_values[2] = 3, s.k_values[3] = 4;
    CHECK_ERR(ak_policy_spec_apply(&s, 8, 0, &p, &err), AK_ERR_CONFIG, err, "k_values gives 4 levels: add thresholds");

    ak_policy_spec_init(&s); /* a threshold policy comes only from a config */
    s.has_kind = 1, s.kind = AK_POLICY_THRESHOLD;
    CHECK_ERR(ak_policy_spec_apply(&s, 8, 0, &p, &err), AK_ERR_CONFIG, err, "set by a router config");

    ak_policy_spec_init(&s); /* the result is validated */
    s.has_k = 1, s.k = 9;
    CHECK_ERR(ak_policy_spec_apply(&s, 8, 0, &p, &err), AK_ERR_CONFIG, err, "invalid policy 'fixed k=9'");
}

static void test_entropy_parameters(void) {
    ak_policy_spec s;
    ak_error err = {0};
    ak_policy p = ak_policy_entropy_default();

    ak_policy_spec_init(&s); /* a unit alone keeps the thresholds' meaning */
    s.has_unit = 1, s.unit = AK_ENTROPY_BITS;
    CHECK(ak_policy_spec_apply(&s, 64, 0, &p, &err) == AK_OK);
    CHECK(p.unit == AK_ENTROPY_BITS);
    CHECK_NEAR(p.thresholds[0], 0.6 / log(2.0), 1e-5);

    ak_policy_spec_init(&s); /* thresholds with a unit are in that unit */
    s.has_unit = 1, s.unit = AK_ENTROPY_NORMALIZED, s.n_thresholds = 2, s.thresholds[0] = 0.1f,
    s.thresholds[1] = 0.2f;
    p = ak_policy_entropy_default();
    CHECK(ak_policy_spec_apply(&s, 64, 0, &p, &err) == AK_OK);
    CHECK(p.unit == AK_ENTROPY_NORMALIZED && p.thresholds[0] == 0.1f && p.thresholds[1] == 0.2f);

    ak_policy_spec_init(&s); /* new levels for calibration: evenly spaced placeholders */
    s.n_k_values = 4, s.k_values[0] = 1, s.k_values[1] = 2, s.k_values[2] = 3, s.k_values[3] = 4;
    s.fit = AK_FIT_THRESHOLDS;
    p = ak_policy_entropy_default();
    CHECK(ak_policy_spec_apply(&s, 16, 0, &p, &err) == AK_OK);
    CHECK(p.n_levels == 4);
    CHECK_NEAR(p.thresholds[0], 0.25 * log(16.0), 1e-5);
    CHECK_NEAR(p.thresholds[2], 0.75 * log(16.0), 1e-5);

    ak_policy_spec_init(&s); /* thresholds "none" (0 given) likewise */
    s.n_thresholds = 0, s.fit = AK_FIT_THRESHOLDS;
    p = ak_policy_entropy_default();
    CHECK(ak_policy_spec_apply(&s, 16, 0, &p, &err) == AK_OK);
    CHECK_NEAR(p.thresholds[1], 2.0 / 3.0 * log(16.0), 1e-5);

    ak_policy_spec_init(&s); /* top-p / ratio without their parameter when it will be fitted */
    s.has_kind = 1, s.kind = AK_POLICY_RATIO, s.fit = AK_FIT_PARAM;
    CHECK(ak_policy_spec_apply(&s, 16, 0, &p, &err) == AK_OK);
    CHECK(p.kind == AK_POLICY_RATIO && p.ratio == 0.5f && p.k_max == 16);
}

static void test_config(void) {
    ak_error err = {0};
    ak_router_config c = config(8, 0, ak_policy_entropy_default());
    CHECK(ak_config_set_layers(&c, 3, &err) == AK_OK);
    c.layers[1] = ak_policy_top_p(0.5f, 1, 8);
    ak_policy_spec s;
    ak_policy_spec_init(&s);
    CHECK(ak_config_apply_spec(&c, &s, &err) == AK_OK);
    CHECK(c.k_native == 8); /* the largest K of any layer: top-p's k_max */
    CHECK(ak_config_max_k(&c) == 8);

    s.has_k = 1, s.k = 2; /* every layer's policy */
    CHECK(ak_config_apply_spec(&c, &s, &err) == AK_OK);
    CHECK(c.default_policy.kind == AK_POLICY_FIXED && c.layers[1].kind == AK_POLICY_FIXED && c.layers[2].k == 2);

    c.layers[2] = ak_policy_ratio(0.5f, 1, 8);
    ak_policy_spec_init(&s);
    s.has_k_max = 1, s.k_max = 9;
    CHECK_ERR(ak_config_apply_spec(&c, &s, &err), AK_ERR_CONFIG, err, "apply to the top-p and ratio"); /* fixed ones */
    c.default_policy = c.layers[0] = c.layers[1] = ak_policy_top_p(0.5f, 1, 8);
    CHECK_ERR(ak_config_apply_spec(&c, &s, &err), AK_ERR_CONFIG, err, "invalid policy '");
    ak_policy_spec_init(&s); /* a failed apply may leave policies changed: set them again */
    c.default_policy = c.layers[1] = ak_policy_top_p(0.5f, 1, 8);
    c.layers[0] = ak_policy_top_p(0.5f, 3, 2);
    CHECK_ERR(ak_config_apply_spec(&c, &s, &err), AK_ERR_CONFIG, err, "invalid policy for layer 0 'top-p");
    ak_config_free(&c);
}

static void test_helpers(void) {
    ak_policy p = ak_policy_fixed(3);
    CHECK_EQ_INT(ak_policy_min_k(&p), 3);
    p = ak_policy_entropy_default();
    CHECK_EQ_INT(ak_policy_min_k(&p), 1);
    CHECK_EQ_INT(ak_policy_max_k(&p, 64), 4);
    p = ak_policy_ratio(0.2f, 2, 6);
    CHECK_EQ_INT(ak_policy_min_k(&p), 2);
    ak_entropy_unit u = AK_ENTROPY_NATS;
    CHECK(ak_entropy_unit_parse("bits", &u) == 0 && u == AK_ENTROPY_BITS);
    CHECK(ak_entropy_unit_parse("normalized", &u) == 0 && u == AK_ENTROPY_NORMALIZED);
    CHECK(ak_entropy_unit_parse("furlongs", &u) != 0 && u == AK_ENTROPY_NORMALIZED);
}

int main(void) {
    test_kind_inference();
    test_errors_in_syntax_words();
    test_entropy_parameters();
    test_config();
    test_helpers();
    return check_finish("test_spec");
}
