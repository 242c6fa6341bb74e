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

/* The sample: the router logits of the layers with experts (calib_layer_of lists them), as
 * ak_model_policy_logits gives them - a softmax router's own, a sigmoid router's log q - so
 * that the softmax policies calibrated on them route as the engine does (for entropy
 * policies exactly; docs/router-config.md). Regression test
 * serve_starts_without_experts_in_every_layer: a server on a model with a layer without
 * experts (deepseek2, nemotron_h_moe) once failed to start, that layer giving no rows. */
typedef struct {
    const ak_model *model;
    float *buf;
    int n_moe, n_tokens, n_expert;
    const int *moe_index; /* [n_layer] the layer's row block in buf, -1: no experts */
    int *filled;          /* [n_moe] tokens written */
} sink_state;

static void sink(void *user, int layer, const float *logits, int n_tokens, int n_experts) {
    sink_state *st = user;
    const int m = st->moe_index[layer];
    if (m < 0 || n_experts != st->n_expert) return;
    int room = st->n_tokens - st->filled[m];
    int n = n_tokens < room ? n_tokens : room;
    if (n <= 0) return;
    ak_model_policy_logits(st->model, layer, logits, n,
                           st->buf + ((size_t)m * (size_t)st->n_tokens + (size_t)st->filled[m]) * (size_t)n_experts);
    st->filled[m] += n;
}

/* The calibration text's tokens (at most 1024 and the context), or -1 with err. */
static int sample_tokens(ak_server *s, int32_t **out, ak_error *err) {
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
    *out = tokens;
    return n > cap ? cap : n;
}

int ak_calib_collect(ak_server *s, ak_error *err) {
    const int L = s->hp->n_layer, E = s->hp->n_expert;
    int32_t *tokens = NULL;
    const int n = sample_tokens(s, &tokens, err);
    if (n < 0) return -1;
    int *moe_index = malloc((size_t)L * sizeof *moe_index), n_moe = 0;
    s->calib_layer_of = malloc((size_t)L * sizeof *s->calib_layer_of);
    for (int l = 0; moe_index && s->calib_layer_of && l < L; l++) {
        moe_index[l] = ak_model_layer_has_experts(s->model, l) ? n_moe : -1;
        if (moe_index[l] >= 0) s->calib_layer_of[n_moe++] = l;
    }
    sink_state st = {s->model, malloc((size_t)n_moe * (size_t)n * (size_t)E * sizeof(float) + 1), n_moe, n, E, moe_index,
                     calloc((size_t)n_moe + 1, sizeof(int))};
    ak_context_params cp = ak_context_default_params();
    cp.n_ctx = s->n_ctx;
    cp.n_batch = s->n_batch;
    cp.n_threads = s->opt.n_threads;
    cp.logits_last = 1;
    const int ok = st.buf && st.filled && moe_index && s->calib_layer_of;
    ak_context *ctx = ok ? ak_context_new(s->model, &cp, err) : NULL;
    int rc = -1;
    if (!ctx) {
        if (!ok) ak_failf(err, AK_ERR_NOMEM, "out of memory");
        goto done;
    }
    ak_context_set_router_logits_sink(ctx, sink, &st);
    for (int b0 = 0; b0 < n; b0 += s->n_batch) {
        int nb = n - b0 < s->n_batch ? n - b0 : s->n_batch;
        if (ak_decode(ctx, tokens + b0, nb, err)) goto done;
    }
    for (int m = 0; m < n_moe; m++)
        if (st.filled[m] != n) {
            ak_failf(err, AK_ERR_INVALID_ARG, "calibration: layer %d gave %d of %d router rows", s->calib_layer_of[m],
                     st.filled[m], n);
            goto done;
        }
    s->calib_logits = st.buf;
    s->calib_tokens = n;
    s->calib_layers = n_moe;
    st.buf = NULL;
    rc = 0;
done:
    ak_context_free(ctx);
    free(st.buf);
    free(st.filled);
    free(moe_index);
    free(tokens);
    return rc;
}

/* One parameter for all layers with experts, fitted on their sample (the layers without
 * experts keep the policy they had; nothing routes there). */
int ak_calib_config(ak_server *s, ak_router_config *cfg, double target_avg_k, ak_error *err) {
    ak_error e = {0};
    if (!s->calib_logits) return ak_failf(err, AK_ERR_INVALID_ARG, "no calibration sample");
    if (ak_config_set_layers(cfg, s->hp->n_layer, &e) != AK_OK) return ak_failf(err, e.code, "%s", e.msg);
    ak_router_config moe = *cfg; /* the layers with experts, in order */
    moe.n_layers = s->calib_layers;
    moe.layers = malloc((size_t)s->calib_layers * sizeof *moe.layers);
    if (!moe.layers) return ak_failf(err, AK_ERR_NOMEM, "out of memory");
    for (int m = 0; m < s->calib_layers; m++) moe.layers[m] = cfg->layers[s->calib_layer_of[m]];
    double achieved = 0;
    int rc = 0;
    if (ak_calibrate_config(&moe, s->calib_logits, s->calib_layers, s->calib_tokens, target_avg_k, 0, &achieved, &e) !=
        AK_OK)
        rc = ak_failf(err, e.code, "%s", e.msg);
    for (int m = 0; !rc && m < s->calib_layers; m++) cfg->layers[s->calib_layer_of[m]] = moe.layers[m];
    free(moe.layers);
    return rc;
}
