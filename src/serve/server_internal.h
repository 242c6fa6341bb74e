/* server_internal.h - the server's shared state, the job a request becomes, and the
 * functions the server's files call in each other. */
#ifndef AK_SERVE_INTERNAL_H
#define AK_SERVE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "base/clock.h"
#include "model/model.h"
#include "model/sampler.h"
#include "serve/ab.h"
#include "serve/metrics.h"
#include "serve/sbuf.h"
#include "serve/serve.h"
#include "tokenizer/tokenizer.h"

#define AK_MAX_STOP 6 /* 4 from the request, 2 implied by the chat template */
#define AK_MAX_STOP_LEN 256

typedef enum { AK_JOB_QUEUED, AK_JOB_RUNNING, AK_JOB_DONE } ak_job_state;
typedef enum { AK_REQ_COMPLETION, AK_REQ_CHAT } ak_req_kind;

/* A request on its way through the queue. Shared by the connection thread and a worker
 * (refs); fields below `state` are guarded by mu. */
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
    uint64_t routed, k_sum;  /* token-layer routing decisions and their K sum */
    uint64_t gen_routed, gen_k_sum; /* the same for the generated tokens alone (decode) */
    uint64_t expert_macs, expert_macs_native;
    float *trace_h;          /* [cap_tokens][n_layer] when want_trace */
    int16_t *trace_k;
} ak_job;

typedef struct ak_server ak_server;

typedef struct {
    ak_server *srv;
    int index;
    pthread_t thread;
    ak_context *ctx;
    const ak_router_config *routing_now; /* what ctx routes with; (void*)1 after a request's own */
    ak_job *job;
    /* this request's routing, merged into the metrics when it ends */
    uint64_t *k_hist;   /* [n_layer][n_expert + 1] */
    uint64_t *h_hist;   /* [n_layer][AK_METRICS_H_BUCKETS + 1] */
    double *h_sum;      /* [n_layer] */
    char *piece;        /* token text buffer */
    int piece_cap;
} ak_worker;

struct ak_server {
    ak_serve_options opt;
    const ak_model *model;
    const ak_tokenizer *tok;
    const ak_hparams *hp;
    int n_ctx, n_batch;
    char model_name[128];
    long created;
    ak_router_config default_routing;
    int has_default_routing;
    ak_variant variants[AK_MAX_VARIANTS];
    int n_variants; /* 1 ("default") without --ab */
    int ab_enabled;
    ak_metrics *metrics;
    ak_ab_stats *ab;

    pthread_mutex_t qmu;
    pthread_cond_t qcv;
    ak_job **queue;
    int q_cap, q_head, q_len;
    int busy;    /* jobs being run */
    int closing; /* workers exit once the queue is empty */
    ak_worker *workers;
    int n_workers;
    int n_started; /* worker threads running */
    atomic_int shutting_down;
    atomic_int hard_stop; /* shutdown grace over: running requests end now */
    atomic_uint_fast64_t next_id;

    FILE *log;
    pthread_mutex_t log_mu;
    pthread_mutex_t trace_mu;

    void *daemon; /* struct MHD_Daemon */
    atomic_int http_active; /* requests between their first byte and their last */
    int port;     /* bound */

    float *calib_logits; /* [n_layer][calib_tokens][n_expert] router logits of the calibration text */
    int calib_tokens;
};

#define AK_VARIANT_CUSTOM(s) ((s)->n_variants)
#define AK_VARIANT_NONE(s) ((s)->n_variants + 1)

/* worker.c */
int ak_workers_start(ak_server *s, char *err, size_t errlen);
/* 0 queued; 429 when the queue is full; 503 when shutting down. Takes a reference. */
int ak_queue_push(ak_server *s, ak_job *j);
void ak_workers_drain_and_stop(ak_server *s, double grace_s);
void ak_workers_free(ak_server *s);
int ak_queue_depth(ak_server *s, int *busy);

/* request.c: the job for a POST body, or an HTTP status with a message */
typedef struct {
    int status;
    const char *type, *code;
    char param[64];
    char msg[320];
} ak_req_error;
ak_job *ak_request_parse(ak_server *s, ak_req_kind kind, const char *body, size_t len, const char *request_id,
                         ak_req_error *e);
ak_job *ak_job_new(void);
void ak_job_release(ak_job *j);

/* response.c */
void ak_error_json(ak_sbuf *out, const char *msg, const char *type, const char *code, const char *param);
int ak_response_json(ak_server *s, const ak_job *j, ak_sbuf *out);         /* the whole non-streaming body */
int ak_sse_chunk(ak_server *s, ak_job *j, const char *text, size_t n, int first, int final); /* appends to j->sse */
int ak_usage_json(ak_server *s, const ak_job *j, ak_sbuf *out);
int ak_trace_json(ak_server *s, const ak_job *j, ak_sbuf *out);
void ak_trace_print(ak_server *s, const ak_job *j, FILE *f);
double ak_job_avg_k(const ak_job *j);
double ak_job_compute_saved(const ak_job *j);

/* reqlog.c: one JSON line per request; also the metrics and A/B records */
void ak_request_finished(ak_server *s, const char *request_id, int variant, int status, const ak_job *j,
                         double t_arrival, const char *error);

/* calib.c: router logits of a calibration text, and policies fitted to a target average K */
int ak_calib_collect(ak_server *s, char *err, size_t errlen);
int ak_calib_config(ak_server *s, ak_router_config *cfg, double target_avg_k, char *err, size_t errlen);

/* http.c */
int ak_http_start(ak_server *s, char *err, size_t errlen);
void ak_http_quiesce(ak_server *s);
/* Waits (at most wait_s) for answered requests to finish sending, then closes everything. */
void ak_http_stop(ak_server *s, double wait_s);

#endif
