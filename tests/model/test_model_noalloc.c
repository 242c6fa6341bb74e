/* The hot path allocates nothing: after a context is made, ak_decode (single tokens and
 * full batches, every policy, several threads, with early exit and pruning, continuous
 * batching) and the sampler call neither malloc,
 * calloc, realloc nor aligned_alloc/posix_memalign.
 *
 * The test binary is linked with -Wl,--wrap for those functions, so every call made from
 * our objects (libraries included) goes through the counters below; calls inside libc
 * itself are not seen, and none of ours should need them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "fixture.h"
#include "model/model_internal.h"
#include "model/model.h"
#include "model/sampler.h"
#include "quant/quant.h"

static volatile int g_counting;
static volatile long g_allocs;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);

void *__wrap_malloc(size_t n) {
    if (g_counting) __atomic_add_fetch(&g_allocs, 1, __ATOMIC_RELAXED);
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t size) {
    if (g_counting) __atomic_add_fetch(&g_allocs, 1, __ATOMIC_RELAXED);
    return __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n) {
    if (g_counting) __atomic_add_fetch(&g_allocs, 1, __ATOMIC_RELAXED);
    return __real_realloc(p, n);
}
int __wrap_posix_memalign(void **p, size_t align, size_t n) {
    if (g_counting) __atomic_add_fetch(&g_allocs, 1, __ATOMIC_RELAXED);
    return __real_posix_memalign(p, align, n);
}
void *__wrap_aligned_alloc(size_t align, size_t n) {
    if (g_counting) __atomic_add_fetch(&g_allocs, 1, __ATOMIC_RELAXED);
    return __real_aligned_alloc(align, n);
}

#define N_BATCH 8

/* Decodes a prompt as batches, then single tokens with sampling, counting allocations. */
static long run(ak_model *m, const ak_router_config *rc, int threads, const char *what) {
    ak_error err = {0};
    ak_context *c = test_context(m, 64, N_BATCH, threads, rc);
    if (!c) return -1;
    int n_vocab = ak_model_hparams(m)->n_vocab;
    ak_sampler_params sp = ak_sampler_default_params();
    sp.temp = 0.8f;
    sp.top_k = 10;
    sp.top_p = 0.9f;
    sp.seed = 7;
    ak_sampler *s = ak_sampler_new(n_vocab, &sp);
    CHECK(s != NULL, "%s: sampler", what);
    int32_t prompt[20];
    for (int i = 0; i < 20; i++) prompt[i] = 1 + i % (n_vocab - 1);

    /* warm-up outside the count: the first call may start the pool's threads */
    CHECK(ak_decode(c, prompt, 1, &err) == 0, "%s: warm-up: %s", what, err.msg);
    ak_context_reset(c);

    g_allocs = 0;
    g_counting = 1;
    int ok = ak_decode(c, prompt, 20, &err) == 0; /* 3 batches: 8 + 8 + 4 */
    int32_t tok = ak_sampler_sample(s, ak_get_logits(c, -1));
    for (int i = 0; ok && i < 16; i++) {
        ok = ak_decode(c, &tok, 1, &err) == 0;
        tok = ak_sampler_sample(s, ak_get_logits(c, 0));
    }
    ok = ok && ak_context_truncate(c, 10, &err) == 0;
    ok = ok && ak_decode(c, prompt, N_BATCH, &err) == 0;
    g_counting = 0;
    CHECK(ok, "%s: decode: %s", what, err.msg);
    long n = g_allocs;
    CHECK(n == 0, "%s: %ld allocations while decoding", what, n);
    ak_sampler_free(s);
    ak_context_free(c);
    return n;
}

/* Continuous batching: decode steps of three sequences in one group allocate nothing
 * once the executing context has grown its expert slots (the first group). */
static void run_group(ak_model *m, int threads) {
    ak_error err = {0};
    ak_context *exec = test_context(m, 64, N_BATCH, threads, NULL), *sq[3];
    for (int i = 0; i < 3; i++) sq[i] = test_context(m, 64, 1, 1, NULL);
    if (!exec || !sq[0] || !sq[1] || !sq[2]) return;
    int32_t tok[3] = {1, 2, 3};
    const int32_t *toks[3] = {&tok[0], &tok[1], &tok[2]};
    const int n[3] = {1, 1, 1};
    CHECK(ak_decode_group(exec, sq, toks, n, 3, &err) == 0, "group warm-up: %s", err.msg);
    g_allocs = 0;
    g_counting = 1;
    int ok = 1;
    for (int s = 0; ok && s < 16; s++) {
        ok = ak_decode_group(exec, sq, toks, n, 3 - s % 2, &err) == 0; /* a sequence leaves and joins */
        for (int i = 0; i < 3; i++) tok[i] = (int32_t)(1 + (tok[i] * 7 + s) % 30);
    }
    g_counting = 0;
    CHECK(ok, "group decode: %s", err.msg);
    CHECK(g_allocs == 0, "%ld allocations while decoding groups (%d threads)", g_allocs, threads);
    for (int i = 0; i < 3; i++) ak_context_free(sq[i]);
    ak_context_free(exec);
}

/* Early exit (both measures, some tokens exiting) and prompt pruning allocate nothing per
 * token either: prefill batches that prune, decode steps that exit and fill, a reset. */
static void run_skip(ak_model *m, int threads, int measure) {
    ak_error err = {0};
    ak_context *c = test_context(m, 64, N_BATCH, threads, NULL);
    if (!c) return;
    ak_skip_params sp = ak_skip_default_params();
    sp.exit_measure = measure;
    sp.exit_threshold = measure == AK_EXIT_SATURATION ? 0.5f : 1e-9f; /* exits from the first check */
    sp.exit_layer = 0;
    sp.prune_ratio = 0.5f;
    CHECK(ak_context_set_skip(c, &sp, &err) == 0, "skip: %s", err.msg);
    int32_t prompt[20];
    for (int i = 0; i < 20; i++) prompt[i] = 1 + i % 30;
    CHECK(ak_decode(c, prompt, 1, &err) == 0, "skip warm-up: %s", err.msg);
    ak_context_reset(c);
    g_allocs = 0;
    g_counting = 1;
    int ok = ak_decode(c, prompt, 20, &err) == 0; /* 3 batches, each pruned */
    for (int i = 0; ok && i < 16; i++) ok = ak_decode(c, &prompt[i], 1, &err) == 0;
    ak_context_reset(c);
    ok = ok && ak_decode(c, prompt, N_BATCH, &err) == 0;
    g_counting = 0;
    ak_compute_counters cc;
    ak_context_counters(c, &cc);
    CHECK(ok, "skip decode: %s", err.msg);
    CHECK(cc.pruned_tokens > 0 && cc.exit_checks > 0, "skip: %llu pruned, %llu checks", (unsigned long long)cc.pruned_tokens,
          (unsigned long long)cc.exit_checks);
    CHECK(g_allocs == 0, "%ld allocations while decoding with exits (measure %d) and pruning (%d threads)", g_allocs,
          measure, threads);
    ak_context_free(c);
}

int main(void) {
    char path[256];
    ak_model *m = test_default_model("noalloc", AK_TYPE_Q8_0, path, sizeof path);
    if (!m) return check_finish("test_model_noalloc");

    /* the counters see the libraries' allocations: making a sampler allocates */
    g_allocs = 0;
    g_counting = 1;
    ak_sampler_params sp = ak_sampler_default_params();
    ak_sampler *probe = ak_sampler_new(100, &sp);
    g_counting = 0;
    CHECK(probe != NULL && g_allocs >= 1, "the wrappers saw %ld allocations in ak_sampler_new", g_allocs);
    ak_sampler_free(probe);

    int n_exp = ak_model_hparams(m)->n_expert;
    ak_router_config rc;
    memset(&rc, 0, sizeof rc);
    rc.n_experts = n_exp;
    rc.k_native = ak_model_hparams(m)->n_expert_used;
    for (int threads = 1; threads <= 3; threads += 2) {
        run(m, NULL, threads, "native top-k");
        rc.default_policy = ak_policy_entropy_default();
        run(m, &rc, threads, "entropy");
        rc.default_policy = ak_policy_top_p(0.9f, 1, n_exp);
        run(m, &rc, threads, "top-p");
        rc.default_policy = ak_policy_ratio(0.3f, 1, n_exp);
        run(m, &rc, threads, "ratio");
        run_skip(m, threads, AK_EXIT_TOP1);
        run_skip(m, threads, AK_EXIT_SATURATION);
        rc.default_policy = ak_policy_fixed(n_exp);
        run(m, &rc, threads, "all experts");
        run_group(m, threads);
    }
    ak_model_free(m);
    remove(path);

    /* repacked weights (MXFP4, src/model/repack.c): their kernels allocate nothing either */
    ak_gen_params gp;
    ak_gen_params_default(&gp, "gpt-oss");
    snprintf(gp.vocab_kind, sizeof gp.vocab_kind, "bytes");
    gp.type = AK_TYPE_MXFP4;
    m = test_gen_write_load(&gp, "noalloc_mxfp4", path, sizeof path);
    if (m) {
        CHECK(m->layers[0].up_exps.repacked, "the MXFP4 experts are repacked");
        for (int threads = 1; threads <= 3; threads += 2) run(m, NULL, threads, "repacked MXFP4");
        ak_model_free(m);
    }
    remove(path);
    return check_finish("test_model_noalloc");
}
