/* vocab.c - building a tokenizer: from GGUF metadata (tokenizer.ggml.*) or from arrays. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"
#include "base/errfmt.h"

ak_tokenizer *ak_tokenizer_alloc(ak_tok_kind kind, int n_vocab) {
    ak_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->kind = kind;
    t->n_vocab = n_vocab;
    t->bos = t->eos = t->unk = -1;
    t->type = malloc(n_vocab ? (size_t)n_vocab : 1);
    if (!t->type) {
        free(t);
        return NULL;
    }
    memset(t->type, AK_TOKTYPE_NORMAL, (size_t)n_vocab);
    for (int b = 0; b < 256; b++) t->byte_token[b] = t->byte_str[b] = -1;
    return t;
}

void ak_tokenizer_free(ak_tokenizer *t) {
    if (!t) return;
    ak_strtab_free(&t->text);
    ak_strtab_free(&t->raw);
    free(t->type);
    free(t->scores);
    free(t->pairs);
    free(t->specials);
    free(t);
}

/* Adds token texts (and for BPE their decoded bytes) in id order. */
static int add_texts(ak_tokenizer *t, const char *const *texts, const size_t *lens, ak_error *err) {
    size_t max_len = 0;
    for (int i = 0; i < t->n_vocab; i++)
        if (lens[i] > max_len) max_len = lens[i];
    char *buf = malloc(max_len + 1);
    if (!buf) return ak_failf(err, AK_ERR_NOMEM, "out of memory");
    for (int i = 0; i < t->n_vocab; i++) {
        if (ak_strtab_add(&t->text, texts[i], lens[i]) != i) {
            free(buf);
            return ak_failf(err, AK_ERR_NOMEM, "out of memory");
        }
        if (t->kind != AK_TOK_BPE) continue;
        int n = ak_gpt2_decode(texts[i], lens[i], buf);
        /* texts that are not byte-encoded (added tokens with raw spaces, ...) stand for themselves */
        int32_t id = n >= 0 ? ak_strtab_add(&t->raw, buf, (size_t)n) : ak_strtab_add(&t->raw, texts[i], lens[i]);
        if (id != i) {
            free(buf);
            return ak_failf(err, AK_ERR_NOMEM, "out of memory");
        }
    }
    free(buf);
    if (t->kind != AK_TOK_BPE) return 0;
    /* byte fallback uses the last normal token of each single byte (a control token with the
     * same text must not stand in for it) */
    for (int i = 0; i < t->n_vocab; i++)
        if (t->raw.len[i] == 1 && (t->type[i] == AK_TOKTYPE_NORMAL || t->type[i] == AK_TOKTYPE_BYTE))
            t->byte_token[(unsigned char)t->raw.bytes[t->raw.off[i]]] = i;
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        int32_t id = ak_strtab_find(&t->raw, &c, 1);
        t->byte_str[b] = id >= 0 ? id : ak_strtab_add(&t->raw, &c, 1);
        if (t->byte_str[b] < 0) return ak_failf(err, AK_ERR_NOMEM, "out of memory");
    }
    return 0;
}

static int is_special_type(int type) {
    return type == AK_TOKTYPE_CONTROL || type == AK_TOKTYPE_USER_DEFINED || type == AK_TOKTYPE_UNKNOWN;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void add_eog(ak_tokenizer *t, int32_t id) {
    if (id < 0 || id >= t->n_vocab) return;
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return;
    if (t->n_eog < (int)(sizeof t->eog / sizeof t->eog[0])) t->eog[t->n_eog++] = id;
}

/* Whether some text of the vocabulary has U+2581 preceded by something other than U+2581. */
static int has_inner_space(const ak_tokenizer *t) {
    for (int i = 0; i < t->n_vocab; i++) {
        size_t n;
        const char *s = ak_strtab_str(&t->text, i, &n);
        for (size_t k = 1; k + 3 <= n; k++)
            if (!memcmp(s + k, "\xE2\x96\x81", 3) && !(k >= 3 && !memcmp(s + k - 3, "\xE2\x96\x81", 3))) return 1;
    }
    return 0;
}

int ak_tokenizer_finish(ak_tokenizer *t, ak_error *err) {
    if (t->kind == AK_TOK_SPM) {
        t->spm_split_words = !has_inner_space(t);
        for (int b = 0; b < 256; b++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", b);
            t->byte_token[b] = ak_strtab_find(&t->text, name, 6);
        }
    }
    int n = 0;
    for (int i = 0; i < t->n_vocab; i++) n += is_special_type(t->type[i]) && t->text.len[i] > 0;
    t->specials = malloc((n ? (size_t)n : 1) * sizeof *t->specials);
    uint64_t *keys = malloc((n ? (size_t)n : 1) * sizeof *keys);
    if (!t->specials || !keys) {
        free(keys);
        return ak_failf(err, AK_ERR_NOMEM, "out of memory");
    }
    /* longest text first (matched first, as llama.cpp), then by id */
    t->n_specials = 0;
    for (int i = 0; i < t->n_vocab; i++)
        if (is_special_type(t->type[i]) && t->text.len[i] > 0)
            keys[t->n_specials++] = (uint64_t)(UINT32_MAX - t->text.len[i]) << 32 | (uint32_t)i;
    qsort(keys, (size_t)t->n_specials, sizeof *keys, cmp_u64);
    for (int i = 0; i < t->n_specials; i++) t->specials[i] = (int32_t)(keys[i] & 0xFFFFFFFFu);
    free(keys);
    add_eog(t, t->eos);
    static const char *const eog_texts[] = {"<|eot_id|>",      "<|im_end|>", "<|end|>",  "<end_of_turn>",
                                            "<|endoftext|>",   "<|eom_id|>", "<EOT>",    "_<EOT>",
                                            "<|end_of_text|>", "<|return|>", "<|call|>", "<end_of_utterance>"};
    for (size_t k = 0; k < sizeof eog_texts / sizeof eog_texts[0]; k++)
        add_eog(t, ak_strtab_find(&t->text, eog_texts[k], strlen(eog_texts[k])));
    return 0;
}

ak_tokenizer *ak_tokenizer_create_bpe(const char *const *tokens, int n_vocab, const char *const *merges,
                                      int n_merges, const char *pre, int32_t bos, int32_t eos, ak_error *err) {
    if (!tokens || n_vocab <= 0 || n_merges < 0 || (n_merges > 0 && !merges)) {
        ak_failf(err, AK_ERR_FORMAT, "create_bpe: need at least one token and a merges array");
        return NULL;
    }
    if (bos < -1 || bos >= n_vocab || eos < -1 || eos >= n_vocab) {
        ak_failf(err, AK_ERR_FORMAT, "create_bpe: bos %d / eos %d outside the vocabulary of %d", bos, eos, n_vocab);
        return NULL;
    }
    ak_tokenizer *t = ak_tokenizer_alloc(AK_TOK_BPE, n_vocab);
    size_t *lens = malloc(((size_t)n_vocab + (size_t)n_merges) * sizeof *lens);
    if (!t || !lens) {
        free(lens);
        ak_tokenizer_free(t);
        ak_failf(err, AK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (int i = 0; i < n_vocab; i++) {
        if (!tokens[i]) {
            ak_failf(err, AK_ERR_FORMAT, "create_bpe: token %d is NULL", i);
            goto bad;
        }
        lens[i] = strlen(tokens[i]);
    }
    for (int i = 0; i < n_merges; i++) {
        if (!merges[i]) {
            ak_failf(err, AK_ERR_FORMAT, "create_bpe: merge %d is NULL", i);
            goto bad;
        }
        lens[n_vocab + i] = strlen(merges[i]);
    }
    t->bos = bos, t->eos = eos;
    if (bos >= 0) t->type[bos] = AK_TOKTYPE_CONTROL;
    if (eos >= 0) t->type[eos] = AK_TOKTYPE_CONTROL;
    t->add_bos = bos >= 0;
    if (!pre) pre = "default";
    if (ak_pre_type_from_name(pre, &t->pre)) {
        fprintf(stderr, "tokenizer: unknown pre-tokenizer '%s', using 'default'\n", pre);
        t->pre = AK_PRE_DEFAULT;
    }
    t->ignore_merges = t->pre == AK_PRE_LLAMA3;
    if (add_texts(t, tokens, lens, err) ||
        ak_bpe_build_merges(t, merges, lens + n_vocab, n_merges, err) || ak_tokenizer_finish(t, err))
        goto bad;
    free(lens);
    return t;
bad:
    free(lens);
    ak_tokenizer_free(t);
    return NULL;
}

/* ---------------------------------------------------------------- GGUF */

static int read_id(const gguf_file *f, const char *key, int n_vocab, int32_t *out, ak_error *err) {
    int64_t v;
    if (gguf_find_key(f, key) < 0) return 0;
    if (!gguf_get_i64(f, key, &v)) return ak_failf(err, AK_ERR_FORMAT, "%s is not an integer", key);
    if (v < 0 || v >= n_vocab) {
        /* llama.cpp also accepts ids like 0xFFFFFFFF (= none) in some files: treat as absent */
        if (v == 0xFFFFFFFFll || v == -1) {
            *out = -1;
            return 0;
        }
        return ak_failf(err, AK_ERR_FORMAT, "%s = %lld is outside the vocabulary of %d tokens", key, (long long)v, n_vocab);
    }
    *out = (int32_t)v;
    return 0;
}

/* Optional flag: keeps *out (the default) when the key is absent. */
static void read_bool(const gguf_file *f, const char *key, int *out) {
    int v;
    if (gguf_get_bool(f, key, &v)) *out = v != 0;
}

/* A numeric array of exactly n elements of type want; NULL (and err) if present but wrong. */
static const void *read_arr(const gguf_file *f, const char *key, gguf_type want, uint64_t n, int *bad, ak_error *err) {
    gguf_type et;
    uint64_t cnt;
    *bad = 0;
    if (gguf_find_key(f, key) < 0) return NULL;
    if (!gguf_get_arr_info(f, key, &et, &cnt) || et != want) {
        *bad = 1;
        ak_failf(err, AK_ERR_FORMAT, "%s must be an array of %s", key, gguf_type_name(want));
        return NULL;
    }
    if (cnt != n) {
        *bad = 1;
        ak_failf(err, AK_ERR_FORMAT, "%s has %llu entries but tokenizer.ggml.tokens has %llu", key, (unsigned long long)cnt,
             (unsigned long long)n);
        return NULL;
    }
    return gguf_get_arr_data(f, key);
}

static int read_strings(const gguf_file *f, const char *key, uint64_t n, const char ***strs, size_t **lens, ak_error *err) {
    *strs = malloc((n ? n : 1) * sizeof **strs);
    *lens = malloc((n ? n : 1) * sizeof **lens);
    if (!*strs || !*lens) return ak_failf(err, AK_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < n; i++) {
        gguf_str s;
        if (!gguf_get_arr_str(f, key, i, &s)) return ak_failf(err, AK_ERR_FORMAT, "%s[%llu] cannot be read", key, (unsigned long long)i);
        (*strs)[i] = s.ptr;
        (*lens)[i] = (size_t)s.len;
    }
    return 0;
}

/* The special tokens and flags before the file's keys override them: llama.cpp's SPM
 * defaults, or the BPE pre-tokenizer named by tokenizer.ggml.pre. */
static void set_defaults(const gguf_file *f, ak_tokenizer *t, ak_tok_kind kind, uint64_t n) {
    if (kind == AK_TOK_SPM) {
        t->bos = 1 < n ? 1 : -1, t->eos = 2 < n ? 2 : -1, t->unk = 0; /* llama.cpp's SPM defaults */
        t->add_bos = 1, t->add_space_prefix = 1;
    } else {
        gguf_str pre;
        char name[64] = "default";
        if (gguf_get_str(f, "tokenizer.ggml.pre", &pre))
            snprintf(name, sizeof name, "%.*s", (int)(pre.len < 63 ? pre.len : 63), pre.ptr);
        else fprintf(stderr, "tokenizer: no tokenizer.ggml.pre, using 'default'\n");
        if (ak_pre_type_from_name(name, &t->pre)) {
            fprintf(stderr, "tokenizer: unknown pre-tokenizer '%s', using 'default'\n", name);
            t->pre = AK_PRE_DEFAULT;
        }
        t->ignore_merges = t->pre == AK_PRE_LLAMA3;
        t->add_bos = t->pre == AK_PRE_LLAMA3;
    }
}

/* tokenizer.ggml.merges into the BPE merge table. 0, or -1 with a message. */
static int load_merges(const gguf_file *f, ak_tokenizer *t, ak_error *err) {
    gguf_type et;
    uint64_t n_merges;
    const char **merges = NULL;
    size_t *merge_lens = NULL;
    if (!gguf_get_arr_info(f, "tokenizer.ggml.merges", &et, &n_merges) || et != GGUF_TYPE_STRING) {
        ak_failf(err, AK_ERR_FORMAT, "tokenizer.ggml.merges is missing or not an array of strings (needed for gpt2)");
        return -1;
    }
    if (n_merges > INT32_MAX / 4) {
        ak_failf(err, AK_ERR_FORMAT, "tokenizer.ggml.merges has %llu entries", (unsigned long long)n_merges);
        return -1;
    }
    int rc = -1;
    if (!read_strings(f, "tokenizer.ggml.merges", n_merges, &merges, &merge_lens, err) &&
        !ak_bpe_build_merges(t, merges, merge_lens, (int)n_merges, err))
        rc = 0;
    free(merges), free(merge_lens);
    return rc;
}

ak_tokenizer *ak_tokenizer_load(const gguf_file *f, ak_error *err) {
    gguf_str model;
    if (!f) {
        ak_failf(err, AK_ERR_FORMAT, "no file");
        return NULL;
    }
    if (!gguf_get_str(f, "tokenizer.ggml.model", &model)) {
        ak_failf(err, AK_ERR_FORMAT, "the file has no tokenizer (tokenizer.ggml.model missing)");
        return NULL;
    }
    ak_tok_kind kind;
    if (gguf_str_eq(model, "gpt2")) kind = AK_TOK_BPE;
    else if (gguf_str_eq(model, "llama")) kind = AK_TOK_SPM;
    else {
        ak_failf(err, AK_ERR_FORMAT, "tokenizer.ggml.model '%.*s' is not supported (gpt2 and llama are)", (int)(model.len > 40 ? 40 : model.len),
             model.ptr);
        return NULL;
    }
    gguf_type et;
    uint64_t n;
    if (!gguf_get_arr_info(f, "tokenizer.ggml.tokens", &et, &n) || et != GGUF_TYPE_STRING) {
        ak_failf(err, AK_ERR_FORMAT, "tokenizer.ggml.tokens is missing or not an array of strings");
        return NULL;
    }
    if (n == 0 || n > INT32_MAX / 2) {
        ak_failf(err, AK_ERR_FORMAT, "tokenizer.ggml.tokens has %llu entries", (unsigned long long)n);
        return NULL;
    }
    ak_tokenizer *t = ak_tokenizer_alloc(kind, (int)n);
    const char **texts = NULL;
    size_t *lens = NULL;
    int bad;
    if (!t) {
        ak_failf(err, AK_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (read_strings(f, "tokenizer.ggml.tokens", n, &texts, &lens, err)) goto fail;
    const void *types = read_arr(f, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, n, &bad, err);
    if (bad) goto fail;
    for (uint64_t i = 0; types && i < n; i++) {
        int32_t v;
        memcpy(&v, (const char *)types + 4 * i, 4);
        t->type[i] = (uint8_t)(v >= 0 && v <= AK_TOKTYPE_BYTE ? v : AK_TOKTYPE_UNDEFINED);
    }
    const void *scores = read_arr(f, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, n, &bad, err);
    if (bad) goto fail;
    t->scores = calloc(n, sizeof *t->scores);
    if (!t->scores) {
        ak_failf(err, AK_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (scores) memcpy(t->scores, scores, n * sizeof *t->scores);

    set_defaults(f, t, kind, n);
    if (read_id(f, "tokenizer.ggml.bos_token_id", (int)n, &t->bos, err) ||
        read_id(f, "tokenizer.ggml.eos_token_id", (int)n, &t->eos, err) ||
        read_id(f, "tokenizer.ggml.unknown_token_id", (int)n, &t->unk, err))
        goto fail;
    int32_t eot = -1, eom = -1;
    if (read_id(f, "tokenizer.ggml.eot_token_id", (int)n, &eot, err) ||
        read_id(f, "tokenizer.ggml.eom_token_id", (int)n, &eom, err))
        goto fail;
    read_bool(f, "tokenizer.ggml.add_bos_token", &t->add_bos);
    read_bool(f, "tokenizer.ggml.add_eos_token", &t->add_eos);
    read_bool(f, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix);

    if (add_texts(t, texts, lens, err)) goto fail;
    if (kind == AK_TOK_BPE && load_merges(f, t, err)) goto fail;
    if (ak_tokenizer_finish(t, err)) goto fail;
    add_eog(t, eot);
    add_eog(t, eom);
    free(texts), free(lens);
    return t;
fail:
    free(texts), free(lens);
    ak_tokenizer_free(t);
    return NULL;
}

int ak_tokenizer_n_vocab(const ak_tokenizer *t) { return t ? t->n_vocab : 0; }
int32_t ak_tokenizer_bos(const ak_tokenizer *t) { return t ? t->bos : -1; }
int32_t ak_tokenizer_eos(const ak_tokenizer *t) { return t ? t->eos : -1; }
int ak_tokenizer_add_bos(const ak_tokenizer *t) { return t && t->add_bos && t->bos >= 0; }

int ak_tokenizer_is_eog(const ak_tokenizer *t, int32_t id) {
    if (!t || id < 0) return 0;
    for (int i = 0; i < t->n_eog; i++)
        if (t->eog[i] == id) return 1;
    return 0;
}
