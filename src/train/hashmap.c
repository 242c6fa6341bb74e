/* hashmap.c - open addressing with linear probing, capacity a power of two, load <= 1/2. */
#include "hashmap.h"

#include <stdlib.h>
#include <string.h>

#define EMPTY UINT64_MAX

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

uint64_t ak_hash_bytes(const char *s, size_t len) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return mix64(h);
}

int64_t *ak_u64map_get(const ak_u64map *m, uint64_t key) {
    if (!m->cap) return NULL;
    for (size_t i = mix64(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key) return &m->vals[i];
        if (m->keys[i] == EMPTY) return NULL;
    }
}

static int u64map_grow(ak_u64map *m) {
    size_t cap = m->cap ? m->cap * 2 : 1024;
    uint64_t *keys = malloc(cap * sizeof *keys);
    int64_t *vals = malloc(cap * sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -1;
    }
    memset(keys, 0xFF, cap * sizeof *keys);
    for (size_t j = 0; j < m->cap; j++) {
        if (m->keys[j] == EMPTY) continue;
        size_t i = mix64(m->keys[j]) & (cap - 1);
        while (keys[i] != EMPTY) i = (i + 1) & (cap - 1);
        keys[i] = m->keys[j];
        vals[i] = m->vals[j];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

int64_t *ak_u64map_put(ak_u64map *m, uint64_t key, int64_t init, int *inserted) {
    if ((m->n + 1) * 2 > m->cap && u64map_grow(m)) return NULL;
    size_t i = mix64(key) & (m->cap - 1);
    while (m->keys[i] != EMPTY && m->keys[i] != key) i = (i + 1) & (m->cap - 1);
    if (inserted) *inserted = m->keys[i] == EMPTY;
    if (m->keys[i] == EMPTY) {
        m->keys[i] = key;
        m->vals[i] = init;
        m->n++;
    }
    return &m->vals[i];
}

void ak_u64map_free(ak_u64map *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static int strmap_eq(const ak_strmap *m, size_t i, uint64_t h, const char *key, size_t len) {
    return m->hash[i] == h && m->klen[i] == len && !memcmp(m->arena + m->koff[i], key, len);
}

int64_t *ak_strmap_get(const ak_strmap *m, const char *key, size_t len) {
    if (!m->cap) return NULL;
    uint64_t h = ak_hash_bytes(key, len);
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->koff[i] == EMPTY) return NULL;
        if (strmap_eq(m, i, h, key, len)) return &m->vals[i];
    }
}

static int strmap_grow(ak_strmap *m) {
    size_t cap = m->cap ? m->cap * 2 : 1024;
    uint64_t *hash = malloc(cap * sizeof *hash), *koff = malloc(cap * sizeof *koff);
    uint32_t *klen = malloc(cap * sizeof *klen);
    int64_t *vals = malloc(cap * sizeof *vals);
    if (!hash || !koff || !klen || !vals) {
        free(hash);
        free(koff);
        free(klen);
        free(vals);
        return -1;
    }
    memset(koff, 0xFF, cap * sizeof *koff);
    for (size_t j = 0; j < m->cap; j++) {
        if (m->koff[j] == EMPTY) continue;
        size_t i = m->hash[j] & (cap - 1);
        while (koff[i] != EMPTY) i = (i + 1) & (cap - 1);
        hash[i] = m->hash[j];
        koff[i] = m->koff[j];
        klen[i] = m->klen[j];
        vals[i] = m->vals[j];
    }
    free(m->hash);
    free(m->koff);
    free(m->klen);
    free(m->vals);
    m->hash = hash;
    m->koff = koff;
    m->klen = klen;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

int64_t *ak_strmap_put(ak_strmap *m, const char *key, size_t len, int64_t init, int *inserted) {
    if ((m->n + 1) * 2 > m->cap && strmap_grow(m)) return NULL;
    uint64_t h = ak_hash_bytes(key, len);
    size_t i = h & (m->cap - 1);
    while (m->koff[i] != EMPTY && !strmap_eq(m, i, h, key, len)) i = (i + 1) & (m->cap - 1);
    if (inserted) *inserted = m->koff[i] == EMPTY;
    if (m->koff[i] != EMPTY) return &m->vals[i];
    if (m->arena_n + len > m->arena_cap) {
        size_t cap = m->arena_cap ? m->arena_cap : 4096;
        while (cap < m->arena_n + len) cap *= 2;
        char *a = realloc(m->arena, cap);
        if (!a) return NULL;
        m->arena = a;
        m->arena_cap = cap;
    }
    memcpy(m->arena + m->arena_n, key, len);
    m->hash[i] = h;
    m->koff[i] = m->arena_n;
    m->klen[i] = (uint32_t)len;
    m->vals[i] = init;
    m->arena_n += len;
    m->n++;
    return &m->vals[i];
}

const char *ak_strmap_key(const ak_strmap *m, const int64_t *slot, size_t *len) {
    size_t i = (size_t)(slot - m->vals);
    *len = m->klen[i];
    return m->arena + m->koff[i];
}

void ak_strmap_free(ak_strmap *m) {
    free(m->hash);
    free(m->koff);
    free(m->klen);
    free(m->vals);
    free(m->arena);
    memset(m, 0, sizeof *m);
}
