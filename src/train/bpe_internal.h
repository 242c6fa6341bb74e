/* bpe_internal.h - the ak_bpe struct, shared by bpe.c (vocabulary, file, encoder) and
 * bpe_train.c. */
#ifndef AK_TRAIN_BPE_INTERNAL_H
#define AK_TRAIN_BPE_INTERNAL_H

#include "bpe.h"
#include "hashmap.h"

struct ak_bpe {
    int n_tokens, cap_tokens;
    char **tok; /* raw bytes, owned */
    int *tok_len;
    int n_merges, cap_merges;
    int32_t (*merge)[3]; /* left, right, result */
    int eot;
    ak_strmap tok_ids;   /* bytes -> id */
    ak_u64map merge_ids; /* (left << 32 | right) -> merge rank */
    /* encoder cache: word -> offset of its ids in cache_ids (length in the high bits) */
    ak_strmap cache;
    int32_t *cache_ids;
    size_t cache_n, cache_cap;
};

ak_bpe *ak_bpe_new(void);
/* Adds a token (returns its id, or the existing id if the string is known); -1 on OOM. */
int ak_bpe_add_token(ak_bpe *b, const char *bytes, int len);
/* Records merge (left,right) -> the token of their concatenation; -1 on OOM. */
int ak_bpe_add_merge(ak_bpe *b, int left, int right);

#endif
