/* fuzz_tokenizer - a vocabulary from a hostile GGUF (tokens, types, merges, scores, special
 * ids, pre-tokenizer name) and arbitrary text through it.
 * Input: a little-endian u32 L, then L bytes of GGUF, then the text (the rest).
 * Properties: a vocabulary that does not load fails with a message; one that loads gives,
 * for the text with and without special tokens, a count that is the same when asked again
 * with room for it (ak_tokenize returns -count when the buffer is short), ids inside the
 * vocabulary, each of which turns back into a piece. There is no bound of one token per
 * byte: a SentencePiece vocabulary without "\u2581" spells each space as three byte tokens
 * (regressions/tokenizer/spm_space_as_three_byte_tokens; llama.cpp does the same). */
#include <string.h>

#include "fuzz.h"
#include "tokenizer/tokenizer.h"

static void tokenize_all_ways(const ak_tokenizer *t, const char *text, size_t len) {
    int n_vocab = ak_tokenizer_n_vocab(t), cap = (int)len + 8;
    int32_t *ids = malloc(sizeof *ids * (size_t)cap);
    char piece[512];
    if (!ids) abort();
    for (int mode = 0; mode < 4; mode++) {
        int n = ak_tokenize(t, text, len, mode & 1, mode >> 1, ids, cap);
        FUZZ_CHECK(n != INT32_MIN);
        if (n < 0) { /* short buffer: the exact count, then the same count with room for it */
            cap = -n;
            if (!(ids = realloc(ids, sizeof *ids * (size_t)cap))) abort();
            int again = ak_tokenize(t, text, len, mode & 1, mode >> 1, ids, cap);
            FUZZ_CHECK(again == -n);
            n = again;
        }
        for (int i = 0; i < n; i++) {
            FUZZ_CHECK(ids[i] >= 0 && ids[i] < n_vocab);
            FUZZ_CHECK(ak_token_to_piece(t, ids[i], piece, sizeof piece) != INT32_MIN);
        }
    }
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4) return 0;
    uint32_t L;
    memcpy(&L, data, 4);
    if (L > size - 4) L = (uint32_t)(size - 4);
    uint8_t *gguf = fuzz_aligned_copy(data + 4, L);
    ak_error err = {0};
    gguf_file *f = gguf_open_buffer(gguf, L, &err);
    ak_tokenizer *t = f ? ak_tokenizer_load(f, &err) : NULL;
    if (f && !t) FUZZ_CHECK(err.msg[0]);
    if (t) tokenize_all_ways(t, (const char *)data + 4 + L, size - 4 - L);
    ak_tokenizer_free(t);
    gguf_close(f);
    free(gguf);
    return 0;
}
