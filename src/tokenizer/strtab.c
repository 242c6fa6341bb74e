/* strtab.c - interned byte strings with a hash index (FNV-1a, linear probing). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer_internal.h"

static uint32_t hash_bytes(const char *s, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

void ak_strtab_free(ak_strtab *t) {
    free(t->bytes);
    free(t->off);
    free(t->len);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static int rehash(ak_strtab *t, uint32_t n_slots) {
    int32_t *slots = malloc(n_slots * sizeof *slots);
    if (!slots) return -1;
    memset(slots, 0xff, n_slots * sizeof *slots);
    for (int32_t id = 0; id < t->n; id++) {
        uint32_t h = hash_bytes(t->bytes + t->off[id], t->len[id]) & (n_slots - 1);
        /* later ids shadow earlier equal strings, like llama.cpp's token_to_id map */
        while (slots[h] >= 0 && (t->len[slots[h]] != t->len[id] ||
                                 memcmp(t->bytes + t->off[slots[h]], t->bytes + t->off[id], t->len[id])))
            h = (h + 1) & (n_slots - 1);
        slots[h] = id;
    }
    free(t->slots);
    t->slots = slots;
    t->n_slots = n_slots;
    return 0;
}

int32_t ak_strtab_add(ak_strtab *t, const char *s, size_t len) {
    if (len > UINT32_MAX || t->bytes_len + len > UINT32_MAX || t->n == INT32_MAX) return -1;
    if (t->bytes_len + len + 1 > t->bytes_cap) {
        size_t cap = t->bytes_cap ? t->bytes_cap * 2 : 4096;
        while (cap < t->bytes_len + len + 1) cap *= 2;
        char *b = realloc(t->bytes, cap);
        if (!b) return -1;
        t->bytes = b, t->bytes_cap = cap;
    }
    if (t->n == t->cap) {
        int32_t cap = t->cap ? t->cap * 2 : 256;
        uint32_t *off = realloc(t->off, (size_t)cap * sizeof *off);
        if (!off) return -1;
        t->off = off;
        uint32_t *ln = realloc(t->len, (size_t)cap * sizeof *ln);
        if (!ln) return -1;
        t->len = ln, t->cap = cap;
    }
    if ((uint64_t)(t->n + 1) * 2 > t->n_slots && rehash(t, t->n_slots ? t->n_slots * 2 : 1024)) return -1;
    int32_t id = t->n++;
    t->off[id] = (uint32_t)t->bytes_len;
    t->len[id] = (uint32_t)len;
    if (len) memcpy(t->bytes + t->bytes_len, s, len);
    t->bytes_len += len;
    t->bytes[t->bytes_len++] = 0; /* NUL after each string: texts can be used as C strings */
    uint32_t h = hash_bytes(s, len) & (t->n_slots - 1);
    while (t->slots[h] >= 0 && (t->len[t->slots[h]] != len || memcmp(t->bytes + t->off[t->slots[h]], s, len)))
        h = (h + 1) & (t->n_slots - 1);
    t->slots[h] = id;
    return id;
}

int32_t ak_strtab_find(const ak_strtab *t, const char *s, size_t len) {
    if (!t->n_slots) return -1;
    uint32_t h = hash_bytes(s, len) & (t->n_slots - 1);
    while (t->slots[h] >= 0) {
        int32_t id = t->slots[h];
        if (t->len[id] == len && !memcmp(t->bytes + t->off[id], s, len)) return id;
        h = (h + 1) & (t->n_slots - 1);
    }
    return -1;
}
