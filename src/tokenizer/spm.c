/* spm.c - SentencePiece as llama.cpp runs it: start from UTF-8 characters, repeatedly merge
 * the adjacent pair whose concatenation is the highest-scoring token (leftmost on ties);
 * pieces that are not tokens fall back to <0xXX> byte tokens, else <unk>. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"

typedef struct {
    int32_t start, n; /* bytes; n == 0 once merged into the left neighbour */
    int32_t prev, next;
} piece;

typedef struct {
    float score;
    int32_t left, right, size;
} pair;

static int pair_before(const pair *a, const pair *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void push(pair *h, int *n, pair p) {
    int i = (*n)++;
    while (i > 0 && pair_before(&p, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = p;
}

static pair pop(pair *h, int *n) {
    pair top = h[0], last = h[--*n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && pair_before(&h[c + 1], &h[c])) c++;
        if (!pair_before(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

static void try_pair(const ak_tokenizer *t, const char *text, const piece *p, int left, pair *heap, int *n_heap) {
    if (left < 0 || p[left].next < 0) return;
    int right = p[left].next;
    int32_t size = p[left].n + p[right].n;
    int32_t id = ak_strtab_find(&t->text, text + p[left].start, (size_t)size);
    if (id < 0 || id >= t->n_vocab) return;
    push(heap, n_heap, (pair){t->scores[id], left, right, size});
}

/* Character length by lead byte, as llama.cpp (a stray continuation byte counts as one). */
static const uint8_t utf8_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};

/* Merges one run of text (indices into p and heap start at 0) and emits its tokens. */
static void spm_run(const ak_tokenizer *t, const char *text, size_t len, piece *p, pair *heap, ak_tok_out *o) {
    int n = 0;
    for (size_t off = 0; off < len; n++) {
        size_t l = utf8_len[(unsigned char)text[off] >> 4];
        if (l > len - off) l = len - off;
        p[n] = (piece){(int32_t)off, (int32_t)l, n - 1, off + l < len ? n + 1 : -1};
        off += l;
    }
    int n_heap = 0;
    for (int i = 0; i + 1 < n; i++) try_pair(t, text, p, i, heap, &n_heap);
    while (n_heap) {
        pair b = pop(heap, &n_heap);
        piece *l = &p[b.left], *r = &p[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) p[r->next].prev = b.left;
        try_pair(t, text, p, l->prev, heap, &n_heap);
        try_pair(t, text, p, b.left, heap, &n_heap);
    }
    for (int i = 0; i >= 0; i = p[i].next) {
        int32_t id = ak_strtab_find(&t->text, text + p[i].start, (size_t)p[i].n);
        if (id >= 0 && id < t->n_vocab) {
            ak_tok_push(o, id);
            continue;
        }
        for (int32_t j = 0; j < p[i].n; j++) {
            int32_t b = t->byte_token[(unsigned char)text[p[i].start + j]];
            if (b < 0) b = t->unk;
            if (b >= 0) ak_tok_push(o, b);
        }
    }
}

static int is_ws_at(const char *s, size_t len, size_t i) {
    return i + 3 <= len && !memcmp(s + i, "\xE2\x96\x81", 3);
}

int ak_spm_fragment(const ak_tokenizer *t, const char *text, size_t len, ak_tok_out *o) {
    if (len == 0) return 0;
    if (len > INT32_MAX / 4) return -1;
    piece *p = malloc(len * sizeof *p);
    pair *heap = malloc(3 * len * sizeof *heap);
    if (!p || !heap) {
        free(p), free(heap);
        return -1;
    }
    /* When no piece has U+2581 after other text, no merge can cross the start of a new run of
     * U+2581, so runs are merged separately: same result, far smaller heaps. */
    size_t start = 0;
    if (t->spm_split_words) {
        /* cut only at character boundaries as the merge loop sees them (bad bytes included) */
        int prev_ws = 0;
        for (size_t i = 0; i < len;) {
            int ws = is_ws_at(text, len, i);
            if (ws && !prev_ws && i > start) {
                spm_run(t, text + start, i - start, p, heap, o);
                start = i;
            }
            size_t l = utf8_len[(unsigned char)text[i] >> 4];
            i += l < len - i ? l : len - i;
            prev_ws = ws;
        }
    }
    spm_run(t, text + start, len - start, p, heap, o);
    free(p), free(heap);
    return 0;
}
