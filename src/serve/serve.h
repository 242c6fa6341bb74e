/*
 * serve.h - adaptive-k's OpenAI-compatible HTTP server (docs/serving.md).
 *
 *   POST /v1/completions, POST /v1/chat/completions (JSON or server-sent events),
 *   GET /v1/models, /health, /metrics (Prometheus text format), /v1/ab/results.
 *
 * Requests are parsed and tokenised on the connection's thread, then queued for one of
 * n_parallel workers, each with its own ak_context over the shared model. A full queue
 * answers 429; SIGTERM or SIGINT stops accepting, lets queued and running requests finish
 * (at most timeout_s more), and ak_serve_run returns 0.
 */
#ifndef AK_SERVE_H
#define AK_SERVE_H

#include <stddef.h>

#include "adaptivek.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    const char *host;          /* "127.0.0.1" */
    int port;                  /* 0: any free port (printed, and written to port_file) */
    const char *port_file;     /* NULL, or a file that receives the bound port once listening */
    int n_threads;             /* in total, shared out among the workers; 0: all CPUs */
    int n_ctx;                 /* 0: the model's trained length (memory permitting) */
    int n_parallel;            /* workers (contexts), default 1 */
    int type_k, type_v;        /* KV cache types (ak_type; 0: f32), as -ctk/-ctv */
    int queue_size;            /* requests waiting beyond the running ones, default 16 */
    double timeout_s;          /* per request, from arrival, default 120 */
    int max_prompt_tokens;     /* 0: the context length - 1 */
    int max_tokens;            /* most completion tokens a request may ask for, default 512 */
    size_t max_body_bytes;     /* default 1 MiB; larger bodies get 413 */
    int min_k, max_k;          /* per-request routing must stay within [min_k, max_k]; 0: 1, n_expert */
    ak_skip_params skip;       /* early exit / pruning of every request (default off) */
    float min_exit_threshold;  /* a request's "skip" may set exit thresholds >= this (default 1: none below) */
    float max_prune_ratio;     /* ... and prune ratios <= this (default 0: no pruning) */
    const char *ab_spec;       /* NAME=POLICY:SHARE,... or NULL */
    int trace;                 /* print every request's routing trace to stderr */
    const char *log_file;      /* JSON request log; NULL: stderr */
    const char *model_name;    /* NULL: the file's base name without .gguf */
    const char *calibration_file; /* text for target_avg_k calibration; NULL: built-in */
    const char *model_path;    /* for the default model name */
} ak_serve_options;

void ak_serve_default_options(ak_serve_options *o);

/* Runs until SIGTERM/SIGINT (blocked in the calling thread and the threads it starts).
 * routing: the operator's default (NULL: the model's native top-k), copied.
 * Returns 0 after a clean shutdown, -1 with a message if the server could not start. */
int ak_serve_run(const ak_serve_options *o, const ak_model *m, const ak_tokenizer *tok, const ak_router_config *routing,
                 ak_error *err);

#endif
