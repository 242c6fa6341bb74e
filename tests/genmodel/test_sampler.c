/* test_sampler.c - sampling: greedy, top-k, top-p and temperature against hand-computed
 * distributions (frequencies over many draws), determinism per seed, bad input. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../check.h"
#include "model/sampler.h"


#define DRAWS 40000

/* Frequencies of ids 0..n-1 over DRAWS draws. */
static void frequencies(ak_sampler_params p, const float *logits, int n, double *freq) {
    ak_sampler *s = ak_sampler_new(n, &p);
    memset(freq, 0, sizeof(double) * (size_t)n);
    for (int i = 0; i < DRAWS; i++) {
        int32_t t = ak_sampler_sample(s, logits);
        if (t >= 0 && t < n) freq[t] += 1.0 / DRAWS;
    }
    ak_sampler_free(s);
}

static void expect_freq(const char *what, const double *got, const double *want, int n) {
    for (int i = 0; i < n; i++)
        CHECK(fabs(got[i] - want[i]) < 0.015, "%s: token %d frequency %.4f, want %.4f", what, i, got[i], want[i]);
}

int main(void) {
    /* probabilities 0.5, 0.3, 0.2 and a token that is never drawn */
    const float logits[4] = {logf(0.5f), logf(0.3f), logf(0.2f), -INFINITY};
    double f[4];
    ak_sampler_params p = {1.0f, 0, 1.0f, 42};

    frequencies(p, logits, 4, f);
    expect_freq("temp 1", f, (double[]){0.5, 0.3, 0.2, 0}, 4);

    /* temp 2: p^(1/2) normalised: sqrt(.5)=.7071, sqrt(.3)=.5477, sqrt(.2)=.4472; sum 1.7020 */
    p.temp = 2.0f;
    frequencies(p, logits, 4, f);
    expect_freq("temp 2", f, (double[]){0.4155, 0.3218, 0.2628, 0}, 4);

    /* top-k 2: 0.5 / 0.8 and 0.3 / 0.8 */
    p.temp = 1.0f, p.top_k = 2;
    frequencies(p, logits, 4, f);
    expect_freq("top-k 2", f, (double[]){0.625, 0.375, 0, 0}, 4);

    /* top-p 0.7: 0.5 < 0.7, 0.5 + 0.3 >= 0.7 -> the same two tokens */
    p.top_k = 0, p.top_p = 0.7f;
    frequencies(p, logits, 4, f);
    expect_freq("top-p 0.7", f, (double[]){0.625, 0.375, 0, 0}, 4);
    p.top_p = 0.4f;
    frequencies(p, logits, 4, f);
    expect_freq("top-p 0.4", f, (double[]){1, 0, 0, 0}, 4);

    /* greedy: argmax, lowest id on ties, NaN ignored */
    p = (ak_sampler_params){0.0f, 0, 1.0f, 1};
    ak_sampler *s = ak_sampler_new(5, &p);
    const float tie[5] = {0.1f, 2.0f, NAN, 2.0f, -1.0f};
    CHECK(ak_sampler_sample(s, tie) == 1, "greedy tie -> lowest id");
    ak_sampler_free(s);

    /* a large vocabulary with top-k: only the k best ever come out */
    enum { V = 5000 };
    static float big[V];
    for (int i = 0; i < V; i++) big[i] = (float)((i * 7919) % V) / 1000.0f; /* a permutation of 0..4.999 */
    p = (ak_sampler_params){1.5f, 10, 1.0f, 3};
    s = ak_sampler_new(V, &p);
    int ok = 1;
    for (int i = 0; i < 2000; i++) {
        int32_t t = ak_sampler_sample(s, big);
        if (big[t] < 4.990f - 1e-4f) ok = 0;
    }
    CHECK(ok, "top-k 10 draws only from the 10 largest logits");
    ak_sampler_free(s);

    /* same seed, same sequence; another seed, another sequence */
    p = (ak_sampler_params){1.0f, 0, 1.0f, 99};
    ak_sampler *a = ak_sampler_new(V, &p), *b = ak_sampler_new(V, &p);
    p.seed = 100;
    ak_sampler *c = ak_sampler_new(V, &p);
    int same_ab = 1, same_ac = 1;
    for (int i = 0; i < 100; i++) {
        int32_t ta = ak_sampler_sample(a, big), tb = ak_sampler_sample(b, big), tc = ak_sampler_sample(c, big);
        same_ab &= ta == tb;
        same_ac &= ta == tc;
    }
    CHECK(same_ab && !same_ac, "seeded determinism (ab %d, ac %d)", same_ab, same_ac);
    ak_sampler_free(a), ak_sampler_free(b), ak_sampler_free(c);

    p = (ak_sampler_params){1.0f, 0, 0.0f, 1};
    CHECK(ak_sampler_new(10, &p) == NULL, "top-p 0 rejected");
    p.top_p = 1.0f;
    CHECK(ak_sampler_new(0, &p) == NULL, "empty vocabulary rejected");
    p.temp = NAN;
    CHECK(ak_sampler_new(10, &p) == NULL, "NaN temperature rejected");

    return check_finish("test_sampler");
}
