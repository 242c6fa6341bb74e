/* job.h - a request on its way from its connection thread to a worker and back: its
 * parameters (filled by request.c), its outcome, and the event stream a streaming response
 * reads. The worker changes a job only through ak_job_begin / append / fail / finish, which
 * also write the stream's events, so streaming and the usage block are built in one place
 * (with response.c's formatters). Shared by the connection thread and a worker (refs);
 * fields below `state` are guarded by mu. */
#ifndef AK_SERVE_JOB_H
#define AK_SERVE_JOB_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "adaptivek.h"
#include "model/model.h"
#include "model/sampler.h"
#include "serve/sbuf.h"

#define AK_MAX_STOP 6 /* 4 from the request, 2 implied by the chat template */
#define AK_MAX_STOP_LEN 256

typedef struct ak_server ak_server;

typedef enum { AK_JOB_QUEUED, AK_JOB_RUNNING, AK_JOB_DONE } ak_job_state;
typedef enum { AK_REQ_COMPLETION, AK_REQ_CHAT } ak_req_kind;

/* What the job's routing did, counted by the worker's context. */
typedef struct {
    uint64_t routed, k_sum;         /* token-layer routing decisions and their K sum */
    uint64_t gen_routed, gen_k_sum; /* the same for the generated tokens alone (decode) */
    uint64_t expert_macs, expert_macs_native;
    /* early exit and pruning (ak_compute_counters' fields of the same names) */
    uint64_t tokens, layers_run, layers_native, exit_tokens, exit_checks, pruned_tokens;
    uint64_t model_macs, model_macs_native, macs_saved_prune;
    int64_t macs_saved_exit;
} ak_job_counts;

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;

    ak_req_kind kind;
    int stream, include_usage, want_trace; /* want_trace: the trace goes into the response */
    int print_trace;                        /* --trace: the trace goes to stderr */
    char request_id[72];
    char id[96]; /* "cmpl-..." / "chatcmpl-..." */
    int variant;  /* index into the server's variants (AK_VARIANT_CUSTOM for request routing) */
    const ak_router_config *routing; /* NULL: native top-k; points at own_routing or a variant's */
    ak_skip_params skip;             /* early exit / pruning: the server's, or the request's "skip" */
    ak_router_config own_routing;
    int has_own_routing;
    int32_t *tokens; /* prompt, then the generated ids; cap_tokens = n_prompt + max_tokens */
    int n_prompt, max_tokens, cap_tokens;
    ak_sampler_params sp;
    char stop[AK_MAX_STOP][AK_MAX_STOP_LEN + 1];
    int n_stop;
    double t_arrival, deadline;

    ak_job_state state;
    int cancelled;      /* the client went away or gave up waiting */
    ak_sbuf text;       /* generated text */
    size_t text_sent;   /* bytes of text already streamed */
    ak_sbuf sse;        /* events not yet read by the stream */
    size_t sse_read;
    int n_gen;
    double sum_logprob;
    double t_start, t_first, t_done; /* monotonic seconds: running, first token (0: none), done */
    const char *finish_reason;
    int status;          /* HTTP status of the outcome: 200, or an error */
    char errmsg[256];
    const char *err_type, *err_code;
    ak_job_counts counts;
    float *trace_h;          /* [cap_tokens][n_layer] when want_trace */
    int16_t *trace_k;
} ak_job;

ak_job *ak_job_new(void); /* one reference, status 200, queued */
void ak_job_retain(ak_job *j);
void ak_job_release(ak_job *j);

/* ---- the worker's side */

/* Starts a queued job: 0, or -1 when it was cancelled, timed out in the queue or the server
 * is stopping (hard_stop), in which case the job is failed and done. */
int ak_job_begin(ak_server *s, ak_job *j, int hard_stop);
/* Appends a generated token and its text; streams what may be sent. Returns 1 when a stop
 * string ended the text (cut there), else 0. */
int ak_job_append(ak_server *s, ak_job *j, int32_t id, const char *piece, size_t n, double logprob);
/* Sets the job's error (the outcome; ak_job_finish ends it). */
void ak_job_fail(ak_job *j, int status, const char *type, const char *code, const char *msg);
/* Ends the job: finish_reason (when it did not fail), its counts (when not NULL), the
 * stream's last events, done. */
void ak_job_finish(ak_server *s, ak_job *j, const char *finish_reason, const ak_job_counts *counts);

/* ---- the connection's side */

/* Marks a job that is not done as cancelled (the worker stops it); returns 1 if it was done. */
int ak_job_cancel(ak_job *j);
/* Copies at most max bytes of stream events into buf, waiting for some while the job runs;
 * -1 once the job is done and everything was read. */
ssize_t ak_job_read_events(ak_job *j, char *buf, size_t max);

#endif
