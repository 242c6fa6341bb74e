/* clock.h - the one monotonic clock of the tree, and absolute deadlines for
 * pthread_cond_timedwait (which measures CLOCK_REALTIME). Header-only (src/base). */
#ifndef AK_BASE_CLOCK_H
#define AK_BASE_CLOCK_H

#include <time.h>

/* Monotonic seconds (arbitrary origin): durations and deadlines. */
static inline double ak_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The CLOCK_REALTIME time `seconds` from now, for pthread_cond_timedwait. */
static inline struct timespec ak_abstime_in(double seconds) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (!(seconds > 0)) return ts;
    long long ns = (long long)((seconds < 1e9 ? seconds : 1e9) * 1e9);
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec += (long)(ns % 1000000000LL);
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    return ts;
}

#endif
