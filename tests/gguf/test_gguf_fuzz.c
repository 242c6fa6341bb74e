/* Random corruption: flip bytes of a valid file thousands of times (fixed seed). Every
 * variant must either fail with a message or open as a file whose every key, string and
 * tensor byte can be read without leaving the buffer (ASan checks the latter). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check.h"
#include "gguf/gguf.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static uint8_t *make_file(size_t *len) {
    char path[64];
    ak_error err = {0};
    snprintf(path, sizeof path, "fuzz_%d.gguf", (int)getpid());
    gguf_writer *w = gguf_writer_new();
    static const char *toks[] = {"<s>", "</s>", "hello", "world", ""};
    static const float scores[5] = {0, 0, -1, -2, -3};
    static uint8_t data[3 * 34 + 64 + 144 + 24];
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)i;
    gguf_set_str(w, "general.architecture", "olmoe");
    gguf_set_u32(w, "olmoe.block_count", 2);
    gguf_set_f32(w, "olmoe.eps", 1e-5f);
    gguf_set_bool(w, "flag", 1);
    gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, 5);
    gguf_set_arr_data(w, "tokenizer.ggml.scores", GGUF_TYPE_FLOAT32, scores, 5);
    gguf_set_u32(w, "general.alignment", 16);
    int64_t ne_q[2] = {32, 3}, ne_f[1] = {16}, ne_k[1] = {256}, ne_h[3] = {2, 3, 2};
    gguf_add_tensor(w, "q", 8, 2, ne_q, data, 3 * 34);
    gguf_add_tensor(w, "f", 0, 1, ne_f, data + 102, 64);
    gguf_add_tensor(w, "k", 12, 1, ne_k, data + 166, 144);
    gguf_add_tensor(w, "h", 1, 3, ne_h, data + 310, 24);
    if (gguf_writer_write(w, path, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    gguf_writer_free(w);
    FILE *fp = fopen(path, "rb");
    fseek(fp, 0, SEEK_END);
    *len = (size_t)ftell(fp);
    rewind(fp);
    uint8_t *b = malloc(*len);
    if (fread(b, 1, *len, fp) != *len) exit(1);
    fclose(fp);
    unlink(path);
    return b;
}

/* Reads everything the API exposes; returns a checksum so nothing is optimised away. */
static uint64_t walk(const gguf_file *f) {
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
                    CHECK(gguf_kv_str(f, i, j, &s));
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
        CHECK((const uint8_t *)t->data + t->nbytes <= end);
        const uint8_t *d = t->data;
        for (uint64_t j = 0; j < t->nbytes; j++) sum += d[j];
        char name[128];
        size_t nl = t->name.len < sizeof name - 1 ? (size_t)t->name.len : sizeof name - 1;
        memcpy(name, t->name.ptr, nl);
        name[nl] = 0;
        if (nl == t->name.len && !memchr(name, 0, nl)) CHECK(gguf_find_tensor(f, name) == t);
    }
    return sum;
}

int main(void) {
    size_t len;
    uint8_t *orig = make_file(&len);
    ak_error err = {0};
    gguf_file *f = gguf_open_buffer(orig, len, &err);
    CHECK(f != NULL);
    if (f) walk(f);
    gguf_close(f);

    size_t header_len = 0;
    f = gguf_open_buffer(orig, len, &err);
    if (f) header_len = (size_t)gguf_data_offset(f);
    gguf_close(f);
    if (!header_len) header_len = len;
    uint8_t *buf = malloc(len);
    int opened = 0, failed = 0;
    uint64_t sum = 0;
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(buf, orig, len);
        int flips = 1 + (int)(next() % 4);
        for (int k = 0; k < flips; k++) {
            size_t pos = next() % len;
            /* mostly the header region, where the structure lives */
            if (next() % 4) pos %= header_len;
            buf[pos] = (uint8_t)next();
        }
        size_t n = next() % 8 == 0 ? (size_t)(next() % len) : len;
        /* a heap copy of exactly n bytes so ASan sees any read past the end */
        uint8_t *exact = malloc(n ? n : 1);
        memcpy(exact, buf, n);
        err.msg[0] = 0;
        f = gguf_open_buffer(exact, n, &err);
        if (f) {
            opened++;
            sum += walk(f);
            gguf_close(f);
        } else {
            failed++;
            CHECK(strncmp(err.msg, "<buffer>: ", 10) == 0);
        }
        free(exact);
    }
    printf("corrupted variants: %d opened, %d rejected (checksum %llu)\n", opened, failed,
           (unsigned long long)sum);
    CHECK(opened > 0 && failed > 0);
    free(buf);
    free(orig);
    return check_finish("test_gguf_fuzz");
}
