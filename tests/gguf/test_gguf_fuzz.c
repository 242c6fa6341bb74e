/* Random corruption: flip bytes of a valid file thousands of times (fixed seed). Every
 * variant must either fail with a message or open as a file whose every key, string and
 * tensor byte can be read without leaving the buffer (ASan checks the latter). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check.h"
#include "gguf/gguf.h"
#include "gguf_walk.h"

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

int main(void) {
    size_t len;
    uint8_t *orig = make_file(&len);
    ak_error err = {0};
    gguf_file *f = gguf_open_buffer(orig, len, &err);
    CHECK(f != NULL);
    int bad = 0;
    if (f) gguf_walk(f, &bad);
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
            sum += gguf_walk(f, &bad);
            gguf_close(f);
        } else {
            failed++;
            CHECK(strncmp(err.msg, "<buffer>: ", 10) == 0);
        }
        free(exact);
    }
    CHECK(bad == 0);
    printf("corrupted variants: %d opened, %d rejected (checksum %llu)\n", opened, failed,
           (unsigned long long)sum);
    CHECK(opened > 0 && failed > 0);
    free(buf);
    free(orig);
    return check_finish("test_gguf_fuzz");
}
