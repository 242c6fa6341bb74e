/* skip_flags.h - the early-exit and prompt-pruning flags of the engine commands
 * (perplexity, generate, sweep, serve):
 *
 *   --exit-threshold P   --exit-measure top1|saturation   --exit-layer L   --exit-every N
 *   --exit-target-layers X
 *   --exit-calib FILE    --prune-ratio R  --prune-layer L  --prune-by attention|oldest
 *
 * They fill an ak_skip_params (model.h); --exit-target-layers calibrates the threshold on
 * --exit-calib's text (a validation text: never the one being measured) before the run. */
#ifndef AK_SKIP_FLAGS_H
#define AK_SKIP_FLAGS_H

#include <stdio.h>

#include "adaptivek.h"
#include "eval/session.h"

typedef struct {
    ak_skip_params p;
    int given;              /* any of the flags */
    double target_layers;   /* --exit-target-layers (0: not given) */
    const char *calib_path; /* --exit-calib */
} ak_skip_flags;

void ak_skip_flags_init(ak_skip_flags *f);
/* The skip flag at argv[i]: the arguments it took (1 or 2), 0 if it is not one, -1 with err for
 * a missing or bad value. */
int ak_skip_flags_parse(ak_skip_flags *f, int argc, char **argv, int i, ak_error *err);
void ak_skip_flags_help(FILE *out);
/* Calibrates (--exit-target-layers, on --exit-calib's text in chunks of n_ctx) and sets the
 * flags on the session's context; the counters are reset after a calibration. Prints what
 * calibration chose to `out`. 0, or -1 once "CMD: why" is printed. */
int ak_skip_flags_apply(ak_skip_flags *f, ak_session *s, int n_ctx, const char *cmd, FILE *out);

#endif
