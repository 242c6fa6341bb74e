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

/* The sample: the router logits of the layers with experts, as the policies read them
 * (ak_router_record_init_model: a sigmoid router's log q), so that a target average K can
 * be calibrated for every router. Regression test serve_starts_without_experts_in_every_layer:
 * a server on a model with a layer without experts (deepseek2, nemotron_h_moe) once failed
 * to start, that layer giving no rows. */
int ak_calib_collect(ak_server *s, ak_error *err) {
    int32_t *tokens = NULL;
    const int n = sample_tokens(s, &tokens, err);
    if (n < 0) return -1;
    ak_context_params cp = ak_context_default_params();
    cp.n_ctx = s->n_ctx;
    cp.n_batch = s->n_batch;
    cp.n_threads = s->opt.n_threads;
    cp.logits_last = 1;
    ak_context *ctx = NULL;
    int rc = -1;
    if (ak_router_record_init_model(&s->calib, s->model, n, err) || !(ctx = ak_context_new(s->model, &cp, err)))
        goto done;
    ak_context_set_router_logits_sink(ctx, ak_router_record_sink, &s->calib);
    for (int b0 = 0; b0 < n; b0 += s->n_batch) {
        int nb = n - b0 < s->n_batch ? n - b0 : s->n_batch;
        if (ak_decode(ctx, tokens + b0, nb, err)) goto done;
    }
    if (ak_router_record_finish(&s->calib, err) < 0) goto done;
    s->has_calib = 1;
    rc = 0;
done:
    ak_context_free(ctx);
    free(tokens);
    return rc;
}

/* One parameter for all layers with experts, fitted on the sample. */
int ak_calib_config(ak_server *s, ak_router_config *cfg, double target_avg_k, ak_error *err) {
    if (!s->has_calib) return ak_failf(err, AK_ERR_INVALID_ARG, "no calibration sample");
    double achieved = 0;
    return ak_calibrate_config_on_record(&s->calib, cfg, target_avg_k, 0, &achieved, err);
}
