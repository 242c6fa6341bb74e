/* profile_cli.h - what `profile` and `calibrate --allocate` share: the tokens a profile
 * runs on (a text, or random sequences for a data-free profile) and the profile run. */
#ifndef AK_PROFILE_CLI_H
#define AK_PROFILE_CLI_H

#include "adaptivek.h" /* ak_error */
#include <stdint.h>
#include <stdio.h>

#include "eval/profile.h"
#include "eval/session.h"

typedef struct {
    const char *text_path;  /* the text, or NULL with data_free */
    int data_free;          /* random token sequences instead of a text */
    int random_chunks;      /* how many (of n_ctx tokens) */
    int seed;
    int n_ctx, n_chunks;    /* chunks of the text (n_chunks -1: all) */
    int exact_chunks;       /* chunks of the exact runs (0: proxy only) */
    int objective;          /* ak_objective: what the exact runs scale the proxy to */
} ak_profile_opts;

/* The tokens: the text's (BOS as the vocabulary adds it) or random ones. Count, or -1 with
 * a message. */
int ak_cli_profile_tokens(const ak_session *s, const ak_profile_opts *o, int32_t **out, ak_error *err);

/* Profiles the first n tokens (chunks of o->n_ctx); progress lines to log. 0 or -1. */
int ak_cli_profile_run(ak_session *s, const ak_profile_opts *o, const int32_t *tokens, int64_t n, ak_profile *p,
                       FILE *log, ak_error *err);

#endif
