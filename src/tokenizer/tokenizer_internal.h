/* tokenizer_internal.h - the tokenizer's tables, shared by its source files. */
#ifndef AK_TOKENIZER_INTERNAL_H
#define AK_TOKENIZER_INTERNAL_H

#include "adaptivek.h" /* ak_error */
#include <stddef.h>
#include <stdint.h>

#include "tokenizer/pretokenize.h"
#include "tokenizer/tokenizer.h"

/* GGUF tokenizer.ggml.token_type values (llama.cpp's llama_token_type). */
enum {
    AK_TOKTYPE_UNDEFINED = 0,
    AK_TOKTYPE_NORMAL = 1,
    AK_TOKTYPE_UNKNOWN = 2,
    AK_TOKTYPE_CONTROL = 3,
    AK_TOKTYPE_USER_DEFINED = 4,
    AK_TOKTYPE_UNUSED = 5,
    AK_TOKTYPE_BYTE = 6,
};

typedef enum { AK_TOK_BPE, AK_TOK_SPM } ak_tok_kind;

/* Interned byte strings: ids 0..n_vocab-1 are the tokens, later ids are BPE merge results
 * that are not tokens themselves. */
typedef struct {
    char *bytes;
    size_t bytes_len, bytes_cap;
    uint32_t *off, *len;
    int32_t n, cap;
    int32_t *slots; /* open addressing, -1 empty */
    uint32_t n_slots;
} ak_strtab;

typedef struct {
    uint64_t key; /* left << 32 | right; UINT64_MAX empty */
    int32_t rank, result;
} ak_pair_slot;

struct ak_tokenizer {
    ak_tok_kind kind;
    int n_vocab;
    ak_strtab text;   /* token text as stored in GGUF (lookups for SPM, special tokens) */
    ak_strtab raw;    /* BPE: decoded bytes of each token (+ merge results); SPM: unused */
    uint8_t *type;    /* token type per id */
    float *scores;    /* SPM */
    ak_pair_slot *pairs;
    uint32_t n_pair_slots;
    int32_t byte_token[256]; /* token of each raw byte, -1 if none */
    int32_t byte_str[256];   /* BPE: raw-string id of each single byte */
    int32_t *specials;       /* control/user-defined/unknown ids, longest text first */
    int n_specials;
    int32_t eog[8];
    int n_eog;
    int32_t bos, eos, unk;
    int add_bos, add_eos, add_space_prefix, ignore_merges;
    int spm_split_words; /* SPM: no piece has U+2581 after other text (see spm.c) */
    ak_pre_type pre;
};

void ak_strtab_free(ak_strtab *t);
/* Adds s (not deduplicated: a later equal string shadows earlier ones in lookups). Returns
 * its id or -1 when out of memory. */
int32_t ak_strtab_add(ak_strtab *t, const char *s, size_t len);
int32_t ak_strtab_find(const ak_strtab *t, const char *s, size_t len);
static inline const char *ak_strtab_str(const ak_strtab *t, int32_t id, size_t *len) {
    *len = t->len[id];
    return t->bytes + t->off[id];
}

/* GPT-2 byte-to-unicode: decodes a token's text into raw bytes (out has room for len bytes);
 * returns the byte count or -1 if a character is not one of the 256 byte characters. */
int ak_gpt2_decode(const char *s, size_t len, char *out);
/* Encodes raw bytes into GPT-2 characters (out: 2 bytes per input byte); returns length. */
size_t ak_gpt2_encode(const unsigned char *s, size_t len, char *out);

/* Word-level algorithms: append to out (capacity cap) counting past it in *n. */
typedef struct {
    int32_t *out;
    int cap;
    int64_t n;
} ak_tok_out;

static inline void ak_tok_push(ak_tok_out *o, int32_t id) {
    if (o->n < o->cap) o->out[o->n] = id;
    o->n++;
}

/* BPE on one raw fragment (pre-tokenized inside); SPM on one fragment (already escaped).
 * Return 0 or -1 when out of memory. */
int ak_bpe_fragment(const ak_tokenizer *t, const char *text, size_t len, ak_tok_out *o);
int ak_spm_fragment(const ak_tokenizer *t, const char *text, size_t len, ak_tok_out *o);

/* Builds the merge-rank table from "a b" merges (GPT-2 encoded); 0 or -1 with err. */
int ak_bpe_build_merges(ak_tokenizer *t, const char *const *merges, const size_t *merge_lens, int n_merges,
                        ak_error *err);
/* Shared constructor tail: specials, eog, byte tokens. 0 or -1 with err. */
int ak_tokenizer_finish(ak_tokenizer *t, ak_error *err);
ak_tokenizer *ak_tokenizer_alloc(ak_tok_kind kind, int n_vocab);

#endif
