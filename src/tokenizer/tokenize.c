/* tokenize.c - text -> ids (special-token partition, then BPE or SPM per text fragment) and
 * id -> bytes. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"

typedef struct {
    size_t start, len;
    int32_t token; /* -1: raw text */
} fragment;

typedef struct {
    fragment *v;
    size_t n, cap;
} fragments;

static int frag_push(fragments *f, fragment x) {
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        fragment *v = realloc(f->v, cap * sizeof *v);
        if (!v) return -1;
        f->v = v, f->cap = cap;
    }
    f->v[f->n++] = x;
    return 0;
}

/* Splits raw fragments around occurrences of special token texts, longest texts first. */
static int partition(const ak_tokenizer *t, const char *text, size_t len, int parse_special, fragments *out) {
    fragments cur = {0}, next = {0};
    if (frag_push(&cur, (fragment){0, len, -1})) return -1;
    for (int k = 0; k < t->n_specials; k++) {
        int32_t id = t->specials[k];
        if (!parse_special && t->type[id] != AK_TOKTYPE_USER_DEFINED) continue;
        size_t sl;
        const char *s = ak_strtab_str(&t->text, id, &sl);
        if (sl > len || !memmem(text, len, s, sl)) continue;
        next.n = 0;
        for (size_t i = 0; i < cur.n; i++) {
            fragment fr = cur.v[i];
            if (fr.token >= 0) {
                if (frag_push(&next, fr)) goto oom;
                continue;
            }
            size_t pos = fr.start, end = fr.start + fr.len;
            const char *hit;
            while (pos < end && (hit = memmem(text + pos, end - pos, s, sl))) {
                size_t at = (size_t)(hit - text);
                if (at > pos && frag_push(&next, (fragment){pos, at - pos, -1})) goto oom;
                if (frag_push(&next, (fragment){at, sl, id})) goto oom;
                pos = at + sl;
            }
            if (pos < end && frag_push(&next, (fragment){pos, end - pos, -1})) goto oom;
        }
        fragments tmp = cur;
        cur = next, next = tmp;
    }
    free(next.v);
    *out = cur;
    return 0;
oom:
    free(cur.v), free(next.v);
    return -1;
}

static int spm_raw(const ak_tokenizer *t, const char *text, size_t len, int prefix_space, ak_tok_out *o) {
    char *buf = malloc(3 * (len + 1));
    if (!buf) return -1;
    size_t n = 0;
    static const char ws[3] = {'\xE2', '\x96', '\x81'}; /* U+2581, SentencePiece's space */
    if (prefix_space) memcpy(buf, ws, 3), n = 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') memcpy(buf + n, ws, 3), n += 3;
        else buf[n++] = text[i];
    }
    int rc = ak_spm_fragment(t, buf, n, o);
    free(buf);
    return rc;
}

int ak_tokenize(const ak_tokenizer *t, const char *text, size_t len, int add_special, int parse_special,
                int32_t *tokens, int max_tokens) {
    if (!t || (!text && len) || max_tokens < 0 || (!tokens && max_tokens > 0) || len > INT32_MAX) return INT32_MIN;
    ak_tok_out o = {tokens, max_tokens, 0};
    fragments fr = {0};
    if (len && partition(t, text, len, parse_special, &fr)) return INT32_MIN;
    int add_bos = add_special && t->add_bos && t->bos >= 0;
    if (add_bos) ak_tok_push(&o, t->bos);
    int prev_special = 1, rc = 0;
    for (size_t i = 0; i < fr.n && !rc; i++) {
        if (fr.v[i].token >= 0) {
            ak_tok_push(&o, fr.v[i].token);
            prev_special = 1;
        } else if (t->kind == AK_TOK_SPM) {
            rc = spm_raw(t, text + fr.v[i].start, fr.v[i].len, t->add_space_prefix && prev_special, &o);
            prev_special = 0;
        } else {
            rc = ak_bpe_fragment(t, text + fr.v[i].start, fr.v[i].len, &o);
        }
    }
    free(fr.v);
    if (rc) return INT32_MIN;
    if (add_special && t->add_eos && t->eos >= 0) ak_tok_push(&o, t->eos);
    if (o.n > INT32_MAX) return INT32_MIN;
    return o.n > max_tokens ? -(int)o.n : (int)o.n;
}

static int copy_out(const char *s, size_t n, char *buf, int len) {
    if (n > (size_t)INT32_MAX) return INT32_MIN;
    if (!buf || len < (int)n) return -(int)n;
    memcpy(buf, s, n);
    return (int)n;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int ak_token_to_piece(const ak_tokenizer *t, int32_t id, char *buf, int len) {
    if (!t || id < 0 || id >= t->n_vocab || len < 0) return INT32_MIN;
    size_t n;
    const char *s = ak_strtab_str(&t->text, id, &n);
    switch (t->type[id]) {
    case AK_TOKTYPE_CONTROL:
    case AK_TOKTYPE_UNKNOWN:
    case AK_TOKTYPE_USER_DEFINED: return copy_out(s, n, buf, len);
    case AK_TOKTYPE_BYTE:
        if (n == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' && hex_digit(s[3]) >= 0 && hex_digit(s[4]) >= 0) {
            char b = (char)(hex_digit(s[3]) * 16 + hex_digit(s[4]));
            return copy_out(&b, 1, buf, len);
        }
        break;
    case AK_TOKTYPE_NORMAL: break;
    default: return 0; /* unused/undefined tokens print nothing, as in llama.cpp */
    }
    if (t->kind == AK_TOK_BPE) {
        s = ak_strtab_str(&t->raw, id, &n);
        return copy_out(s, n, buf, len);
    }
    /* SPM: U+2581 -> space */
    size_t out = 0;
    for (size_t i = 0; i < n;) {
        int w = i + 3 <= n && !memcmp(s + i, "\xE2\x96\x81", 3);
        if (buf && out < (size_t)len) buf[out] = w ? ' ' : s[i];
        out++;
        i += w ? 3 : 1;
    }
    return out <= (size_t)len ? (int)out : -(int)out;
}
