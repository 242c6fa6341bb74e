/* Writer -> reader round trip: every value type, several tensor types and shapes, custom
 * alignment, replaced keys, and writer-side errors. */
#include <glob.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../check.h"
#include "gguf/gguf.h"

static char path[256];

static void fill(uint8_t *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(seed + i * 7);
}

static void test_values(void) {
    gguf_writer *w = gguf_writer_new();
    uint8_t u8 = 200;
    int8_t i8 = -100;
    uint16_t u16 = 60000;
    int16_t i16 = -30000;
    int64_t i64 = -5000000000ll;
    double f64 = 2.5e-300;
    gguf_set_scalar(w, "v.u8", GGUF_TYPE_UINT8, &u8);
    gguf_set_scalar(w, "v.i8", GGUF_TYPE_INT8, &i8);
    gguf_set_scalar(w, "v.u16", GGUF_TYPE_UINT16, &u16);
    gguf_set_scalar(w, "v.i16", GGUF_TYPE_INT16, &i16);
    gguf_set_u32(w, "v.u32", 4000000000u);
    gguf_set_i32(w, "v.i32", -7);
    gguf_set_f32(w, "v.f32", 0.125f);
    gguf_set_bool(w, "v.bool", 1);
    gguf_set_str(w, "v.str", "héllo");
    gguf_set_u64(w, "v.u64", 1ull << 40);
    gguf_set_scalar(w, "v.i64", GGUF_TYPE_INT64, &i64);
    gguf_set_scalar(w, "v.f64", GGUF_TYPE_FLOAT64, &f64);
    gguf_set_str(w, "v.replaced", "old");
    gguf_set_u32(w, "v.replaced", 9); /* replaces: one key, new type */
    const float fa[3] = {1.0f, -2.0f, 3.5f};
    const int64_t ia[2] = {-1, INT64_MAX};
    const char *sa[4] = {"a", "", "hello world", "<|end|>"};
    gguf_set_arr_data(w, "a.f32", GGUF_TYPE_FLOAT32, fa, 3);
    gguf_set_arr_data(w, "a.i64", GGUF_TYPE_INT64, ia, 2);
    gguf_set_arr_data(w, "a.empty", GGUF_TYPE_UINT8, NULL, 0);
    gguf_set_arr_str(w, "a.str", sa, 4);

    ak_error err = {0};
    CHECK(gguf_writer_write(w, path, &err) == 0);
    gguf_writer_free(w);

    gguf_file *f = gguf_open(path, &err);
    CHECK(f != NULL);
    if (!f) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK(gguf_version(f) == 3);
    CHECK(gguf_alignment(f) == 32);
    CHECK(gguf_n_kv(f) == 17);
    CHECK(gguf_n_tensors(f) == 0);

    uint32_t u;
    int64_t s;
    float x;
    int b;
    gguf_str str;
    CHECK(gguf_get_u32(f, "v.u8", &u) && u == 200);
    CHECK(gguf_get_i64(f, "v.i8", &s) && s == -100);
    CHECK(!gguf_get_u32(f, "v.i8", &u)); /* negative does not fit u32 */
    CHECK(gguf_get_u32(f, "v.u16", &u) && u == 60000);
    CHECK(gguf_get_i64(f, "v.i16", &s) && s == -30000);
    CHECK(gguf_get_u32(f, "v.u32", &u) && u == 4000000000u);
    CHECK(gguf_get_i64(f, "v.u32", &s) && s == 4000000000ll);
    CHECK(gguf_get_i64(f, "v.i32", &s) && s == -7);
    CHECK(gguf_get_f32(f, "v.f32", &x) && x == 0.125f);
    CHECK(!gguf_get_f32(f, "v.u32", &x));
    CHECK(gguf_get_bool(f, "v.bool", &b) && b == 1);
    CHECK(gguf_get_str(f, "v.str", &str) && gguf_str_eq(str, "héllo") && str.len == 6);
    CHECK(!gguf_get_u32(f, "v.str", &u));
    CHECK(gguf_get_i64(f, "v.u64", &s) && s == (1ll << 40));
    CHECK(!gguf_get_u32(f, "v.u64", &u)); /* too big for u32 */
    CHECK(gguf_get_i64(f, "v.i64", &s) && s == -5000000000ll);
    double d;
    int64_t k = gguf_find_key(f, "v.f64");
    CHECK(k >= 0 && gguf_kv_type(f, k) == GGUF_TYPE_FLOAT64);
    memcpy(&d, gguf_kv_data(f, k), 8);
    CHECK(d == 2.5e-300);
    CHECK(gguf_get_f32(f, "v.f64", &x) && x == 0.0f); /* underflows f32 */
    CHECK(gguf_get_u32(f, "v.replaced", &u) && u == 9);
    CHECK(gguf_find_key(f, "missing") == -1);
    CHECK(!gguf_get_u32(f, "missing", &u));

    gguf_type et;
    uint64_t n;
    CHECK(gguf_get_arr_info(f, "a.f32", &et, &n) && et == GGUF_TYPE_FLOAT32 && n == 3);
    float fb[3];
    memcpy(fb, gguf_get_arr_data(f, "a.f32"), sizeof fb);
    CHECK(fb[0] == 1.0f && fb[1] == -2.0f && fb[2] == 3.5f);
    CHECK(gguf_get_arr_info(f, "a.i64", &et, &n) && et == GGUF_TYPE_INT64 && n == 2);
    int64_t ib[2];
    memcpy(ib, gguf_get_arr_data(f, "a.i64"), sizeof ib);
    CHECK(ib[0] == -1 && ib[1] == INT64_MAX);
    CHECK(gguf_get_arr_info(f, "a.empty", &et, &n) && et == GGUF_TYPE_UINT8 && n == 0);
    CHECK(gguf_get_arr_info(f, "a.str", &et, &n) && et == GGUF_TYPE_STRING && n == 4);
    CHECK(gguf_get_arr_data(f, "a.str") == NULL);
    for (uint64_t i = 0; i < 4; i++) CHECK(gguf_get_arr_str(f, "a.str", i, &str) && gguf_str_eq(str, sa[i]));
    CHECK(!gguf_get_arr_str(f, "a.str", 4, &str));
    CHECK(!gguf_get_arr_info(f, "v.u32", &et, &n));
    gguf_close(f);
}

typedef struct {
    const char *name;
    int type;
    uint32_t n_dims;
    int64_t ne[4];
    uint64_t nbytes; /* by hand: elements / block * block bytes */
} tensor_case;

static void test_tensors(uint32_t alignment) {
    static const tensor_case cases[] = {
        {"f32.2d", 0, 2, {3, 2, 1, 1}, 24},
        {"q8_0.2d", 8, 2, {64, 2, 1, 1}, 2 * 2 * 34},
        {"q4_K.1d", 12, 1, {256, 1, 1, 1}, 144},
        {"f16.4d", 1, 4, {5, 1, 2, 3}, 60},
        {"q6_K.3d", 14, 3, {512, 3, 2, 1}, 2 * 3 * 2 * 210},
        {"i32.1d", 26, 1, {7, 1, 1, 1}, 28},
        {"bf16.empty", 30, 2, {0, 4, 1, 1}, 0},
        {"iq2_xxs.1d", 16, 1, {256, 1, 1, 1}, 66}, /* a type we cannot compute with */
    };
    enum { N = sizeof cases / sizeof cases[0] };
    static uint8_t data[N][4096];
    gguf_writer *w = gguf_writer_new();
    if (alignment != 32) gguf_set_u32(w, "general.alignment", alignment);
    gguf_set_str(w, "general.architecture", "test");
    for (int i = 0; i < N; i++) {
        fill(data[i], sizeof data[i], (unsigned)i * 31 + 1);
        CHECK(gguf_add_tensor(w, cases[i].name, cases[i].type, cases[i].n_dims, cases[i].ne, data[i],
                              cases[i].nbytes) == 0);
    }
    ak_error err = {0};
    CHECK(gguf_writer_write(w, path, &err) == 0);
    gguf_writer_free(w);

    gguf_file *f = gguf_open(path, &err);
    CHECK(f != NULL);
    if (!f) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK(gguf_alignment(f) == alignment);
    CHECK(gguf_data_offset(f) % alignment == 0);
    CHECK(gguf_n_tensors(f) == N);
    for (int i = 0; i < N; i++) {
        const gguf_tensor *t = gguf_find_tensor(f, cases[i].name);
        CHECK(t != NULL && t == gguf_get_tensor(f, i));
        if (!t) continue;
        CHECK(t->type == cases[i].type && t->n_dims == cases[i].n_dims);
        for (int d = 0; d < 4; d++) CHECK(t->ne[d] == cases[i].ne[d]);
        CHECK(t->nbytes == cases[i].nbytes);
        CHECK(t->offset % alignment == 0);
        CHECK((const uint8_t *)t->data == (const uint8_t *)gguf_base(f) + gguf_data_offset(f) + t->offset);
        CHECK(memcmp(t->data, data[i], (size_t)t->nbytes) == 0);
    }
    CHECK(gguf_find_tensor(f, "nope") == NULL);
    CHECK(gguf_find_tensor(f, "f32.2") == NULL);
    gguf_close(f);
}

static void test_writer_errors(void) {
    ak_error err = {0};
    uint8_t buf[64] = {0};
    unlink(path);
    int64_t ne[2] = {33, 1};
    gguf_writer *w = gguf_writer_new();
    CHECK(gguf_add_tensor(w, "bad", 8, 1, ne, buf, 34) == -1); /* 33 not a multiple of 32 */
    CHECK(gguf_writer_write(w, path, &err) == -1);
    CHECK(strstr(err.msg, "bad") && strstr(err.msg, "multiple"));
    CHECK(access(path, F_OK) != 0); /* nothing written */
    gguf_writer_free(w);

    w = gguf_writer_new();
    ne[0] = 4;
    CHECK(gguf_add_tensor(w, "t", 0, 1, ne, buf, 15) == -1); /* size mismatch */
    gguf_writer_free(w);

    w = gguf_writer_new();
    CHECK(gguf_add_tensor(w, "t", 0, 1, ne, buf, 16) == 0);
    CHECK(gguf_add_tensor(w, "t", 0, 1, ne, buf, 16) == -1);
    gguf_writer_free(w);

    w = gguf_writer_new();
    gguf_set_u32(w, "general.alignment", 48);
    CHECK(gguf_writer_write(w, path, &err) == -1);
    CHECK(strstr(err.msg, "alignment") != NULL);
    gguf_writer_free(w);

    w = gguf_writer_new();
    gguf_set_arr_data(w, "nested", GGUF_TYPE_ARRAY, buf, 1);
    CHECK(gguf_writer_write(w, path, &err) == -1);
    gguf_writer_free(w);

    w = gguf_writer_new();
    CHECK(gguf_writer_write(w, "/nonexistent-dir/x.gguf", &err) == -1);
    CHECK(strstr(err.msg, "/nonexistent-dir/x.gguf") != NULL);
    gguf_writer_free(w);

    /* 63-byte names load in llama.cpp, 64-byte ones do not */
    char name[80];
    memset(name, 'n', 63);
    name[63] = 0;
    w = gguf_writer_new();
    CHECK(gguf_add_tensor(w, name, 0, 1, ne, buf, 16) == 0);
    strcat(name, "x");
    CHECK(gguf_add_tensor(w, name, 0, 1, ne, buf, 16) == -1);
    gguf_writer_free(w);

    /* rename onto a directory fails after the data is written: the temp file must go */
    char dir[300], pattern[320];
    snprintf(dir, sizeof dir, "%s.dir", path);
    snprintf(pattern, sizeof pattern, "%s.tmp.*", dir);
    CHECK(mkdir(dir, 0755) == 0);
    w = gguf_writer_new();
    gguf_set_str(w, "general.architecture", "x");
    CHECK(gguf_writer_write(w, dir, &err) == -1);
    glob_t g;
    CHECK(glob(pattern, 0, NULL, &g) == GLOB_NOMATCH);
    globfree(&g);
    rmdir(dir);
    gguf_writer_free(w);

    /* the file gets ordinary permissions (0666 less the umask), not mkstemp's 0600 */
    mode_t mask = umask(022);
    w = gguf_writer_new();
    CHECK(gguf_writer_write(w, path, &err) == 0);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644);
    gguf_writer_free(w);
    umask(mask);
}

/* Block sizes derived by hand from the block layouts (fp16 d/dmin = 2 bytes each). */
static void test_type_table(void) {
    static const struct {
        int type;
        const char *name;
        int64_t elems;
        size_t bytes;
    } want[] = {
        {0, "f32", 1, 4},        {1, "f16", 1, 2},       {30, "bf16", 1, 2},
        {2, "q4_0", 32, 2 + 16}, {3, "q4_1", 32, 4 + 16}, {6, "q5_0", 32, 2 + 4 + 16},
        {7, "q5_1", 32, 4 + 4 + 16}, {8, "q8_0", 32, 2 + 32},
        {10, "q2_K", 256, 16 + 64 + 4},       /* scales, 2-bit quants, d+dmin */
        {11, "q3_K", 256, 32 + 64 + 12 + 2},  /* hmask, quants, scales, d */
        {12, "q4_K", 256, 4 + 12 + 128},      /* d+dmin, scales, 4-bit quants */
        {13, "q5_K", 256, 4 + 12 + 32 + 128}, /* + high bits */
        {14, "q6_K", 256, 128 + 64 + 16 + 2}, /* ql, qh, scales, d */
        {15, "q8_K", 256, 4 + 256 + 32},      /* f32 d, quants, 16 i16 block sums */
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *name;
        int64_t elems;
        size_t bytes;
        CHECK(gguf_ggml_type_info(want[i].type, &name, &elems, &bytes));
        CHECK(!strcmp(name, want[i].name) && elems == want[i].elems && bytes == want[i].bytes);
    }
    for (int removed = 4; removed <= 5; removed++) CHECK(!gguf_ggml_type_info(removed, NULL, NULL, NULL));
    CHECK(!gguf_ggml_type_info(-1, NULL, NULL, NULL) && !gguf_ggml_type_info(1000, NULL, NULL, NULL));

    ak_error err = {0};
    uint64_t nb;
    int64_t ne[4] = {4096, 14336, 8, 1}; /* Mixtral-sized expert stack in q4_K */
    CHECK(gguf_tensor_nbytes(12, 3, ne, &nb, &err) == 0 && nb == 4096ull / 256 * 144 * 14336 * 8);
    int64_t big[2] = {INT64_MAX - 31, 2}; /* a multiple of 32: elements overflow int64 */
    CHECK(gguf_tensor_nbytes(8, 2, big, &nb, &err) == -1 && strstr(err.msg, "overflows"));
    CHECK(gguf_type_size(GGUF_TYPE_FLOAT64) == 8 && gguf_type_size(GGUF_TYPE_STRING) == 0);
    CHECK(!strcmp(gguf_type_name(GGUF_TYPE_BOOL), "bool"));
}

int main(void) {
    test_type_table();
    snprintf(path, sizeof path, "test_gguf_roundtrip_%d.gguf", (int)getpid());
    test_values();
    test_tensors(32);
    test_tensors(64);
    test_tensors(8);
    test_writer_errors();
    unlink(path);
    return check_finish("test_gguf_roundtrip");
}
