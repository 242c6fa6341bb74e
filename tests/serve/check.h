/* check.h - minimal assertions for the serve unit tests. */
#ifndef AK_SERVE_CHECK_H
#define AK_SERVE_CHECK_H
#include <math.h>
#include <stdio.h>
#include <string.h>

static int g_fail;
#define CHECK(c)                                                                \
    do {                                                                        \
        if (!(c)) {                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
            g_fail = 1;                                                         \
        }                                                                       \
    } while (0)
#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (tol))) {                                                           \
            fprintf(stderr, "%s:%d: %s = %.12g, expected %.12g (tol %g)\n", __FILE__, __LINE__, #a, a_, b_, \
                    (double)(tol));                                                                \
            g_fail = 1;                                                                            \
        }                                                                                          \
    } while (0)
#endif
