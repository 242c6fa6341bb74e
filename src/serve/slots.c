/* slots.c - continuous batching (slots.h). The scheduler thread loops: admit queued jobs
 * into free slots, drop the ones that must stop, run one step for every running job in one
 * ak_decode_group (decode tokens first, then prompt chunks in the rest of the batch), then
 * sample each job whose prompt is in. Each slot's context keeps its own cache, routing,
 * ledger and trace, so per-request routing, counts and traces hold inside a batch. Nothing
 * allocates per token: the text and event buffers grow geometrically and the trace and
 * token arrays are sized when the request is parsed. */
#include "base/errfmt.h"
#include "serve/slots.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "serve/queue.h"
#include "serve/response.h"
#include "serve/server_state.h"

/* Routing decisions and their K sum over all layers since the context's last stats reset. */
typedef struct {
    uint64_t routed, k_sum;
} route_totals;

typedef struct {
    ak_server *srv;
    ak_context *ctx;
    /* The shared config ctx routes with (a variant's, or NULL: native). After a request
     * with its own routing (freed with that request) own_now is set instead, so that the
     * next job always sets its routing again. */
    const ak_router_config *routing_now;
    int own_now;
    ak_job *job;         /* NULL: free */
    ak_sampler *sampler;
    int n_fed;           /* prompt tokens decoded so far */
    int32_t next;        /* the sampled token to decode next, once the prompt is in */
    route_totals prompt; /* routing totals once the prompt is in */
    /* this request's routing, merged into the metrics when it ends */
    uint64_t *k_hist; /* [n_layer][n_expert + 1] */
    uint64_t *h_hist; /* [n_layer][AK_METRICS_H_BUCKETS + 1] */
    double *h_sum;    /* [n_layer] */
    char *piece;      /* token text buffer */
    int piece_cap;
} ak_slot;

struct ak_slots {
    ak_server *srv;
    ak_queue *queue;
    ak_slot *slot;
    int n;
    ak_context *exec;      /* runs the batch: its buffers and thread pool */
    float *probs;          /* [n_vocab]: the softmax behind each sampled token's logprob */
    pthread_t thread;
    int started;
    atomic_int hard_stop;  /* shutdown grace over: running requests end now */
    ak_compute_counters seen; /* exec's counters after the last step */
    /* one step's group, [n] each */
    ak_context **seq;
    const int32_t **toks;
    int *n_tok, *who;
};

/* ---------------------------------------------------------------- one job */

static void route_hook(void *user, int layer, int pos, float entropy, int k, const int32_t *ids, const float *w) {
    (void)ids;
    (void)w;
    ak_slot *sl = user;
    ak_server *s = sl->srv;
    const int E = s->hp->n_expert;
    if (k < 0 || k > E || layer < 0 || layer >= s->hp->n_layer) return;
    sl->h_hist[(size_t)layer * (AK_METRICS_H_BUCKETS + 1) + (size_t)ak_metrics_entropy_bucket(s->metrics, entropy)]++;
    sl->h_sum[layer] += entropy;
    ak_job *j = sl->job;
    if (j && j->trace_h && pos >= 0 && pos < j->cap_tokens) {
        size_t cell = (size_t)pos * (size_t)s->hp->n_layer + (size_t)layer;
        j->trace_h[cell] = entropy;
        j->trace_k[cell] = (int16_t)k;
    }
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

/* Fails the job if it must stop now (shutting down, timed out, client gone): 1, else 0. */
static int interrupted(ak_slots *p, ak_slot *sl) {
    ak_job *j = sl->job;
    char msg[256];
    if (atomic_load(&p->hard_stop)) {
        ak_job_fail(j, 503, "server_error", "shutting_down", "the server is shutting down");
        return 1;
    }
    if (ak_now() > j->deadline) {
        snprintf(msg, sizeof msg, "the request timed out after %.3g s (%d tokens generated)", sl->srv->opt.timeout_s,
                 j->n_gen);
        ak_job_fail(j, 504, "timeout_error", "timeout", msg);
        return 1;
    }
    pthread_mutex_lock(&j->mu);
    int c = j->cancelled;
    pthread_mutex_unlock(&j->mu);
    if (c) ak_job_fail(j, 499, "server_error", "cancelled", "the client went away");
    return c;
}

/* Points the context at the job's routing (unless it routes with it already). */
static int set_routing(ak_slot *sl, ak_job *j, ak_error *err) {
    if (!sl->own_now && !j->has_own_routing && sl->routing_now == j->routing) return 0;
    if (ak_context_set_routing(sl->ctx, j->routing, err)) return -1;
    sl->routing_now = j->has_own_routing ? NULL : j->routing;
    sl->own_now = j->has_own_routing;
    return 0;
}

/* What the job's routing cost, from its context's counters. */
static ak_job_counts job_counts(ak_slot *sl) {
    ak_compute_counters cc;
    ak_context_counters(sl->ctx, &cc);
    route_totals all = routing_totals(sl->ctx, sl->srv->hp->n_layer);
    ak_job_counts c = {all.routed,        all.k_sum,          0,
                       0,                 cc.expert_macs,     cc.expert_macs_native,
                       cc.tokens,         cc.layers_run,      cc.layers_native,
                       cc.exit_tokens,    cc.exit_checks,     cc.pruned_tokens,
                       cc.model_macs,     cc.model_macs_native, cc.macs_saved_prune,
                       cc.macs_saved_exit};
    if (sl->n_fed == sl->job->n_prompt) {
        c.gen_routed = all.routed - sl->prompt.routed;
        c.gen_k_sum = all.k_sum - sl->prompt.k_sum;
    }
    return c;
}

/* Ends the slot's job (finish: its reason, or NULL when it failed) and frees the slot. */
static void finish(ak_slots *p, ak_slot *sl, const char *finish_reason) {
    ak_server *s = sl->srv;
    ak_job *j = sl->job;
    const int L = s->hp->n_layer, E = s->hp->n_expert;
    ak_job_counts counts = job_counts(sl);
    ak_job_finish(s, j, finish_reason, &counts);
    for (int l = 0; l < L; l++) { /* this job's K histogram, from the ledger reset when it began */
        const ak_layer_stats *st = ak_context_layer_stats(sl->ctx, l);
        for (int k = 0; k <= E; k++) sl->k_hist[(size_t)l * (size_t)(E + 1) + (size_t)k] = st->k_hist[k];
    }
    ak_metrics_add_routing(s->metrics, sl->k_hist, sl->h_hist, sl->h_sum);
    if (j->print_trace && j->trace_h && j->status == 200) ak_trace_print(s, j, stderr);
    ak_sampler_free(sl->sampler);
    sl->sampler = NULL;
    sl->job = NULL;
    ak_job_release(j);
    ak_queue_done(p->queue);
}

/* Takes a job into a free slot: a fresh context, its routing, zeroed counts. 0, or -1 when
 * the job ended at once (cancelled or timed out in the queue, stopping, bad parameters). */
static int admit(ak_slots *p, ak_slot *sl, ak_job *j) {
    ak_server *s = sl->srv;
    const int L = s->hp->n_layer, E = s->hp->n_expert;
    sl->job = j;
    if (ak_job_begin(s, j, atomic_load(&p->hard_stop))) { /* failed and done already */
        sl->job = NULL;
        ak_job_release(j);
        ak_queue_done(p->queue);
        return -1;
    }
    ak_error err = {0};
    ak_context_reset(sl->ctx);
    ak_context_reset_stats(sl->ctx);
    memset(sl->k_hist, 0, (size_t)L * (size_t)(E + 1) * sizeof *sl->k_hist);
    memset(sl->h_hist, 0, (size_t)L * (AK_METRICS_H_BUCKETS + 1) * sizeof *sl->h_hist);
    memset(sl->h_sum, 0, (size_t)L * sizeof *sl->h_sum);
    sl->n_fed = 0;
    sl->prompt = (route_totals){0, 0};
    if (set_routing(sl, j, &err) || ak_context_set_skip(sl->ctx, &j->skip, &err)) {
        ak_job_fail(j, 500, "server_error", "routing", err.msg);
    } else if (!(sl->sampler = ak_sampler_new(s->hp->n_vocab, &j->sp))) {
        ak_job_fail(j, 400, "invalid_request_error", "invalid_value", "bad sampling parameters");
    } else {
        return 0;
    }
    finish(p, sl, NULL);
    return -1;
}

/* After a step that completed the prompt or decoded the last sampled token: sample the
 * next one. Returns the finish reason when the job is done, else NULL (sl->next set). */
static const char *sample_next(ak_slot *sl) {
    ak_server *s = sl->srv;
    ak_job *j = sl->job;
    if (j->n_gen >= j->max_tokens) return "length";
    const float *logits = ak_get_logits(sl->ctx, -1);
    int32_t id = ak_sampler_sample(sl->sampler, logits);
    if (ak_tokenizer_is_eog(s->tok, id)) return "stop";
    double lp = ak_log_softmax_at(logits, s->hp->n_vocab, id, s->slots->probs);
    int n = id == ak_tokenizer_bos(s->tok) ? 0 : ak_token_to_piece(s->tok, id, sl->piece, sl->piece_cap);
    if (ak_job_append(s, j, id, sl->piece, n < 0 ? 0 : (size_t)n, lp)) return "stop";
    if (j->n_gen == j->max_tokens) return "length";
    sl->next = id;
    return NULL;
}

/* ---------------------------------------------------------------- the scheduler */

/* The step's group: each running job's generated token first, then prompt chunks in what
 * is left of the batch. Returns the number of sequences. */
static int build_group(ak_slots *p) {
    const int budget = ak_context_n_batch(p->exec);
    int g = 0, used = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < p->n && used < budget; i++) {
            ak_slot *sl = &p->slot[i];
            if (!sl->job || (sl->n_fed < sl->job->n_prompt) != pass) continue;
            int n = 1;
            const int32_t *t = &sl->next;
            if (pass == 1) {
                n = sl->job->n_prompt - sl->n_fed;
                if (n > budget - used) n = budget - used;
                t = sl->job->tokens + sl->n_fed;
            }
            p->seq[g] = sl->ctx, p->toks[g] = t, p->n_tok[g] = n, p->who[g++] = i;
            used += n;
        }
    return g;
}

/* One step: the group decoded, then each of its jobs whose prompt is in samples on. */
static void step(ak_slots *p) {
    const int g = build_group(p);
    if (!g) return;
    ak_error err = {0};
    if (ak_decode_group(p->exec, p->seq, p->toks, p->n_tok, g, &err)) {
        for (int k = 0; k < g; k++) {
            ak_slot *sl = &p->slot[p->who[k]];
            ak_job_fail(sl->job, 500, "server_error", "internal", err.msg);
            finish(p, sl, NULL);
        }
        return;
    }
    ak_compute_counters cc;
    ak_context_counters(p->exec, &cc);
    ak_metrics_add_step(p->srv->metrics, g, (int)(cc.tokens - p->seen.tokens), cc.expert_bytes_read - p->seen.expert_bytes_read,
                        cc.expert_bytes_read_native - p->seen.expert_bytes_read_native);
    p->seen = cc;
    for (int k = 0; k < g; k++) {
        ak_slot *sl = &p->slot[p->who[k]];
        if (sl->n_fed < sl->job->n_prompt) {
            sl->n_fed += p->n_tok[k];
            if (sl->n_fed < sl->job->n_prompt) continue;
            sl->prompt = routing_totals(sl->ctx, sl->srv->hp->n_layer);
        }
        const char *reason = sample_next(sl);
        if (reason) finish(p, sl, reason);
    }
}

static void *scheduler_main(void *arg) {
    ak_slots *p = arg;
    for (;;) {
        int running = 0;
        for (int i = 0; i < p->n; i++) running += p->slot[i].job != NULL;
        /* admit queued jobs into free slots; wait for one only when nothing runs */
        for (int i = 0; i < p->n; i++) {
            if (p->slot[i].job) continue;
            ak_job *j = ak_queue_pop(p->queue, running == 0);
            if (!j) {
                if (!running) return NULL; /* closed and empty */
                break;
            }
            if (admit(p, &p->slot[i], j)) i--; /* it ended at once: the slot is still free */
            else running++;
        }
        for (int i = 0; i < p->n; i++)
            if (p->slot[i].job && interrupted(p, &p->slot[i])) finish(p, &p->slot[i], NULL);
        step(p);
    }
}

/* ---------------------------------------------------------------- start and stop */

/* A slot's context: its own cache of n_ctx tokens, one row of logits, no threads of its
 * own (the executing context's pool runs the batch). */
static int slot_init(ak_server *s, ak_slot *sl, ak_error *err) {
    const int L = s->hp->n_layer, E = s->hp->n_expert;
    sl->srv = s;
    ak_context_params cp = ak_context_default_params();
    cp.n_ctx = s->n_ctx;
    cp.n_batch = 1;
    cp.n_threads = 1;
    cp.logits_last = 1;
    cp.type_k = s->opt.type_k, cp.type_v = s->opt.type_v;
    cp.routing = s->variants[0].native ? NULL : &s->variants[0].cfg;
    sl->routing_now = cp.routing;
    sl->ctx = ak_context_new(s->model, &cp, err);
    sl->k_hist = calloc((size_t)L * (size_t)(E + 1), sizeof *sl->k_hist);
    sl->h_hist = calloc((size_t)L * (AK_METRICS_H_BUCKETS + 1), sizeof *sl->h_hist);
    sl->h_sum = calloc((size_t)L, sizeof *sl->h_sum);
    sl->piece_cap = 1 << 16;
    sl->piece = malloc((size_t)sl->piece_cap);
    if (!sl->ctx || !sl->k_hist || !sl->h_hist || !sl->h_sum || !sl->piece) {
        if (sl->ctx) ak_failf(err, AK_ERR_NOMEM, "out of memory");
        return -1;
    }
    ak_context_set_trace(sl->ctx, route_hook, sl);
    return 0;
}

/* The executing context: n_batch tokens a step on all -t threads. Its own cache is never
 * written (calloc'd pages that are never touched cost no memory). */
static ak_context *exec_new(ak_server *s, ak_error *err) {
    ak_context_params cp = ak_context_default_params();
    cp.n_ctx = s->n_ctx;
    cp.n_batch = s->n_batch;
    cp.n_threads = s->opt.n_threads;
    cp.type_k = s->opt.type_k, cp.type_v = s->opt.type_v;
    cp.logits_last = 1; /* a group computes the head for each sequence's last token only */
    return ak_context_new(s->model, &cp, err);
}

int ak_slots_start(ak_server *s, ak_error *err) {
    ak_slots *p = s->slots = calloc(1, sizeof *s->slots);
    const size_t n = (size_t)s->n_slots;
    if (p) p->queue = ak_queue_new(s->opt.queue_size + s->n_slots);
    if (p) p->slot = calloc(n, sizeof *p->slot);
    if (p) p->seq = calloc(n, sizeof *p->seq), p->toks = calloc(n, sizeof *p->toks);
    if (p) p->n_tok = calloc(n, sizeof *p->n_tok), p->who = calloc(n, sizeof *p->who);
    if (p) p->probs = malloc((size_t)s->hp->n_vocab * sizeof *p->probs);
    if (!p || !p->queue || !p->slot || !p->seq || !p->toks || !p->n_tok || !p->who || !p->probs)
        return ak_failf(err, AK_ERR_NOMEM, "out of memory");
    p->srv = s;
    for (p->n = 0; p->n < s->n_slots;)
        if (slot_init(s, &p->slot[p->n++], err)) return -1;
    if (!(p->exec = exec_new(s, err))) return -1;
    if (pthread_create(&p->thread, NULL, scheduler_main, p))
        return ak_failf(err, AK_ERR_INVALID_ARG, "cannot start the scheduler thread");
    p->started = 1;
    return 0;
}

int ak_slots_submit(ak_server *s, ak_job *j) {
    if (atomic_load(&s->shutting_down)) return 503;
    return ak_queue_push(s->slots->queue, j);
}

int ak_slots_depth(ak_server *s, int *running) { return ak_queue_depth(s->slots->queue, running); }

void ak_slots_drain_and_stop(ak_server *s, double grace_s) {
    ak_slots *p = s->slots;
    if (!p || !p->queue) return;
    ak_queue_close(p->queue);
    ak_queue_wait_idle(p->queue, grace_s);
    atomic_store(&p->hard_stop, 1);
    if (p->started) pthread_join(p->thread, NULL);
    p->started = 0;
}

void ak_slots_free(ak_server *s) {
    ak_slots *p = s->slots;
    if (!p) return;
    for (int i = 0; i < p->n && p->slot; i++) {
        ak_slot *sl = &p->slot[i];
        ak_context_free(sl->ctx);
        free(sl->k_hist);
        free(sl->h_hist);
        free(sl->h_sum);
        free(sl->piece);
    }
    ak_context_free(p->exec);
    free(p->probs);
    free(p->slot);
    free(p->seq);
    free(p->toks);
    free(p->n_tok);
    free(p->who);
    ak_queue_free(p->queue);
    free(p);
    s->slots = NULL;
}
