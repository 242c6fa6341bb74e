/* worker.c - the workers: each owns an ak_context and runs one job at a time (prompt, then
 * token by token); the job API (job.c) streams events as text becomes sendable. Nothing
 * allocates per token: the text and event buffers grow geometrically and the trace and
 * token arrays are sized when the request is parsed. */
#include "base/errfmt.h"
#include "serve/worker.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "serve/queue.h"
#include "serve/response.h"
#include "serve/server_state.h"

typedef struct {
    ak_server *srv;
    ak_workers *pool;
    pthread_t thread;
    ak_context *ctx;
    /* The shared config ctx routes with (a variant's, or NULL: native). After a request
     * with its own routing (freed with that request) own_now is set instead, so that the
     * next job always sets its routing again. */
    const ak_router_config *routing_now;
    int own_now;
    ak_job *job;
    /* this request's routing, merged into the metrics when it ends */
    uint64_t *k_hist; /* [n_layer][n_expert + 1] */
    uint64_t *h_hist; /* [n_layer][AK_METRICS_H_BUCKETS + 1] */
    double *h_sum;    /* [n_layer] */
    char *piece;      /* token text buffer */
    int piece_cap;
} ak_worker;

struct ak_workers {
    ak_queue *queue;
    ak_worker *w;
    int n, n_started;   /* workers allocated, threads running */
    atomic_int hard_stop; /* shutdown grace over: running requests end now */
};

/* Routing decisions and their K sum over all layers since the context's last stats reset. */
typedef struct {
    uint64_t routed, k_sum;
} route_totals;

/* ---------------------------------------------------------------- one job */

static void route_hook(void *user, int layer, int pos, float entropy, int k, const int32_t *ids, const float *w) {
    (void)ids;
    (void)w;
    ak_worker *wk = user;
    ak_server *s = wk->srv;
    const int E = s->hp->n_expert;
    if (k < 0 || k > E || layer < 0 || layer >= s->hp->n_layer) return;
    wk->h_hist[(size_t)layer * (AK_METRICS_H_BUCKETS + 1) + (size_t)ak_metrics_entropy_bucket(s->metrics, entropy)]++;
    wk->h_sum[layer] += entropy;
    ak_job *j = wk->job;
    if (j && j->trace_h && pos >= 0 && pos < j->cap_tokens) {
        size_t cell = (size_t)pos * (size_t)s->hp->n_layer + (size_t)layer;
        j->trace_h[cell] = entropy;
        j->trace_k[cell] = (int16_t)k;
    }
}

static double token_logprob(const float *logits, int n_vocab, int32_t id) {
    float mx = -INFINITY;
    for (int i = 0; i < n_vocab; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int i = 0; i < n_vocab; i++) sum += exp((double)(logits[i] - mx));
    return (double)(logits[id] - mx) - log(sum);
}

static route_totals routing_totals(const ak_context *ctx, int n_layer) {
    route_totals t = {0, 0};
    for (int l = 0; l < n_layer; l++) {
        const ak_layer_stats *st = ak_context_layer_stats(ctx, l);
        t.routed += st->n_tokens;
        t.k_sum += st->k_sum;
    }
    return t;
}

/* Why the job must stop now (and its HTTP status): NULL to go on. */
static const char *interrupted(ak_worker *w, ak_job *j, int *status) {
    if (atomic_load(&w->pool->hard_stop)) {
        *status = 503;
        return "the server is shutting down";
    }
    if (ak_now() > j->deadline) {
        *status = 504;
        return "the request timed out";
    }
    pthread_mutex_lock(&j->mu);
    int c = j->cancelled;
    pthread_mutex_unlock(&j->mu);
    if (c) {
        *status = 499;
        return "the client went away";
    }
    return NULL;
}

/* Decodes n tokens unless the job must stop first: 0, or -1 with the job failed. */
static int decode(ak_worker *w, ak_job *j, const int32_t *tokens, int n) {
    char msg[256];
    ak_error err = {0};
    int status = 500;
    const char *why = interrupted(w, j, &status);
    if (!why && ak_decode(w->ctx, tokens, n, &err)) why = err.msg, status = 500;
    if (!why) return 0;
    if (status == 504)
        snprintf(msg, sizeof msg, "the request timed out after %.3g s (%d tokens generated)", w->srv->opt.timeout_s,
                 j->n_gen),
            why = msg;
    ak_job_fail(j, status, status == 504 ? "timeout_error" : "server_error",
                status == 504 ? "timeout" : status == 503 ? "shutting_down" : status == 499 ? "cancelled" : "internal",
                why);
    return -1;
}

/* Points the context at the job's routing (unless it routes with it already). */
static int set_routing(ak_worker *w, ak_job *j, ak_error *err) {
    if (!w->own_now && !j->has_own_routing && w->routing_now == j->routing) return 0;
    if (ak_context_set_routing(w->ctx, j->routing, err)) return -1;
    w->routing_now = j->has_own_routing ? NULL : j->routing;
    w->own_now = j->has_own_routing;
    return 0;
}

/* A fresh context and routing counts for the job. */
static void begin_counting(ak_worker *w, ak_job *j) {
    const int L = w->srv->hp->n_layer, E = w->srv->hp->n_expert;
    ak_context_reset(w->ctx);
    ak_context_reset_stats(w->ctx);
    memset(w->k_hist, 0, (size_t)L * (size_t)(E + 1) * sizeof *w->k_hist);
    memset(w->h_hist, 0, (size_t)L * (AK_METRICS_H_BUCKETS + 1) * sizeof *w->h_hist);
    memset(w->h_sum, 0, (size_t)L * sizeof *w->h_sum);
    w->job = j;
}

/* The prompt, then tokens until an end-of-generation token, a stop string or max_tokens.
 * Returns the finish reason, or NULL with the job failed; *prompt: the routing totals once
 * the prompt is in (*prompt_done). */
static const char *generate(ak_worker *w, ak_job *j, ak_sampler *smp, route_totals *prompt, int *prompt_done) {
    ak_server *s = w->srv;
    for (int b0 = 0; b0 < j->n_prompt; b0 += s->n_batch) {
        int nb = j->n_prompt - b0 < s->n_batch ? j->n_prompt - b0 : s->n_batch;
        if (decode(w, j, j->tokens + b0, nb)) return NULL;
    }
    *prompt = routing_totals(w->ctx, s->hp->n_layer);
    *prompt_done = 1;
    while (j->n_gen < j->max_tokens) {
        const float *logits = ak_get_logits(w->ctx, -1);
        int32_t id = ak_sampler_sample(smp, logits);
        if (ak_tokenizer_is_eog(s->tok, id)) return "stop";
        double lp = token_logprob(logits, s->hp->n_vocab, id);
        int n = id == ak_tokenizer_bos(s->tok) ? 0 : ak_token_to_piece(s->tok, id, w->piece, w->piece_cap);
        if (ak_job_append(s, j, id, w->piece, n < 0 ? 0 : (size_t)n, lp)) return "stop";
        if (j->n_gen == j->max_tokens) break;
        if (decode(w, j, &id, 1)) return NULL;
    }
    return "length";
}

/* What the job's routing cost, from the context's counters. */
static ak_job_counts job_counts(ak_worker *w, const route_totals *prompt, int prompt_done) {
    ak_compute_counters cc;
    ak_context_counters(w->ctx, &cc);
    route_totals all = routing_totals(w->ctx, w->srv->hp->n_layer);
    ak_job_counts c = {all.routed, all.k_sum, 0, 0, cc.expert_macs, cc.expert_macs_native};
    if (prompt_done) {
        c.gen_routed = all.routed - prompt->routed;
        c.gen_k_sum = all.k_sum - prompt->k_sum;
    }
    return c;
}

/* This job's K histogram per layer, from the context's routing ledger (reset when the
 * job began). */
static void ledger_k_hist(ak_worker *w) {
    const int L = w->srv->hp->n_layer, E = w->srv->hp->n_expert;
    for (int l = 0; l < L; l++) {
        const ak_layer_stats *st = ak_context_layer_stats(w->ctx, l);
        for (int k = 0; k <= E; k++) w->k_hist[(size_t)l * (size_t)(E + 1) + (size_t)k] = st->k_hist[k];
    }
}

static void run_job(ak_worker *w, ak_job *j) {
    ak_server *s = w->srv;
    if (ak_job_begin(s, j, atomic_load(&w->pool->hard_stop))) return; /* cancelled, timed out or stopping */
    ak_error err = {0};
    if (set_routing(w, j, &err)) {
        ak_job_fail(j, 500, "server_error", "routing", err.msg);
        ak_job_finish(s, j, NULL, NULL);
        return;
    }
    begin_counting(w, j);
    route_totals prompt = {0, 0};
    int prompt_done = 0;
    const char *finish = NULL;
    ak_sampler *smp = ak_sampler_new(s->hp->n_vocab, &j->sp);
    if (!smp) ak_job_fail(j, 400, "invalid_request_error", "invalid_value", "bad sampling parameters");
    else finish = generate(w, j, smp, &prompt, &prompt_done);
    ak_job_counts counts = job_counts(w, &prompt, prompt_done);
    ak_job_finish(s, j, finish, &counts);
    ledger_k_hist(w);
    ak_metrics_add_routing(s->metrics, w->k_hist, w->h_hist, w->h_sum);
    w->job = NULL;
    if (j->print_trace && j->trace_h && j->status == 200) ak_trace_print(s, j, stderr);
    ak_sampler_free(smp);
}

static void *worker_main(void *arg) {
    ak_worker *w = arg;
    ak_job *j;
    while ((j = ak_queue_pop(w->pool->queue))) {
        run_job(w, j);
        ak_job_release(j);
        ak_queue_done(w->pool->queue);
    }
    return NULL;
}

/* ---------------------------------------------------------------- the pool */

static int worker_init(ak_server *s, ak_worker *w, ak_error *err) {
    const int L = s->hp->n_layer, E = s->hp->n_expert;
    w->srv = s;
    w->pool = s->workers;
    ak_context_params cp = ak_context_default_params();
    cp.n_ctx = s->n_ctx;
    cp.n_batch = s->n_batch;
    cp.n_threads = s->opt.n_threads;
    cp.type_k = s->opt.type_k, cp.type_v = s->opt.type_v;
    cp.routing = s->variants[0].native ? NULL : &s->variants[0].cfg;
    w->routing_now = cp.routing;
    w->ctx = ak_context_new(s->model, &cp, err);
    w->k_hist = calloc((size_t)L * (size_t)(E + 1), sizeof *w->k_hist);
    w->h_hist = calloc((size_t)L * (AK_METRICS_H_BUCKETS + 1), sizeof *w->h_hist);
    w->h_sum = calloc((size_t)L, sizeof *w->h_sum);
    w->piece_cap = 1 << 16;
    w->piece = malloc((size_t)w->piece_cap);
    if (!w->ctx || !w->k_hist || !w->h_hist || !w->h_sum || !w->piece) {
        if (w->ctx) ak_failf(err, AK_ERR_NOMEM, "out of memory");
        return -1;
    }
    ak_context_set_trace(w->ctx, route_hook, w);
    return 0;
}

int ak_workers_start(ak_server *s, ak_error *err) {
    ak_workers *p = s->workers = calloc(1, sizeof *s->workers);
    if (p) p->queue = ak_queue_new(s->opt.queue_size + s->n_workers);
    if (p) p->w = calloc((size_t)s->n_workers, sizeof *p->w);
    if (!p || !p->queue || !p->w) return ak_failf(err, AK_ERR_NOMEM, "out of memory");
    for (p->n = 0; p->n < s->n_workers;)
        if (worker_init(s, &p->w[p->n++], err)) return -1;
    for (int i = 0; i < p->n; i++) {
        if (pthread_create(&p->w[i].thread, NULL, worker_main, &p->w[i]))
            return ak_failf(err, AK_ERR_INVALID_ARG, "cannot start worker threads");
        p->n_started++;
    }
    return 0;
}

int ak_workers_submit(ak_server *s, ak_job *j) {
    if (atomic_load(&s->shutting_down)) return 503;
    return ak_queue_push(s->workers->queue, j);
}

int ak_workers_depth(ak_server *s, int *running) { return ak_queue_depth(s->workers->queue, running); }

void ak_workers_drain_and_stop(ak_server *s, double grace_s) {
    ak_workers *p = s->workers;
    if (!p || !p->queue) return;
    ak_queue_close(p->queue);
    ak_queue_wait_idle(p->queue, grace_s);
    atomic_store(&p->hard_stop, 1);
    for (int i = 0; i < p->n_started; i++) pthread_join(p->w[i].thread, NULL);
}

void ak_workers_free(ak_server *s) {
    ak_workers *p = s->workers;
    if (!p) return;
    for (int i = 0; i < p->n && p->w; i++) {
        ak_worker *w = &p->w[i];
        ak_context_free(w->ctx);
        free(w->k_hist);
        free(w->h_hist);
        free(w->h_sum);
        free(w->piece);
    }
    free(p->w);
    ak_queue_free(p->queue);
    free(p);
    s->workers = NULL;
}
