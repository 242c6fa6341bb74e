/* check.h - minimal assertions for the router tests. */
#ifndef AK_TEST_CHECK_H
#define AK_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_failures;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
            check_failures++;                                                         \
        }                                                                             \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                         \
    do {                                                                              \
        double a_ = (double)(a), b_ = (double)(b);                                    \
        if (!(fabs(a_ - b_) <= (tol))) {                                              \
            fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.9g, %s = %.9g (tol %g)\n", \
                    __FILE__, __LINE__, #a, a_, #b, b_, (double)(tol));               \
            check_failures++;                                                         \
        }                                                                             \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                            \
    do {                                                                              \
        long a_ = (long)(a), b_ = (long)(b);                                          \
        if (a_ != b_) {                                                               \
            fprintf(stderr, "%s:%d: CHECK_EQ_INT failed: %s = %ld, %s = %ld\n", __FILE__, \
                    __LINE__, #a, a_, #b, b_);                                        \
            check_failures++;                                                         \
        }                                                                             \
    } while (0)

/* status must equal code and the message must contain needle (when not NULL). */
#define CHECK_ERR(status, code, err, needle)                                          \
    do {                                                                              \
        ak_status s_ = (status);                                                      \
        if (s_ != (code)) {                                                           \
            fprintf(stderr, "%s:%d: expected %s, got %s (%s)\n", __FILE__, __LINE__,  \
                    #code, ak_status_str(s_), (err).msg);                             \
            check_failures++;                                                         \
        } else if ((needle) && !strstr((err).msg, (needle) ? (needle) : "")) {        \
            fprintf(stderr, "%s:%d: message \"%s\" lacks \"%s\"\n", __FILE__, __LINE__, \
                    (err).msg, (needle) ? (needle) : "");                             \
            check_failures++;                                                         \
        }                                                                             \
    } while (0)

static inline int check_report(const char *name) {
    if (check_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, check_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

/* xorshift64* and Box-Muller: a deterministic sample generator for tests. */
typedef struct {
    unsigned long long s;
} test_rng;

static inline double rng_uniform(test_rng *r) {
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return (double)((r->s * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}

static inline double rng_normal(test_rng *r) {
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

#endif
