/* server_state.h - the server's shared state: options, model, variants, metrics, the log,
 * and the listener's and the slots' handles. The functions the server's files call in each
 * other are declared in their own headers (job.h, queue.h, slots.h, request.h,
 * response.h, reqlog.h, calib.h, http.h). */
#ifndef AK_SERVE_STATE_H
#define AK_SERVE_STATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "eval/calib.h"
#include "model/model.h"
#include "serve/ab.h"
#include "serve/metrics.h"
#include "serve/serve.h"
#include "serve/slots.h"
#include "tokenizer/tokenizer.h"

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

    ak_slots *slots; /* slots.c: the queue, the slots and the scheduler thread */
    int n_slots;
    atomic_int shutting_down;
    atomic_uint_fast64_t next_id;

    FILE *log;
    pthread_mutex_t log_mu;
    pthread_mutex_t trace_mu;

    void *daemon; /* struct MHD_Daemon */
    atomic_int http_active; /* requests between their first byte and their last */
    int port;     /* bound */
    unsigned max_connections; /* open connections the listener accepts (http.c) */

    ak_router_record calib; /* the calibration text's router logits (calib.c) */
    int has_calib;
};

/* The state ak_serve_run serves from, without slots or a listener (those start in
 * ak_serve_run): request parsing and jobs work on it alone, which the fuzz harnesses use. */
ak_server *ak_server_new(const ak_serve_options *o, const ak_model *m, const ak_tokenizer *tok,
                         const ak_router_config *routing, ak_error *err);
void ak_server_free(ak_server *s);

#define AK_VARIANT_CUSTOM(s) ((s)->n_variants)
#define AK_VARIANT_NONE(s) ((s)->n_variants + 1)

#endif
