/* Policies: K selection by hand, the SDK-bug regression, validation, names, description. */
#include "adaptivek.h"
#include "../check.h"

static void test_entropy_levels(void) {
    ak_policy p = ak_policy_entropy_default();
    const float sorted[4] = {0.4f, 0.3f, 0.2f, 0.1f}; /* unused by the entropy policy */
    CHECK_EQ_INT(p.n_levels, 3);
    CHECK_EQ_INT(ak_policy_max_k(&p, 64), 4);
    /* SDK-bug regression: the published SDK's threshold loop has no break, so it never picks
     * k_1. Here H < h_1 = 0.6 must give k_1 = 1. */
    CHECK_EQ_INT(ak_select_k(&p, sorted, 4, 0.0f), 1);
    CHECK_EQ_INT(ak_select_k(&p, sorted, 4, 0.1677f), 1);
    CHECK_EQ_INT(ak_select_k(&p, sorted, 4, 0.5999f), 1);
    /* h_1 <= H < h_2 -> k_2; boundaries belong to the upper level */
    CHECK_EQ_INT(ak_select_k(&p, sorted, 4, 0.6f), 2);
    CHECK_EQ_INT(ak_select_k(&p, sorted, 4, 0.8711f), 2);
    CHECK_EQ_INT(ak_select_k(&p, sorted, 4, 1.1999f), 2);
    CHECK_EQ_INT(ak_select_k(&p, sorted, 4, 1.2f), 4);
    CHECK_EQ_INT(ak_select_k(&p, sorted, 4, 4.0f), 4);

    /* the same thresholds in bits and normalised units select the same K */
    float hb[2] = {(float)(0.6 / log(2.0)), (float)(1.2 / log(2.0))};
    float hn[2] = {(float)(0.6 / log(64.0)), (float)(1.2 / log(64.0))};
    int k[3] = {1, 2, 4};
    ak_policy pb = ak_policy_entropy(3, k, hb, AK_ENTROPY_BITS);
    ak_policy pn = ak_policy_entropy(3, k, hn, AK_ENTROPY_NORMALIZED);
    const float hs[] = {0.1f, 0.59f, 0.61f, 1.19f, 1.21f, 3.0f};
    for (int i = 0; i < 6; i++) {
        int want = ak_select_k(&p, sorted, 64, hs[i]);
        CHECK_EQ_INT(ak_select_k(&pb, sorted, 64, hs[i]), want);
        CHECK_EQ_INT(ak_select_k(&pn, sorted, 64, hs[i]), want);
    }
    /* one level: constant K */
    int k1[1] = {3};
    ak_policy single = ak_policy_entropy(1, k1, NULL, AK_ENTROPY_NATS);
    CHECK(ak_policy_validate(&single, 8, NULL) == AK_OK);
    CHECK_EQ_INT(ak_select_k(&single, sorted, 4, 9.0f), 3);
}

static void test_top_p_ratio(void) {
    const float s[6] = {0.5f, 0.25f, 0.125f, 0.0625f, 0.03125f, 0.03125f};
    ak_policy p = ak_policy_top_p(0.75f, 1, 6);
    CHECK_EQ_INT(ak_select_k(&p, s, 6, 0), 2); /* 0.5 + 0.25 reaches 0.75 exactly */
    p.top_p = 0.76f;
    CHECK_EQ_INT(ak_select_k(&p, s, 6, 0), 3);
    p.top_p = 0.4f;
    CHECK_EQ_INT(ak_select_k(&p, s, 6, 0), 1);
    p.top_p = 1.0f;
    CHECK_EQ_INT(ak_select_k(&p, s, 6, 0), 6);
    p.top_p = 0.95f;
    CHECK_EQ_INT(ak_select_k(&p, s, 6, 0), 5); /* 0.96875 */
    /* clamps */
    p = ak_policy_top_p(0.4f, 2, 6);
    CHECK_EQ_INT(ak_select_k(&p, s, 6, 0), 2);
    p = ak_policy_top_p(0.99f, 1, 3);
    CHECK_EQ_INT(ak_select_k(&p, s, 6, 0), 3);

    ak_policy r = ak_policy_ratio(0.5f, 1, 6); /* keep p_i >= 0.25 */
    CHECK_EQ_INT(ak_select_k(&r, s, 6, 0), 2);
    r.ratio = 0.2f; /* >= 0.1 */
    CHECK_EQ_INT(ak_select_k(&r, s, 6, 0), 3);
    r.ratio = 0.0625f; /* >= 0.03125: all six */
    CHECK_EQ_INT(ak_select_k(&r, s, 6, 0), 6);
    r.ratio = 1.0f;
    CHECK_EQ_INT(ak_select_k(&r, s, 6, 0), 1);
    r = ak_policy_ratio(1.0f, 2, 4);
    CHECK_EQ_INT(ak_select_k(&r, s, 6, 0), 2);
    r = ak_policy_ratio(0.01f, 1, 4);
    CHECK_EQ_INT(ak_select_k(&r, s, 6, 0), 4);

    ak_policy a = ak_policy_threshold(0.125f, 1, 6); /* keep p_i >= 0.125: three */
    CHECK_EQ_INT(ak_select_k(&a, s, 6, 0), 3);
    a.p_min = 0.03125f; /* the equal last two are both kept */
    CHECK_EQ_INT(ak_select_k(&a, s, 6, 0), 6);
    a.p_min = 0.9f; /* none reaches it: the top expert is always kept */
    CHECK_EQ_INT(ak_select_k(&a, s, 6, 0), 1);
    a = ak_policy_threshold(0.9f, 2, 4);
    CHECK_EQ_INT(ak_select_k(&a, s, 6, 0), 2);
    a = ak_policy_threshold(0.01f, 1, 4);
    CHECK_EQ_INT(ak_select_k(&a, s, 6, 0), 4);

    ak_policy f = ak_policy_fixed(3);
    CHECK_EQ_INT(ak_select_k(&f, s, 6, 5.0f), 3);
    CHECK_EQ_INT(ak_policy_max_k(&f, 6), 3);
}

static void test_validate(void) {
    ak_error e;
    ak_policy p = ak_policy_fixed(9);
    CHECK_ERR(ak_policy_validate(&p, 8, &e), AK_ERR_CONFIG, e, "k=9");
    p = ak_policy_fixed(0);
    CHECK_ERR(ak_policy_validate(&p, 8, &e), AK_ERR_CONFIG, e, "k=0");
    p = ak_policy_fixed(2);
    CHECK(ak_policy_validate(&p, 8, &e) == AK_OK);
    CHECK_ERR(ak_policy_validate(&p, 0, &e), AK_ERR_INVALID_ARG, e, "n_experts 0");
    CHECK_ERR(ak_policy_validate(&p, 1025, &e), AK_ERR_INVALID_ARG, e, "1025");
    CHECK(ak_policy_validate(&p, 1024, &e) == AK_OK);

    int k[3] = {1, 2, 4};
    float bad_h[2] = {1.2f, 0.6f};
    p = ak_policy_entropy(3, k, bad_h, AK_ENTROPY_NATS);
    CHECK_ERR(ak_policy_validate(&p, 8, &e), AK_ERR_CONFIG, e, "thresholds must be strictly");
    float eq_h[2] = {0.6f, 0.6f};
    p = ak_policy_entropy(3, k, eq_h, AK_ENTROPY_NATS);
    CHECK_ERR(ak_policy_validate(&p, 8, &e), AK_ERR_CONFIG, e, "ascending");
    float nan_h[2] = {0.6f, NAN};
    p = ak_policy_entropy(3, k, nan_h, AK_ENTROPY_NATS);
    CHECK_ERR(ak_policy_validate(&p, 8, &e), AK_ERR_CONFIG, e, "not finite");
    int desc_k[3] = {1, 4, 2};
    float h[2] = {0.6f, 1.2f};
    p = ak_policy_entropy(3, desc_k, h, AK_ENTROPY_NATS);
    CHECK_ERR(ak_policy_validate(&p, 8, &e), AK_ERR_CONFIG, e, "k_values must be strictly");
    p = ak_policy_entropy(3, k, h, AK_ENTROPY_NATS);
    CHECK_ERR(ak_policy_validate(&p, 3, &e), AK_ERR_CONFIG, e, "k_values[2]=4");
    CHECK(ak_policy_validate(&p, 4, &e) == AK_OK);
    p = ak_policy_entropy(0, k, h, AK_ENTROPY_NATS);
    CHECK_ERR(ak_policy_validate(&p, 8, &e), AK_ERR_CONFIG, e, "n_levels=0");
    int k17[17] = {0};
    float h17[16] = {0};
    p = ak_policy_entropy(17, k17, h17, AK_ENTROPY_NATS);
    CHECK_ERR(ak_policy_validate(&p, 8, &e), AK_ERR_CONFIG, e, "n_levels=17");

    p = ak_policy_top_p(0.0f, 1, 4);
    CHECK_ERR(ak_policy_validate(&p, 8, &e), AK_ERR_CONFIG, e, "(0, 1]");
    p = ak_policy_top_p(1.5f, 1, 4);
    CHECK_ERR(ak_policy_validate(&p, 8, &e), AK_ERR_CONFIG, e, NULL);
    p = ak_policy_top_p(NAN, 1, 4);
    CHECK_ERR(ak_policy_validate(&p, 8, &e), AK_ERR_CONFIG, e, NULL);
    p = ak_policy_top_p(0.9f, 3, 2);
    CHECK_ERR(ak_policy_validate(&p, 8, &e), AK_ERR_CONFIG, e, "k_min=3 k_max=2");
    p = ak_policy_top_p(0.9f, 1, 9);
    CHECK_ERR(ak_policy_validate(&p, 8, &e), AK_ERR_CONFIG, e, "k_max=9");
    p = ak_policy_ratio(0.0f, 1, 4);
    CHECK_ERR(ak_policy_validate(&p, 8, &e), AK_ERR_CONFIG, e, "ratio");
    p = ak_policy_ratio(0.1f, 0, 4);
    CHECK_ERR(ak_policy_validate(&p, 8, &e), AK_ERR_CONFIG, e, "k_min=0");
    p = ak_policy_threshold(0.0f, 1, 4);
    CHECK_ERR(ak_policy_validate(&p, 8, &e), AK_ERR_CONFIG, e, "p_min");
    p = ak_policy_threshold(1.5f, 1, 4);
    CHECK_ERR(ak_policy_validate(&p, 8, &e), AK_ERR_CONFIG, e, "p_min");
    p = ak_policy_threshold(0.1f, 1, 9);
    CHECK_ERR(ak_policy_validate(&p, 8, &e), AK_ERR_CONFIG, e, "k_max=9");
    p.kind = (ak_policy_kind)42;
    CHECK_ERR(ak_policy_validate(&p, 8, &e), AK_ERR_CONFIG, e, "unknown policy kind");
    CHECK_ERR(ak_policy_validate(NULL, 8, &e), AK_ERR_INVALID_ARG, e, NULL);
}

static void test_names(void) {
    ak_policy_kind k;
    const char *names[] = {"fixed", "entropy", "top-p", "ratio", "threshold"};
    for (int i = 0; i < 5; i++) {
        CHECK(strcmp(ak_policy_kind_name((ak_policy_kind)i), names[i]) == 0);
        CHECK(ak_policy_kind_parse(names[i], &k) == 0 && (int)k == i);
    }
    CHECK(ak_policy_kind_parse("entropi", &k) != 0);
    char buf[128];
    ak_policy p = ak_policy_entropy_default();
    ak_policy_describe(&p, buf, sizeof buf);
    CHECK(strcmp(buf, "entropy k={1,2,4} h={0.6,1.2} nats") == 0);
    p = ak_policy_top_p(0.9f, 1, 8);
    ak_policy_describe(&p, buf, sizeof buf);
    CHECK(strcmp(buf, "top-p p=0.9 k=[1,8]") == 0);
    p = ak_policy_threshold(0.05f, 2, 8);
    ak_policy_describe(&p, buf, sizeof buf);
    CHECK(strcmp(buf, "threshold p>=0.05 k=[2,8]") == 0);
    CHECK_EQ_INT(ak_policy_max_k(&p, 16), 8);
    p = ak_policy_fixed(8);
    ak_policy_describe(&p, buf, 6); /* truncation stays NUL-terminated */
    CHECK(strcmp(buf, "fixed") == 0);
}

int main(void) {
    test_entropy_levels();
    test_top_p_ratio();
    test_validate();
    test_names();
    return check_finish("test_policy");
}
