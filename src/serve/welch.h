/* welch.h - the statistics behind GET /v1/ab/results: sample summaries, percentiles, the
 * Student t distribution, and Welch's confidence interval for a difference of means. */
#ifndef AK_SERVE_WELCH_H
#define AK_SERVE_WELCH_H

typedef struct {
    int n;
    double mean;
    double var; /* unbiased sample variance (n - 1 in the denominator); 0 when n < 2 */
} ak_sample_summary;

void ak_summarize(const double *x, int n, ak_sample_summary *out);

/* The same summary kept one sample at a time, in constant memory (Welford's update). */
typedef struct {
    int n;
    double mean, m2; /* m2: sum of squared deviations from the mean */
} ak_running_summary;
void ak_running_add(ak_running_summary *r, double x);
ak_sample_summary ak_running_get(const ak_running_summary *r);
/* Percentile q in [0, 1] of x (sorted ascending in place), linear interpolation between
 * closest ranks (position q * (n - 1); numpy's default). 0 when n == 0. */
double ak_percentile_sorted(double *x, int n, double q);

/* Regularised incomplete beta I_x(a, b) (continued fraction). */
double ak_incomplete_beta(double a, double b, double x);
/* Student t CDF with df > 0 degrees of freedom (any real df), and its inverse for p in (0, 1). */
double ak_student_t_cdf(double t, double df);
double ak_student_t_quantile(double p, double df);

typedef struct {
    double diff;  /* mean(a) - mean(b) */
    double se;    /* sqrt(var_a / n_a + var_b / n_b) */
    double df;    /* Welch-Satterthwaite degrees of freedom */
    double t;     /* t quantile at 1 - (1 - level) / 2 */
    double lo, hi;
} ak_welch_ci;

/* Confidence interval at `level` (e.g. 0.95) for mean(a) - mean(b). Returns 0, or -1 when a
 * sample has fewer than 2 values. When both variances are 0 the interval is [diff, diff]
 * and df is reported as n_a + n_b - 2. */
int ak_welch(const ak_sample_summary *a, const ak_sample_summary *b, double level, ak_welch_ci *out);

#endif
