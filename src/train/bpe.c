/* bpe.c - BPE vocabulary, its text file, and the encoder. */
#include "base/errfmt.h"
#include "bpe_internal.h"
#include "pretok.h"
#include "base/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ak_bpe *ak_bpe_new(void) {
    return calloc(1, sizeof(ak_bpe));
}

void ak_bpe_free(ak_bpe *b) {
    if (!b) return;
    for (int i = 0; i < b->n_tokens; i++) free(b->tok[i]);
    free(b->tok);
    free(b->tok_len);
    free(b->merge);
    ak_strmap_free(&b->tok_ids);
    ak_u64map_free(&b->merge_ids);
    ak_strmap_free(&b->cache);
    free(b->cache_ids);
    free(b);
}

int ak_bpe_add_token(ak_bpe *b, const char *bytes, int len) {
    int inserted;
    int64_t *slot = ak_strmap_put(&b->tok_ids, bytes, (size_t)len, b->n_tokens, &inserted);
    if (!slot) return -1;
    if (!inserted) return (int)*slot;
    if (b->n_tokens == b->cap_tokens) {
        int cap = b->cap_tokens ? b->cap_tokens * 2 : 512;
        char **tok = realloc(b->tok, (size_t)cap * sizeof *tok);
        if (!tok) return -1;
        b->tok = tok;
        int *tl = realloc(b->tok_len, (size_t)cap * sizeof *tl);
        if (!tl) return -1;
        b->tok_len = tl;
        b->cap_tokens = cap;
    }
    char *s = malloc((size_t)len + 1);
    if (!s) return -1;
    memcpy(s, bytes, (size_t)len);
    s[len] = 0;
    b->tok[b->n_tokens] = s;
    b->tok_len[b->n_tokens] = len;
    return b->n_tokens++;
}

int ak_bpe_add_merge(ak_bpe *b, int left, int right) {
    int ll = b->tok_len[left], lr = b->tok_len[right];
    char *cat = malloc((size_t)(ll + lr));
    if (!cat) return -1;
    memcpy(cat, b->tok[left], (size_t)ll);
    memcpy(cat + ll, b->tok[right], (size_t)lr);
    int id = ak_bpe_add_token(b, cat, ll + lr);
    free(cat);
    if (id < 0) return -1;
    if (b->n_merges == b->cap_merges) {
        int cap = b->cap_merges ? b->cap_merges * 2 : 512;
        int32_t(*m)[3] = realloc(b->merge, (size_t)cap * sizeof *m);
        if (!m) return -1;
        b->merge = m;
        b->cap_merges = cap;
    }
    int inserted;
    int64_t *slot = ak_u64map_put(&b->merge_ids, (uint64_t)left << 32 | (uint32_t)right, b->n_merges, &inserted);
    if (!slot) return -1;
    b->merge[b->n_merges][0] = left;
    b->merge[b->n_merges][1] = right;
    b->merge[b->n_merges][2] = id;
    b->n_merges++;
    return id;
}

int ak_bpe_n_tokens(const ak_bpe *b) { return b->n_tokens; }
int ak_bpe_n_merges(const ak_bpe *b) { return b->n_merges; }
int ak_bpe_eot(const ak_bpe *b) { return b->eot; }

const char *ak_bpe_token_bytes(const ak_bpe *b, int id, int *len) {
    *len = b->tok_len[id];
    return b->tok[id];
}

int ak_bpe_token_type(const ak_bpe *b, int id) {
    return id == b->eot ? 3 : 1;
}

static int gpt2_string(const char *s, int len, char *buf, size_t cap, size_t at) {
    for (int i = 0; i < len; i++) {
        char u[2];
        int n = ak_byte_to_unicode((uint8_t)s[i], u);
        if (at + (size_t)n + 1 > cap) return -1;
        memcpy(buf + at, u, (size_t)n);
        at += (size_t)n;
    }
    buf[at] = 0;
    return (int)at;
}

int ak_bpe_token_gpt2(const ak_bpe *b, int id, char *buf, size_t cap) {
    if (id == b->eot) {
        size_t n = strlen(AK_BPE_EOT);
        if (n + 1 > cap) return -1;
        memcpy(buf, AK_BPE_EOT, n + 1);
        return (int)n;
    }
    return gpt2_string(b->tok[id], b->tok_len[id], buf, cap, 0);
}

int ak_bpe_merge_gpt2(const ak_bpe *b, int i, char *buf, size_t cap) {
    int n = ak_bpe_token_gpt2(b, b->merge[i][0], buf, cap);
    if (n < 0 || (size_t)n + 2 > cap) return -1;
    buf[n] = ' ';
    int m = ak_bpe_token_gpt2(b, b->merge[i][1], buf + n + 1, cap - (size_t)n - 1);
    return m < 0 ? -1 : n + 1 + m;
}

/* ------------------------------------------------------------------ file format */

int ak_bpe_save(const ak_bpe *b, const char *path, ak_error *err) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        ak_failf(err, AK_ERR_IO, "%s: %s", path, strerror(errno));
        return -1;
    }
    char buf[4096];
    fprintf(f, "ak-bpe 1\ntokens %d\n", b->n_tokens);
    for (int i = 0; i < b->n_tokens; i++) {
        ak_bpe_token_gpt2(b, i, buf, sizeof buf);
        fprintf(f, "%s\n", buf);
    }
    fprintf(f, "merges %d\n", b->n_merges);
    for (int i = 0; i < b->n_merges; i++) {
        ak_bpe_merge_gpt2(b, i, buf, sizeof buf);
        fprintf(f, "%s\n", buf);
    }
    if (fclose(f)) {
        ak_failf(err, AK_ERR_IO, "%s: write error", path);
        return -1;
    }
    return 0;
}

static char *next_line(char **p) {
    char *s = *p;
    if (!*s) return NULL;
    char *e = strchr(s, '\n');
    if (e) {
        *e = 0;
        *p = e + 1;
    } else {
        *p = s + strlen(s);
    }
    return s;
}

static int gpt2_to_id(ak_bpe *b, const char *s, size_t len) {
    uint8_t raw[2048];
    if (len == strlen(AK_BPE_EOT) && !memcmp(s, AK_BPE_EOT, len)) return b->eot;
    int n = ak_unicode_to_bytes(s, len, raw, sizeof raw);
    if (n <= 0) return -1;
    int64_t *id = ak_strmap_get(&b->tok_ids, (const char *)raw, (size_t)n);
    return id ? (int)*id : -1;
}

ak_bpe *ak_bpe_load(const char *path, ak_error *err) {
    size_t len;
    char *text = ak_read_file(path, &len, err), *p = text, *line;
    if (!text) return NULL;
    ak_bpe *b = ak_bpe_new();
    int n_tok = 0, n_merge = 0, line_no = 2;
    const char *why = NULL;
    if (!b) why = "out of memory";
    else if (!(line = next_line(&p)) || strcmp(line, "ak-bpe 1")) why = "not an ak-bpe 1 file";
    else if (!(line = next_line(&p)) || sscanf(line, "tokens %d", &n_tok) != 1 || n_tok < 257 || n_tok > 1 << 20)
        why = "bad 'tokens N' line";
    if (b) b->eot = -1;
    for (int i = 0; !why && i < n_tok; i++) {
        line_no++;
        uint8_t raw[2048];
        if (!(line = next_line(&p))) {
            why = "truncated token list";
            break;
        }
        if (!strcmp(line, AK_BPE_EOT)) {
            if (ak_bpe_add_token(b, line, (int)strlen(line)) != i) why = "duplicate token";
            b->eot = i;
            continue;
        }
        int n = ak_unicode_to_bytes(line, strlen(line), raw, sizeof raw);
        if (n <= 0) why = "token is not a GPT-2 byte string";
        else if (ak_bpe_add_token(b, (const char *)raw, n) != i) why = "duplicate token";
    }
    if (!why && b->eot < 0) why = "no " AK_BPE_EOT " token";
    if (!why) {
        line_no++;
        if (!(line = next_line(&p)) || sscanf(line, "merges %d", &n_merge) != 1 || n_merge < 0) why = "bad 'merges M' line";
    }
    for (int i = 0; !why && i < n_merge; i++) {
        line_no++;
        char *sp;
        if (!(line = next_line(&p)) || !(sp = strchr(line, ' '))) {
            why = "bad merge line";
            break;
        }
        int l = gpt2_to_id(b, line, (size_t)(sp - line)), r = gpt2_to_id(b, sp + 1, strlen(sp + 1));
        int before = b->n_tokens;
        if (l < 0 || r < 0) why = "merge of unknown tokens";
        else if (ak_bpe_add_merge(b, l, r) < 0) why = "out of memory";
        else if (b->n_tokens != before) why = "merge result is not in the token list";
    }
    free(text);
    if (why) {
        ak_failf(err, AK_ERR_INVALID_ARG, "%s: line %d: %s", path, line_no, why);
        ak_bpe_free(b);
        return NULL;
    }
    return b;
}

/* ------------------------------------------------------------------ encoder */

/* Applies merges in rank order (all occurrences of the best-ranked pair at a time,
 * left to right), which is what the trainer did and what llama.cpp's BPE does. */
static int encode_word(const ak_bpe *b, const char *w, size_t len, int32_t *ids) {
    int n = 0;
    for (size_t i = 0; i < len; i++) ids[n++] = (uint8_t)w[i];
    for (;;) {
        int64_t best = -1;
        for (int i = 0; i + 1 < n; i++) {
            int64_t *r = ak_u64map_get(&b->merge_ids, (uint64_t)ids[i] << 32 | (uint32_t)ids[i + 1]);
            if (r && (best < 0 || *r < best)) best = *r;
        }
        if (best < 0) return n;
        int32_t l = b->merge[best][0], r = b->merge[best][1], to = b->merge[best][2];
        int m = 0;
        for (int i = 0; i < n; i++) {
            if (i + 1 < n && ids[i] == l && ids[i + 1] == r) {
                ids[m++] = to;
                i++;
            } else {
                ids[m++] = ids[i];
            }
        }
        n = m;
    }
}

int ak_bpe_encode(ak_bpe *b, const char *text, size_t len, int32_t **out, size_t *n_out) {
    size_t cap = len / 2 + 16, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    int32_t *word = malloc((len + 1) * sizeof *word);
    if (!ids || !word) goto oom;
    for (size_t pos = 0; pos < len;) {
        size_t end = ak_pretok_next(text, len, pos), wl = end - pos;
        int inserted;
        int64_t *slot = ak_strmap_put(&b->cache, text + pos, wl, 0, &inserted);
        if (!slot) goto oom;
        if (inserted) {
            int k = encode_word(b, text + pos, wl, word);
            if (b->cache_n + (size_t)k > b->cache_cap) {
                size_t c = b->cache_cap ? b->cache_cap : 1 << 16;
                while (c < b->cache_n + (size_t)k) c *= 2;
                int32_t *ci = realloc(b->cache_ids, c * sizeof *ci);
                if (!ci) goto oom;
                b->cache_ids = ci;
                b->cache_cap = c;
            }
            memcpy(b->cache_ids + b->cache_n, word, (size_t)k * sizeof *word);
            *slot = (int64_t)k << 40 | (int64_t)b->cache_n;
            b->cache_n += (size_t)k;
        }
        size_t k = (size_t)(*slot >> 40), off = (size_t)(*slot & ((1LL << 40) - 1));
        if (n + k > cap) {
            while (n + k > cap) cap *= 2;
            int32_t *ni = realloc(ids, cap * sizeof *ni);
            if (!ni) goto oom;
            ids = ni;
        }
        memcpy(ids + n, b->cache_ids + off, k * sizeof *ids);
        n += k;
        pos = end;
    }
    free(word);
    *out = ids;
    *n_out = n;
    return 0;
oom:
    free(ids);
    free(word);
    return -1;
}
