/* gen_synthetic_logits.c - writes the synthetic router logits the CLI tests route:
 * float32 [4 layers][512 tokens][64 experts]. Synthetic on purpose: 64 experts and a wide,
 * known spread of entropies exercise more of the CLI than the shipped model's 16 experts.
 *
 * Each token's logits are s * (z_e + b_e): z_e ~ N(0,1) fresh per token, b_e a fixed
 * per-layer expert bias ~ N(0, 0.3^2) (some experts are more popular), and s a
 * per-token temperature drawn log-uniformly from a per-layer range, so router entropy
 * goes from nearly one-hot (large s) to nearly uniform (small s); deeper layers are
 * drawn more peaked. Deterministic: splitmix64 seeded with a constant, Box-Muller.
 *
 *   usage: gen_synthetic_logits OUT.npy */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "io/npy.h"

enum { N_LAYERS = 4, N_TOKENS = 512, N_EXPERTS = 64 };
static const uint64_t SEED = 20261122;
/* temperature range [lo, hi] per layer */
static const double scale_range[N_LAYERS][2] = {{0.5, 12.0}, {0.7, 16.0}, {1.0, 20.0}, {1.2, 24.0}};

static uint64_t rng_state;

static uint64_t splitmix64(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform01(void) { return ((double)(splitmix64() >> 11) + 0.5) / 9007199254740992.0; }

static double gaussian(void) {
    double u = uniform01(), v = uniform01();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT.npy\n", argv[0]);
        return 2;
    }
    static float logits[N_LAYERS][N_TOKENS][N_EXPERTS];
    rng_state = SEED;
    for (int l = 0; l < N_LAYERS; l++) {
        double bias[N_EXPERTS];
        for (int e = 0; e < N_EXPERTS; e++) bias[e] = 0.3 * gaussian();
        double log_lo = log(scale_range[l][0]), log_hi = log(scale_range[l][1]);
        for (int t = 0; t < N_TOKENS; t++) {
            double s = exp(log_lo + (log_hi - log_lo) * uniform01());
            for (int e = 0; e < N_EXPERTS; e++) logits[l][t][e] = (float)(s * (gaussian() + bias[e]));
        }
    }
    const int64_t shape[3] = {N_LAYERS, N_TOKENS, N_EXPERTS};
    ak_error err;
    if (ak_npy_save(argv[1], AK_DTYPE_F32, 3, shape, logits, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    return 0;
}
