/*
 * accounting.h - compute accounting per MoE layer, next to the engine's whole-run
 * counters (ak_compute_counters): tokens, chosen K, expert multiply-accumulates and the
 * bytes of expert weights read, for the run's policy and for the native top-k.
 *
 * It is fed by the context's router-logits sink (called once per layer per ak_decode with
 * that batch's router logits) and routes them itself with the same libadaptivek policy
 * the context uses, so "bytes read" follows the engine's rule: every expert that at least
 * one token of the batch chose is read once per batch. Summed over layers, the numbers
 * equal the engine's counters (the tests check this).
 */
#ifndef AK_EVAL_ACCOUNTING_H
#define AK_EVAL_ACCOUNTING_H

#include <stdint.h>
#include <stdio.h>

#include "model/model.h"

typedef struct {
    uint64_t tokens;
    uint64_t k_sum;
    uint64_t expert_macs, expert_macs_native;
    uint64_t expert_bytes, expert_bytes_native;
} ak_layer_compute;

typedef struct {
    int n_layer, n_expert, k_native, n_batch, slots, renormalize;
    uint64_t macs_per_expert;    /* gate + up + down of one expert for one token */
    uint64_t *bytes_per_expert;  /* [n_layer] */
    ak_layer_compute *layers;    /* [n_layer] */
    ak_router_config cfg;        /* copy; n_experts 0: native top-k */
    int has_cfg;
    /* scratch for one batch, sized at init / set_routing */
    int *k;
    int32_t *ids;
    float *w;
    unsigned char *mark;
    char error[320];             /* first routing error seen in the sink, "" if none */
} ak_accounting;

/* Sized for batches of up to n_batch tokens of model m; routing NULL: native top-k. */
int ak_accounting_init(ak_accounting *a, const ak_model *m, int n_batch, const ak_router_config *routing, char *err,
                       size_t errlen);
int ak_accounting_set_routing(ak_accounting *a, const ak_router_config *routing, char *err, size_t errlen);
void ak_accounting_reset(ak_accounting *a);
void ak_accounting_free(ak_accounting *a);

/* The sink: ak_context_set_router_logits_sink(ctx, ak_accounting_sink, a). */
void ak_accounting_sink(void *user, int layer, const float *logits, int n_tokens, int n_experts);

/* Sum over layers (expert fields only; tokens is the per-layer maximum). */
void ak_accounting_total(const ak_accounting *a, ak_layer_compute *out);

/* The per-layer table, per token: average K, expert MACs and expert bytes read (run and
 * native), and the share saved. */
void ak_accounting_print(const ak_accounting *a, FILE *out);

#endif
