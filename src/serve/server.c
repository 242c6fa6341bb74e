/* server.c - start-up (options, variants, calibration sample, slots, listener), the
 * signal wait, and the graceful shutdown. */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/errfmt.h"
#include "model/threadpool.h"
#include "serve/calib.h"
#include "serve/http.h"
#include "serve/server_state.h"
#include "serve/slots.h"

void ak_serve_default_options(ak_serve_options *o) {
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8080;
    o->n_parallel = 1;
    o->queue_size = 16;
    o->timeout_s = 120;
    o->max_tokens = 512;
    o->max_body_bytes = 1 << 20;
    o->skip = ak_skip_default_params();
    o->min_exit_threshold = 1.0f;
}

static int copy_config(ak_router_config *dst, const ak_router_config *src) {
    *dst = *src;
    dst->layers = NULL;
    if (src->n_layers > 0 && src->layers) {
        dst->layers = malloc((size_t)src->n_layers * sizeof *dst->layers);
        if (!dst->layers) return -1;
        memcpy(dst->layers, src->layers, (size_t)src->n_layers * sizeof *dst->layers);
    }
    return 0;
}

/* POLICY of --ab: native|fixed, fixed@K, entropy, entropy@AVGK, top-p@P, ratio@R, default, or a
 * router-config JSON file. The names are syntax for a policy specification (fixed@K: kind
 * fixed, k K; ...): libadaptivek's spec rules make the policy. *target: AVGK of entropy@AVGK
 * (*has_target). Returns 0, -1 on an error, 1 when POLICY names no policy (a file, then). */
static int variant_spec(const ak_variant *v, int n_experts, ak_policy_spec *sp, int *has_target, double *target, ak_error *err) {
    static const ak_policy_spec_names names = {"POLICY", "@K", "k_values", "thresholds", "unit",
                                               "@P", "@R", "k_min", "k_max"};
    const char *p = v->policy, *at = strchr(p, '@');
    char *end = NULL;
    double arg = at ? strtod(at + 1, &end) : 0;
    if (at && (end == at + 1 || *end)) return ak_failf(err, AK_ERR_INVALID_ARG, "--ab %s: '%s' is not a number", v->name, at + 1);
    size_t kl = at ? (size_t)(at - p) : strlen(p);
    ak_policy_spec_init(sp);
    sp->names = &names;
    sp->has_kind = 1;
    *has_target = 0;
    *target = arg;
    if (at && kl == 5 && !strncmp(p, "fixed", 5)) {
        if (!(arg >= 1 && arg <= n_experts) || arg != floor(arg)) /* like a request's "k": 1..E */
            return ak_failf(err, AK_ERR_INVALID_ARG, "--ab %s: K must be 1..%d", v->name, n_experts);
        sp->kind = AK_POLICY_FIXED, sp->has_k = 1, sp->k = (int)arg;
    } else if (kl == 7 && !strncmp(p, "entropy", 7)) {
        sp->kind = AK_POLICY_ENTROPY, *has_target = at != NULL;
    } else if (at && kl == 5 && !strncmp(p, "top-p", 5)) {
        sp->kind = AK_POLICY_TOP_P, sp->has_top_p = 1, sp->top_p = (float)arg;
    } else if (at && kl == 5 && !strncmp(p, "ratio", 5)) {
        sp->kind = AK_POLICY_RATIO, sp->has_ratio = 1, sp->ratio = (float)arg;
    } else {
        return 1; /* not a policy name */
    }
    return 0;
}

/* A variant's config from a router-config file, fitted to this model. */
static int variant_file(ak_server *s, ak_variant *v, ak_error *err) {
    const int E = s->hp->n_expert, L = s->hp->n_layer;
    ak_router_config *c = &v->cfg;
    ak_error e = {0};
    if (ak_config_load(v->policy, c, &e) != AK_OK)
        return ak_failf(err, AK_ERR_INVALID_ARG, "--ab %s: '%s' is not a policy (native, fixed, fixed@K, entropy, entropy@AVGK, "
                                     "top-p@P, ratio@R, default) nor a router config: %s",
                        v->name, v->policy, e.msg);
    if (c->n_experts != E || (c->n_layers && c->n_layers != L)) {
        ak_config_free(c);
        return ak_failf(err, AK_ERR_INVALID_ARG, "--ab %s: %s does not fit this model (%d experts, %d layers)", v->name, v->policy,
                        E, L);
    }
    if (ak_config_validate(c, &e) != AK_OK) return ak_failf(err, e.code, "--ab %s: %s", v->name, e.msg);
    return 0;
}

static int build_variant(ak_server *s, ak_variant *v, ak_error *err) {
    const char *p = v->policy;
    ak_router_config *c = &v->cfg;
    memset(c, 0, sizeof *c);
    if (!strcmp(p, "native") || !strcmp(p, "fixed") || (!strcmp(p, "default") && !s->has_default_routing)) {
        v->native = 1;
        return 0;
    }
    if (!strcmp(p, "default")) {
        if (copy_config(c, &s->default_routing)) return ak_failf(err, AK_ERR_NOMEM, "out of memory");
        snprintf(c->name, sizeof c->name, "%s", v->name);
        ak_error e = {0};
        if (ak_config_validate(c, &e) != AK_OK) return ak_failf(err, e.code, "--ab %s: %s", v->name, e.msg);
        return 0;
    }
    ak_policy_spec sp;
    double target;
    int has_target, r = variant_spec(v, s->hp->n_expert, &sp, &has_target, &target, err);
    if (r < 0) return -1;
    if (r > 0) return variant_file(s, v, err);
    snprintf(c->name, sizeof c->name, "%s", v->name);
    c->n_experts = s->hp->n_expert;
    c->k_native = s->hp->n_expert_used;
    c->renormalize = s->hp->renormalize;
    /* entropy starts from the server's own entropy policy (--router-config, flags) if any */
    const ak_policy *own = s->has_default_routing ? &s->default_routing.default_policy : NULL;
    c->default_policy = own && own->kind == AK_POLICY_ENTROPY ? *own : ak_policy_entropy_default();
    ak_error e = {0};
    if (ak_config_apply_spec(c, &sp, &e) != AK_OK) return ak_failf(err, e.code, "--ab %s: %s", v->name, e.msg);
    if (has_target) {
        ak_error why;
        if (ak_calib_config(s, c, target, &why))
            return ak_failf(err, why.code, "--ab %s: entropy@%g: %s", v->name, target, why.msg);
    }
    return 0;
}

void ak_server_free(ak_server *s) {
    if (!s) return;
    ak_slots_free(s);
    for (int i = 0; i < s->n_variants; i++) ak_config_free(&s->variants[i].cfg);
    if (s->has_default_routing) ak_config_free(&s->default_routing);
    ak_metrics_free(s->metrics);
    ak_ab_stats_free(s->ab);
    ak_router_record_free(&s->calib);
    if (s->log && s->log != stderr) fclose(s->log);
    pthread_mutex_destroy(&s->log_mu);
    pthread_mutex_destroy(&s->trace_mu);
    free(s);
}

static int setup(ak_server *s, const ak_serve_options *o, const ak_router_config *routing, ak_error *err) {
    const ak_hparams *hp = s->hp;
    s->opt = *o;
    if (s->opt.n_parallel < 1) s->opt.n_parallel = 1;
    /* -t is the process's total, as a llama.cpp user means it: the one batched forward pass
     * of all slots runs on that many threads */
    s->opt.n_threads = ak_threads_within_cpus(s->opt.n_threads, "adaptive-k serve");
    if (s->opt.queue_size < 0) s->opt.queue_size = 0;
    if (!(s->opt.timeout_s > 0)) s->opt.timeout_s = 120;
    if (s->opt.max_tokens < 1) s->opt.max_tokens = 512;
    if (!s->opt.host) s->opt.host = "127.0.0.1";
    s->n_ctx = o->n_ctx > 0 ? o->n_ctx : hp->n_ctx_train;
    /* every slot holds a cache of n_ctx tokens and a recurrent state (contexts check one each) */
    uint64_t kv = (ak_kv_cache_bytes(s->model, s->n_ctx, s->opt.type_k, s->opt.type_v) + ak_recurrent_state_bytes(s->model)) *
                  (uint64_t)s->opt.n_parallel,
             avail = ak_memory_available();
    if (avail && kv > avail)
        return ak_failf(err, AK_ERR_NOMEM,
                        "%d slots with a context of %d tokens need %.2f GiB of KV cache and recurrent state, more than "
                        "the %.2f GiB of memory available: use a smaller -c or fewer --parallel",
                        s->opt.n_parallel, s->n_ctx, kv / 1073741824.0, avail / 1073741824.0);
    s->n_batch = s->n_ctx < 512 ? s->n_ctx : 512;
    if (s->opt.max_prompt_tokens <= 0 || s->opt.max_prompt_tokens > s->n_ctx - 1) s->opt.max_prompt_tokens = s->n_ctx - 1;
    if (s->opt.min_k <= 0) s->opt.min_k = 1;
    if (s->opt.max_k <= 0) s->opt.max_k = hp->n_expert;
    if (s->opt.min_k > s->opt.max_k || s->opt.max_k > hp->n_expert)
        return ak_failf(err, AK_ERR_INVALID_ARG, "--min-k %d and --max-k %d must satisfy 1 <= min <= max <= %d", s->opt.min_k,
                        s->opt.max_k, hp->n_expert);
    if (ak_skip_check(s->model, &s->opt.skip, err)) return -1;
    if (!(s->opt.min_exit_threshold > 0.0f && s->opt.min_exit_threshold <= 1.0f) ||
        !(s->opt.max_prune_ratio >= 0.0f && s->opt.max_prune_ratio < 1.0f))
        return ak_failf(err, AK_ERR_INVALID_ARG, "--min-exit-threshold %g must be in (0, 1] and --max-prune-ratio %g in "
                        "[0, 1)", (double)s->opt.min_exit_threshold, (double)s->opt.max_prune_ratio);
    const char *name = o->model_name;
    char base[128];
    if (!name) {
        const char *p = o->model_path ? o->model_path : "model";
        const char *slash = strrchr(p, '/');
        snprintf(base, sizeof base, "%s", slash ? slash + 1 : p);
        size_t n = strlen(base);
        if (n > 5 && !strcmp(base + n - 5, ".gguf")) base[n - 5] = 0;
        name = base;
    }
    snprintf(s->model_name, sizeof s->model_name, "%s", name);
    s->created = (long)time(NULL);
    if (routing) {
        if (copy_config(&s->default_routing, routing)) return ak_failf(err, AK_ERR_NOMEM, "out of memory");
        s->has_default_routing = 1;
    }
    if (ak_calib_collect(s, err)) return -1;
    if (o->ab_spec) {
        if (ak_ab_parse(o->ab_spec, s->variants, AK_MAX_VARIANTS, &s->n_variants, err)) return -1;
        s->ab_enabled = 1;
        for (int i = 0; i < s->n_variants; i++)
            if (build_variant(s, &s->variants[i], err)) return -1;
    } else {
        s->n_variants = 1;
        snprintf(s->variants[0].name, sizeof s->variants[0].name, "default");
        snprintf(s->variants[0].policy, sizeof s->variants[0].policy, "default");
        s->variants[0].share = 1;
        if (build_variant(s, &s->variants[0], err)) return -1;
    }
    const char *names[AK_MAX_VARIANTS + 2];
    for (int i = 0; i < s->n_variants; i++) names[i] = s->variants[i].name;
    names[s->n_variants] = "custom";
    names[s->n_variants + 1] = "none";
    s->metrics = ak_metrics_new(hp->n_layer, hp->n_expert, s->n_variants + 2, names);
    s->ab = ak_ab_stats_new(s->n_variants);
    s->n_slots = s->opt.n_parallel;
    if (!s->metrics || !s->ab) return ak_failf(err, AK_ERR_NOMEM, "out of memory");
    s->log = stderr;
    if (o->log_file && !(s->log = fopen(o->log_file, "a"))) {
        s->log = stderr;
        return ak_failf(err, AK_ERR_IO, "cannot open --log-file %s", o->log_file);
    }
    return 0;
}

ak_server *ak_server_new(const ak_serve_options *o, const ak_model *m, const ak_tokenizer *tok,
                         const ak_router_config *routing, ak_error *err) {
    ak_server *s = calloc(1, sizeof *s);
    if (!s) return ak_failf(err, AK_ERR_NOMEM, "out of memory"), NULL;
    pthread_mutex_init(&s->log_mu, NULL);
    pthread_mutex_init(&s->trace_mu, NULL);
    s->model = m;
    s->tok = tok;
    s->hp = ak_model_hparams(m);
    atomic_store(&s->next_id, (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid() << 32);
    if (setup(s, o, routing, err)) {
        ak_server_free(s);
        return NULL;
    }
    return s;
}

int ak_serve_run(const ak_serve_options *o, const ak_model *m, const ak_tokenizer *tok, const ak_router_config *routing,
                 ak_error *err) {
    ak_server *s = ak_server_new(o, m, tok, routing, err);
    if (!s) return -1;

    /* SIGTERM/SIGINT are taken by sigwait below; every thread started from here inherits the mask */
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    signal(SIGPIPE, SIG_IGN);
    if (ak_slots_start(s, err)) {
        ak_slots_drain_and_stop(s, 0);
        ak_server_free(s);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return -1;
    }
    if (ak_http_start(s, err)) {
        ak_slots_drain_and_stop(s, 0);
        ak_server_free(s);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return -1;
    }
    fprintf(stderr,
            "adaptive-k serve: listening on http://%s:%d (model %s, %d slot%s batched on %d thread%s, queue %d, context %d, "
            "timeout %gs, at most %u connections)\n",
            s->opt.host, s->port, s->model_name, s->n_slots, s->n_slots == 1 ? "" : "s", s->opt.n_threads,
            s->opt.n_threads == 1 ? "" : "s", s->opt.queue_size, s->n_ctx, s->opt.timeout_s, s->max_connections);
    if (o->port_file) {
        FILE *f = fopen(o->port_file, "w");
        if (f) {
            fprintf(f, "%d\n", s->port);
            fclose(f);
        }
    }
    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "adaptive-k serve: %s received, finishing requests (at most %gs)\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", s->opt.timeout_s);
    atomic_store(&s->shutting_down, 1);
    ak_http_quiesce(s);
    ak_slots_drain_and_stop(s, s->opt.timeout_s);
    ak_http_stop(s, 10);
    fprintf(stderr, "adaptive-k serve: stopped\n");
    ak_server_free(s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return 0;
}
