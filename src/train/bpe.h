/* bpe.h - byte-level BPE vocabulary: training on a text, a small text file format, and
 * an encoder (used to encode the training corpus; the runtime tokenizer lives in
 * src/tokenizer and reads the same vocabulary from the GGUF file).
 *
 * Token ids: 0..255 are the single bytes, then one token per merge that produced a new
 * string, then <|endoftext|> (BOS and EOS) last. Token strings are stored as raw bytes;
 * ak_bpe_token_gpt2 gives GPT-2's printable form used in GGUF files and merges. */
#ifndef AK_TRAIN_BPE_H
#define AK_TRAIN_BPE_H

#include "adaptivek.h" /* ak_error */
#include <stddef.h>
#include <stdint.h>

#define AK_BPE_EOT "<|endoftext|>"

typedef struct ak_bpe ak_bpe;

/* Trains on text until the vocabulary (bytes + merges + <|endoftext|>) has vocab_size
 * tokens or no pair occurs twice. NULL with a message in err on failure. */
ak_bpe *ak_bpe_train(const char *text, size_t len, int vocab_size, ak_error *err);
void ak_bpe_free(ak_bpe *b);

int ak_bpe_n_tokens(const ak_bpe *b);
int ak_bpe_n_merges(const ak_bpe *b);
int ak_bpe_eot(const ak_bpe *b); /* id of <|endoftext|> */
/* Raw bytes of token id (not NUL-terminated); <|endoftext|> is its literal text. */
const char *ak_bpe_token_bytes(const ak_bpe *b, int id, int *len);
/* GPT-2 printable string of token id / merge i ("left right"), NUL-terminated, into buf;
 * returns its length or -1 if buf is too small. */
int ak_bpe_token_gpt2(const ak_bpe *b, int id, char *buf, size_t cap);
int ak_bpe_merge_gpt2(const ak_bpe *b, int i, char *buf, size_t cap);
int ak_bpe_token_type(const ak_bpe *b, int id); /* 1 normal, 3 control (GGUF token_type) */

/* Text file: "ak-bpe 1", "tokens N", N GPT-2 strings, "merges M", M lines "a b". */
int ak_bpe_save(const ak_bpe *b, const char *path, ak_error *err);
ak_bpe *ak_bpe_load(const char *path, ak_error *err);

/* Encodes text (no BOS added) into a new array *out of *n_out ids; 0 or -1 (out of memory). */
int ak_bpe_encode(ak_bpe *b, const char *text, size_t len, int32_t **out, size_t *n_out);

#endif
