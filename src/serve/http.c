/* http.c - libmicrohttpd glue: one thread per connection (a handler may block while its
 * request waits for a worker), request bodies with a size limit, the endpoints, and
 * server-sent events read from the job as the worker produces them. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/errfmt.h"
#include "base/clock.h"
#include "serve/http.h"
#include "serve/reqlog.h"
#include "serve/request.h"
#include "serve/response.h"
#include "serve/server_state.h"
#include "serve/slots.h"

typedef struct {
    ak_sbuf body;
    int too_big;
    double t_arrival;
    char request_id[72];
    ak_job *job;   /* a streaming job, logged when the connection finishes the request */
} conn_ctx;

static int valid_request_id(const char *v) {
    size_t n = strlen(v);
    return n > 0 && n <= 64 &&
           strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") == n;
}

static void new_request_id(ak_server *s, char *out, size_t cap) {
    /* splitmix64 of a counter seeded from the clock and pid: unique per process run */
    uint64_t x = atomic_fetch_add(&s->next_id, 0x9E3779B97F4A7C15ull);
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    snprintf(out, cap, "req-%016llx", (unsigned long long)x);
}

static enum MHD_Result send_body(struct MHD_Connection *c, int status, const char *type, const char *body, size_t len,
                                 const char *request_id, const char *variant) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (request_id && *request_id) MHD_add_response_header(r, "X-Request-Id", request_id);
    if (variant) MHD_add_response_header(r, "X-AB-Variant", variant);
    if (status == 405) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, POST");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, int status, const ak_sbuf *b, const char *rid,
                                 const char *variant) {
    return send_body(c, status, "application/json", b->s ? b->s : "{}", b->s ? b->len : 2, rid, variant);
}

static enum MHD_Result send_error(ak_server *s, struct MHD_Connection *c, conn_ctx *cx, int status, const char *type,
                                  const char *code, const char *param, const char *msg, int log, int variant) {
    ak_sbuf b = {0};
    ak_error_json(&b, msg, type, code, param);
    enum MHD_Result r = send_json(c, status, &b, cx->request_id, NULL);
    ak_sbuf_free(&b);
    if (log) ak_request_finished(s, cx->request_id, variant, status, NULL, cx->t_arrival, msg);
    return r;
}

static const char *variant_label(const ak_server *s, int v) {
    return v < s->n_variants ? s->variants[v].name : "custom";
}

/* ---------------------------------------------------------------- streaming */

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    ssize_t n = ak_job_read_events(cls, buf, max);
    return n < 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
}

static void sse_free(void *cls) {
    ak_job_cancel(cls); /* the client went away, unless the job is done */
    ak_job_release(cls);
}

/* ---------------------------------------------------------------- generation endpoints */

static void timed_wait(ak_job *j, double deadline) {
    double left = deadline - ak_now();
    if (left <= 0) return;
    struct timespec ts = ak_abstime_in(left);
    pthread_cond_timedwait(&j->cv, &j->mu, &ts);
}

static enum MHD_Result generate(ak_server *s, struct MHD_Connection *c, conn_ctx *cx, ak_req_kind kind) {
    if (cx->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "the request body is larger than %zu bytes", s->opt.max_body_bytes);
        return send_error(s, c, cx, 413, "invalid_request_error", "body_too_large", NULL, msg, 1, AK_VARIANT_NONE(s));
    }
    if (atomic_load(&s->shutting_down))
        return send_error(s, c, cx, 503, "server_error", "shutting_down", NULL, "the server is shutting down", 1,
                          AK_VARIANT_NONE(s));
    ak_req_error e;
    ak_job *j = ak_request_parse(s, kind, cx->body.s ? cx->body.s : "", cx->body.len, cx->request_id, &e);
    if (!j) return send_error(s, c, cx, e.status, e.type, e.code, e.param, e.msg, 1, AK_VARIANT_NONE(s));
    j->t_arrival = cx->t_arrival;
    j->deadline = cx->t_arrival + s->opt.timeout_s;
    int rc = ak_slots_submit(s, j);
    if (rc) {
        int v = j->variant;
        ak_job_release(j);
        if (rc == 429) {
            char msg[160];
            snprintf(msg, sizeof msg, "the server is busy (%d slots, %d queued requests at most); retry later",
                     s->n_slots, s->opt.queue_size);
            return send_error(s, c, cx, 429, "rate_limit_error", "queue_full", NULL, msg, 1, v);
        }
        return send_error(s, c, cx, 503, "server_error", "shutting_down", NULL, "the server is shutting down", 1, v);
    }

    pthread_mutex_lock(&j->mu);
    for (;;) {
        if (j->state == AK_JOB_DONE || (j->stream && j->state == AK_JOB_RUNNING)) break;
        if (j->state == AK_JOB_QUEUED && ak_now() >= j->deadline) {
            j->cancelled = 1; /* the worker will skip it */
            pthread_mutex_unlock(&j->mu);
            int v = j->variant;
            ak_job_release(j);
            char msg[160];
            snprintf(msg, sizeof msg, "the request timed out after %.3g s waiting in the queue", s->opt.timeout_s);
            return send_error(s, c, cx, 504, "timeout_error", "timeout", NULL, msg, 1, v);
        }
        if (j->state == AK_JOB_QUEUED) timed_wait(j, j->deadline);
        else pthread_cond_wait(&j->cv, &j->mu); /* running: the worker stops itself at the deadline */
    }
    int done = j->state == AK_JOB_DONE, status = j->status;
    pthread_mutex_unlock(&j->mu);

    enum MHD_Result ret;
    if (done && status != 200) { /* failed before streaming began, or a whole-response error */
        int st = status == 499 ? 504 : status;
        ret = send_error(s, c, cx, st, j->err_type ? j->err_type : "server_error", j->err_code, NULL, j->errmsg, 0, 0);
        ak_request_finished(s, cx->request_id, j->variant, st, j, cx->t_arrival, j->errmsg);
        ak_job_release(j);
        return ret;
    }
    if (!j->stream) {
        ak_sbuf b = {0};
        ak_response_json(s, j, &b);
        ret = send_json(c, 200, &b, cx->request_id, variant_label(s, j->variant));
        ak_sbuf_free(&b);
        ak_request_finished(s, cx->request_id, j->variant, 200, j, cx->t_arrival, NULL);
        ak_job_release(j);
        return ret;
    }
    ak_job_retain(j); /* one for the response's reader */
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, j, sse_free);
    if (!r) {
        ak_job_release(j);
        ak_job_release(j);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Request-Id", cx->request_id);
    MHD_add_response_header(r, "X-AB-Variant", variant_label(s, j->variant));
    ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    cx->job = j; /* logged in on_completed, once the stream has ended */
    return ret;
}

/* ---------------------------------------------------------------- other endpoints */

/* GET /v1/models (the list) or /v1/models/ID (one; 404 for another id) */
static enum MHD_Result models(ak_server *s, struct MHD_Connection *c, conn_ctx *cx, const char *id) {
    if (id && strcmp(id, s->model_name)) {
        char msg[200];
        snprintf(msg, sizeof msg, "no model '%.100s' (this server has '%.60s')", id, s->model_name);
        return send_error(s, c, cx, 404, "invalid_request_error", "model_not_found", "model", msg, 0, 0);
    }
    ak_sbuf b = {0};
    if (!id) ak_sbuf_puts(&b, "{\"object\":\"list\",\"data\":[");
    ak_sbuf_puts(&b, "{\"id\":");
    ak_sbuf_json_string(&b, s->model_name, strlen(s->model_name));
    ak_sbuf_printf(&b,
                   ",\"object\":\"model\",\"created\":%ld,\"owned_by\":\"adaptive-k\",\"arch\":\"%s\",\"n_ctx\":%d,"
                   "\"n_expert\":%d,\"n_expert_used\":%d,\"routing_limits\":{\"min_k\":%d,\"max_k\":%d}}",
                   s->created, s->hp->arch, s->n_ctx, s->hp->n_expert, s->hp->n_expert_used, s->opt.min_k,
                   s->opt.max_k);
    if (!id) ak_sbuf_puts(&b, "]}");
    enum MHD_Result r = send_json(c, 200, &b, cx->request_id, NULL);
    ak_sbuf_free(&b);
    return r;
}

static enum MHD_Result health(ak_server *s, struct MHD_Connection *c, conn_ctx *cx) {
    int busy, depth = ak_slots_depth(s, &busy), down = atomic_load(&s->shutting_down);
    ak_sbuf b = {0};
    ak_sbuf_printf(&b, "{\"status\":\"%s\",\"model\":", down ? "shutting_down" : "ok");
    ak_sbuf_json_string(&b, s->model_name, strlen(s->model_name));
    ak_sbuf_printf(&b, ",\"slots\":%d,\"running\":%d,\"queued\":%d,\"queue_size\":%d}", s->n_slots, busy, depth,
                   s->opt.queue_size);
    enum MHD_Result r = send_json(c, down ? 503 : 200, &b, cx->request_id, NULL);
    ak_sbuf_free(&b);
    return r;
}

static enum MHD_Result metrics(ak_server *s, struct MHD_Connection *c, conn_ctx *cx) {
    int busy, depth = ak_slots_depth(s, &busy);
    ak_sbuf b = {0};
    if (ak_metrics_render(s->metrics, &b, depth, busy)) {
        ak_sbuf_free(&b);
        return send_error(s, c, cx, 500, "server_error", "out_of_memory", NULL, "out of memory", 0, 0);
    }
    enum MHD_Result r = send_body(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.s, b.len, NULL, NULL);
    ak_sbuf_free(&b);
    return r;
}

static enum MHD_Result ab_results(ak_server *s, struct MHD_Connection *c, conn_ctx *cx) {
    ak_sbuf b = {0};
    ak_ab_results_json(s->ab, s->variants, s->n_variants, &b);
    enum MHD_Result r = send_json(c, 200, &b, cx->request_id, NULL);
    ak_sbuf_free(&b);
    return r;
}

/* ---------------------------------------------------------------- dispatch */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    ak_server *s = cls;
    conn_ctx *cx = *con_cls;
    int is_post = !strcmp(method, "POST");
    if (!cx) {
        cx = calloc(1, sizeof *cx);
        if (!cx) return MHD_NO;
        cx->t_arrival = ak_now();
        atomic_fetch_add(&s->http_active, 1);
        const char *rid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
        if (rid && valid_request_id(rid)) snprintf(cx->request_id, sizeof cx->request_id, "%s", rid);
        else new_request_id(s, cx->request_id, sizeof cx->request_id);
        *con_cls = cx;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (is_post && cl && strtoull(cl, NULL, 10) > s->opt.max_body_bytes) cx->too_big = 1;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!cx->too_big) {
            if (cx->body.len + *upload_size > s->opt.max_body_bytes) {
                cx->too_big = 1;
                ak_sbuf_free(&cx->body);
            } else if (ak_sbuf_append(&cx->body, upload, *upload_size)) {
                cx->too_big = 1; /* out of memory: treat as too large */
                ak_sbuf_free(&cx->body);
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    static const struct {
        const char *path;
        int post;
    } routes[] = {{"/v1/completions", 1}, {"/v1/chat/completions", 1}, {"/v1/models", 0},
                  {"/health", 0},         {"/metrics", 0},             {"/v1/ab/results", 0}};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(url, routes[i].path)) continue;
        int ok = routes[i].post ? is_post : (!strcmp(method, "GET") || !strcmp(method, "HEAD"));
        if (!ok) {
            char msg[128];
            snprintf(msg, sizeof msg, "%s %s: use %s", method, url, routes[i].post ? "POST" : "GET");
            return send_error(s, c, cx, 405, "invalid_request_error", "method_not_allowed", NULL, msg, 0, 0);
        }
        switch (i) {
        case 0: return generate(s, c, cx, AK_REQ_COMPLETION);
        case 1: return generate(s, c, cx, AK_REQ_CHAT);
        case 2: return models(s, c, cx, NULL);
        case 3: return health(s, c, cx);
        case 4: return metrics(s, c, cx);
        default: return ab_results(s, c, cx);
        }
    }
    if (!strncmp(url, "/v1/models/", 11) && url[11]) {
        if (strcmp(method, "GET") && strcmp(method, "HEAD"))
            return send_error(s, c, cx, 405, "invalid_request_error", "method_not_allowed", NULL, "use GET", 0, 0);
        return models(s, c, cx, url + 11);
    }
    char msg[160];
    snprintf(msg, sizeof msg, "no endpoint %.100s", url);
    return send_error(s, c, cx, 404, "invalid_request_error", "not_found", NULL, msg, 0, 0);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)c;
    (void)toe;
    ak_server *s = cls;
    conn_ctx *cx = *con_cls;
    if (!cx) return;
    if (cx->job) {
        ak_job *j = cx->job;
        int done = ak_job_cancel(j), status = done ? j->status : 499;
        ak_request_finished(s, cx->request_id, j->variant, status, done ? j : NULL, cx->t_arrival,
                            done ? j->errmsg : "the client closed the stream");
        ak_job_release(j);
    }
    ak_sbuf_free(&cx->body);
    free(cx);
    *con_cls = NULL;
    atomic_fetch_sub(&s->http_active, 1);
}

/* Each connection holds a thread (blocked on its socket or its job) and a descriptor. The
 * limit was 256, and 256 idle connections (a slowloris client, or a pool of keep-alive
 * sockets) then locked every other client out (test_serve_faults.sh,
 * idle_connections_do_not_block_requests). Now: as many as the descriptor limit allows, up
 * to 4096, after raising the soft descriptor limit to the hard one; idle connections still
 * close after the connection timeout. A connection's thread needs little stack (the request
 * is parsed with cJSON on the heap); 256 KiB keeps 4096 of them at 1 GiB of address space. */
#define AK_CONNECTION_STACK (256u << 10)
static unsigned connection_limit(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return 256;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    rlim_t spare = 64; /* the model, the log, the listener, the slots */
    rlim_t n = rl.rlim_cur > spare + 256 ? rl.rlim_cur - spare : 256;
    return n > 4096 ? 4096u : (unsigned)n;
}

static struct MHD_Daemon *daemon_of(ak_server *s) { return (struct MHD_Daemon *)s->daemon; }

int ak_http_start(ak_server *s, ak_error *err) {
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)s->opt.port);
    const char *host = !strcmp(s->opt.host, "localhost") ? "127.0.0.1" : s->opt.host;
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return ak_failf(err, AK_ERR_INVALID_ARG, "--host %s is not an IPv4 address", s->opt.host);
    unsigned timeout = (unsigned)s->opt.timeout_s + 30;
    s->max_connections = connection_limit();
    /* poll, not select: select cannot watch descriptors above FD_SETSIZE (1024) */
    s->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                                     MHD_USE_ITC | MHD_USE_ERROR_LOG,
                                 (uint16_t)s->opt.port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &sa,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_LIMIT,
                                 s->max_connections, MHD_OPTION_THREAD_STACK_SIZE, (size_t)AK_CONNECTION_STACK,
                                 MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_END);
    if (!s->daemon) return ak_failf(err, AK_ERR_INVALID_ARG, "cannot listen on %s:%d", s->opt.host, s->opt.port);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon_of(s), MHD_DAEMON_INFO_BIND_PORT);
    if (info) s->port = info->port;
    return 0;
}

void ak_http_quiesce(ak_server *s) {
    MHD_socket fd = MHD_quiesce_daemon(daemon_of(s));
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

void ak_http_stop(ak_server *s, double wait_s) {
    double until = ak_now() + wait_s;
    while (atomic_load(&s->http_active) > 0 && ak_now() < until) {
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    if (s->daemon) MHD_stop_daemon(daemon_of(s));
    s->daemon = NULL;
}
