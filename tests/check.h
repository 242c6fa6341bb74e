/* check.h - the one harness of the C tests. A failed check prints where and what failed
 * (and a message when given), is counted, and the test goes on; check_finish gives the
 * exit status. Also the tests' deterministic random numbers. */
#ifndef AK_TESTS_CHECK_H
#define AK_TESTS_CHECK_H

#include "adaptivek.h" /* ak_error */
#include "base/xorshift.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int failures __attribute__((unused));

/* The message's arguments are checked against its format (an ak_error passed for "%s" was
 * once printed as garbage); CHECK appends an empty argument, hence the two exemptions. */
#pragma GCC diagnostic ignored "-Wformat-extra-args"
#pragma GCC diagnostic ignored "-Wformat-zero-length"

/* Prints "file:line: WHAT failed[: message]" and counts the failure. */
static inline void check_failed_(const char *file, int line, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static inline void check_failed_(const char *file, int line, const char *what, const char *fmt, ...) {
    fprintf(stderr, "%s:%d: %s failed", file, line, what);
    if (fmt && *fmt) {
        va_list ap;
        va_start(ap, fmt);
        fputs(": ", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    fputc('\n', stderr);
    failures++;
}

/* CHECK(cond) or CHECK(cond, "printf format", args...). */
#define CHECK(...) CHECK_(__VA_ARGS__, "")
#define CHECK_(cond, ...)                                                                 \
    do {                                                                                  \
        if (!(cond)) check_failed_(__FILE__, __LINE__, "CHECK(" #cond ")", __VA_ARGS__); \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                                     \
    do {                                                                                                          \
        double a_ = (double)(a), b_ = (double)(b);                                                                \
        if (!(fabs(a_ - b_) <= (tol)))                                                                            \
            check_failed_(__FILE__, __LINE__, "CHECK_NEAR(" #a ", " #b ")", "%.12g vs %.12g (tol %g)", a_, b_, \
                          (double)(tol));                                                                         \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                                    \
    do {                                                                                                      \
        long long a_ = (long long)(a), b_ = (long long)(b);                                                   \
        if (a_ != b_) check_failed_(__FILE__, __LINE__, "CHECK_EQ_INT(" #a ", " #b ")", "%lld vs %lld", a_, b_); \
    } while (0)

/* An ak_status must be code, and the ak_error's message must contain needle (when not NULL). */
#define CHECK_ERR(status, code, err, needle)                                                                     \
    do {                                                                                                         \
        ak_status s_ = (status);                                                                                 \
        const char *n_ = (needle);                                                                               \
        if (s_ != (code))                                                                                        \
            check_failed_(__FILE__, __LINE__, "CHECK_ERR", "expected %s, got %s (%s)", #code, ak_status_str(s_), \
                          (err).msg);                                                                            \
        else if (n_ && !strstr((err).msg, n_))                                                                   \
            check_failed_(__FILE__, __LINE__, "CHECK_ERR", "message \"%s\" lacks \"%s\"", (err).msg, n_);        \
    } while (0)

/* The test's exit status: 1 after reporting the failed checks, else 0. */
static inline int check_finish(const char *name) {
    if (failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

/* ---------------------------------------------------------------- random numbers */

/* xorshift64* and Box-Muller: a deterministic sample generator. */
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

/* Uniform in [-1, 1) from one global xorshift state, independent of libc rand. */
static unsigned long long g_rng __attribute__((unused)) = 0x9E3779B97F4A7C15ull;
static inline float rnd(void) { return ak_xorshift_unit(&g_rng); }

#endif
