/*
 * sweep.h - the quality / compute trade-off of a model: fixed K from 1 to k_max, the
 * entropy, top-p and ratio policies calibrated (one parameter for all layers, and per
 * layer) to a series of target average K on a calibration text, and per-layer budgets
 * (allocate.h) for the same targets; each evaluated on the test text: perplexity, KL
 * divergence to the native top-k, compute saved and decode speed. The rows are written
 * as CSV, JSON, SVG and PNG into a folder after every row, so an interrupted sweep leaves
 * usable partial results.
 */
#ifndef AK_EVAL_SWEEP_H
#define AK_EVAL_SWEEP_H

#include "adaptivek.h" /* ak_error */
#include <stdint.h>
#include <stdio.h>

#include "eval/allocate.h"
#include "eval/compare.h"
#include "eval/session.h"

#define AK_SWEEP_MAX_TARGETS 32

typedef enum { AK_SWEEP_FIXED = 0, AK_SWEEP_GLOBAL, AK_SWEEP_PER_LAYER, AK_SWEEP_ALLOCATED } ak_sweep_mode;

typedef struct {
    char policy[12];
    ak_sweep_mode mode;
    double target; /* NAN for fixed K */
    int k;         /* fixed K, 0 otherwise */
    int ok;
    char note[600]; 
    char params[1024];
    double calib_avg_k, avg_k, ppl, ppl_err, ratio, ratio_err, kld, kld_err, same_top, same_top_err;
    double expert_saved, model_saved, bytes_saved, decode_tps, decode_rel, seconds;
} ak_sweep_row;

typedef struct {
    /* what to run (set by the caller) */
    const char *model_path, *text_path, *calib_path, *out_dir, *title;
    int n_ctx, n_chunks, calib_chunks, k_max, per_layer_too;
    int use_policy[3];              /* entropy, top-p, ratio */
    int use_alloc[AK_RULE_COUNT];   /* per-layer budgets with these rules */
    int exact_chunks;               /* of the allocation's profile */
    int n_targets;
    double targets[AK_SWEEP_MAX_TARGETS];
    int decode_tokens, prompt_tokens, decode_reps;
    ak_skip_params skip;            /* early exit / pruning on every evaluated row (not the calibration) */
    int has_skip;                   /* ... and the split context harness of perplexity with it */
    ak_session *s;                  /* loaded and started, n_ctx >= the chunks */
    const int32_t *eval_tokens, *calib_tokens;
    int n_eval, n_calib;
    /* results */
    int64_t n_scored;
    double native_tps;
    ak_sweep_row *rows;
    int n_rows, cap_rows;
    /* working state */
    ak_ppl_params pp;
    ak_compare_base *base;          /* the native run on the test text */
} ak_sweep;

/* Defaults: -c 512, all chunks, k_max 2 x native (capped), per layer too, every policy,
 * threshold allocation, 16 exact chunks, 64 decode tokens after 32, 3 reps. */
void ak_sweep_init(ak_sweep *S);
/* Runs every row; progress lines to log (may be NULL). 0, or -1 with a message. */
int ak_sweep_run(ak_sweep *S, FILE *log, ak_error *err);
void ak_sweep_free(ak_sweep *S);

/* sweep.csv, sweep.json, sweep.svg and (with rsvg-convert) sweep.png in S->out_dir. */
int ak_sweep_write(const ak_sweep *S, FILE *log);

#endif
