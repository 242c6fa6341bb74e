/* bench_engine - prefill and decode throughput of the engine on a GGUF file, measured the
 * way llama-bench measures (so the two can be compared side by side):
 *   prefill: from an empty KV cache, one ak_decode of P tokens      (llama-bench -p P)
 *   decode:  from an empty KV cache, N ak_decode calls of 1 token   (llama-bench -n N)
 * Token ids are pseudo-random (fixed seed). One untimed warm-up of each first (it also
 * faults the mapped weights in), then R timed repetitions; the median is reported.
 * Memory: peak RSS (getrusage) and, from /proc/self/status, VmHWM and the resident file
 * pages (RssFile: the mapped weights) against anonymous memory (RssAnon: our buffers),
 * which shows that the file is mapped, not copied.
 *
 * --cpu-time measures the process's CPU time instead of wall time: with -t 1 on a shared
 * machine that discounts the periods the thread was not running (with more threads it
 * counts the time workers spin at barriers).
 *
 * -d DEPTH (llama-bench -d): each test runs after DEPTH tokens already in the KV cache; they
 * are decoded once, untimed, and the timed tokens are dropped (ak_context_truncate) between
 * repetitions, so every repetition starts from the same DEPTH-token cache.
 *
 * Usage: bench_engine -m FILE [-p 128] [-n 32] [-d 0] [-r 3] [-t threads] [-c n_ctx] [--cpu-time]
 *                     [routing flags]
 * The last line of output is one machine-readable "RESULT key=value ..." line. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "adaptivek.h"
#include "model/model.h"
#include "quant/kernels.h" /* ak_quant_vnni: which build of the AVX2 kernels runs */
#include "quant/quant.h"
#include "roofline.h"
#include "routing_flags.h"

static clockid_t g_clock = CLOCK_MONOTONIC;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(g_clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* A "Name:   123 kB" line of /proc/self/status in MiB; -1 if absent (not Linux). */
static double proc_status_mib(const char *name) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1.0;
    char line[256];
    size_t len = strlen(name);
    double v = -1.0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, name, len) && line[len] == ':') {
            v = strtod(line + len + 1, NULL) / 1024.0;
            break;
        }
    fclose(f);
    return v;
}

static int parse_int_arg(const char *flag, const char *v, int min, int *out) {
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || x < min || x > 1 << 30) {
        fprintf(stderr, "bench_engine: %s needs an integer >= %d\n", flag, min);
        return -1;
    }
    *out = (int)x;
    return 0;
}

static void usage(FILE *out) {
    fprintf(out, "usage: bench_engine -m FILE [-p PROMPT_TOKENS (128)] [-n GEN_TOKENS (32)] [-d DEPTH (0)]\n"
                 "                    [-r REPS (3)] [-t THREADS (all CPUs)] [-c N_CTX] [--cpu-time] [--no-repack]\n"
                 "                    [routing flags]\n"
                 "  -p 0 or -n 0 skips that test; -d: the tests run after DEPTH tokens in the KV cache\n"
                 "  -ctk/-ctv TYPE: KV cache types (f16 default, f32, bf16, q8_0, q4_0)\n"
                 "  --no-repack: weights as the file lays them out (default: repacked where a kernel wants)\n"
                 "  (llama-bench -d). Routing flags (default: the model's native top-k):\n");
    ak_routing_flags_help(out);
}

static int g_depth;            /* -d */
static ak_model_params g_model_params; /* --no-repack */
static const int32_t *g_depth_toks;

/* The cache holding exactly the g_depth depth tokens: decoded once, then kept by truncation. */
static int at_depth(ak_context *c, ak_error *err) {
    /* a model with recurrent layers cannot go back: decode the depth again */
    if (g_depth > 0 && ak_context_n_past(c) >= g_depth && ak_context_truncate(c, g_depth, err) == 0) return 0;
    ak_context_reset(c);
    int nb = ak_context_n_batch(c);
    for (int i = 0; i < g_depth; i += nb)
        if (ak_decode(c, g_depth_toks + i, g_depth - i < nb ? g_depth - i : nb, err)) return -1;
    return 0;
}

static int run_prefill(ak_context *c, const int32_t *toks, int p, double *secs, ak_error *err) {
    if (at_depth(c, err)) return -1;
    double t0 = now_s();
    if (ak_decode(c, toks, p, err)) return -1;
    *secs = now_s() - t0;
    return 0;
}

static int run_decode(ak_context *c, const int32_t *toks, int n, double *secs, ak_error *err) {
    if (at_depth(c, err)) return -1;
    double t0 = now_s();
    for (int i = 0; i < n; i++)
        if (ak_decode(c, toks + i, 1, err)) return -1;
    *secs = now_s() - t0;
    return 0;
}

typedef int run_fn(ak_context *c, const int32_t *toks, int n, double *secs, ak_error *err);

/* A warm-up run of `warm` tokens, then reps timed runs of n tokens: tokens/s of each into
 * tps, their median and the average K, printed on the line `label`. 0, or -1 with a message. */
static int measure(ak_context *c, run_fn *run, const char *label, const int32_t *toks, int n, int warm, int reps,
                   double *tps, double *med, double *k, ak_error *err) {
    double dummy;
    if (run(c, toks, warm, &dummy, err)) return -1;
    ak_context_reset_stats(c);
    for (int r = 0; r < reps; r++) {
        if (run(c, toks, n, &tps[r], err)) return -1;
        tps[r] = n / tps[r];
    }
    *k = ak_context_avg_k(c);
    printf("%s %d tokens:", label, n);
    for (int r = 0; r < reps; r++) printf(" %.2f", tps[r]);
    *med = median(tps, reps);
    printf(" tok/s -> median %.2f (avg K %.2f)\n", *med, *k);
    return 0;
}

/* The decode roofline line (roofline.h); its tokens/s, or 0 when there was no decode. */
static double print_roofline(const ak_context *c, int n_gen, double tg_med, double k_tg) {
    ak_roofline r;
    if (ak_decode_roofline(c, ak_context_n_threads(c), g_depth + (n_gen - 1) / 2.0, &r) || r.tps <= 0) return 0;
    const double mib = 1024.0 * 1024.0;
    printf("roofline  decode reads %.2f MiB/token (dense %.2f + experts %.2f at avg K %.2f + KV %.2f); read "
           "bandwidth %.2f GB/s at %d threads -> %.1f tok/s; measured %.1f = %.0f%% of it\n",
           (r.dense_bytes + r.expert_bytes + r.kv_bytes) / mib, r.dense_bytes / mib, r.expert_bytes / mib, k_tg,
           r.kv_bytes / mib, r.bandwidth / 1e9, ak_context_n_threads(c), r.tps, tg_med, 100.0 * tg_med / r.tps);
    return r.tps;
}

static void print_memory_and_result(const char *path, const ak_model *m, const ak_context *c, int n_prompt, int n_gen,
                                    int reps, double pp_med, double tg_med, double k_pp, double k_tg) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double maxrss = (double)ru.ru_maxrss / 1024.0, hwm = proc_status_mib("VmHWM");
    double rss_file = proc_status_mib("RssFile"), rss_anon = proc_status_mib("RssAnon");
    double roof = n_gen > 0 ? print_roofline(c, n_gen, tg_med, k_tg) : 0; /* after the memory readings: it allocates 1 GiB */
    double file_mib = (double)ak_model_weight_bytes(m) / (1024.0 * 1024.0);
    printf("memory    peak RSS %.0f MiB (VmHWM %.0f); now RssFile %.0f MiB (mapped weights: %.0f MiB), "
           "RssAnon %.0f MiB\n", maxrss, hwm, rss_file, file_mib, rss_anon);
    printf("RESULT file=%s clock=%s threads=%d p=%d n=%d d=%d reps=%d pp_tps=%.3f tg_tps=%.3f k_pp=%.3f k_tg=%.3f "
           "maxrss_mib=%.0f rss_file_mib=%.0f rss_anon_mib=%.0f weights_mib=%.0f roofline_tps=%.3f roofline_frac=%.3f\n",
           path, g_clock == CLOCK_MONOTONIC ? "wall" : "cpu", ak_context_n_threads(c), n_prompt, n_gen, g_depth, reps, pp_med, tg_med, k_pp, k_tg, maxrss, rss_file,
           rss_anon, file_mib, roof, roof > 0 ? tg_med / roof : 0);
}

typedef struct {
    const char *path;
    int n_prompt, n_gen, reps, n_threads, n_ctx, n_routing, depth, type_k, type_v;
    ak_routing_flags rf;
} bench_opts;

/* The arguments into o: the exit status when the program must stop, else -1. */
static int parse_args(int argc, char **argv, bench_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int *dst = NULL, min = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--cpu-time")) {
            g_clock = CLOCK_PROCESS_CPUTIME_ID;
            continue;
        }
        if (!strcmp(a, "--no-repack")) {
            g_model_params.repack = 0;
            continue;
        }
        if (!strcmp(a, "-ctk") || !strcmp(a, "-ctv")) { /* KV cache types, as llama-bench */
            int ty = v ? ak_type_from_name(v) : -1;
            if (ty < 0) {
                fprintf(stderr, "bench_engine: %s needs a type (f32, f16, bf16, q8_0, q4_0)\n", a);
                return 2;
            }
            *(a[3] == 'k' ? &o->type_k : &o->type_v) = ty;
            i++;
            continue;
        }
        if (!strcmp(a, "-m")) {
            if (!v) {
                fprintf(stderr, "bench_engine: -m needs a file\n");
                return 2;
            }
            o->path = v;
            i++;
            continue;
        }
        if (!strcmp(a, "-p")) dst = &o->n_prompt;
        else if (!strcmp(a, "-n")) dst = &o->n_gen;
        else if (!strcmp(a, "-r")) dst = &o->reps, min = 1;
        else if (!strcmp(a, "-t")) dst = &o->n_threads, min = 1;
        else if (!strcmp(a, "-c")) dst = &o->n_ctx, min = 1;
        else if (!strcmp(a, "-d")) dst = &o->depth, min = 0;
        if (dst) {
            if (parse_int_arg(a, v, min, dst)) return 2;
            i++;
            continue;
        }
        ak_error aerr = {0};
        int r = ak_routing_flags_parse(&o->rf, argc, argv, i, &aerr);
        if (r < 0) {
            fprintf(stderr, "bench_engine: %s\n", aerr.msg);
            return 2;
        }
        if (r == 0) {
            fprintf(stderr, "bench_engine: unknown argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
        i += r - 1;
        o->n_routing++;
    }
    if (!o->path) {
        usage(stderr);
        return 2;
    }
    if (o->n_prompt + o->n_gen == 0) {
        fprintf(stderr, "bench_engine: nothing to run (-p 0 -n 0)\n");
        return 2;
    }

    return -1;
}

int main(int argc, char **argv) {
    bench_opts o = {.n_prompt = 128, .n_gen = 32, .reps = 3, .type_k = AK_TYPE_F16, .type_v = AK_TYPE_F16};
    g_model_params = ak_model_default_params();
    ak_routing_flags_init(&o.rf);
    int st = parse_args(argc, argv, &o);
    if (st >= 0) return st;
    const char *path = o.path;
    const int n_prompt = o.n_prompt, n_gen = o.n_gen, reps = o.reps, n_routing = o.n_routing;
    ak_error err = {0};
    double t_load = now_s();
    ak_model *m = ak_model_load_with(path, &g_model_params, &err);
    if (!m) {
        fprintf(stderr, "bench_engine: %s\n", err.msg);
        return 1;
    }
    t_load = now_s() - t_load;
    const ak_hparams *hp = ak_model_hparams(m);
    ak_router_config cfg;
    memset(&cfg, 0, sizeof cfg);
    if (n_routing) {
        ak_error aerr = {0};
        if (ak_routing_flags_build_for_model(&o.rf, hp->n_expert, hp->n_layer, hp->n_expert_used, &cfg, &aerr)) {
            fprintf(stderr, "bench_engine: %s\n", aerr.msg);
            ak_model_free(m);
            return 1;
        }
    }
    ak_context_params cp = ak_context_default_params();
    int longest = n_prompt > n_gen ? n_prompt : n_gen;
    cp.n_ctx = o.n_ctx ? o.n_ctx : o.depth + longest;
    cp.n_batch = n_prompt > 0 ? n_prompt : 1;
    cp.n_threads = o.n_threads;
    cp.type_k = o.type_k, cp.type_v = o.type_v;
    cp.logits_last = 1; /* as llama-bench: the prompt's last token's logits only */
    cp.routing = n_routing ? &cfg : NULL;
    ak_context *c = ak_context_new(m, &cp, &err);
    int32_t *toks = malloc(sizeof(int32_t) * (size_t)(o.depth + longest + 1));
    double *pp = malloc(sizeof(double) * (size_t)reps), *tg = malloc(sizeof(double) * (size_t)reps);
    int rc = 1;
    if (!c) {
        fprintf(stderr, "bench_engine: %s\n", err.msg);
        goto done;
    }
    if (!toks || !pp || !tg) {
        fprintf(stderr, "bench_engine: out of memory\n");
        goto done;
    }
    uint64_t state = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < o.depth + longest; i++) { /* the tested tokens, then the depth tokens */
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        toks[i] = (int32_t)((state >> 33) % (uint64_t)hp->n_vocab);
    }
    g_depth = o.depth, g_depth_toks = toks + longest;

    printf("file      %s (%s, %d layers, n_embd %d, %d experts, native K %d, %.2f GiB)\n", path, hp->arch,
           hp->n_layer, hp->n_embd, hp->n_expert, hp->n_expert_used,
           (double)ak_model_weight_bytes(m) / (1024.0 * 1024.0 * 1024.0));
    printf("threads   %d   kernels %s   load %.2f s   timing %s\n", ak_context_n_threads(c),
           ak_quant_simd() == AK_SIMD_AVX2 && ak_quant_vnni() ? "avx2+vnni" : ak_simd_name(ak_quant_simd()), t_load, g_clock == CLOCK_MONOTONIC ? "wall" : "process CPU time");

    double pp_med = 0.0, tg_med = 0.0, k_pp = 0.0, k_tg = 0.0;
    if (n_prompt > 0 &&
        measure(c, run_prefill, "prefill  ", toks, n_prompt, n_prompt, reps, pp, &pp_med, &k_pp, &err))
        goto decode_error;
    if (n_gen > 0 &&
        measure(c, run_decode, "decode   ", toks, n_gen, n_gen < 4 ? n_gen : 4, reps, tg, &tg_med, &k_tg, &err))
        goto decode_error;

    print_memory_and_result(path, m, c, n_prompt, n_gen, reps, pp_med, tg_med, k_pp, k_tg);
    rc = 0;
    goto done;
decode_error:
    fprintf(stderr, "bench_engine: %s\n", err.msg);
done:
    free(toks);
    free(pp);
    free(tg);
    ak_context_free(c);
    if (n_routing) ak_config_free(&cfg);
    ak_model_free(m);
    return rc;
}
