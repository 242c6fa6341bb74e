/* gguf_walk.h - reads everything the GGUF reader's API exposes of an open file (every key,
 * string, array byte and tensor byte), for the corruption test and the fuzz harness: ASan
 * sees any read outside the buffer, and *bad counts broken invariants (a string that cannot
 * be read, tensor data past the end, a tensor that its own name does not find). */
#ifndef AK_TESTS_GGUF_WALK_H
#define AK_TESTS_GGUF_WALK_H

#include <stdint.h>
#include <string.h>

#include "gguf/gguf.h"

/* Returns a checksum so nothing is optimised away. */
static inline uint64_t gguf_walk(const gguf_file *f, int *bad) {
    uint64_t sum = 0;
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        gguf_str k = gguf_key_name(f, i), s;
        for (uint64_t j = 0; j < k.len; j++) sum += (uint8_t)k.ptr[j];
        gguf_type et;
        uint64_t n;
        if (gguf_kv_arr_info(f, i, &et, &n)) {
            const uint8_t *d = gguf_kv_data(f, i);
            if (d) {
                for (uint64_t j = 0; j < n * gguf_type_size(et); j++) sum += d[j];
            } else {
                for (uint64_t j = 0; j < n; j++) {
                    if (!gguf_kv_str(f, i, j, &s)) ++*bad;
                    for (uint64_t c = 0; c < s.len; c++) sum += (uint8_t)s.ptr[c];
                }
            }
        } else if (gguf_kv_str(f, i, 0, &s)) {
            for (uint64_t c = 0; c < s.len; c++) sum += (uint8_t)s.ptr[c];
        } else {
            const uint8_t *d = gguf_kv_data(f, i);
            for (size_t j = 0; j < gguf_type_size(gguf_kv_type(f, i)); j++) sum += d[j];
        }
        char key[128];
        size_t kl = k.len < sizeof key - 1 ? (size_t)k.len : sizeof key - 1;
        memcpy(key, k.ptr, kl);
        key[kl] = 0;
        uint32_t u;
        float x;
        sum += (uint64_t)gguf_get_u32(f, key, &u) + (uint64_t)gguf_get_f32(f, key, &x);
    }
    const uint8_t *end = (const uint8_t *)gguf_base(f) + gguf_size(f);
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_get_tensor(f, i);
        if ((const uint8_t *)t->data + t->nbytes > end) ++*bad;
        const uint8_t *d = t->data;
        for (uint64_t j = 0; j < t->nbytes; j++) sum += d[j];
        char name[128];
        size_t nl = t->name.len < sizeof name - 1 ? (size_t)t->name.len : sizeof name - 1;
        memcpy(name, t->name.ptr, nl);
        name[nl] = 0;
        if (nl == t->name.len && !memchr(name, 0, nl)) if (gguf_find_tensor(f, name) != t) ++*bad;
    }
    return sum;
}

#endif
