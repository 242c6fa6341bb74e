/* session.h - what every engine command sets up: the model, its tokenizer and a context
 * with a routing policy; tokenising a text; the routing and compute summary they print. */
#ifndef AK_EVAL_SESSION_H
#define AK_EVAL_SESSION_H

#include "adaptivek.h" /* ak_error */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "eval/perplexity.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    ak_model *model;
    ak_tokenizer *tok;
    ak_context *ctx;
    /* set by ak_session_open (and freed by ak_session_close): */
    ak_router_config routing; /* the context's policy, when has_routing */
    int has_routing;
    int n_ctx, n_batch;       /* the context's sizes */
    int type_k, type_v;       /* the KV cache types ak_session_start uses (0: f32) */
    int logits_last;          /* ... and whether it keeps only each batch's last logits */
    int32_t *tokens;          /* opts.text tokenised, or NULL */
    int n_tokens;
} ak_session;

/* Builds the context's routing policy once the model is loaded (its shape in hp): 1 with
 * *cfg filled (the session then owns it), 0 for the model's native top-k, -1 with a message. */
typedef int (*ak_session_routing_fn)(void *user, const ak_hparams *hp, ak_router_config *cfg, ak_error *err);

/* The load -> route -> start -> tokenise steps of an engine command. */
typedef struct {
    int n_ctx;                 /* tokens of KV cache */
    int ctx_at_most_train;     /* 1: n_ctx cut to the model's training context, when it has one */
    int n_batch;               /* tokens per decode, cut to n_ctx; 0: n_ctx */
    int n_threads;             /* 0: all CPUs */
    int type_k, type_v;        /* KV cache types (ak_type; 0: f32), as -ctk/-ctv */
    int logits_last;           /* 1: logits of each batch's last token only (generation) */
    int no_repack;             /* 1: compute on the weights as the file lays them out (--no-repack) */
    ak_session_routing_fn routing; /* NULL: the native top-k */
    void *routing_user;
    const char *text;          /* tokenised into s->tokens (BOS as the vocabulary adds it); NULL: none */
    size_t text_len;
} ak_session_opts;

/* Loads the model (mp NULL: ak_model_default_params) and its tokenizer. 0, or -1 with a
 * message; *s is then empty. */
int ak_session_load(ak_session *s, const char *model_path, const ak_model_params *mp, ak_error *err);
/* Creates the context: n_ctx tokens of KV cache, n_batch tokens per decode, n_threads
 * (0: all CPUs), routing NULL for the model's native top-k. 0 or -1 with a message. */
int ak_session_start(ak_session *s, int n_ctx, int n_batch, int n_threads, const ak_router_config *routing,
                     ak_error *err);
void ak_session_close(ak_session *s);

/* ak_session_load, the routing, ak_session_start and ak_session_tokenize of o->text, in that
 * order. 0, or -1 with a message (then ak_session_close what was opened). */
int ak_session_open(ak_session *s, const char *model_path, const ak_session_opts *o, ak_error *err);

/* Tokenises text (add_bos: as the vocabulary says, like llama.cpp's add_special) into a
 * malloc'd array. Returns the count, or -1 with a message. */
int ak_session_tokenize(const ak_session *s, const char *text, size_t len, int add_bos, int32_t **out, ak_error *err);

/* Average K per token (all layers, and per layer) and compute saved against the native
 * top-k: expert MACs, whole-model MACs and expert bytes read, from the exact counters. */
double ak_session_avg_k(const ak_session *s);
void ak_session_print_routing(const ak_session *s, FILE *out);

/* llama.cpp's perplexity parameters for the session's model and vocabulary (BOS as the
 * vocabulary adds it); n_chunks -1: all. */
ak_ppl_params ak_session_ppl_params(const ak_session *s, int n_ctx, int n_batch, int n_chunks);

#endif
