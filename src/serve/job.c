/* job.c - a job's life: references, the worker's changes (begin, append, fail, finish) with
 * the stream events they produce, and the connection's cancel and event reads. */
#include "serve/job.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "serve/response.h"
#include "serve/textutil.h"

ak_job *ak_job_new(void) {
    ak_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 1;
    j->status = 200;
    return j;
}

void ak_job_retain(ak_job *j) {
    pthread_mutex_lock(&j->mu);
    j->refs++;
    pthread_mutex_unlock(&j->mu);
}

void ak_job_release(ak_job *j) {
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left) return;
    if (j->has_own_routing) ak_config_free(&j->own_routing);
    free(j->tokens);
    free(j->trace_h);
    free(j->trace_k);
    ak_sbuf_free(&j->text);
    ak_sbuf_free(&j->sse);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

/* ---------------------------------------------------------------- the worker's side */

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
 * incomplete UTF-8 character (everything when final). With j->mu held. */
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

/* Done, with the stream's last events when it had begun. With j->mu held. */
static void finish_locked(ak_server *s, ak_job *j) {
    if (j->stream && j->state == AK_JOB_RUNNING) {
        stream_pending(s, j, 1);
        ak_sse_end(s, j);
    }
    j->state = AK_JOB_DONE;
    j->t_done = ak_now();
    pthread_cond_broadcast(&j->cv);
}

int ak_job_begin(ak_server *s, ak_job *j, int hard_stop) {
    pthread_mutex_lock(&j->mu);
    int ok = !j->cancelled && !hard_stop && ak_now() <= j->deadline;
    if (j->cancelled) fail_locked(j, 499, "timeout_error", "cancelled", "the request was cancelled");
    else if (hard_stop) fail_locked(j, 503, "server_error", "shutting_down", "the server is shutting down");
    else if (!ok) fail_locked(j, 504, "timeout_error", "timeout", "the request timed out while waiting in the queue");
    if (ok) {
        j->state = AK_JOB_RUNNING;
        j->t_start = ak_now();
        if (j->stream && j->kind == AK_REQ_CHAT) ak_sse_chunk(s, j, "", 0, 1, 0); /* the role */
        pthread_cond_broadcast(&j->cv);
    } else {
        finish_locked(s, j);
    }
    pthread_mutex_unlock(&j->mu);
    return ok ? 0 : -1;
}

int ak_job_append(ak_server *s, ak_job *j, int32_t id, const char *piece, size_t n, double logprob) {
    pthread_mutex_lock(&j->mu);
    size_t before = j->text.len;
    ak_sbuf_append(&j->text, piece, n);
    j->tokens[j->n_prompt + j->n_gen] = id;
    j->n_gen++;
    j->sum_logprob += logprob;
    if (j->t_first == 0) j->t_first = ak_now();
    long at = j->n_stop ? find_stop(j, before) : -1;
    if (at >= 0) {
        j->text.len = (size_t)at;
        j->text.s[at] = 0;
    } else if (j->stream) {
        stream_pending(s, j, 0);
        pthread_cond_broadcast(&j->cv);
    }
    pthread_mutex_unlock(&j->mu);
    return at >= 0;
}

void ak_job_fail(ak_job *j, int status, const char *type, const char *code, const char *msg) {
    pthread_mutex_lock(&j->mu);
    fail_locked(j, status, type, code, msg);
    pthread_mutex_unlock(&j->mu);
}

void ak_job_finish(ak_server *s, ak_job *j, const char *finish_reason, const ak_job_counts *counts) {
    pthread_mutex_lock(&j->mu);
    if (finish_reason && j->status == 200) j->finish_reason = finish_reason;
    if (counts) j->counts = *counts;
    finish_locked(s, j);
    pthread_mutex_unlock(&j->mu);
}

/* ---------------------------------------------------------------- the connection's side */

int ak_job_cancel(ak_job *j) {
    pthread_mutex_lock(&j->mu);
    int done = j->state == AK_JOB_DONE;
    if (!done) j->cancelled = 1;
    pthread_mutex_unlock(&j->mu);
    return done;
}

ssize_t ak_job_read_events(ak_job *j, char *buf, size_t max) {
    pthread_mutex_lock(&j->mu);
    while (j->sse_read == j->sse.len && j->state != AK_JOB_DONE) pthread_cond_wait(&j->cv, &j->mu);
    if (j->sse_read == j->sse.len) {
        pthread_mutex_unlock(&j->mu);
        return -1;
    }
    size_t n = j->sse.len - j->sse_read;
    if (n > max) n = max;
    memcpy(buf, j->sse.s + j->sse_read, n);
    j->sse_read += n;
    if (j->sse_read == j->sse.len) { /* all read: reuse the buffer */
        j->sse_read = 0;
        ak_sbuf_clear(&j->sse);
    }
    pthread_mutex_unlock(&j->mu);
    return (ssize_t)n;
}
