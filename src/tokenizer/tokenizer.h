/*
 * tokenizer.h - tokenizers read from GGUF (tokenizer.ggml.*), following llama.cpp's semantics:
 *   "gpt2"  byte-level BPE, merges applied by rank, pre-tokenizer chosen by tokenizer.ggml.pre
 *           ("default"/"gpt2", "olmo", "qwen2", "llama3", ...; unknown -> default with a warning);
 *   "llama" SentencePiece (greedy best-score bigram merging, byte fallback to <0xXX>, <unk>).
 *
 * Invalid UTF-8 is not an error: for BPE every stray byte maps through its byte token, so
 * detokenize(tokenize(x)) == x for any bytes (llama.cpp substitutes U+FFFD there instead; the
 * split into words is the same). SPM works on bytes and falls back to <0xXX> tokens.
 */
#ifndef AK_TOKENIZER_H
#define AK_TOKENIZER_H

#include "adaptivek.h" /* ak_error */
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"

typedef struct ak_tokenizer ak_tokenizer;

/* Reads tokenizer.ggml.* from an open GGUF file. NULL with a message in err on failure. */
ak_tokenizer *ak_tokenizer_load(const gguf_file *f, ak_error *err);
/* Byte-level BPE from arrays (trainer, tests): tokens in id order, GPT-2 byte-to-unicode encoded
 * as in GGUF; merges "a b" in rank order; pre = pre-tokenizer name as in tokenizer.ggml.pre
 * (NULL = "default"); bos/eos ids or -1. */
ak_tokenizer *ak_tokenizer_create_bpe(const char *const *tokens, int n_vocab, const char *const *merges,
                                      int n_merges, const char *pre, int32_t bos, int32_t eos, ak_error *err);
void ak_tokenizer_free(ak_tokenizer *t);

int ak_tokenizer_n_vocab(const ak_tokenizer *t);
int32_t ak_tokenizer_bos(const ak_tokenizer *t); /* -1 if none */
int32_t ak_tokenizer_eos(const ak_tokenizer *t);
int ak_tokenizer_add_bos(const ak_tokenizer *t); /* tokenizer.ggml.add_bos_token, else model default */
int ak_tokenizer_is_eog(const ak_tokenizer *t, int32_t id); /* end of generation (eos, eot, ...) */

/* Returns the token count; if it exceeds max_tokens returns -(count) and writes nothing beyond
 * max_tokens; INT32_MIN on invalid arguments. add_special: add BOS (and EOS if the vocab says
 * so); parse_special: recognise control/user-defined token texts inside text. */
int ak_tokenize(const ak_tokenizer *t, const char *text, size_t len, int add_special, int parse_special,
                int32_t *tokens, int max_tokens);
/* UTF-8 bytes of one token (byte-level decoding for BPE, U+2581 -> space and <0xXX> for SPM);
 * returns bytes written (no NUL) or -(needed) if len is too small; INT32_MIN for a bad id. */
int ak_token_to_piece(const ak_tokenizer *t, int32_t id, char *buf, int len);

/* Writes a small valid vocabulary (tokenizer.ggml.model, tokens, token_type, merges or scores,
 * bos/eos ids, pre) into a GGUF writer: kind "gpt2" (256 byte tokens, merges, special tokens) or
 * "llama" (SentencePiece: <unk>, <s>, </s>, 256 <0xXX> tokens, scored pieces). n_vocab_target is
 * a hint (clamped to what the kind can fill). Returns 0 / -1. */
int ak_tokenizer_write_tiny_vocab(gguf_writer *w, const char *kind, int n_vocab_target);

#endif
