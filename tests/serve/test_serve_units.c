/* Unit tests of the server's pure parts. Expected values come from closed forms (t with 1
 * and 2 degrees of freedom, the df=3 CDF), from a Simpson-rule integration of the t density
 * done separately (Welch example, worked by hand up to the quantile), from the published
 * FNV-1a test vectors, and from hand calculation. */
#include <stdlib.h>

#include "../check.h"
#include "serve/ab.h"
#include "serve/metrics.h"
#include "serve/sbuf.h"
#include "serve/textutil.h"
#include "serve/welch.h"

static void test_t_distribution(void) {
    const double pi = 3.14159265358979323846;
    CHECK_NEAR(ak_student_t_quantile(0.975, 1), tan(0.475 * pi), 1e-9);                   /* Cauchy */
    CHECK_NEAR(ak_student_t_quantile(0.975, 2), 0.95 / sqrt(2 * 0.975 * 0.025), 1e-9);    /* closed form */
    CHECK_NEAR(ak_student_t_quantile(0.975, 1e9), 1.959963984540054, 1e-6);               /* normal limit */
    CHECK_NEAR(ak_student_t_quantile(0.025, 2), -ak_student_t_quantile(0.975, 2), 1e-12);
    /* df = 3: F(t) = 1/2 + (1/pi) (t / (sqrt3 (1 + t^2/3)) + atan(t / sqrt3)) */
    double t = 1.5, r3 = sqrt(3.0);
    CHECK_NEAR(ak_student_t_cdf(t, 3), 0.5 + (t / (r3 * (1 + t * t / 3)) + atan(t / r3)) / pi, 1e-12);
    CHECK_NEAR(ak_student_t_cdf(-t, 3), 1 - ak_student_t_cdf(t, 3), 1e-12);
    /* non-integer df: numerical integration of the density gave 3.5746548 */
    CHECK_NEAR(ak_student_t_quantile(0.975, 2.5), 3.5746548420, 1e-6);
    for (double df = 1.3; df < 200; df *= 1.7) CHECK_NEAR(ak_student_t_cdf(ak_student_t_quantile(0.9, df), df), 0.9, 1e-10);
    CHECK(isnan(ak_student_t_quantile(1.0, 3)));
    CHECK(isnan(ak_student_t_quantile(0.5, 0)));
}

static void test_welch(void) {
    /* a: mean 3, variance 2.5; b: mean 5, variance 20/3. se^2 = 0.5 + 5/3 = 13/6;
     * df = (13/6)^2 / (0.5^2/4 + (5/3)^2/3) = 4.7494145; t(0.975, 4.7494) = 2.6119161 */
    double a[] = {1, 2, 3, 4, 5}, b[] = {2, 4, 6, 8};
    ak_sample_summary sa, sb;
    ak_summarize(a, 5, &sa);
    ak_summarize(b, 4, &sb);
    CHECK_NEAR(sa.mean, 3, 1e-12);
    CHECK_NEAR(sa.var, 2.5, 1e-12);
    CHECK_NEAR(sb.var, 20.0 / 3.0, 1e-12);
    ak_welch_ci ci;
    CHECK(ak_welch(&sa, &sb, 0.95, &ci) == 0);
    CHECK_NEAR(ci.diff, -2, 1e-12);
    CHECK_NEAR(ci.se, sqrt(13.0 / 6.0), 1e-12);
    CHECK_NEAR(ci.df, 4.749414519906324, 1e-9);
    CHECK_NEAR(ci.t, 2.6119160893, 1e-6);
    CHECK_NEAR(ci.lo, -5.8446363839, 1e-5);
    CHECK_NEAR(ci.hi, 1.8446363839, 1e-5);
    /* too few samples */
    ak_sample_summary one;
    ak_summarize(a, 1, &one);
    CHECK(ak_welch(&one, &sb, 0.95, &ci) == -1);
    /* equal constant samples: a zero-width interval */
    double c[] = {2, 2, 2};
    ak_sample_summary sc;
    ak_summarize(c, 3, &sc);
    CHECK(ak_welch(&sc, &sc, 0.95, &ci) == 0 && ci.lo == 0 && ci.hi == 0);
}

static void test_percentile(void) {
    double x[] = {4, 1, 3, 2};
    CHECK_NEAR(ak_percentile_sorted(x, 4, 0.5), 2.5, 1e-12);  /* position 1.5 */
    CHECK_NEAR(ak_percentile_sorted(x, 4, 0.95), 3.85, 1e-12); /* position 2.85 */
    CHECK_NEAR(ak_percentile_sorted(x, 4, 0), 1, 0);
    CHECK_NEAR(ak_percentile_sorted(x, 4, 1), 4, 0);
    double y[] = {7};
    CHECK_NEAR(ak_percentile_sorted(y, 1, 0.95), 7, 0);
}

static void test_fnv_and_ab(void) {
    CHECK(ak_fnv1a64("", 0) == 0xcbf29ce484222325ull);
    CHECK(ak_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cull);
    CHECK(ak_fnv1a64("foobar", 6) == 0x85944171f73967e8ull);
    ak_variant v[AK_MAX_VARIANTS];
    int n = 0;
    ak_error err = {0};
    CHECK(ak_ab_parse("adaptive=entropy@2:1,full=fixed:3", v, AK_MAX_VARIANTS, &n, &err) == 0);
    CHECK(n == 2);
    CHECK(!strcmp(v[0].name, "adaptive") && !strcmp(v[0].policy, "entropy@2") && !strcmp(v[1].policy, "fixed"));
    CHECK_NEAR(v[0].share, 0.25, 1e-12);
    CHECK_NEAR(v[1].share, 0.75, 1e-12);
    /* hash units (independently computed): alice 0.3146, bob 0.00118, user-1 0.9699 */
    CHECK(ak_ab_assign(v, n, "alice", 5) == 1);
    CHECK(ak_ab_assign(v, n, "bob", 3) == 0);
    CHECK(ak_ab_assign(v, n, "user-1", 6) == 1);
    const char *bad[] = {"", "a=fixed", "a=fixed:0", "a=fixed:x", "a=fixed:1,a=native:1", "bad name=fixed:1",
                         "custom=fixed:1", "=fixed:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        CHECK(ak_ab_parse(bad[i], v, AK_MAX_VARIANTS, &n, &err) == -1 && err.msg[0]);
    }
    /* results: two variants, known samples -> the Welch numbers above */
    ak_ab_stats *st = ak_ab_stats_new(2);
    CHECK(ak_ab_parse("x=native:1,y=native:1", v, AK_MAX_VARIANTS, &n, &err) == 0);
    double la[] = {2, 4, 6, 8}, lb[] = {1, 2, 3, 4, 5};
    for (int i = 0; i < 4; i++) ak_ab_record(st, 0, la[i], 10, 4, -1.0, 1);
    for (int i = 0; i < 5; i++) ak_ab_record(st, 1, lb[i], 20, 2, -2.0, 1);
    ak_sbuf o = {0};
    CHECK(ak_ab_results_json(st, v, 2, &o) == 0);
    CHECK(strstr(o.s, "\"requests\":4") && strstr(o.s, "\"requests\":5"));
    CHECK(strstr(o.s, "\"latency_s\":{\"mean\":5,\"p50\":5,\"p95\":7.7")); /* pos 2.85: 6 + 0.85 * 2 */
    CHECK(strstr(o.s, "\"latency_s\":{\"diff\":-2,\"ci95\":[-5.84463"));
    CHECK(strstr(o.s, "\"avg_k\":{\"diff\":-2,\"ci95\":[-2,-2]")); /* zero variance on both sides */
    ak_sbuf_free(&o);
    ak_ab_stats_free(st);
}

static void test_utf8(void) {
    CHECK(ak_utf8_valid("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15));
    CHECK(!ak_utf8_valid("\xff", 1));
    CHECK(!ak_utf8_valid("\xc0\xaf", 2));         /* overlong */
    CHECK(!ak_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    CHECK(!ak_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    CHECK(!ak_utf8_valid("\xe2\x82", 2));         /* truncated */
    CHECK(ak_utf8_stream_prefix("ab\xe2\x82", 4) == 2);
    CHECK(ak_utf8_stream_prefix("ab\xe2\x82\xac", 5) == 5);
    CHECK(ak_utf8_stream_prefix("ab\xf0", 3) == 2);
    CHECK(ak_utf8_stream_prefix("ab\xff", 3) == 3); /* invalid: nothing to wait for */
    CHECK(ak_utf8_stream_prefix("ab", 2) == 2);
}

static void test_json_and_bar(void) {
    ak_sbuf b = {0};
    CHECK(ak_sbuf_json_string(&b, "a\"b\\\n\x01\xff\xc3\xa9", 9) == 0);
    CHECK(!strcmp(b.s, "\"a\\\"b\\\\\\n\\u0001\xef\xbf\xbd\xc3\xa9\""));
    ak_sbuf_free(&b);
    char bar[128];
    /* H = ln(16) / 2: half of the 8 cells */
    ak_trace_bar(bar, sizeof bar, 3, (float)(0.5 * log(16.0)), 16, 1, 8);
    CHECK(!strcmp(bar, "L03 | H=1.39 ####.... | K=1"));
    ak_trace_bar(bar, sizeof bar, 12, 0.0f, 64, 8, 8);
    CHECK(!strcmp(bar, "L12 | H=0.00 ........ | K=8"));
}

static void test_metrics_format(void) {
    const char *names[] = {"a", "b"};
    ak_metrics *m = ak_metrics_new(2, 4, 2, names);
    /* layer 0: K=1 twice, K=3 once; layer 1: K=4 once */
    uint64_t kh[2 * 5] = {0, 2, 0, 1, 0, 0, 0, 0, 0, 1};
    uint64_t hh[2 * (AK_METRICS_H_BUCKETS + 1)] = {0};
    hh[0] = 3;
    hh[AK_METRICS_H_BUCKETS + 1 + AK_METRICS_H_BUCKETS] = 1; /* layer 1: above ln 4 -> only +Inf */
    double hs[2] = {0.1, 2.0};
    ak_metrics_add_routing(m, kh, hh, hs);
    ak_metrics_add_request(m, 1, 200, 0.3, 0.02, 5, 7, 10, 4, 30, 40);
    ak_metrics_add_request(m, 1, 429, 0.001, -1, 0, 0, 0, 0, 0, 0);
    ak_sbuf o = {0};
    CHECK(ak_metrics_render(m, &o, 3, 1) == 0);
    CHECK(strstr(o.s, "adaptive_k_selected_bucket{layer=\"0\",le=\"1\"} 2\n"));
    CHECK(strstr(o.s, "adaptive_k_selected_bucket{layer=\"0\",le=\"2\"} 2\n"));
    CHECK(strstr(o.s, "adaptive_k_selected_bucket{layer=\"0\",le=\"3\"} 3\n"));
    CHECK(strstr(o.s, "adaptive_k_selected_bucket{layer=\"0\",le=\"+Inf\"} 3\n"));
    CHECK(strstr(o.s, "adaptive_k_selected_sum{layer=\"0\"} 5\n"));
    CHECK(strstr(o.s, "adaptive_k_selected_count{layer=\"1\"} 1\n"));
    CHECK(strstr(o.s, "adaptive_k_entropy_bucket{layer=\"1\",le=\"1.38629\"} 0\n")); /* ln 4 */
    CHECK(strstr(o.s, "adaptive_k_entropy_bucket{layer=\"1\",le=\"+Inf\"} 1\n"));
    CHECK(strstr(o.s, "adaptive_k_latency_seconds_bucket{variant=\"b\",le=\"0.25\"} 1\n"));
    CHECK(strstr(o.s, "adaptive_k_latency_seconds_bucket{variant=\"b\",le=\"0.5\"} 2\n"));
    CHECK(strstr(o.s, "adaptive_k_latency_seconds_count{variant=\"b\"} 2\n"));
    CHECK(strstr(o.s, "adaptive_k_time_to_first_token_seconds_count{variant=\"b\"} 1\n"));
    CHECK(strstr(o.s, "adaptive_k_avg_k{variant=\"b\"} 2.500000\n"));
    CHECK(strstr(o.s, "adaptive_k_compute_saved_ratio{variant=\"b\"} 0.250000\n"));
    CHECK(strstr(o.s, "adaptive_k_requests_total{status=\"429\",variant=\"b\"} 1\n"));
    CHECK(strstr(o.s, "adaptive_k_tokens_total{kind=\"completion\",variant=\"b\"} 7\n"));
    CHECK(strstr(o.s, "adaptive_k_queue_depth 3\n"));
    CHECK(strstr(o.s, "# TYPE adaptive_k_selected histogram\n"));
    ak_sbuf_free(&o);
    ak_metrics_free(m);
}

static void test_running_summary(void) {
    double x[] = {3, -1, 4, 1, 5, 9, 2, 6, 5, 3};
    ak_running_summary r = {0};
    for (int i = 0; i < 10; i++) ak_running_add(&r, x[i]);
    ak_sample_summary a = ak_running_get(&r), b;
    ak_summarize(x, 10, &b);
    CHECK(a.n == 10);
    CHECK_NEAR(a.mean, b.mean, 1e-12);
    CHECK_NEAR(a.var, b.var, 1e-12);
}

/* The A/B statistics kept every sample (32 bytes per request, forever: the 20-minute soak
 * saw the server grow 0.7 MB); now a bounded reservoir and running moments. */
static void regression_ab_samples_grow_without_bound(void) {
    ak_ab_stats *a = ak_ab_stats_new(2);
    size_t empty = ak_ab_stats_bytes(a);
    const int n = 200000;
    for (int i = 0; i < n; i++) ak_ab_record(a, 0, (i % 100) / 100.0, 10, 2, -1, 1);
    size_t full = ak_ab_stats_bytes(a);
    CHECK(full <= empty + 4 * AK_AB_RESERVOIR * sizeof(double), "%zu bytes after %d requests", full, n);
    ak_variant v[2] = {{.name = "a", .policy = "native", .share = 0.5}, {.name = "b", .policy = "native", .share = 0.5}};
    ak_sbuf o = {0};
    CHECK(ak_ab_results_json(a, v, 2, &o) == 0);
    /* every request counted, the exact mean of 0.00..0.99, the median from the reservoir */
    CHECK(o.s && strstr(o.s, "\"requests\":200000") && strstr(o.s, "\"mean\":0.495"), "%s", o.s ? o.s : "");
    const char *p50 = o.s ? strstr(o.s, "\"p50\":") : NULL;
    CHECK(p50 && fabs(atof(p50 + 6) - 0.495) < 0.03, "%s", p50 ? p50 : "no p50");
    ak_sbuf_free(&o);
    ak_ab_stats_free(a);
}

int main(void) {
    test_running_summary();
    regression_ab_samples_grow_without_bound();
    test_t_distribution();
    test_welch();
    test_percentile();
    test_fnv_and_ab();
    test_utf8();
    test_json_and_bar();
    test_metrics_format();
    return check_finish("serve units");
}
