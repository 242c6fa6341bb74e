/* worker.c - the bounded queue and the workers: each owns an ak_context and runs one job at
 * a time (prompt, then token by token), streaming events into the job as text becomes
 * sendable. Nothing allocates per token: the text and event buffers grow geometrically and
 * the trace and token arrays are sized when the request is parsed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/server_internal.h"
#include "serve/textutil.h"

/* ---------------------------------------------------------------- queue */

int ak_queue_push(ak_server *s, ak_job *j) {
    pthread_mutex_lock(&s->qmu);
    int rc = 0;
    if (s->closing || atomic_load(&s->shutting_down)) rc = 503;
    else if (s->q_len + s->busy >= s->q_cap) rc = 429;
    else {
        s->queue[(s->q_head + s->q_len) % s->q_cap] = j;
        s->q_len++;
        pthread_mutex_lock(&j->mu);
        j->refs++;
        pthread_mutex_unlock(&j->mu);
        pthread_cond_broadcast(&s->qcv);
    }
    pthread_mutex_unlock(&s->qmu);
    return rc;
}

int ak_queue_depth(ak_server *s, int *busy) {
    pthread_mutex_lock(&s->qmu);
    int n = s->q_len;
    if (busy) *busy = s->busy;
    pthread_mutex_unlock(&s->qmu);
    return n;
}

static ak_job *queue_pop(ak_server *s) {
    pthread_mutex_lock(&s->qmu);
    while (!s->q_len && !s->closing) pthread_cond_wait(&s->qcv, &s->qmu);
    ak_job *j = NULL;
    if (s->q_len) {
        j = s->queue[s->q_head];
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_len--;
        s->busy++;
    }
    pthread_mutex_unlock(&s->qmu);
    return j;
}

/* ---------------------------------------------------------------- one job */

static void route_hook(void *user, int layer, int pos, float entropy, int k, const int32_t *ids, const float *w) {
    (void)ids;
    (void)w;
    ak_worker *wk = user;
    ak_server *s = wk->srv;
    const int E = s->hp->n_expert;
    if (k < 0 || k > E || layer < 0 || layer >= s->hp->n_layer) return;
    wk->k_hist[(size_t)layer * (size_t)(E + 1) + (size_t)k]++;
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

/* Ends the job with an error status (before or during generation). Called with j->mu held. */
static void fail_locked(ak_job *j, int status, const char *type, const char *code, const char *msg) {
    j->status = status;
    j->err_type = type;
    j->err_code = code;
    snprintf(j->errmsg, sizeof j->errmsg, "%.250s", msg);
}

/* Position in text of the first stop string found at or after `from`, or -1. */
static long find_stop(const ak_job *j, size_t from) {
    long best = -1;
    for (int i = 0; i < j->n_stop; i++) {
        size_t sl = strlen(j->stop[i]);
        if (j->text.len < sl) continue;
        size_t start = from >= sl - 1 ? from - (sl - 1) : 0;
        const char *hit = memmem(j->text.s + start, j->text.len - start, j->stop[i], sl);
        if (hit && (best < 0 || hit - j->text.s < best)) best = hit - j->text.s;
    }
    return best;
}

static size_t max_stop_len(const ak_job *j) {
    size_t m = 0;
    for (int i = 0; i < j->n_stop; i++)
        if (strlen(j->stop[i]) > m) m = strlen(j->stop[i]);
    return m;
}

/* Streams what may be sent now: all but a possible stop-string prefix at the end and an
 * incomplete UTF-8 character. With j->mu held. */
static void stream_pending(ak_server *s, ak_job *j, int final) {
    size_t end = j->text.len, hold = max_stop_len(j);
    if (!final) {
        end = end >= hold ? end - (hold ? hold - 1 : 0) : 0;
        end = ak_utf8_stream_prefix(j->text.s ? j->text.s : "", end);
    }
    if (end > j->text_sent) {
        ak_sse_chunk(s, j, j->text.s + j->text_sent, end - j->text_sent, 0, 0);
        j->text_sent = end;
    }
}

static void finish_stream(ak_server *s, ak_job *j) {
    stream_pending(s, j, 1);
    if (j->status == 200) {
        ak_sse_chunk(s, j, "", 0, 0, 1);
        if (j->include_usage) {
            ak_sbuf_puts(&j->sse, "data: {\"id\":");
            ak_sbuf_json_string(&j->sse, j->id, strlen(j->id));
            ak_sbuf_printf(&j->sse, ",\"object\":\"%s\",\"created\":%ld,\"model\":",
                           j->kind == AK_REQ_CHAT ? "chat.completion.chunk" : "text_completion", s->created);
            ak_sbuf_json_string(&j->sse, s->model_name, strlen(s->model_name));
            ak_sbuf_puts(&j->sse, ",\"choices\":[],\"usage\":");
            ak_usage_json(s, j, &j->sse);
            ak_sbuf_puts(&j->sse, "}\n\n");
        }
    } else {
        ak_sbuf_puts(&j->sse, "data: ");
        ak_error_json(&j->sse, j->errmsg, j->err_type ? j->err_type : "server_error", j->err_code, NULL);
        ak_sbuf_puts(&j->sse, "\n\n");
    }
    ak_sbuf_puts(&j->sse, "data: [DONE]\n\n");
}

/* Why the job must stop now: NULL to go on. */
static const char *interrupted(ak_server *s, ak_job *j, int *status) {
    if (atomic_load(&s->hard_stop)) {
        *status = 503;
        return "the server is shutting down";
    }
    if (ak_now() > j->deadline) {
        *status = 504;
        return "the request timed out";
    }
    int c;
    pthread_mutex_lock(&j->mu);
    c = j->cancelled;
    pthread_mutex_unlock(&j->mu);
    if (c) {
        *status = 499;
        return "the client went away";
    }
    return NULL;
}

/* Routing decisions and their K sum over all layers since the context's last stats reset. */
static void routing_totals(const ak_context *ctx, int n_layer, uint64_t *routed, uint64_t *k_sum) {
    *routed = *k_sum = 0;
    for (int l = 0; l < n_layer; l++) {
        const ak_layer_stats *st = ak_context_layer_stats(ctx, l);
        *routed += st->n_tokens;
        *k_sum += st->k_sum;
    }
}

static void run_job(ak_worker *w, ak_job *j) {
    ak_server *s = w->srv;
    const int L = s->hp->n_layer, E = s->hp->n_expert;
    char err[512];
    int status = 200;
    const char *why;
    ak_sampler *smp = NULL;
    uint64_t prompt_routed = 0, prompt_k_sum = 0; /* routing totals once the prompt is in */
    int prompt_done = 0;

    pthread_mutex_lock(&j->mu);
    if (j->cancelled || ak_now() > j->deadline || atomic_load(&s->hard_stop)) {
        if (j->cancelled) fail_locked(j, 499, "timeout_error", "cancelled", "the request was cancelled");
        else if (atomic_load(&s->hard_stop))
            fail_locked(j, 503, "server_error", "shutting_down", "the server is shutting down");
        else fail_locked(j, 504, "timeout_error", "timeout", "the request timed out while waiting in the queue");
        goto done_locked;
    }
    j->state = AK_JOB_RUNNING;
    j->t_start = ak_now();
    if (j->stream && j->kind == AK_REQ_CHAT) ak_sse_chunk(s, j, "", 0, 1, 0); /* the role */
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);

    if (w->routing_now != j->routing || j->has_own_routing) {
        if (ak_context_set_routing(w->ctx, j->routing, err, sizeof err)) {
            pthread_mutex_lock(&j->mu);
            fail_locked(j, 500, "server_error", "routing", err);
            goto done_locked;
        }
        w->routing_now = j->has_own_routing ? (const ak_router_config *)&w->routing_now : j->routing;
    }
    ak_context_reset(w->ctx);
    ak_context_reset_stats(w->ctx);
    memset(w->k_hist, 0, (size_t)L * (size_t)(E + 1) * sizeof *w->k_hist);
    memset(w->h_hist, 0, (size_t)L * (AK_METRICS_H_BUCKETS + 1) * sizeof *w->h_hist);
    memset(w->h_sum, 0, (size_t)L * sizeof *w->h_sum);
    w->job = j;
    smp = ak_sampler_new(s->hp->n_vocab, &j->sp);
    if (!smp) {
        pthread_mutex_lock(&j->mu);
        fail_locked(j, 400, "invalid_request_error", "invalid_value", "bad sampling parameters");
        goto done_locked;
    }
    for (int b0 = 0; b0 < j->n_prompt; b0 += s->n_batch) {
        int nb = j->n_prompt - b0 < s->n_batch ? j->n_prompt - b0 : s->n_batch;
        if ((why = interrupted(s, j, &status))) goto interrupted;
        if (ak_decode(w->ctx, j->tokens + b0, nb, err, sizeof err)) {
            status = 500;
            why = err;
            goto interrupted;
        }
    }
    routing_totals(w->ctx, L, &prompt_routed, &prompt_k_sum);
    prompt_done = 1;
    const char *finish = "length";
    while (j->n_gen < j->max_tokens) {
        const float *logits = ak_get_logits(w->ctx, -1);
        int32_t id = ak_sampler_sample(smp, logits);
        if (ak_tokenizer_is_eog(s->tok, id)) {
            finish = "stop";
            break;
        }
        double lp = token_logprob(logits, s->hp->n_vocab, id);
        int n = id == ak_tokenizer_bos(s->tok) ? 0 : ak_token_to_piece(s->tok, id, w->piece, w->piece_cap);
        if (n < 0) n = 0;
        pthread_mutex_lock(&j->mu);
        size_t before = j->text.len;
        ak_sbuf_append(&j->text, w->piece, (size_t)n);
        j->tokens[j->n_prompt + j->n_gen] = id;
        j->n_gen++;
        j->sum_logprob += lp;
        if (j->t_first == 0) j->t_first = ak_now();
        long at = j->n_stop ? find_stop(j, before) : -1;
        if (at >= 0) {
            j->text.len = (size_t)at;
            j->text.s[at] = 0;
            finish = "stop";
        } else if (j->stream) {
            stream_pending(s, j, 0);
            pthread_cond_broadcast(&j->cv);
        }
        pthread_mutex_unlock(&j->mu);
        if (at >= 0 || j->n_gen == j->max_tokens) break;
        if ((why = interrupted(s, j, &status))) goto interrupted;
        if (ak_decode(w->ctx, &id, 1, err, sizeof err)) {
            status = 500;
            why = err;
            goto interrupted;
        }
    }
    pthread_mutex_lock(&j->mu);
    j->finish_reason = finish;
    goto done_locked;

interrupted:
    pthread_mutex_lock(&j->mu);
    fail_locked(j, status, status == 500 ? "server_error" : status == 504 ? "timeout_error" : "server_error",
                status == 504 ? "timeout" : status == 503 ? "shutting_down" : status == 499 ? "cancelled" : "internal",
                why);
    if (status == 504)
        snprintf(j->errmsg, sizeof j->errmsg, "the request timed out after %.3g s (%d tokens generated)",
                 s->opt.timeout_s, j->n_gen);
done_locked : {
    j->routed = j->k_sum = 0;
    if (w->job == j) {
        ak_compute_counters cc;
        ak_context_counters(w->ctx, &cc);
        j->expert_macs = cc.expert_macs;
        j->expert_macs_native = cc.expert_macs_native;
        routing_totals(w->ctx, L, &j->routed, &j->k_sum);
        if (prompt_done) {
            j->gen_routed = j->routed - prompt_routed;
            j->gen_k_sum = j->k_sum - prompt_k_sum;
        }
    }
    if (j->stream && j->state == AK_JOB_RUNNING) finish_stream(s, j);
    j->state = AK_JOB_DONE;
    j->t_done = ak_now();
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}
    if (w->job) ak_metrics_add_routing(s->metrics, w->k_hist, w->h_hist, w->h_sum);
    w->job = NULL;
    if (j->print_trace && j->trace_h && j->status == 200) ak_trace_print(s, j, stderr);
    ak_sampler_free(smp);
}

static void *worker_main(void *arg) {
    ak_worker *w = arg;
    ak_server *s = w->srv;
    ak_job *j;
    while ((j = queue_pop(s))) {
        run_job(w, j);
        ak_job_release(j);
        pthread_mutex_lock(&s->qmu);
        s->busy--;
        pthread_cond_broadcast(&s->qcv);
        pthread_mutex_unlock(&s->qmu);
    }
    return NULL;
}

int ak_workers_start(ak_server *s, char *err, size_t errlen) {
    const int L = s->hp->n_layer, E = s->hp->n_expert;
    s->workers = calloc((size_t)s->n_workers, sizeof *s->workers);
    if (!s->workers) return snprintf(err, errlen, "out of memory"), -1;
    for (int i = 0; i < s->n_workers; i++) {
        ak_worker *w = &s->workers[i];
        w->srv = s;
        w->index = i;
        ak_context_params cp = ak_context_default_params();
        cp.n_ctx = s->n_ctx;
        cp.n_batch = s->n_batch;
        cp.n_threads = s->opt.n_threads;
        cp.routing = s->variants[0].native ? NULL : &s->variants[0].cfg;
        w->routing_now = cp.routing;
        w->ctx = ak_context_new(s->model, &cp, err, errlen);
        w->k_hist = calloc((size_t)L * (size_t)(E + 1), sizeof *w->k_hist);
        w->h_hist = calloc((size_t)L * (AK_METRICS_H_BUCKETS + 1), sizeof *w->h_hist);
        w->h_sum = calloc((size_t)L, sizeof *w->h_sum);
        w->piece_cap = 1 << 16;
        w->piece = malloc((size_t)w->piece_cap);
        if (!w->ctx || !w->k_hist || !w->h_hist || !w->h_sum || !w->piece) {
            if (w->ctx) snprintf(err, errlen, "out of memory");
            s->n_workers = i + 1;
            return -1;
        }
        ak_context_set_trace(w->ctx, route_hook, w);
    }
    for (int i = 0; i < s->n_workers; i++)
        if (pthread_create(&s->workers[i].thread, NULL, worker_main, &s->workers[i])) {
            snprintf(err, errlen, "cannot start worker threads");
            return -1;
        } else {
            s->n_started++;
        }
    return 0;
}

/* Lets the queue empty and running jobs finish for at most grace_s, then ends what is left. */
void ak_workers_drain_and_stop(ak_server *s, double grace_s) {
    double until = ak_now() + grace_s;
    pthread_mutex_lock(&s->qmu);
    s->closing = 1;
    pthread_cond_broadcast(&s->qcv);
    while ((s->q_len || s->busy) && ak_now() < until) {
        struct timespec ts = ak_abstime_in(0.05);
        pthread_cond_timedwait(&s->qcv, &s->qmu, &ts);
    }
    pthread_mutex_unlock(&s->qmu);
    atomic_store(&s->hard_stop, 1);
    for (int i = 0; i < s->n_started; i++) pthread_join(s->workers[i].thread, NULL);
}

void ak_workers_free(ak_server *s) {
    for (int i = 0; i < s->n_workers && s->workers; i++) {
        ak_worker *w = &s->workers[i];
        ak_context_free(w->ctx);
        free(w->k_hist);
        free(w->h_hist);
        free(w->h_sum);
        free(w->piece);
    }
    free(s->workers);
    s->workers = NULL;
}
