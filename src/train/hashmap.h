/* hashmap.h - two small open-addressing maps used by the tokenizer trainer and encoder:
 * u64 -> int64 and byte string -> int64 (keys copied into the map's own arena). */
#ifndef AK_TRAIN_HASHMAP_H
#define AK_TRAIN_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t *keys; /* UINT64_MAX marks an empty slot */
    int64_t *vals;
    size_t cap, n;
} ak_u64map;

int64_t *ak_u64map_get(const ak_u64map *m, uint64_t key); /* NULL if absent */
/* Slot of key, inserted with value init if absent; NULL when out of memory. The pointer
 * is valid until the next insertion. */
int64_t *ak_u64map_put(ak_u64map *m, uint64_t key, int64_t init, int *inserted);
void ak_u64map_free(ak_u64map *m);

typedef struct {
    uint64_t *hash;
    uint64_t *koff; /* key offset in arena; UINT64_MAX marks an empty slot */
    uint32_t *klen;
    int64_t *vals;
    size_t cap, n;
    char *arena;
    size_t arena_n, arena_cap;
} ak_strmap;

int64_t *ak_strmap_get(const ak_strmap *m, const char *key, size_t len);
int64_t *ak_strmap_put(ak_strmap *m, const char *key, size_t len, int64_t init, int *inserted);
const char *ak_strmap_key(const ak_strmap *m, const int64_t *slot, size_t *len);
void ak_strmap_free(ak_strmap *m);

uint64_t ak_hash_bytes(const char *s, size_t len);

#endif
