/* pretokenize.h - the BPE pre-tokenizers: llama.cpp's regexes as hand-written scanners over
 * code points (no regex engine). */
#ifndef AK_TOKENIZER_PRETOKENIZE_H
#define AK_TOKENIZER_PRETOKENIZE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    AK_PRE_DEFAULT, /* llama.cpp's default chain: punctuation runs, GPT-2, digit runs, 3 digits */
    AK_PRE_GPT2,    /* GPT-2 regex (also "olmo", "gpt-2", "mpt", ...) */
    AK_PRE_LLAMA3,  /* case-insensitive contractions, \p{N}{1,3}, newline handling */
    AK_PRE_QWEN2,   /* as llama3 but single digits */
    AK_PRE_GPT4O,   /* o200k (gpt-oss, "gpt-4o", "llama4"): case-aware words, contractions attached */
} ak_pre_type;

/* Maps a tokenizer.ggml.pre name to a type; returns -1 if unknown. */
int ak_pre_type_from_name(const char *name, ak_pre_type *out);

/* Splits cps[0..n) (flags[i] = ak_ucat_flags(cps[i])) into words. Writes the end (exclusive
 * index) of each word into ends, which needs room for n entries; tmp is scratch of n entries.
 * Returns the word count. */
size_t ak_pretokenize(ak_pre_type type, const uint32_t *cps, const uint16_t *flags, size_t n, size_t *ends,
                      size_t *tmp);

#endif
