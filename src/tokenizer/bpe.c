/* bpe.c - byte-level BPE: GPT-2 byte characters, merge ranks, and the per-word merge loop
 * (lowest rank first, leftmost on ties, as llama.cpp). Works on raw bytes: each GPT-2 byte
 * character stands for exactly one byte, so merging bytes is merging characters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errfmt.h"
#include "tokenizer/tokenizer_internal.h"
#include "tokenizer/unicode.h"

/* GPT-2's printable stand-in for each byte: the byte itself if printable Latin-1, else
 * U+0100 + its index among the 68 other bytes (0x00-0x20, 0x7F-0xA0, 0xAD, in order). */
static uint32_t byte_char(unsigned b) {
    if (b <= 0x20) return 256 + b;
    if (b >= 0x7F && b <= 0xA0) return 256 + 33 + (b - 0x7F);
    if (b == 0xAD) return 256 + 67;
    return b;
}

static int char_byte(uint32_t cp) {
    if (cp < 256) return cp <= 0x20 || (cp >= 0x7F && cp <= 0xA0) || cp == 0xAD ? -1 : (int)cp;
    if (cp < 256 + 33) return (int)(cp - 256);
    if (cp < 256 + 67) return (int)(cp - 256 - 33 + 0x7F);
    return cp == 256 + 67 ? 0xAD : -1;
}

int ak_gpt2_decode(const char *s, size_t len, char *out) {
    size_t i = 0;
    int n = 0;
    while (i < len) {
        int l, b;
        uint32_t cp = ak_utf8_decode((const unsigned char *)s + i, len - i, &l);
        if ((b = char_byte(cp)) < 0) return -1;
        out[n++] = (char)b;
        i += (size_t)l;
    }
    return n;
}

size_t ak_gpt2_encode(const unsigned char *s, size_t len, char *out) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) n += (size_t)ak_utf8_encode(byte_char(s[i]), out + n);
    return n;
}

/* ---------------------------------------------------------------- merge table */

static uint32_t pair_hash(uint64_t key) {
    key *= 0x9E3779B97F4A7C15ull;
    return (uint32_t)(key >> 32);
}

static const ak_pair_slot *pair_find(const ak_tokenizer *t, int32_t a, int32_t b) {
    if (!t->n_pair_slots) return NULL;
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    uint32_t h = pair_hash(key) & (t->n_pair_slots - 1);
    while (t->pairs[h].key != UINT64_MAX) {
        if (t->pairs[h].key == key) return &t->pairs[h];
        h = (h + 1) & (t->n_pair_slots - 1);
    }
    return NULL;
}

int ak_bpe_build_merges(ak_tokenizer *t, const char *const *merges, const size_t *merge_lens, int n_merges,
                        ak_error *err) {
    uint32_t n_slots = 1024;
    while (n_slots < (uint64_t)n_merges * 2) n_slots *= 2;
    t->pairs = malloc(n_slots * sizeof *t->pairs);
    size_t max_len = 0;
    for (int i = 0; i < n_merges; i++)
        if (merge_lens[i] > max_len) max_len = merge_lens[i];
    char *buf = malloc(max_len + 1);
    if (!t->pairs || !buf) {
        free(buf);
        ak_failf(err, AK_ERR_NOMEM, "out of memory");
        return -1;
    }
    t->n_pair_slots = n_slots;
    for (uint32_t i = 0; i < n_slots; i++) t->pairs[i].key = UINT64_MAX;
    for (int i = 0; i < n_merges; i++) {
        const char *m = merges[i];
        size_t len = merge_lens[i];
        const char *sp = len > 1 ? memchr(m + 1, ' ', len - 1) : NULL; /* as llama.cpp: first space after char 0 */
        if (!sp) {
            ak_failf(err, AK_ERR_FORMAT, "merge %d ('%.*s') is not 'left right'", i, (int)(len > 60 ? 60 : len), m);
            free(buf);
            return -1;
        }
        int32_t ids[2];
        const char *part[2] = {m, sp + 1};
        size_t part_len[2] = {(size_t)(sp - m), len - (size_t)(sp - m) - 1};
        for (int k = 0; k < 2; k++) {
            int32_t tok = ak_strtab_find(&t->text, part[k], part_len[k]);
            int n = ak_gpt2_decode(part[k], part_len[k], buf);
            ids[k] = n >= 0 ? ak_strtab_find(&t->raw, buf, (size_t)n) : -1;
            if (tok < 0 || ids[k] < 0) {
                ak_failf(err, AK_ERR_FORMAT, "merge %d ('%.*s') refers to '%.*s', which is not a token", i,
                         (int)(len > 60 ? 60 : len), m, (int)(part_len[k] > 60 ? 60 : part_len[k]), part[k]);
                free(buf);
                return -1;
            }
        }
        uint64_t key = (uint64_t)(uint32_t)ids[0] << 32 | (uint32_t)ids[1];
        uint32_t h = pair_hash(key) & (n_slots - 1);
        while (t->pairs[h].key != UINT64_MAX && t->pairs[h].key != key) h = (h + 1) & (n_slots - 1);
        if (t->pairs[h].key == key) continue; /* a repeated pair keeps its first rank */
        /* the merged string: a token, or interned as an extra raw string */
        size_t la, lb;
        const char *sa = ak_strtab_str(&t->raw, ids[0], &la);
        const char *sb = ak_strtab_str(&t->raw, ids[1], &lb);
        char *cat = malloc(la + lb + 1);
        if (!cat) {
            free(buf);
            ak_failf(err, AK_ERR_NOMEM, "out of memory");
            return -1;
        }
        memcpy(cat, sa, la);
        memcpy(cat + la, sb, lb);
        int32_t result = ak_strtab_find(&t->raw, cat, la + lb);
        if (result < 0) result = ak_strtab_add(&t->raw, cat, la + lb);
        free(cat);
        if (result < 0) {
            free(buf);
            ak_failf(err, AK_ERR_NOMEM, "out of memory");
            return -1;
        }
        t->pairs[h].key = key;
        t->pairs[h].rank = i;
        t->pairs[h].result = result;
    }
    free(buf);
    return 0;
}

/* ---------------------------------------------------------------- per word */

typedef struct {
    int32_t id; /* raw-string id, -1 once merged into its left neighbour */
    int32_t prev, next;
} symbol;

typedef struct {
    int32_t rank, left, left_id, right_id;
} bigram;

static int bigram_less(const bigram *a, const bigram *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(bigram *h, int *n, bigram b) {
    int i = (*n)++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!bigram_less(&b, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = b;
}

static bigram heap_pop(bigram *h, int *n) {
    bigram top = h[0], last = h[--*n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && bigram_less(&h[c + 1], &h[c])) c++;
        if (!bigram_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

static void try_bigram(const ak_tokenizer *t, const symbol *sym, int left, bigram *heap, int *n_heap) {
    if (left < 0 || sym[left].next < 0) return;
    int right = sym[left].next;
    const ak_pair_slot *p = pair_find(t, sym[left].id, sym[right].id);
    if (p) heap_push(heap, n_heap, (bigram){p->rank, left, sym[left].id, sym[right].id});
}

static void emit_raw(const ak_tokenizer *t, int32_t raw_id, ak_tok_out *o) {
    if (raw_id < t->n_vocab) {
        ak_tok_push(o, raw_id);
        return;
    }
    /* a merge result that is not a token: fall back to its bytes */
    size_t len;
    const char *s = ak_strtab_str(&t->raw, raw_id, &len);
    for (size_t i = 0; i < len; i++) {
        int32_t b = t->byte_token[(unsigned char)s[i]];
        if (b >= 0) ak_tok_push(o, b);
    }
}

static void bpe_word(const ak_tokenizer *t, const char *w, int len, symbol *sym, bigram *heap, ak_tok_out *o) {
    if (t->ignore_merges) {
        int32_t id = ak_strtab_find(&t->raw, w, (size_t)len);
        if (id >= 0 && id < t->n_vocab) {
            ak_tok_push(o, id);
            return;
        }
    }
    for (int i = 0; i < len; i++) {
        sym[i].id = t->byte_str[(unsigned char)w[i]];
        sym[i].prev = i - 1;
        sym[i].next = i + 1 < len ? i + 1 : -1;
    }
    int n_heap = 0;
    for (int i = 0; i + 1 < len; i++) try_bigram(t, sym, i, heap, &n_heap);
    while (n_heap) {
        bigram b = heap_pop(heap, &n_heap);
        symbol *l = &sym[b.left];
        if (l->id != b.left_id || l->next < 0 || sym[l->next].id != b.right_id) continue; /* stale */
        symbol *r = &sym[l->next];
        l->id = pair_find(t, b.left_id, b.right_id)->result;
        r->id = -1;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = b.left;
        try_bigram(t, sym, l->prev, heap, &n_heap);
        try_bigram(t, sym, b.left, heap, &n_heap);
    }
    for (int i = 0; i >= 0; i = sym[i].next) emit_raw(t, sym[i].id, o);
}

int ak_bpe_fragment(const ak_tokenizer *t, const char *text, size_t len, ak_tok_out *o) {
    if (len == 0) return 0;
    uint32_t *cps = malloc(len * sizeof *cps);
    uint16_t *flags = malloc(len * sizeof *flags);
    uint8_t *cp_len = malloc(len);
    size_t *ends = malloc(len * sizeof *ends), *tmp = malloc(len * sizeof *tmp);
    symbol *sym = NULL;
    bigram *heap = NULL;
    int rc = -1;
    if (!cps || !flags || !cp_len || !ends || !tmp) goto done;
    size_t n = 0;
    for (size_t i = 0; i < len; n++) {
        int l;
        cps[n] = ak_utf8_decode((const unsigned char *)text + i, len - i, &l);
        flags[n] = (uint16_t)ak_ucat_flags(cps[n]);
        cp_len[n] = (uint8_t)l;
        i += (size_t)l;
    }
    size_t n_words = ak_pretokenize(t->pre, cps, flags, n, ends, tmp);
    /* word byte spans; the longest sizes the per-word buffers */
    size_t max_bytes = 0, cp = 0;
    for (size_t k = 0; k < n_words; k++) {
        size_t b = 0;
        for (; cp < ends[k]; cp++) b += cp_len[cp];
        tmp[k] = b;
        if (b > max_bytes) max_bytes = b;
    }
    if (max_bytes > INT32_MAX / 4) goto done;
    sym = malloc(max_bytes * sizeof *sym);
    /* each merge pushes at most two bigrams */
    heap = malloc(3 * max_bytes * sizeof *heap);
    if (!sym || !heap) goto done;
    size_t off = 0;
    for (size_t k = 0; k < n_words; k++) {
        bpe_word(t, text + off, (int)tmp[k], sym, heap, o);
        off += tmp[k];
    }
    rc = 0;
done:
    free(cps), free(flags), free(cp_len), free(ends), free(tmp), free(sym), free(heap);
    return rc;
}
