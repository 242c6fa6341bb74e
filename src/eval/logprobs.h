/*
 * logprobs.h - the scored positions' log-probabilities of a perplexity run, kept compactly
 * (in memory or in a file) as the base for KL divergence: `perplexity --save-logits` on the
 * full-K run writes them, `--kl-base` reads them.
 *
 * File format (all little-endian):
 *   header, 64 bytes:
 *     0  char[8]  magic "AKLOGPR1"
 *     8  u32      version (1)
 *    12  u32      n_vocab
 *    16  u32      n_ctx             chunk length of the run
 *    20  u32      n_chunks
 *    24  u32      rows_per_chunk    scored positions per chunk (n_ctx - 1 - n_ctx/2)
 *    28  u32      row_bytes         16 + 2 * n_vocab
 *    32  u64      tokens_hash       FNV-1a 64 of the evaluated tokens (n_chunks * n_ctx int32)
 *    40  u64      n_rows            n_chunks * rows_per_chunk
 *    48  u8[16]   zero
 *   then n_rows rows in (chunk, position) order, each:
 *     f32 top        log-probability of the most likely token (code 65535)
 *     i32 argmax     the most likely token (lowest id on ties)
 *     i32 next       the token that follows the position (the one scored)
 *     f32 nll_next   its exact negative log-likelihood
 *     u16[n_vocab]   codes: log p = top - AK_LOGPROB_RANGE * (65535 - code) / 65535;
 *                    code 0 means log p <= top - AK_LOGPROB_RANGE (taken as p = 0)
 * The loader checks the magic, version, sizes against the file length, and every row's
 * argmax and token ids; the KL run checks n_vocab, n_ctx and the tokens hash.
 */
#ifndef AK_EVAL_LOGPROBS_H
#define AK_EVAL_LOGPROBS_H

#include "adaptivek.h" /* ak_error */
#include <stddef.h>
#include <stdint.h>

#define AK_LOGPROB_RANGE 24.0f /* nats below the top token that are kept */
#define AK_LOGPROB_HEADER 64

typedef struct {
    int n_vocab;
    int n_ctx;
    int n_chunks;
    int rows_per_chunk;
    size_t row_bytes;
    uint64_t tokens_hash;
    int64_t n_rows;
    unsigned char *rows; /* n_rows * row_bytes */
} ak_logprobs;

/* FNV-1a 64 over the int32 tokens (as little-endian bytes). */
uint64_t ak_tokens_hash(const int32_t *tokens, int64_t n);

/* Allocates the rows of a run of n_chunks chunks of n_ctx tokens. 0, or -1 with a message. */
int ak_logprobs_init(ak_logprobs *lp, int n_vocab, int n_ctx, int n_chunks, ak_error *err);
void ak_logprobs_free(ak_logprobs *lp);

/* Row of a scored position (pos in n_ctx/2 .. n_ctx-2), or -1 when out of range. */
int64_t ak_logprobs_row(const ak_logprobs *lp, int chunk, int pos);

/* Stores the log-softmax of logits (quantised) and the next token in row r. */
void ak_logprobs_put(ak_logprobs *lp, int64_t r, const float *logits, int32_t next_token);

/* Reads row r: logp[n_vocab] (-INFINITY for code 0), and optionally the argmax, the next
 * token and its exact NLL. */
void ak_logprobs_get(const ak_logprobs *lp, int64_t r, float *logp, int32_t *argmax, int32_t *next, double *nll_next);

int ak_logprobs_save(const ak_logprobs *lp, const char *path, ak_error *err);
/* Loads and checks a file (see the format above). 0, or -1 with a message naming it. */
int ak_logprobs_load(ak_logprobs *lp, const char *path, ak_error *err);

#endif
