/* bench_router - routing throughput of libadaptivek in token-layers per second.
 *
 * For 8, 64 and 128 experts: every policy through ak_route (softmax, entropy, partial
 * top-k, K selection, weights), against the fixed top-k policy (plain softmax top-k) and a
 * minimal naive loop (libm expf softmax, then k argmax passes). Single thread, median of
 * the runs. Usage: bench_router [runs (default 7)] [tokens per batch (default 4096)]
 *
 * bench_router --raw FILE EXPERTS [runs]: routes the raw float32 [tokens][EXPERTS] array in
 * FILE (one ak_route call per batch, renormalize off) with the seeds' entropy policy, fixed
 * top-8 and top-p 0.9, and prints "policy-name microseconds-per-call" (median CPU time);
 * bench/bench_python_route.py compares the Python binding with it on the same array. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adaptivek.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: robust on a shared machine */
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static unsigned long long rng_state = 88172645463325252ULL;
static double uniform01(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) * (1.0 / 9007199254740992.0);
}
static double normal01(void) {
    double u = uniform01(), v = uniform01();
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* Reference: the simplest correct softmax + top-k a reader would write. */
static void naive_top_k(const float *logits, int n_tokens, int n, int k, float *probs,
                        int32_t *ids, float *w) {
    for (int t = 0; t < n_tokens; t++) {
        const float *z = logits + (size_t)t * n;
        float m = z[0], s = 0.0f;
        for (int i = 1; i < n; i++) m = fmaxf(m, z[i]);
        for (int i = 0; i < n; i++) s += probs[i] = expf(z[i] - m);
        for (int i = 0; i < n; i++) probs[i] /= s;
        for (int j = 0; j < k; j++) {
            int best = 0;
            for (int i = 1; i < n; i++)
                if (probs[i] > probs[best]) best = i;
            ids[t * k + j] = best;
            w[t * k + j] = probs[best];
            probs[best] = -1.0f;
        }
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    const char *name;
    ak_policy policy; /* kind < 0: naive reference */
    int naive;
} bench_case;

static volatile float sink;

/* Median CPU microseconds of one ak_route call over the whole batch. */
static double time_route(const ak_policy *p, const float *z, int n_tokens, int n, ak_route_out *out, int runs) {
    double *us = malloc(sizeof(double) * (size_t)runs), med;
    if (!us) return -1.0;
    for (int r = 0; r < runs; r++) {
        long calls = 0;
        double t0 = now_s(), t1;
        do {
            if (ak_route(p, z, n_tokens, n, 0, out, NULL) != AK_OK) {
                free(us);
                return -1.0;
            }
            sink = out->weights[0];
            calls++;
            t1 = now_s();
        } while (t1 - t0 < 0.1);
        us[r] = 1e6 * (t1 - t0) / (double)calls;
    }
    qsort(us, (size_t)runs, sizeof *us, cmp_double);
    med = us[runs / 2];
    free(us);
    return med;
}

static int bench_raw(const char *path, int n, int runs) {
    FILE *f = fopen(path, "rb");
    if (!f || n < 1 || n > AK_MAX_EXPERTS || runs < 1) {
        fprintf(stderr, "bench_router --raw: cannot read %s, or experts/runs out of range\n", path);
        if (f) fclose(f);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    rewind(f);
    int n_tokens = (int)(bytes / (long)(sizeof(float) * (size_t)n));
    float *z = malloc((size_t)bytes);
    int *k = malloc(sizeof(int) * (size_t)n_tokens);
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n_tokens * 8);
    float *w = malloc(sizeof(float) * (size_t)n_tokens * 8), *h = malloc(sizeof(float) * (size_t)n_tokens);
    int ok = n_tokens > 0 && z && k && ids && w && h && fread(z, 1, (size_t)bytes, f) == (size_t)bytes;
    fclose(f);
    struct {
        const char *name;
        ak_policy p;
    } cases[3] = {{"entropy", ak_policy_entropy_default()}, {"fixed8", ak_policy_fixed(n < 8 ? n : 8)},
                  {"top-p", ak_policy_top_p(0.9f, 1, n < 8 ? n : 8)}};
    ak_route_out out = {n_tokens, 8, k, ids, w, h};
    for (int c = 0; ok && c < 3; c++) {
        double us = time_route(&cases[c].p, z, n_tokens, n, &out, runs);
        if (us < 0) ok = 0;
        else printf("%s %.3f\n", cases[c].name, us);
    }
    free(z);
    free(k);
    free(ids);
    free(w);
    free(h);
    if (!ok) fprintf(stderr, "bench_router --raw: %s: empty, unreadable or not routable\n", path);
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc >= 4 && !strcmp(argv[1], "--raw")) return bench_raw(argv[2], atoi(argv[3]), argc > 4 ? atoi(argv[4]) : 7);
    int runs = argc > 1 ? atoi(argv[1]) : 7;
    int n_tokens = argc > 2 ? atoi(argv[2]) : 4096;
    if (runs < 1 || n_tokens < 1) {
        fprintf(stderr, "usage: bench_router [runs] [tokens]\n");
        return 1;
    }
    const int expert_counts[3] = {8, 64, 128};
    const int native_k[3] = {2, 8, 8};
    printf("| experts | policy | M token-layers/s | ns/token-layer | vs fixed top-k | avg K |\n");
    printf("|---:|---|---:|---:|---:|---:|\n");
    for (int e = 0; e < 3; e++) {
        int n = expert_counts[e], kn = native_k[e];
        float *z = malloc(sizeof(float) * (size_t)n_tokens * (size_t)n);
        float *scratch = malloc(sizeof(float) * (size_t)n);
        int *k = malloc(sizeof(int) * (size_t)n_tokens);
        int32_t *ids = malloc(sizeof(int32_t) * (size_t)n_tokens * 8);
        float *w = malloc(sizeof(float) * (size_t)n_tokens * 8);
        float *h = malloc(sizeof(float) * (size_t)n_tokens);
        if (!z || !scratch || !k || !ids || !w || !h) return 1;
        for (int t = 0; t < n_tokens; t++) {
            double s = 0.25 * pow(20.0, uniform01()); /* entropies spread, as in test_calibrate */
            for (int i = 0; i < n; i++) z[(size_t)t * n + i] = (float)(s * normal01());
        }
        bench_case cases[5] = {
            {"fixed top-k (baseline)", ak_policy_fixed(kn), 0},
            {"entropy k={1,2,4} h={0.6,1.2}", ak_policy_entropy_default(), 0},
            {"top-p 0.9", ak_policy_top_p(0.9f, 1, kn > 4 ? kn : 4), 0},
            {"ratio 0.1", ak_policy_ratio(0.1f, 1, kn > 4 ? kn : 4), 0},
            {"naive expf+argmax top-k", ak_policy_fixed(kn), 1},
        };
        double base_rate = 0.0;
        for (int c = 0; c < 5; c++) {
            ak_route_out out = {n_tokens, 8, k, ids, w, h};
            double *rates = malloc(sizeof(double) * (size_t)runs);
            for (int r = 0; r < runs; r++) {
                long done = 0;
                double t0 = now_s(), t1;
                do {
                    if (cases[c].naive) {
                        naive_top_k(z, n_tokens, n, kn, scratch, ids, w);
                    } else if (ak_route(&cases[c].policy, z, n_tokens, n, 1, &out, NULL) != AK_OK) {
                        fprintf(stderr, "route failed\n");
                        return 1;
                    }
                    sink = w[0];
                    done += n_tokens;
                    t1 = now_s();
                } while (t1 - t0 < 0.1);
                rates[r] = (double)done / (t1 - t0);
            }
            qsort(rates, (size_t)runs, sizeof *rates, cmp_double);
            double rate = rates[runs / 2];
            free(rates);
            if (c == 0) base_rate = rate;
            double avg_k = kn;
            if (!cases[c].naive) {
                double s = 0;
                for (int t = 0; t < n_tokens; t++) s += k[t];
                avg_k = s / n_tokens;
            }
            printf("| %d | %s | %.2f | %.1f | %.2fx | %.2f |\n", n, cases[c].name, rate / 1e6,
                   1e9 / rate, base_rate / rate, avg_k);
        }
        free(z);
        free(scratch);
        free(k);
        free(ids);
        free(w);
        free(h);
    }
    return 0;
}
