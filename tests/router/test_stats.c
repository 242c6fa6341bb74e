/* Statistics: a hand-built batch with known averages, histograms and percentiles. */
#include "adaptivek.h"
#include "../check.h"

int main(void) {
    static ak_layer_stats s, m;
    int k[4] = {1, 2, 4, 4};
    double ln64 = log(64.0);
    /* normalised entropies 0.1, 0.5, 0.52, 0.99 -> bins 3, 16, 16, 31 (of 32) */
    float h[4] = {(float)(0.1 * ln64), (float)(0.5 * ln64), (float)(0.52 * ln64),
                  (float)(0.99 * ln64)};
    int32_t ids[16] = {0};
    float w[16] = {0};
    ak_route_out out = {4, 4, k, ids, w, h};
    ak_stats_init(&s, 64, 8);
    CHECK(ak_stats_avg_k(&s) == 0.0 && ak_stats_saved(&s) == 0.0);
    ak_stats_add(&s, &out);
    CHECK_EQ_INT(s.n_tokens, 4);
    CHECK_NEAR(ak_stats_avg_k(&s), 11.0 / 4.0, 1e-12);
    CHECK_NEAR(ak_stats_saved(&s), 1.0 - 2.75 / 8.0, 1e-12); /* 0.65625 vs native top-8 */
    CHECK(s.k_hist[1] == 1 && s.k_hist[2] == 1 && s.k_hist[4] == 2 && s.k_hist[3] == 0);
    CHECK(s.entropy_hist[3] == 1 && s.entropy_hist[16] == 2 && s.entropy_hist[31] == 1);
    CHECK_NEAR(ak_stats_avg_entropy(&s), (0.1 + 0.5 + 0.52 + 0.99) / 4 * ln64, 1e-6);
    /* percentiles read from bin midpoints: median falls in bin 16 -> (16.5/32) ln 64 */
    CHECK_NEAR(ak_stats_entropy_percentile(&s, 0.5), 16.5 / 32 * ln64, 1e-9);
    CHECK_NEAR(ak_stats_entropy_percentile(&s, 0.0), 3.5 / 32 * ln64, 1e-9);
    CHECK_NEAR(ak_stats_entropy_percentile(&s, 1.0), 31.5 / 32 * ln64, 1e-9);
    CHECK_NEAR(ak_stats_entropy_percentile(&s, 0.25), 3.5 / 32 * ln64, 1e-9);
    CHECK_NEAR(ak_stats_entropy_percentile(&s, 0.76), 31.5 / 32 * ln64, 1e-9);

    /* merge doubles the counts and keeps the averages */
    ak_stats_init(&m, 64, 8);
    ak_stats_merge(&m, &s);
    ak_stats_merge(&m, &s);
    CHECK_EQ_INT(m.n_tokens, 8);
    CHECK_EQ_INT(m.k_hist[4], 4);
    CHECK_NEAR(ak_stats_avg_k(&m), 2.75, 1e-12);

    /* more experts than the native top-k: negative savings */
    int kk[2] = {8, 10};
    ak_route_out out2 = {2, 4, kk, ids, w, NULL};
    ak_stats_init(&s, 64, 8);
    ak_stats_add(&s, &out2);
    CHECK_NEAR(ak_stats_saved(&s), 1.0 - 9.0 / 8.0, 1e-12);
    CHECK(s.n_entropy == 0 && ak_stats_avg_entropy(&s) == 0.0);
    return check_finish("test_stats");
}
