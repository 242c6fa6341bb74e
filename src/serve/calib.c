/* calib.c - router logits of a calibration text, collected once at start-up, and routing
 * configs fitted to a request's target average K on them (ak_calibrate_config, one
 * parameter for all layers). */
#include <stdlib.h>
#include <string.h>

#include "base/errfmt.h"
#include "base/file.h"
#include "serve/calib.h"
#include "serve/server_state.h"

/* Plain English prose of mixed registers (written for this project). */
static const char builtin_text[] =
    "The committee met on a cold morning in early spring to review the budget for the coming year. "
    "Several members argued that the roads and bridges of the northern counties had been neglected for "
    "too long, while others insisted that schools and hospitals must come first. After three hours of "
    "debate, the chair proposed a compromise: a modest increase in public works, paid for by savings in "
    "administration, and a promise to revisit the question in the autumn. Outside, a small crowd had "
    "gathered. Farmers worried about the price of grain; shopkeepers complained about taxes; a teacher "
    "held a sign asking for smaller classes. In the evening the newspapers reported that the vote had "
    "passed by a narrow margin, and that the governor would sign the bill within the week. Few people "
    "expected it to change much, yet many hoped it would mark the beginning of a more careful and honest "
    "way of spending the money of the people. The nation's strength, one speaker said, rests on the work "
    "of ordinary citizens, on trade and industry, on peace abroad and justice at home.";

typedef struct {
    float *buf;
    int n_layer, n_tokens, n_expert;
    int *filled; /* tokens written per layer */
} sink_state;

static void sink(void *user, int layer, const float *logits, int n_tokens, int n_experts) {
    sink_state *st = user;
    if (layer < 0 || layer >= st->n_layer || n_experts != st->n_expert) return;
    int room = st->n_tokens - st->filled[layer];
    int n = n_tokens < room ? n_tokens : room;
    if (n <= 0) return;
    memcpy(st->buf + ((size_t)layer * (size_t)st->n_tokens + (size_t)st->filled[layer]) * (size_t)n_experts, logits,
           (size_t)n * (size_t)n_experts * sizeof *logits);
    st->filled[layer] += n;
}

/* The sample needs a softmax router in every layer (ak_calibrate_config fits softmax
 * policies on all layers' logits); other models get none, and a request for a target
 * average K is then refused with the reason (regression test
 * serve_starts_without_experts_in_every_layer: a deepseek2 or nemotron_h_moe server once
 * failed to start, a layer without experts giving no router rows). */
static const char *no_sample_reason(const ak_server *s) {
    if (s->hp->gating != AK_GATING_SOFTMAX) return "its router is not a softmax (sigmoid scores with a selection bias)";
    for (int l = 0; l < s->hp->n_layer; l++)
        if (!ak_model_layer_has_experts(s->model, l)) return "some of its layers have no experts";
    return NULL;
}

int ak_calib_collect(ak_server *s, ak_error *err) {
    const int L = s->hp->n_layer, E = s->hp->n_expert;
    if ((s->calib_unavailable = no_sample_reason(s))) return 0;
    char *text = NULL;
    size_t len = 0;
    if (s->opt.calibration_file) {
        ak_error why;
        if (!(text = ak_read_file(s->opt.calibration_file, &len, &why)))
            return ak_failf(err, why.code, "cannot open --calibration-file %s", why.msg);
        if (len >= 1 << 20) len = (1 << 20) - 1; /* the sample is at most 1024 tokens */
    }
    const char *t = text ? text : builtin_text;
    if (!text) len = strlen(builtin_text);
    int cap = s->n_ctx - 1 < 1024 ? s->n_ctx - 1 : 1024;
    int32_t *tokens = malloc((size_t)(len + 16) * sizeof *tokens);
    int n = tokens ? ak_tokenize(s->tok, t, len, ak_tokenizer_add_bos(s->tok), 0, tokens, (int)len + 16) : -1;
    free(text);
    if (n < 2) {
        free(tokens);
        return ak_failf(err, AK_ERR_INVALID_ARG, "the calibration text gives too few tokens");
    }
    if (n > cap) n = cap;
    sink_state st = {malloc((size_t)L * (size_t)n * (size_t)E * sizeof(float)), L, n, E, calloc((size_t)L, sizeof(int))};
    ak_context_params cp = ak_context_default_params();
    cp.n_ctx = s->n_ctx;
    cp.n_batch = s->n_batch;
    cp.n_threads = s->opt.n_threads;
    ak_context *ctx = st.buf && st.filled ? ak_context_new(s->model, &cp, err) : NULL;
    int rc = -1;
    if (!ctx) {
        if (!st.buf || !st.filled) ak_failf(err, AK_ERR_NOMEM, "out of memory");
        goto done;
    }
    ak_context_set_router_logits_sink(ctx, sink, &st);
    for (int b0 = 0; b0 < n; b0 += s->n_batch) {
        int nb = n - b0 < s->n_batch ? n - b0 : s->n_batch;
        if (ak_decode(ctx, tokens + b0, nb, err)) goto done;
    }
    for (int l = 0; l < L; l++)
        if (st.filled[l] != n) {
            ak_failf(err, AK_ERR_INVALID_ARG, "calibration: layer %d gave %d of %d router rows", l, st.filled[l], n);
            goto done;
        }
    s->calib_logits = st.buf;
    s->calib_tokens = n;
    st.buf = NULL;
    rc = 0;
done:
    ak_context_free(ctx);
    free(st.buf);
    free(st.filled);
    free(tokens);
    return rc;
}

int ak_calib_config(ak_server *s, ak_router_config *cfg, double target_avg_k, ak_error *err) {
    ak_error e = {0};
    if (!s->calib_logits)
        return ak_failf(err, AK_ERR_INVALID_ARG, "a target average K cannot be calibrated for this %s model: %s",
                        s->hp->arch, s->calib_unavailable ? s->calib_unavailable : "no calibration sample");
    if (ak_config_set_layers(cfg, s->hp->n_layer, &e) != AK_OK) return ak_failf(err, e.code, "%s", e.msg);
    double achieved = 0;
    if (ak_calibrate_config(cfg, s->calib_logits, s->hp->n_layer, s->calib_tokens, target_avg_k, 0, &achieved, &e) !=
        AK_OK)
        return ak_failf(err, e.code, "%s", e.msg);
    return 0;
}
