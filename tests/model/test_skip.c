/* test_skip.c - early exit and prompt pruning (ak_skip_params) on every kind of layer the
 * engine runs (olmoe, deepseek2's latent attention, the hybrids' Mamba-2 and Gated
 * DeltaNet blocks):
 *   - a threshold no token reaches equals the plain run bit for bit (the checks ran and
 *     are counted as work); a prune ratio that drops nothing equals it too;
 *   - a batch with exits equals the same tokens decoded one at a time with the same
 *     threshold (an exited token's later layers hold its fill, as in decode);
 *   - a sequence with exits inside a group equals its own decode;
 *   - the accounting: every saving counted once (native - run = adaptive K + exit + prune),
 *     native compute independent of skipping, layers and tokens counted;
 *   - pruning drops floor(ratio (n - 1)) tokens and changes what later tokens see; the
 *     continuation runs on the kept ones; in a group beside a plain sequence it equals its
 *     own decode; the cache's gap refuses a rewind until a reset;
 *   - bad values are clear errors that change nothing. */
#include <math.h>
#include <string.h>

#include "helpers.h"
#include "model/model_internal.h"

enum { N_PROMPT = 20, N_GEN = 4, N_CTX = 64, MAX_V = 512 };

static int32_t tok_at(int i, int V) { return (int32_t)((i * 37 + 5) % V); }

static ak_skip_params exits(float threshold, int layer) {
    ak_skip_params p = ak_skip_default_params();
    p.exit_threshold = threshold, p.exit_layer = layer;
    return p;
}

static ak_context *skip_context(ak_model *m, int n_batch, const ak_skip_params *sp, const ak_router_config *rc) {
    ak_context *c = test_context(m, N_CTX, n_batch, 2, rc);
    ak_error err = {0};
    if (c && sp) CHECK(ak_context_set_skip(c, sp, &err) == 0, "set_skip: %s", err.msg);
    return c;
}

/* Prompt in one batch, then N_GEN single tokens; every token's logits into out
 * [N_PROMPT + N_GEN][V] (n_batch 1: the prompt token by token too). */
static void run(ak_context *c, int V, float *out) {
    ak_error err = {0};
    int32_t toks[N_PROMPT + N_GEN];
    for (int i = 0; i < N_PROMPT + N_GEN; i++) toks[i] = tok_at(i, V);
    const int nb = ak_context_n_batch(c);
    for (int i = 0; i < N_PROMPT + N_GEN;) {
        const int n = i < N_PROMPT ? (N_PROMPT - i < nb ? N_PROMPT - i : nb) : 1;
        CHECK(ak_decode(c, toks + i, n, &err) == 0, "decode at %d: %s", i, err.msg);
        for (int j = 0; j < n; j++) {
            const float *lg = ak_get_logits(c, j);
            if (lg) memcpy(out + (size_t)(i + j) * V, lg, (size_t)V * sizeof *out);
        }
        i += n;
    }
}

static double max_rel_diff(const float *a, const float *b, size_t n) {
    double d = 0, scale = 1e-6;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)a[i]));
    }
    return d / scale;
}

static void check_identity(const ak_compute_counters *cc, const char *what) {
    const int64_t lhs = (int64_t)(cc->model_macs_native - cc->model_macs);
    const int64_t rhs = (int64_t)(cc->expert_macs_native - cc->expert_macs) + cc->macs_saved_exit + (int64_t)cc->macs_saved_prune;
    CHECK(lhs == rhs, "%s: native - run %lld != adaptive K + exit + prune %lld", what, (long long)lhs, (long long)rhs);
}

typedef struct {
    float conf[N_PROMPT + N_GEN];
    int layer;
} probe_rec;

static void probe(void *user, int layer, int pos, float p) {
    probe_rec *r = user;
    if (layer == r->layer && pos < N_PROMPT + N_GEN) r->conf[pos] = p;
}

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* A threshold between the tokens' confidences after `layer`, so that some exit and some
 * do not (the probe runs with exits off: the plain forward pass). */
static float median_confidence(ak_model *m, int layer, int measure) {
    const int V = ak_model_hparams(m)->n_vocab;
    probe_rec rec = {{0}, layer};
    ak_skip_params shape = exits(0.0f, layer);
    shape.exit_measure = measure;
    ak_context *c = skip_context(m, 32, &shape, NULL);
    float *lg = calloc((size_t)(N_PROMPT + N_GEN) * V, sizeof *lg);
    if (!c || !lg) return 0.5f;
    ak_context_set_exit_probe(c, probe, &rec);
    run(c, V, lg);
    ak_context_free(c);
    free(lg);
    float s[N_PROMPT + N_GEN];
    memcpy(s, rec.conf, sizeof s);
    qsort(s, N_PROMPT + N_GEN, sizeof *s, cmp_float);
    CHECK(s[0] > 0.0f && s[N_PROMPT + N_GEN - 1] <= 1.0f, "probe saw every token (%g..%g)", (double)s[0],
          (double)s[N_PROMPT + N_GEN - 1]);
    return 0.5f * (s[(N_PROMPT + N_GEN) / 2 - 1] + s[(N_PROMPT + N_GEN) / 2]);
}

static void never_and_nothing(ak_model *m, const char *arch) {
    const ak_hparams *hp = ak_model_hparams(m);
    const int V = hp->n_vocab, N = N_PROMPT + N_GEN;
    float *plain = calloc((size_t)N * V, sizeof(float)), *skip = calloc((size_t)N * V, sizeof(float));
    ak_context *c0 = skip_context(m, 32, NULL, NULL);
    ak_skip_params never = exits(1.0f, 0);
    ak_context *c1 = skip_context(m, 32, &never, NULL);
    if (!plain || !skip || !c0 || !c1) goto done;
    run(c0, V, plain);
    run(c1, V, skip);
    CHECK(memcmp(plain, skip, (size_t)N * V * sizeof(float)) == 0, "%s: threshold 1 equals the plain run bit for bit", arch);
    ak_compute_counters a, b;
    ak_context_counters(c0, &a);
    ak_context_counters(c1, &b);
    const uint64_t checks = (uint64_t)N * (uint64_t)(hp->n_layer - 1);
    CHECK(b.exit_tokens == 0 && b.exit_checks == checks, "%s: %llu exits, %llu checks (want 0, %llu)", arch,
          (unsigned long long)b.exit_tokens, (unsigned long long)b.exit_checks, (unsigned long long)checks);
    CHECK(b.model_macs - a.model_macs == checks * (uint64_t)hp->n_embd * (uint64_t)V && b.model_macs_native == a.model_macs_native,
          "%s: the checks are the only extra work", arch);
    CHECK(b.macs_saved_exit == -(int64_t)(checks * (uint64_t)hp->n_embd * (uint64_t)V), "%s: exit saved %lld", arch,
          (long long)b.macs_saved_exit);
    CHECK(a.layers_run == (uint64_t)N * hp->n_layer && a.layers_native == a.layers_run, "%s: layers counted", arch);
    check_identity(&b, arch);

    /* a ratio that drops nothing of 20 tokens (floor(0.04 x 19) = 0) */
    ak_skip_params none = ak_skip_default_params();
    none.prune_ratio = 0.04f;
    for (none.prune_layer = 0; m->layers[none.prune_layer].mixer != AK_MIXER_ATTENTION;) none.prune_layer++;
    ak_context_reset(c1);
    ak_error err = {0};
    CHECK(ak_context_set_skip(c1, &none, &err) == 0, "%s: %s", arch, err.msg);
    run(c1, V, skip);
    CHECK(memcmp(plain, skip, (size_t)N * V * sizeof(float)) == 0, "%s: a ratio that prunes nothing equals the plain run", arch);
done:
    ak_context_free(c0);
    ak_context_free(c1);
    free(plain);
    free(skip);
}

/* Exits in a batch of 20 equal token-by-token decode; inside a group too. */
static void batch_equals_decode(ak_model *m, const char *arch, int measure) {
    const ak_hparams *hp = ak_model_hparams(m);
    const int V = hp->n_vocab, N = N_PROMPT + N_GEN, layer = hp->n_layer > 3 ? 1 : 0;
    const float thr = median_confidence(m, layer, measure);
    ak_skip_params sp = exits(thr, layer);
    sp.exit_measure = measure;
    sp.exit_every = hp->n_layer; /* one check: the tokens at or above the median exit */
    float *batched = calloc((size_t)N * V, sizeof(float)), *single = calloc((size_t)N * V, sizeof(float));
    ak_context *cb = skip_context(m, 32, &sp, NULL), *cs = skip_context(m, 1, &sp, NULL);
    if (!batched || !single || !cb || !cs) goto done;
    run(cb, V, batched);
    run(cs, V, single);
    const double d = max_rel_diff(single, batched, (size_t)N * V);
    CHECK(d < 1e-4, "%s: exits in a batch equal token-by-token decode (max diff %.3g of the scale)", arch, d);
    ak_compute_counters a, b;
    ak_context_counters(cb, &a);
    ak_context_counters(cs, &b);
    CHECK(a.exit_tokens == b.exit_tokens && a.exit_tokens > 0 && a.exit_tokens < (uint64_t)N,
          "%s: %llu and %llu of %d tokens exit (threshold %g)", arch, (unsigned long long)a.exit_tokens,
          (unsigned long long)b.exit_tokens, N, (double)thr);
    CHECK(a.layers_run < a.layers_native && a.layers_run == b.layers_run, "%s: layers run %llu of %llu", arch,
          (unsigned long long)a.layers_run, (unsigned long long)a.layers_native);
    check_identity(&a, arch);

    /* the same sequence as one member of a group, beside a plain one */
    ak_context *exec = skip_context(m, 32, NULL, NULL), *s0 = skip_context(m, 32, &sp, NULL);
    ak_context *s1 = skip_context(m, 32, NULL, NULL);
    if (exec && s0 && s1) {
        int32_t toks[N_PROMPT + N_GEN];
        for (int i = 0; i < N; i++) toks[i] = tok_at(i, V);
        ak_context *seq[2] = {s0, s1};
        ak_error err = {0};
        double worst = 0;
        for (int i = 0; i < N; i++) {
            const int32_t *tk[2] = {toks + i, toks + (N - 1 - i)};
            const int n[2] = {1, 1};
            CHECK(ak_decode_group(exec, seq, tk, n, 2, &err) == 0, "%s group step %d: %s", arch, i, err.msg);
            worst = fmax(worst, max_rel_diff(single + (size_t)i * V, ak_get_logits(s0, -1), (size_t)V));
        }
        CHECK(worst < 1e-4, "%s: a sequence with exits in a group equals its own decode (%.3g)", arch, worst);
        ak_compute_counters g;
        ak_context_counters(s0, &g);
        CHECK(g.exit_tokens == b.exit_tokens, "%s: the group's member exits as alone (%llu vs %llu)", arch,
              (unsigned long long)g.exit_tokens, (unsigned long long)b.exit_tokens);
    }
    ak_context_free(exec);
    ak_context_free(s0);
    ak_context_free(s1);
done:
    ak_context_free(cb);
    ak_context_free(cs);
    free(batched);
    free(single);
}

/* Every token exits at the first check: layers 0..e run, native unchanged; with an
 * adaptive policy and pruning too, each saving once. */
static void accounting(ak_model *m, const char *arch) {
    const ak_hparams *hp = ak_model_hparams(m);
    const int V = hp->n_vocab, N = N_PROMPT + N_GEN, e = hp->n_layer - 2;
    float *lg = calloc((size_t)N * V, sizeof(float));
    ak_skip_params all = exits(1e-9f, e);
    ak_context *c0 = skip_context(m, 32, NULL, NULL), *c1 = skip_context(m, 32, &all, NULL);
    if (!lg || !c0 || !c1) goto done;
    run(c0, V, lg);
    run(c1, V, lg);
    ak_compute_counters a, b;
    ak_context_counters(c0, &a);
    ak_context_counters(c1, &b);
    CHECK(b.exit_tokens == (uint64_t)N && b.layers_run == (uint64_t)N * (uint64_t)(e + 1) &&
              b.model_macs_native == a.model_macs_native,
          "%s: all exit after layer %d: %llu exits, %llu layers run", arch, e, (unsigned long long)b.exit_tokens,
          (unsigned long long)b.layers_run);
    /* the last layer skipped: its full cost at native K, less its fill, less the checks */
    const ak_layer *l = &m->layers[hp->n_layer - 1];
    uint64_t qk = 0;
    for (int pos = 0; pos < N; pos++) qk += 2ull * hp->n_head * hp->head_dim * (uint64_t)(pos + 1);
    const int64_t want = (int64_t)((uint64_t)N * (l->macs + l->expert_macs_native - l->fill_macs) +
                                   (l->mixer == AK_MIXER_ATTENTION ? qk : 0)) -
                         (int64_t)((uint64_t)N * hp->n_embd * (uint64_t)V);
    CHECK(b.macs_saved_exit == want, "%s: saved by exit %lld, counted %lld", arch, (long long)b.macs_saved_exit,
          (long long)want);
    check_identity(&b, arch);
    /* the same with saturation checks: 3 n_embd each */
    all.exit_measure = AK_EXIT_SATURATION, all.exit_threshold = -1.0f;
    ak_error err = {0};
    CHECK(ak_context_set_skip(c1, &all, &err) != 0, "%s: threshold -1 refused", arch);
    all.exit_threshold = 1e-9f; /* cos > 1e-9 for random states: every token exits (checked below) */
    ak_context_reset(c1);
    ak_context_reset_stats(c1);
    CHECK(ak_context_set_skip(c1, &all, &err) == 0, "%s: %s", arch, err.msg);
    run(c1, V, lg);
    ak_context_counters(c1, &b);
    const int64_t want_sat = want + (int64_t)((uint64_t)N * hp->n_embd * (uint64_t)V) - (int64_t)((uint64_t)N * 3 * hp->n_embd);
    if (b.exit_tokens == (uint64_t)N)
        CHECK(b.macs_saved_exit == want_sat, "%s: saturation: saved by exit %lld, counted %lld", arch,
              (long long)b.macs_saved_exit, (long long)want_sat);
    check_identity(&b, arch);

    /* entropy routing + exits + pruning together */
    ak_router_config rc = ak_config_uniform(hp->n_expert, hp->n_expert_used, 0, ak_policy_entropy_default());
    ak_skip_params both = exits(median_confidence(m, 0, AK_EXIT_SATURATION), 0);
    both.exit_measure = AK_EXIT_SATURATION;
    both.prune_ratio = 0.5f;
    for (both.prune_layer = 0; m->layers[both.prune_layer].mixer != AK_MIXER_ATTENTION;) both.prune_layer++;
    if (both.prune_layer <= hp->n_layer - 2) {
        ak_context *c2 = skip_context(m, 32, &both, &rc);
        if (c2) {
            run(c2, V, lg);
            ak_compute_counters d;
            ak_context_counters(c2, &d);
            CHECK(d.pruned_tokens == (uint64_t)((N_PROMPT - 1) / 2) && d.tokens == (uint64_t)N,
                  "%s: %llu pruned of %llu tokens", arch, (unsigned long long)d.pruned_tokens, (unsigned long long)d.tokens);
            CHECK(d.model_macs_native == a.model_macs_native && d.macs_saved_prune > 0, "%s: native unchanged, prune saved",
                  arch);
            check_identity(&d, arch);
        }
        ak_context_free(c2);
    }
done:
    ak_context_free(c0);
    ak_context_free(c1);
    free(lg);
}

/* A pruning sequence's prompt and steps inside groups, beside a plain sequence (the
 * server's batches), equal its own decode: `solo` holds its logits (run()). */
static void pruning_in_group(ak_model *m, const ak_skip_params *sp, const float *solo, const char *arch) {
    const int V = ak_model_hparams(m)->n_vocab;
    ak_context *exec = skip_context(m, 32, NULL, NULL), *s0 = skip_context(m, 32, sp, NULL);
    ak_context *s1 = skip_context(m, 32, NULL, NULL);
    int32_t toks[N_PROMPT + N_GEN];
    for (int i = 0; i < N_PROMPT + N_GEN; i++) toks[i] = tok_at(i, V);
    ak_context *seq[2] = {s0, s1};
    ak_error err = {0};
    double worst = 0;
    if (!exec || !s0 || !s1) goto done;
    for (int i = 0; i < N_GEN + 1; i++) { /* step 0: both prompts, then single tokens */
        const int at = i ? N_PROMPT + i - 1 : 0, n0 = i ? 1 : N_PROMPT;
        const int32_t *tk[2] = {toks + at, toks + (i ? N_PROMPT - i : 0)};
        const int n[2] = {n0, i ? 1 : 7};
        CHECK(ak_decode_group(exec, seq, tk, n, 2, &err) == 0, "%s pruning group step %d: %s", arch, i, err.msg);
        worst = fmax(worst, max_rel_diff(solo + (size_t)(at + n0 - 1) * V, ak_get_logits(s0, -1), (size_t)V));
    }
    CHECK(worst < 1e-4, "%s: a pruning sequence in a group equals its own decode (%.3g)", arch, worst);
    CHECK(s0->kv_gap == (N_PROMPT - 1) / 2 && s1->kv_gap == 0, "%s: the group pruned the pruning sequence only (%d, %d)",
          arch, s0->kv_gap, s1->kv_gap);
done:
    ak_context_free(exec);
    ak_context_free(s0);
    ak_context_free(s1);
}

/* Pruning half of a 20-token prompt after layer P: 9 tokens leave; the continuation runs on
 * the kept ones; rewinding is refused while the cache has the gap. */
static void pruning(ak_model *m, const char *arch) {
    const ak_hparams *hp = ak_model_hparams(m);
    const int V = hp->n_vocab, N = N_PROMPT + N_GEN;
    ak_skip_params sp = ak_skip_default_params();
    sp.prune_ratio = 0.5f;
    for (sp.prune_layer = 0; m->layers[sp.prune_layer].mixer != AK_MIXER_ATTENTION;) sp.prune_layer++;
    if (sp.prune_layer > hp->n_layer - 2) return;
    float *a = calloc((size_t)N * V, sizeof(float)), *b = calloc((size_t)N * V, sizeof(float));
    ak_context *c = skip_context(m, 32, &sp, NULL), *c0 = skip_context(m, 32, NULL, NULL);
    ak_error err = {0};
    if (!a || !b || !c || !c0) goto done;
    run(c, V, a);
    run(c0, V, b);
    pruning_in_group(m, &sp, a, arch);
    CHECK(c->kv_gap == (N_PROMPT - 1) / 2 && c->gap_layer == sp.prune_layer, "%s: gap %d after layer %d", arch, c->kv_gap,
          c->gap_layer);
    CHECK(ak_get_logits(c, 0) != NULL && ak_get_logits(c, -1) != NULL, "%s: the continuation has logits", arch);
    for (size_t i = (size_t)N_PROMPT * V; i < (size_t)N * V; i++)
        if (!isfinite(a[i])) {
            CHECK(0, "%s: continuation logits finite", arch);
            break;
        }
    int attention_after = 0; /* a later layer whose attention reads the kept tokens only */
    for (int il = sp.prune_layer + 1; il < hp->n_layer; il++) attention_after |= m->layers[il].mixer == AK_MIXER_ATTENTION;
    if (attention_after)
        CHECK(max_rel_diff(a + (size_t)(N - 1) * V, b + (size_t)(N - 1) * V, (size_t)V) > 1e-6,
              "%s: pruning changes what later tokens see", arch);
    CHECK(ak_context_truncate(c, 5, &err) != 0 && (strstr(err.msg, "pruned") || strstr(err.msg, "recurrent")),
          "%s: rewind refused: %s", arch, err.msg);
    ak_skip_params other = sp;
    other.prune_layer = sp.prune_layer + 1;
    if (other.prune_layer <= hp->n_layer - 2 && m->layers[other.prune_layer].mixer == AK_MIXER_ATTENTION)
        CHECK(ak_context_set_skip(c, &other, &err) != 0 && strstr(err.msg, "reset"), "%s: another prune layer refused", arch);
    ak_context_reset(c);
    CHECK(c->kv_gap == 0 && ak_context_truncate(c, 0, &err) == 0, "%s: reset clears the gap", arch);
    /* pruning the oldest: with ratio 0.5 of 20 prompt tokens the first 9 leave */
    sp.prune_by = AK_PRUNE_OLDEST;
    CHECK(ak_context_set_skip(c, &sp, &err) == 0, "%s: %s", arch, err.msg);
    run(c, V, b);
    CHECK(c->kv_gap == (N_PROMPT - 1) / 2, "%s: oldest: gap %d", arch, c->kv_gap);
    sp.prune_by = 7;
    CHECK(ak_context_set_skip(c, &sp, &err) != 0, "%s: prune_by 7 refused", arch);
done:
    ak_context_free(c);
    ak_context_free(c0);
    free(a);
    free(b);
}

static void bad_values(ak_model *m, const char *arch) {
    const ak_hparams *hp = ak_model_hparams(m);
    ak_context *c = skip_context(m, 8, NULL, NULL);
    if (!c) return;
    ak_skip_params bad[7];
    for (int i = 0; i < 7; i++) bad[i] = ak_skip_default_params();
    bad[0].exit_threshold = -0.1f;
    bad[1].exit_threshold = 1.5f;
    bad[2].exit_threshold = NAN;
    bad[3].exit_threshold = 0.5f, bad[3].exit_layer = hp->n_layer - 1;
    bad[4].exit_every = 0;
    bad[5].prune_ratio = 1.0f;
    bad[6].prune_ratio = 0.5f, bad[6].prune_layer = -1;
    for (int i = 0; i < 7; i++) {
        ak_error err = {0};
        CHECK(ak_context_set_skip(c, &bad[i], &err) != 0 && err.msg[0], "%s: bad skip %d refused", arch, i);
        CHECK(ak_context_skip(c).exit_threshold == 0.0f && ak_context_skip(c).prune_ratio == 0.0f,
              "%s: a refused setting changes nothing", arch);
    }
    ak_error err = {0};
    CHECK(ak_context_set_skip(c, NULL, &err) != 0, "%s: NULL refused", arch);
    for (int il = 0; il < hp->n_layer - 1; il++) /* a recurrent layer cannot rank tokens */
        if (m->layers[il].mixer != AK_MIXER_ATTENTION) {
            ak_skip_params p = ak_skip_default_params();
            p.prune_ratio = 0.5f, p.prune_layer = il;
            CHECK(ak_context_set_skip(c, &p, &err) != 0 && strstr(err.msg, "attention"), "%s: prune after layer %d: %s",
                  arch, il, err.msg);
            break;
        }
    ak_context_free(c);
}

int main(void) {
    const struct {
        const char *arch;
        int n_layer;
    } archs[] = {{"olmoe", 4}, {"deepseek2", 4}, {"nemotron_h_moe", 0}, {"qwen35moe", 8}};
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++) {
        char path[512];
        ak_model *m = test_gen_model(archs[i].arch, archs[i].n_layer, "skip", path, sizeof path);
        if (!m) continue;
        CHECK(ak_model_hparams(m)->n_vocab <= MAX_V, "small vocabulary");
        never_and_nothing(m, archs[i].arch);
        batch_equals_decode(m, archs[i].arch, AK_EXIT_TOP1);
        batch_equals_decode(m, archs[i].arch, AK_EXIT_SATURATION);
        accounting(m, archs[i].arch);
        pruning(m, archs[i].arch);
        bad_values(m, archs[i].arch);
        ak_model_free(m);
        remove(path);
    }
    /* gpt-oss's windowed layers count positions: pruning refused */
    char path[512];
    ak_model *m = test_gen_model("gpt-oss", 0, "skip_oss", path, sizeof path);
    if (m) {
        ak_context *c = skip_context(m, 8, NULL, NULL);
        ak_skip_params p = ak_skip_default_params();
        p.prune_ratio = 0.5f;
        ak_error err = {0};
        if (c) CHECK(ak_context_set_skip(c, &p, &err) != 0 && strstr(err.msg, "sliding"), "gpt-oss: %s", err.msg);
        ak_context_free(c);
        ak_model_free(m);
        remove(path);
    }
    return check_finish("test_skip");
}
