/* bench_batch.c - continuous batching in the engine, without HTTP: B sequences (each its
 * own context and cache) decode together through ak_decode_group, and the decode speed and
 * the expert bytes each batched step reads are measured for each batch size B.
 *
 *   bench_batch -m FILE [-b 1,4,16] [-p PROMPT (16)] [-n STEPS (32)] [-r REPS (3)]
 *               [-t THREADS (all CPUs)] [routing flags]
 *
 * Per batch size: the B prompts (different random tokens) go in as one group (not timed),
 * then -n steps of one token per sequence are timed; tokens/s = B x steps / seconds, the
 * median of -r repetitions. Expert MiB per step: the bytes of the experts chosen by any
 * token of the step (each read once), from the executing context's ledger, with the
 * routing used and with the native top-k of the same tokens. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adaptivek.h"
#include "model/model.h"
#include "routing_flags.h"

#define MAX_B 64

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct {
    ak_model *m;
    const ak_router_config *routing;
    int n_prompt, n_steps, reps, n_threads;
} bench;

/* One repetition at batch size B: seconds of the timed steps, and the executing context's
 * expert bytes over them (with the routing used, and native). 0, or -1 with err. */
static int run_once(const bench *b, int B, int rep, double *secs, uint64_t *bytes, uint64_t *bytes_native,
                    ak_error *err) {
    const int V = ak_model_hparams(b->m)->n_vocab;
    /* n_batch is capped at n_ctx: the executing context's own cache (never written, so its
     * pages are never touched) is made long enough for all the prompts at once */
    ak_context_params ep = ak_context_default_params(), sp = ep;
    sp.n_ctx = b->n_prompt + b->n_steps + 1, sp.n_batch = 1, sp.n_threads = 1, sp.routing = b->routing;
    ep.n_batch = B * b->n_prompt > B ? B * b->n_prompt : B;
    ep.n_ctx = ep.n_batch > sp.n_ctx ? ep.n_batch : sp.n_ctx;
    ep.n_threads = b->n_threads;
    ak_context *exec = ak_context_new(b->m, &ep, err), *seq[MAX_B] = {0};
    int32_t *prompts = malloc(sizeof(int32_t) * (size_t)B * (size_t)b->n_prompt), tok[MAX_B];
    const int32_t *toks[MAX_B];
    int n[MAX_B], rc = exec && prompts ? 0 : -1;
    uint64_t state = 0x9E3779B97F4A7C15ull ^ (uint64_t)(rep * 7919 + B);
    for (int i = 0; !rc && i < B; i++) {
        if (!(seq[i] = ak_context_new(b->m, &sp, err))) rc = -1;
        for (int t = 0; t < b->n_prompt; t++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            prompts[(size_t)i * b->n_prompt + t] = (int32_t)((state >> 33) % (uint64_t)V);
        }
        toks[i] = prompts + (size_t)i * b->n_prompt, n[i] = b->n_prompt;
    }
    if (!rc && b->n_prompt > 0) rc = ak_decode_group(exec, seq, toks, n, B, err);
    ak_compute_counters c0, c1;
    ak_context_counters(exec, &c0);
    double t0 = now_s();
    for (int s = 0; !rc && s < b->n_steps; s++) {
        for (int i = 0; i < B; i++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            tok[i] = (int32_t)((state >> 33) % (uint64_t)V), toks[i] = &tok[i], n[i] = 1;
        }
        rc = ak_decode_group(exec, seq, toks, n, B, err);
    }
    *secs = now_s() - t0;
    ak_context_counters(exec, &c1);
    *bytes = c1.expert_bytes_read - c0.expert_bytes_read;
    *bytes_native = c1.expert_bytes_read_native - c0.expert_bytes_read_native;
    for (int i = 0; i < B; i++) ak_context_free(seq[i]);
    ak_context_free(exec);
    free(prompts);
    return rc;
}

static int run_batch(const bench *b, int B) {
    double secs[64];
    uint64_t bytes = 0, native = 0;
    ak_error err = {0};
    for (int r = 0; r < b->reps; r++)
        if (run_once(b, B, r, &secs[r], &bytes, &native, &err)) {
            fprintf(stderr, "bench_batch: batch %d: %s\n", B, err.msg);
            return -1;
        }
    qsort(secs, (size_t)b->reps, sizeof secs[0], cmp_double);
    const double med = secs[b->reps / 2], steps = (double)b->n_steps;
    printf("batch %2d  decode %8.2f tok/s  (%.2f ms per step)  expert MiB per step %.2f (native %.2f)\n", B,
           B * steps / med, 1e3 * med / steps, (double)bytes / steps / 1048576.0, (double)native / steps / 1048576.0);
    return 0;
}

static int parse_sizes(const char *s, int *sizes, int *n) {
    *n = 0;
    while (*s && *n < 16) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > MAX_B) return -1;
        sizes[(*n)++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return *n ? 0 : -1;
}

int main(int argc, char **argv) {
    const char *path = NULL;
    int sizes[16] = {1, 4, 16}, n_sizes = 3, n_routing = 0;
    bench b = {.n_prompt = 16, .n_steps = 32, .reps = 3};
    ak_routing_flags rf;
    ak_routing_flags_init(&rf);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int *dst = !strcmp(a, "-p") ? &b.n_prompt : !strcmp(a, "-n") ? &b.n_steps : !strcmp(a, "-r") ? &b.reps
                  : !strcmp(a, "-t") ? &b.n_threads : NULL;
        if (dst || !strcmp(a, "-m") || !strcmp(a, "-b")) {
            if (!v) {
                fprintf(stderr, "bench_batch: %s needs a value\n", a);
                return 2;
            }
            i++;
            if (!strcmp(a, "-m")) path = v;
            else if (!strcmp(a, "-b") && parse_sizes(v, sizes, &n_sizes)) {
                fprintf(stderr, "bench_batch: -b takes batch sizes 1..%d separated by commas\n", MAX_B);
                return 2;
            } else if (dst && ((*dst = atoi(v)) < 0 || (dst != &b.n_prompt && *dst < 1) || *dst > 64 * 1024)) {
                fprintf(stderr, "bench_batch: %s %s is out of range\n", a, v);
                return 2;
            }
            continue;
        }
        ak_error aerr = {0};
        int r = ak_routing_flags_parse(&rf, argc, argv, i, &aerr);
        if (r <= 0) {
            fprintf(stderr, "bench_batch: %s\n", r < 0 ? aerr.msg : "unknown argument (see the header of bench_batch.c)");
            return 2;
        }
        i += r - 1;
        n_routing++;
    }
    if (!path || b.reps > 64) {
        fprintf(stderr, "usage: bench_batch -m FILE [-b 1,4,16] [-p 16] [-n 32] [-r 3 (<= 64)] [-t N] [routing flags]\n");
        return 2;
    }
    ak_error err = {0};
    b.m = ak_model_load(path, &err);
    if (!b.m) {
        fprintf(stderr, "bench_batch: %s\n", err.msg);
        return 1;
    }
    const ak_hparams *hp = ak_model_hparams(b.m);
    ak_router_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (n_routing && ak_routing_flags_build_for_model(&rf, hp->n_expert, hp->n_layer, hp->n_expert_used, &cfg, &err)) {
        fprintf(stderr, "bench_batch: %s\n", err.msg);
        ak_model_free(b.m);
        return 1;
    }
    b.routing = n_routing ? &cfg : NULL;
    printf("file %s (%s, %d layers, %d experts, native K %d); prompt %d, %d steps, %d reps\n", path, hp->arch,
           hp->n_layer, hp->n_expert, hp->n_expert_used, b.n_prompt, b.n_steps, b.reps);
    int rc = 0;
    for (int i = 0; i < n_sizes && !rc; i++) rc = run_batch(&b, sizes[i]);
    if (n_routing) ak_config_free(&cfg);
    ak_model_free(b.m);
    return rc ? 1 : 0;
}
