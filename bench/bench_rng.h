/* bench_rng.h - the benchmarks' input data: a fixed xorshift sequence of floats in [-1, 1),
 * the same on every run and machine (header-only; one generator per program). */
#ifndef AK_BENCH_RNG_H
#define AK_BENCH_RNG_H

#include "base/xorshift.h"

static unsigned long long g_rng = 88172645463325252ull;

static inline float rnd(void) { return ak_xorshift_unit(&g_rng); }

#endif
