/* bpe_train.c - byte-level BPE training with incremental pair counts.
 *
 * The text is split into GPT-2 pre-tokens and identical words are counted once. Each
 * pair of adjacent symbols keeps its total count and the list of words it occurs in, so
 * a merge only revisits the words that contain the merged pair. */
#include "base/errfmt.h"
#include "bpe_internal.h"
#include "pretok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t count;
    int32_t *sym;
    int n_sym;
    uint32_t stamp;
} word_t;

typedef struct {
    uint64_t key;
    int64_t count;
    int32_t *words; /* may hold stale and repeated entries */
    int n_words, cap_words;
} pair_t;

typedef struct {
    word_t *words;
    size_t n_words;
    pair_t *pairs;
    size_t n_pairs, cap_pairs;
    ak_u64map pair_index;
} trainer;

static uint64_t pair_key(int32_t a, int32_t b) {
    return (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
}

static pair_t *pair_get(trainer *t, uint64_t key) {
    int inserted;
    int64_t *slot = ak_u64map_put(&t->pair_index, key, (int64_t)t->n_pairs, &inserted);
    if (!slot) return NULL;
    if (inserted) {
        if (t->n_pairs == t->cap_pairs) {
            size_t cap = t->cap_pairs ? t->cap_pairs * 2 : 4096;
            pair_t *p = realloc(t->pairs, cap * sizeof *p);
            if (!p) return NULL;
            t->pairs = p;
            t->cap_pairs = cap;
        }
        memset(&t->pairs[t->n_pairs], 0, sizeof(pair_t));
        t->pairs[t->n_pairs].key = key;
        t->n_pairs++;
    }
    return &t->pairs[*slot];
}

/* Adds sign * the word's count to each of its pairs (and lists the word under them). */
static int count_word_pairs(trainer *t, int32_t w, int sign) {
    word_t *wd = &t->words[w];
    for (int i = 0; i + 1 < wd->n_sym; i++) {
        pair_t *p = pair_get(t, pair_key(wd->sym[i], wd->sym[i + 1]));
        if (!p) return -1;
        p->count += sign * wd->count;
        if (sign > 0) {
            if (p->n_words == p->cap_words) {
                int cap = p->cap_words ? p->cap_words * 2 : 4;
                int32_t *nw = realloc(p->words, (size_t)cap * sizeof *nw);
                if (!nw) return -1;
                p->words = nw;
                p->cap_words = cap;
            }
            p->words[p->n_words++] = w;
        }
    }
    return 0;
}

static int merge_in_word(word_t *wd, int32_t a, int32_t b, int32_t to) {
    int m = 0, changed = 0;
    for (int i = 0; i < wd->n_sym; i++) {
        if (i + 1 < wd->n_sym && wd->sym[i] == a && wd->sym[i + 1] == b) {
            wd->sym[m++] = to;
            i++;
            changed = 1;
        } else {
            wd->sym[m++] = wd->sym[i];
        }
    }
    wd->n_sym = m;
    return changed;
}

static void trainer_free(trainer *t) {
    for (size_t i = 0; i < t->n_words; i++) free(t->words[i].sym);
    free(t->words);
    for (size_t i = 0; i < t->n_pairs; i++) free(t->pairs[i].words);
    free(t->pairs);
    ak_u64map_free(&t->pair_index);
}

/* Splits the text into words and counts them. */
static int collect_words(trainer *t, const char *text, size_t len) {
    ak_strmap seen = {0};
    size_t cap = 0;
    int rc = -1;
    for (size_t pos = 0; pos < len;) {
        size_t end = ak_pretok_next(text, len, pos);
        int inserted;
        int64_t *slot = ak_strmap_put(&seen, text + pos, end - pos, (int64_t)t->n_words, &inserted);
        if (!slot) goto done;
        if (inserted) {
            if (t->n_words == cap) {
                cap = cap ? cap * 2 : 4096;
                word_t *w = realloc(t->words, cap * sizeof *w);
                if (!w) goto done;
                t->words = w;
            }
            word_t *w = &t->words[t->n_words++];
            memset(w, 0, sizeof *w);
            w->sym = malloc((end - pos) * sizeof *w->sym);
            if (!w->sym) goto done;
            for (size_t i = pos; i < end; i++) w->sym[w->n_sym++] = (uint8_t)text[i];
        }
        t->words[*slot].count++;
        pos = end;
    }
    rc = 0;
done:
    ak_strmap_free(&seen);
    return rc;
}

ak_bpe *ak_bpe_train(const char *text, size_t len, int vocab_size, ak_error *err) {
    if (vocab_size < 257 || vocab_size > 1 << 20) {
        ak_failf(err, AK_ERR_INVALID_ARG, "vocabulary size %d out of range (257..%d)", vocab_size, 1 << 20);
        return NULL;
    }
    trainer t = {0};
    ak_bpe *b = ak_bpe_new();
    if (!b) goto oom;
    for (int i = 0; i < 256; i++) {
        char c = (char)i;
        if (ak_bpe_add_token(b, &c, 1) != i) goto oom;
    }
    if (collect_words(&t, text, len)) goto oom;
    for (size_t w = 0; w < t.n_words; w++)
        if (count_word_pairs(&t, (int32_t)w, +1)) goto oom;

    uint32_t stamp = 0;
    while (b->n_tokens < vocab_size - 1) {
        size_t best = SIZE_MAX;
        for (size_t i = 0; i < t.n_pairs; i++) {
            const pair_t *p = &t.pairs[i];
            if (p->count < 2) continue;
            if (best == SIZE_MAX || p->count > t.pairs[best].count ||
                (p->count == t.pairs[best].count && p->key < t.pairs[best].key))
                best = i;
        }
        if (best == SIZE_MAX) break;
        int32_t a = (int32_t)(t.pairs[best].key >> 32), c = (int32_t)(t.pairs[best].key & 0xFFFFFFFFu);
        int32_t to = ak_bpe_add_merge(b, a, c);
        if (to < 0) goto oom;
        /* take the word list: updates below may grow the pair array */
        int32_t *words = t.pairs[best].words;
        int n_words = t.pairs[best].n_words;
        t.pairs[best].words = NULL;
        t.pairs[best].n_words = t.pairs[best].cap_words = 0;
        stamp++;
        for (int i = 0; i < n_words; i++) {
            word_t *wd = &t.words[words[i]];
            if (wd->stamp == stamp) continue;
            wd->stamp = stamp;
            int32_t *copy = malloc((size_t)wd->n_sym * sizeof *copy);
            if (!copy) {
                free(words);
                goto oom;
            }
            memcpy(copy, wd->sym, (size_t)wd->n_sym * sizeof *copy);
            int n_before = wd->n_sym;
            if (!merge_in_word(wd, a, c, to)) {
                free(copy);
                continue;
            }
            /* subtract the old pairs, add the new ones */
            int n_after = wd->n_sym;
            int32_t *after = wd->sym;
            wd->sym = copy;
            wd->n_sym = n_before;
            int bad = count_word_pairs(&t, words[i], -1);
            wd->sym = after;
            wd->n_sym = n_after;
            free(copy);
            if (bad || count_word_pairs(&t, words[i], +1)) {
                free(words);
                goto oom;
            }
        }
        free(words);
    }
    b->eot = ak_bpe_add_token(b, AK_BPE_EOT, (int)strlen(AK_BPE_EOT));
    if (b->eot < 0) goto oom;
    trainer_free(&t);
    return b;
oom:
    ak_failf(err, AK_ERR_NOMEM, "out of memory training the tokenizer");
    trainer_free(&t);
    ak_bpe_free(b);
    return NULL;
}
