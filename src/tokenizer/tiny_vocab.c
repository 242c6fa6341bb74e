/* tiny_vocab.c - small but valid vocabularies for generated models: pieces are prefix chains of
 * common English words, then letter pairs and triples, so that every multi-character piece
 * can be reached by merging two shorter ones (required by both BPE merges and SPM). Not every
 * word tokenizes whole (a later chain can lose to an earlier merge); the vocabulary only has
 * to be valid and plausible. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"

static const char *const common_words[] = {
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not",
    "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you",
    "were", "their", "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when", "will",
    "would", "who", "so", "no", "she", "other", "its", "may", "these", "about", "than", "them", "some",
    "time", "into", "only", "what", "new", "out", "first", "also", "people", "world", "model", "expert",
    "token", "router", "layer", "text", "number", "water", "history", "city", "music", "science", "language",
};

typedef struct {
    ak_strtab set;   /* raw bytes of every piece so far */
    int32_t *left, *right; /* per piece: the two pieces it merges from, -1 for base pieces */
    int n, cap, limit;
} builder;

static int32_t add_piece(builder *b, const char *s, size_t len, int32_t l, int32_t r) {
    int32_t id = ak_strtab_find(&b->set, s, len);
    if (id >= 0 || b->n >= b->limit) return id;
    if (b->n == b->cap) {
        int cap = b->cap ? b->cap * 2 : 1024;
        int32_t *nl = realloc(b->left, (size_t)cap * sizeof *nl);
        if (!nl) return -1;
        b->left = nl;
        int32_t *nr = realloc(b->right, (size_t)cap * sizeof *nr);
        if (!nr) return -1;
        b->right = nr, b->cap = cap;
    }
    id = ak_strtab_add(&b->set, s, len);
    if (id < 0) return -1;
    b->left[id] = l, b->right[id] = r;
    b->n++;
    return id;
}

/* Adds s and all its prefixes longer than first (each = previous prefix + one byte); the
 * first `first` bytes must already be a piece. */
static void add_chain(builder *b, const char *s, size_t first, size_t len) {
    int32_t prev = ak_strtab_find(&b->set, s, first);
    for (size_t i = first + 1; i <= len && prev >= 0; i++) {
        int32_t last = ak_strtab_find(&b->set, s + i - 1, 1);
        if (last < 0) return;
        prev = add_piece(b, s, i, prev, last);
    }
}

/* space: the byte that stands for a word-initial space in this vocabulary's raw form. */
static void grow(builder *b, const char *space, size_t space_len) {
    char w[64];
    for (size_t k = 0; k < sizeof common_words / sizeof common_words[0]; k++) {
        size_t l = strlen(common_words[k]);
        add_chain(b, common_words[k], 1, l);
        /* the spaced word merges whole: (space, word) */
        int32_t sp = ak_strtab_find(&b->set, space, space_len), word = ak_strtab_find(&b->set, common_words[k], l);
        memcpy(w, space, space_len);
        memcpy(w + space_len, common_words[k], l);
        if (sp >= 0 && word >= 0) add_piece(b, w, space_len + l, sp, word);
    }
    /* then: space+letter, letter pairs, letter triples, space+up to 3 letters, 4 letters */
    static const struct {
        int space, letters;
    } passes[] = {{1, 1}, {0, 2}, {0, 3}, {1, 3}, {0, 4}};
    for (size_t p = 0; p < sizeof passes / sizeof passes[0]; p++) {
        int n_letters = passes[p].letters, count = 1;
        for (int i = 0; i < n_letters; i++) count *= 26;
        for (int x = 0; x < count && b->n < b->limit; x++) {
            size_t n = 0;
            if (passes[p].space) memcpy(w, space, space_len), n = space_len;
            for (int i = n_letters - 1, v = x; i >= 0; i--, v /= 26) w[n + (size_t)i] = (char)('a' + v % 26);
            /* the first step is the space or the first letter: a piece already */
            add_chain(b, w, passes[p].space ? space_len : 1, n + (size_t)n_letters);
        }
    }
}

static void builder_free(builder *b) {
    ak_strtab_free(&b->set);
    free(b->left), free(b->right);
}

static int write_gpt2(gguf_writer *w, int n_target) {
    builder b = {0};
    b.limit = n_target - 1 < 256 + 64 ? 256 + 64 : n_target - 1; /* room for <|endoftext|> */
    int rc = -1;
    for (int c = 0; c < 256; c++) {
        char ch = (char)c;
        if (add_piece(&b, &ch, 1, -1, -1) != c) goto done;
    }
    grow(&b, " ", 1);
    int n_tok = b.n + 1, n_merges = b.n - 256;
    char **tokens = calloc((size_t)n_tok, sizeof *tokens), **merges = calloc((size_t)n_merges + 1, sizeof *merges);
    int32_t *types = malloc((size_t)n_tok * sizeof *types);
    if (!tokens || !merges || !types) goto free_arrays;
    for (int i = 0; i < b.n; i++) {
        size_t len;
        const char *s = ak_strtab_str(&b.set, i, &len);
        if (!(tokens[i] = malloc(2 * len + 1))) goto free_arrays;
        tokens[i][ak_gpt2_encode((const unsigned char *)s, len, tokens[i])] = 0;
        types[i] = AK_TOKTYPE_NORMAL;
    }
    tokens[b.n] = strdup("<|endoftext|>");
    types[b.n] = AK_TOKTYPE_CONTROL;
    if (!tokens[b.n]) goto free_arrays;
    for (int i = 256; i < b.n; i++) {
        const char *l = tokens[b.left[i]], *r = tokens[b.right[i]];
        if (!(merges[i - 256] = malloc(strlen(l) + strlen(r) + 2))) goto free_arrays;
        strcpy(merges[i - 256], l);
        strcat(merges[i - 256], " ");
        strcat(merges[i - 256], r);
    }
    gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_set_str(w, "tokenizer.ggml.pre", "olmo");
    gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tokens, (uint64_t)n_tok);
    gguf_set_arr_data(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, (uint64_t)n_tok);
    gguf_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges, (uint64_t)n_merges);
    gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)b.n);
    gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)b.n);
    gguf_set_bool(w, "tokenizer.ggml.add_bos_token", 0);
    gguf_set_bool(w, "tokenizer.ggml.add_eos_token", 0);
    rc = 0;
free_arrays:
    for (int i = 0; tokens && i < n_tok; i++) free(tokens[i]);
    for (int i = 0; merges && i < n_merges; i++) free(merges[i]);
    free(tokens), free(merges), free(types);
done:
    builder_free(&b);
    return rc;
}

static int write_llama(gguf_writer *w, int n_target) {
    builder b = {0};
    int n_fixed = 3 + 256;
    b.limit = n_target - n_fixed < 128 ? 128 : n_target - n_fixed;
    int rc = -1;
    /* base pieces: printable ASCII and the SentencePiece space U+2581 */
    static const char ws[] = "\xE2\x96\x81";
    if (add_piece(&b, ws, 3, -1, -1) < 0) goto done;
    for (int c = 0x21; c < 0x7F; c++) {
        char ch = (char)c;
        if (add_piece(&b, &ch, 1, -1, -1) < 0) goto done;
    }
    /* chains over U+2581 need it as one step: treat it as the space prefix */
    grow(&b, ws, 3);
    int n_tok = n_fixed + b.n;
    char **tokens = calloc((size_t)n_tok, sizeof *tokens);
    int32_t *types = malloc((size_t)n_tok * sizeof *types);
    float *scores = malloc((size_t)n_tok * sizeof *scores);
    if (!tokens || !types || !scores) goto free_arrays;
    static const char *const fixed[3] = {"<unk>", "<s>", "</s>"};
    static const int fixed_type[3] = {AK_TOKTYPE_UNKNOWN, AK_TOKTYPE_CONTROL, AK_TOKTYPE_CONTROL};
    for (int i = 0; i < 3; i++) {
        tokens[i] = strdup(fixed[i]);
        types[i] = fixed_type[i], scores[i] = 0;
    }
    for (int c = 0; c < 256; c++) {
        if ((tokens[3 + c] = malloc(8))) snprintf(tokens[3 + c], 8, "<0x%02X>", c);
        types[3 + c] = AK_TOKTYPE_BYTE, scores[3 + c] = 0;
    }
    for (int i = 0; i < b.n; i++) {
        size_t len;
        const char *s = ak_strtab_str(&b.set, i, &len);
        tokens[n_fixed + i] = strndup(s, len);
        types[n_fixed + i] = AK_TOKTYPE_NORMAL;
        scores[n_fixed + i] = -(float)i; /* earlier pieces first, like merge ranks */
    }
    for (int i = 0; i < n_tok; i++)
        if (!tokens[i]) goto free_arrays;
    gguf_set_str(w, "tokenizer.ggml.model", "llama");
    gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tokens, (uint64_t)n_tok);
    gguf_set_arr_data(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, (uint64_t)n_tok);
    gguf_set_arr_data(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, (uint64_t)n_tok);
    gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    gguf_set_bool(w, "tokenizer.ggml.add_bos_token", 1);
    gguf_set_bool(w, "tokenizer.ggml.add_eos_token", 0);
    rc = 0;
free_arrays:
    for (int i = 0; tokens && i < n_tok; i++) free(tokens[i]);
    free(tokens), free(types), free(scores);
done:
    builder_free(&b);
    return rc;
}

int ak_tokenizer_write_tiny_vocab(gguf_writer *w, const char *kind, int n_vocab_target) {
    if (!w || !kind) return -1;
    if (!strcmp(kind, "gpt2")) return write_gpt2(w, n_vocab_target);
    if (!strcmp(kind, "llama")) return write_llama(w, n_vocab_target);
    return -1;
}
