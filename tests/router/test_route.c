/* ak_route: hand-computed tokens, tie-breaking, renormalisation, a naive reference, errors. */
#include <stdlib.h>

#include "adaptivek.h"
#include "../check.h"
#include "router/compact_table.h"
#include "router/router_internal.h"
#include "quant/half.h"

static float ak_half_to_f32_for_tests(uint16_t h) { return half_to_f32(h); }

#define SLOTS 8

typedef struct {
    int k[64];
    int32_t ids[64 * SLOTS];
    float w[64 * SLOTS];
    float h[64];
    ak_route_out out;
} route_buf;

static ak_route_out *buf_init(route_buf *b, int n_tokens, int slots) {
    memset(b, 0, sizeof *b);
    b->out = (ak_route_out){n_tokens, slots, b->k, b->ids, b->w, b->h};
    return &b->out;
}

/* three tokens with logits = log of known probabilities:
 *   t0: {0.1, 0.4, 0.2, 0.3}      H = 1.27985 nats
 *   t1: {0.97, 0.01, 0.01, 0.01}  H = 0.16770
 *   t2: {0.05, 0.2, 0.7, 0.05}    H = 0.87113 */
static const float probs3[3][4] = {
    {0.1f, 0.4f, 0.2f, 0.3f}, {0.97f, 0.01f, 0.01f, 0.01f}, {0.05f, 0.2f, 0.7f, 0.05f}};

static void logits3(float *z) {
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < 4; i++) z[t * 4 + i] = logf(probs3[t][i]);
}

static void test_entropy_policy(void) {
    float z[12];
    logits3(z);
    route_buf b;
    ak_route_out *out = buf_init(&b, 3, 4);
    ak_policy p = ak_policy_entropy_default();
    CHECK(ak_route(&p, z, 3, 4, 0, out, NULL) == AK_OK);
    CHECK_NEAR(b.h[0], 1.2798542, 3e-6);
    CHECK_NEAR(b.h[1], 0.1677005, 3e-6);
    CHECK_NEAR(b.h[2], 0.8711333, 3e-6);
    CHECK_EQ_INT(b.k[0], 4);
    CHECK_EQ_INT(b.k[1], 1); /* H < h_1: k_1 (the SDK bug would not pick it) */
    CHECK_EQ_INT(b.k[2], 2);
    const int32_t ids0[4] = {1, 3, 2, 0};
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(b.ids[i], ids0[i]);
    CHECK_NEAR(b.w[0], 0.4, 1e-6);
    CHECK_NEAR(b.w[3], 0.1, 1e-6);
    CHECK_EQ_INT(b.ids[4], 0);
    CHECK_NEAR(b.w[4], 0.97, 1e-6);
    for (int i = 5; i < 8; i++) {
        CHECK_EQ_INT(b.ids[i], -1);
        CHECK(b.w[i] == 0.0f);
    }
    CHECK_EQ_INT(b.ids[8], 2);
    CHECK_EQ_INT(b.ids[9], 1);
    CHECK_EQ_INT(b.ids[10], -1);
    CHECK_NEAR(b.w[8], 0.7, 1e-6);
    CHECK_NEAR(b.w[9], 0.2, 1e-6);
    /* renormalised: the chosen weights sum to one */
    CHECK(ak_route(&p, z, 3, 4, 1, out, NULL) == AK_OK);
    CHECK_NEAR(b.w[4], 1.0, 1e-6);
    CHECK_NEAR(b.w[8], 0.7 / 0.9, 1e-6);
    CHECK_NEAR(b.w[9], 0.2 / 0.9, 1e-6);
    CHECK_NEAR(b.w[0] + b.w[1] + b.w[2] + b.w[3], 1.0, 1e-6);
}

static void test_fixed_top_p_ratio(void) {
    float z[12];
    logits3(z);
    route_buf b;
    ak_route_out *out = buf_init(&b, 3, 2);
    ak_policy f = ak_policy_fixed(2);
    CHECK(ak_route(&f, z, 3, 4, 0, out, NULL) == AK_OK);
    CHECK(b.k[0] == 2 && b.k[1] == 2 && b.k[2] == 2);
    CHECK(b.ids[0] == 1 && b.ids[1] == 3);
    CHECK_NEAR(b.w[0], 0.4, 1e-6);
    CHECK_NEAR(b.w[1], 0.3, 1e-6);
    CHECK(ak_route(&f, z, 3, 4, 1, out, NULL) == AK_OK);
    CHECK_NEAR(b.w[0], 4.0 / 7.0, 1e-6);
    CHECK_NEAR(b.w[1], 3.0 / 7.0, 1e-6);
    /* t1 ties 0.01, 0.01, 0.01: the lowest id wins the second slot */
    CHECK(b.ids[2] == 0 && b.ids[3] == 1);

    out = buf_init(&b, 3, 4);
    ak_policy tp = ak_policy_top_p(0.65f, 1, 4);
    CHECK(ak_route(&tp, z, 3, 4, 0, out, NULL) == AK_OK);
    CHECK_EQ_INT(b.k[0], 2); /* 0.4 + 0.3 >= 0.65 */
    CHECK_EQ_INT(b.k[1], 1); /* 0.97 */
    CHECK_EQ_INT(b.k[2], 1); /* 0.7 */
    tp.top_p = 0.8f;
    CHECK(ak_route(&tp, z, 3, 4, 0, out, NULL) == AK_OK);
    CHECK(b.k[0] == 3 && b.k[1] == 1 && b.k[2] == 2);

    ak_policy r = ak_policy_ratio(0.55f, 1, 4); /* t0: cut 0.22 -> {0.4, 0.3} */
    CHECK(ak_route(&r, z, 3, 4, 0, out, NULL) == AK_OK);
    CHECK(b.k[0] == 2 && b.k[1] == 1 && b.k[2] == 1);
    r.ratio = 0.2f; /* t0: cut 0.08 -> all 4; t2: cut 0.14 -> {0.7, 0.2} */
    CHECK(ak_route(&r, z, 3, 4, 0, out, NULL) == AK_OK);
    CHECK(b.k[0] == 4 && b.k[1] == 1 && b.k[2] == 2);
    CHECK(b.ids[8] == 2 && b.ids[9] == 1 && b.ids[10] == -1);
}

static void test_ties(void) {
    float z[8] = {1, 3, 3, 1, 0, 0, 0, 0};
    route_buf b;
    ak_route_out *out = buf_init(&b, 2, 4);
    ak_policy f = ak_policy_fixed(4);
    CHECK(ak_route(&f, z, 2, 4, 0, out, NULL) == AK_OK);
    const int32_t want[8] = {1, 2, 0, 3, 0, 1, 2, 3};
    for (int i = 0; i < 8; i++) CHECK_EQ_INT(b.ids[i], want[i]);
    CHECK_NEAR(b.w[4], 0.25, 1e-7);

    /* logits one ulp apart may get the same float probability; the larger logit still
     * ranks first (ranking is by logit), whatever the ids */
    float close[16];
    for (int i = 0; i < 16; i++) close[i] = -3.0f;
    close[3] = 0.01f;
    close[9] = nextafterf(0.01f, 1.0f);
    ak_route_out *o2 = buf_init(&b, 1, 2);
    ak_policy f2 = ak_policy_fixed(2);
    CHECK(ak_route(&f2, close, 1, 16, 0, o2, NULL) == AK_OK);
    CHECK(b.ids[0] == 9 && b.ids[1] == 3);
    CHECK(b.w[0] >= b.w[1]);
}

typedef struct {
    double p;
    int id;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? 1 : -1;
    return x->id - y->id;
}

/* Random tokens vs. a naive reference: double softmax, full sort, direct policy rules. */
static void test_vs_naive(void) {
    enum { N = 64, T = 64 };
    static float z[T * N];
    test_rng rng = {777};
    for (int t = 0; t < T; t++) {
        double scale = 0.2 + 4.0 * rng_uniform(&rng);
        for (int i = 0; i < N; i++) z[t * N + i] = (float)(scale * rng_normal(&rng));
    }
    int k5[5] = {1, 2, 3, 5, 8};
    float h5[4] = {1.5f, 2.5f, 3.2f, 3.8f};
    ak_policy pols[5] = {ak_policy_fixed(8), ak_policy_entropy(5, k5, h5, AK_ENTROPY_NATS),
                         ak_policy_top_p(0.8f, 1, 8), ak_policy_ratio(0.3f, 2, 8), ak_policy_threshold(0.05f, 2, 7)};
    route_buf b;
    ak_route_out *out = buf_init(&b, T, SLOTS);
    int mismatches = 0;
    for (int pi = 0; pi < 5; pi++) {
        CHECK(ak_route(&pols[pi], z, T, N, pi % 2, out, NULL) == AK_OK);
        for (int t = 0; t < T; t++) {
            ranked r[N];
            double m = -1e30, s = 0, h = 0;
            for (int i = 0; i < N; i++) m = fmax(m, z[t * N + i]);
            for (int i = 0; i < N; i++) s += exp(z[t * N + i] - m);
            for (int i = 0; i < N; i++) {
                r[i].p = exp(z[t * N + i] - m) / s;
                r[i].id = i;
                h -= r[i].p * log(r[i].p);
            }
            qsort(r, N, sizeof r[0], cmp_ranked);
            int k = 0;
            switch (pols[pi].kind) {
            case AK_POLICY_FIXED: k = 8; break;
            case AK_POLICY_ENTROPY:
                k = h < 1.5 ? 1 : h < 2.5 ? 2 : h < 3.2 ? 3 : h < 3.8 ? 5 : 8;
                break;
            case AK_POLICY_TOP_P: {
                double c = 0;
                for (k = 0; k < 8 && c < 0.8;) c += r[k++].p;
                break;
            }
            case AK_POLICY_RATIO:
                for (k = 1; k < 8 && r[k].p >= 0.3 * r[0].p;) k++;
                if (k < 2) k = 2;
                break;
            case AK_POLICY_THRESHOLD: /* keep p_i >= 0.05, K in [2, 7] */
                for (k = 1; k < 7 && r[k].p >= 0.05;) k++;
                if (k < 2) k = 2;
                break;
            }
            if (b.k[t] != k) mismatches++;
            double norm = 0;
            for (int i = 0; i < k; i++) norm += r[i].p;
            for (int i = 0; i < SLOTS && b.k[t] == k; i++) {
                int32_t id = b.ids[t * SLOTS + i];
                float w = b.w[t * SLOTS + i];
                if (i < k) {
                    double want = pi % 2 ? r[i].p / norm : r[i].p;
                    if (id != r[i].id || fabs(w - want) > 1e-6) mismatches++;
                } else if (id != -1 || w != 0.0f) {
                    mismatches++;
                }
            }
        }
    }
    CHECK_EQ_INT(mismatches, 0);
}

/* Selection edge cases against a full sort: every n in 1..40 and some larger, every K up to
 * 12, logits drawn from a few integers so that equal probabilities are common (ties must go
 * to the lower id), and continuous logits. */
static void test_selection_exhaustive(void) {
    static float z[1024];
    static int k[1];
    static int32_t ids[16];
    static float w[16];
    test_rng rng = {4242};
    int sizes[48];
    int n_sizes = 0;
    for (int n = 1; n <= 40; n++) sizes[n_sizes++] = n;
    const int more[] = {47, 60, 64, 65, 100, 128, 333, 1024};
    for (int i = 0; i < 8; i++) sizes[n_sizes++] = more[i];
    int mismatches = 0, cases = 0;
    for (int si = 0; si < n_sizes; si++) {
        int n = sizes[si];
        for (int rep = 0; rep < 40; rep++) {
            int discrete = rep % 2 == 0;
            for (int i = 0; i < n; i++)
                z[i] = discrete ? (float)(int)(4.0 * rng_uniform(&rng)) : (float)rng_normal(&rng);
            ranked r[1024];
            double m = -1e30, s = 0;
            for (int i = 0; i < n; i++) m = fmax(m, z[i]);
            for (int i = 0; i < n; i++) s += exp(z[i] - m);
            for (int i = 0; i < n; i++) {
                r[i].p = exp(z[i] - m) / s;
                r[i].id = i;
            }
            qsort(r, (size_t)n, sizeof r[0], cmp_ranked);
            for (int kk = 1; kk <= 12 && kk <= n; kk++) {
                ak_policy f = ak_policy_fixed(kk);
                ak_route_out out = {1, 16, k, ids, w, NULL};
                cases++;
                if (ak_route(&f, z, 1, n, 0, &out, NULL) != AK_OK || k[0] != kk) {
                    mismatches++;
                    continue;
                }
                for (int i = 0; i < kk; i++)
                    if (ids[i] != r[i].id || fabs(w[i] - r[i].p) > 1e-6) {
                        if (mismatches < 5)
                            fprintf(stderr, "n=%d k=%d rank %d: id %d want %d\n", n, kk, i,
                                    ids[i], r[i].id);
                        mismatches++;
                        break;
                    }
            }
        }
    }
    printf("selection: %d cases checked against a full sort\n", cases);
    CHECK_EQ_INT(mismatches, 0);
}

static void test_compact_table(void) {
    int bad = 0;
    for (unsigned b = 0; b < 256; b++) {
        int n = 0;
        for (int j = 0; j < 8; j++)
            if (b >> j & 1) bad += ak_compact_table[b][n++] != j;
        for (; n < 8; n++) bad += ak_compact_table[b][n] != 0;
    }
    CHECK_EQ_INT(bad, 0);
}

static void test_errors(void) {
    float z[12];
    logits3(z);
    route_buf b;
    ak_error e;
    ak_route_out *out = buf_init(&b, 3, 4);
    ak_policy p = ak_policy_entropy_default();
    z[6] = NAN; /* token 1, expert 2 */
    CHECK_ERR(ak_route(&p, z, 3, 4, 0, out, &e), AK_ERR_NONFINITE, e, "token 1, expert 2");
    z[6] = INFINITY;
    CHECK_ERR(ak_route(&p, z, 3, 4, 0, out, &e), AK_ERR_NONFINITE, e, "is Inf");
    logits3(z);
    CHECK_ERR(ak_route(&p, z, 0, 4, 0, out, &e), AK_ERR_INVALID_ARG, e, "n_tokens=0");
    CHECK_ERR(ak_route(&p, z, 3, 0, 0, out, &e), AK_ERR_INVALID_ARG, e, "n_experts");
    CHECK_ERR(ak_route(&p, z, 3, 2000, 0, out, &e), AK_ERR_INVALID_ARG, e, "n_experts");
    CHECK_ERR(ak_route(&p, z, 3, 3, 0, out, &e), AK_ERR_CONFIG, e, "k_values[2]=4");
    ak_policy f = ak_policy_fixed(5);
    CHECK_ERR(ak_route(&f, z, 3, 4, 0, out, &e), AK_ERR_CONFIG, e, "k=5");
    out->slots = 3;
    CHECK_ERR(ak_route(&p, z, 3, 4, 0, out, &e), AK_ERR_INVALID_ARG, e, "slots=3");
    out->slots = 4;
    out->n_tokens = 2;
    CHECK_ERR(ak_route(&p, z, 3, 4, 0, out, &e), AK_ERR_INVALID_ARG, e, "room for 2");
    out->n_tokens = 3;
    out->entropy = NULL; /* entropy output is optional */
    CHECK(ak_route(&p, z, 3, 4, 0, out, &e) == AK_OK);
    CHECK_ERR(ak_route(NULL, z, 3, 4, 0, out, &e), AK_ERR_INVALID_ARG, e, NULL);
}

/* ak_route_f16 decides exactly as ak_route on the widened values, under every policy, and
 * reports NaN/Inf and bad arguments the same way. */
static void test_route_f16(void) {
    enum { T = 48, E = 40 };
    uint16_t h[T * E];
    float z[T * E];
    srand(7);
    for (int i = 0; i < T * E; i++) {
        /* binary16 values in [-8, 8): sign, exponent 12..17, random mantissa */
        uint16_t bits = (uint16_t)((rand() & 1) << 15 | (12 + rand() % 6) << 10 | (rand() & 0x3FF));
        h[i] = bits;
        z[i] = ak_half_to_f32_for_tests(bits);
    }
    const int kv[3] = {1, 2, 4};
    const float th[2] = {0.6f, 1.2f};
    ak_policy ps[4] = {ak_policy_fixed(3), ak_policy_entropy(3, kv, th, AK_ENTROPY_NORMALIZED),
                       ak_policy_top_p(0.6f, 1, 8), ak_policy_ratio(0.3f, 1, 8)};
    static route_buf a, b;
    for (int i = 0; i < 4; i++)
        for (int renorm = 0; renorm <= 1; renorm++) {
            ak_route_out *oa = buf_init(&a, T, SLOTS), *ob = buf_init(&b, T, SLOTS);
            CHECK(ak_route(&ps[i], z, T, E, renorm, oa, NULL) == AK_OK);
            CHECK(ak_route_f16(&ps[i], h, T, E, renorm, ob, NULL) == AK_OK);
            CHECK(!memcmp(a.k, b.k, sizeof a.k) && !memcmp(a.ids, b.ids, sizeof a.ids));
            CHECK(!memcmp(a.w, b.w, sizeof a.w) && !memcmp(a.h, b.h, sizeof a.h));
        }
    ak_error e;
    ak_route_out *ob = buf_init(&b, T, SLOTS);
    h[5 * E + 3] = 0x7E00; /* NaN */
    CHECK_ERR(ak_route_f16(&ps[0], h, T, E, 0, ob, &e), AK_ERR_NONFINITE, e, "token 5, expert 3 is NaN");
    h[5 * E + 3] = 0xFC00; /* -Inf */
    CHECK_ERR(ak_route_f16(&ps[0], h, T, E, 0, ob, &e), AK_ERR_NONFINITE, e, "is Inf");
    CHECK_ERR(ak_route_f16(&ps[0], NULL, T, E, 0, ob, &e), AK_ERR_INVALID_ARG, e, "must not be NULL");
    ob->slots = 2;
    CHECK_ERR(ak_route_f16(&ps[0], h, T, E, 0, ob, &e), AK_ERR_INVALID_ARG, e, "max K 3");
}

int main(void) {
    /* once with the kernel this CPU gets (AVX2 when present), once with the baseline one */
    test_compact_table();
    for (int simd = 1; simd >= 0; simd--) {
        ak_router_use_simd(simd);
        test_entropy_policy();
        test_fixed_top_p_ratio();
        test_ties();
        test_vs_naive();
        test_selection_exhaustive();
        test_errors();
        test_route_f16();
    }
    return check_finish("test_route");
}
