/* test_route_stats.c - K histogram statistics and exact entropy percentiles on hand-made
 * values, and the summary they print. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route_stats.h"
#include "../check.h"


int main(void) {
    /* 2 layers x 5 tokens x 8 experts; layer 0 chose K = 1,1,2,2,4, layer 1 K = 4,4,4,4,8 */
    ak_route_run r;
    memset(&r, 0, sizeof r);
    r.n_layers = 2;
    r.n_tokens = 5;
    r.n_experts = 8;
    uint64_t hist[2][9] = {{0, 2, 2, 0, 1, 0, 0, 0, 0}, {0, 0, 0, 0, 4, 0, 0, 0, 1}};
    float entropy[2][5] = {{3.0f, 0.0f, 4.0f, 1.0f, 2.0f}, {0.5f, 0.5f, 0.5f, 0.5f, 10.5f}};
    r.k_hist = &hist[0][0];
    r.entropy = &entropy[0][0];

    /* by hand: layer 0 (1+1+2+2+4)/5 = 2, layer 1 (4*4+8)/5 = 4.8, all 34/10 = 3.4 */
    CHECK(fabs(ak_route_run_avg_k(&r, 0) - 2.0) < 1e-12);
    CHECK(fabs(ak_route_run_avg_k(&r, 1) - 4.8) < 1e-12);
    CHECK(fabs(ak_route_run_avg_k(&r, -1) - 3.4) < 1e-12);
    /* layer 0 sorted 0,1,2,3,4: q positions 0.4, 2, 3.6 -> 0.4, 2, 3.6 */
    CHECK(fabs(ak_route_run_entropy_percentile(&r, 0, 0.1) - 0.4) < 1e-6);
    CHECK(fabs(ak_route_run_entropy_percentile(&r, 0, 0.5) - 2.0) < 1e-6);
    CHECK(fabs(ak_route_run_entropy_percentile(&r, 0, 0.9) - 3.6) < 1e-6);
    CHECK(ak_route_run_entropy_percentile(&r, 0, 0.0) == 0.0 && ak_route_run_entropy_percentile(&r, 0, 1.0) == 4.0);
    /* layer 1 sorted 0.5 x4, 10.5: p90 at position 3.6 -> 0.5 + 0.6 * 10 = 6.5 */
    CHECK(fabs(ak_route_run_entropy_percentile(&r, 1, 0.9) - 6.5) < 1e-6);
    /* all ten sorted 0,0.5,0.5,0.5,0.5,1,2,3,4,10.5: p50 at 4.5 -> (0.5 + 1) / 2 = 0.75 */
    CHECK(fabs(ak_route_run_entropy_percentile(&r, -1, 0.5) - 0.75) < 1e-6);

    FILE *fp = tmpfile();
    ak_route_run_print_summary(&r, 8, fp);
    rewind(fp);
    char text[4096];
    size_t n = fread(text, 1, sizeof text - 1, fp);
    text[n] = 0;
    fclose(fp);
    /* saved against top-8: 1 - 3.4/8 = 57.5%; K=4: 5 of 10 tokens */
    CHECK(strstr(text, "average K 3.400 vs native top-8: 57.5% of the routed-expert FFN compute saved"));
    CHECK(strstr(text, "      K=4        5   50.0%  ########################################\n"));
    CHECK(strstr(text, "      K=8        1   10.0%  ########\n"));
    CHECK(strstr(text, "(10 routing decisions)"));
    /* the layer-0 row: avg 2.000, saved 75.0%, p10/p50/p90 0.40 2.00 3.60, K=1 40%, K=2 40%, K=4 20%, K=8 0% */
    CHECK(strstr(text, "      0   2.000    75.0%   0.40  2.00  3.60  |    40.0%    40.0%    20.0%     0.0%\n"));
    /* more work than native: negative savings are reported as such */
    fp = tmpfile();
    ak_route_run_print_summary(&r, 2, fp);
    rewind(fp);
    n = fread(text, 1, sizeof text - 1, fp);
    text[n] = 0;
    fclose(fp);
    CHECK(strstr(text, "70.0% MORE routed-expert FFN compute than top-2"));
    if (failures) fputs(text, stderr);
    return check_finish("route stats");
}
