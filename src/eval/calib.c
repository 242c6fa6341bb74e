/* calib.c - router-logit recording and calibration on a model (see calib.h). */
#include "eval/calib.h"
#include "base/errfmt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ak_router_record_init(ak_router_record *r, int n_layer, int n_expert, int64_t cap, ak_error *err) {
    memset(r, 0, sizeof *r);
    if (n_layer < 1 || n_expert < 1 || cap < 1) return ak_failf(err, AK_ERR_INVALID_ARG, "router record: bad shape");
    r->n_layer = n_layer;
    r->n_expert = n_expert;
    r->cap = cap;
    r->filled = calloc((size_t)n_layer, sizeof *r->filled);
    r->logits = malloc((size_t)n_layer * (size_t)cap * (size_t)n_expert * sizeof *r->logits);
    if (!r->filled || !r->logits) {
        ak_router_record_free(r);
        return ak_failf(err, AK_ERR_NOMEM, "router record: out of memory for %lld tokens", (long long)cap);
    }
    return 0;
}

int ak_router_record_init_model(ak_router_record *r, const ak_model *m, int64_t cap, ak_error *err) {
    const ak_hparams *hp = ak_model_hparams(m);
    int n = 0;
    for (int l = 0; l < hp->n_layer; l++) n += ak_model_layer_has_experts(m, l);
    if (ak_router_record_init(r, n, hp->n_expert, cap, err)) return -1;
    r->model = m;
    r->n_model_layer = hp->n_layer;
    r->layer_of = malloc((size_t)n * sizeof *r->layer_of);
    r->index_of = malloc((size_t)hp->n_layer * sizeof *r->index_of);
    if (!r->layer_of || !r->index_of) {
        ak_router_record_free(r);
        return ak_failf(err, AK_ERR_NOMEM, "router record: out of memory");
    }
    for (int l = 0, k = 0; l < hp->n_layer; l++) {
        r->index_of[l] = ak_model_layer_has_experts(m, l) ? k : -1;
        if (r->index_of[l] >= 0) r->layer_of[k++] = l;
    }
    return 0;
}

void ak_router_record_free(ak_router_record *r) {
    free(r->filled);
    free(r->logits);
    free(r->layer_of);
    free(r->index_of);
    memset(r, 0, sizeof *r);
}

void ak_router_record_reset(ak_router_record *r) {
    memset(r->filled, 0, (size_t)r->n_layer * sizeof *r->filled);
    r->overflow = 0;
}

void ak_router_record_sink(void *user, int layer, const float *logits, int n_tokens, int n_experts) {
    ak_router_record *r = user;
    const int model_layer = layer;
    if (r->model) layer = layer >= 0 && layer < r->n_model_layer ? r->index_of[layer] : -1;
    if (layer < 0 || layer >= r->n_layer || n_experts != r->n_expert) return;
    if (r->filled[layer] + n_tokens > r->cap) {
        r->overflow = 1;
        return;
    }
    float *dst = r->logits + ((size_t)layer * (size_t)r->cap + (size_t)r->filled[layer]) * (size_t)n_experts;
    if (r->model) ak_model_policy_logits(r->model, model_layer, logits, n_tokens, dst);
    else memcpy(dst, logits, (size_t)n_tokens * (size_t)n_experts * sizeof *dst);
    r->filled[layer] += n_tokens;
}

int64_t ak_router_record_finish(ak_router_record *r, ak_error *err) {
    if (r->overflow) return ak_failf(err, AK_ERR_INVALID_ARG, "router record: more than %lld tokens per layer", (long long)r->cap);
    const int64_t n = r->filled[0];
    for (int l = 1; l < r->n_layer; l++)
        if (r->filled[l] != n)
            return ak_failf(err, AK_ERR_INVALID_ARG, "router record: layer %d has %lld tokens, layer 0 %lld (not every layer is MoE?)",
                        l, (long long)r->filled[l], (long long)n);
    if (n < 1) return ak_failf(err, AK_ERR_INVALID_ARG, "router record: no tokens recorded");
    const size_t row = (size_t)r->n_expert;
    for (int l = 1; l < r->n_layer && n < r->cap; l++)
        memmove(r->logits + (size_t)l * (size_t)n * row, r->logits + (size_t)l * (size_t)r->cap * row,
                (size_t)n * row * sizeof *r->logits);
    r->cap = n;
    return n;
}

/* The recorded layers' policies of cfg (a model record: its layers with experts) calibrated,
 * the other layers given the first calibrated policy. */
static int calibrate_recorded(const ak_router_record *r, ak_router_config *cfg, double target, int per_layer,
                              double *achieved, ak_error *err) {
    ak_error e = {0};
    ak_router_config sub = *cfg;
    sub.n_layers = r->n_layer;
    sub.layers = malloc((size_t)r->n_layer * sizeof *sub.layers);
    if (!sub.layers) return ak_failf(err, AK_ERR_NOMEM, "out of memory");
    for (int l = 0; l < r->n_layer; l++) sub.layers[l] = cfg->layers[r->layer_of[l]];
    int rc = 0;
    if (ak_calibrate_config(&sub, r->logits, r->n_layer, (int)r->cap, target, per_layer, achieved, &e))
        rc = ak_failf(err, e.code, "%s", e.msg);
    for (int l = 0; !rc && l < cfg->n_layers; l++)
        cfg->layers[l] = r->index_of[l] >= 0 ? sub.layers[r->index_of[l]] : sub.layers[0];
    free(sub.layers);
    return rc;
}

int ak_calibrate_config_on_record(const ak_router_record *r, ak_router_config *cfg, double target, int per_layer,
                                  double *achieved, ak_error *err) {
    ak_error e = {0};
    const int n_full = r->model ? r->n_model_layer : r->n_layer;
    if (cfg->n_layers == 0 && ak_config_set_layers(cfg, n_full, &e)) return ak_failf(err, e.code, "%s", e.msg);
    if (cfg->n_layers != n_full)
        return ak_failf(err, AK_ERR_INVALID_ARG, "the config has %d layers, the model %d", cfg->n_layers, n_full);
    if (r->model) {
        if (calibrate_recorded(r, cfg, target, per_layer, achieved, err)) return -1;
    } else if (ak_calibrate_config(cfg, r->logits, r->n_layer, (int)r->cap, target, per_layer, achieved, &e)) {
        return ak_failf(err, e.code, "%s", e.msg);
    }
    /* The default must be a calibrated policy too: an entropy policy whose thresholds were
     * placed at each layer's quantiles (all zero before) differs per layer, and the
     * uncalibrated default left in the config made it invalid (a 64-expert model's sweep
     * stopped on it). Identical layers: the one policy is stored as the default alone. */
    cfg->default_policy = cfg->layers[0];
    int same = 1;
    for (int l = 1; l < cfg->n_layers; l++) same &= !memcmp(&cfg->layers[l], &cfg->layers[0], sizeof cfg->layers[0]);
    if (same) {
        ak_config_free(cfg);
        cfg->layers = NULL;
        cfg->n_layers = 0;
    }
    return 0;
}

int ak_calibrate_on_record(const ak_router_record *r, const ak_hparams *hp, const ak_policy *base, double target,
                           int per_layer, ak_router_config *out, double *achieved, ak_error *err) {
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "calibrated");
    out->n_experts = hp->n_expert;
    out->k_native = hp->n_expert_used;
    out->renormalize = hp->renormalize;
    out->default_policy = *base;
    if (ak_calibrate_config_on_record(r, out, target, per_layer, achieved, err)) {
        ak_config_free(out);
        return -1;
    }
    return 0;
}
