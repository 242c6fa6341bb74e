/* calibrate_allocate.h - `adaptive-k calibrate --allocate`: per-layer budgets from a
 * sensitivity profile of the calibration text, a token-level rule in each layer. */
#ifndef AK_CALIBRATE_ALLOCATE_H
#define AK_CALIBRATE_ALLOCATE_H

#include "profile_cli.h"

typedef struct {
    const char *model_path, *out_path, *name, *rule; /* rule: "auto" or one rule */
    double target;
    int n_threads;
    int holdout_chunks;     /* chunks kept out of the profile to choose the rule (auto); -1: a quarter */
    ak_profile_opts prof;
} ak_allocate_opts;

/* Runs the whole step and writes the config. Returns the exit status. */
int ak_cli_calibrate_allocate(const ak_allocate_opts *o);

#endif
