/* check.h - tiny assertion helpers for the quant tests. */
#ifndef AK_QUANT_CHECK_H
#define AK_QUANT_CHECK_H

#include <math.h>
#include <stdio.h>

static int g_failures __attribute__((unused));

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            g_failures++;                                                             \
        }                                                                             \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                        \
    do {                                                                                          \
        long long a_ = (long long)(a), b_ = (long long)(b);                                       \
        if (a_ != b_) {                                                                           \
            fprintf(stderr, "%s:%d: %s = %lld, expected %lld\n", __FILE__, __LINE__, #a, a_, b_); \
            g_failures++;                                                                         \
        }                                                                                         \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                          \
    do {                                                                                               \
        double a_ = (double)(a), b_ = (double)(b);                                                     \
        if (!(fabs(a_ - b_) <= (tol))) {                                                               \
            fprintf(stderr, "%s:%d: %s = %.9g, expected %.9g (tol %g)\n", __FILE__, __LINE__, #a, a_, \
                    b_, (double)(tol));                                                                \
            g_failures++;                                                                              \
        }                                                                                              \
    } while (0)

__attribute__((unused)) static int check_report(const char *name) {
    if (g_failures) fprintf(stderr, "%s: %d failure(s)\n", name, g_failures);
    else printf("%s: ok\n", name);
    return g_failures ? 1 : 0;
}

/* Deterministic uniform in [-1, 1) (xorshift), independent of libc rand. */
static unsigned long long g_rng = 0x9E3779B97F4A7C15ull;
__attribute__((unused)) static float rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (float)((double)(g_rng >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

#endif
