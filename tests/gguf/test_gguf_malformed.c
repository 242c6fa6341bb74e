/* Hand-built GGUF byte buffers: one small valid file, then one defect at a time. Every
 * defect must be rejected with a message saying what is wrong, never a crash. */
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"
#include "gguf/gguf.h"

typedef struct {
    uint8_t b[4096];
    size_t n;
} bytes;

static void u8(bytes *o, uint8_t v) { o->b[o->n++] = v; }
static void u32(bytes *o, uint32_t v) {
    for (int i = 0; i < 4; i++) u8(o, (uint8_t)(v >> (8 * i)));
}
static void u64(bytes *o, uint64_t v) {
    for (int i = 0; i < 8; i++) u8(o, (uint8_t)(v >> (8 * i)));
}
static void str(bytes *o, const char *s) {
    u64(o, strlen(s));
    for (const char *p = s; *p; p++) u8(o, (uint8_t)*p);
}

/* The valid file: 2 tensors, 2 or 3 key/values. Each field can be overridden. */
typedef struct {
    const char *magic;
    uint32_t version;
    uint64_t n_tensors, n_kv;     /* 0 = the real count */
    uint64_t key1_len;            /* 0 = strlen */
    const char *key2;             /* name of the array key */
    uint32_t arr_elem;            /* element type of the array key */
    uint32_t kv2_type;            /* value type field of key 2 */
    int alignment_kv;             /* 1: add general.alignment */
    uint32_t alignment_type, alignment;
    const char *b_name;
    uint32_t b_dims, b_type;
    int64_t b_ne0, b_ne1;
    uint64_t b_offset;
    uint64_t a_offset;
    int extra_data;               /* bytes appended after the 66 data bytes */
} spec;

static spec valid(void) {
    spec s = {"GGUF", 3, 0, 0, 0, "k.arr", GGUF_TYPE_UINT32, GGUF_TYPE_ARRAY, 0, GGUF_TYPE_UINT32, 32,
              "b", 1, 8, 32, 1, 32, 0, 0};
    return s;
}

/* Layout by hand: a = f32 [4, 2] (32 bytes) at offset 0, b = q8_0 [32] (34 bytes) at 32,
 * data section aligned to 32, no padding after b (so every shorter prefix is invalid). */
static size_t build(bytes *o, spec s) {
    o->n = 0;
    for (int i = 0; i < 4; i++) u8(o, (uint8_t)s.magic[i]);
    u32(o, s.version);
    u64(o, s.n_tensors ? s.n_tensors : 2);
    u64(o, s.n_kv ? s.n_kv : 2u + (unsigned)s.alignment_kv);
    u64(o, s.key1_len ? s.key1_len : 20);
    memcpy(o->b + o->n, "general.architecture", 20);
    o->n += 20;
    u32(o, GGUF_TYPE_STRING);
    str(o, "x");
    str(o, s.key2);
    u32(o, s.kv2_type);
    u32(o, s.arr_elem);
    u64(o, 3);
    if (s.arr_elem == GGUF_TYPE_ARRAY) { /* one nested array of 0 u8 then junk */
        u32(o, GGUF_TYPE_UINT8);
        u64(o, 0);
    }
    u32(o, 10), u32(o, 20), u32(o, 30);
    if (s.alignment_kv) {
        str(o, "general.alignment");
        u32(o, s.alignment_type);
        if (s.alignment_type == GGUF_TYPE_UINT64)
            u64(o, s.alignment);
        else
            u32(o, s.alignment);
    }
    str(o, "a");
    u32(o, 2);
    u64(o, 4), u64(o, 2);
    u32(o, 0);
    u64(o, s.a_offset);
    str(o, s.b_name);
    u32(o, s.b_dims);
    for (uint32_t d = 0; d < s.b_dims; d++) u64(o, (uint64_t)(d == 0 ? s.b_ne0 : s.b_ne1));
    u32(o, s.b_type);
    u64(o, s.b_offset);
    uint32_t a = s.alignment_kv && s.alignment && !(s.alignment & (s.alignment - 1)) ? s.alignment : 32;
    while (o->n % a) u8(o, 0);
    size_t data = o->n;
    for (int i = 0; i < 66 + s.extra_data; i++) u8(o, (uint8_t)(i * 3 + 1));
    return data;
}

/* Opens the buffer; expects failure with a message containing want (NULL: any message). */
static void expect_fail(const bytes *o, const char *want, int line) {
    ak_error err = {0};
    gguf_file *f = gguf_open_buffer(o->b, o->n, &err);
    /* the one error convention: a malformed file is AK_ERR_FORMAT (or NOMEM), with a message */
    if (f || !err.msg[0] || (want && !strstr(err.msg, want)) || (err.code != AK_ERR_FORMAT && err.code != AK_ERR_NOMEM)) {
        fprintf(stderr, "line %d: expected failure with '%s', got %s: %s\n", line, want ? want : "",
                f ? "success" : "failure", err.msg);
        failures++;
    }
    gguf_close(f);
}
#define EXPECT_FAIL(o, want) expect_fail(o, want, __LINE__)

static void test_valid_and_prefixes(void) {
    bytes o;
    size_t data = build(&o, valid());
    ak_error err = {0};
    gguf_file *f = gguf_open_buffer(o.b, o.n, &err);
    CHECK(f != NULL);
    if (!f) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK(gguf_data_offset(f) == data && data % 32 == 0);
    const gguf_tensor *a = gguf_find_tensor(f, "a"), *b = gguf_find_tensor(f, "b");
    CHECK(a && a->nbytes == 32 && a->ne[0] == 4 && a->ne[1] == 2 && a->ne[2] == 1 && a->data == o.b + data);
    CHECK(b && b->nbytes == 34 && b->type == 8 && b->offset == 32 && b->data == o.b + data + 32);
    gguf_str s;
    CHECK(gguf_get_str(f, "general.architecture", &s) && gguf_str_eq(s, "x"));
    uint32_t v[3];
    memcpy(v, gguf_get_arr_data(f, "k.arr"), sizeof v);
    CHECK(v[0] == 10 && v[1] == 20 && v[2] == 30);
    gguf_close(f);

    for (size_t len = 0; len < o.n; len++) {
        ak_error e = {0};
        f = gguf_open_buffer(o.b, len, &e);
        if (f || !e.msg[0]) {
            fprintf(stderr, "prefix of %zu bytes was accepted\n", len);
            failures++;
        }
        gguf_close(f);
    }
    spec sp = valid();
    sp.version = 2;
    build(&o, sp);
    f = gguf_open_buffer(o.b, o.n, &err);
    CHECK(f && gguf_version(f) == 2);
    gguf_close(f);
}

static void test_header(void) {
    bytes o;
    spec s = valid();
    s.magic = "GGUG";
    build(&o, s);
    EXPECT_FAIL(&o, "bad magic");
    s = valid();
    s.magic = "FUGG";
    build(&o, s);
    EXPECT_FAIL(&o, "big-endian");
    s = valid();
    s.version = 1;
    build(&o, s);
    EXPECT_FAIL(&o, "version 1");
    s.version = 4;
    build(&o, s);
    EXPECT_FAIL(&o, "version 4");
    s.version = 0x03000000u;
    build(&o, s);
    EXPECT_FAIL(&o, "byte-swapped");
    s = valid();
    s.n_tensors = 1ull << 60;
    build(&o, s);
    EXPECT_FAIL(&o, "tensor count 1152921504606846976");
    s = valid();
    s.n_kv = ~0ull;
    build(&o, s);
    EXPECT_FAIL(&o, "key/value count");
    s = valid();
    s.n_kv = 3; /* one more than present: runs into the tensor infos and fails somewhere */
    build(&o, s);
    EXPECT_FAIL(&o, NULL);
}

static void test_kvs(void) {
    bytes o;
    spec s = valid();
    s.key1_len = 1ull << 40;
    build(&o, s);
    EXPECT_FAIL(&o, "past the end");
    s = valid();
    s.key2 = "general.architecture";
    build(&o, s);
    EXPECT_FAIL(&o, "duplicate key 'general.architecture'");
    s = valid();
    s.kv2_type = 13;
    build(&o, s);
    EXPECT_FAIL(&o, "unknown value type 13");
    s = valid();
    s.arr_elem = GGUF_TYPE_ARRAY;
    build(&o, s);
    EXPECT_FAIL(&o, "arrays of arrays");
    s = valid();
    s.arr_elem = 77;
    build(&o, s);
    EXPECT_FAIL(&o, "element type 77");
    s = valid();
    s.alignment_kv = 1;
    s.alignment = 48;
    build(&o, s);
    EXPECT_FAIL(&o, "power of two");
    s.alignment = 0;
    build(&o, s);
    EXPECT_FAIL(&o, "power of two");
    s.alignment = 32;
    s.alignment_type = GGUF_TYPE_UINT64;
    build(&o, s);
    EXPECT_FAIL(&o, "expected u32");
    s = valid();
    s.alignment_kv = 1;
    s.alignment = 16; /* valid: b at 32 is a multiple of 16 */
    build(&o, s);
    ak_error err = {0};
    gguf_file *f = gguf_open_buffer(o.b, o.n, &err);
    CHECK(f && gguf_alignment(f) == 16);
    gguf_close(f);
}

static void test_tensors(void) {
    bytes o;
    spec s = valid();
    s.b_offset = 64; /* aligned, but 64 + 34 > 66 bytes of data */
    build(&o, s);
    EXPECT_FAIL(&o, "tensor 'b' data [offset");
    EXPECT_FAIL(&o, "extends past end of file");
    s.b_offset = ~0ull & ~31ull; /* offset + nbytes wraps around */
    build(&o, s);
    EXPECT_FAIL(&o, "extends past end of file");
    s = valid();
    s.b_offset = 0; /* inside a = [0, 32) */
    build(&o, s);
    EXPECT_FAIL(&o, "tensor 'b' data [offset");
    EXPECT_FAIL(&o, "overlaps tensor 'a'");
    s = valid();
    s.a_offset = 96; /* b [32, 66) before a [96, 128), gap at [0, 32): allowed */
    s.extra_data = 62;
    size_t data = build(&o, s);
    ak_error err = {0};
    gguf_file *f = gguf_open_buffer(o.b, o.n, &err);
    CHECK(f && gguf_find_tensor(f, "a")->data == o.b + data + 96);
    gguf_close(f);
    s.a_offset = 64; /* a [64, 96) overlaps b [32, 66) by two bytes */
    build(&o, s);
    EXPECT_FAIL(&o, "overlaps tensor 'b'");
    s = valid();
    s.b_offset = 33;
    build(&o, s);
    EXPECT_FAIL(&o, "not a multiple of the alignment 32");
    s = valid();
    s.b_type = 4; /* removed from ggml (Q4_2) */
    build(&o, s);
    EXPECT_FAIL(&o, "unknown ggml type 4");
    s.b_type = 99;
    build(&o, s);
    EXPECT_FAIL(&o, "unknown ggml type 99");
    s.b_type = 0x80000000u;
    build(&o, s);
    EXPECT_FAIL(&o, "unknown ggml type");
    s = valid();
    s.b_dims = 0;
    build(&o, s);
    EXPECT_FAIL(&o, "n_dims 0");
    s.b_dims = 5;
    build(&o, s);
    EXPECT_FAIL(&o, "n_dims 5");
    s = valid();
    s.b_name = "a";
    build(&o, s);
    EXPECT_FAIL(&o, "duplicate tensor name 'a'");
    s = valid();
    s.b_ne0 = 31;
    build(&o, s);
    EXPECT_FAIL(&o, "not a multiple of the q8_0 block size 32");
    s = valid();
    s.b_ne0 = -32;
    build(&o, s);
    EXPECT_FAIL(&o, "negative");
    s = valid();
    s.b_type = 0;
    s.b_dims = 2;
    s.b_ne0 = 1ll << 32;
    s.b_ne1 = 1ll << 31; /* 2^63 elements: overflows int64 */
    build(&o, s);
    EXPECT_FAIL(&o, "overflows");
    s.b_ne0 = 1ll << 40;
    s.b_ne1 = 1ll << 21; /* 2^61 elements fit, 2^63 bytes fit u64: past end instead */
    build(&o, s);
    EXPECT_FAIL(&o, "past end of file");
    s.b_type = 28; /* f64: 2^64 bytes overflows */
    build(&o, s);
    EXPECT_FAIL(&o, "overflows");
}

static void test_files(void) {
    ak_error err = {0};
    CHECK(gguf_open("/nonexistent/model.gguf", &err) == NULL);
    CHECK(strstr(err.msg, "/nonexistent/model.gguf: cannot open") != NULL);
    CHECK(err.code == AK_ERR_IO);
    CHECK(gguf_open(".", &err) == NULL);
    CHECK(strstr(err.msg, "not a regular file") != NULL);
    char path[64];
    snprintf(path, sizeof path, "malformed_%d.gguf", (int)getpid());
    FILE *fp = fopen(path, "wb");
    fclose(fp);
    CHECK(gguf_open(path, &err) == NULL);
    CHECK(strstr(err.msg, path) && strstr(err.msg, "empty"));
    bytes o;
    spec s = valid();
    s.b_offset = 64;
    build(&o, s);
    fp = fopen(path, "wb");
    fwrite(o.b, 1, o.n, fp);
    fclose(fp);
    CHECK(gguf_open(path, &err) == NULL);
    CHECK(strncmp(err.msg, path, strlen(path)) == 0 && strstr(err.msg, "tensor 'b'"));
    unlink(path);
}

int main(void) {
    test_valid_and_prefixes();
    test_header();
    test_kvs();
    test_tensors();
    test_files();
    return check_finish("test_gguf_malformed");
}
