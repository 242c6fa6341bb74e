/*
 * calib.h - calibration on a model: record the router logits of every layer while a text
 * runs through the engine (the context's router-logits sink), then fit a policy to a
 * target average K with ak_calibrate_config.
 *
 * The logits are recorded under whatever routing the context uses (normally the native
 * top-k): a layer's router input depends on the experts chosen in the layers before it,
 * so the average K a calibrated policy reaches when it routes every layer itself can
 * differ a little from the target; the sweep reports the measured value.
 */
#ifndef AK_EVAL_CALIB_H
#define AK_EVAL_CALIB_H

#include "adaptivek.h" /* ak_error */
#include <stdint.h>

#include "model/model.h"

typedef struct {
    int n_layer, n_expert;
    int64_t cap;      /* tokens per layer */
    int64_t *filled;  /* [n_layer] tokens recorded per layer */
    float *logits;    /* [n_layer][cap][n_expert] */
    int overflow;     /* more tokens arrived than cap */
    /* a record of a model's layers with experts (ak_router_record_init_model): layer l of
     * the record is model layer layer_of[l] (of n_model_layer), its logits as
     * ak_model_policy_logits gives them; NULL: every layer, raw logits */
    const ak_model *model;
    int n_model_layer;
    int *layer_of, *index_of; /* [n_layer], [n_model_layer] (-1: no experts) */
} ak_router_record;

int ak_router_record_init(ak_router_record *r, int n_layer, int n_expert, int64_t cap, ak_error *err);
/* A record of model m's layers with experts, as the routing policies read their routers
 * (a sigmoid router's log q: docs/router-config.md), so that calibration works for every
 * router and for models with layers without experts. */
int ak_router_record_init_model(ak_router_record *r, const ak_model *m, int64_t cap, ak_error *err);
void ak_router_record_free(ak_router_record *r);
void ak_router_record_reset(ak_router_record *r);
/* The sink: ak_context_set_router_logits_sink(ctx, ak_router_record_sink, r). */
void ak_router_record_sink(void *user, int layer, const float *logits, int n_tokens, int n_experts);
/* Ends a recording: checks every layer got the same number of tokens, packs the layers
 * so logits is [n_layer][n_tokens][n_expert] (cap becomes n_tokens) and returns
 * n_tokens, or -1 with a message. */
int64_t ak_router_record_finish(ak_router_record *r, ak_error *err);

/* A router config for model hp with policy base in every layer, calibrated on a finished
 * recording to target average K:
 * one parameter for all layers, or per_layer. k_native = the model's. *achieved: average
 * K on the calibration logits. The caller frees *out (ak_config_free). */
int ak_calibrate_on_record(const ak_router_record *r, const ak_hparams *hp, const ak_policy *base,
                           double target, int per_layer, ak_router_config *out, double *achieved, ak_error *err);

/* Calibrates an already built config (policies set, n_layers 0 or the model's layer count);
 * with a model record, the layers without experts get the first calibrated policy (nothing
 * routes there). */
int ak_calibrate_config_on_record(const ak_router_record *r, ak_router_config *cfg, double target,
                                  int per_layer, double *achieved, ak_error *err);

#endif
