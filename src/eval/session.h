/* session.h - what every engine command sets up: the model, its tokenizer and a context
 * with a routing policy; tokenising a text; the routing and compute summary they print. */
#ifndef AK_EVAL_SESSION_H
#define AK_EVAL_SESSION_H

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
} ak_session;

/* Loads the model and its tokenizer. 0, or -1 with a message; *s is then empty. */
int ak_session_load(ak_session *s, const char *model_path, char *err, size_t errlen);
/* Creates the context: n_ctx tokens of KV cache, n_batch tokens per decode, n_threads
 * (0: all CPUs), routing NULL for the model's native top-k. 0 or -1 with a message. */
int ak_session_start(ak_session *s, int n_ctx, int n_batch, int n_threads, const ak_router_config *routing,
                     char *err, size_t errlen);
void ak_session_close(ak_session *s);

/* Tokenises text (add_bos: as the vocabulary says, like llama.cpp's add_special) into a
 * malloc'd array. Returns the count, or -1 with a message. */
int ak_session_tokenize(const ak_session *s, const char *text, size_t len, int add_bos, int32_t **out, char *err,
                        size_t errlen);

/* Average K per token (all layers, and per layer) and compute saved against the native
 * top-k: expert MACs, whole-model MACs and expert bytes read, from the exact counters. */
double ak_session_avg_k(const ak_session *s);
void ak_session_print_routing(const ak_session *s, FILE *out);

/* llama.cpp's perplexity parameters for the session's model and vocabulary (BOS as the
 * vocabulary adds it); n_chunks -1: all. */
ak_ppl_params ak_session_ppl_params(const ak_session *s, int n_ctx, int n_batch, int n_chunks);
/* Reads a whole file into a NUL-terminated malloc'd buffer. NULL with a message. */
char *ak_read_whole_file(const char *path, size_t *len, char *err, size_t errlen);

#endif
