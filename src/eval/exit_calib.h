/* exit_calib.h - the early-exit threshold for a target average number of layers, found on
 * a calibration (validation) text, as K's policies are calibrated to a target average K.
 *
 * One pass of the text without exits records every token's top-token probability at each
 * check layer (ak_context_set_exit_probe); a threshold t then gives each token the layers
 * up to its first check with probability >= t (all layers if none); the average over the
 * tokens is a step function of t, decreasing as t falls: bisection finds the largest threshold
 * whose average stays at or below the target. Exits change later tokens' context
 * (their skipped layers hold the fill), so the average a run with the threshold reaches
 * differs a little: perplexity prints the one it measured. */
#ifndef AK_EVAL_EXIT_CALIB_H
#define AK_EVAL_EXIT_CALIB_H

#include "adaptivek.h"
#include "eval/perplexity.h"
#include "model/model.h"

/* Runs the text through c (as ak_perplexity with pp, chunks of pp->n_ctx) with exits off,
 * measuring as `shape` says (exit_measure, checks after exit_layer, + exit_every, ...);
 * *threshold for target_layers (in [exit_layer + 1, n_layer]); *estimate: the average
 * layers per token it gives on the calibration text. c's skip settings are left as they
 * were; its counters and ledger get the pass (reset them after). 0, or -1 with err. */
int ak_exit_calibrate(ak_context *c, const int32_t *tokens, int64_t n_tokens, const ak_ppl_params *pp,
                      const ak_skip_params *shape, double target_layers, float *threshold, double *estimate,
                      ak_error *err);

#endif
