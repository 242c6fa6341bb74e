/* welch.c - sample statistics, the Student t distribution and Welch's interval.
 * I_x(a, b) is evaluated with the modified Lentz continued fraction (e.g. DLMF 8.17.22),
 * using the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where the fraction converges slowly. */
#include "serve/welch.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

void ak_summarize(const double *x, int n, ak_sample_summary *out) {
    out->n = n;
    out->mean = 0;
    out->var = 0;
    if (n <= 0) return;
    double m = 0;
    for (int i = 0; i < n; i++) m += (x[i] - m) / (i + 1); /* running mean */
    double ss = 0;
    for (int i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    out->mean = m;
    out->var = n > 1 ? ss / (n - 1) : 0;
}

void ak_running_add(ak_running_summary *r, double x) {
    r->n++;
    double d = x - r->mean;
    r->mean += d / r->n;
    r->m2 += d * (x - r->mean);
}

ak_sample_summary ak_running_get(const ak_running_summary *r) {
    ak_sample_summary s = {r->n, r->n ? r->mean : 0, r->n > 1 ? r->m2 / (r->n - 1) : 0};
    return s;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double ak_percentile_sorted(double *x, int n, double q) {
    if (n <= 0) return 0;
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    if (q <= 0) return x[0];
    if (q >= 1) return x[n - 1];
    double pos = q * (n - 1);
    int i = (int)floor(pos);
    double f = pos - i;
    return i + 1 < n ? x[i] + f * (x[i + 1] - x[i]) : x[i];
}

static double beta_fraction(double a, double b, double x) {
    const double tiny = 1e-300;
    double c = 1, d = 1 - (a + b) * x / (a + 1);
    if (fabs(d) < tiny) d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 10000; m++) {
        double m2 = 2.0 * m;
        double num = m * (b - m) * x / ((a + m2 - 1) * (a + m2)); /* even step */
        d = 1 + num * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1 + num / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        h *= d * c;
        num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1)); /* odd step */
        d = 1 + num * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1 + num / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1) < 1e-15) break;
    }
    return h;
}

double ak_incomplete_beta(double a, double b, double x) {
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    double lfront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    double front = exp(lfront);
    if (x < (a + 1) / (a + b + 2)) return front * beta_fraction(a, b, x) / a;
    return 1 - front * beta_fraction(b, a, 1 - x) / b;
}

double ak_student_t_cdf(double t, double df) {
    if (isnan(t) || !(df > 0)) return NAN;
    if (isinf(t)) return t > 0 ? 1 : 0;
    double x = df / (df + t * t);
    double tail = 0.5 * ak_incomplete_beta(df / 2, 0.5, x); /* P(T > |t|) */
    return t > 0 ? 1 - tail : tail;
}

double ak_student_t_quantile(double p, double df) {
    if (!(p > 0 && p < 1) || !(df > 0)) return NAN;
    if (p == 0.5) return 0;
    if (p < 0.5) return -ak_student_t_quantile(1 - p, df);
    double lo = 0, hi = 1;
    while (ak_student_t_cdf(hi, df) < p && hi < 1e300) hi *= 2;
    for (int i = 0; i < 200 && hi - lo > 1e-13 * hi; i++) {
        double mid = 0.5 * (lo + hi);
        if (ak_student_t_cdf(mid, df) < p) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

int ak_welch(const ak_sample_summary *a, const ak_sample_summary *b, double level, ak_welch_ci *out) {
    if (a->n < 2 || b->n < 2 || !(level > 0 && level < 1)) return -1;
    double va = a->var / a->n, vb = b->var / b->n;
    out->diff = a->mean - b->mean;
    out->se = sqrt(va + vb);
    if (va + vb <= 0) {
        out->df = a->n + b->n - 2;
        out->t = ak_student_t_quantile(1 - (1 - level) / 2, out->df);
        out->lo = out->hi = out->diff;
        return 0;
    }
    out->df = (va + vb) * (va + vb) / (va * va / (a->n - 1) + vb * vb / (b->n - 1));
    out->t = ak_student_t_quantile(1 - (1 - level) / 2, out->df);
    out->lo = out->diff - out->t * out->se;
    out->hi = out->diff + out->t * out->se;
    return 0;
}
