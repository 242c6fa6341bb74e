/* xorshift.h - a fixed pseudo-random sequence for test and benchmark inputs: the same
 * numbers on every run, machine and libc (xorshift64, shifts 13/7/17). Header-only. */
#ifndef AK_BASE_XORSHIFT_H
#define AK_BASE_XORSHIFT_H

/* The next float of the sequence held in *state, uniform in [-1, 1). */
static inline float ak_xorshift_unit(unsigned long long *state) {
    unsigned long long x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return (float)((double)(x >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

#endif
